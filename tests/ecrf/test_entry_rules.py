"""Cross-field and cross-form checks, edits with a reason, concurrent edits and the lock, through the pages."""

from decimal import Decimal

import pytest

from cohorts.services import study_set_locked
from ecrf.models import (
    AdverseEvent,
    DispositionEvent,
    DrugAdministration,
    LabResult,
    RespiratorySupport,
    VitalSigns,
)
from tests.ecrf.test_entry_helpers import day_post, day_url, errors_of, form_of


@pytest.fixture
def nurse(client, users):
    client.force_login(users["nurse"])
    return client


def save_vitals(client, patient, day=2, version=None, reason="", **values):
    return client.post(day_url(patient, day), day_post(vitals=values, versions={"vitals": version}, reason=reason))


# ------------------------------------------------------------------------------------------- cross-field


@pytest.mark.parametrize(
    ("form", "values", "expected"),
    [
        (
            "vitals",
            {"systolic_mmhg": 120, "diastolic_mmhg": 120},
            {"diastolic_mmhg": ["diastolic_mmhg.not_below_systolic"]},
        ),
        (
            "vitals",
            {"systolic_mmhg": 120, "diastolic_mmhg": 130},
            {"diastolic_mmhg": ["diastolic_mmhg.not_below_systolic"]},
        ),
        ("support", {"support": "room_air", "fio2": "0.3"}, {"fio2": ["fio2.room_air"]}),
        ("support", {"support": "room_air", "flow_l_min": "2"}, {"flow_l_min": ["flow_l_min.room_air"]}),
        ("support", {"support": "nasal_cannula"}, {"flow_l_min": ["flow_l_min.required"]}),
        ("support", {"support": "non_rebreather"}, {"flow_l_min": ["flow_l_min.required"]}),
        ("support", {"support": "hfnc"}, {"fio2": ["fio2.required"]}),
        ("support", {"support": "cpap"}, {"fio2": ["fio2.required"], "peep_cmh2o": ["peep_cmh2o.required"]}),
        ("support", {"support": "niv", "fio2": "0.6"}, {"peep_cmh2o": ["peep_cmh2o.required"]}),
        ("support", {"support": "imv", "peep_cmh2o": "10"}, {"fio2": ["fio2.required"]}),
        ("support", {"prone": True}, {"support": ["support.required"]}),
        ("labs", {"ddimer_ng_ml": "1200"}, {"ddimer_basis": ["ddimer_basis.required"]}),
    ],
)
def test_cross_field_checks_refuse_with_message_next_to_field(nurse, patient_a, form, values, expected):
    response = nurse.post(day_url(patient_a, 2), day_post(**{form: values}))
    assert response.status_code == 200
    assert errors_of(response, form) == expected
    assert not VitalSigns.objects.exists() and not RespiratorySupport.objects.exists()
    assert not LabResult.objects.exists()


@pytest.mark.parametrize(
    "values",
    [
        {"systolic_mmhg": 120, "diastolic_mmhg": 119},
        {"support": "room_air"},
        {"support": "room_air", "fio2": "0.21"},
        {"support": "nasal_cannula", "flow_l_min": "4"},
        {"support": "cpap", "fio2": "0.5", "peep_cmh2o": "10", "niv_hours": "12", "prone": True},
    ],
)
def test_consistent_values_are_stored(nurse, patient_a, values):
    form = "vitals" if "systolic_mmhg" in values else "support"
    assert nurse.post(day_url(patient_a, 2), day_post(**{form: values})).status_code == 302


def test_all_forms_of_the_day_are_saved_or_none(nurse, patient_a):
    data = day_post(vitals={"temperature_c": "37"}, support={"support": "cpap"})  # support lacks FiO2 and PEEP
    assert nurse.post(day_url(patient_a, 2), data).status_code == 200
    assert not VitalSigns.objects.exists()


# ------------------------------------------------------------------------------------------- cross-form


def test_day_outside_follow_up_has_no_page(nurse, patient_a):
    assert nurse.get(day_url(patient_a, 21)).status_code == 200
    assert nurse.get(day_url(patient_a, 22)).status_code == 404
    assert nurse.post(day_url(patient_a, 22), day_post(vitals={"temperature_c": "37"})).status_code == 404
    assert nurse.get(f"/patients/{patient_a.pk}/day/-1/").status_code == 404


