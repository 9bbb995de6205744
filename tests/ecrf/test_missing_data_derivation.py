"""The derivation job reads a form marked not done, and a value with a missing-data code, as absent data (clinical
definitions §2.2, §3): a respiratory-support record marked not done (no level) never becomes a clinical state."""

from decimal import Decimal

from ecrf import derivation_job, derivations, services
from ecrf.models import DerivedDay
from ecrf.services import RecordInput


def derived(patient) -> dict[int, DerivedDay]:
    return {row.study_day: row for row in DerivedDay.objects.filter(patient=patient)}


def support(patient, user, day, **entry):
    services.day_record_save(
        form="respiratory_support", patient=patient, study_day=day, entry=RecordInput(**entry), user=user
    )


def test_a_respiratory_support_form_marked_not_done_is_no_state_and_no_day_in_hospital(patient_a, users):
    nurse = users["nurse"]
    support(patient_a, nurse, 0, values={"support": "cpap", "fio2": Decimal("0.5"), "peep_cmh2o": Decimal(8)})
    support(patient_a, nurse, 1, values={}, not_done_reason="patient in CT")
    services.event_save(
        form="disposition_events",
        patient=patient_a,
        entry=RecordInput({"study_day": 2, "kind": "discharged", "normal_activities": True}),
        user=nurse,
    )
    support(patient_a, nurse, 4, values={}, not_done_reason="phone follow-up only")
    derivation_job.derive_patient(patient_a.pk)
    days = derived(patient_a)
    assert (days[0].state, days[0].ordinal_7) == ("hfnc_cpap_niv", 5)
    # Not done: the day has no state of its own, and nothing before it carries one (a day in hospital).
    assert (days[1].state, days[1].ordinal_7) == ("", None)
    assert days[1].status_note == "no respiratory support recorded"
    assert days[1].fio2 is None
    # After the discharge, a form marked not done is no readmission: the discharged state carries on.
    assert (days[3].state, days[4].state, days[5].state) == ("discharged_normal",) * 3
    assert not any(day.data_after_death for day in days.values())


def test_values_with_a_missing_data_code_are_missing_to_the_derivation(patient_a, users):
    nurse = users["nurse"]
    support(
        patient_a, nurse, 0, values={"support": "hfnc", "fio2": Decimal("0.6")}, missing_codes={"flow_l_min": "unknown"}
    )
    services.day_record_save(
        form="vital_signs",
        patient=patient_a,
        study_day=0,
        entry=RecordInput({"temperature_c": Decimal("37.0")}, missing_codes={"spo2_pct": "not_done"}),
        user=nurse,
    )
    services.day_record_save(
        form="laboratory",
        patient=patient_a,
        study_day=0,
        entry=RecordInput({}, not_done_reason="no blood gas"),
        user=nurse,
    )
    derivation_job.derive_patient(patient_a.pk)
    day0 = derived(patient_a)[0]
    assert (day0.state, day0.fio2) == ("hfnc_cpap_niv", 0.6)
    assert day0.sf_ratio is None and day0.pf is None and day0.pf_measured is None
    assert day0.pf_derived_note == derivations.NOTE_NO_SPO2
