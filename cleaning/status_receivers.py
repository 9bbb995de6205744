"""The record status counts follow every committed change (cleaning/status_job.py): saves and deletions of the
one-per-day forms, of disposition events (a discharge, death, withdrawal or loss ends the daily forms), of queries, of
signatures (a new one, a broken one: the signatures list's state), and saves of a patient (a new patient, another
site or arm). Bulk writes send no signal: the rule job's writes of queries name their patients
(``refresh_after_commit``), an import's inserts send cohorts' ``records_created``. The patients changed in a
transaction are recomputed once, after its commit (cohorts/on_commit.py); a failure there is logged, and the hourly
run catches up. A new patient's row is created at once, empty, so that every patient has one.
"""

from __future__ import annotations

from django.db.models.signals import post_delete, post_save

from cleaning import status_job
from cleaning.models import Query, Signature
from cohorts.models import Patient
from cohorts.on_commit import PatientBatch, collect
from cohorts.signals import created_patient_ids, records_created
from ecrf.crfs import DAY_FORMS
from ecrf.models import DispositionEvent

#: Models whose rows carry a patient and change a cell's state or the state of its signatures.
SOURCES = (*(crf.model for crf in DAY_FORMS.values()), DispositionEvent, Query, Signature)


class RefreshStatus(PatientBatch):
    """Recompute the patients changed in the transaction, at once; a study most of whose patients it changed (an
    import) is rebuilt by a job of its own (status_tasks.status_rebuild_study)."""

    def run_patients(self, patient_ids: list[int]) -> None:
        status_job.refresh_patients(patient_ids)

    def run_study(self, study_id: int) -> None:
        from cleaning.status_tasks import status_rebuild_study

        status_rebuild_study.delay(study_id)


def _changed(sender, instance, using=None, **kwargs) -> None:
    if kwargs.get("raw"):  # loaddata: `manage.py record_status` afterwards
        return
    collect(RefreshStatus, instance.pk if sender is Patient else instance.patient_id, using)


def _created(sender, records, using=None, **kwargs) -> None:
    """Records inserted in bulk (an import): as a post_save of each, new patients' empty rows included."""
    if sender is Patient:
        status_job.create_empty_rows(records, using=using)
    for patient_id in created_patient_ids(sender, records):
        collect(RefreshStatus, patient_id, using)


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
        records_created.connect(_created, sender=model, dispatch_uid=f"record-status-{model.__name__}-bulk")
    post_save.connect(_patient_saved, sender=Patient, dispatch_uid="record-status-patient-save")
    records_created.connect(_created, sender=Patient, dispatch_uid="record-status-patient-bulk")