def test_no_data_after_the_day_of_death(nurse, patient_a):
    DispositionEvent.objects.create(patient=patient_a, study_day=5, kind="death", cause_of_death="ARDS")
    assert save_vitals(nurse, patient_a, day=5, temperature_c="36").status_code == 302  # the day itself is allowed
    response = save_vitals(nurse, patient_a, day=6, temperature_c="36")
    assert response.status_code == 200
    assert "Study day 6 is after the patient&#x27;s death on study day 5." in response.content.decode()
    assert list(VitalSigns.objects.values_list("study_day", flat=True)) == [5]
    # The page says so before anyone types.
    assert "after the patient&#x27;s death" in nurse.get(day_url(patient_a, 7)).content.decode()


def test_death_cannot_be_recorded_before_existing_data(nurse, patient_a):
    save_vitals(nurse, patient_a, day=6, temperature_c="36")
    response = post_event(nurse, patient_a, "dispositions", study_day=4, kind="death", cause_of_death="ARDS")
    assert response.status_code == 200
    assert errors_of_event(response) == {"study_day": ["study_day.data_after_death"]}
    assert "vital signs on day 6" in response.content.decode()
    assert not DispositionEvent.objects.exists()


def post_event(client, patient, slug, record=None, **values):
    url = f"/patients/{patient.pk}/{slug}/{record.pk}/" if record else f"/patients/{patient.pk}/{slug}/add/"
    data = {f"event-{k}": ("" if v is None else ("on" if v is True else str(v))) for k, v in values.items()}
    return client.post(url, data)


def errors_of_event(response) -> dict:
    form = response.context["form"]
    return {name: [e.code for e in errors.as_data()] for name, errors in form.errors.items()}


ANAKINRA = {"drug": "anakinra", "dose": "5", "dose_unit": "mg/kg", "route": "iv", "frequency": "bid", "study_day": 0}


def test_weight_based_dose_needs_a_weight(nurse, patient_a):
    patient_a.weight_kg = None
    patient_a.save()
    response = post_event(nurse, patient_a, "drugs", **ANAKINRA)
    assert errors_of_event(response) == {"dose_unit": ["unit.weight_required"]}
    assert not DrugAdministration.objects.exists()
    assert post_event(nurse, patient_a, "drugs", **{**ANAKINRA, "dose": "400", "dose_unit": "mg"}).status_code == 200
    # 400 mg IV differs from the high-dose arm's 5 mg/kg: soft, asks for confirmation
    assert not DrugAdministration.objects.exists()


def test_dose_and_route_against_the_arm_regimen_is_a_soft_check(nurse, patient_a):
    assert post_event(nurse, patient_a, "drugs", **ANAKINRA).status_code == 302  # the arm's own regimen
    taper = {**ANAKINRA, "dose": "100", "dose_unit": "mg", "route": "sc", "study_day": 6}
    response = post_event(nurse, patient_a, "drugs", **taper)
    assert errors_of_event(response) == {"dose": ["dose.regimen"], "route": ["route.regimen"]}
    response = post_event(
        nurse, patient_a, "drugs", **taper, confirm_dose="dose.regimen", confirm_route="route.regimen"
    )
    assert response.status_code == 302
    taper_record = DrugAdministration.objects.get(study_day=6)
    assert taper_record.confirmed_checks == ["dose.regimen", "route.regimen"]
    # Other drugs are not compared with the anakinra regimen.
    antibiotic = {**ANAKINRA, "drug": "antibiotic", "drug_detail": "ceftriaxone", "dose": "2000", "dose_unit": "mg"}
    assert post_event(nurse, patient_a, "drugs", **antibiotic).status_code == 302


def test_drug_rules(nurse, patient_a):
    response = post_event(nurse, patient_a, "drugs", **{**ANAKINRA, "study_day": 3, "stop_day": 2})
    assert errors_of_event(response) == {"stop_day": ["stop_day.before_start"]}
    response = post_event(nurse, patient_a, "drugs", **{**ANAKINRA, "drug": "antibiotic"})
    assert "drug_detail.required" in errors_of_event(response)["drug_detail"]
    response = post_event(nurse, patient_a, "drugs", **{**ANAKINRA, "dose": "0"})
    assert errors_of_event(response) == {"dose": ["dose.hard_min"]}
    response = post_event(nurse, patient_a, "drugs", **{**ANAKINRA, "study_day": 22})
    assert errors_of_event(response) == {"study_day": ["study_day.after_follow_up"]}
    assert not DrugAdministration.objects.exists()


