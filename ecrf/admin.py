"""The daily case report data in the admin: read-only.

Every change goes through ecrf/services.py (the SPEC 2.1 checks, the reason for change, the version check and
the lock), so the admin lists and shows records and their audit trail but never adds, changes or deletes.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from cohorts.admin import ReadOnlyAdminMixin
from ecrf.models import (
    AdverseEvent,
    DerivedDay,
    DispositionEvent,
    DrugAdministration,
    LabResult,
    RespiratorySupport,
    VitalSigns,
)


class ReadOnlyAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_filter = ("patient__study", "patient__site")
    search_fields = ("patient__participant_id",)
    list_select_related = ("patient",)
    ordering = ("patient__participant_id", "study_day")


@admin.register(VitalSigns)
class VitalSignsAdmin(ReadOnlyAdmin):
    list_display = ("patient", "study_day", "temperature_c", "heart_rate_bpm", "spo2_pct", "version")


@admin.register(RespiratorySupport)
class RespiratorySupportAdmin(ReadOnlyAdmin):
    list_display = ("patient", "study_day", "support", "fio2", "peep_cmh2o", "version")


@admin.register(LabResult)
class LabResultAdmin(ReadOnlyAdmin):
    list_display = ("patient", "study_day", "pao2_mmhg", "crp_mg_l", "ferritin_ng_ml", "version")


@admin.register(DrugAdministration)
class DrugAdministrationAdmin(ReadOnlyAdmin):
    list_display = ("patient", "study_day", "drug", "dose", "dose_unit", "route", "frequency", "stop_day")


@admin.register(DispositionEvent)
class DispositionEventAdmin(ReadOnlyAdmin):
    list_display = ("patient", "study_day", "kind", "alive", "normal_activities")


@admin.register(AdverseEvent)
class AdverseEventAdmin(ReadOnlyAdmin):
    list_display = ("patient", "study_day", "kind", "serious")


@admin.register(DerivedDay)
class DerivedDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Computed by the Celery job (ecrf/derivations.py); rebuilt from the sources, never edited."""

    list_display = ("patient", "study_day", "state", "ordinal_7", "pf", "pf_source", "algorithm_version")
    list_filter = ("patient__study", "algorithm_version")
    search_fields = ("patient__participant_id",)
    list_select_related = ("patient",)
