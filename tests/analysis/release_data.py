"""A small locked-release data set: two arms, four patients with daily forms, events and derived rows."""

import datetime

from django.core.cache import cache
from django.utils import timezone

from analysis import checklist, plots, releases
from ecrf.models import (
    AdverseEvent,
    DerivedDay,
    DispositionEvent,
    DrugAdministration,
    LabResult,
    RespiratorySupport,
    VitalSigns,
)
from tests import factories

NOW = datetime.datetime(2020, 4, 20, 12, tzinfo=datetime.UTC)


def derived(patient, day, state, ordinal, pf=None, **extra):
    return DerivedDay.objects.create(
        patient=patient,
        study_day=day,
        state=state,
        ordinal_7=ordinal,
        pf=pf,
        pf_source="measured" if pf is not None else "",
        algorithm_version="1.0.0",
        computed_at=extra.pop("computed_at", timezone.now()),
        **extra,
    )


def populate(study, site_a, site_b, arms, patient_a, patient_b):
    """patient_a (high dose, site A) and patient_b (standard, site B) plus two more; returns all four."""
    cache.clear()  # live results are cached per study for a minute; test databases reuse primary keys
    patient_c = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], participant_id="MI-0002", weight_kg=None, sex="F", diabetes=True
    )
    patient_d = factories.PatientFactory(study=study, site=site_b, arm=arms["high_dose"], participant_id="BG-0002")
    for patient in (patient_a, patient_b, patient_c, patient_d):
        for day in range(3):
            VitalSigns.objects.create(
                patient=patient, study_day=day, temperature_c="37.2", spo2_pct=92, heart_rate_bpm=None
            )
            RespiratorySupport.objects.create(
                patient=patient, study_day=day, support="cpap", fio2="0.50", peep_cmh2o="10.0"
            )
            LabResult.objects.create(
                patient=patient, study_day=day, crp_mg_l="150.0" if day == 0 else None, pao2_mmhg="70.0"
            )
            derived(patient, day, "hfnc_cpap_niv", 5, pf=140.0)
    VitalSigns.objects.filter(patient=patient_a, study_day=0).update(
        confirmed_checks=["temperature_c.soft_high", "heart_rate_bpm.soft_low"]
    )
    DrugAdministration.objects.create(
        patient=patient_a, study_day=0, drug="anakinra", dose="5.00", dose_unit="mg/kg", route="iv", frequency="bid"
    )
    DispositionEvent.objects.create(patient=patient_b, study_day=2, kind="death", cause_of_death="ARDS")
    for day in range(3, 22):
        derived(patient_b, day, "death", 7)
    DispositionEvent.objects.create(patient=patient_c, study_day=3, kind="discharged", normal_activities=True)
    derived(patient_c, 3, "discharged_normal", 1)
    AdverseEvent.objects.create(patient=patient_d, study_day=1, kind="bacteraemia", organism="E. coli", serious=True)
    return [patient_a, patient_b, patient_c, patient_d]


# --- set-up shared by the release, export, lock and page tests ----------------------------------------------------


def use_release_root(settings, tmp_path):
    settings.RELEASES_ROOT = tmp_path / "releases"
    return settings.RELEASES_ROOT


def quick_figures(monkeypatch):
    """Stand-in figures: rendering eight matplotlib figures costs seconds per lock and is tested in test_plots."""

    def stub(*args, **kwargs):
        fmt = kwargs.get("fmt") or next((a for a in args if isinstance(a, str) and a in plots.FORMATS), "png")
        return f"figure stand-in ({fmt})".encode()

    monkeypatch.setattr(plots, "plot_km", stub)
    monkeypatch.setattr(plots, "plot_trajectories", stub)


#: Every item of the lock's checklist overridden: the tests of the release files lock studies as they are (the
#: checklist itself is tested in tests/analysis/test_lock_checklist.py).
AS_THEY_ARE = dict.fromkeys(checklist.KEYS, "test data: locked as they are")


def lock(study, user, reason="database lock for the day-21 analysis"):
    return releases.release_lock(study=study, user=user, reason=reason, overrides=AS_THEY_ARE)


def sent_jobs(monkeypatch, task_name: str) -> list[int]:
    """The job ids the services send to ``task_name`` (the test runs them itself, as the worker would)."""
    from config.celery import app

    sent = []
    send_task = app.send_task

    def capture(name, args=None, **options):
        if name != task_name:
            return send_task(name, args=args, **options)
        (job_id,) = args
        sent.append(job_id)

    monkeypatch.setattr(app, "send_task", capture)
    return sent