def test_disposition_rules(nurse, patient_a):
    response = post_event(nurse, patient_a, "dispositions", study_day=4, kind="death")
    assert errors_of_event(response) == {"cause_of_death": ["cause_of_death.required"]}
    response = post_event(nurse, patient_a, "dispositions", study_day=4, kind="discharged")
    assert errors_of_event(response) == {"normal_activities": ["normal_activities.required"]}
    response = post_event(nurse, patient_a, "dispositions", study_day=21, kind="vital_status_contact")
    assert errors_of_event(response) == {"alive": ["alive.required"]}
    ok = post_event(nurse, patient_a, "dispositions", study_day=4, kind="discharged", normal_activities="true")
    assert ok.status_code == 302
    response = post_event(nurse, patient_a, "dispositions", study_day=4, kind="discharged", normal_activities="false")
    assert errors_of_event(response) == {"kind": ["kind.duplicate"]}
    assert (
        post_event(nurse, patient_a, "dispositions", study_day=9, kind="death", cause_of_death="MI").status_code == 302
    )
    response = post_event(nurse, patient_a, "dispositions", study_day=12, kind="death", cause_of_death="x")
    assert errors_of_event(response) == {"study_day": ["study_day.after_death"]}
    response = post_event(nurse, patient_a, "dispositions", study_day=8, kind="death", cause_of_death="x")
    assert errors_of_event(response) == {"kind": ["kind.second_death"]}
    assert DispositionEvent.objects.count() == 2


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        # An answer of one kind of event given with another: the derivation would pass over it without a word.
        ({"kind": "icu_admission", "alive": "false"}, {"alive": ["alive.not_contact"]}),
        ({"kind": "death", "cause_of_death": "ARDS", "alive": "true"}, {"alive": ["alive.not_contact"]}),
        (
            {"kind": "discharged", "normal_activities": "true", "alive": "false"},
            {"alive": ["alive.not_contact"]},
        ),
        (
            {"kind": "icu_admission", "normal_activities": "true"},
            {"normal_activities": ["normal_activities.not_discharge"]},
        ),
        (
            {"kind": "death", "cause_of_death": "ARDS", "normal_activities": "false"},
            {"normal_activities": ["normal_activities.not_discharge"]},
        ),
        ({"kind": "withdrawal", "cause_of_death": "ARDS"}, {"cause_of_death": ["cause_of_death.not_death"]}),
        # A contact that found the patient dead cannot report normal activities resumed.
        (
            {"kind": "vital_status_contact", "alive": "false", "normal_activities": "true"},
            {"normal_activities": ["normal_activities.not_alive"]},
        ),
    ],
)
def test_disposition_answers_of_another_kind_of_event_are_refused(nurse, patient_a, values, expected):
    response = post_event(nurse, patient_a, "dispositions", study_day=4, **values)
    assert errors_of_event(response) == expected
    assert not DispositionEvent.objects.exists()


def test_disposition_answers_that_go_with_their_kind_are_saved(nurse, patient_a):
    for values in (
        {"study_day": 3, "kind": "discharged", "normal_activities": "false"},
        {"study_day": 5, "kind": "vital_status_contact", "alive": "true", "normal_activities": "true"},
        {"study_day": 6, "kind": "vital_status_contact", "alive": "false", "normal_activities": "false"},
    ):
        assert post_event(nurse, patient_a, "dispositions", **values).status_code == 302, values
    assert DispositionEvent.objects.count() == 3


@pytest.mark.parametrize(
    ("slug", "field", "shown"),
    [
        ("dispositions", "cause_of_death", "Only with the kind: Death."),
        ("dispositions", "alive", "Only with the kind: Vital status contact (e.g. day-21 call)."),
        (
            "dispositions",
            "normal_activities",
            "Only with the kind: Discharged / Vital status contact (e.g. day-21 call).",
        ),
        ("adverse-events", "organism", "Only with the kind: Bacteraemia."),
    ],
)
def test_the_form_says_which_kind_an_answer_goes_with_before_a_save(nurse, patient_a, slug, field, shown):
    page = nurse.get(f"/patients/{patient_a.pk}/{slug}/add/")
    assert page.context["form"][field].help_text == shown
    assert shown in page.content.decode()


