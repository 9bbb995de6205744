"""Keeping the record status counts up to date, so that the dashboard never counts a whole study per request.

Per patient, ``PatientRecordStatus`` holds how many cells of its grid (cleaning/status_grid.py) are in each state
and the state of its casebook's signatures; per study, site and arm, ``SiteRecordStatus`` holds their sums (cells
per state, patients with the state, patients per signature state, patients).

- **After every committed change** of a patient's one-per-day forms, disposition events (which end the follow-up),
  queries or signatures (signed, broken), and of the patient itself, ``refresh_patients`` recomputes the patients
  changed in the transaction (cleaning/status_receivers.py). A batch is read with one query per form table and one
  for the queries and one for the signatures, whatever its size, and written with one upsert; the per-site sums move
  by the difference between each patient's old and new counts (one UPDATE per study, site and arm touched), so a
  save costs the same in a study of any size.
- **When a new day begins** at a site, the days that fall due change states with no save: ``refresh_due`` (the
  hourly task) recomputes every patient whose counts were computed for an earlier date at its site, or for another
  follow-up, or never, and then recounts the sums of the studies it touched from the patients' rows.
- ``rebuild_study`` (``manage.py record_status``) recomputes every patient of a study and its sums.

Concurrency: a batch locks its patients' rows (``SELECT ... FOR UPDATE``, in patient order) before reading the
data, so two recomputations of a patient write in the order they read; the sums are updated by increments
(``n = n + delta``), never read and written back, and a recount locks the study's sum rows first.
"""

from __future__ import annotations

import datetime
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone

from cleaning.models import SIGNATURE_STATES, PatientRecordStatus, SiteRecordStatus
from cleaning.signature_state import signature_states
from cleaning.status import CODES
from cleaning.status_grid import grids
from cohorts.clock import site_today
from cohorts.models import Patient, Site, Study
from ecrf.selectors import with_follow_up_end

logger = logging.getLogger(__name__)

#: Patients per transaction of a whole-study run.
BATCH_PATIENTS = 2000

COUNT_FIELDS = tuple(f"n_{code}" for code in CODES)
PATIENT_FIELDS = tuple(f"p_{code}" for code in CODES)
SIGNATURE_FIELDS = tuple(f"s_{state}" for state in SIGNATURE_STATES)
_WRITTEN = (
    "study",
    "site",
    "arm",
    "participant_id",
    "as_of",
    "follow_up_days",
    "computed_at",
    "n_due_today",
    "signature",
    *COUNT_FIELDS,
)

Group = tuple[int, int, int]  # study, site, arm


@dataclass
class RefreshSummary:
    """What a run did, for the command's output and the task's result."""

    patients: int = 0
    studies: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {"patients": self.patients, "studies": self.studies}


def _contribution(row: PatientRecordStatus) -> Counter[str]:
    """What one patient's row adds to the sums of its study, site and arm (nothing before its first computation)."""
    if row.as_of is None:
        return Counter()
    counts = {name: getattr(row, name) for name in COUNT_FIELDS}
    return Counter(
        {
            "patients": 1,
            **counts,
            **{f"p_{code}": 1 for code in CODES if counts[f"n_{code}"] > 0},
            f"s_{row.signature}": 1,
        }
    )


def refresh_patients(patient_ids: Iterable[int], *, now: datetime.datetime | None = None) -> int:
    """Recompute the counts of these patients (and the sums they belong to); returns how many were recomputed."""
    ids = sorted(set(patient_ids))
    done = 0
    for start in range(0, len(ids), BATCH_PATIENTS):
        done += _refresh_batch(ids[start : start + BATCH_PATIENTS], now or timezone.now())
    return done


def create_empty_rows(patients: Iterable[Patient], using: str | None = None) -> None:
    """Rows not computed yet (``as_of`` empty, no contribution to the sums) for patients that have none."""
    PatientRecordStatus.objects.using(using).bulk_create(
        [
            PatientRecordStatus(
                patient_id=patient.pk,
                study_id=patient.study_id,
                site_id=patient.site_id,
                arm_id=patient.arm_id,
                participant_id=patient.participant_id,
            )
            for patient in patients
        ],
        ignore_conflicts=True,
    )


