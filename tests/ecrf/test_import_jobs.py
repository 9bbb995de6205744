"""The CSV import as a background job: the upload queues it, a worker runs it, its page follows it (progress,
problems so far), cancels it (nothing stored), and keeps its report; the command runs the same job."""

import datetime
import json
import time
from decimal import Decimal

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.management import call_command
from django.db import OperationalError
from django.utils import timezone

from cohorts.jobs import JobStatus
from cohorts.models import Patient
from config.celery import app
from ecrf import import_jobs, importing, tasks
from ecrf.importing.progress import CHECK, READ
from ecrf.models import ImportJob, VitalSigns
from tests.ecrf.test_import import GOOD, VITALS, history_rows, upload

TWO_DAYS = VITALS + "MI-0001,0,37.0,95\nMI-0001,1,37.4,94\n"


@pytest.fixture
def setup(study, users, patient_a, patient_b):
    return study, users["data_manager"]


def uploads(files: dict) -> list[import_jobs.Upload]:
    return [import_jobs.Upload(name, [text.encode()]) for name, text in files.items()]


def queue(study, user, files=GOOD, check_only=False) -> ImportJob:
    return import_jobs.import_request(study=study, user=user, uploads=uploads(files), check_only=check_only)


class Told(importing.Progress):
    def __init__(self):
        self.phases, self.last = [], {}

    def phase(self, name, total):
        self.phases.append((name, total))

    def advance(self, done, problems):
        self.last[self.phases[-1][0]] = (done, problems)


def test_the_import_tells_its_phases_rows_and_problems(setup):
    study, user = setup
    told = Told()
    bad = {**GOOD, "vital_signs.csv": VITALS + "MI-0001,1,45,95\n"}
    sources = [importing.Source(name, text.encode()) for name, text in bad.items()]
    report = importing.crf_import(study=study, sources=sources, user=user, progress=told)
    rows = sum(result.rows for result in report.files)
    assert [name for name, _ in told.phases] == [READ, CHECK]
    assert told.phases[0][1] == len(bad) and told.phases[1][1] == rows == 14
    assert told.last[CHECK] == (14, 1)  # the temperature is a number, but the forms' rules refuse it


def test_an_upload_is_queued_run_by_the_worker_and_reported_on_its_page(client, setup):
    study, user = setup
    client.force_login(user)
    files = [upload(name, text) for name, text in GOOD.items()]
    response = client.post(f"/studies/{study.code}/import/", {"files": files})
    job = ImportJob.objects.get()
    assert response["Location"] == f"/imports/{job.pk}/"
    assert (job.status, job.requested_by, job.file_names[0]) == (JobStatus.QUEUED, user, next(iter(GOOD)))
    assert not Patient.objects.filter(participant_id="MI-0101").exists()  # nothing yet: the worker imports
    tasks.run_import(job.pk)
    job.refresh_from_db()
    assert (job.status, job.rows, job.problems) == (JobStatus.DONE, 17, 0)
    assert Patient.objects.filter(participant_id="MI-0101").exists()
    assert not (import_jobs.folder(job) / "files").exists()  # the uploads are not kept once imported
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Imported 17 rows: 17 new, 0 changed, 0 unchanged." in page
    listing = client.get(f"/studies/{study.code}/import/").content.decode()
    assert f'href="/imports/{job.pk}/"' in listing and "17 rows" in listing
    tasks.run_import(job.pk)  # a redelivered message finds the job done: nothing happens again
    assert VitalSigns.history.filter(history_change_reason="import: vital_signs.csv").count() == 4


