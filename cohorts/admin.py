"""The Django admin reads study data; it changes none of it. Studies, arms and sites are set up on the set-up
pages (cohorts/setup.py), roles on the study team page (cohorts/team.py), patients through the screening form."""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from cohorts.models import Arm, Patient, RoleAssignment, Site, Study


class ReadOnlyAdminMixin:
    """Lists and shows, never adds, changes or deletes: these rows are written by services and jobs only."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ArmInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Arm
    extra = 0


@admin.register(Study)
class StudyAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Read here. Studies, arms and sites are created and changed on the set-up pages (cohorts/setup.py), with
    their checks, reasons and lock: one way to change them."""

    list_display = ("code", "title", "protocol", "follow_up_days", "primary_scale", "is_locked")
    inlines = [ArmInline]


@admin.register(Site)
class SiteAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ("code", "name", "time_zone", "ast_uln_u_l", "alt_uln_u_l")


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Read here; given, changed and ended on the study team page, with a reason (cohorts/team.py)."""

    list_display = ("user", "study", "role", "all_sites", "created_at", "ended_at")
    list_filter = ("study", "role")


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ("participant_id", "study", "site", "arm", "enrolment_date", "status")
    list_filter = ("study", "site", "arm")
