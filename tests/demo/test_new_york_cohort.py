"""The New York demo study of `make demo` (issue 17): the case series of Navarro-Millan et al. (Arthritis Rheumatol
2020;72:1990-1997), entered through the services in New York time, whose derived patient courses (clinical
definitions §3.4) tell the paper's story: anakinra within 36 h of the oxygen criterion and no ventilator; 4 days or
later and all intubated, for 7 to 19 days."""

import dataclasses
import datetime
import io
import itertools
import tomllib
from collections import Counter
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from cleaning import rule_job
from cleaning.models import Query
from cohorts import consort, roles
from cohorts import selectors as cohort_selectors
from cohorts.models import ConsortCount, Patient, Screening, Site, Study
from demo import accounts, milan_cohort, new_york_cohort, studies
from ecrf import derivation_job
from ecrf.crfs import crf_of
from ecrf.models import (
    DerivedCourse,
    DispositionEvent,
    DrugAdministration,
    LabResult,
    RespiratorySupport,
    VentilationEpisode,
    VitalSigns,
)
from ecrf.validators import PatientFacts, refusals

NEW_YORK = ZoneInfo("America/New_York")
DOCS = Path(__file__).resolve().parents[2] / "docs"
GROUPS = {"early": 7, "intermediate": 2, "late": 4, "not_treated": 2}
TAPER = ["q6h", "q8h", "bid", "q24h"]


# ----------------------------------------------------------------------------------------------- the plan (pure)


def test_the_plan_is_the_same_for_the_same_seed():
    assert dataclasses.asdict(new_york_cohort.plan_series()) == dataclasses.asdict(new_york_cohort.plan_series())


def test_the_groups_follow_the_hours_from_the_oxygen_criterion_to_the_first_dose():
    cases = new_york_cohort.CASES
    assert Counter(case.group for case in cases) == GROUPS
    for case in cases:
        hours = new_york_cohort.hours_to_first_dose(case)
        assert hours > 0
        if case.group == "early":
            assert hours <= 36 and not case.episodes and case.discharge, case
        elif case.group == "late":
            assert hours >= 96 and case.episodes and case.icu_discharge, case
        elif case.group == "intermediate":
            assert 36 < hours < 96, case
        else:
            assert case.tocilizumab_mg and not case.taper, case


def test_anakinra_is_tapered_in_successive_rows_for_at_most_20_days():
    for plan in new_york_cohort.plan_series().patients:
        anakinra = [values for values in plan.drugs if values["drug"] == "anakinra"]
        if plan.case.group == "not_treated":
            assert not anakinra and [values["drug"] for values in plan.drugs] == ["tocilizumab"]
            continue
        assert [values["frequency"] for values in anakinra] == TAPER
        assert anakinra[0]["study_day"] == 0
        for before, after in itertools.pairwise(anakinra):
            assert after["study_day"] == before["stop_day"] + 1
            assert after["started_at"] > (before["stopped_at"] or before["started_at"])
        assert anakinra[-1]["stop_day"] - anakinra[0]["study_day"] + 1 <= 20
        assert anakinra[-1]["stop_day"] < plan.last_day  # given in hospital, stopped before the discharge


def test_every_planned_record_passes_the_checks_of_the_forms():
    """The plan goes through the services, which refuse anything the forms refuse: check it without a database,
    with the site's time zone (a time on its record's study day, not in the future)."""
    now = timezone.now()
    for plan in new_york_cohort.plan_series().patients:
        facts = PatientFacts(
            follow_up_days=28,
            weight_kg=plan.case.weight_kg,
            enrolment_date=plan.case.enrolled,
            zone=NEW_YORK,
            now=now,
            regimen=tuple(studies.NEW_YORK_ARM["regimen"]),
        )
        for day in plan.days:
            assert day.study_day <= 28
            for model, values in ((VitalSigns, day.vitals), (LabResult, day.labs), (RespiratorySupport, day.support)):
                if values:
                    assert not crf_of(model).issues(values, facts), (plan.case, day)
        for model, rows in (
            (DrugAdministration, plan.drugs),
            (VentilationEpisode, plan.episodes),
            (DispositionEvent, plan.dispositions),
        ):
            for values in rows:
                refused, _ = refusals(crf_of(model).issues(values, facts), frozenset())
                assert not refused, values


