"""Source data verification, the service (issue 16 item 1, cleaning/sdv.py): the study's plan (audited, refused
for an unknown form or level and a locked study), a monitor's mark and the SHA-256 of the verified values, who
may verify and what is refused with nothing written, a saved change of a verified value marking it changed with
its automatic query (closed again by a re-verification, left alone by the data-quality rule job), the bulk
verification, the progress per site and per monitor, and the cost of the after-commit check."""

from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from cleaning import rule_job, sdv
from cleaning.models import (
    SDV_CHANGED_RULE,
    MessageKind,
    Query,
    QueryMessage,
    QueryOrigin,
    QueryStatus,
    SdvPlan,
    SourceVerification,
)
from cohorts import roles
from cohorts import services as cohort_services
from cohorts.models import Patient, Study
from cohorts.team import grant
from ecrf.crfs import CATALOGUE
from ecrf.models import DrugAdministration, LabResult, VitalSigns
from tests import factories

VITALS = CATALOGUE["vital_signs"]
CRITICAL_VITALS = ("respiratory_rate_bpm", "spo2_pct")


def _codes(excinfo) -> dict:
    error = excinfo.value
    if hasattr(error, "error_dict"):
        return {name: [e.code for e in errors] for name, errors in error.error_dict.items()}
    return {None: [e.code for e in error.error_list]}


def audited(record, user, reason="initial entry"):
    record._history_user, record._change_reason = user, reason
    record.save()
    return record


@pytest.fixture
def save(django_capture_on_commit_callbacks):
    """Save (or delete) a record as a request would: audited, with the after-commit work run."""

    def saved(record, user, reason, delete=False, **changes):
        for name, value in changes.items():
            setattr(record, name, value)
        record._history_user, record._change_reason = user, reason
        with django_capture_on_commit_callbacks(execute=True):
            if delete:
                record.delete()
            else:
                record.save()
        return record

    return saved


@pytest.fixture
def monitor(users):
    user = users["monitor"]
    user.first_name, user.last_name = "Marta", "Verdi"
    user.save()
    return user


@pytest.fixture
def monitor_b(study, site_b):
    user = factories.UserFactory(username="monitor_b")
    grant(user, study, roles.MONITOR, [site_b], reason="test")
    return user


@pytest.fixture
def vitals(patient_a, users, django_capture_on_commit_callbacks):
    """Two vital-signs records of patient A, saved as a request would."""
    nurse = users["nurse"]
    with django_capture_on_commit_callbacks(execute=True):
        day0 = audited(
            VitalSigns(
                patient=patient_a, study_day=0, spo2_pct=91, respiratory_rate_bpm=28, temperature_c=Decimal("37.2")
            ),
            nurse,
        )
        day1 = audited(VitalSigns(patient=patient_a, study_day=1, spo2_pct=93, temperature_c=Decimal("37.5")), nurse)
    return day0, day1


