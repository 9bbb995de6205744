"""One after-commit callback per transaction that collects what the transaction changed.

A receiver that must react to committed changes (recompute a patient's derived days, its record status, ...) calls
``collect(<its Batch subclass>, item)`` on every change: the first call of a transaction registers ONE
``transaction.on_commit`` callback, later ones add their item to it, so a request, an import or an enrolment that
changes many rows runs the reaction once, after the commit, with every item. The callback is found again in the
connection's pending on-commit list, so a rolled-back savepoint drops it together with Django's own bookkeeping
(no module state). Outside a transaction (autocommit) it runs at once.

The callback is robust: a failure is logged and does not turn a committed save into a server error (each user of
this module has a periodic run that catches up).
"""

from __future__ import annotations

from django.db import transaction

from cohorts.selectors import patient_ids_by_study, study_sizes


class Batch:
    """The items of one transaction and what to do with them after its commit (``run``)."""

    def __init__(self) -> None:
        self.items: list = []
        #: Run already (a test's captured callbacks run before the test's transaction ends): a later change
        #: needs a callback of its own.
        self.done = False

    def __call__(self) -> None:
        self.done = True
        self.run(self.items)

    def run(self, items: list) -> None:
        raise NotImplementedError


class PatientBatch(Batch):
    """A Batch of patient ids. A transaction that changed most of a study's patients (an import of a whole study)
    hands that study to one study-wide job (``run_study``), cheaper than a job per patient; the other patients go to
    ``run_patients``. Most of a study: at least ``STUDY_JOB_FROM`` of its patients and at least half of them."""

    def run(self, items: list) -> None:
        ids = sorted(set(items))
        rest: list[int] = ids
        if len(ids) >= STUDY_JOB_FROM:
            rest = []
            by_study = patient_ids_by_study(ids)
            sizes = study_sizes(by_study)
            for study_id, patients in by_study.items():
                if len(patients) >= STUDY_JOB_FROM and 2 * len(patients) >= sizes[study_id]:
                    self.run_study(study_id)
                else:
                    rest.extend(patients)
        if rest:
            self.run_patients(rest)

    def run_patients(self, patient_ids: list[int]) -> None:
        raise NotImplementedError

    def run_study(self, study_id: int) -> None:
        raise NotImplementedError


#: The number of a study's patients changed in one transaction from which PatientBatch hands the study to a
#: study-wide job (when they are half of it or more).
STUDY_JOB_FROM = 1000


def collect(kind: type[Batch], item, using: str | None = None) -> None:
    """Add ``item`` to the pending ``kind`` callback of the current transaction, registering it on the first."""
    connection = transaction.get_connection(using)
    if connection.in_atomic_block:
        for _savepoints, callback, _robust in reversed(connection.run_on_commit):
            if isinstance(callback, kind) and not callback.done:
                callback.items.append(item)
                return
    callback = kind()
    callback.items.append(item)
    transaction.on_commit(callback, using=using, robust=True)
