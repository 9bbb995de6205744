"""Writes of the analysis app: export jobs (lock and unlock are in analysis/releases.py, next to the files).

An export is a job row (who, when, format, status, progress, file, SHA-256) filled by a Celery task, so the page
that asked for it can show its progress and the download (DESIGN.md, after Saleor's export files).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from analysis import exports
from analysis.models import ExportFormat, ExportJob, ExportStatus, Release


def exports_dir(release: Release) -> Path:
    return Path(settings.RELEASES_ROOT) / release.study.code / "exports"


def export_request(*, release: Release, fmt: str, user) -> ExportJob:
    """Queue an export of a locked release; the task starts once the job row is committed."""
    if fmt not in ExportFormat.values:
        raise ValidationError({"format": ValidationError("Choose one of the export formats.", code="format")})
    from analysis import tasks

    with transaction.atomic():
        job = ExportJob(release=release, format=fmt, requested_by=user)
        job.full_clean()
        job.save()
        transaction.on_commit(lambda: tasks.export_release.delay(job.pk))
    return job


def _set_progress(job_id: int, percent: int) -> None:
    # A plain UPDATE of one column: the status page polls it, and the job row is not audited data.
    ExportJob.objects.filter(pk=job_id).update(progress=min(max(int(percent), 0), 100))


def export_run(*, job_id: int) -> ExportJob:
    """Build the job's zip (idempotent: a finished job, or another job's identical file, is reused)."""
    job = ExportJob.objects.select_related("release__study").get(pk=job_id)
    if job.status == ExportStatus.DONE and job.file_path and Path(job.file_path).exists():
        return job
    ExportJob.objects.filter(pk=job_id).update(status=ExportStatus.RUNNING, progress=0, error="")
    release = job.release
    target = exports_dir(release) / exports.export_name(release, job.format)
    partial = target.with_name(f".{target.name}.{job_id}.partial")
    try:
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            exports.write_export(release, job.format, partial, progress=lambda p: _set_progress(job_id, p))
            os.replace(partial, target)  # atomic: a download never sees half a file
        digest = hashlib.sha256()
        with open(target, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except Exception as error:
        partial.unlink(missing_ok=True)
        ExportJob.objects.filter(pk=job_id).update(
            status=ExportStatus.FAILED, error=f"{type(error).__name__}: {error}", finished_at=timezone.now()
        )
        raise
    ExportJob.objects.filter(pk=job_id).update(
        status=ExportStatus.DONE,
        progress=100,
        file_path=str(target),
        sha256=digest.hexdigest(),
        finished_at=timezone.now(),
    )
    job.refresh_from_db()
    return job
