"""The demo ward of `make demo` (issue 13): patients enrolled in the last days, so that a nurse who logs in for the
first time finds today's forms due, in a study of their own beside the Milan study."""

import datetime
import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from cohorts import roles
from cohorts import selectors as cohort_selectors
from cohorts.models import Patient, Screening, Study
from demo import accounts, milan_cohort, recent_cohort, studies
from ecrf import selectors
from ecrf.crfs import crf_of
from ecrf.models import DispositionEvent, DrugAdministration, LabResult, RespiratorySupport, VitalSigns
from ecrf.validators import ENDS_DAILY_FORMS, PatientFacts, refusals

TODAY = datetime.date(2026, 3, 10)
FORMS = ("vitals", "support", "labs")


# ----------------------------------------------------------------------------------------------- the plan (pure)


def test_the_recent_patients_are_enrolled_in_the_last_days_and_nothing_is_recorded_from_today():
    plans = recent_cohort.plan_recent(TODAY)
    assert len(plans) == 7
    assert {(TODAY - p.enrolment_date).days for p in plans} == {0, 1, 2, 3, 4, 5}
    for plan in plans:
        today_day = (TODAY - plan.enrolment_date).days
        assert all(day.study_day < today_day for day in plan.days)
        assert all(values["study_day"] < today_day for values, _ in plan.drugs)
        assert all(e["study_day"] < today_day for e in [*plan.adverse_events, *plan.dispositions])
        # a drug still given today has no stop day yet
        assert all(values["stop_day"] is None or values["stop_day"] < today_day for values, _ in plan.drugs)
        assert not {e["kind"] for e in plan.dispositions} & ENDS_DAILY_FORMS  # all still in hospital
    enrolled_today = next(p for p in plans if p.enrolment_date == TODAY)
    assert enrolled_today.days == [] and enrolled_today.drugs == []  # day 0 comes from the screening only


def test_every_planned_recent_record_passes_the_checks_of_the_forms():
    for plan in recent_cohort.plan_recent(TODAY):
        facts = PatientFacts(follow_up_days=21, death_day=None, weight_kg=plan.weight_kg)
        for day in plan.days:
            for model, values in ((VitalSigns, day.vitals), (LabResult, {**day.labs, "ast_uln_u_l": 40})):
                if values:
                    assert not crf_of(model).issues(values, facts), (plan.arm, day)
            if day.support:
                assert not crf_of(RespiratorySupport).issues(day.support, facts)
        for values, confirmed in plan.drugs:
            refused, _ = refusals(crf_of(DrugAdministration).issues(values, facts), confirmed)
            assert not refused, values
        for values in plan.dispositions:
            assert not crf_of(DispositionEvent).issues(values, facts), values


def test_the_recent_patients_differ_from_the_milan_patients():
    milan = {tuple(sorted(p.screening.items())) for p in milan_cohort.plan_cohort().patients}
    assert not milan & {tuple(sorted(p.screening.items())) for p in recent_cohort.plan_recent(TODAY)}


# ------------------------------------------------------------------------------------------- loaded (database)