def test_an_organism_goes_with_a_bacteraemia_only(nurse, patient_a):
    response = post_event(nurse, patient_a, "adverse-events", study_day=3, kind="thromboembolism", organism="E. coli")
    assert errors_of_event(response) == {"organism": ["organism.not_bacteraemia"]}
    assert "An organism only goes with a bacteraemia." in response.content.decode()
    described = post_event(
        nurse, patient_a, "adverse-events", study_day=3, kind="thromboembolism", description="DVT, left leg"
    )
    assert described.status_code == 302
    assert AdverseEvent.objects.get().description == "DVT, left leg"


def test_adverse_event_rules(nurse, patient_a):
    response = post_event(nurse, patient_a, "adverse-events", study_day=3, kind="bacteraemia")
    assert errors_of_event(response) == {"organism": ["organism.required"]}
    response = post_event(nurse, patient_a, "adverse-events", study_day=3, kind="other")
    assert errors_of_event(response) == {"description": ["description.required"]}
    ok = post_event(
        nurse, patient_a, "adverse-events", study_day=3, kind="bacteraemia", organism="S. aureus", serious=True
    )
    assert ok.status_code == 302
    assert AdverseEvent.objects.get().serious is True


# ------------------------------------------------------------------------------------------ edits, reasons


def test_edit_without_reason_is_refused_next_to_the_reason_field(nurse, patient_a, users):
    save_vitals(nurse, patient_a, temperature_c="37.5")
    response = save_vitals(nurse, patient_a, version=1, temperature_c="38.5")
    assert response.status_code == 200
    assert response.context["reason_form"].errors["reason"] == ["Give a reason for changing saved data: Vital signs."]
    assert VitalSigns.objects.get().temperature_c == Decimal("37.5")
    response = save_vitals(nurse, patient_a, version=1, temperature_c="38.5", reason="typo, checked chart")
    assert response.status_code == 302
    vitals = VitalSigns.objects.get()
    assert (vitals.temperature_c, vitals.version) == (Decimal("38.5"), 2)
    latest = vitals.history.latest()
    assert (latest.history_change_reason, latest.history_user) == ("typo, checked chart", users["nurse"])


def test_a_reason_too_long_for_the_audit_trail_is_refused_next_to_the_reason_field(nurse, patient_a):
    save_vitals(nurse, patient_a, temperature_c="37.5")
    response = save_vitals(nurse, patient_a, version=1, temperature_c="38.5", reason="checked against chart " * 8)
    assert response.status_code == 200
    assert "at most 100 characters" in response.context["reason_form"].errors["reason"][0]
    assert VitalSigns.objects.get().temperature_c == Decimal("37.5")


def test_saving_an_unchanged_day_needs_no_reason_and_leaves_no_history(nurse, patient_a):
    save_vitals(nurse, patient_a, temperature_c="37.5")
    assert save_vitals(nurse, patient_a, version=1, temperature_c="37.5").status_code == 302
    assert VitalSigns.objects.get().history.count() == 1


def test_clearing_a_form_deletes_the_record_with_a_reason(nurse, patient_a, users):
    save_vitals(nurse, patient_a, temperature_c="37.5")
    vitals = VitalSigns.objects.get()
    assert save_vitals(nurse, patient_a, version=1).status_code == 200  # no reason
    assert VitalSigns.objects.exists()
    assert save_vitals(nurse, patient_a, version=1, reason="entered on the wrong patient").status_code == 302
    assert not VitalSigns.objects.exists()
    deleted = VitalSigns.history.filter(id=vitals.pk).latest()
    assert (deleted.history_type, deleted.history_change_reason) == ("-", "entered on the wrong patient")


def test_concurrent_edit_second_save_refused_first_value_kept(client, users, patient_a):
    from django.test import Client

    first, second = Client(), Client()
    first.force_login(users["nurse"])
    second.force_login(users["investigator"])
    save_vitals(first, patient_a, temperature_c="37.5", heart_rate_bpm="90")
    # Both open the page at version 1; the nurse saves first.
    assert (
        save_vitals(
            first, patient_a, version=1, temperature_c="38.2", heart_rate_bpm="90", reason="recheck"
        ).status_code
        == 302
    )
    response = save_vitals(second, patient_a, version=1, temperature_c="37.5", heart_rate_bpm="110", reason="mine")
    assert response.status_code == 200
    message = str(form_of(response, "vitals").non_field_errors())
    assert "Someone else saved this vital signs record after you opened it" in message
    assert "temperature (°C) is now 38.2 (you started from 37.5)" in message
    vitals = VitalSigns.objects.get()
    assert (vitals.temperature_c, vitals.heart_rate_bpm, vitals.version) == (Decimal("38.2"), 90, 2)


