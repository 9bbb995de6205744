"""The demo cohort of `make demo` (issue 7): seeded, written through the services, and carrying the Milan paper's
day-21 results (clinical definitions §4) when run through analysis.outcomes and analysis.tables."""

import dataclasses
import datetime
import io
from collections import Counter
from decimal import Decimal

import pandas as pd
import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import transaction

from analysis import datasets, survival
from analysis.tables import ordinal_table
from cleaning.models import Query
from cohorts import consort
from cohorts.models import ConsortCount, Patient, Screening, Study
from demo import accounts, milan_cohort, studies
from ecrf import derivations
from ecrf.crfs import crf_of
from ecrf.models import DerivedDay, DispositionEvent, DrugAdministration, LabResult, RespiratorySupport, VitalSigns
from ecrf.validators import PatientFacts, refusals

HIGH, STANDARD, LOW = "High-dose anakinra", "Standard treatment", "Low-dose anakinra"
# clinical definitions §4 reference figures at day 21 (tests/analysis/test_milan_reference.py), (high-dose, standard).
DAY_21 = {
    "discharged": (13, 7),
    "room_air": (3, 0),
    "low_flow": (3, 1),
    "hfnc_cpap_niv": (2, 0),
    "hfnc_cpap_niv_pf_gt_200": (2, 0),
    "hfnc_cpap_niv_pf_100_200": (0, 0),
    "hfnc_cpap_niv_pf_lt_100": (0, 0),
    "imv": (5, 1),
    "death": (3, 7),
}


# ----------------------------------------------------------------------------------------------- the plan (pure)


def test_the_plan_is_the_same_for_the_same_seed():
    assert dataclasses.asdict(milan_cohort.plan_cohort()) == dataclasses.asdict(milan_cohort.plan_cohort())
    assert dataclasses.asdict(milan_cohort.plan_cohort(1)) != dataclasses.asdict(milan_cohort.plan_cohort())


def test_the_plan_has_the_published_arms_and_death_days():
    plan = milan_cohort.plan_cohort()
    assert Counter(p.arm for p in plan.patients) == {"high_dose": 29, "standard": 16, "low_dose": 7}
    deaths = {
        arm: sorted(p.course.day for p in plan.patients if p.arm == arm and p.course.kind == "died")
        for arm in ("high_dose", "standard")
    }
    # the death days of tests/analysis/test_milan_reference.py: log-rank p 0.009
    assert deaths == {"high_dose": [3, 8, 13], "standard": [1, 3, 4, 8, 11, 18, 19]}
    assert Counter(p.site for p in plan.patients) == {"MI": 36, "BG": 16}


def test_every_planned_record_passes_the_checks_of_the_forms():
    """The plan goes through the services, which refuse anything the forms refuse: check it without a database."""
    plan = milan_cohort.plan_cohort()
    for patient in plan.patients:
        death = patient.course.day if patient.course.kind == "died" else None
        facts = PatientFacts(follow_up_days=21, death_day=death, weight_kg=patient.weight_kg)
        for day in patient.days:
            assert day.study_day <= 21 and (death is None or day.study_day < death)
            for model, values in ((VitalSigns, day.vitals), (LabResult, {**day.labs, "ast_uln_u_l": 40})):
                assert not crf_of(model).issues(values, facts), (patient.arm, day)
            if day.support:
                assert not crf_of(RespiratorySupport).issues(day.support, facts)
        for values, confirmed in patient.drugs:
            refused, _ = refusals(crf_of(DrugAdministration).issues(values, facts), confirmed)
            assert not refused, values
        for values in patient.dispositions:
            assert not crf_of(DispositionEvent).issues(values, facts), values


def test_day_0_p_f_is_within_the_milan_inclusion_criterion_and_fever_settles_faster_on_high_dose():
    plan = milan_cohort.plan_cohort()
    for patient in plan.patients:
        assert patient.screening["pao2_mmhg"] / patient.screening["fio2"] <= 200
        assert patient.screening["crp_mg_l"] >= 100

    def febrile_on_day_5(arm):
        return sum(
            1
            for p in plan.patients
            if p.arm == arm and p.course.kind == "discharged"
            for d in p.days
            if d.study_day == 5 and d.vitals["temperature_c"] >= Decimal("37.8")
        )

    assert febrile_on_day_5("high_dose") == 0 < febrile_on_day_5("standard")


# ------------------------------------------------------------------------------------------- loaded (database)