def test_the_import_page_hands_out_each_tables_empty_file_which_imports_once_filled_in(client, setup):
    """The file names on the page download the files to fill in, named and headed as the import reads them."""
    study, user = setup
    client.force_login(user)
    page = client.get(f"/studies/{study.code}/import/").content.decode()
    for table in importing.TABLES:
        assert f'href="/studies/{study.code}/import/{table}.csv" download' in page
    template = client.get(f"/studies/{study.code}/import/vital_signs.csv")
    assert template["Content-Disposition"] == 'attachment; filename="vital_signs.csv"'
    header = template.content.decode()
    assert header.splitlines() == [importing.template_header("vital_signs")]
    assert header.startswith("participant_id,study_day,temperature_c,")
    row = {"participant_id": "MI-0001", "study_day": "1", "temperature_c": "37.8"}
    filled = header + ",".join(row.get(name, "") for name in header.strip().split(",")) + "\n"
    client.post(f"/studies/{study.code}/import/", {"files": [upload("vital_signs.csv", filled)]})
    job = ImportJob.objects.get()
    tasks.run_import(job.pk)
    job.refresh_from_db()
    assert job.problems == 0, job.report
    assert VitalSigns.objects.get(patient__participant_id="MI-0001", study_day=1).temperature_c == Decimal("37.8")
    assert client.get(f"/studies/{study.code}/import/unknown_table.csv").status_code == 404


def test_the_page_of_a_running_import_shows_how_far_it_got_and_polls(client, setup):
    study, user = setup
    job = queue(study, user)
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    state = {"phase": CHECK, "total": 1000, "done": 400, "problems": 2, "rows": 1000}
    (import_jobs.folder(job) / import_jobs.PROGRESS_FILE).write_text(json.dumps(state))
    client.force_login(user)
    page = client.get(f"/imports/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "Checking every row against the forms' rules: row 400 of 1,000." in page, page
    assert "2 problems so far." in page
    assert 'aria-valuenow="40"' in page  # 400 of 1,000 rows checked
    assert 'hx-trigger="every 2s"' in page


def test_cancelling_a_running_import_stops_it_at_its_next_step_and_stores_nothing(client, setup, monkeypatch):
    study, user = setup
    job = queue(study, user)
    before = history_rows()
    monkeypatch.setattr(import_jobs, "PROGRESS_EVERY_S", 0)
    client.force_login(user)
    write_progress = import_jobs.JobProgress._write

    def cancelled_half_way(progress):
        if progress.state["phase"] == CHECK and progress.state["done"] == 5:
            ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)  # as the page sees it
            response = client.post(f"/imports/{job.pk}/cancel/", follow=True)
            assert "The import stops at its next step" in response.content.decode()
        write_progress(progress)

    monkeypatch.setattr(import_jobs.JobProgress, "_write", cancelled_half_way)
    job = import_jobs.import_run(job_id=job.pk)
    assert job.status == JobStatus.CANCELLED
    assert job.error == "Cancelled by data_manager after 5 of 17 rows; nothing was stored."
    assert history_rows() == before and not Patient.objects.filter(participant_id="MI-0101").exists()
    assert not (import_jobs.folder(job) / "files").exists()
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "after 5 of 17 rows; nothing was stored" in page and 'data-testid="import-cancel"' not in page