def test_two_people_entering_a_blank_day_the_second_is_refused(users, patient_a):
    from django.test import Client

    first, second = Client(), Client()
    first.force_login(users["nurse"])
    second.force_login(users["investigator"])
    assert save_vitals(first, patient_a, temperature_c="37.5").status_code == 302
    response = save_vitals(second, patient_a, temperature_c="39.0")
    assert response.status_code == 200
    assert "temperature (°C) is now 37.5 (you started from empty)" in response.content.decode()
    assert VitalSigns.objects.get().temperature_c == Decimal("37.5")


def test_a_form_left_unchanged_is_not_a_conflict(users, patient_a):
    """Someone changed the labs meanwhile; this nurse changed only the vitals: her save goes through."""
    from django.test import Client

    first, second = Client(), Client()
    first.force_login(users["nurse"])
    second.force_login(users["investigator"])
    first.post(day_url(patient_a, 2), day_post(vitals={"temperature_c": "37"}, labs={"crp_mg_l": "120"}))
    second.post(
        day_url(patient_a, 2),
        day_post(
            vitals={"temperature_c": "37"}, labs={"crp_mg_l": "150"}, versions={"vitals": 1, "labs": 1}, reason="r"
        ),
    )
    response = first.post(
        day_url(patient_a, 2),
        day_post(
            vitals={"temperature_c": "38"}, labs={"crp_mg_l": "120"}, versions={"vitals": 1, "labs": 1}, reason="r"
        ),
    )
    assert response.status_code == 302
    assert LabResult.objects.get().crp_mg_l == Decimal("150")
    assert VitalSigns.objects.get().temperature_c == Decimal("38")


def test_event_concurrent_edit(users, patient_a):
    from django.test import Client

    first, second = Client(), Client()
    first.force_login(users["nurse"])
    second.force_login(users["data_manager"])
    post_event(first, patient_a, "adverse-events", study_day=3, kind="thromboembolism")
    event = AdverseEvent.objects.get()
    ok = post_event(
        first,
        patient_a,
        "adverse-events",
        event,
        study_day=3,
        kind="thromboembolism",
        serious=True,
        version=1,
        reason="confirmed by CT",
    )
    assert ok.status_code == 302
    response = post_event(
        second, patient_a, "adverse-events", event, study_day=4, kind="thromboembolism", version=1, reason="wrong day"
    )
    assert response.status_code == 200
    assert "serious is now yes (you started from no)" in response.content.decode()
    event.refresh_from_db()
    assert (event.study_day, event.serious, event.version) == (3, True, 2)


def test_locked_study_refuses_every_save(nurse, patient_a, users):
    study_set_locked(study=patient_a.study, locked=True, user=users["data_manager"], reason="interim")
    response = save_vitals(nurse, patient_a, temperature_c="37")
    assert response.status_code == 200
    assert "is locked for a data release" in response.content.decode()
    assert not VitalSigns.objects.exists()
    response = post_event(nurse, patient_a, "adverse-events", study_day=3, kind="thromboembolism")
    assert "is locked for a data release" in response.content.decode()
    assert not AdverseEvent.objects.exists()
    page = nurse.get(day_url(patient_a, 2)).content.decode()
    assert "The study is locked" in page and 'data-testid="save"' not in page


@pytest.mark.parametrize("username", ["monitor", "admin"])
def test_read_only_roles_see_the_page_but_cannot_save(client, users, patient_a, username):
    client.force_login(users[username])
    page = client.get(day_url(patient_a, 2)).content.decode()
    assert 'data-testid="save"' not in page and "disabled" in page
    assert client.post(day_url(patient_a, 2), day_post(vitals={"temperature_c": "37"})).status_code == 403
    assert not VitalSigns.objects.exists()


def test_previous_day_values_shown_for_reference(nurse, patient_a):
    save_vitals(nurse, patient_a, day=3, temperature_c="38.4", heart_rate_bpm="101")
    page = nurse.get(day_url(patient_a, 4)).content.decode()
    assert "day 3: 38.4 °C" in page and "day 3: 101 /min" in page


