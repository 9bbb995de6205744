"""Missing-data codes and forms marked not done (clinical definitions §2.2) as the database keeps them: each rule
of one row is a named constraint, tested through full_clean() and through a direct create()."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from ecrf.models import AdverseEvent, DrugAdministration, LabResult, MissingCode, RespiratorySupport, VitalSigns


def refused(model, constraint: str, **values) -> None:
    """Refused by ``constraint`` both by full_clean() and by the database."""
    record = model(**values)
    with pytest.raises(ValidationError) as error:
        record.full_clean()
    assert constraint in str(error.value), error.value
    with pytest.raises(IntegrityError), transaction.atomic():
        model.objects.create(**values)


def accepted(model, **values):
    record = model(**values)
    record.full_clean()
    record.save()
    return record


def test_a_respiratory_support_record_marked_not_done_has_no_level(patient_a):
    record = accepted(RespiratorySupport, patient=patient_a, study_day=1, not_done_reason="patient in radiology")
    assert record.support == "" and record.marked_not_done


def test_a_respiratory_support_record_not_marked_not_done_needs_its_level(patient_a):
    refused(RespiratorySupport, "support_needs_level_unless_not_done", patient=patient_a, study_day=1, fio2=None)


@pytest.mark.parametrize(
    ("model", "constraint", "values"),
    [
        (VitalSigns, "vitals_not_done_holds_nothing", {"temperature_c": Decimal("37.0")}),
        (VitalSigns, "vitals_not_done_holds_nothing", {"missing_codes": {"spo2_pct": "unknown"}}),
        (RespiratorySupport, "support_not_done_holds_nothing", {"support": "room_air"}),
        (RespiratorySupport, "support_not_done_holds_nothing", {"prone": True}),
        (LabResult, "labs_not_done_holds_nothing", {"crp_mg_l": Decimal("12")}),
    ],
)
def test_a_form_marked_not_done_holds_no_value_and_no_code(patient_a, model, constraint, values):
    refused(model, constraint, patient=patient_a, study_day=1, not_done_reason="no sample", **values)


def test_a_laboratory_record_marked_not_done_may_keep_the_site_reference_values(patient_a):
    """The upper limits of normal are not observations of the day."""
    accepted(LabResult, patient=patient_a, study_day=1, not_done_reason="no sample", ast_uln_u_l=Decimal("40"))


@pytest.mark.parametrize(
    ("model", "constraint", "values"),
    [
        (VitalSigns, "vitals_coded_fields_empty", {"spo2_pct": 95, "missing_codes": {"spo2_pct": "not_done"}}),
        (
            RespiratorySupport,
            "support_coded_fields_empty",
            {"support": "venturi", "flow_l_min": 8, "fio2": Decimal("0.4"), "missing_codes": {"fio2": "unknown"}},
        ),
        (LabResult, "labs_coded_fields_empty", {"ldh_u_l": 300, "missing_codes": {"ldh_u_l": "not_done"}}),
    ],
)
def test_a_field_with_a_missing_data_code_holds_no_value(patient_a, model, constraint, values):
    refused(model, constraint, patient=patient_a, study_day=1, **values)


def test_a_record_may_hold_codes_beside_values(patient_a):
    record = accepted(
        LabResult,
        patient=patient_a,
        study_day=1,
        crp_mg_l=Decimal("40"),
        missing_codes={"ldh_u_l": MissingCode.NOT_DONE, "ferritin_ng_ml": MissingCode.UNKNOWN},
    )
    record.refresh_from_db()
    assert record.missing_codes == {"ldh_u_l": "not_done", "ferritin_ng_ml": "unknown"}


def test_a_repeating_form_is_never_marked_not_done(patient_a):
    drug = {"drug": "anakinra", "dose": 100, "dose_unit": "mg", "route": "sc", "frequency": "bid"}
    refused(DrugAdministration, "drug_never_not_done", patient=patient_a, study_day=0, not_done_reason="x", **drug)
    refused(
        AdverseEvent,
        "adverse_event_coded_fields_empty",
        patient=patient_a,
        study_day=0,
        kind="other",
        description="rash",
        missing_codes={"description": "unknown"},
    )
    accepted(DrugAdministration, patient=patient_a, study_day=0, missing_codes={"stop_day": "unknown"}, **drug)
