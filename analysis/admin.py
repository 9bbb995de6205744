"""Releases and their background jobs in the admin: read-only.

A release is made by the lock (analysis/releases.py) and never changed; lock and export jobs are written by their
Celery tasks. The admin lists them so that an administrator can see a job that waits, runs or failed, and why.
A queued lock is cancelled from its own page (analysis/views.py: lock_cancel), not here.
"""

from django.contrib import admin

from analysis.models import ExportJob, LockJob, Release
from cohorts.admin import ReadOnlyAdminMixin


@admin.register(Release)
class ReleaseAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("study", "version", "locked_at", "locked_by", "unlocked_at")
    list_filter = ("study",)
    list_select_related = ("study", "locked_by")


@admin.register(LockJob)
class LockJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("study", "status", "requested_by", "created_at", "finished_at", "release", "error")
    list_filter = ("status", "study")
    list_select_related = ("study", "requested_by", "release__study")


@admin.register(ExportJob)
class ExportJobAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ("release", "format", "status", "progress", "requested_by", "created_at", "finished_at", "error")
    list_filter = ("status", "format")
    list_select_related = ("release__study", "requested_by")