@transaction.atomic
def _refresh_batch(ids: list[int], now: datetime.datetime) -> int:
    # A patient seen for the first time gets an empty row that can be locked.
    create_empty_rows(Patient.objects.filter(pk__in=ids).only("study", "site", "arm", "participant_id"))
    rows = {
        row.patient_id: row
        for row in PatientRecordStatus.objects.select_for_update().filter(patient_id__in=ids).order_by("patient_id")
    }
    patients = list(with_follow_up_end(Patient.objects.filter(pk__in=ids)).select_related("site", "study"))
    signatures = signature_states(ids)
    deltas: dict[Group, Counter[str]] = defaultdict(Counter)
    for grid in grids(patients, now=now):
        patient, row = grid.patient, rows[grid.patient.pk]
        deltas[row.study_id, row.site_id, row.arm_id].subtract(_contribution(row))
        row.study_id, row.site_id, row.arm_id = patient.study_id, patient.site_id, patient.arm_id
        row.participant_id = patient.participant_id
        row.as_of = site_today(patient.site, now)
        row.follow_up_days = patient.study.follow_up_days
        row.computed_at = now
        row.n_due_today = grid.due_today
        row.signature = signatures[patient.pk]
        counts = grid.counts()
        for code in CODES:
            setattr(row, f"n_{code}", counts[code])
        deltas[row.study_id, row.site_id, row.arm_id].update(_contribution(row))
    changed = [rows[patient.pk] for patient in patients]
    PatientRecordStatus.objects.bulk_create(
        changed, update_conflicts=True, unique_fields=["patient"], update_fields=list(_WRITTEN)
    )
    _add(deltas, now)
    return len(changed)


def _add(deltas: dict[Group, Counter[str]], now: datetime.datetime) -> None:
    """Move the per-site sums by the differences (in a fixed order, so two batches never wait on each other)."""
    moved = {group: {name: n for name, n in delta.items() if n} for group, delta in deltas.items()}
    moved = {group: delta for group, delta in moved.items() if delta}
    if not moved:
        return
    SiteRecordStatus.objects.bulk_create(
        [SiteRecordStatus(study_id=study, site_id=site, arm_id=arm) for study, site, arm in moved],
        ignore_conflicts=True,
    )
    for (study, site, arm), delta in sorted(moved.items()):
        SiteRecordStatus.objects.filter(study_id=study, site_id=site, arm_id=arm).update(
            **{name: F(name) + n for name, n in delta.items()}, updated_at=now
        )


@transaction.atomic
def recount(study: Study, *, now: datetime.datetime | None = None) -> None:
    """The study's per-site sums recounted from its patients' rows (after a whole run; it corrects any drift, e.g.
    a deleted patient)."""
    existing = list(SiteRecordStatus.objects.select_for_update().filter(study=study).order_by("pk"))
    # The aliases must not be field names: Q(n_missing__gt=0) would then refer to the sum.
    sums = (
        PatientRecordStatus.objects.filter(study=study, as_of__isnull=False)
        .values("site_id", "arm_id")
        .annotate(
            sum_patients=Count("pk"),
            **{f"sum_{name}": Sum(name) for name in COUNT_FIELDS},
            **{f"sum_p_{code}": Count("pk", filter=Q(**{f"n_{code}__gt": 0})) for code in CODES},
            **{f"sum_s_{state}": Count("pk", filter=Q(signature=state)) for state in SIGNATURE_STATES},
        )
        .order_by()
    )
    at = now or timezone.now()
    fresh = [
        SiteRecordStatus(
            study=study,
            site_id=row.pop("site_id"),
            arm_id=row.pop("arm_id"),
            updated_at=at,
            **{name.removeprefix("sum_"): n for name, n in row.items()},
        )
        for row in sums
    ]
    kept = {(row.site_id, row.arm_id) for row in fresh}
    gone = [row.pk for row in existing if (row.site_id, row.arm_id) not in kept]
    SiteRecordStatus.objects.filter(pk__in=gone).delete()
    SiteRecordStatus.objects.bulk_create(
        fresh,
        update_conflicts=True,
        unique_fields=["study", "site", "arm"],
        update_fields=["patients", *COUNT_FIELDS, *PATIENT_FIELDS, *SIGNATURE_FIELDS, "updated_at"],
    )


def rebuild_study(study: Study, *, now: datetime.datetime | None = None) -> RefreshSummary:
    """Every patient of the study recomputed, then its sums recounted."""
    patients = refresh_patients(Patient.objects.filter(study=study).values_list("pk", flat=True), now=now)
    recount(study, now=now)
    return RefreshSummary(patients=patients, studies=[study.code])


def stale_patients(*, now: datetime.datetime | None = None) -> dict[int, int]:
    """Patient id -> study id of the patients whose counts are not those of today at their site: computed for
    another date or another follow-up, or never."""
    stale = dict(Patient.objects.filter(record_status__isnull=True).values_list("pk", "study_id"))
    for site in Site.objects.order_by("pk"):
        stale.update(
            PatientRecordStatus.objects.filter(patient__site=site)
            .filter(
                Q(as_of__isnull=True)
                | ~Q(as_of=site_today(site, now))
                | ~Q(follow_up_days=F("patient__study__follow_up_days"))
            )
            .values_list("patient_id", "patient__study_id")
        )
    return stale


def refresh_due(*, now: datetime.datetime | None = None) -> RefreshSummary:
    """The hourly run: recompute the stale patients (every patient once a day, just after its site's midnight),
    then recount the sums of their studies."""
    stale = stale_patients(now=now)
    done = refresh_patients(stale, now=now)
    studies = list(Study.objects.filter(pk__in=set(stale.values())).order_by("code"))
    for study in studies:
        recount(study, now=now)
    return RefreshSummary(patients=done, studies=[study.code for study in studies])