def derived_days(study: Study, frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The derived table as load_demo left it; computed here with ecrf.derivations when nothing stored it."""
    if DerivedDay.objects.filter(patient__study=study).exists():
        return frames["derived_days"]
    ids = {pid: number for number, pid in enumerate(frames["patients"]["participant_id"])}

    def keyed(name):
        frame = frames[name].copy()
        frame["patient_id"] = frame["participant_id"].map(ids)
        return frame

    grid = pd.DataFrame([(i, day) for i in ids.values() for day in range(22)], columns=["patient_id", "study_day"])
    derived = derivations.derive(
        grid,
        keyed("respiratory_support"),
        keyed("vital_signs"),
        keyed("laboratory"),
        keyed("disposition_events"),
    )
    derived.insert(0, "participant_id", derived.pop("patient_id").map({i: pid for pid, i in ids.items()}))
    return derived


@pytest.fixture(scope="module")
def demo_database(django_db_setup, django_db_blocker):
    """load_demo once for the module (about 10 s), inside a transaction rolled back after the module's tests; each
    test runs in a savepoint of it (pytest-django's db fixture), so a test's own writes are undone too."""
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
def loaded(demo_database, db):
    return Study.objects.get(code="milan-anakinra"), demo_database


def test_load_demo_enrols_the_cohort_through_screening_and_prints_the_logins(loaded):
    study, output = loaded
    patients = Patient.objects.filter(study=study)
    assert Counter(patients.values_list("arm__code", flat=True)) == {"high_dose": 29, "standard": 16, "low_dose": 7}
    assert Counter(patients.values_list("site__code", flat=True)) == {"MI": 36, "BG": 16}
    assert not patients.filter(screening__isnull=True).exists()  # every patient from an eligible screening
    assert "52 patients" in output and "nurse_bg" in output and accounts.DEMO_PASSWORD in output
    assert Counter(patients.values_list("status", flat=True)) == {"completed": 40, "died": 12}
    nurse = get_user_model().objects.get(username="nurse")
    assert nurse.get_full_name() == "Nina Nurse"
    assert len({u.get_full_name() for u in get_user_model().objects.all()}) == len(accounts.DEMO_PEOPLE)


def test_the_screening_log_has_ineligible_candidates_for_various_reasons(loaded):
    study, _ = loaded
    figures = consort.count_from_scratch(study)
    kept = ConsortCount.objects.filter(study=study, n__gt=0).values_list("site_id", "figure", "n")
    assert {(site, figure, n) for site, figure, n in kept} == {
        (site, figure, n) for site, by_figure in figures.items() for figure, n in by_figure.items()
    }  # the demo screens and enrols through the services, which keep the figures
    counts = consort.figures_shown(study, sum(figures.values(), Counter()))
    assert counts["screened"] == 65  # 66 screenings, one candidate re-screened counts once
    assert counts["enrolled"] == 52 and counts["ineligible"] == 13
    assert counts["ineligible_missing_only"] == 1
    failing = {reason["code"] for reason in counts["failing_reasons"]}
    assert {"pao2_fio2", "hyperinflammation", "icu_mechanical_ventilation", "age", "peep", "written_consent"} <= failing
    assert len(failing) >= 10
    rescreened = Screening.objects.get(study=study, rescreens__isnull=False)
    assert not rescreened.eligible and rescreened.rescreens.get().patient is not None


def test_every_record_is_audited_as_demo_data_and_a_second_run_changes_nothing(loaded):
    study, _ = loaded
    history = VitalSigns.history.filter(patient__study=study)
    assert history.count() == VitalSigns.objects.filter(patient__study=study).count() > 800
    assert set(history.values_list("history_change_reason", flat=True)) == {milan_cohort.REASON}
    assert set(history.values_list("history_user__username", flat=True)) == {"nurse", "nurse_bg"}
    day0 = LabResult.history.filter(patient__study=study, study_day=0)
    assert set(day0.values_list("history_change_reason", flat=True)) == {
        *(f"enrolment: from screening {s.number}" for s in Screening.objects.filter(study=study, eligible=True)),
        milan_cohort.REASON,
    }
    before = {model: model.history.count() for model in (VitalSigns, LabResult, DrugAdministration, Patient)}
    output = io.StringIO()
    call_command("load_demo", stdout=output)
    assert "already loaded" in output.getvalue()
    assert {model: model.history.count() for model in before} == before
    assert Patient.objects.filter(study=study).count() == 52


def test_the_drugs_follow_each_arms_regimen(loaded):
    study, _ = loaded
    anakinra = DrugAdministration.objects.filter(patient__study=study, drug="anakinra")
    high = anakinra.filter(patient__arm__code="high_dose")
    assert set(high.filter(study_day=0).values_list("dose", "dose_unit", "route", "frequency")) == {
        (Decimal("5.00"), "mg/kg", "iv", "bid")
    }
    tapers = high.filter(
        route="sc"
    )  # 100 mg SC for 3 days after sustained clinical benefit (clinical definitions §1.1)
    assert tapers.exists()
    assert all(t.confirmed_checks == ["dose.regimen", "route.regimen"] for t in tapers)
    assert not anakinra.filter(patient__arm__code="standard").exists()
    assert set(anakinra.filter(patient__arm__code="low_dose").values_list("dose", "route")) == {
        (Decimal("100.00"), "sc")
    }
    assert DrugAdministration.objects.filter(patient__study=study, drug="hydroxychloroquine").count() == 52


def test_load_demo_reproduces_the_day_21_reference_table_and_survival(loaded):
    study, _ = loaded
    frames = datasets.study_frames(study)
    frames["derived_days"] = derived_days(study, frames)
    results = datasets.compute_results(frames)
    outcomes = results.outcomes.rename(columns={"participant_id": "patient_id"})

    counts = ordinal_table(outcomes, 21).long.pivot_table(index="row", columns="arm", values="n", aggfunc="sum")
    for row, (high, standard) in DAY_21.items():
        assert (counts.loc[row, HIGH], counts.loc[row, STANDARD]) == (high, standard), row
    assert "unknown" not in counts.index
    low = counts[LOW]
    assert (low["discharged"], low["room_air"], low["imv"], low["death"]) == (3, 1, 1, 2)

    km = results.km_summary.query("endpoint == 'os'").set_index("arm_label")
    assert round(100 * km.loc[HIGH, "survival"]) == 90 and round(100 * km.loc[STANDARD, "survival"]) == 56
    two_arms = outcomes[outcomes["arm_label"].isin([HIGH, STANDARD])]
    assert survival.logrank(two_arms, "os_time", "os_event", "arm_label")["overall"]["p_value"] == pytest.approx(
        0.00898, abs=5e-6
    )
    day0 = ordinal_table(outcomes, 0).long.set_index(["row", "arm"])["n"]
    assert day0["hfnc_cpap_niv", HIGH] == 29 and day0["hfnc_cpap_niv_pf_gt_200", HIGH] == 0

    crp = results.trajectories.query("variable == 'crp_mg_l' and study_day == 7").set_index("arm_label")["median"]
    assert crp[HIGH] < crp[LOW] < crp[STANDARD]  # CRP falls faster on high-dose anakinra
    adverse = results.adverse_events.long.set_index(["row", "arm"])["n"]
    assert adverse["bacteraemia", HIGH] == 4 and adverse["liver_enzymes_gt_3uln", STANDARD] == 1
    derived = frames["derived_days"]
    assert derived["sustained_benefit"].fillna(False).astype(bool).any()
    assert derived["liver_enzymes_gt_3uln"].fillna(False).astype(bool).sum() >= 4


def test_the_demo_dates_are_in_the_past_and_day_0_follows_the_screening(loaded):
    study, _ = loaded
    for patient in Patient.objects.filter(study=study).select_related("screening"):
        assert patient.screening.assessed_at.date() <= patient.enrolment_date < datetime.date(2020, 5, 1)


def test_the_demo_cohort_exported_from_its_release_imports_into_an_empty_study_unchanged(
    loaded, settings, tmp_path, monkeypatch
):
    from tests.ecrf.test_import_roundtrip import assert_same_source_tables, export_and_reimport

    study, _ = loaded
    user = get_user_model().objects.get(username="data_manager")
    release = study.releases.get()  # v1, locked by load_demo
    copy, report = export_and_reimport(study, user, settings, tmp_path, monkeypatch, release=release)
    assert report.ok, [str(p) for p in report.problems[:10]]
    assert sum(f.created for f in report.files) == 52 + demo_cohort_records(study)
    assert_same_source_tables(study, copy)


def demo_cohort_records(study: Study) -> int:
    return sum(model.objects.filter(patient__study=study).count() for model in datasets.SOURCE_FORMS.values())


def test_the_demo_ward_has_the_monitors_queries_one_answered(loaded):
    _, output = loaded
    ward = Study.objects.get(code=studies.RECENT_STUDY)
    queries = Query.objects.filter(study=ward).order_by("pk")
    assert [(q.field, q.status, q.opened_by.username, q.assignee.username) for q in queries] == [
        ("heart_rate_bpm", "open", "monitor", "nurse"),
        ("spo2_pct", "answered", "monitor", "nurse"),
    ]
    assert "monitor asked 2 questions" in output
    call_command("load_demo", stdout=io.StringIO())
    assert Query.objects.filter(study=ward).count() == 2
