"""The record a query is about, and its value as the pages show it."""

from __future__ import annotations

from cohorts.clock import site_zone
from cohorts.models import Patient
from ecrf.crfs import CATALOGUE, Crf, display_value


def record_of(patient: Patient, crf: Crf, study_day: int | None, record_id: int | None = None):
    """The day's record of a one-per-day form, or the record ``record_id`` of a repeating form (None if absent)."""
    records = crf.model.objects.filter(patient=patient, study_day=study_day)
    if not crf.per_day:
        if record_id is None:
            return None
        records = records.filter(pk=record_id)
    return records.first()


def field_value(patient: Patient, crf: Crf, study_day: int | None, name: str, record_id: int | None = None) -> str:
    return display_value(record_of(patient, crf, study_day, record_id), name, site_zone(patient.site))


def field_label(form: str, name: str) -> str:
    """A field's name as the forms show it ("heart rate (/min)"), or "" for none."""
    if not form or not name:
        return ""
    return str(CATALOGUE[form].model._meta.get_field(name).verbose_name)
