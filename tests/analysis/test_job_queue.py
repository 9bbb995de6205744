"""Lock and export jobs reach their Celery tasks by name: the services queue them, the tasks call the services, and
nothing imports back (a real worker on the configured broker runs them: Redis in CI, in-memory otherwise)."""

import ast
import time
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from analysis import services
from analysis.models import JobStatus
from config.celery import app
from tests.analysis import release_data

FINISHED = {JobStatus.DONE, JobStatus.FAILED, JobStatus.CANCELLED}


def imported_modules(path: Path) -> set[str]:
    """Every module a source file imports, at the top or inside a function."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def test_the_services_do_not_import_the_tasks_that_call_them():
    assert "analysis.services" in imported_modules(Path(services.__file__).with_name("tasks.py"))
    assert "analysis.tasks" not in imported_modules(Path(services.__file__))


def wait_for(job, seconds: float = 120):
    deadline = time.monotonic() + seconds
    job.refresh_from_db()
    while job.status not in FINISHED and time.monotonic() < deadline:
        time.sleep(0.2)
        job.refresh_from_db()
    return job


@pytest.mark.worker
@pytest.mark.django_db(transaction=True, serialized_rollback=True)  # later tests find the migrations' data
def test_a_real_worker_runs_the_lock_and_the_export_that_the_services_queue(
    study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch
):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    # The derivations the cohort's saves queued are not this test's: on SQLite a worker writing them while the lock
    # begins its transaction meets "database table is locked" (one shared in-memory database, no busy timeout).
    app.control.purge()
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        lock = wait_for(
            services.lock_request(
                study=study, user=users["data_manager"], reason="day-21 analysis", overrides=release_data.AS_THEY_ARE
            )
        )
        assert lock.status == JobStatus.DONE, lock.error
        export = wait_for(services.export_request(release=lock.release, fmt="csv", user=users["statistician"]))
    assert export.status == JobStatus.DONE, export.error
    assert Path(export.file_path).read_bytes()[:2] == b"PK"