def test_a_queued_import_is_cancelled_at_once_and_its_worker_then_does_nothing(client, setup):
    study, user = setup
    job = queue(study, user)
    client.force_login(user)
    assert 'data-testid="import-cancel"' in client.get(f"/imports/{job.pk}/").content.decode()
    client.post(f"/imports/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED
    assert job.error == "Cancelled by data_manager before a worker started it; nothing was stored."
    assert import_jobs.import_run(job_id=job.pk).status == JobStatus.CANCELLED
    assert not Patient.objects.filter(participant_id="MI-0101").exists()
    response = client.post(f"/imports/{job.pk}/cancel/", follow=True)
    assert "This import is cancelled: there is nothing to cancel." in response.content.decode()


def test_one_import_at_a_time_per_study(client, setup):
    study, user = setup
    queue(study, user)
    client.force_login(user)
    page = client.post(f"/studies/{study.code}/import/", {"files": [upload("vital_signs.csv", VITALS)]})
    assert page.status_code == 200
    assert "An import into this study is already queued or running." in page.content.decode()
    assert ImportJob.objects.count() == 1


def test_an_import_whose_worker_was_lost_is_failed_or_cancelled(client, setup):
    study, user = setup
    job = queue(study, user)
    long_ago = timezone.now() - import_jobs.IMPORT_TIME_LIMIT - datetime.timedelta(minutes=1)
    ImportJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=long_ago, created_at=long_ago)
    client.force_login(user)
    client.post(f"/imports/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and "after its worker was lost" in job.error
    lost = queue(study, user)
    ImportJob.objects.filter(pk=lost.pk).update(created_at=long_ago)
    queue(study, user)  # a new request fails the lost one instead of being refused
    lost.refresh_from_db()
    assert lost.status == JobStatus.FAILED and lost.error.startswith("No worker finished this import in time")
    assert tasks.run_import.time_limit == import_jobs.IMPORT_TIME_LIMIT.total_seconds()


def test_every_problem_is_kept_for_download_and_the_page_shows_the_first(client, setup, monkeypatch):
    study, user = setup
    monkeypatch.setattr(import_jobs, "KEEP_PROBLEMS", 2)
    bad = VITALS + "".join(f"MI-0001,{day},45,95\n" for day in (5, 6, 7))
    job = import_jobs.import_run(job_id=queue(study, user, {"vital_signs.csv": bad}).pk)
    assert (job.status, job.problems) == (JobStatus.DONE, 3)
    client.force_login(user)
    page = client.get(f"/imports/{job.pk}/").content.decode()
    assert "Nothing was imported: 3 problems." in page
    assert "The first 2 of 3 problems are shown" in page and f'href="/imports/{job.pk}/problems.csv"' in page
    response = client.get(f"/imports/{job.pk}/problems.csv")
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert lines[0] == "file,row,column,code,message" and len(lines) == 4
    assert lines[3].startswith("vital_signs.csv,4,temperature_c,temperature_c.hard_max,Temperature 45 degC")
    assert 'filename="import-' in response["Content-Disposition"]


def test_the_report_is_written_in_the_language_of_whoever_asked(client, setup):
    study, user = setup
    client.force_login(user)
    response = client.post(
        f"/studies/{study.code}/import/",
        {"files": [upload("vital_signs.csv", VITALS + "MI-0001,1,45,95\n")]},
        headers={"Accept-Language": "it"},
    )
    job = import_jobs.import_run(job_id=int(response["Location"].strip("/").split("/")[-1]))
    assert job.language == "it"
    assert "superiore al massimo plausibile" in job.report["problems"][0]["message"]


def test_the_command_runs_the_same_job_here_or_queues_it(setup, tmp_path, capsys):
    study, user = setup
    (tmp_path / "vital_signs.csv").write_text(TWO_DAYS)
    (tmp_path / "codebook.csv").write_text("not,a,table\n")  # in a folder: skipped, not refused
    call_command("import_crf", str(tmp_path), "--study", study.code, "--user", "data_manager", "--background")
    job = ImportJob.objects.get()
    assert f"Queued import {job.pk}: /imports/{job.pk}/" in capsys.readouterr().out
    assert job.status == JobStatus.QUEUED and job.requested_by == user
    import_jobs.import_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.report["skipped"] == ["codebook.csv"] and job.rows == 2


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_real_worker_runs_an_uploaded_import(client, study, users, patient_a, patient_b):
    app.control.purge()  # the derivations the fixtures queued
    client.force_login(users["data_manager"])
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        client.post(f"/studies/{study.code}/import/", {"files": [upload("vital_signs.csv", TWO_DAYS)]})
        job, deadline = None, time.monotonic() + 30
        while time.monotonic() < deadline:
            time.sleep(0.2)
            try:
                job = ImportJob.objects.get()
            except OperationalError:  # SQLite's shared in-memory test database: locked by the worker
                continue
            if job.status not in (JobStatus.QUEUED, JobStatus.RUNNING):
                break
    assert job is not None and job.status == JobStatus.DONE, job and job.error
    assert VitalSigns.objects.filter(patient__participant_id="MI-0001").count() == 2
