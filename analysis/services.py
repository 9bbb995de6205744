"""Writes of the analysis app: lock jobs and export jobs (lock and unlock are in analysis/releases.py, next to
the files).

A lock or an export is a job row (who, when, status; the release, or the file and its SHA-256) filled by a Celery
task, so the page that asked for it can show its progress and result (docs/architecture.md, after Saleor's export
files).
A lock takes about a minute for a large study, longer than a web request may last.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Mapping
from pathlib import Path

from celery import current_app
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from analysis import checklist, exports, releases
from analysis.models import (
    ARCHIVAL_FORMATS,
    LOCK_PENDING,
    ExportFormat,
    ExportJob,
    JobStatus,
    LockJob,
    Release,
)
from cohorts import roles
from cohorts.jobs import PENDING
from cohorts.languages import STORED_LANGUAGE
from cohorts.models import Study

#: The Celery tasks (analysis/tasks.py) that run the jobs; they call lock_run and export_run below.
LOCK_TASK = "analysis.lock_study"
EXPORT_TASK = "analysis.export_release"


def _run_after_commit(task_name: str, job_id: int) -> None:
    """Send the job to its task once the job row is committed (the worker must find it; a rollback sends nothing).

    By name, to the broker: analysis.tasks imports this module, so this module does not import it back (and a web
    process need not load the tasks at all). The worker runs the task with the options it declares.
    """
    transaction.on_commit(lambda: current_app.send_task(task_name, args=[job_id]))


# --------------------------------------------------------------------------------------------
# Lock jobs
# --------------------------------------------------------------------------------------------

#: The hard time limit of a lock's task (analysis.tasks.lock_study): a job running for longer has no worker.
LOCK_TIME_LIMIT = datetime.timedelta(minutes=30)


def lock_request(*, study: Study, user, reason: str, overrides: Mapping[str, str] | None = None) -> LockJob:
    """Queue a lock of the study; the task starts once the job row is committed.

    Refused up front: a study already locked, a lock already queued or running (the unique constraint, also
    when two clicks arrive at once), an empty reason, an item of the checklist that is not zero and has no
    override reason (each next to its item). What only the lock itself can find is on the job: it checks the
    checklist again on the data it freezes.
    """
    if Study.objects.filter(pk=study.pk, is_locked=True).exists():
        raise ValidationError(_("The study is already locked."), code="already_locked")
    errors = {}
    try:
        reason = releases.required_reason(reason, "locking")
    except ValidationError as error:
        errors.update(error.error_dict)
    overrides = checklist.overrides_given(overrides or {})
    pending = LockJob.objects.filter(study=study, status__in=PENDING).exists()  # refused below, by the constraint
    if not pending and (refused := checklist.refusal(checklist.lock_checklist(study), overrides)) is not None:
        errors.update(refused.error_dict)
    if errors:  # every refusal at once, each next to its field
        raise ValidationError(errors)
    job = LockJob(study=study, reason=reason, overrides=overrides, requested_by=user)
    job.full_clean()
    try:
        with transaction.atomic():
            job.save()
            _run_after_commit(LOCK_TASK, job.pk)
    except IntegrityError:
        if not LockJob.objects.filter(study=study, status__in=PENDING).exists():
            raise
        raise ValidationError(LOCK_PENDING, code="lock_pending") from None  # the other click's job was saved first
    return job


def lock_run(*, job_id: int) -> LockJob:
    """Lock the job's study as its requester, with its reason; a finished job is left as it is (a rerun does
    nothing). A refusal of the lock (a ValidationError) fails the job with its message; anything else fails it
    and is raised again for Celery."""
    job = LockJob.objects.select_related("study", "requested_by").get(pk=job_id)
    # Plain UPDATEs of the job row: the status page polls it, and the job row is not audited data. Conditional:
    # a job cancelled (or finished) meanwhile is not run.
    running = {"status": JobStatus.RUNNING, "error": "", "started_at": timezone.now()}
    if not LockJob.objects.filter(pk=job_id, status__in=PENDING).update(**running):
        job.refresh_from_db()
        return job
    try:
        with transaction.atomic():  # the job is done in the lock's own transaction: a lock never loses its job
            release = releases.release_lock(
                study=job.study, user=job.requested_by, reason=job.reason, overrides=job.overrides
            )
            LockJob.objects.filter(pk=job_id).update(status=JobStatus.DONE, release=release, finished_at=timezone.now())
    except ValidationError as error:
        _lock_failed(job_id, " ".join(error.messages))
    except Exception as error:
        _lock_failed(job_id, f"{type(error).__name__}: {error}")
        raise
    job.refresh_from_db()
    return job


def _cancellable(now) -> Q:
    """A lock no worker is on: still queued (no worker running, or its message lost), or running for longer than
    its task may (the worker was killed at the time limit and its message lost with the broker's memory)."""
    return Q(status=JobStatus.QUEUED) | Q(status=JobStatus.RUNNING, started_at__lt=now - LOCK_TIME_LIMIT)


def lock_cancellable(job: LockJob) -> bool:
    """Whether lock_cancel would cancel ``job`` as loaded: the rule of _cancellable, read off the job without a
    query (the status page asks at every poll, every 2 s)."""
    if job.status == JobStatus.QUEUED:
        return True
    stale = job.started_at is not None and job.started_at < timezone.now() - LOCK_TIME_LIMIT
    return job.status == JobStatus.RUNNING and stale


def lock_cancel(*, job: LockJob, user) -> LockJob:
    """Cancel a lock no worker is on (see _cancellable): it is marked cancelled, and the study can be locked again.
    A lock that runs cannot be cancelled: it finishes or fails on its own within LOCK_TIME_LIMIT."""
    now = timezone.now()
    name = user.get_full_name() or user.get_username()
    with translation.override(STORED_LANGUAGE):  # stored, as a worker's failure is: not in the user's language
        if job.status == JobStatus.QUEUED:
            error = _("Cancelled by %(name)s before a worker started it.") % {"name": name}
        else:
            error = _("Cancelled by %(name)s after its worker was lost.") % {"name": name}
    cancelled = LockJob.objects.filter(_cancellable(now), pk=job.pk).update(
        status=JobStatus.CANCELLED, error=error, finished_at=now
    )
    job.refresh_from_db()
    if cancelled:
        return job
    if job.status == JobStatus.RUNNING:
        minutes = int(LOCK_TIME_LIMIT.total_seconds() // 60)
        message = ngettext(
            "This lock is running: it ends by itself (done, or failed with its reason) within %(minutes)s minute.",
            "This lock is running: it ends by itself (done, or failed with its reason) within %(minutes)s minutes.",
            minutes,
        ) % {"minutes": minutes}
    else:
        message = _("This lock is %(status)s: there is nothing to cancel.") % {
            "status": job.get_status_display().lower()
        }
    raise ValidationError(message, code="not_cancellable")


def _lock_failed(job_id: int, message: str) -> None:
    # Only a running job: a duplicate delivery that finds the study locked by the first run leaves it done.
    LockJob.objects.filter(pk=job_id, status=JobStatus.RUNNING).update(
        status=JobStatus.FAILED, error=message, finished_at=timezone.now()
    )


# --------------------------------------------------------------------------------------------
# Export jobs
# --------------------------------------------------------------------------------------------


def exports_dir(release: Release) -> Path:
    return Path(settings.RELEASES_ROOT) / release.study.code / "exports"


def export_request(*, release: Release, fmt: str, user) -> ExportJob:
    """Queue an export of a locked release; the task starts once the job row is committed."""
    if fmt not in ExportFormat.values:
        raise ValidationError({"format": ValidationError(_("Choose one of the export formats."), code="format")})
    if fmt in ARCHIVAL_FORMATS and not roles.has_study_role(user, release.study, roles.ARCHIVE_DOWNLOADERS):
        message = _(
            "The %(format)s export names people and holds the reasons for change: only data managers may request it."
        ) % {"format": ExportFormat(fmt).label}
        raise ValidationError({"format": ValidationError(message, code="archive_forbidden")})
    refusal = exports.export_refusal(release, fmt)
    if refusal:
        raise ValidationError({"format": ValidationError(refusal, code="export_refused")})
    with transaction.atomic():
        job = ExportJob(release=release, format=fmt, requested_by=user)
        job.full_clean()
        job.save()
        _run_after_commit(EXPORT_TASK, job.pk)
    return job


def _set_progress(job_id: int, percent: int) -> None:
    # A plain UPDATE of one column: the status page polls it, and the job row is not audited data.
    ExportJob.objects.filter(pk=job_id).update(progress=min(max(int(percent), 0), 100))


def export_run(*, job_id: int) -> ExportJob:
    """Build the job's zip (idempotent: a finished job, or another job's identical file, is reused)."""
    job = ExportJob.objects.select_related("release__study").get(pk=job_id)
    if job.status == JobStatus.DONE and job.file_path and Path(job.file_path).exists():
        return job
    ExportJob.objects.filter(pk=job_id).update(status=JobStatus.RUNNING, progress=0, error="")
    release = job.release
    target = exports_dir(release) / exports.export_name(release, job.format)
    try:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            progress = functools.partial(_set_progress, job_id)
            exports.write_export_file(release, job.format, target, progress, tag=f".{job_id}")
        sha256 = releases.sha256_file(target)
    except Exception as error:
        ExportJob.objects.filter(pk=job_id).update(
            status=JobStatus.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        raise
    ExportJob.objects.filter(pk=job_id).update(
        status=JobStatus.DONE,
        progress=100,
        file_path=str(target),
        sha256=sha256,
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job