def test_the_days_on_the_ventilator_are_the_episodes_days():
    for plan in new_york_cohort.plan_series().patients:
        imv = {day.study_day for day in plan.days if day.support.get("support") == "imv"}
        episodes = plan.case.episodes
        if not episodes:
            assert not imv
            continue
        assert imv == set(range(episodes[0][0][0], episodes[-1][1][0] + 1))
        # the day's blood gas on the ventilator, on the FiO2 set on it
        gases = {day.study_day: day for day in plan.days if "pao2_mmhg" in day.labs}
        assert set(gases) == imv
        assert all(day.labs["abg_fio2"] == day.support["fio2"] for day in gases.values())


def test_the_demo_study_is_the_example_file_with_its_28_day_follow_up():
    example = tomllib.loads((DOCS / "study-new-york.toml").read_text())
    assert example["code"] == studies.NEW_YORK_STUDY
    assert example["protocol"] == "new_york_2020" and example["follow_up_days"] == studies.NEW_YORK_FOLLOW_UP_DAYS
    assert example["sites"] == [studies.NEW_YORK_SITE]
    (arm,) = example["arms"]
    arm["regimen_description"] = arm.pop("description")
    assert arm == studies.NEW_YORK_ARM


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
def series(demo_database, db):
    return Study.objects.get(code=studies.NEW_YORK_STUDY)


def courses(study: Study) -> dict[str, list[DerivedCourse]]:
    """The derived courses of the study's patients by timing group, after a derivation run."""
    derivation_job.derive_study(study)
    by_group: dict[str, list[DerivedCourse]] = {}
    for course in DerivedCourse.objects.filter(patient__study=study).select_related("patient"):
        by_group.setdefault(course.timing_group, []).append(course)
    return by_group


def test_load_demo_sets_up_the_new_york_study_at_its_own_site(series, demo_database):
    assert (series.protocol, series.follow_up_days, series.primary_scale) == ("new_york_2020", 28, "milan_7")
    assert list(series.arms.values_list("code", "regimen")) == [("anakinra", studies.NEW_YORK_ARM["regimen"])]
    site = Site.objects.get(code="NY")
    assert (site.name, site.time_zone) == ("New York (case-series site)", "America/New_York")
    assert list(series.sites.all()) == [site]
    assert series.title == tomllib.loads((DOCS / "study-new-york.toml").read_text())["title"]
    assert (
        "New York case series: 15 patients (anakinra within 36 h 7, 36-96 h 2, 96 h or later 4; tocilizumab instead "
        "2), 6 intubated, 17 screenings" in demo_database
    )
    assert "'new-york-anakinra' ready" in demo_database
    assert "Study nurse (MI, NY; 3 demo studies)" in demo_database


def test_the_demo_people_see_the_new_york_study_at_site_ny(series, client):
    users = get_user_model().objects
    for username in ("nurse", "investigator", "monitor", "data_manager", "statistician"):
        user = users.get(username=username)
        assert studies.NEW_YORK_STUDY in cohort_selectors.study_list(user=user).values_list("code", flat=True)
        allowed = roles.ANALYSIS_READERS if username == "statistician" else roles.PATIENT_READERS
        sites = cohort_selectors.study_site_list(user=user, study=series, allowed=allowed)
        assert [site.code for site in sites] == ["NY"], username
        if username != "statistician":  # the statistician reads the analysis, not the casebooks
            assert cohort_selectors.patient_list(user=user, study=series).count() == 15, username
    for username in ("nurse_bg", "investigator_bg"):
        assert not cohort_selectors.study_list(user=users.get(username=username)).filter(pk=series.pk).exists()
    client.force_login(users.get(username="nurse"))
    assert client.get(f"/studies/{series.code}/patients/").status_code == 200


