"""Missing-data codes and forms marked not done through the write services (clinical definitions §2.2): stored,
audited, refused when they break a rule, and a change of them needs a reason like a change of a value."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from ecrf import services
from ecrf.models import DrugAdministration, LabResult, RespiratorySupport, VitalSigns
from ecrf.services import RecordInput
from tests import factories


def codes(error: ValidationError) -> dict:
    return {name: [e.code for e in errors] for name, errors in error.error_dict.items()}


def save(patient, user, form="vital_signs", day=1, reason=None, **entry):
    return services.day_record_save(
        form=form, patient=patient, study_day=day, entry=RecordInput(**entry), user=user, reason=reason
    )


def test_a_record_of_codes_only_is_stored_as_first_entry(patient_a, users):
    labs = save(patient_a, users["nurse"], "laboratory", values={}, missing_codes={"ldh_u_l": "not_done"})
    assert labs.missing_codes == {"ldh_u_l": "not_done"} and labs.ldh_u_l is None
    assert labs.history.get().history_change_reason == "initial entry"


def test_a_form_marked_not_done_is_stored_with_its_reason_and_no_level_of_support(patient_a, users):
    support = save(
        patient_a, users["nurse"], "respiratory_support", values={}, not_done_reason="  patient in CT all morning "
    )
    support.refresh_from_db()
    assert (support.support, support.marked_not_done) == ("", True)
    assert support.not_done_reason == "patient in CT all morning"
    assert support.history.get().not_done_reason == "patient in CT all morning"  # audited like a value


def test_a_form_marked_not_done_with_values_is_refused_and_nothing_stored(patient_a, users):
    with pytest.raises(ValidationError) as error:
        save(patient_a, users["nurse"], values={"spo2_pct": 93}, not_done_reason="no time")
    assert codes(error.value) == {"not_done_reason": ["not_done_reason.with_values"]}
    with pytest.raises(ValidationError) as error:
        save(patient_a, users["nurse"], values={}, not_done_reason="   ")
    assert codes(error.value) == {"not_done_reason": ["not_done_reason.required"]}
    assert not VitalSigns.objects.exists()


def test_a_value_and_a_code_are_refused_next_to_the_field(patient_a, users):
    with pytest.raises(ValidationError) as error:
        save(patient_a, users["nurse"], values={"spo2_pct": 93}, missing_codes={"spo2_pct": "unknown"})
    assert codes(error.value) == {"spo2_pct": ["spo2_pct.value_and_code"]}
    assert error.value.error_dict["spo2_pct"][0].message == "Give a value or a missing-data code, not both."
    with pytest.raises(ValidationError) as error:
        save(patient_a, users["nurse"], values={}, missing_codes={"spo2_pct": "perhaps"})
    assert codes(error.value) == {"spo2_pct": ["missing_codes.invalid"]}


def test_giving_a_code_to_a_blank_field_of_a_saved_record_completes_it(patient_a, users):
    vitals = save(patient_a, users["nurse"], values={"temperature_c": Decimal("37.0")})
    vitals = save(
        patient_a,
        users["nurse"],
        values={"temperature_c": Decimal("37.0")},
        missing_codes={"spo2_pct": "not_done"},
        expected_version=vitals.version,
    )
    assert vitals.missing_codes == {"spo2_pct": "not_done"} and vitals.version == 2
    assert vitals.history.first().history_change_reason == "initial entry"  # entry, not a change: no reason


@pytest.mark.parametrize(
    ("codes_after", "not_done"),
    [
        ({"spo2_pct": "unknown", "heart_rate_bpm": "unknown"}, ""),  # a code changed
        ({"heart_rate_bpm": "unknown"}, ""),  # a code removed
        ({}, "machine broken"),  # a record of codes marked not done instead
    ],
)
def test_changing_or_removing_a_code_or_the_mark_needs_a_reason(patient_a, users, codes_after, not_done):
    save(patient_a, users["nurse"], values={}, missing_codes={"spo2_pct": "not_done", "heart_rate_bpm": "unknown"})
    entry = {"values": {}, "missing_codes": codes_after, "not_done_reason": not_done, "expected_version": 1}
    with pytest.raises(ValidationError) as error:
        save(patient_a, users["nurse"], **entry)
    assert codes(error.value)["reason"] == ["reason_required"]
    vitals = save(patient_a, users["nurse"], reason="checked against the chart", **entry)
    assert (vitals.missing_codes, vitals.not_done_reason) == (codes_after, not_done)
    assert vitals.history.first().history_change_reason == "checked against the chart"


def test_entering_values_on_a_form_marked_not_done_is_a_change_with_its_reason(patient_a, users):
    save(patient_a, users["nurse"], "laboratory", values={}, not_done_reason="no sample")
    entry = {"values": {"crp_mg_l": Decimal(80)}, "expected_version": 1}
    with pytest.raises(ValidationError) as error:
        save(patient_a, users["nurse"], "laboratory", **entry)
    assert codes(error.value)["reason"] == ["reason_required"]
    labs = save(patient_a, users["nurse"], "laboratory", reason="sample found in the lab", **entry)
    assert (labs.crp_mg_l, labs.not_done_reason) == (Decimal(80), "")


def test_a_saved_code_changed_by_someone_else_meanwhile_is_a_conflict(patient_a, users):
    save(patient_a, users["nurse"], values={"temperature_c": Decimal("37.0")})
    save(
        patient_a,
        users["investigator"],
        values={"temperature_c": Decimal("37.0")},
        missing_codes={"spo2_pct": "unknown"},
        expected_version=1,
    )
    with pytest.raises(ValidationError) as error:  # opened at version 1, the nurse gives another code
        save(
            patient_a,
            users["nurse"],
            values={"temperature_c": Decimal("37.0")},
            missing_codes={"spo2_pct": "not_done"},
            expected_version=1,
            reason="r",
        )
    assert codes(error.value) == {"__all__": ["concurrent_edit"]}
    assert "missing-data codes is now spo2_pct unknown (you started from empty)" in error.value.messages[0]


def test_clearing_a_form_marked_not_done_deletes_it_with_a_reason(patient_a, users):
    save(patient_a, users["nurse"], "respiratory_support", values={}, not_done_reason="off the ward")
    cleared = save(patient_a, users["nurse"], "respiratory_support", values={}, expected_version=1, reason="wrong day")
    assert cleared is None
    assert not RespiratorySupport.objects.exists()


def test_a_future_day_cannot_be_marked_not_done(study, site_a, arms, users):
    patient = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], enrolment_date=timezone.localdate() - datetime.timedelta(2)
    )
    with pytest.raises(ValidationError) as error:
        save(patient, users["nurse"], day=5, values={}, not_done_reason="not yet")
    assert codes(error.value) == {"__all__": ["study_day.future"]}
    assert not VitalSigns.objects.exists()


def test_a_patient_day_saves_a_form_marked_not_done_beside_the_others(patient_a, users):
    saved = services.patient_day_save(
        patient=patient_a,
        study_day=2,
        entries={
            "vital_signs": RecordInput({"spo2_pct": 91}, missing_codes={"temperature_c": "unknown"}),
            "respiratory_support": RecordInput({"support": "room_air"}),
            "laboratory": RecordInput({"ast_uln_u_l": Decimal(40)}, not_done_reason="no blood drawn"),
        },
        user=users["nurse"],
    )
    assert saved["laboratory"].marked_not_done and LabResult.objects.get().not_done_reason == "no blood drawn"
    assert VitalSigns.objects.get().missing_codes == {"temperature_c": "unknown"}


def test_a_repeating_record_keeps_its_codes_and_is_never_marked_not_done(patient_a, users):
    drug = {"study_day": 0, "drug": "hydroxychloroquine", "dose": Decimal(200), "dose_unit": "mg", "route": "oral"}
    record = services.event_save(
        form="drug_administration",
        patient=patient_a,
        entry=RecordInput({**drug, "frequency": "bid"}, missing_codes={"stop_day": "unknown"}),
        user=users["nurse"],
    )
    assert record.missing_codes == {"stop_day": "unknown"} and record.stop_day is None
    with pytest.raises(ValidationError) as error:
        services.event_save(
            form="drug_administration",
            patient=patient_a,
            entry=RecordInput({**drug, "frequency": "q8h"}, not_done_reason="not given"),
            user=users["nurse"],
        )
    assert codes(error.value) == {"not_done_reason": ["not_done_reason.not_daily"]}
    assert DrugAdministration.objects.count() == 1


def test_a_laboratory_marked_not_done_still_checks_the_range_of_its_upper_limits_of_normal(patient_a, users):
    """The upper limits of normal are the site's reference values, not observations: a form marked not done may
    keep them, but within their range like any other entry (else the database refused it with a generic message)."""
    with pytest.raises(ValidationError) as error:
        save(patient_a, users["nurse"], "laboratory", values={"alt_uln_u_l": 99999}, not_done_reason="no sample")
    assert list(codes(error.value)) == ["alt_uln_u_l"]
    assert "alt_uln_u_l" in str(error.value) or "ULN" in str(error.value)
    assert not LabResult.objects.exists()
    labs = save(patient_a, users["nurse"], "laboratory", values={"alt_uln_u_l": 40}, not_done_reason="no sample")
    assert (labs.marked_not_done, labs.alt_uln_u_l) == (True, 40)
