"""The record status counts follow every committed change (cleaning/status_job.py): saves and deletions of the
one-per-day forms, of disposition events (a discharge, death, withdrawal or loss ends the daily forms), of queries,
and saves of a patient (a new patient, another site or arm); the rule job's bulk writes of queries, which send no
signal, name their patients (``refresh_after_commit``). The patients changed in a transaction are recomputed
once, after its commit (cohorts/on_commit.py); a failure there is logged, and the hourly run catches up. A new
patient's row is created at once, empty, so that every patient has one.
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


def refresh_after_commit(patient_ids) -> None:
    """For writes that send no signal (the rule job's bulk writes of queries): these patients are recomputed after
    the commit, with the transaction's other changes."""
    for pk in patient_ids:
        collect(RefreshStatus, int(pk))


def _patient_saved(sender, instance, created=False, using=None, **kwargs) -> None:
    """A new patient gets its row at once, in its own transaction (not computed yet: ``as_of`` is empty), so that
    the patient list (cleaning/status_selectors.py) finds every patient among the rows it orders."""
    if created and not kwargs.get("raw"):
        status_job.create_empty_rows([instance], using=using)
    _changed(sender, instance, using=using, **kwargs)


def connect() -> None:
    for model in SOURCES:
        post_save.connect(_changed, sender=model, dispatch_uid=f"record-status-{model.__name__}-save")
        post_delete.connect(_changed, sender=model, dispatch_uid=f"record-status-{model.__name__}-delete")
    post_save.connect(_patient_saved, sender=Patient, dispatch_uid="record-status-patient-save")
