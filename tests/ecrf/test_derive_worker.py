"""Triggers of the derivation: coalesced on-commit enqueues, the derive command, the nightly schedule, a real worker."""

import time
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import CommandError, call_command
from django.db import OperationalError, transaction

from cohorts import on_commit
from cohorts.services import study_set_locked
from config.celery import app
from ecrf import services, signals, tasks
from ecrf.models import DerivedDay, DispositionEvent
from ecrf.services import RecordInput
from tests import factories


@pytest.fixture
def enqueued(monkeypatch, patient_a, patient_b):
    """The ids passed to derive_patient.delay. The fixtures' own saves happened in the test's transaction: their
    pending callback is dropped, as if they had been committed by an earlier request."""
    transaction.get_connection().run_on_commit.clear()
    calls = []
    monkeypatch.setattr(tasks.derive_patient, "delay", lambda patient_id: calls.append(patient_id))
    return calls


def save_vitals(patient, user, day, spo2=95):
    services.day_record_save(
        form="vital_signs", patient=patient, study_day=day, entry=RecordInput({"spo2_pct": spo2}), user=user
    )


def test_a_burst_of_saves_in_one_transaction_enqueues_one_job(
    patient_a, users, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, transaction.atomic():
        for day in range(5):
            save_vitals(patient_a, users["nurse"], day)
    # One derivation callback (the cleaning app adds its own, for the queries about the changed records).
    assert [type(c).__name__ for c in callbacks].count("_EnqueueOnCommit") == 1
    assert enqueued == [patient_a.pk]


def test_one_job_per_patient_changed(patient_a, patient_b, users, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        save_vitals(patient_a, users["nurse"], 0)
        save_vitals(patient_b, users["data_manager"], 0)
        services.day_record_save(
            form="laboratory",
            patient=patient_a,
            study_day=0,
            entry=RecordInput({"crp_mg_l": Decimal(150)}),
            user=users["nurse"],
        )
    assert sorted(enqueued) == sorted([patient_a.pk, patient_b.pk])


def test_each_source_and_a_delete_trigger(patient_a, users, enqueued, django_capture_on_commit_callbacks):
    nurse = users["nurse"]
    saves = [
        lambda: services.day_record_save(
            form="respiratory_support",
            patient=patient_a,
            study_day=0,
            entry=RecordInput({"support": "room_air"}),
            user=nurse,
        ),
        lambda: services.event_save(
            form="disposition_events",
            patient=patient_a,
            entry=RecordInput({"study_day": 3, "kind": "discharged", "normal_activities": True}),
            user=nurse,
        ),
        lambda: services.record_delete(
            record=DispositionEvent.objects.get(), expected_version=1, user=nurse, reason="wrong day"
        ),
    ]
    for save in saves:  # three requests, three transactions
        with django_capture_on_commit_callbacks(execute=True):
            save()
        transaction.get_connection().run_on_commit.clear()
    assert enqueued == [patient_a.pk] * 3


def test_a_rolled_back_savepoint_keeps_the_outer_changes(
    patient_a, patient_b, users, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        try:
            with transaction.atomic():
                save_vitals(patient_b, users["data_manager"], 0)
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
        save_vitals(patient_a, users["nurse"], 0)
    assert enqueued == [patient_a.pk]


def test_a_refused_save_enqueues_nothing(patient_a, users, enqueued, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True) as callbacks, pytest.raises(Exception):  # noqa: B017
        save_vitals(patient_a, users["nurse"], 0, spo2=20)  # below the hard limit
    assert callbacks == [] and enqueued == []


def test_enrolment_of_a_patient_enqueues_it(enqueued, study, site_a, arms, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        patient = factories.PatientFactory(study=study, site=site_a, arm=arms["standard"])
    assert enqueued == [patient.pk]


def test_derive_command(patient_a, patient_b, users):
    out = _call("derive")
    assert "Derived 44 patient-days of 2 patients in 1 study" in out and "44 rows rewritten, 0 unchanged" in out
    out = _call("derive", "--patient", "MI-0001")
    assert "Derived 22 patient-days of 1 patient in" in out and "0 rows rewritten, 22 unchanged" in out
    assert "22 rows rewritten, 0 unchanged" in _call("derive", "--patient", "MI-0001", "--force")
    out = _call("derive", "--study", patient_a.study.code, "--patient", str(patient_b.pk))
    assert "22 patient-days" in out
    with pytest.raises(CommandError, match="Unknown study 'nope'"):
        _call("derive", "--study", "nope")
    with pytest.raises(CommandError, match="Unknown patient 'XX-9'"):
        _call("derive", "--patient", "XX-9")
    study_set_locked(study=patient_a.study, locked=True, user=users["data_manager"], reason="release 1")
    assert f"Skipped study {patient_a.study.code}: locked" in _call("derive")
    with pytest.raises(CommandError, match="is locked"):
        _call("derive", "--patient", "MI-0001")


def _call(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


# serialized_rollback like every transactional test: its flush then leaves no content types behind for the
# next serialized test to collide with, whatever the order the tests run in.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_nightly_schedule_is_installed_by_the_database_scheduler():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    DatabaseScheduler(app=app)  # what `celery beat` does at start-up
    task = PeriodicTask.objects.get(name="derive-all-studies-nightly")
    assert task.task == "ecrf.derive_all_studies" and task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("2", "30")
    assert "ecrf.derive_all_studies" in app.tasks


def test_tasks_are_thin_and_idempotent(patient_a):
    first = tasks.derive_patient.apply(args=[patient_a.pk]).get()
    assert (first["rows"], first["written"]) == (22, 22)
    # The rerun derives the same rows again and finds nothing to rewrite.
    assert tasks.derive_patient.apply(args=[patient_a.pk]).get() == {**first, "written": 0}
    assert tasks.derive_study.apply(args=[patient_a.study_id]).get()["patients"] == 1
    assert tasks.derive_all_studies.apply().get()["studies"] >= 1
    options = tasks.derive_patient
    assert options.acks_late and options.soft_time_limit and options.time_limit and options.max_retries


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_updates_the_derived_row_after_a_save(settings):
    assert signals  # the receivers are connected by EcrfConfig.ready
    patient = factories.PatientFactory(participant_id="MI-0042")
    nurse = factories.UserFactory(username="worker-nurse")
    app.control.purge()  # the patient's own job (enqueued at its creation) would race with the save on SQLite
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        services.day_record_save(
            form="respiratory_support",
            patient=patient,
            study_day=2,
            entry=RecordInput({"support": "cpap", "fio2": Decimal("0.50"), "peep_cmh2o": Decimal(10)}),
            user=nurse,
        )
        row = None
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                row = DerivedDay.objects.filter(patient=patient, study_day=2).first()
            except OperationalError:  # SQLite's shared in-memory test database: table locked by the worker
                continue
            if row is not None and row.ordinal_7 == 5:
                break
    assert row is not None and (row.state, row.ordinal_7) == ("hfnc_cpap_niv", 5)
    assert app.conf.broker_url == settings.CELERY_BROKER_URL


@pytest.fixture
def study_jobs(monkeypatch, enqueued):
    """The study ids passed to derive_study.delay; a study is handed over from 2 changed patients (instead of
    1,000) so that the fixtures' two patients can be most of a study."""
    calls = []
    monkeypatch.setattr(tasks.derive_study, "delay", lambda study_id: calls.append(study_id))
    monkeypatch.setattr(on_commit, "STUDY_JOB_FROM", 2)
    return calls


def test_a_transaction_that_changes_most_of_a_study_enqueues_one_study_job(
    patient_a, patient_b, users, enqueued, study_jobs, django_capture_on_commit_callbacks
):
    """An import of a whole study: one derive_study instead of a derive_patient per patient."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        save_vitals(patient_a, users["nurse"], 0)
        save_vitals(patient_b, users["data_manager"], 0)
    assert (study_jobs, enqueued) == ([patient_a.study_id], [])


def test_a_few_patients_of_a_large_study_get_a_job_each(
    patient_a, patient_b, users, enqueued, study_jobs, django_capture_on_commit_callbacks
):
    for number in range(3):  # 5 patients: the 2 changed are fewer than half of them
        factories.PatientFactory(study=patient_a.study, site=patient_a.site, participant_id=f"MI-01{number}")
    transaction.get_connection().run_on_commit.clear()  # as if committed earlier (see ``enqueued``)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        save_vitals(patient_a, users["nurse"], 0)
        save_vitals(patient_b, users["data_manager"], 0)
    assert (study_jobs, sorted(enqueued)) == ([], sorted([patient_a.pk, patient_b.pk]))


def test_below_the_threshold_each_patient_gets_a_job(
    patient_a, patient_b, users, enqueued, study_jobs, django_capture_on_commit_callbacks
):
    """One changed patient of a study of two: half the study, but fewer than the threshold."""
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        save_vitals(patient_a, users["nurse"], 0)
    assert (study_jobs, enqueued) == ([], [patient_a.pk])
