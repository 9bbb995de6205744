"""The record status grid of a set of patients: every cell's state (cleaning/status.py) from the stored data.

One read per one-per-day form table and one of the waiting queries, for any number of patients: the dashboard
reads the grid of its page's patients, the status job (cleaning/status_job.py) the grids of a batch to count
their states, so the two always agree.

A patient's grid has a column per study day 0..follow-up, each with one cell per one-per-day form of the
catalogue (in its order), then one per repeating form, or for the day as a whole, where a query waits; the cells of
the queries about the patient as a whole (no study day) are kept apart. "Today" is the date at the patient's site
(cohorts/clock.py), as on the casebook; a form is missing from the day after its day, as in the protocol signals'
"missing forms for past days" (clinical definitions §3.3): today's forms are not yet due.
"""

from __future__ import annotations

import datetime
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import BooleanField, ExpressionWrapper, Q

from cleaning.models import Query, QueryStatus
from cleaning.status import cell_state
from cohorts.clock import site_today
from cohorts.models import Patient
from ecrf.crfs import DAY_FORMS, EVENT_FORMS, Crf
from ecrf.selectors import MISSING, day_state, study_day_today

#: The places of a day that have a cell only while a query on them waits: the repeating forms, then the day as a
#: whole (a query naming no form).
QUERY_ONLY_PLACES: tuple[str, ...] = (*EVENT_FORMS, "")


def not_done_condition(crf: Crf) -> Q:
    """Where a record of ``crf`` is marked not done: its ``not_done_reason`` is filled in (ecrf's missing-data
    codes)."""
    return ~Q(not_done_reason="")


def _flag(condition: Q) -> ExpressionWrapper:
    return ExpressionWrapper(condition, output_field=BooleanField())


@dataclass(slots=True)
class Cell:
    study_day: int | None
    form: str  # a catalogue key; "" for the day or the patient as a whole
    state: str
    #: The waiting (open or answered) queries of the cell, oldest first.
    queries: tuple[int, ...] = ()


@dataclass
class Grid:
    patient: Patient
    today_day: int
    #: Per study day 0..follow-up, its cells.
    days: list[list[Cell]]
    #: The cells of the queries about the patient as a whole.
    general: list[Cell]
    #: Today's one-per-day forms still to enter: required today (within the follow-up, before its end and the day
    #: of death) and not stored (a form marked not done is stored). The patient list shows these patients first.
    due_today: int = 0
    #: The investigator's signature of the casebook: signed, broken (changed after signing) or unsigned
    #: (cleaning.signatures; set by the page).
    signature: str = ""

    def counts(self) -> Counter[str]:
        """How many cells are in each state."""
        return Counter(cell.state for cells in (*self.days, self.general) for cell in cells)


def _records(ids: list[int]) -> dict[tuple[str, int, int], tuple[bool, bool]]:
    """(form key, patient id, study day) -> (confirmed soft check, marked not done) of every stored one-per-day
    record of the patients: one query per form."""
    stored = {}
    for key, crf in DAY_FORMS.items():
        rows = (
            crf.model.objects.filter(patient_id__in=ids, study_day__gte=0)
            .annotate(
                confirmed=_flag(~Q(confirmed_checks=[])),
                not_done=_flag(not_done_condition(crf)),
            )
            .values_list("patient_id", "study_day", "confirmed", "not_done")
            .order_by()
        )
        for patient_id, day, confirmed, not_done in rows:
            stored[key, patient_id, day] = (bool(confirmed), bool(not_done))
    return stored


def _waiting(ids: list[int]) -> dict[tuple[int, int | None, str], list[tuple[str, int]]]:
    """(patient id, study day, form) -> [(status, query id)] of the open and answered queries: one query."""
    places: dict[tuple[int, int | None, str], list[tuple[str, int]]] = defaultdict(list)
    rows = (
        Query.objects.filter(patient_id__in=ids, status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED])
        .values_list("patient_id", "study_day", "form", "status", "pk")
        .order_by("pk")
    )
    for patient_id, day, form, status, pk in rows:
        places[patient_id, day, form].append((status, pk))
    return places


def _cell(day: int | None, form: str, waiting: list[tuple[str, int]] | None, record=None, without_record=None):
    """The cell of a place: ``record`` (confirmed, not done) of a one-per-day form when stored, else the day's
    ``without_record`` state; ``waiting``: its waiting queries."""
    open_queries = sum(status == QueryStatus.OPEN for status, _ in waiting) if waiting else 0
    state = cell_state(
        without_record,
        stored=record is not None,
        confirmed=record is not None and record[0],
        not_done=record is not None and record[1],
        open_queries=open_queries,
        answered_queries=len(waiting) - open_queries if waiting else 0,
    )
    return None if state is None else Cell(day, form, state, tuple(pk for _, pk in waiting) if waiting else ())


def grids(patients: Sequence[Patient], *, now: datetime.datetime | None = None) -> list[Grid]:
    """The grids of ``patients`` (with ``death_day`` and ``end_day``: ecrf.selectors.with_follow_up_end; their
    site and study loaded), in their order: one query per one-per-day form and one for the queries."""
    ids = [patient.pk for patient in patients]
    if not ids:
        return []
    stored, waiting = _records(ids), _waiting(ids)
    todays: dict[int, datetime.date] = {}
    result = []
    for pk, patient in zip(ids, patients, strict=True):
        if patient.site_id not in todays:
            todays[patient.site_id] = site_today(patient.site, now)
        today_day = study_day_today(patient, todays[patient.site_id])
        days = []
        for day in range(patient.study.follow_up_days + 1):
            # Missing: a required day before today (today's forms are not late yet); the same for every form.
            without_record = day_state(patient, day, today_day - 1, None)
            cells = [
                _cell(day, key, waiting.get((pk, day, key)), stored.get((key, pk, day)), without_record)
                for key in DAY_FORMS
            ]
            cells += [_cell(day, key, waiting[pk, day, key]) for key in QUERY_ONLY_PLACES if (pk, day, key) in waiting]
            days.append(cells)
        general = waiting.get((pk, None, ""))
        due_today = 0
        in_follow_up = 0 <= today_day <= patient.study.follow_up_days
        if in_follow_up and day_state(patient, today_day, today_day, None) == MISSING:
            due_today = sum((key, pk, today_day) not in stored for key in DAY_FORMS)
        result.append(Grid(patient, today_day, days, [_cell(None, "", general)] if general else [], due_today))
    return result
