"""Runs of the data-quality rules: asked for on the query list by monitors and data managers (one pending per study),
run by a Celery task (idempotent, acks_late), every night by beat after the derivation; the list shows the last run."""

import time
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import OperationalError, transaction

from cleaning import services, tasks
from cleaning.models import Query, RuleRun
from config.celery import app
from ecrf.models import DispositionEvent, VitalSigns
from tests import factories


@pytest.fixture
def hot(patient_a):
    DispositionEvent.objects.create(patient=patient_a, study_day=4, kind="withdrawal")
    return VitalSigns.objects.create(patient=patient_a, study_day=3, temperature_c=Decimal("41.9"))


@pytest.fixture
def sent(monkeypatch):
    """The tasks sent to the broker after a commit (the test's on-commit callbacks are run by hand)."""
    calls = []
    monkeypatch.setattr(services.current_app, "send_task", lambda name, args: calls.append((name, args)))
    return calls


def test_a_monitor_queues_one_run_at_a_time(study, users, sent, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        run = services.rules_request(study=study, user=users["monitor"])
    assert (run.status, run.requested_by, sent) == ("queued", users["monitor"], [("cleaning.run_rules", [run.pk])])
    with pytest.raises(ValidationError, match="already queued or running"):
        services.rules_request(study=study, user=users["data_manager"])
    for role in ("nurse", "investigator", "statistician"):
        with pytest.raises(PermissionDenied):
            services.rules_request(study=study, user=users[role])


def test_a_run_no_worker_finished_in_time_is_given_up(study, users, sent):
    lost = services.rules_request(study=study, user=users["monitor"])
    RuleRun.objects.filter(pk=lost.pk).update(created_at=lost.created_at - services.RULES_TIME_LIMIT * 2)
    services.rules_request(study=study, user=users["monitor"])
    lost.refresh_from_db()
    assert lost.status == "failed" and "given up" in lost.error


def test_the_task_runs_counts_and_is_idempotent(hot, study, users, sent):
    run = services.rules_request(study=study, user=users["data_manager"])
    result = tasks.run_rules.apply(args=[run.pk]).get()
    run.refresh_from_db()
    assert (run.status, result["status"]) == ("done", "done")
    assert run.opened == Query.objects.count() == run.hits and run.patients == 1
    assert run.started_at <= run.finished_at
    assert tasks.run_rules.apply(args=[run.pk]).get() == result  # a finished run is left as it is
    assert Query.objects.count() == run.opened
    options = tasks.run_rules
    assert options.acks_late and options.soft_time_limit and options.time_limit and options.max_retries


def test_a_redelivered_run_continues_and_counts_what_it_wrote(hot, study, users, sent):
    run = services.rules_request(study=study, user=users["data_manager"])
    RuleRun.objects.filter(pk=run.pk).update(status="running")  # its worker was killed before any batch
    services.rules_run(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "done" and run.opened == Query.objects.count() > 0


def test_the_nightly_run_checks_every_unlocked_study_without_a_requester(hot, study):
    other = factories.StudyFactory(code="ny-anakinra")
    done = tasks.run_rules_all_studies.apply().get()
    assert {row["study"] for row in done} == {study.code, other.code}
    assert RuleRun.objects.filter(requested_by=None, status="done").count() == 2
    assert Query.objects.filter(rule="check.temperature_c.soft_high").count() == 1


def test_a_study_whose_nightly_run_fails_does_not_stop_the_others(hot, study, monkeypatch):
    other = factories.StudyFactory(code="ny-anakinra")
    real = services.rule_job.run_study

    def fails_for_milan(run_study, **options):
        if run_study == study:
            raise OperationalError("connection lost")
        return real(run_study, **options)

    monkeypatch.setattr(services.rule_job, "run_study", fails_for_milan)
    runs = {run.study.code: run for run in services.rules_nightly()}
    assert (runs[study.code].status, runs[study.code].error) == ("failed", "OperationalError: connection lost")
    assert runs[other.code].status == "done"


# serialized_rollback, like the other transactional tests: the flush after it leaves no content types for the next
# serialized test to collide with.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_nightly_schedule_runs_after_the_derivation():
    from django_celery_beat.models import PeriodicTask
    from django_celery_beat.schedulers import DatabaseScheduler

    DatabaseScheduler(app=app)
    task = PeriodicTask.objects.get(name="data-quality-rules-nightly")
    derive = PeriodicTask.objects.get(name="derive-all-studies-nightly")
    assert task.task == "cleaning.run_rules_all_studies" and task.enabled
    assert (task.crontab.hour, task.crontab.minute) == ("3", "0")
    assert (int(derive.crontab.hour), int(derive.crontab.minute)) < (3, 0)
    assert "cleaning.run_rules_all_studies" in app.tasks and "cleaning.run_rules" in app.tasks


def test_the_query_list_runs_the_rules_and_shows_the_last_run(client, hot, study, users, sent):
    url = f"/studies/{study.code}/queries/"
    client.force_login(users["nurse"])
    assert "rules-run-button" not in client.get(url).content.decode()
    assert client.post(f"{url}rules/run/").status_code == 403
    client.force_login(users["monitor"])
    assert 'data-testid="rules-run-button"' in client.get(url).content.decode()
    response = client.post(f"{url}rules/run/", follow=True)
    assert "Data-quality rules queued" in response.content.decode()
    run = RuleRun.objects.get()
    services.rules_run(run_id=run.pk)
    page = client.get(url).content.decode()
    run.refresh_from_db()
    assert run.opened > 1  # the soft temperature, and the missing forms of days 0-4
    assert f"{run.hits} conditions found, {run.opened} queries opened, 0 reopened, 0 closed by the system" in page
    assert "rule <code>check.temperature_c.soft_high</code>" in page
    client.post(f"{url}rules/run/")
    again = client.post(f"{url}rules/run/", follow=True).content.decode()
    assert "already queued or running" in again and RuleRun.objects.count() == 2


def test_the_button_comes_back_to_the_page_it_is_on_and_nowhere_else(client, study, users, sent):
    client.force_login(users["data_manager"])
    url = f"/studies/{study.code}/queries/rules/run/"
    dashboard = f"/studies/{study.code}/dashboard/"
    assert client.post(url, {"next": dashboard})["Location"] == dashboard
    assert client.post(url, {"next": "https://elsewhere.example/"})["Location"] == f"/studies/{study.code}/queries/"


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_runs_the_rules_asked_for(settings):
    study = factories.StudyFactory()
    patient = factories.PatientFactory(study=study, site=factories.SiteFactory(code="WK", studies=[study]))
    DispositionEvent.objects.create(patient=patient, study_day=1, kind="withdrawal")
    VitalSigns.objects.create(patient=patient, study_day=1, heart_rate_bpm=190)
    monitor = factories.UserFactory(username="worker-monitor")
    from cohorts.team import grant

    grant(monitor, patient.study, "monitor", [patient.site], reason="test")
    app.control.purge()  # the patient's derivation (enqueued at its creation) would race on SQLite
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        with transaction.atomic():
            run = services.rules_request(study=patient.study, user=monitor)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                run.refresh_from_db()
            except OperationalError:  # SQLite's shared in-memory test database: locked by the worker
                continue
            if run.status in ("done", "failed"):
                break
    assert (run.status, run.error) == ("done", "")
    assert Query.objects.filter(patient=patient, rule="check.heart_rate_bpm.soft_high").count() == 1
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