def test_delete_an_event_needs_a_reason(nurse, patient_a, users):
    post_event(nurse, patient_a, "adverse-events", study_day=3, kind="thromboembolism")
    event = AdverseEvent.objects.get()
    url = f"/patients/{patient_a.pk}/adverse-events/{event.pk}/"
    assert 'data-testid="delete"' in nurse.get(url).content.decode()
    response = nurse.post(url, {"action": "delete", "delete-version": "1", "delete-reason": ""})
    assert response.status_code == 200
    assert response.context["delete_form"].errors["reason"] == ["Give a reason for changing saved data."]
    assert AdverseEvent.objects.exists()
    response = nurse.post(url, {"action": "delete", "delete-version": "1", "delete-reason": "wrong patient"})
    assert response.status_code == 302
    assert not AdverseEvent.objects.exists()
    gone = AdverseEvent.history.filter(id=event.pk).latest()
    assert (gone.history_type, gone.history_change_reason, gone.history_user) == ("-", "wrong patient", users["nurse"])


def test_delete_refused_for_read_only_roles(client, users, patient_a):
    event = AdverseEvent.objects.create(patient=patient_a, study_day=3, kind="thromboembolism")
    client.force_login(users["monitor"])
    url = f"/patients/{patient_a.pk}/adverse-events/{event.pk}/"
    assert 'data-testid="delete"' not in client.get(url).content.decode()
    response = client.post(url, {"action": "delete", "delete-version": "1", "delete-reason": "x"})
    assert response.status_code == 403
    assert AdverseEvent.objects.exists()


def test_a_day_after_death_is_closed_for_entry(nurse, patient_a):
    DispositionEvent.objects.create(patient=patient_a, study_day=5, kind="death", cause_of_death="ARDS")
    page = nurse.get(day_url(patient_a, 6)).content.decode()
    assert 'data-testid="day-refusal"' in page and 'data-testid="save"' not in page
    assert "your role does not enter data" not in page
    # A record entered there before the death was known stays open, to be deleted with a reason.
    VitalSigns.objects.create(patient=patient_a, study_day=7, temperature_c=37)
    page = nurse.get(day_url(patient_a, 7)).content.decode()
    assert 'data-testid="save"' in page and "clear a record" in page
    response = save_vitals(nurse, patient_a, day=7, version=1, reason="patient had died on day 5")
    assert response.status_code == 302
    assert not VitalSigns.objects.exists()


# ------------------------------------------------------------------ day 0: values carried from the screening

CARRIED = "enrolment: from screening MI-S0001"


@pytest.fixture
def day0(patient_a, users):
    """Day 0 as enrolment leaves it (ecrf/enrolment.py): labs and CPAP carried from the screening."""
    from cohorts.audit import save_audited

    labs = LabResult(
        patient=patient_a, study_day=0, pao2_mmhg=Decimal("60.0"), abg_fio2=Decimal("0.50"), crp_mg_l=Decimal("150")
    )
    support = RespiratorySupport(
        patient=patient_a, study_day=0, support="cpap", fio2=Decimal("0.50"), peep_cmh2o=Decimal("10")
    )
    for record in (labs, support):
        save_audited(record, user=users["investigator"], reason=CARRIED)
    return {"laboratory": labs, "respiratory_support": support}


def entries_of(day0, **changes):
    """The service's entries as the page sends them: every field of each stored record, with ``changes``."""
    from ecrf.crfs import DAY_FORMS
    from ecrf.services import RecordInput

    entries = {}
    for key, record in day0.items():
        values = {name: getattr(record, name) for name in DAY_FORMS[key].fields}
        values.update(changes.get(key, {}))
        entries[key] = RecordInput(values, expected_version=record.version)
    if "vital_signs" in changes:
        values = dict.fromkeys(DAY_FORMS["vital_signs"].fields)
        entries["vital_signs"] = RecordInput({**values, **changes["vital_signs"]})
    return entries


def test_completing_day0_carried_records_asks_no_reason(patient_a, day0, users):
    from ecrf.services import patient_day_save

    saved = patient_day_save(
        patient=patient_a,
        study_day=0,
        entries=entries_of(
            day0,
            laboratory={"ldh_u_l": Decimal("400")},
            respiratory_support={"niv_hours": Decimal("12")},
            vital_signs={"heart_rate_bpm": 90},
        ),
        user=users["nurse"],
    )
    assert saved["laboratory"].ldh_u_l == 400 and saved["respiratory_support"].niv_hours == 12
    for record in saved.values():
        latest = record.history.order_by("history_id").last()
        assert latest.history_change_reason == "initial entry" and latest.history_user == users["nurse"]


