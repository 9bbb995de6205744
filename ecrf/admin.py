"""The daily case report data in the admin: read-only.

Every change goes through ecrf/services.py (the clinical definitions §2.1 checks, the reason for change, the version
check and
the lock), so the admin lists and shows records and their audit trail but never adds, changes or deletes.
"""

from django.contrib import admin
from simple_history.admin import SimpleHistoryAdmin

from cohorts.admin import ReadOnlyAdminMixin
from ecrf.crfs import CATALOGUE
from ecrf.models import DerivedDay


class ReadOnlyAdmin(ReadOnlyAdminMixin, SimpleHistoryAdmin):
    list_filter = ("patient__study", "patient__site")
    search_fields = ("patient__participant_id",)
    list_select_related = ("patient",)
    ordering = ("patient__participant_id", "study_day")


for _crf in CATALOGUE.values():
    # Patient, day, the form's first values and the record's version (how many times it was changed).
    _columns = [name for name in _crf.value_fields if name != "study_day"][:5]
    admin.site.register(
        _crf.model,
        type(
            f"{_crf.model.__name__}Admin",
            (ReadOnlyAdmin,),
            {"list_display": ("patient", "study_day", *_columns, "version")},
        ),
    )


@admin.register(DerivedDay)
class DerivedDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Computed by the Celery job (ecrf/derivations.py); rebuilt from the sources, never edited."""

    list_display = ("patient", "study_day", "state", "ordinal_7", "pf", "pf_source", "algorithm_version")
    list_filter = ("patient__study", "algorithm_version")
    search_fields = ("patient__participant_id",)
    list_select_related = ("patient",)
