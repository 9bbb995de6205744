"""The CSV import as a background job: asked for on the upload page or by ``manage.py import_crf``, run by a Celery
worker (ecrf/tasks.py: run_import), followed and cancelled on its page. The import itself is ecrf/importing: all or
nothing, audited, in one transaction.

Each job has a folder (settings.IMPORTS_ROOT/<token>), shared by the web processes and the workers as the releases'
folder is: the uploaded files wait there for the worker (deleted once the job has ended), the worker writes its
progress there about once a second (``progress.json``: phase, rows done, problems so far) and the page asks it to
stop there (``cancel``). Not through the database: the import's transaction holds it until it ends (on SQLite the
whole file), so neither a progress row nor a request to cancel could pass while it runs. The job's row keeps the
outcome: status, counts, the report with its first problems; ``problems.csv`` in the folder lists them all.
"""

from __future__ import annotations

import datetime
import json
import os
import shutil
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, OperationalError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cohorts import roles
from cohorts.audit import ensure_unlocked
from cohorts.jobs import PENDING, JobStatus
from cohorts.languages import STORED_LANGUAGE
from cohorts.models import Study
from ecrf import importing
from ecrf.importing.progress import PHASES, ImportCancelled, Progress
from ecrf.models import IMPORT_PENDING, ImportJob

#: The Celery task (ecrf/tasks.py) that runs an ImportJob; queued by name, so this module does not import tasks.
IMPORT_TASK = "ecrf.run_import"
#: The task's hard time limit: a job queued or running for longer has lost its worker (or its message).
IMPORT_TIME_LIMIT = datetime.timedelta(hours=4)
#: Problems kept in the job's report (the page shows them; problems.csv has every one).
KEEP_PROBLEMS = 500
#: How often the worker writes its progress and looks for a request to cancel.
PROGRESS_EVERY_S = 1.0
PROGRESS_FILE, CANCEL_FILE, PROBLEMS_FILE = "progress.json", "cancel", "problems.csv"


@dataclass(frozen=True)
class Upload:
    """A file to import: its name as given (the report names it) and its content, in chunks."""

    name: str
    chunks: Iterable[bytes]
    in_archive: bool = False  # from a folder or zip: a file that is not a table is skipped, not refused


def folder(job: ImportJob) -> Path:
    return Path(settings.IMPORTS_ROOT) / str(job.token)


def _upload_path(job: ImportJob, index: int) -> Path:
    # By position, not by name: two files may share a name (the import reports the second), and a name is not a path.
    return folder(job) / "files" / f"{index:04d}"


def import_request(*, study: Study, user, uploads: Iterable[Upload], check_only: bool, queue: bool = True) -> ImportJob:
    """Queue an import of ``uploads`` into the study; its task starts once the job is committed (without ``queue``
    the caller runs it: import_run). The report's messages are written in the active language. Refused: a user
    who may not import into the study, a locked study, an import of the study already queued or running (the
    constraint ``import_job_one_pending_per_study``, also when two clicks arrive at once)."""
    if user is not None and not roles.has_study_role(user, study, roles.IMPORTERS):
        raise PermissionDenied("Your role in this study cannot import data.")
    ensure_unlocked(study)
    now = timezone.now()
    _lost_jobs_failed(study, now)
    job = ImportJob(study=study, requested_by=user, check_only=check_only, language=translation.get_language())
    try:
        with transaction.atomic():
            stored = [_store(job, index, upload) for index, upload in enumerate(uploads)]
            job.file_names = [upload.name for upload in stored]
            job.in_archive = [index for index, upload in enumerate(stored) if upload.in_archive]
            job.save()
            if queue:
                transaction.on_commit(lambda: current_app.send_task(IMPORT_TASK, args=[job.pk]))
    except IntegrityError:
        shutil.rmtree(folder(job), ignore_errors=True)
        if not ImportJob.objects.filter(study=study, status__in=PENDING).exists():
            raise
        raise ValidationError(IMPORT_PENDING, code="import_pending") from None
    except BaseException:
        shutil.rmtree(folder(job), ignore_errors=True)
        raise
    return job


def _store(job: ImportJob, index: int, upload: Upload) -> Upload:
    path = _upload_path(job, index)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as out:
        for chunk in upload.chunks:
            out.write(chunk)
    return upload


def _lost_jobs_failed(study: Study, now) -> None:
    """Fail the study's pending import that no worker can still be on, so that a new one can be asked for."""
    lost = ImportJob.objects.filter(study=study, status__in=PENDING, created_at__lt=now - IMPORT_TIME_LIMIT).exclude(
        started_at__gte=now - IMPORT_TIME_LIMIT
    )
    for job in lost:
        shutil.rmtree(folder(job) / "files", ignore_errors=True)
    with translation.override(STORED_LANGUAGE):
        error = _("No worker finished this import in time; nothing was stored.")
    lost.update(status=JobStatus.FAILED, finished_at=now, error=error)


class JobProgress(Progress):
    """The worker's progress of one job, written to its folder about once a second (and at each phase), where it also
    looks for a request to cancel."""

    def __init__(self, job: ImportJob):
        self.job, self.path = job, folder(job)
        self.state = {"phase": "", "total": 0, "done": 0, "problems": 0, "rows": 0}
        self.written_at = 0.0

    def phase(self, name: str, total: int) -> None:
        self.state.update(phase=name, total=total, done=0)
        if name == importing.CHECK:
            self.state["rows"] = total
        self._write()

    def advance(self, done: int, problems: int) -> None:
        self.state.update(done=done, problems=problems)
        if time.monotonic() - self.written_at >= PROGRESS_EVERY_S:
            self._write()

    def _write(self) -> None:
        self.written_at = time.monotonic()
        cancel = self.path / CANCEL_FILE
        if cancel.exists():
            raise ImportCancelled(cancel.read_text(encoding="utf-8"))
        temporary = self.path / f"{PROGRESS_FILE}.tmp"
        temporary.write_text(json.dumps(self.state), encoding="utf-8")
        os.replace(temporary, self.path / PROGRESS_FILE)  # a reader sees the old state or the new, never half