def test_changing_a_carried_value_needs_a_reason_naming_the_form(patient_a, day0, users):
    from ecrf.services import PatientDayInvalid, patient_day_save

    entries = entries_of(day0, laboratory={"crp_mg_l": Decimal("160")}, vital_signs={"heart_rate_bpm": 90})
    with pytest.raises(PatientDayInvalid) as refused:
        patient_day_save(patient=patient_a, study_day=0, entries=entries, user=users["nurse"])
    assert set(refused.value.errors) == {"laboratory"}
    assert refused.value.reason.messages == ["Give a reason for changing saved data: Laboratory."]
    assert LabResult.objects.get().crp_mg_l == 150 and not VitalSigns.objects.exists()

    saved = patient_day_save(
        patient=patient_a, study_day=0, entries=entries, user=users["nurse"], reason="transcription error"
    )
    assert saved["laboratory"].history.order_by("history_id").last().history_change_reason == "transcription error"
    # The reason was for the laboratory: the new vital signs record's audit row does not carry it.
    assert saved["vital_signs"].history.get().history_change_reason == "initial entry"


def test_changes_in_two_forms_are_named_in_one_message(patient_a, day0, users):
    from ecrf.services import PatientDayInvalid, patient_day_save

    entries = entries_of(
        day0, laboratory={"crp_mg_l": Decimal("160")}, respiratory_support={"peep_cmh2o": Decimal("12")}
    )
    with pytest.raises(PatientDayInvalid) as refused:
        patient_day_save(patient=patient_a, study_day=0, entries=entries, user=users["nurse"])
    assert refused.value.reason.messages == [
        "Give a reason for changing saved data: Respiratory support and Laboratory."
    ]


def test_clearing_a_carried_value_is_a_change(patient_a, day0, users):
    from ecrf.services import PatientDayInvalid, patient_day_save

    with pytest.raises(PatientDayInvalid):
        patient_day_save(
            patient=patient_a, study_day=0, entries=entries_of(day0, laboratory={"crp_mg_l": None}), user=users["nurse"]
        )


def day0_post(day0, *, labs=None, support=None, vitals=None, reason=""):
    """The day-0 page as the browser posts it: the carried values as shown, plus the user's changes."""
    return day_post(
        labs={"pao2_mmhg": "60", "abg_fio2": "0.5", "crp_mg_l": "150", **(labs or {})},
        support={"support": "cpap", "fio2": "0.5", "peep_cmh2o": "10", **(support or {})},
        vitals=vitals,
        versions={"labs": day0["laboratory"].version, "support": day0["respiratory_support"].version},
        reason=reason,
    )


def test_day0_page_completion_is_saved_without_a_reason(nurse, patient_a, day0):
    response = nurse.post(
        day_url(patient_a, 0),
        day0_post(day0, labs={"ldh_u_l": "400"}, support={"niv_hours": "12"}, vitals={"heart_rate_bpm": "90"}),
    )
    assert response.status_code == 302, response.context["reason_form"].errors
    assert LabResult.objects.get().ldh_u_l == 400 and RespiratorySupport.objects.get().niv_hours == 12
    assert VitalSigns.objects.get().history.get().history_change_reason == "initial entry"


def test_day0_page_change_asks_once_for_a_reason_naming_the_form(nurse, patient_a, day0):
    response = nurse.post(
        day_url(patient_a, 0), day0_post(day0, labs={"crp_mg_l": "160"}, vitals={"heart_rate_bpm": "90"})
    )
    assert response.status_code == 200
    assert response.context["reason_form"].errors == {"reason": ["Give a reason for changing saved data: Laboratory."]}
    assert form_of(response, "labs").non_field_errors()
    # the form's note shows once on the page (not once by the page and again by the form's layout)
    assert response.content.decode().count("This form changes saved data") == 1
    assert not form_of(response, "vitals").errors and not form_of(response, "support").errors
    assert LabResult.objects.get().crp_mg_l == 150 and not VitalSigns.objects.exists()

    response = nurse.post(
        day_url(patient_a, 0),
        day0_post(day0, labs={"crp_mg_l": "160"}, vitals={"heart_rate_bpm": "90"}, reason="lab report corrected"),
    )
    assert response.status_code == 302
    assert LabResult.objects.get().history.order_by("history_id").last().history_change_reason == "lab report corrected"
    assert VitalSigns.objects.get().history.get().history_change_reason == "initial entry"


# ---------------------------------------------------------------------------------------- days still to come


