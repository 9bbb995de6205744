"""Every read of daily case report data a page needs, site-scoped through cohorts.selectors (docs/architecture.md).

Each page runs a fixed number of queries whatever the size of the study: one per form table, never one per
patient or per day.
"""

from __future__ import annotations

import datetime
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from django.db import NotSupportedError
from django.db.models import (
    BooleanField,
    Case,
    DateField,
    F,
    Func,
    IntegerField,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext as _

from cohorts import roles
from cohorts import selectors as cohort_selectors
from cohorts.clock import site_today, site_zone
from cohorts.models import Patient, PatientFreeze, Site, Study
from ecrf.checks import format_number
from ecrf.crfs import CATALOGUE, DAY_FORMS, EVENT_FORMS, Crf, crf_of, is_not_done
from ecrf.derivations import STATES
from ecrf.models import (
    MISSING_CODE_ABBREVIATIONS,
    DerivedDay,
    DispositionEvent,
    DispositionKind,
    DrugAdministration,
    ImportJob,
    MissingCode,
    VentilationEpisode,
)
from ecrf.validators import ENDS_DAILY_FORMS


def _at(moment, zone) -> str:
    """ " at 22:30": a record's time as the clock time at the site, or nothing when it has none."""
    if moment is None or zone is None:
        return ""
    return " " + _("at %(time)s") % {"time": f"{moment.astimezone(zone):%H:%M}"}


def event_label(record, zone: datetime.tzinfo | None = None) -> str:
    """A repeating form's record in a few words, for the casebook; its times at the site's ``zone``."""
    if isinstance(record, VentilationEpisode):
        values = {"start": _at(record.intubated_at, zone), "end": _at(record.ended_at, zone)}
        if record.end_day is None:
            return _("Intubated%(start)s, on the ventilator") % values
        values.update(day=record.end_day, how=str(record.get_end_reason_display()).lower() or _("ended"))
        return _("Intubated%(start)s; %(how)s on day %(day)s%(end)s") % values
    if isinstance(record, DrugAdministration):
        values = {
            "drug": record.drug_detail or record.get_drug_display(),
            "dose": format_number(record.dose),
            "unit": record.dose_unit,
            "route": _("oral") if record.route == "oral" else record.route.upper(),
            "frequency": record.frequency,
            "stop_day": record.stop_day,
        }
        if record.stop_day is not None:
            return _("%(drug)s %(dose)s %(unit)s %(route)s %(frequency)s, to day %(stop_day)s") % values
        return _("%(drug)s %(dose)s %(unit)s %(route)s %(frequency)s, ongoing") % values
    if isinstance(record, DispositionEvent):
        text = str(record.get_kind_display()) + _at(record.occurred_at, zone)
        if record.cause_of_death:
            text += f": {record.cause_of_death}"
        if record.alive is not None and record.kind == DispositionKind.CONTACT:
            text += ": " + (_("alive") if record.alive else _("dead"))
        if record.normal_activities is not None:
            text += ", " + (_("normal activities") if record.normal_activities else _("not back to normal activities"))
        return text
    text = str(record.get_kind_display())
    detail = record.organism or record.description
    if detail:
        text += f" ({detail})"
    return text + (", " + _("serious") if record.serious else "")


def _first_day(kinds) -> Subquery:
    return Subquery(
        DispositionEvent.objects.filter(patient=OuterRef("pk"), kind__in=list(kinds))
        .order_by()
        .values("patient")
        .annotate(day=Min("study_day"))
        .values("day")[:1],
        output_field=IntegerField(),
    )


def with_follow_up_end(patients: QuerySet[Patient], *, named: bool = False) -> QuerySet[Patient]:
    """Annotate death_day and end_day (first death, discharge, withdrawal or loss: no daily form is due after);
    ``named``: also end_kind, the first discharge, withdrawal or loss, for the pages that name what ended the
    follow-up of a patient alive."""
    patients = patients.annotate(death_day=_first_day([DispositionKind.DEATH]), end_day=_first_day(ENDS_DAILY_FORMS))
    if not named:
        return patients
    leaving = sorted(ENDS_DAILY_FORMS - {DispositionKind.DEATH})
    return patients.annotate(
        end_kind=Subquery(
            DispositionEvent.objects.filter(patient=OuterRef("pk"), kind__in=leaving)
            .order_by("study_day", "pk")
            .values("kind")[:1]
        )
    )


def patient_get(*, user, pk: int) -> Patient:
    """The patient (site-scoped: another site's patient is a 404) with the days that end the follow-up and, as
    ``frozen_since``, when a data manager froze the casebook (None: not frozen)."""
    frozen = PatientFreeze.objects.filter(patient=OuterRef("pk"), unfrozen_at__isnull=True).values("frozen_at")[:1]
    try:
        return (
            with_follow_up_end(cohort_selectors.patient_list(user=user), named=True)
            .annotate(frozen_since=Subquery(frozen))
            .get(pk=pk)
        )
    except (Patient.DoesNotExist, ValueError, TypeError):
        raise Http404(_("No such patient at your sites.")) from None


def study_day_today(patient: Patient, today: datetime.date | None = None) -> int:
    """The study day that today is at the patient's site (cohorts/clock.py), or at ``today``."""
    return ((today or site_today(patient.site)) - patient.enrolment_date).days


def day_date(patient: Patient, study_day: int) -> datetime.date:
    return patient.enrolment_date + datetime.timedelta(days=study_day)


def check_day(patient: Patient, study_day: int) -> None:
    """A study day outside 0..follow-up has no page (404)."""
    if not 0 <= study_day <= patient.study.follow_up_days:
        raise Http404(
            _("Study day %(day)s is outside the follow-up of 0 to %(last_day)s.")
            % {"day": study_day, "last_day": patient.study.follow_up_days}
        )


@dataclass
class DayRecords:
    """The one-per-day records of a study day and of the day before (for reference), by form key."""

    current: dict[str, Any] = field(default_factory=dict)
    previous: dict[str, Any] = field(default_factory=dict)


def day_records(*, patient: Patient, study_day: int) -> DayRecords:
    """One query per form: the records of the day and the day before."""
    records = DayRecords()
    for key, crf in DAY_FORMS.items():
        for record in crf.model.objects.filter(patient=patient, study_day__in=[study_day - 1, study_day]):
            (records.current if record.study_day == study_day else records.previous)[key] = record
    return records


def event_get(*, patient: Patient, crf: Crf, pk: int):
    """One record of a repeating form (drug administration, disposition, adverse event) of this patient, or 404."""
    model = crf.model
    try:
        return model.objects.get(patient=patient, pk=pk)
    except (model.DoesNotExist, ValueError, TypeError):
        raise Http404(_("No such record for this patient.")) from None


# ------------------------------------------------------------------------------------------------ casebook

ENTERED, MISSING, NOT_REQUIRED, NOT_DUE, AFTER_DEATH = "entered", "missing", "not_required", "not_due", "after_death"
#: A day whose form is stored marked not done, with its reason (clinical definitions §2.2): not missing.
NOT_DONE = "not_done"
#: The ordinal states in words, for the page (the codes are for the exports and the codebook).
STATE_LABELS = {state.code: state.label for state in STATES}


@dataclass(frozen=True)
class CodeSummary:
    """One missing-data code of a record and the fields that carry it, for the casebook: "ND" titled "Not done:
    ferritin, LDH"."""

    code: str
    abbreviation: str
    title: str


@dataclass(frozen=True)
class Cell:
    """One form of one day in the casebook grid."""

    state: str
    record: Any
    history_name: str

    @property
    def codes(self) -> list[CodeSummary]:
        """The record's missing-data codes, one per code with the fields that carry it (in the form's order)."""
        stored = getattr(self.record, "missing_codes", None) or {}
        if not stored:
            return []
        crf = crf_of(type(self.record))
        labels = crf.labels
        summaries = []
        for code in MissingCode:
            names = [labels.get(name, name) for name in crf.fields if stored.get(name) == code]
            if names:
                summaries.append(
                    CodeSummary(code.value, MISSING_CODE_ABBREVIATIONS[code], f"{code.label}: {', '.join(names)}")
                )
        return summaries


@dataclass(frozen=True)
class EventRow:
    record: Any
    label: str
    slug: str  # URL slug of the event form
    history_name: str


@dataclass
class CasebookDay:
    study_day: int
    date: datetime.date
    forms: dict[str, Cell]  # form key -> cell
    events: dict[str, list[EventRow]]  # event key -> records starting that day
    derived: DerivedDay | None
    #: Other apps' badges (ecrf.page_notes, e.g. open queries) by form key.
    notes: dict[str, list] = field(default_factory=dict)

    @property
    def form_cells(self) -> list[tuple[str, Cell, list]]:
        """(form key, cell, notes) of the one-per-day forms, in page order."""
        return [(key, cell, self.notes.get(key, [])) for key, cell in self.forms.items()]

    @property
    def event_cells(self) -> list[tuple[str, list[EventRow], list]]:
        """(form key, records starting that day, notes) of the repeating forms."""
        return [(key, rows, self.notes.get(key, [])) for key, rows in self.events.items()]

    @property
    def missing(self) -> int:
        return sum(1 for cell in self.forms.values() if cell.state == MISSING)

    @property
    def state_label(self) -> str:
        """The derived ordinal state in words ("" when the day has none)."""
        state = self.derived.state if self.derived else ""
        return STATE_LABELS.get(state, state)


@dataclass
class Casebook:
    patient: Patient
    days: list[CasebookDay]
    today_day: int

    @property
    def missing_total(self) -> int:
        return sum(day.missing for day in self.days)

    @property
    def not_done_total(self) -> int:
        """Forms marked not done (not missing: their reason is recorded)."""
        return sum(1 for day in self.days for cell in day.forms.values() if cell.state == NOT_DONE)


def day_state(patient: Patient, study_day: int, today_day: int, record) -> str:
    """The state of one form of one day in the casebook: entered, not done (stored, marked not done with its
    reason), missing, not required, not yet due, or a record after the day of death."""
    death_day, end_day = getattr(patient, "death_day", None), getattr(patient, "end_day", None)
    if record is not None:
        if death_day is not None and study_day > death_day:
            return AFTER_DEATH
        return NOT_DONE if is_not_done(record) else ENTERED
    if (end_day is not None and study_day > end_day) or (death_day is not None and study_day >= death_day):
        return NOT_REQUIRED
    if study_day > today_day:
        return NOT_DUE
    return MISSING


def casebook_get(*, user, patient_pk: int, today: datetime.date | None = None) -> Casebook:
    """The grid of study days x forms of one patient: one query per table, whatever the number of days."""
    patient = patient_get(user=user, pk=patient_pk)
    today_day = study_day_today(patient, today)
    last = patient.study.follow_up_days
    by_day: dict[str, dict[int, Any]] = {}
    for key, crf in DAY_FORMS.items():
        by_day[key] = {r.study_day: r for r in crf.model.objects.filter(patient=patient, study_day__lte=last)}
    events: dict[str, dict[int, list]] = {}
    for key, crf in EVENT_FORMS.items():
        events[key] = defaultdict(list)
        for record in crf.model.objects.filter(patient=patient).order_by("study_day", "pk"):
            events[key][min(max(record.study_day, 0), last)].append(record)
    derived = {d.study_day: d for d in DerivedDay.objects.filter(patient=patient, study_day__lte=last)}
    zone = site_zone(patient.site)
    days = []
    for day in range(last + 1):
        forms = {}
        for key, records in by_day.items():
            record = records.get(day)
            forms[key] = Cell(day_state(patient, day, today_day, record), record, DAY_FORMS[key].history_name)
        days.append(
            CasebookDay(
                study_day=day,
                date=day_date(patient, day),
                forms=forms,
                events={
                    key: [
                        EventRow(r, event_label(r, zone), EVENT_FORMS[key].slug, EVENT_FORMS[key].history_name)
                        for r in rows.get(day, [])
                    ]
                    for key, rows in events.items()
                },
                derived=derived.get(day),
            )
        )
    return Casebook(patient=patient, days=days, today_day=today_day)


# ------------------------------------------------------------------------------------------------ patients


#: "Today" for a query over patients: one date, or each site's own date (site id -> date; ``sites_today``).
Today = datetime.date | Mapping[int, datetime.date]


def sites_today(study: Study, now: datetime.datetime | None = None) -> dict[int, datetime.date]:
    """The date today at each site of the study, in the site's time zone (cohorts/clock.py): what "today" means for
    its patients, as their casebooks count it."""
    return {site.pk: site_today(site, now) for site in study.sites.all()}


def today_at(today: Today, site_field: str = "site_id"):
    """``today`` as an SQL date for each row: the one date, or the date at the row's site (``site_field``)."""
    if isinstance(today, datetime.date):
        return Value(today, output_field=DateField())
    return Case(
        *(When(**{site_field: pk}, then=Value(date, output_field=DateField())) for pk, date in sorted(today.items())),
        default=Value(timezone.localdate(), output_field=DateField()),
        output_field=DateField(),
    )


class PairIn(Func):
    """``(first, second) IN (VALUES (a, b), ...)``: the rows whose two columns hold one of ``pairs`` together (a
    patient and that patient's own study day), each found by an index on the two columns. Row values and VALUES lists
    are SQL that PostgreSQL and SQLite (3.15 on) both read; ``pairs`` must not be empty."""

    output_field = BooleanField()

    def __init__(self, first: str, second: str, pairs: Iterable[tuple[Any, Any]]):
        self.pairs = sorted(pairs)
        super().__init__(F(first), F(second))

    def as_sql(self, compiler, connection, **extra):
        (first, first_params), (second, second_params) = (compiler.compile(e) for e in self.source_expressions)
        values = ", ".join(["(%s, %s)"] * len(self.pairs))
        params = [*first_params, *second_params, *(value for pair in self.pairs for value in pair)]
        return f"({first}, {second}) IN (VALUES {values})", params


class DaysSince(Func):
    """Whole days from a date column to today (``Today``: one date, or each row's site's date): today's study day of
    a patient from the enrolment date.

    Date arithmetic is not portable through the ORM (Django turns a date difference into an interval), so the
    two databases of this project each get their own SQL: PostgreSQL's date - date is an integer of days;
    SQLite counts days with julianday().
    """

    output_field = IntegerField()

    def __init__(self, expression, today: Today, site_field: str = "site_id"):
        super().__init__(expression, today_at(today, site_field))

    def as_postgresql(self, compiler, connection, **extra):
        (column, column_params), (today, today_params) = (compiler.compile(e) for e in self.source_expressions)
        return f"(({today})::date - {column})", [*today_params, *column_params]

    def as_sqlite(self, compiler, connection, **extra):
        (column, column_params), (today, today_params) = (compiler.compile(e) for e in self.source_expressions)
        return f"CAST(julianday({today}) - julianday({column}) AS INTEGER)", [*today_params, *column_params]

    def as_sql(self, compiler, connection, **extra):
        raise NotSupportedError(f"DaysSince is written for PostgreSQL and SQLite, not {connection.vendor}")


def patient_list(
    *, user, study: Study, site: Site | None = None, today: Today | None = None, pks: Iterable[int] | None = None
) -> list[Patient]:
    """Patients of the user's sites (those of ``pks`` only, when given: a page of the list), each with today's study
    day (``today_day``: today at the patient's site; None outside the follow-up), ``death_day`` and ``end_day``,
    whether each of today's forms is entered (``has_<form key>``) and how many are missing (``missing_today``: 0 when
    none is due); those with missing forms first. One query for the patients, one for their sites, one for their arms
    and one per daily form (its records of each patient's today), however many patients; the rest is done here rather
    than in one SQL statement, where the day's expression, repeated in every condition that reads it, took longer to
    compile than the page to render."""
    today = today or sites_today(study)
    # Each site and arm read once for the page, not joined into every patient's row (building those copies cost
    # more than the list's other queries); the study is the one given.
    patients = with_follow_up_end(
        cohort_selectors.patient_list(user=user, study=study, site=site)
        .select_related(None)
        .prefetch_related("site", "arm")
        .order_by(),
        named=True,
    )
    if pks is not None:
        patients = patients.filter(pk__in=list(pks))
    patients = list(patients)
    elsewhere = timezone.localdate()  # a site the study does not list (as today_at's default)
    for patient in patients:
        patient.study = study
        at_site = today if isinstance(today, datetime.date) else today.get(patient.site_id, elsewhere)
        day = (at_site - patient.enrolment_date).days
        patient.today_day = day if 0 <= day <= study.follow_up_days else None
    # Each patient's today, read by its key (patient, study day) from the form's unique index (a join computing each
    # one's today day scanned the study's patients; the listed patients' records of every listed day were ~20 rows a
    # patient, read to keep one).
    todays = {(patient.pk, patient.today_day) for patient in patients if patient.today_day is not None}
    for key, crf in DAY_FORMS.items():
        entered: set[int] = set()
        if todays:  # PairIn takes at least one pair
            records = crf.model.objects.filter(PairIn("patient_id", "study_day", todays))
            entered = set(records.values_list("patient_id", flat=True))
        for patient in patients:
            setattr(patient, f"has_{key}", patient.today_day is not None and patient.pk in entered)
    for patient in patients:
        due = (
            patient.today_day is not None
            and (patient.end_day is None or patient.end_day >= patient.today_day)
            and (patient.death_day is None or patient.death_day > patient.today_day)
        )
        patient.missing_today = sum(not getattr(patient, f"has_{key}") for key in DAY_FORMS) if due else 0
    return sorted(patients, key=lambda p: (-p.missing_today, p.site.code, p.participant_id))


class LatestRecord(NamedTuple):
    form: str  # the form's name on the pages
    participant_id: str
    study_day: int


def latest_record_after(*, study: Study, study_day: int) -> LatestRecord | None:
    """The latest-dated record of any case report form of the study's patients after ``study_day`` (one query per
    form), or None."""
    found = []
    for crf in CATALOGUE.values():
        row = (
            crf.model.objects.filter(patient__study=study, study_day__gt=study_day)
            .order_by("-study_day", "patient__participant_id")
            .values_list("study_day", "patient__participant_id")
            .first()
        )
        if row is not None:
            found.append(LatestRecord(str(crf.label), row[1], row[0]))
    return max(found, key=lambda latest: latest.study_day, default=None)


def import_job_get(*, user, pk: int) -> ImportJob:
    """A CSV import of a study where the user may import (anyone else: 404)."""
    try:
        return ImportJob.objects.select_related("study", "requested_by").get(
            roles.scope(user, roles.IMPORTERS, site=None), pk=pk
        )
    except (ImportJob.DoesNotExist, ValueError, TypeError):
        raise Http404("No such import.") from None


def import_job_list(*, user, study: Study, limit: int = 10) -> list[ImportJob]:
    """The study's latest CSV imports, newest first (the upload page lists them)."""
    jobs = ImportJob.objects.filter(roles.scope(user, roles.IMPORTERS, site=None), study=study)
    return list(jobs.select_related("requested_by").defer("report")[:limit])