def import_run(*, job_id: int) -> ImportJob:
    """Run a queued job (or a running one again: its worker was killed and the message came back); a finished job
    is left as it is. The job ends done (its report says whether anything was stored), cancelled (nothing stored)
    or failed; a lost database connection is raised again for the task to retry, the job left running."""
    job = ImportJob.objects.select_related("study", "requested_by").get(pk=job_id)
    running = {"status": JobStatus.RUNNING, "started_at": timezone.now(), "error": ""}
    if not ImportJob.objects.filter(pk=job_id, status__in=PENDING).update(**running):
        return job
    progress = JobProgress(job)
    sources = [
        importing.Source(name, in_archive=i in job.in_archive, path=_upload_path(job, i))
        for i, name in enumerate(job.file_names)
    ]
    try:
        with translation.override(job.language):
            report = importing.crf_import(
                study=job.study, sources=sources, user=job.requested_by, check_only=job.check_only, progress=progress
            )
    except ImportCancelled as cancel:
        with translation.override(STORED_LANGUAGE):
            error = _("Cancelled by %(name)s after %(rows)s of %(total)s rows; nothing was stored.") % {
                "name": str(cancel),
                "rows": progress.state["done"],
                "total": progress.state["total"],
            }
        _finished(job, status=JobStatus.CANCELLED, error=error)
    except OperationalError:
        raise  # left running: the task retries it
    except Exception as error:
        _finished(job, status=JobStatus.FAILED, error=f"{type(error).__name__}: {error}")
        raise
    else:
        if report.problems:
            _write_problems(job, report)
        _finished(
            job,
            status=JobStatus.DONE,
            rows=sum(result.rows for result in report.files),
            problems=report.problem_count,
            report=report.as_dict(KEEP_PROBLEMS),
        )
    job.refresh_from_db()
    return job


def _finished(job: ImportJob, **values) -> None:
    ImportJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(finished_at=timezone.now(), **values)
    shutil.rmtree(folder(job) / "files", ignore_errors=True)
    for name in (PROGRESS_FILE, CANCEL_FILE):
        (folder(job) / name).unlink(missing_ok=True)


def _write_problems(job: ImportJob, report: importing.ImportReport) -> None:
    with (folder(job) / PROBLEMS_FILE).open("w", newline="", encoding="utf-8") as out:
        importing.write_problems(report.problems, out)


def problems_file(job: ImportJob) -> Path | None:
    """Every problem of a finished job's report as CSV (file, row, column, code, message), if it had any."""
    path = folder(job) / PROBLEMS_FILE
    return path if path.exists() else None


@dataclass(frozen=True)
class Running:
    """What a running job's page shows: the phase, rows done of its total, the problems so far."""

    phase: str
    total: int
    done: int
    problems: int
    rows: int
    cancelling: bool

    @property
    def percent(self) -> int:
        """The share of the whole import done: the rows checked (reading the files counts for nothing)."""
        if self.phase != importing.CHECK or not self.total:
            return 0
        return min(100, int(100 * self.done / self.total))

    def as_dict(self) -> dict:
        return {**asdict(self), "percent": self.percent}


def import_progress(job: ImportJob) -> Running | None:
    """The last progress its worker wrote, for a running job (None before the worker's first word)."""
    if job.status != JobStatus.RUNNING:
        return None
    try:
        state = json.loads((folder(job) / PROGRESS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if state.get("phase") not in PHASES:
        return None
    values = {name: int(state.get(name, 0)) for name in ("total", "done", "problems", "rows")}
    return Running(phase=state["phase"], cancelling=(folder(job) / CANCEL_FILE).exists(), **values)


def import_cancellable(job: ImportJob) -> bool:
    return job.status in PENDING and not (folder(job) / CANCEL_FILE).exists()


def import_cancel(*, job: ImportJob, user) -> ImportJob:
    """Stop an import: a queued one is cancelled at once; a running one stops at its next word of progress (about a
    second), storing nothing; one running for longer than its task may (its worker was lost) is cancelled at once.
    A finished import has nothing to cancel."""
    now = timezone.now()
    name = user.get_full_name() or user.get_username()
    lost = job.status == JobStatus.RUNNING and job.started_at is not None and job.started_at < now - IMPORT_TIME_LIMIT
    if job.status == JobStatus.QUEUED or lost:
        with translation.override(STORED_LANGUAGE):
            if lost:
                error = _("Cancelled by %(name)s after its worker was lost; nothing was stored.") % {"name": name}
            else:
                error = _("Cancelled by %(name)s before a worker started it; nothing was stored.") % {"name": name}
        if ImportJob.objects.filter(pk=job.pk, status=job.status).update(
            status=JobStatus.CANCELLED, error=error, finished_at=now
        ):
            shutil.rmtree(folder(job) / "files", ignore_errors=True)
            job.refresh_from_db()
            return job
        job.refresh_from_db()  # a worker took it meanwhile: it is running now
    if job.status == JobStatus.RUNNING:
        (folder(job) / CANCEL_FILE).write_text(name, encoding="utf-8")
        return job
    raise ValidationError(
        _("This import is %(status)s: there is nothing to cancel.") % {"status": job.get_status_display().lower()},
        code="not_cancellable",
    )