@pytest.fixture(scope="module")
def demo_database(django_db_setup, django_db_blocker):
    """load_demo once for the module, rolled back after it (as in test_milan_cohort.py)."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        outer.__enter__()
        try:
            output = io.StringIO()
            call_command("load_demo", stdout=output)
            yield output.getvalue()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def ward(demo_database, db):
    return Study.objects.get(code=studies.RECENT_STUDY)


def user(username):
    return get_user_model().objects.get(username=username)


def test_after_load_demo_the_nurse_has_todays_forms_due_in_the_demo_ward(ward, demo_database, client):
    assert "Demo ward: 7 patients" in demo_database
    nurse = user("nurse")
    assert set(cohort_selectors.study_list(user=nurse).values_list("code", flat=True)) == {
        studies.MILAN_STUDY,
        studies.RECENT_STUDY,
        studies.NEW_YORK_STUDY,  # at the site NY (tests/demo/test_new_york_cohort.py)
    }
    rows = list(selectors.patient_list(user=nurse, study=ward))  # what the patient list shows
    assert {p.site.code for p in rows} == {"MI"} and len(rows) == 5
    assert all(p.today_day is not None and 0 <= p.today_day <= 5 for p in rows)
    assert all(p.missing_today > 0 for p in rows)
    # enrolled today: day 0's support and labs come from the screening, the vital signs are due
    assert sorted(p.missing_today for p in rows) == [1, 3, 3, 3, 3]

    client.force_login(nurse)
    page = client.get(f"/studies/{ward.code}/patients/").content.decode()
    assert "3 missing: enter day 5" in page and "1 missing: enter day 0" in page
    assert "after follow-up" not in page

    bergamo = list(selectors.patient_list(user=user("nurse_bg"), study=ward))
    assert len(bergamo) == 2 and all(p.missing_today == 3 for p in bergamo)


def test_the_past_days_are_documented_by_the_site_nurses_but_one_missing_laboratory_form(ward):
    today = timezone.localdate()
    for patient in Patient.objects.filter(study=ward):
        book = selectors.casebook_get(
            user=user("investigator" if patient.site.code == "MI" else "investigator_bg"), patient_pk=patient.pk
        )
        today_day = (today - patient.enrolment_date).days
        states = {(day.study_day, key): cell.state for day in book.days for key, cell in day.forms.items()}
        missing = {day_form for day_form, state in states.items() if state == "missing"}
        past_missing = {(day, key) for day, key in missing if day < today_day}
        if today_day == 3:
            assert past_missing == {(2, "laboratory")}, patient  # yesterday's laboratory form left to catch up
        else:
            assert not past_missing, patient
        # nothing on today's page or later, but day 0's support and labs from the screening (enrolled today)
        entered = {day_form for day_form, state in states.items() if state == "entered"}
        assert {(day, key) for day, key in entered if day >= today_day} <= {
            (0, "respiratory_support"),
            (0, "laboratory"),
        }, patient
        assert patient.status == "active"
    history = VitalSigns.history.filter(patient__study=ward)
    assert set(history.values_list("history_user__username", flat=True)) == {"nurse", "nurse_bg"}
    assert set(history.values_list("history_change_reason", flat=True)) == {milan_cohort.REASON}
    # every patient from an eligible screening of its day 0
    for patient in Patient.objects.filter(study=ward).select_related("screening"):
        assert patient.screening.eligible
        assert timezone.localdate(patient.screening.assessed_at) == patient.enrolment_date
    intubated = DispositionEvent.objects.filter(patient__study=ward, kind="imv_started").get()
    assert intubated.study_day == 3 and intubated.patient.site.code == "BG"
    assert RespiratorySupport.objects.filter(patient=intubated.patient, support="imv").count() == 2  # days 3, 4


def test_after_load_demo_the_statistician_finds_the_milan_study_released(demo_database, db, client):
    """The statistician sees locked releases only: the demo locks the Milan study as release v1 (its unsigned
    casebooks carried with a reason), so that its analysis page and downloads show the 2020 cohort at once."""
    milan = Study.objects.get(code=studies.MILAN_STUDY)
    release = milan.releases.get()
    assert milan.is_locked and release.version == 1 and release.locked_by.username == "data_manager"
    assert "Release of 'milan-anakinra': locked as v1" in demo_database
    client.force_login(user("statistician"))
    page = client.get(f"/studies/{milan.code}/analysis/").content.decode()
    assert "No locked release" not in page and "v1" in page
    assert "High-dose anakinra" in page  # the arm-level results of the release
    manifest = release.manifest
    unsigned = next(item for item in manifest["checklist"] if item["item"] == "unsigned_casebooks")
    assert unsigned["count"] > 0 and unsigned["override_reason"] == studies.RELEASE_OVERRIDE
    # The other demo studies stay open for data entry and for trying the lock.
    assert not Study.objects.filter(code__in=[studies.RECENT_STUDY, studies.NEW_YORK_STUDY], is_locked=True).exists()


def test_a_rerun_today_or_on_a_later_day_adds_nothing(ward):
    models = (Patient, Screening, VitalSigns, RespiratorySupport, LabResult, DrugAdministration, DispositionEvent)
    before = {model: model.history.count() for model in models}
    output = io.StringIO()
    call_command("load_demo", stdout=output)
    assert "Demo ward already loaded: nothing added." in output.getvalue()
    tomorrow = timezone.localdate() + datetime.timedelta(days=1)
    staff = {"investigators": accounts.staff_by_site(roles.INVESTIGATOR), "nurses": accounts.staff_by_site(roles.NURSE)}
    assert not recent_cohort.load_recent(ward, today=tomorrow, **staff).loaded
    assert {model: model.history.count() for model in models} == before
    assert Patient.objects.filter(study=ward).count() == 7
    assert "Release of 'milan-anakinra': left as it is (locked or released before)." in output.getvalue()
    assert Study.objects.get(code=studies.MILAN_STUDY).releases.count() == 1
