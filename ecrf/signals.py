"""Recompute a patient's derived days when its source data change (clinical definitions §3), once per transaction.

Every committed save or delete of a source form (or of the patient) enqueues ``derive_patient`` after the commit
(``transaction.on_commit``: the worker must see the data, and a rolled-back save enqueues nothing).

Coalescing within a transaction (one request, one import, one enrolment; cohorts/on_commit.py): the first change
registers ONE on-commit callback holding the patient ids; later changes in the same transaction add to it, so a
burst of saves enqueues one job per patient. The callback is found again in the connection's pending on-commit
list, so a rolled-back savepoint drops it together with Django's own bookkeeping (no stale module state).

Across transactions (two requests a second apart) nothing is merged on purpose: the second job must read the
second commit, and merging would need shared state between web processes (the default cache is per process).
The job is idempotent and costs a few milliseconds per patient (bench/derive.py), so a duplicate is harmless;
acks_late and one worker prefetch keep the queue from reordering an older job after a newer one's effect.
"""

from django.db.models.signals import post_delete, post_save
from django.utils.translation import gettext as _

from cohorts.models import Patient
from cohorts.on_commit import PatientBatch, collect
from cohorts.signals import created_patient_ids, follow_up_check, records_created, study_settings_check
from ecrf import derivations, selectors
from ecrf.crfs import CATALOGUE

#: The forms whose saves recompute the patient (the catalogue's triggers_derivation): the sources of
#: derivations.derive, plus adverse events, which the release's staleness check (analysis) counts.
SOURCE_MODELS = tuple(crf.model for crf in CATALOGUE.values() if crf.triggers_derivation)


class _EnqueueOnCommit(PatientBatch):
    """The one on-commit callback of a transaction: enqueue derive_patient for each patient changed in it, or
    derive_study for a study most of whose patients it changed (an import)."""

    def run_patients(self, patient_ids: list[int]) -> None:
        from ecrf.tasks import derive_patient

        for patient_id in patient_ids:
            derive_patient.delay(patient_id)

    def run_study(self, study_id: int) -> None:
        from ecrf.tasks import derive_study

        derive_study.delay(study_id)


def schedule_derivation(patient_id: int, using: str | None = None) -> None:
    """Recompute ``patient_id`` after the current transaction commits (at once in autocommit). The callback is
    robust: a broker outage must not turn a committed save into a server error; the nightly run catches up."""
    collect(_EnqueueOnCommit, patient_id, using)


def _source_changed(sender, instance, using=None, **kwargs) -> None:
    if kwargs.get("raw"):  # loaddata: fixtures are derived by the command afterwards
        return
    schedule_derivation(instance.patient_id, using)


def _records_created(sender, records, using=None, **kwargs) -> None:
    for patient_id in created_patient_ids(sender, records):
        schedule_derivation(patient_id, using)


def _patient_changed(sender, instance, using=None, **kwargs) -> None:
    # Enrolment creates the patient (and its day-0 records in the same transaction: still one job); a deleted
    # patient's derived rows go with it (CASCADE), so there is no post_delete receiver.
    if kwargs.get("raw"):
        return
    schedule_derivation(instance.pk, using)


def check_study_settings(sender, settings, **kwargs) -> list[tuple[str, str]]:
    """The ``derivation`` section of a study's settings, for the study set-up (cohorts.signals.study_settings_check)."""
    problems = derivations.settings_problems(settings.get("derivation"))
    return [(f"derivation.{key}" if key else "derivation", message) for key, message in problems]


def check_follow_up(sender, study, follow_up_days: int, **kwargs) -> str | None:
    """A follow-up shortened to ``follow_up_days`` (cohorts.signals.follow_up_check): refused while a record of the
    study is dated after it."""
    latest = selectors.latest_record_after(study=study, study_day=follow_up_days)
    if latest is None:
        return None
    return _(
        "%(participant)s has a record of %(form)s dated study day %(day)s: the follow-up cannot end before it "
        "(correct or delete the records after day %(last)s first)."
    ) % {"form": latest.form, "participant": latest.participant_id, "day": latest.study_day, "last": follow_up_days}


def connect() -> None:
    study_settings_check.connect(check_study_settings, dispatch_uid="derivation-settings-check")
    follow_up_check.connect(check_follow_up, dispatch_uid="records-follow-up-check")
    for model in SOURCE_MODELS:
        post_save.connect(_source_changed, sender=model, dispatch_uid=f"derive-{model.__name__}-save")
        post_delete.connect(_source_changed, sender=model, dispatch_uid=f"derive-{model.__name__}-delete")
        records_created.connect(_records_created, sender=model, dispatch_uid=f"derive-{model.__name__}-bulk")
    post_save.connect(_patient_changed, sender=Patient, dispatch_uid="derive-patient-save")
    records_created.connect(_records_created, sender=Patient, dispatch_uid="derive-patient-bulk")
