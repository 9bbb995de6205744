"""Locked releases, and the background jobs that make them (lock) and export them (clinical definitions §5)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from cohorts.jobs import JobStatus, one_pending_per_study
from cohorts.models import Study


class Release(models.Model):
    """A versioned, frozen data cut of a study: files on disk plus a manifest of SHA-256 per file.

    Files are written once when the study is locked and never rewritten, so an old release stays
    downloadable byte for byte after unlock and relock (the next lock is a new version).
    """

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="releases")
    version = models.PositiveIntegerField()
    locked_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    locked_at = models.DateTimeField()
    reason = models.TextField()
    unlocked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    unlocked_at = models.DateTimeField(null=True, blank=True)
    unlock_reason = models.TextField(blank=True)
    manifest = models.JSONField(default=dict)

    class Meta:
        ordering = ["study", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["study", "version"], name="release_version_unique_per_study"),
            models.CheckConstraint(condition=Q(version__gte=1), name="release_version_positive"),
            models.CheckConstraint(condition=~Q(reason=""), name="release_reason_required"),
            models.CheckConstraint(
                condition=Q(unlocked_at__isnull=True) | ~Q(unlock_reason=""), name="release_unlock_reason_required"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.study.code} v{self.version}"


class ExportFormat(models.TextChoices):
    CSV = "csv", "CSV"
    XLSX = "xlsx", "Excel (XLSX)"
    PARQUET = "parquet", "Parquet"
    SAV = "sav", "SPSS (.sav)"
    DTA = "dta", "Stata (.dta)"
    XPT = "xpt", "SAS XPORT (.xpt)"
    SDTM = "sdtm", _("SDTM-shaped datasets with Define-XML 2.1")
    ODM = "odm", _("CDISC ODM 1.3.2 with audit trail (archival)")
    PDF = "pdf", _("PDF casebooks per patient (archival)")


#: The archival formats carry the release's archive (analysis/archive.py: the audit trail with names and reasons,
#: who signed): only ``roles.ARCHIVE_DOWNLOADERS`` request and download them.
ARCHIVAL_FORMATS = frozenset({ExportFormat.ODM, ExportFormat.PDF})


LOCK_PENDING = _("A lock of this study is already queued or running.")


class ExportJob(models.Model):
    """A background export of a release in one format; the status page polls this row."""

    release = models.ForeignKey(Release, on_delete=models.PROTECT, related_name="exports")
    format = models.CharField(max_length=8, choices=ExportFormat.choices)
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)  # percent
    file_path = models.CharField(max_length=500, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(progress__lte=100), name="export_progress_percent"),
            models.CheckConstraint(condition=Q(format__in=ExportFormat.values), name="export_format_valid"),
        ]

    def __str__(self) -> str:
        return f"{self.release} {self.format} ({self.status})"


class LockJob(models.Model):
    """A background lock of a study (analysis/releases.py: release_lock); the status page polls this row.

    Freezing a large study takes longer than a web request may last (gunicorn's 30 s), so the lock view queues a
    job and a Celery worker makes the release. At most one lock per study is queued or running at a time.
    """

    study = models.ForeignKey(Study, on_delete=models.PROTECT, related_name="lock_jobs")
    reason = models.TextField()
    #: Items of the lock's checklist (analysis/checklist.py) the requester locks with, each with its reason.
    overrides = models.JSONField(default=dict, blank=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.QUEUED)
    release = models.OneToOneField(
        Release, null=True, blank=True, on_delete=models.PROTECT, related_name="lock_job"
    )  # set in the lock's own transaction: a done job always has its release
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)  # by the worker; again by a redelivery
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            one_pending_per_study("lock_job", code="lock_pending", message=LOCK_PENDING),
            models.CheckConstraint(condition=~Q(reason=""), name="lock_job_reason_required"),
            models.CheckConstraint(
                condition=~Q(status=JobStatus.DONE) | Q(release__isnull=False), name="lock_job_done_has_release"
            ),
        ]

    def __str__(self) -> str:
        return f"lock of {self.study.code} ({self.status})"