@pytest.fixture
def enrolled_today(study, site_a, arms):
    """A patient whose day 0 is today at the site: day 3 has not happened yet."""
    import datetime

    from cohorts.clock import site_today
    from tests import factories

    today = site_today(site_a)
    patient = factories.PatientFactory(
        study=study, site=site_a, arm=arms["high_dose"], participant_id="MI-0042", enrolment_date=today
    )
    patient.day_date = lambda day: today + datetime.timedelta(days=day)
    return patient


def _shown(date) -> str:
    return f"{date.day} {date:%b %Y}"


def test_no_daily_data_for_a_day_that_has_not_happened_yet(nurse, enrolled_today):
    patient = enrolled_today
    message = (
        f"Study day 3 is {_shown(patient.day_date(3))}, after today ({_shown(patient.day_date(0))} at Milan San "
        "Raffaele): data cannot be entered for a day that has not happened yet."
    )
    # The page of a day to come says so and offers no save.
    page = nurse.get(day_url(patient, 3)).content.decode()
    assert "not yet due" in page
    assert 'data-testid="day-refusal"' in page and 'data-testid="save"' not in page
    assert "your role does not enter data" not in page
    # A post anyway (a page opened yesterday, a crafted request) is refused with the message, nothing stored.
    response = save_vitals(nurse, patient, day=3, temperature_c="37")
    assert response.status_code == 200
    assert message.replace("'", "&#x27;") in response.content.decode()
    assert not VitalSigns.objects.exists()
    # Today itself is open.
    assert nurse.get(day_url(patient, 0)).content.decode().count('data-testid="save"') == 1
    assert save_vitals(nurse, patient, day=0, temperature_c="37").status_code == 302


@pytest.mark.parametrize(
    ("slug", "values", "field"),
    [
        ("drugs", {**ANAKINRA, "study_day": 7}, "study_day"),
        ("drugs", {**ANAKINRA, "study_day": 0, "stop_day": 2}, "stop_day"),
        ("dispositions", {"study_day": 1, "kind": "discharged", "normal_activities": "true"}, "study_day"),
        ("adverse-events", {"study_day": 1, "kind": "thromboembolism"}, "study_day"),
    ],
)
def test_no_event_on_a_day_that_has_not_happened_yet(nurse, enrolled_today, slug, values, field):
    response = post_event(nurse, enrolled_today, slug, **values)
    assert response.status_code == 200
    assert errors_of_event(response) == {field: ["study_day.future"]}  # a stop day is a study day too
    assert "data cannot be entered for a day that has not happened yet" in str(response.context["form"].errors[field])
    assert not any(model.objects.exists() for model in (DrugAdministration, DispositionEvent, AdverseEvent))
    # The same record dated today is accepted.
    today = {**values, "study_day": 0, **({"stop_day": 0} if field == "stop_day" else {})}
    assert post_event(nurse, enrolled_today, slug, **today).status_code == 302


def test_the_services_refuse_a_future_day_whoever_calls_them(users, enrolled_today):
    from django.core.exceptions import ValidationError

    from ecrf import services
    from ecrf.services import RecordInput

    with pytest.raises(ValidationError) as refused:
        services.day_record_save(
            form="vital_signs",
            patient=enrolled_today,
            study_day=1,
            entry=RecordInput({"temperature_c": Decimal("37")}),
            user=users["nurse"],
        )
    assert [e.code for errors in refused.value.error_dict.values() for e in errors] == ["study_day.future"]
    with pytest.raises(ValidationError) as refused:
        services.event_save(
            form="drug_administration",
            patient=enrolled_today,
            entry=RecordInput({**ANAKINRA, "study_day": 7, "dose": Decimal(5)}),
            user=users["nurse"],
        )
    assert refused.value.message_dict.keys() == {"study_day"}
    assert not VitalSigns.objects.exists() and not DrugAdministration.objects.exists()


def test_future_day_rule_on_plain_values():
    import datetime

    from ecrf.validators import PatientFacts, day_issues

    facts = PatientFacts(
        follow_up_days=21, today_day=2, enrolment_date=datetime.date(2026, 12, 10), site_name="Ospedale San Raffaele"
    )
    assert day_issues(2, facts) == []
    (issue,) = day_issues(4, facts)
    assert (issue.code, issue.level) == ("study_day.future", "hard")
    assert issue.message == (
        "Study day 4 is 14 Dec 2026, after today (12 Dec 2026 at Ospedale San Raffaele): data cannot be entered for "
        "a day that has not happened yet."
    )
    assert day_issues(30, PatientFacts(follow_up_days=21)) == day_issues(30, facts)[:1]  # no today: no such rule