def test_every_patient_is_screened_with_the_new_york_screening_and_the_onset_is_the_oxygen_criterion(series):
    patients = Patient.objects.filter(study=series).select_related("screening")
    assert patients.count() == 15 and set(patients.values_list("status", flat=True)) == {"completed"}
    for patient in patients:
        screening = patient.screening
        assert screening.eligible and screening.site.code == "NY"
        assert patient.oxygen_criterion_at == datetime.datetime.fromisoformat(
            screening.values["respiratory_failure_onset"]
        )
        assert patient.oxygen_criterion_at < screening.assessed_at
        assert screening.assessed_at.astimezone(NEW_YORK).date() == patient.enrolment_date
        assert datetime.date(2020, 3, 1) < patient.enrolment_date < datetime.date(2020, 5, 1)
    kept = Counter()
    for figure, n in ConsortCount.objects.filter(study=series).values_list("figure", "n"):
        kept[figure] += n  # the demo screens and enrols through the services, which keep the figures
    assert +kept == sum(consort.count_from_scratch(series).values(), Counter())
    counts = consort.figures_shown(series, kept)
    assert (counts["screened"], counts["enrolled"], counts["ineligible"]) == (17, 15, 2)
    failing = {reason["code"] for reason in counts["failing_reasons"]}
    assert failing == {"not_on_invasive_ventilation", "suspected_bacterial_infection"}


def test_the_derived_courses_tell_the_papers_story(series):
    by_group = courses(series)
    assert {group: len(rows) for group, rows in by_group.items()} == GROUPS
    assert all(c.timing_basis == "time" for group in ("early", "intermediate", "late") for c in by_group[group])

    # anakinra within 36 h: no ventilator, weaned to <= 2 L/min or room air, discharged home
    for course in by_group["early"]:
        assert course.hours_to_anakinra <= 36
        assert (course.imv_episodes, course.ny_response, course.ny_failure) == (0, True, False)
        assert (course.discharged, course.died, course.ventilator_free_days) == (True, False, 28.0)
    # anakinra 4 days or more after the criterion: every patient intubated
    late = by_group["late"]
    assert all(c.hours_to_anakinra >= 96 and c.imv_episodes >= 1 and c.ny_failure for c in late)
    intubated = [c for rows in by_group.values() for c in rows if c.imv_episodes]
    assert len(intubated) == 6
    # invasive ventilation for 7 to 19 days, from the recorded times; all extubated in the end
    assert all(7 <= c.imv_days <= 19 and c.imv_days_basis == "time" for c in intubated)
    assert min(c.imv_days for c in late) == pytest.approx(7.06, abs=0.01)
    assert max(c.imv_days for c in late) == pytest.approx(18.83, abs=0.01)
    assert all(c.extubated and not c.imv_ongoing for c in intubated)
    # exactly one failed extubation: a patient re-intubated the next day and then extubated for good
    (failed,) = [c for c in intubated if c.failed_extubations]
    assert (failed.failed_extubations, failed.imv_episodes, failed.timing_group) == (1, 2, "late")
    episodes = list(VentilationEpisode.objects.filter(patient=failed.patient).order_by("study_day"))
    assert episodes[1].study_day == episodes[0].end_day + 1
    # three late patients discharged, one still in hospital on day 28, nobody died
    assert sorted(c.discharged for c in late) == [False, True, True, True]
    assert not any(c.died for rows in by_group.values() for c in rows)
    for course in intubated:  # ventilator-free and ICU-free days to day 28
        assert 0 < course.ventilator_free_days < 28 and course.icu_free_days < course.ventilator_free_days


def test_the_patients_not_given_anakinra_got_tocilizumab(series):
    untreated = [course.patient for course in courses(series)["not_treated"]]
    assert len(untreated) == 2
    for patient in untreated:
        drugs = DrugAdministration.objects.filter(patient=patient)
        assert list(drugs.values_list("drug", "route", "frequency")) == [("tocilizumab", "iv", "once")]
    treated = DrugAdministration.objects.filter(patient__study=series, drug="anakinra")
    assert set(treated.values_list("dose", "dose_unit", "route")) == {(100, "mg", "sc")}
    assert treated.values("patient").distinct().count() == 13