@pytest.fixture
def drug(patient_a, users, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        return audited(
            DrugAdministration(
                patient=patient_a, study_day=0, drug="anakinra", dose=100, dose_unit="mg", route="sc", frequency="q6h"
            ),
            users["nurse"],
        )


def verify(user, patient, *records, seen=None):
    return sdv.sdv_verify(user=user, patient=patient, items=[(_form(record), record.pk, seen) for record in records])


def _form(record) -> str:
    return next(key for key, crf in CATALOGUE.items() if isinstance(record, crf.model))


def mark_of(record) -> SourceVerification:
    return SourceVerification.objects.get(form=_form(record), record_id=record.pk)


def states(patient) -> dict:
    return {(entry.crf.key, entry.record.study_day): entry.state for entry in sdv.worksheet(patient)}


def changed_query() -> Query:
    return Query.objects.get(rule=SDV_CHANGED_RULE)


def thread(query) -> list[str]:
    return list(QueryMessage.objects.filter(query=query).order_by("pk").values_list("kind", flat=True))


# ------------------------------------------------------------------------------------------------ the plan


def test_without_a_plan_no_form_is_verified(study):
    assert sdv.plan_levels(study) == dict.fromkeys(CATALOGUE, "none")


def test_the_plan_is_stored_and_every_change_audited(study, users):
    manager = users["data_manager"]
    levels = sdv.plan_save(
        study=study, levels={"vital_signs": "critical", "laboratory": "all"}, user=manager, reason="protocol v2"
    )
    assert levels == {**dict.fromkeys(CATALOGUE, "none"), "vital_signs": "critical", "laboratory": "all"}
    assert sdv.plan_levels(study) == levels
    assert not SdvPlan.objects.filter(form="adverse_events").exists()  # none: no row
    sdv.plan_save(study=study, levels={"vital_signs": "all", "laboratory": "all"}, user=manager, reason="DSMB")
    history = SdvPlan.history.filter(form="vital_signs").order_by("history_id")
    assert [(h.level, h.history_user, h.history_change_reason) for h in history] == [
        ("critical", manager, "protocol v2"),
        ("all", manager, "DSMB"),
    ]
    assert SdvPlan.history.filter(form="laboratory").count() == 1  # unchanged: no new history row
    sdv.plan_save(study=study, levels={"vital_signs": "none"}, user=manager, reason="dropped")
    assert sdv.plan_levels(study)["vital_signs"] == "none"
    assert SdvPlan.history.filter(form="vital_signs").latest("history_id").history_change_reason == "dropped"


@pytest.mark.parametrize("role", ["monitor", "investigator", "nurse"])
def test_only_whoever_sets_the_study_up_changes_the_plan(study, users, role):
    with pytest.raises(PermissionDenied):
        sdv.plan_save(study=study, levels={"vital_signs": "all"}, user=users[role])
    assert not SdvPlan.objects.exists()


def test_an_unknown_form_or_level_is_refused_with_its_name(study, users):
    with pytest.raises(ValidationError, match="Not a form of the catalogue: vitals") as excinfo:
        sdv.plan_save(study=study, levels={"vitals": "all"}, user=users["data_manager"])
    assert _codes(excinfo) == {None: ["unknown_form"]}
    with pytest.raises(ValidationError, match="not 'most'") as excinfo:
        sdv.plan_save(study=study, levels={"vital_signs": "most"}, user=users["data_manager"])
    assert _codes(excinfo) == {"vital_signs": ["unknown_level"]}
    assert not SdvPlan.objects.exists() and not SdvPlan.history.exists()


def test_a_locked_study_keeps_its_plan(study, users):
    Study.objects.filter(pk=study.pk).update(is_locked=True)
    with pytest.raises(ValidationError, match="locked") as excinfo:
        sdv.plan_save(study=study, levels={"vital_signs": "all"}, user=users["data_manager"])
    assert _codes(excinfo) == {None: ["study_locked"]}
    assert not SdvPlan.objects.exists()


# ------------------------------------------------------------------------------------------------ verify


def test_a_monitor_verifies_the_critical_fields_with_their_sha256(planned, patient_a, vitals, monitor):
    day0, _ = vitals
    assert states(patient_a)[("vital_signs", 0)] == "unverified"
    assert verify(monitor, patient_a, day0) == 1
    mark = mark_of(day0)
    assert (mark.scope, mark.fields, mark.study_day) == ("critical", list(CRITICAL_VITALS), 0)
    assert (mark.verified_by, mark.changed_at, mark.change_text) == (monitor, None, "")
    assert mark.data_sha256 == sdv.values_sha256(VITALS, day0, CRITICAL_VITALS)
    assert len(mark.data_sha256) == 64
    assert mark.history.get().history_change_reason == "verified against source"
    assert states(patient_a) == {
        ("vital_signs", 0): "verified",
        ("vital_signs", 1): "unverified",
    }


def test_the_hash_follows_the_verified_values_only():
    record = VitalSigns(study_day=2, spo2_pct=91, respiratory_rate_bpm=28, temperature_c=Decimal("37.40"))
    before = sdv.values_sha256(VITALS, record, CRITICAL_VITALS)
    record.temperature_c = Decimal("39.0")  # not a critical field
    assert sdv.values_sha256(VITALS, record, CRITICAL_VITALS) == before
    record.spo2_pct = 92
    assert sdv.values_sha256(VITALS, record, CRITICAL_VITALS) != before
    everything = VITALS.fields
    stored = VitalSigns(study_day=2, temperature_c=Decimal("37.40"))
    typed = VitalSigns(study_day=2, temperature_c=Decimal("37.4"))
    assert sdv.values_sha256(VITALS, stored, everything) == sdv.values_sha256(VITALS, typed, everything)


def test_a_frozen_casebook_can_still_be_verified(planned, patient_a, vitals, monitor, users):
    cohort_services.patient_freeze(patient=patient_a, user=users["data_manager"], reason="day-21 data checked")
    assert verify(monitor, patient_a, vitals[0]) == 1
    assert states(patient_a)[("vital_signs", 0)] == "verified"


@pytest.mark.parametrize("role", ["nurse", "investigator", "data_manager"])
def test_only_a_monitor_verifies(planned, patient_a, vitals, users, role):
    with pytest.raises(PermissionDenied):
        verify(users[role], patient_a, vitals[0])
    assert not SourceVerification.objects.exists()


def test_a_monitor_of_another_site_does_not_verify(planned, patient_a, vitals, monitor_b):
    with pytest.raises(PermissionDenied):
        verify(monitor_b, patient_a, vitals[0])
    assert not SourceVerification.objects.exists()


def test_a_form_not_in_the_plan_is_refused_and_nothing_written(planned, patient_a, vitals, monitor):
    lab = LabResult.objects.create(patient=patient_a, study_day=0, crp_mg_l="40.0")
    with pytest.raises(ValidationError, match="Laboratory is not in the study's SDV plan") as excinfo:
        verify(monitor, patient_a, vitals[0], lab)
    assert _codes(excinfo) == {None: ["not_planned"]}
    assert not SourceVerification.objects.exists()


def test_a_record_of_another_patient_is_refused(planned, patient_a, patient_b, vitals, monitor):
    other = VitalSigns.objects.create(patient=patient_b, study_day=0, spo2_pct=90)
    with pytest.raises(ValidationError, match="is not a record of this patient") as excinfo:
        verify(monitor, patient_a, vitals[0], other)
    assert _codes(excinfo) == {None: ["unknown_record"]}
    assert not SourceVerification.objects.exists()


def test_a_record_changed_since_the_page_showed_it_is_refused(planned, patient_a, vitals, monitor):
    shown = {entry.record.study_day: entry for entry in sdv.worksheet(patient_a)}
    VitalSigns.objects.filter(pk=vitals[1].pk).update(spo2_pct=95)  # a nurse saves while the monitor reads
    items = [("vital_signs", shown[day].record.pk, shown[day].sha256) for day in (0, 1)]
    with pytest.raises(ValidationError, match="Vital signs, day 1 changed since the page was shown") as excinfo:
        sdv.sdv_verify(user=monitor, patient=patient_a, items=items)
    assert _codes(excinfo) == {None: ["changed_since_shown"]}
    assert not SourceVerification.objects.exists()  # not even day 0
    keys = sdv.parse_keys([entry.key for entry in sdv.worksheet(patient_a)])
    assert sdv.sdv_verify(user=monitor, patient=patient_a, items=keys) == 2  # shown again: verified


def test_a_locked_study_refuses_verification(planned, patient_a, vitals, monitor, study):
    Study.objects.filter(pk=study.pk).update(is_locked=True)
    with pytest.raises(ValidationError, match="locked") as excinfo:
        verify(monitor, patient_a, vitals[0])
    assert _codes(excinfo) == {None: ["study_locked"]}
    assert not SourceVerification.objects.exists()


def test_a_heavier_plan_asks_again_a_lighter_one_keeps_the_marks(planned, patient_a, vitals, monitor, users):
    verify(monitor, patient_a, vitals[0])
    manager = users["data_manager"]
    sdv.plan_save(study=planned, levels={"vital_signs": "all"}, user=manager)
    assert states(patient_a)[("vital_signs", 0)] == "unverified"  # verified under the lighter plan
    verify(monitor, patient_a, vitals[0])
    assert mark_of(vitals[0]).fields == list(VITALS.fields)
    sdv.plan_save(study=planned, levels={"vital_signs": "critical"}, user=manager)
    assert states(patient_a)[("vital_signs", 0)] == "verified"  # all fields cover the critical ones
    assert sdv.unverified_records(planned) == (1, ["MI-0001"])  # day 1 only


# ------------------------------------------------------------------------------------------------ changed


def test_a_saved_change_of_a_critical_value_marks_it_changed_and_opens_a_query(
    planned, patient_a, vitals, monitor, users, save
):
    day0, _ = vitals
    verify(monitor, patient_a, day0)
    save(day0, users["nurse"], "chart says 95", spo2_pct=95)
    mark = mark_of(day0)
    assert mark.changed_at is not None and mark.changed_by == users["nurse"]
    assert mark.change_text == "Vital signs, day 0: SpO2 (%): 91 -> 95 (reason: chart says 95)"
    query = changed_query()
    assert (query.status, query.origin, query.form, query.study_day, query.record_id, query.field) == (
        QueryStatus.OPEN,
        QueryOrigin.RULE,
        "vital_signs",
        0,
        day0.pk,
        "",
    )
    assert query.patient == patient_a and query.opened_by is None
    assert "SpO2 (%): 91 -> 95" in query.text
    assert thread(query) == [MessageKind.OPENED]
    assert states(patient_a)[("vital_signs", 0)] == "changed"
    assert sdv.patient_states(patient_a) == {"unverified": 1, "verified": 0, "changed": 1}


def test_a_change_of_a_value_outside_the_verified_ones_leaves_the_mark(
    planned, patient_a, vitals, monitor, users, save
):
    day0, _ = vitals
    verify(monitor, patient_a, day0)
    save(day0, users["nurse"], "rechecked", temperature_c=Decimal("38.1"))
    assert not mark_of(day0).is_changed
    assert not Query.objects.filter(rule=SDV_CHANGED_RULE).exists()
    assert states(patient_a)[("vital_signs", 0)] == "verified"


def test_under_a_plan_of_all_fields_the_same_change_marks_it(study, patient_a, vitals, monitor, users, save):
    sdv.plan_save(study=study, levels={"vital_signs": "all"}, user=users["data_manager"])
    day0, _ = vitals
    verify(monitor, patient_a, day0)
    save(day0, users["nurse"], "rechecked", temperature_c=Decimal("38.1"))
    assert "temperature (°C): 37.2 -> 38.1 (reason: rechecked)" in mark_of(day0).change_text
    assert changed_query().status == QueryStatus.OPEN


def test_deleting_a_verified_record_marks_it_changed(planned, patient_a, drug, monitor, users, save):
    verify(monitor, patient_a, drug)
    save(drug, users["nurse"], "wrong patient", delete=True)
    mark = SourceVerification.objects.get(form="drug_administration")
    assert mark.is_changed and mark.changed_by == users["nurse"]
    assert mark.change_text == "Drug administration, day 0: Drug administration record deleted (reason: wrong patient)"
    query = changed_query()
    assert (query.form, query.study_day, query.status) == ("drug_administration", 0, QueryStatus.OPEN)


def test_verifying_again_clears_the_mark_and_closes_the_query_a_second_change_reopens_it(
    planned, patient_a, vitals, monitor, users, save
):
    day0, _ = vitals
    verify(monitor, patient_a, day0)
    save(day0, users["nurse"], "chart says 95", spo2_pct=95)
    verify(monitor, patient_a, day0)
    mark = mark_of(day0)
    assert (mark.changed_at, mark.changed_by, mark.change_text) == (None, None, "")
    assert mark.data_sha256 == sdv.values_sha256(VITALS, VitalSigns.objects.get(pk=day0.pk), CRITICAL_VITALS)
    query = changed_query()
    assert query.status == QueryStatus.CLOSED and query.closed_by is None and query.closed_at is not None
    assert thread(query) == [MessageKind.OPENED, MessageKind.CLOSED_BY_SYSTEM]
    assert "Verified again against source by Marta Verdi" in QueryMessage.objects.latest("pk").text
    assert states(patient_a)[("vital_signs", 0)] == "verified"

    day0.refresh_from_db()
    save(day0, users["nurse"], "typo", respiratory_rate_bpm=26)
    query = changed_query()  # the same query: one per rule, patient, day and form
    assert query.status == QueryStatus.OPEN and query.closed_at is None
    assert thread(query) == [
        MessageKind.OPENED,
        MessageKind.CLOSED_BY_SYSTEM,
        MessageKind.DATA_CHANGED,  # the change, in the thread of every query about the record
        MessageKind.REOPENED_BY_SYSTEM,
    ]
    assert mark_of(day0).change_text == "Vital signs, day 0: respiratory rate (/min): 28 -> 26 (reason: typo)"


def test_verifying_another_record_leaves_the_query_of_a_changed_one_open(
    planned, patient_a, vitals, drug, monitor, users, save
):
    verify(monitor, patient_a, drug)
    save(drug, users["nurse"], "started a day later", study_day=1)  # a critical value: the start day
    query = changed_query()
    assert (query.form, query.study_day, query.status) == ("drug_administration", 1, QueryStatus.OPEN)
    verify(monitor, patient_a, vitals[0])
    assert changed_query().status == QueryStatus.OPEN
    drug.refresh_from_db()
    verify(monitor, patient_a, drug)
    assert changed_query().status == QueryStatus.CLOSED


def test_the_rule_job_leaves_the_changed_query_open(planned, patient_a, vitals, monitor, users, save):
    day0, _ = vitals
    verify(monitor, patient_a, day0)
    save(day0, users["nurse"], "chart says 95", spo2_pct=95)
    rule_job.run_patient(patient_a.pk)
    query = changed_query()
    assert query.status == QueryStatus.OPEN and thread(query) == [MessageKind.OPENED]


def test_a_save_without_a_change_leaves_the_mark(planned, patient_a, vitals, monitor, users, save):
    day0, _ = vitals
    verify(monitor, patient_a, day0)
    save(day0, users["nurse"], "saved again")
    assert not mark_of(day0).is_changed and not Query.objects.filter(rule=SDV_CHANGED_RULE).exists()


# ------------------------------------------------------------------------------------------------ bulk


def test_bulk_verification_marks_every_record_not_verified(planned, patient_a, vitals, drug, monitor, users, save):
    verify(monitor, patient_a, vitals[0])
    save(vitals[0], users["nurse"], "chart", spo2_pct=96)  # changed since: verified again
    verify(monitor, patient_a, vitals[1])
    assert sdv.patients_verify(user=monitor, study=planned, patient_ids=[patient_a.pk]) == 2
    assert set(states(patient_a).values()) == {"verified"}
    assert SourceVerification.objects.count() == 3
    assert changed_query().status == QueryStatus.CLOSED


def test_bulk_verification_without_a_plan_is_refused(study, patient_a, vitals, monitor):
    with pytest.raises(ValidationError, match="The study's SDV plan verifies no form") as excinfo:
        sdv.patients_verify(user=monitor, study=study, patient_ids=[patient_a.pk])
    assert _codes(excinfo) == {None: ["no_plan"]}
    assert not SourceVerification.objects.exists()


def test_bulk_verification_of_a_patient_of_another_site_is_refused(planned, patient_a, patient_b, vitals, monitor):
    VitalSigns.objects.create(patient=patient_b, study_day=0, spo2_pct=90)
    with pytest.raises(PermissionDenied):
        sdv.patients_verify(user=monitor, study=planned, patient_ids=[patient_a.pk, patient_b.pk])
    assert not SourceVerification.objects.exists()


# ------------------------------------------------------------------------------------------------ progress


@pytest.mark.parametrize(
    ("records", "verified", "percent"),
    [(1093, 1092, 99.9), (1093, 2, 0.2), (100000, 1, 0.1), (100000, 99999, 99.9), (3, 3, 100), (3, 0, 0), (0, 0, 100)],
)
def test_the_percentage_verified_says_100_only_when_all_are_and_0_only_when_none_is(records, verified, percent):
    assert sdv.Progress("MI", records, verified).percent == percent


def test_progress_per_site_and_per_monitor(
    planned, patient_a, patient_b, vitals, drug, monitor, monitor_b, users, save, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        other = audited(VitalSigns(patient=patient_b, study_day=0, spo2_pct=90), users["nurse_b"])
        audited(LabResult(patient=patient_a, study_day=0, crp_mg_l="40.0"), users["nurse"])  # not planned
    verify(monitor, patient_a, vitals[0], drug)
    verify(monitor_b, patient_b, other)
    save(other, users["nurse_b"], "chart", spo2_pct=89)  # changed: no longer counted
    by_site, by_monitor = sdv.sdv_progress(planned, Patient.objects.filter(study=planned))
    assert by_site == [sdv.Progress("Bergamo", 1, 0), sdv.Progress("Milan San Raffaele", 3, 2)]
    assert [p.percent for p in by_site] == [0, 66.7]
    assert by_monitor == [sdv.Progress("Marta Verdi", 2, 2)]
    only_a, _ = sdv.sdv_progress(planned, Patient.objects.filter(site__code="MI"))
    assert only_a == [sdv.Progress("Milan San Raffaele", 3, 2)]
    assert sdv.unverified_records(planned) == (2, ["BG-0001", "MI-0001"])
    sdv.patients_verify(user=monitor, study=planned, patient_ids=[patient_a.pk])
    assert sdv.unverified_records(planned) == (1, ["BG-0001"])


def test_without_a_plan_nothing_is_left_to_verify(study, patient_a, vitals):
    assert sdv.unverified_records(study) == (0, [])
    assert sdv.sdv_progress(study, Patient.objects.all()) == ([], [])


# ------------------------------------------------------------------------------------------------ cost


def test_the_check_after_a_commit_without_marks_costs_one_query(
    planned, patient_a, patient_b, monitor, django_assert_num_queries
):
    for day in range(10):
        VitalSigns.objects.create(patient=patient_a, study_day=day, spo2_pct=90)
        VitalSigns.objects.create(patient=patient_b, study_day=day, spo2_pct=90)
        DrugAdministration.objects.create(
            patient=patient_a, study_day=day, drug="anakinra", dose=100, dose_unit="mg", route="sc", frequency="q6h"
        )
    rows = [("vital_signs", row) for row in VitalSigns.history.all()]
    rows += [("drug_administration", row) for row in DrugAdministration.history.all()]
    assert len(rows) == 30
    with django_assert_num_queries(1):
        assert sdv.changes_mark(rows) == 0
