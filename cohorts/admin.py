"""Study set-up for administrators. Patients are enrolled through the screening form, not here."""

from django import forms
from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from cohorts.audit import ensure_unlocked
from cohorts.constraints import WithinLimit
from cohorts.models import Arm, Patient, RoleAssignment, Site, Study


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


class LimitedNumbersForm(forms.ModelForm):
    """A number with a row in the limits table is refused with that row's range (cohorts.constraints.WithinLimit),
    in place of Django's bounds and digit counts ("Ensure that there are no more than 6 digits in total"): the
    form field keeps only the model field's WithinLimit validator, and a refused field is not validated again by
    the model."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        model_fields = {f.name: f for f in self._meta.model._meta.concrete_fields}
        for name, field in self.fields.items():
            within = [v for v in getattr(model_fields.get(name), "validators", []) if _is_limit(v)]
            if within:
                field.validators = within
                field.widget.attrs = {k: v for k, v in field.widget.attrs.items() if k not in ("min", "max")}


def _is_limit(validator) -> bool:
    return isinstance(validator, WithinLimit)


class StudyAdminForm(LimitedNumbersForm):
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
    form = LimitedNumbersForm
    list_display = ("code", "name", "time_zone", "ast_uln_u_l", "alt_uln_u_l")
    filter_horizontal = ("studies",)


@admin.register(RoleAssignment)
class RoleAssignmentAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    """Read here; given, changed and ended on the study team page, with a reason (cohorts/team.py)."""

    list_display = ("user", "study", "role", "all_sites", "created_at", "ended_at")
    list_filter = ("study", "role")


@admin.register(Patient)
class PatientAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_display = ("participant_id", "study", "site", "arm", "enrolment_date", "status")
    list_filter = ("study", "site", "arm")