def test_the_site_zone_is_new_york_and_a_dose_time_shows_at_its_local_clock_time(series, client):
    patient = Patient.objects.get(study=series, participant_id="NY-0001")  # the first enrolled: 22 March 2020
    first = DrugAdministration.objects.get(patient=patient, study_day=0, drug="anakinra")
    # 10:00 in New York is 14:00 UTC (daylight time since 8 March 2020), whatever the server's zone (Rome)
    assert first.started_at == datetime.datetime(2020, 3, 22, 14, 0, tzinfo=datetime.UTC)
    assert first.started_at.astimezone(NEW_YORK).strftime("%H:%M") == "10:00"
    client.force_login(get_user_model().objects.get(username="nurse"))
    page = client.get(f"/patients/{patient.pk}/drugs/{first.pk}/").content.decode()
    assert 'value="2020-03-22T10:00"' in page and "America/New_York" in page
    casebook = client.get(f"/patients/{patient.pk}/").content.decode()
    assert "21 Mar 2020 21:30" in casebook  # the oxygen criterion, the evening before day 0


def test_the_intubated_patients_have_their_icu_stay_and_discharge_times(series):
    for episode in VentilationEpisode.objects.filter(patient__study=series):
        events = DispositionEvent.objects.filter(patient=episode.patient)
        assert events.filter(kind="imv_started", occurred_at=episode.intubated_at).exists()
        assert episode.end_reason == "extubated" and episode.ended_at > episode.intubated_at
    intubated = VentilationEpisode.objects.filter(patient__study=series).values("patient")
    for patient in Patient.objects.filter(pk__in=intubated):
        kinds = dict(DispositionEvent.objects.filter(patient=patient).values_list("kind", "occurred_at"))
        assert kinds["icu_admission"] < kinds["imv_started"] < kinds["icu_discharge"]
        assert "discharged" not in kinds or kinds["icu_discharge"] < kinds["discharged"]
        assert RespiratorySupport.objects.filter(patient=patient, support="imv").exclude(peep_cmh2o=None).exists()
    assert not DispositionEvent.objects.filter(patient__study=series, occurred_at=None).exists()


def test_every_record_is_the_nurses_and_the_nightly_rules_find_nothing_to_query(series):
    for model in (VitalSigns, RespiratorySupport, LabResult, DrugAdministration, VentilationEpisode, DispositionEvent):
        # day 0's oxygen and laboratory values come from the screening, entered by the investigator
        history = model.history.filter(patient__study=series).exclude(history_change_reason__startswith="enrolment")
        assert history.exists()
        assert set(history.values_list("history_user__username", flat=True)) == {"nurse"}, model
        assert set(history.values_list("history_change_reason", flat=True)) == {milan_cohort.REASON}, model
    summary = rule_job.run_study(series)
    assert (summary.patients, summary.hits) == (15, 0)
    assert list(Query.objects.filter(study=series).values_list("rule", "field", "study_day")) == []


def test_a_second_load_adds_nothing(series):
    models = (Patient, Screening, VitalSigns, RespiratorySupport, DrugAdministration, VentilationEpisode)
    before = {model: model.history.count() for model in (*models, DispositionEvent)}
    output = io.StringIO()
    call_command("load_demo", stdout=output)
    assert "New York case series already loaded: nothing added." in output.getvalue()
    assert {model: model.history.count() for model in before} == before
    assert Patient.objects.filter(study=series).count() == 15


def test_a_new_york_study_set_up_by_hand_with_a_21_day_follow_up_is_left_alone(series):
    """On a demo database where the data manager guide's example file was run first (the same code, a 21-day
    follow-up), the demo does not fill that study: its days 22 to 28 would be refused."""
    by_hand = Study.objects.create(
        code="new-york-by-hand", title="New York by hand", protocol="new_york_2020", follow_up_days=21
    )
    Site.objects.get(code="NY").studies.add(by_hand)
    staff = {"investigators": accounts.staff_by_site(roles.INVESTIGATOR), "nurses": accounts.staff_by_site(roles.NURSE)}
    summary = new_york_cohort.load_series(by_hand, **staff)
    assert (summary.loaded, summary.note) == (
        False,
        "its follow-up is 21 days, the demo's patients are followed for 28",
    )
    assert not Patient.objects.filter(study=by_hand).exists()
