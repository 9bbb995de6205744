"""The write services of the daily forms called directly, as an importer would: same checks as the pages."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cohorts.audit import StudyLocked
from cohorts.services import study_set_locked
from ecrf import services
from ecrf.models import DispositionEvent, DrugAdministration, LabResult, RespiratorySupport, VitalSigns
from ecrf.services import PatientDayInvalid, RecordInput


def codes(error: ValidationError) -> dict:
    return {name: [e.code for e in errors] for name, errors in error.error_dict.items()}


def test_service_refuses_what_the_form_refuses(patient_a, users):
    with pytest.raises(ValidationError) as excinfo:
        services.day_record_save(
            form="vital_signs",
            patient=patient_a,
            study_day=1,
            entry=RecordInput({"temperature_c": Decimal("44.1")}),
            user=users["nurse"],
        )
    assert codes(excinfo.value) == {"temperature_c": ["temperature_c.hard_max"]}
    assert not VitalSigns.objects.exists()


def test_soft_limit_confirmed_by_code(patient_a, users):
    entry = RecordInput({"temperature_c": Decimal("34.5")}, confirmed_checks=frozenset({"temperature_c.soft_low"}))
    vitals = services.day_record_save(
        form="vital_signs", patient=patient_a, study_day=1, entry=entry, user=users["nurse"]
    )
    assert vitals.confirmed_checks == ["temperature_c.soft_low"]
    # A confirmation that no longer applies is not stored.
    entry = RecordInput(
        {"temperature_c": Decimal("36.5")},
        confirmed_checks=frozenset({"temperature_c.soft_low"}),
        expected_version=1,
    )
    vitals = services.day_record_save(
        form="vital_signs", patient=patient_a, study_day=1, entry=entry, user=users["nurse"], reason="r"
    )
    assert vitals.confirmed_checks == []


def test_patient_day_is_all_or_nothing(patient_a, users):
    with pytest.raises(PatientDayInvalid) as excinfo:
        services.patient_day_save(
            patient=patient_a,
            study_day=2,
            entries={
                "vital_signs": RecordInput({"spo2_pct": 95}),
                "respiratory_support": RecordInput({"support": "imv", "fio2": Decimal("0.4")}),
            },
            user=users["nurse"],
        )
    assert set(excinfo.value.errors) == {"respiratory_support"}
    assert codes(excinfo.value.errors["respiratory_support"]) == {"peep_cmh2o": ["peep_cmh2o.required"]}
    assert not VitalSigns.objects.exists() and not RespiratorySupport.objects.exists()


def test_unknown_fields_are_a_programming_error(patient_a, users):
    with pytest.raises(ValueError, match="no form field"):
        services.day_record_save(
            form="laboratory", patient=patient_a, study_day=1, entry=RecordInput({"crp": 3}), user=users["nurse"]
        )
    with pytest.raises(ValueError, match="unknown daily forms"):
        services.patient_day_save(patient=patient_a, study_day=1, entries={"x": RecordInput({})}, user=users["nurse"])


def test_locked_study(patient_a, users):
    study_set_locked(study=patient_a.study, locked=True, user=users["data_manager"], reason="release 1")
    with pytest.raises(StudyLocked):
        services.day_record_save(
            form="laboratory",
            patient=patient_a,
            study_day=1,
            entry=RecordInput({"crp_mg_l": Decimal(5)}),
            user=users["nurse"],
        )
    with pytest.raises(StudyLocked):
        services.event_save(
            form="adverse_events",
            patient=patient_a,
            entry=RecordInput({"study_day": 1, "kind": "thromboembolism"}),
            user=users["nurse"],
        )
    assert not LabResult.objects.exists()


def test_database_constraints_back_the_checks(patient_a, users):
    """A value that slips past the Python checks still cannot be stored: refused, not a server error."""
    services.day_record_save(
        form="vital_signs",
        patient=patient_a,
        study_day=1,
        entry=RecordInput({"temperature_c": Decimal(37)}),
        user=users["nurse"],
    )
    # Two records for one patient-day, as a race between two first entries would produce.
    with pytest.raises(ValidationError) as excinfo:
        services.patient_day_save(
            patient=patient_a,
            study_day=1,
            entries={"vital_signs": RecordInput({"temperature_c": Decimal(38)})},
            user=users["nurse"],
        )
    assert "Someone else saved this vital signs record" in str(excinfo.value)
    assert VitalSigns.objects.get().temperature_c == Decimal(37)


def test_event_save_and_delete_with_reason(patient_a, users):
    drug = services.event_save(
        form="drug_administration",
        patient=patient_a,
        entry=RecordInput(
            {"study_day": 0, "drug": "anakinra", "dose": Decimal(5), "dose_unit": "mg/kg", "route": "iv"}
            | {"frequency": "bid"}
        ),
        user=users["nurse"],
    )
    with pytest.raises(ValidationError):
        services.record_delete(record=drug, expected_version=1, user=users["nurse"], reason="")
    services.record_delete(record=drug, expected_version=1, user=users["nurse"], reason="wrong patient")
    assert not DrugAdministration.objects.exists()
    assert DrugAdministration.history.latest().history_change_reason == "wrong patient"


def test_editing_the_death_itself_is_not_after_death(patient_a, users):
    death = services.event_save(
        form="disposition_events",
        patient=patient_a,
        entry=RecordInput({"study_day": 5, "kind": "death", "cause_of_death": "ARDS"}),
        user=users["nurse"],
    )
    moved = services.event_save(
        form="disposition_events",
        patient=patient_a,
        record=death,
        entry=RecordInput({"study_day": 6, "kind": "death", "cause_of_death": "ARDS"}, expected_version=1),
        user=users["investigator"],
        reason="date checked against the death certificate",
    )
    assert (moved.study_day, moved.version) == (6, 2)
    assert DispositionEvent.objects.count() == 1


def test_admin_shows_daily_records_read_only(client, users, patient_a):
    users["admin"].is_staff = users["admin"].is_superuser = True
    users["admin"].save()
    services.day_record_save(
        form="vital_signs",
        patient=patient_a,
        study_day=1,
        entry=RecordInput({"temperature_c": Decimal(37)}),
        user=users["nurse"],
    )
    client.force_login(users["admin"])
    vitals = VitalSigns.objects.get()
    assert client.get("/admin/ecrf/vitalsigns/").status_code == 200
    page = client.get(f"/admin/ecrf/vitalsigns/{vitals.pk}/change/")
    assert page.status_code == 200 and 'type="submit"' not in page.content.decode().split("<form")[-1]
    assert client.get("/admin/ecrf/vitalsigns/add/").status_code == 403
    assert client.post(f"/admin/ecrf/vitalsigns/{vitals.pk}/delete/", {"post": "yes"}).status_code == 403
    assert VitalSigns.objects.exists()
