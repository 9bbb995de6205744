"""The cleaning app's receivers: saved data changes into the threads of their queries, and the query badges that
ecrf's pages ask for through ecrf.page_notes (ecrf never imports this app).

Data changes: every history row of a case report form (django-simple-history's post_create_historical_record) is
collected per transaction, and after the commit the queries about those records get one 'data changed' message
each, naming the values and the reason for change, with a link to the record's audit trail; a closed query is
flagged 'changed after close'. One callback per transaction and one read of the queries of the changed patients,
so an import of many rows costs one query more, not one per row (the records an import creates in bulk come as
cohorts' ``records_created``, and only their history ids are kept until the commit). The same callback breaks the
casebook signatures whose signed data changed (cleaning/signatures.py), from the same rows and those of the
patients' baseline, and marks changed the source data verifications whose verified values changed (cleaning/sdv.py).
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import models, transaction
from simple_history.signals import post_create_historical_record

from cleaning import notes, sdv, services, signatures
from cleaning.models import Query, Signature, SourceVerification
from cohorts.models import Patient
from cohorts.on_commit import Batch, collect
from cohorts.signals import created_patient_ids, records_created
from ecrf import page_notes
from ecrf.crfs import CATALOGUE, crf_of

BASELINE = ""  # the form key of a patient's history row (its baseline)


#: History rows of records created in bulk read back per step after the commit (their memory stays bounded).
CREATED_CHUNK = 5000


@dataclass(frozen=True)
class _Created:
    """Records of a form created in bulk (an import): only the ids of their history rows and their patients are kept
    until the commit, not the rows (a whole study's rows would not fit in memory)."""

    key: str
    history_model: type[models.Model]
    ids: array
    patient_ids: frozenset[int]

    def chunks(self) -> Iterator[list[tuple[str, models.Model]]]:
        """The history rows, a chunk at a time: only those of patients with a query, a signature or a source data
        verification (the records of any other patient have nothing to change: a new study's import reads none)."""
        concerned = _with_cleaning_data(self.patient_ids)
        if not concerned:
            return
        for start in range(0, len(self.ids), CREATED_CHUNK):
            ids = self.ids[start : start + CREATED_CHUNK].tolist()
            rows = self.history_model.objects.filter(pk__in=ids).order_by("pk")
            if len(concerned) <= CREATED_CHUNK:  # else filtered here: a long list of ids makes a slow statement
                rows = rows.filter(patient_id__in=concerned)
            yield [(self.key, row) for row in rows if row.patient_id in concerned]


def _with_cleaning_data(patient_ids: frozenset[int]) -> set[int]:
    """The patients among ``patient_ids`` with a query, a signature or a source data verification of any kind: a
    superset of those the change feed (signatures, query threads, verifications) can act on."""
    ids, found = sorted(patient_ids), set()
    for start in range(0, len(ids), CREATED_CHUNK):
        chunk = ids[start : start + CREATED_CHUNK]
        for model in (Query, Signature, SourceVerification):
            found.update(model.objects.filter(patient_id__in=chunk).values_list("patient_id", flat=True).distinct())
    return found


class _ChangesOnCommit(Batch):
    """The one on-commit callback of a transaction: the (form key, history row) of the case report forms saved in
    it, and of the patients (BASELINE), and the records created in bulk (_Created, read back a chunk at a time).
    Robust (cohorts/on_commit.py): a failure to write a thread message or to break a signature must not turn a
    committed save into a server error."""

    def run(self, items: list) -> None:
        saved = [item for item in items if not isinstance(item, _Created)]
        self._changes([(key, row) for key, row in saved if key != BASELINE], [r for k, r in saved if k == BASELINE])
        for created in (item for item in items if isinstance(item, _Created)):
            for forms in created.chunks():
                self._changes(forms, [])

    @staticmethod
    def _changes(forms: list, baseline: list) -> None:
        with transaction.atomic():
            signatures.changes_break(forms, baseline)
        with transaction.atomic():
            services.changes_record(forms)
        with transaction.atomic():
            sdv.changes_mark(forms)


def _collect(sender, instance, history_instance, using=None, **kwargs) -> None:
    if isinstance(instance, Patient):
        if history_instance.history_type == "+":
            return  # an enrolment: nothing about it is signed yet
        key = BASELINE
    else:
        key = crf_of(type(instance)).key
    collect(_ChangesOnCommit, (key, history_instance), using)


def _collect_created(sender, records, history_ids, using=None, **kwargs) -> None:
    patients = frozenset(created_patient_ids(sender, records))
    created = _Created(crf_of(sender).key, sender.history.model, array("q", history_ids), patients)
    collect(_ChangesOnCommit, created, using)


def connect() -> None:
    for crf in CATALOGUE.values():
        post_create_historical_record.connect(
            _collect, sender=crf.model.history.model, dispatch_uid=f"cleaning-changes-{crf.key}"
        )
        records_created.connect(_collect_created, sender=crf.model, dispatch_uid=f"cleaning-created-{crf.key}")
    post_create_historical_record.connect(
        _collect, sender=Patient.history.model, dispatch_uid="cleaning-changes-baseline"
    )
    page_notes.day_page.connect(notes.day_page, dispatch_uid="cleaning-day-page-notes")
    page_notes.casebook.connect(notes.casebook, dispatch_uid="cleaning-casebook-notes")


connect()
