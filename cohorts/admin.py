"""Study set-up for administrators. Patients are enrolled through the screening form, not here."""

from django import forms
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from cohorts.audit import ensure_unlocked
from cohorts.models import Arm, Patient, Site, SiteMembership, Study


class ReadOnlyAdminMixin:
    """Lists and shows, never adds, changes or deletes: these rows are written by services and jobs only."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ArmInline(admin.TabularInline):
    model = Arm
    extra = 0


class StudyAdminForm(forms.ModelForm):
    def clean(self):
        # Refused in the form, so the change page shows the message instead of a server error (clinical definitions §5).
        if self.instance.pk is not None:
            ensure_unlocked(self.instance)
        return super().clean()


@admin.register(Study)
class StudyAdmin(SimpleHistoryAdmin):
    form = StudyAdminForm
    list_display = ("code", "title", "protocol", "follow_up_days", "primary_scale", "is_locked")
    readonly_fields = ("is_locked",)
    inlines = [ArmInline]

    def save_model(self, request, obj, form, change):
        if change:
            ensure_unlocked(obj)
        obj._change_reason = "study set-up (admin)"
        super().save_model(request, obj, form, change)


@admin.register(Site)
class SiteAdmin(SimpleHistoryAdmin):
    list_display = ("code", "name", "time_zone", "ast_uln_u_l", "alt_uln_u_l")
    filter_horizontal = ("studies",)


@admin.register(SiteMembership)
class SiteMembershipAdmin(SimpleHistoryAdmin):
    list_display = ("user", "site")
    list_filter = ("site",)


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ("participant_id", "study", "site", "arm", "enrolment_date", "status")
    list_filter = ("study", "site", "arm")
