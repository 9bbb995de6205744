"""The record status counts follow every committed change (cleaning/status_job.py): saves and deletions of the
one-per-day forms, of disposition events (a discharge, death, withdrawal or loss ends the daily forms), of queries,
and saves of a patient (a new patient, another site or arm). The patients changed in a transaction are recomputed
once, after its commit (cohorts/on_commit.py); a failure there is logged, and the hourly run catches up.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from cleaning import status_job
from cleaning.models import Query
from cohorts.models import Patient
from cohorts.on_commit import Batch, collect
from ecrf.crfs import DAY_FORMS
from ecrf.models import DispositionEvent

#: Models whose rows carry a patient and change a cell's state.
SOURCES = (*(crf.model for crf in DAY_FORMS.values()), DispositionEvent, Query)


class RefreshStatus(Batch):
    def run(self, items: list) -> None:
        status_job.refresh_patients(items)


def _changed(sender, instance, using=None, **kwargs) -> None:
    if kwargs.get("raw"):  # loaddata: `manage.py record_status` afterwards
        return
    collect(RefreshStatus, instance.pk if sender is Patient else instance.patient_id, using)


def connect() -> None:
    for model in SOURCES:
        post_save.connect(_changed, sender=model, dispatch_uid=f"record-status-{model.__name__}-save")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"record-status-{model.__name__}-delete")
    post_save.connect(_changed, sender=Patient, dispatch_uid="record-status-patient-save")
