"""Data-quality rules (issue 15): the rules as data, and the pure, vectorised functions that find their hits in the
stored records of a batch of patients.

Pure: no database access here (the form catalogue and the forms' vocabularies come from ecrf, whose import loads
Django's models, and nothing else of Django is used), so every rule is tested on small plain frames. The rule job
(cleaning/rule_job.py) reads the records into one pandas frame per form and the patients into one frame, calls
:func:`find_hits`, and reconciles the hits with the study's automatic queries.
Each hit is keyed (rule, patient, study day, form, field): one automatic query per key, never two
(``Query`` constraint ``query_one_per_rule_hit``).

The rules (docs/data-manager.md, "Data-quality rules"; thresholds in clinical definitions §2.1):

- ``check.<field>.<rule>``: every hard and soft edit check of the forms (ecrf/checks.py, ecrf/validators.py,
  the ranges of the limits table) re-run on the stored values, because limits change and imports happen. The
  range checks and the cross-field rules are vectorised here; ``tests/cleaning/test_rules_checks.py`` shows with
  hypothesis that their verdicts are those of ``Crf.issues`` (and, for the one-per-day forms, of the day's checks
  that their service applies). A soft hit whose code the record's ``confirmed_checks`` holds is no hit. The rule
  code names the field the issue is on: ``check.abg_fio2.hard_min`` for the issue ``fio2.hard_min`` of the blood
  gas's FiO2, ``check.stop_day.after_death`` for ``study_day.after_death`` on a drug's stop day.
- ``after_death``: a record dated after the day of the first death event (the form's own rule,
  ``study_day.after_death``, which stops new data but not data stored before the death was entered).
- ``missing_past_due`` and ``series_gap``: a one-per-day form not entered for a required day (the rule of the
  dashboard's "missing forms for past days": days 0 to the follow-up, up to the first discharge, withdrawal or loss
  to follow-up, before the day of death). A missing day between two entered days of the same form is a
  ``series_gap`` (raised as soon as the later day is entered); any other missing day is ``missing_past_due`` once it
  is :data:`MISSING_GRACE_DAYS` days past due. The two are disjoint.
- ``not_derivable.pf``: a day with an SpO2 but no FiO2 (none set on the device, no flow to estimate it from, no
  respiratory support recorded), so no PaO2:FiO2 can be derived from it (clinical definitions §3.2).
- ``jump.<field>``: an implausible change of a value between two consecutive study days (cohorts/limits.py JUMPS).
- ``episode_overlap``: a ventilation episode that overlaps another episode of its patient, the rule that
  ecrf/services.py (``_episode_rules``) applies when an episode is saved, across the patient's records.

The times of the records (a drug's start and stop, a disposition event's moment, an intubation and the end of its
episode; clinical definitions §2.3) are read as UTC datetimes and checked as the forms check them: not after now,
not after the moment of death, on their record's study day at the site (the site's time zone, day 0 the enrolment
date), an end after its start.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from types import MappingProxyType
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.utils.text import capfirst

from cohorts.limits import DOSE_MAXIMA, JUMPS, LIMITS, Jump
from ecrf import derivations
from ecrf.checks import (
    HARD,
    REQUIRED_SETTINGS,
    ROOM_AIR,
    ROOM_AIR_FIO2,
    SOFT,
    WEIGHT_BASED_UNIT,
    day_masks,
    range_masks,
    time_text,
)
from ecrf.courses import site_days, utc_moments
from ecrf.crfs import CATALOGUE, Crf
from ecrf.models import AdverseEventKind, DispositionKind, EpisodeEnd
from ecrf.validators import ENDS_DAILY_FORMS, KIND_ONLY_ANSWERS, NAMED_DRUGS, PatientFacts, day_issues, is_blank

#: Days a missing one-per-day form is left before ``missing_past_due`` queries it: the form of day d is due at the
#: end of day d and queried from day d + 1 + MISSING_GRACE_DAYS on (a module constant, documented in the data
#: manager guide; a ``series_gap`` needs no grace, a later day is entered already).
MISSING_GRACE_DAYS = 2

#: The columns of a hits frame: the key of the query, then what its text needs (rows of the form's frame, days).
KEY = ("rule", "patient_id", "study_day", "form", "field")
HIT_COLUMNS = (*KEY, "record_id", "row", "other_row", "code", "source_field", "other_day", "next_day")
#: The longest rule code the query's ``rule`` column holds.
MAX_CODE_LENGTH = 48


class RuleDefinitionError(ValueError):
    """A rule that names a form or a field the catalogue does not have (raised at import)."""


@dataclass(frozen=True)
class Rule:
    """One data-quality rule: its stable code, what it is about, and the forms and field its queries name."""

    code: str
    label: str
    forms: tuple[str, ...]
    field: str = ""  # "" for a rule about a record or a day as a whole
    level: str = HARD  # soft: the value may be right (unusual rather than implausible)


def _number(value: Any) -> str:
    """A stored number as the pages show it: 41.9, 96, 0.21 (no trailing zeros); "" when missing."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return ""
    text = format(Decimal(repr(float(value)) if not isinstance(value, Decimal) else value).normalize(), "f")
    return "0" if text == "-0" else text


# ------------------------------------------------------------------------------------------ the records


def _norm(values: Iterable[Any]) -> np.ndarray:
    """Codes typed or configured by people as compared by ecrf.checks (case and surrounding spaces ignored)."""
    return np.array(["" if pd.isna(v) else str(v).strip().casefold() for v in values], dtype=object)


class Records:
    """The stored records of one form, one row each (columns: patient_id, study_day, the form's fields with numbers
    as floats and NaN for missing, times as UTC datetimes (:func:`utc_moments`), confirmed_checks as JSON text or
    None, record_id for a repeating form), with the facts of each record's patient (columns of the patients frame,
    see :func:`find_hits`)."""

    def __init__(self, crf: Crf, frame: pd.DataFrame, patients: pd.DataFrame, regimens: Mapping[Any, Sequence]):
        self.crf = crf
        self.frame = frame.reset_index(drop=True)
        self.facts = patients.reindex(self.frame["patient_id"].to_numpy())
        self.regimens = regimens
        self.out_of_range: dict[str, np.ndarray] = {}
        self._numbers: dict[str, np.ndarray] = {}
        self._categories: dict[str, pd.Categorical] = {}
        self._moments: dict[str, np.ndarray] = {}
        self._time_findings: dict[tuple[str, str], dict[str, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.frame)

    @cached_property
    def study_day_findings(self) -> dict[str, np.ndarray]:
        """The study-day rules' verdicts on every record (ecrf.checks.day_masks), computed once for DAY_CHECKS."""
        return day_masks(
            self.num("study_day"), self.fact("follow_up_days"), self.fact("death_day"), self.fact("today_day")
        )

    def num(self, name: str) -> np.ndarray:
        if name not in self._numbers:
            column = self.frame[name] if name in self.frame else pd.Series(np.nan, index=self.frame.index)
            self._numbers[name] = pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        return self._numbers[name]

    def present(self, name: str) -> np.ndarray:
        return ~np.isnan(self.num(name))

    def codes(self, name: str) -> pd.Series:
        return self.frame[name] if name in self.frame else pd.Series(None, index=self.frame.index, dtype=object)

    def _category(self, name: str) -> pd.Categorical:
        """A code column as categories (a handful of distinct codes over many rows): compared once per code."""
        if name not in self._categories:
            self._categories[name] = pd.Categorical(self.codes(name))
        return self._categories[name]

    def is_code(self, name: str, *values: str) -> np.ndarray:
        category = self._category(name)
        wanted = [position for position, code in enumerate(category.categories) if code in values]
        return np.isin(category.codes, wanted)

    def no_text(self, name: str) -> np.ndarray:
        """``not (value or "").strip()``: the validators' test of a required text."""
        return self.codes(name).fillna("").astype(str).str.strip().eq("").to_numpy(dtype=bool)

    def is_value(self, name: str, value: Any) -> np.ndarray:
        """The rows whose ``name`` is ``value`` (a yes or no: True or False; missing is neither)."""
        return self.codes(name).eq(value).fillna(False).to_numpy(dtype=bool)

    def falsy(self, name: str) -> np.ndarray:
        """``not value`` for a text or a code: None or ""."""
        return (self._category(name).codes == -1) | self.is_code(name, "")

    def fact(self, name: str) -> np.ndarray:
        return self.facts[name].to_numpy(dtype=float, na_value=np.nan)

    def moment(self, name: str) -> np.ndarray:
        """A time column as UTC ``datetime64[ns]``, NaT where missing (a column the frame lacks: all missing)."""
        if name not in self._moments:
            self._moments[name] = utc_moments(self.codes(name))
        return self._moments[name]

    def fact_moment(self, name: str) -> np.ndarray:
        """A moment of the patients' facts (``now``, ``death_at``) per record; NaT: not known, rule not applied."""
        if name not in self.facts:
            return np.full(len(self), np.datetime64("NaT"), dtype="datetime64[ns]")
        return utc_moments(self.facts[name].reset_index(drop=True))

    def site_day(self, name: str) -> np.ndarray:
        """The study day of the time ``name`` at the patient's site (NaN: time, zone or enrolment date unknown)."""
        none = np.full(len(self), None, dtype=object)
        zones = self.facts["time_zone"].to_numpy(dtype=object) if "time_zone" in self.facts else none
        enrolled = self.facts["enrolment_date"].to_numpy(dtype=object) if "enrolment_date" in self.facts else none
        dates = pd.to_datetime(pd.Series(enrolled, dtype=object)).to_numpy(dtype="datetime64[D]")
        return site_days(self.moment(name), zones, dates)

    def time_findings(self, name: str, day: str) -> dict[str, np.ndarray]:
        """ecrf.checks.check_time on the time ``name`` of records of day ``day``: the rows of each of its issues
        (``future``, ``after_death``, ``other_day``; the first problem only, as the check reports it)."""
        if (name, day) not in self._time_findings:
            at = self.moment(name)
            present = ~np.isnat(at)
            future = present & (at > self.fact_moment("now"))  # NaT: never greater, rule not applied
            after_death = present & ~future & (at > self.fact_moment("death_at"))
            on_day = self.site_day(name)
            other_day = (
                present & ~future & ~after_death & self.present(day) & ~np.isnan(on_day) & (on_day != self.num(day))
            )
            self._time_findings[name, day] = {"future": future, "after_death": after_death, "other_day": other_day}
        return self._time_findings[name, day]

    def any_value(self, names: Iterable[str], rows: np.ndarray) -> np.ndarray:
        """Where any of ``names`` holds a value on ``rows`` (ecrf.validators.is_blank: False, None, "" are blank)."""
        found = np.zeros(len(self), dtype=bool)
        if rows.any():
            for name in names:
                if name in self.frame:
                    cells = self.frame[name].to_numpy(dtype=object)[rows]
                    found[rows] |= np.array([not (pd.isna(v) or is_blank(v)) for v in cells], dtype=bool)
        return found

    def confirmed(self, code: str, rows: np.ndarray) -> np.ndarray:
        """Which of ``rows`` (positions) hold ``code`` among their confirmed checks."""
        if "confirmed_checks" not in self.frame or not len(rows):
            return np.zeros(len(rows), dtype=bool)
        cells = self.frame["confirmed_checks"].to_numpy(dtype=object)[rows]
        return np.array([_holds(cell, code) for cell in cells], dtype=bool)


def _holds(cell: Any, code: str) -> bool:
    if isinstance(cell, str):
        return json.dumps(code) in cell and code in json.loads(cell)
    return isinstance(cell, list | tuple) and code in cell


# ------------------------------------------------------------------------------------------ the edit checks


@dataclass(frozen=True)
class Finding:
    """The rows of a form's records where one check finds its issue."""

    field: str
    code: str
    level: str
    rows: np.ndarray


@dataclass(frozen=True)
class Check:
    """One edit check of a form, vectorised: the rows of a form's records where it finds its issue."""

    field: str  # the field the issue is on
    code: str  # the issue's code in ecrf ("<field>.<rule>")
    level: str
    label: str
    finds: Callable[[Records], np.ndarray]

    @property
    def rule(self) -> str:
        return f"check.{self.field}.{self.code.split('.', 1)[1]}"


def _field_label(crf: Crf, field: str) -> str:
    """How a rule's label names a field: its row's label, or the model's name of it where it shares another's row
    (the blood gas's FiO2)."""
    limit = LIMITS.get(crf.limits.get(field, ""))
    if limit is not None and limit.name == field:
        return limit.label
    return capfirst(str(crf.model._meta.get_field(field).verbose_name).split(" (")[0])


def _quantity(number: Any, unit: str) -> str:
    """A number with its unit as the checks' messages write it: "41 degC", "92%", "0.21"."""
    text = _number(number)
    if unit in ("", "fraction"):
        return text
    return f"{text}{unit}" if unit == "%" else f"{text} {unit}"


def range_codes(crf: Crf, field: str) -> list[tuple[str, str, str]]:
    """(issue code, level, label) of each bound of the field's limit (the dose: also its drug's maximum)."""
    limit = LIMITS[crf.limits[field]]
    name, label = limit.name, _field_label(crf, field)
    codes = []
    if limit.hard_min is not None:
        codes.append((f"{name}.hard_min", HARD, f"{label} below its plausible minimum"))
    if limit.hard_max is not None or field == "dose":
        codes.append((f"{name}.hard_max", HARD, f"{label} above its plausible maximum"))
    if limit.soft_low is not None:
        codes.append((f"{name}.soft_low", SOFT, f"{label} below {_quantity(limit.soft_low, limit.unit)}, to confirm"))
    if limit.soft_high is not None:
        codes.append((f"{name}.soft_high", SOFT, f"{label} above {_quantity(limit.soft_high, limit.unit)}, to confirm"))
    return codes


def _dose_maxima(records: Records) -> np.ndarray:
    """The maximum of each dose: its drug's in its unit (cohorts.limits.dose_limit; NaN: none)."""
    high = np.full(len(records), np.nan)
    for row in DOSE_MAXIMA:
        high[records.is_code("drug", row.drug) & records.is_code("dose_unit", row.unit)] = float(row.hard_max)
    return high


def _range_findings(records: Records) -> list[Finding]:
    """The most serious range finding of each value (ecrf.checks.range_masks); records which fields are out of
    range (no cross-field rule is reported on them: Crf.issues)."""
    findings = []
    for field, limit_name in records.crf.limits.items():
        limit = LIMITS[limit_name]
        masks = range_masks(limit, records.num(field), _dose_maxima(records) if field == "dose" else None)
        records.out_of_range[field] = masks.found
        for rule, level, rows in (
            ("hard_min", HARD, masks.below),
            ("hard_max", HARD, masks.above),
            ("soft_low", SOFT, masks.under),
            ("soft_high", SOFT, masks.over),
        ):
            findings.append(Finding(field, f"{limit.name}.{rule}", level, rows))
    return findings


# The study-day checks of every record (ecrf.validators.day_issues): in Crf.issues for the repeating forms, in the
# day page's service for the one-per-day forms.
DAY_CHECKS = tuple(
    Check("study_day", code, HARD, label, lambda r, code=code: r.study_day_findings[code])
    for code, label in (
        ("study_day.before_enrolment", "Record dated before enrolment"),
        ("study_day.after_follow_up", "Record dated after the end of follow-up"),
        ("study_day.after_death", "Data after the day of death"),
        ("study_day.future", "Record dated after today at the site"),
    )
)


def _required(field: str, label: str, finds: Callable[[Records], np.ndarray]) -> Check:
    return Check(field, f"{field}.required", HARD, label, finds)


def _kind_only_checks(form: str) -> tuple[Check, ...]:
    """ecrf.validators.KIND_ONLY_ANSWERS: an answer given with a kind of record it does not go with."""
    return tuple(
        Check(
            name,
            f"{name}.{rule}",
            HARD,
            f"{capfirst(name.replace('_', ' '))} given with another kind of record",
            # ~no_text: validators.answered (a yes or a no is a text that is not blank here, missing is not).
            lambda r, name=name, kinds=kinds: ~r.is_code("kind", *kinds) & ~r.no_text(name),
        )
        for name, kinds, rule, _message in KIND_ONLY_ANSWERS[form]
    )


def _support_needs(field: str) -> Callable[[Records], np.ndarray]:
    supports = [support for support, needed in REQUIRED_SETTINGS.items() if field in needed]
    return lambda r: r.is_code("support", *supports) & ~r.present(field)


def _support_chosen_with_others(r: Records) -> np.ndarray:
    no_support = r.falsy("support")
    return no_support & r.any_value([name for name in r.crf.fields if name != "support"], no_support)


def _stop_day_counts(r: Records) -> np.ndarray:
    """A stop day that is not before the start: the one the follow-up, death and today rules look at."""
    return r.present("stop_day") & ~_stop_before_start(r)


def _stop_before_start(r: Records) -> np.ndarray:
    return r.present("stop_day") & r.present("study_day") & (r.num("stop_day") < r.num("study_day"))


def _time_checks(name: str, day: str, label: str, *, end: bool = False) -> tuple[Check, ...]:
    """The checks of the time ``name`` of a record of day ``day`` (ecrf.checks.check_time through
    ecrf.validators._times): not after now, not after the death, on that study day at the site. An end time
    (``end``) is checked only with its day (without it, the day is required instead: :func:`_end_day_required`)."""

    def finds(rule: str) -> Callable[[Records], np.ndarray]:
        if end:
            return lambda r: r.present(day) & r.time_findings(name, day)[rule]
        return lambda r: r.time_findings(name, day)[rule]

    return (
        Check(name, f"{name}.future", HARD, f"{label} in the future", finds("future")),
        Check(name, f"{name}.after_death", HARD, f"{label} after the moment of death", finds("after_death")),
        Check(name, f"{name}.other_day", HARD, f"{label} not on its study day at the site", finds("other_day")),
    )


def _end_not_after_start(start: str, end: str, end_day: str, label: str) -> Check:
    """ecrf.checks.check_time_order: an end time not after its start time, when the end time has no other issue."""

    def finds(r: Records) -> np.ndarray:
        started, ended = r.moment(start), r.moment(end)
        other_issue = np.logical_or.reduce(list(r.time_findings(end, end_day).values()))
        return r.present(end_day) & ~other_issue & ~np.isnat(started) & ~np.isnat(ended) & (ended <= started)

    return Check(end, f"{end}.before_start", HARD, label, finds)


def _end_day_required(r: Records, end: str, end_day: str) -> np.ndarray:
    """An end time without its end day (ecrf.validators._times)."""
    return ~np.isnat(r.moment(end)) & ~r.present(end_day)


def _episode_end_day_counts(r: Records) -> np.ndarray:
    """An episode's end day that is not before its intubation: the one the death and today rules look at."""
    return r.present("end_day") & ~(r.present("study_day") & (r.num("end_day") < r.num("study_day")))


def _regimen_rows(r: Records) -> Iterator[tuple[np.ndarray, Mapping[str, Any]]]:
    """For each regimen entry of each arm: the rows of that arm that give its drug (ecrf.checks.check_regimen)."""
    arms = r.facts["arm"].to_numpy(dtype=object)
    drug = r.codes("drug")
    named = drug.notna().to_numpy(dtype=bool)
    drugs = _norm(drug)
    for arm, entries in r.regimens.items():
        of_arm = named & (arms == arm)
        if not of_arm.any():
            continue
        for entry in entries:
            if entry:
                yield of_arm & (drugs == _norm([entry.get("drug")])[0]), entry


def _dose_differs(r: Records) -> np.ndarray:
    found = np.zeros(len(r), dtype=bool)
    in_range = r.present("dose") & ~_dose_out_of_range(r)
    units = _norm(r.codes("dose_unit"))
    for rows, entry in _regimen_rows(r):
        planned = entry.get("dose")
        if planned is None:
            continue
        planned_unit = _norm([str(entry.get("unit") or "")])[0]
        found |= rows & in_range & ((r.num("dose") != float(Decimal(str(planned)))) | (units != planned_unit))
    return found


def _route_differs(r: Records) -> np.ndarray:
    found = np.zeros(len(r), dtype=bool)
    given = ~r.falsy("route")
    routes = _norm(r.codes("route"))
    for rows, entry in _regimen_rows(r):
        planned = entry.get("route")
        if planned:
            found |= rows & given & (routes != _norm([planned])[0])
    return found


def _dose_out_of_range(r: Records) -> np.ndarray:
    """The dose refused by its drug's range (then the regimen's dose is not compared: ecrf.validators)."""
    return r.out_of_range.get("dose", np.zeros(len(r), dtype=bool))


#: The cross-field rules of each form (ecrf/validators.py), vectorised; ranges come from the catalogue's limits.
CROSS_FIELD: Mapping[str, tuple[Check, ...]] = MappingProxyType(
    {
        "vital_signs": (
            Check(
                "diastolic_mmhg",
                "diastolic_mmhg.not_below_systolic",
                HARD,
                "Diastolic blood pressure not below the systolic",
                lambda r: (
                    r.present("systolic_mmhg")
                    & r.present("diastolic_mmhg")
                    & ~(r.num("diastolic_mmhg") < r.num("systolic_mmhg"))
                ),
            ),
        ),
        "respiratory_support": (
            _required("support", "Respiratory support not chosen, settings entered", _support_chosen_with_others),
            Check(
                "fio2",
                "fio2.room_air",
                HARD,
                "FiO2 other than 0.21 on room air",
                lambda r: r.is_code("support", ROOM_AIR) & r.present("fio2") & (r.num("fio2") != float(ROOM_AIR_FIO2)),
            ),
            Check(
                "flow_l_min",
                "flow_l_min.room_air",
                HARD,
                "Oxygen flow on room air",
                lambda r: r.is_code("support", ROOM_AIR) & r.present("flow_l_min"),
            ),
            _required("flow_l_min", "Oxygen flow missing for a low-flow device", _support_needs("flow_l_min")),
            _required("fio2", "FiO2 missing for a device that sets it", _support_needs("fio2")),
            _required("peep_cmh2o", "PEEP missing for CPAP, NIV or IMV", _support_needs("peep_cmh2o")),
        ),
        "laboratory": (
            _required(
                "ddimer_basis",
                "D-dimer without its basis",
                lambda r: r.present("ddimer_ng_ml") & r.falsy("ddimer_basis"),
            ),
        ),
        "drug_administration": (
            _required(
                "drug_detail",
                "Drug class without the drug's name",
                lambda r: r.is_code("drug", *NAMED_DRUGS) & r.no_text("drug_detail"),
            ),
            Check(
                "dose_unit",
                "unit.weight_required",
                HARD,
                "Dose in mg/kg without the patient's weight",
                lambda r: r.is_code("dose_unit", WEIGHT_BASED_UNIT) & np.isnan(r.fact("weight_kg")),
            ),
            Check("stop_day", "stop_day.before_start", HARD, "Stop day before the start day", _stop_before_start),
            Check(
                "stop_day",
                "study_day.before_enrolment",
                HARD,
                "Stop day before enrolment",
                lambda r: _stop_day_counts(r) & (r.num("stop_day") < 0),
            ),
            Check(
                "stop_day",
                "study_day.after_follow_up",
                HARD,
                "Stop day after the end of follow-up",
                lambda r: _stop_day_counts(r) & (r.num("stop_day") > r.fact("follow_up_days")),
            ),
            Check(
                "stop_day",
                "study_day.after_death",
                HARD,
                "Stop day after the day of death",
                lambda r: _stop_day_counts(r) & (r.num("stop_day") > r.fact("death_day")),
            ),
            Check(
                "stop_day",
                "study_day.future",
                HARD,
                "Stop day after today at the site",
                lambda r: _stop_day_counts(r) & (r.num("stop_day") > r.fact("today_day")),
            ),
            Check("dose", "dose.regimen", SOFT, "Dose other than the arm's regimen, to confirm", _dose_differs),
            Check("route", "route.regimen", SOFT, "Route other than the arm's regimen, to confirm", _route_differs),
            *_time_checks("started_at", "study_day", "Drug start time"),
            _required(
                "stop_day",
                "Drug stop time without its stop day",
                lambda r: _end_day_required(r, "stopped_at", "stop_day"),
            ),
            *_time_checks("stopped_at", "stop_day", "Drug stop time", end=True),
            _end_not_after_start("started_at", "stopped_at", "stop_day", "Drug stop time not after its start time"),
        ),
        "disposition_events": (
            _required(
                "cause_of_death",
                "Death without its cause",
                lambda r: r.is_code("kind", DispositionKind.DEATH) & r.no_text("cause_of_death"),
            ),
            _required(
                "normal_activities",
                "Discharge without 'resumed normal activities'",
                lambda r: (
                    r.is_code("kind", DispositionKind.DISCHARGED) & r.codes("normal_activities").isna().to_numpy()
                ),
            ),
            _required(
                "alive",
                "Vital status contact without 'alive'",
                lambda r: r.is_code("kind", DispositionKind.CONTACT) & r.codes("alive").isna().to_numpy(),
            ),
            *_kind_only_checks("disposition_events"),
            Check(
                "normal_activities",
                "normal_activities.not_alive",
                HARD,
                "Normal activities resumed at a contact that found the patient not alive",
                lambda r: (
                    r.is_code("kind", DispositionKind.CONTACT)
                    & r.is_value("alive", False)
                    & r.is_value("normal_activities", True)
                ),
            ),
            *_time_checks("occurred_at", "study_day", "Disposition event time"),
        ),
        "ventilation_episodes": (
            Check(
                "end_day",
                "end_day.before_start",
                HARD,
                "Ventilation episode ending before its intubation day",
                lambda r: r.present("end_day") & r.present("study_day") & (r.num("end_day") < r.num("study_day")),
            ),
            Check(
                "end_day",
                "study_day.after_death",
                HARD,
                "Ventilation episode ending after the day of death",
                lambda r: _episode_end_day_counts(r) & (r.num("end_day") > r.fact("death_day")),
            ),
            Check(
                "end_day",
                "study_day.future",
                HARD,
                "Ventilation episode ending after today at the site",
                lambda r: _episode_end_day_counts(r) & (r.num("end_day") > r.fact("today_day")),
            ),
            Check(
                "end_day",
                "end_day.not_death_day",
                HARD,
                "Ventilation episode ended by death on another day than the death",
                lambda r: (
                    _episode_end_day_counts(r)
                    & r.is_code("end_reason", EpisodeEnd.DIED)
                    & ~np.isnan(r.fact("death_day"))
                    & (r.num("end_day") != r.fact("death_day"))
                ),
            ),
            _required(
                "end_reason",
                "Ventilation episode end day without how it ended",
                lambda r: r.present("end_day") & r.falsy("end_reason"),
            ),
            _required(
                "end_day",
                "Ventilation episode end (how, or time) without its end day",
                lambda r: (
                    ~r.present("end_day") & (~r.falsy("end_reason") | _end_day_required(r, "ended_at", "end_day"))
                ),
            ),
            *_time_checks("intubated_at", "study_day", "Intubation time"),
            *_time_checks("ended_at", "end_day", "Ventilation episode end time", end=True),
            _end_not_after_start(
                "intubated_at", "ended_at", "end_day", "Ventilation episode end time not after the intubation time"
            ),
        ),
        "adverse_events": (
            _required(
                "organism",
                "Bacteraemia without its organism",
                lambda r: r.is_code("kind", AdverseEventKind.BACTERAEMIA) & r.no_text("organism"),
            ),
            _required(
                "description",
                "'Other' adverse event without a description",
                lambda r: r.is_code("kind", AdverseEventKind.OTHER) & r.no_text("description"),
            ),
            *_kind_only_checks("adverse_events"),
        ),
    }
)


def fields_read(crf: Crf) -> tuple[str, ...]:
    """The fields of a form the rules read: all but those that are no observation and that no check looks at (the
    units a value was typed in)."""
    checked = set(crf.limits) | {check.field for check in CROSS_FIELD.get(crf.key, ())}
    return tuple(name for name in crf.fields if name not in crf.not_values or name in checked)


def form_findings(records: Records, *, day_checks: bool = True) -> list[Finding]:
    """Every issue of every record of one form, as Crf.issues finds them (and the day's checks, which the day page's
    service applies to the one-per-day forms): the ranges, the form's cross-field rules on fields in range, the
    study day. Soft findings include confirmed ones (see :func:`check_hits`)."""
    findings = _range_findings(records)
    no_rows = np.zeros(len(records), dtype=bool)
    for check in CROSS_FIELD.get(records.crf.key, ()):
        rows = check.finds(records) & ~records.out_of_range.get(check.field, no_rows)
        findings.append(Finding(check.field, check.code, check.level, rows))
    if day_checks:
        findings += [Finding(c.field, c.code, c.level, c.finds(records)) for c in DAY_CHECKS]
    return findings


def _hits(records: Records, rule: str, field: str, rows: np.ndarray, **columns: Any) -> pd.DataFrame:
    """Hits of ``rule`` on the records at ``rows`` (positions of the form's frame)."""
    frame = records.frame
    return pd.DataFrame(
        {
            "rule": rule,
            "patient_id": frame["patient_id"].to_numpy(dtype=np.int64)[rows],
            "study_day": frame["study_day"].to_numpy(dtype=np.int64)[rows],
            "form": records.crf.key,
            "field": field,
            "record_id": frame["record_id"].to_numpy(dtype=float)[rows] if "record_id" in frame else np.nan,
            "row": rows,
            **columns,
        }
    )


def check_hits(records: Records) -> list[pd.DataFrame]:
    """The edit checks' hits on one form's records (``after_death`` among them); a soft finding the record
    confirmed is no hit."""
    hits = []
    for finding in form_findings(records):
        rows = np.flatnonzero(finding.rows)
        if finding.level == SOFT and len(rows):
            rows = rows[~records.confirmed(finding.code, rows)]
        if len(rows):
            rule, field = rule_of(finding.field, finding.code)
            hits.append(_hits(records, rule, field, rows, code=finding.code, source_field=finding.field))
    return hits


# ------------------------------------------------------------------------------------------ missing forms

_DAY_OFFSET = 1 << 16  # study days are small integers (SmallIntegerField)
_DAY_SPAN = 1 << 17


def _keys(patient: np.ndarray, day: np.ndarray) -> np.ndarray:
    return patient.astype(np.int64) * _DAY_SPAN + (day.astype(np.int64) + _DAY_OFFSET)


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Distinct keys, sorted (by sorting: numpy's hash-based ``np.unique`` is several times slower here)."""
    ordered = np.sort(keys)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


def _key_day(keys: np.ndarray) -> np.ndarray:
    return keys % _DAY_SPAN - _DAY_OFFSET


def last_required_day(patients: pd.DataFrame) -> np.ndarray:
    """The last day each patient's one-per-day forms are required for (ecrf/dashboard.py, clinical definitions
    §3.3): the earliest of yesterday at the site, the end of follow-up, the first discharge, withdrawal or loss
    to follow-up (that day included) and the day before death. -1: none yet."""
    columns = [patients["today_day"] - 1, patients["follow_up_days"], patients["end_day"], patients["death_day"] - 1]
    last = np.fmin.reduce([c.to_numpy(dtype=float, na_value=np.nan) for c in columns])
    return np.where(np.isnan(patients["today_day"].to_numpy(dtype=float, na_value=np.nan)), -1, last).astype(np.int64)


def _required_days(patients: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """(patient, day) of every required day: days 0 to each patient's last required day."""
    counts = np.maximum(last_required_day(patients) + 1, 0)
    patient = np.repeat(patients.index.to_numpy(dtype=np.int64), counts)
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return patient, np.arange(len(patient), dtype=np.int64) - starts


def _entered_around(entered: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each patient-day key: whether it is among the sorted ``entered`` keys, and the entered days of the same
    patient just before and just after it (NaN: none)."""
    at = np.searchsorted(entered, keys)
    padded = np.r_[entered, -1]  # a sentinel that is no key
    found = padded[at] == keys
    patient = keys // _DAY_SPAN

    def day_at(index: np.ndarray) -> np.ndarray:
        key = padded[np.where(index >= 0, index, len(entered))]
        return np.where((key >= 0) & (key // _DAY_SPAN == patient), _key_day(key), np.nan)

    return found, day_at(at - 1), day_at(at + found)


def missing_hits(form: str, records: pd.DataFrame, patients: pd.DataFrame, grace: int) -> pd.DataFrame:
    """The required days of a one-per-day form without a record: ``series_gap`` between two entered days of the
    follow-up, ``missing_past_due`` for the others once ``grace`` days past due."""
    patient, day = _required_days(patients)
    days = records["study_day"].to_numpy(dtype=np.int64)
    within = (days >= 0) & (days <= patients["follow_up_days"].reindex(records["patient_id"]).to_numpy())
    entered = _sorted_unique(_keys(records["patient_id"].to_numpy()[within], days[within]))
    found, before, after = _entered_around(entered, _keys(patient, day))
    gap = ~found & ~np.isnan(before) & ~np.isnan(after)
    today = patients["today_day"].reindex(patient).to_numpy(dtype=float)
    late = ~found & ~gap & (day <= today - 1 - grace)
    return pd.concat(
        [
            pd.DataFrame(
                {"rule": rule, "patient_id": patient[rows], "study_day": day[rows], "form": form, "field": "", **more}
            )
            for rule, rows, more in (
                ("series_gap", gap, {"other_day": before[gap], "next_day": after[gap]}),
                ("missing_past_due", late, {"other_day": today[late]}),
            )
        ],
        ignore_index=True,
    )


# ------------------------------------------------------------------------------------------ derived values


def day_fio2(support: pd.DataFrame, settings: Mapping[str, Any] | None = None) -> np.ndarray:
    """The FiO2 of each respiratory-support record as the derivation takes it (clinical definitions §3.2.1): set on
    the device, else estimated from the device and flow; room air exactly; NaN where neither is known."""
    if not len(support):
        return np.zeros(0)
    estimate = derivations.estimate_fio2(support["support"], support["flow_l_min"], settings).to_numpy(dtype=float)
    set_fio2 = pd.to_numeric(support["fio2"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    room_air = support["support"].eq(ROOM_AIR).to_numpy(dtype=bool)
    return np.where(room_air | np.isnan(set_fio2), estimate, set_fio2)


def _rows_of(keys: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """The row of ``keys`` (distinct) holding each wanted key; -1 where none does."""
    order = np.argsort(keys, kind="stable")
    sorted_keys, rows = np.r_[keys[order], -1], np.r_[order, -1]
    at = np.searchsorted(sorted_keys[:-1], wanted)
    return np.where(sorted_keys[at] == wanted, rows[at], -1)


def not_derivable_hits(
    vitals: pd.DataFrame, support: pd.DataFrame, patients: pd.DataFrame, settings: Mapping[str, Any] | None = None
) -> pd.DataFrame:
    """Days of the follow-up with an SpO2 and no FiO2: no PaO2:FiO2 can be derived (``not_derivable.pf``, on the
    day's respiratory support)."""
    spo2 = pd.to_numeric(vitals["spo2_pct"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    days = vitals["study_day"].to_numpy(dtype=np.int64)
    follow_up = patients["follow_up_days"].reindex(vitals["patient_id"]).to_numpy(dtype=float)
    support_row = _rows_of(
        _keys(support["patient_id"].to_numpy(), support["study_day"].to_numpy()),
        _keys(vitals["patient_id"].to_numpy(), days),
    )
    fio2 = np.r_[day_fio2(support, settings), np.nan][support_row]
    rows = np.flatnonzero(~np.isnan(spo2) & np.isnan(fio2) & (days >= 0) & (days <= follow_up))
    return pd.DataFrame(
        {
            "rule": "not_derivable.pf",
            "patient_id": vitals["patient_id"].to_numpy(dtype=np.int64)[rows],
            "study_day": days[rows],
            "form": "respiratory_support",
            "field": "fio2",
            "row": rows,
            "other_row": support_row[rows],
        }
    )


# ------------------------------------------------------------------------------------------ jumps


def _jump_form(jump: Jump) -> str | None:
    """The one-per-day form that holds the jump's variable."""
    return next((crf.key for crf in CATALOGUE.values() if crf.per_day and jump.name in crf.fields), None)


def _jumps_by_form() -> dict[str, list[Jump]]:
    by_form: dict[str, list[Jump]] = {}
    for jump in JUMPS:
        by_form.setdefault(_jump_form(jump), []).append(jump)
    return by_form


def jumped(jump: Jump, before: np.ndarray, after: np.ndarray) -> np.ndarray:
    """Where the change from ``before`` to ``after`` is beyond the jump's threshold (a change of exactly the
    threshold is plausible). Decimals read as floats: the change is rounded before it is compared."""
    beyond = np.zeros(len(after), dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        if jump.max_change is not None:
            beyond |= np.round(np.abs(after - before), 6) > float(jump.max_change)
        if jump.max_ratio is not None:
            low = np.maximum(np.fmin(before, after), float(jump.ratio_floor))
            high = np.maximum(np.fmax(before, after), float(jump.ratio_floor))
            beyond |= np.round(high / low, 6) > float(jump.max_ratio)
    return beyond & ~np.isnan(before) & ~np.isnan(after)


def jump_hits(jumps: Sequence[Jump], form: str, records: pd.DataFrame) -> pd.DataFrame:
    """``jump.<variable>`` for each of ``jumps`` (variables of one form): the later of two consecutive study days
    whose values differ beyond the threshold."""
    patient = records["patient_id"].to_numpy(dtype=np.int64)
    day = records["study_day"].to_numpy(dtype=np.int64)
    order = np.argsort(_keys(patient, day), kind="stable")  # by patient, then day
    previous = np.r_[-1, order[:-1]] if len(order) else order
    consecutive = (previous >= 0) & (patient[previous] == patient[order]) & (day[previous] == day[order] - 1)
    found = []
    for jump in jumps:
        value = pd.to_numeric(records[jump.name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
        hit = consecutive & jumped(jump, value[previous], value[order])
        rows, other = order[hit], previous[hit]
        found.append(
            pd.DataFrame(
                {
                    "rule": f"jump.{jump.name}",
                    "patient_id": patient[rows],
                    "study_day": day[rows],
                    "form": form,
                    "field": jump.name,
                    "row": rows,
                    "other_row": other,
                    "other_day": day[other],
                }
            )
        )
    return pd.concat(found, ignore_index=True) if found else pd.DataFrame(columns=list(HIT_COLUMNS))


# ------------------------------------------------------------------------------------------ episodes


def _ends_before(end_day: np.ndarray, end_at: np.ndarray, start_day: np.ndarray, start_at: np.ndarray) -> np.ndarray:
    """Whether an episode (``end_day``, ``end_at``) ends before another starts (``start_day``, ``start_at``), as
    ecrf.services._ends_before: never while ongoing; by the times when both are known, else by the days."""
    by_time = ~np.isnat(end_at) & ~np.isnat(start_at)
    return ~np.isnan(end_day) & np.where(by_time, end_at <= start_at, end_day <= start_day)


def episode_overlap_hits(episodes: pd.DataFrame) -> pd.DataFrame:
    """``episode_overlap``: each ventilation episode that overlaps another episode of its patient (neither ends
    before the other starts: ecrf.services._episode_rules, the rule an episode is saved with). The hit names the
    overlapping episode with the earliest intubation day (``other_row``, ``other_day``)."""
    rows = pd.DataFrame(
        {"patient_id": episodes["patient_id"].to_numpy(dtype=np.int64), "row": np.arange(len(episodes))}
    )
    pairs = rows.merge(rows, on="patient_id", suffixes=("", "_other"))
    pairs = pairs.loc[pairs["row"] != pairs["row_other"]]
    one, other = pairs["row"].to_numpy(dtype=np.int64), pairs["row_other"].to_numpy(dtype=np.int64)
    day = pd.to_numeric(episodes["study_day"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    end_day = pd.to_numeric(episodes["end_day"], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    start_at, end_at = utc_moments(episodes["intubated_at"]), utc_moments(episodes["ended_at"])
    apart = _ends_before(end_day[one], end_at[one], day[other], start_at[other]) | _ends_before(
        end_day[other], end_at[other], day[one], start_at[one]
    )
    found = pd.DataFrame({"row": one[~apart], "other_row": other[~apart], "other_day": day[other[~apart]]})
    found = found.sort_values(["row", "other_day", "other_row"], kind="stable").drop_duplicates("row")
    hit_rows = found["row"].to_numpy(dtype=np.int64)
    record_id = episodes["record_id"] if "record_id" in episodes else pd.Series(np.nan, index=episodes.index)
    return pd.DataFrame(
        {
            "rule": "episode_overlap",
            "patient_id": episodes["patient_id"].to_numpy(dtype=np.int64)[hit_rows],
            "study_day": episodes["study_day"].to_numpy(dtype=np.int64)[hit_rows],
            "form": "ventilation_episodes",
            "field": "",
            "record_id": record_id.to_numpy(dtype=float, na_value=np.nan)[hit_rows],
            "row": hit_rows,
            "other_row": found["other_row"].to_numpy(dtype=np.int64),
            "other_day": found["other_day"].to_numpy(dtype=float),
        }
    )


# ------------------------------------------------------------------------------------------ the rules as data


def rule_of(field: str, code: str) -> tuple[str, str]:
    """The rule and the query's field of an edit check's issue: ``check.<field>.<rule>``; the checks of the
    record's study day are about the record as a whole (field ""), and data after death is its own rule."""
    if field != "study_day":
        return f"check.{field}.{code.split('.', 1)[1]}", field
    if code == "study_day.after_death":
        return "after_death", ""
    return f"check.{code}", ""


def _check_rules() -> Iterator[Rule]:
    every = tuple(CATALOGUE)
    for crf in CATALOGUE.values():
        for field in crf.limits:
            for code, level, label in range_codes(crf, field):
                yield Rule(rule_of(field, code)[0], label, (crf.key,), field, level)
        for check in CROSS_FIELD.get(crf.key, ()):
            yield Rule(rule_of(check.field, check.code)[0], check.label, (crf.key,), check.field, check.level)
    for check in DAY_CHECKS:
        yield Rule(rule_of(check.field, check.code)[0], check.label, every)


def _jump_label(jump: Jump) -> str:
    limit = LIMITS[jump.name]
    if jump.max_change is not None:
        change = f"{_number(jump.max_change)} points" if limit.unit == "%" else _quantity(jump.max_change, limit.unit)
        return f"{limit.label} changed by more than {change} in a day"
    return f"{limit.label} changed more than {_number(jump.max_ratio)}-fold in a day"


def _other_rules() -> Iterator[Rule]:
    day_forms = tuple(crf.key for crf in CATALOGUE.values() if crf.per_day)
    yield Rule("missing_past_due", f"Daily form not entered, {MISSING_GRACE_DAYS} days past due", day_forms)
    yield Rule("series_gap", "Daily form missing between two entered days", day_forms)
    yield Rule("not_derivable.pf", "PaO2:FiO2 not derivable: SpO2 without FiO2", ("respiratory_support",), "fio2")
    yield Rule("episode_overlap", "Ventilation episode overlapping another of the patient", ("ventilation_episodes",))
    for jump in JUMPS:
        yield Rule(f"jump.{jump.name}", _jump_label(jump), (_jump_form(jump) or "",), jump.name, SOFT)


def _registry(rules: Iterable[Rule]) -> dict[str, Rule]:
    """Rules by code; a rule that several forms give (the study-day checks) names all of them."""
    registry: dict[str, Rule] = {}
    for rule in rules:
        known = registry.get(rule.code)
        forms = rule.forms if known is None else tuple(dict.fromkeys(known.forms + rule.forms))
        registry[rule.code] = Rule(rule.code, rule.label, forms, rule.field, rule.level)
    return registry


def validate(rules: Iterable[Rule], catalogue: Mapping[str, Crf]) -> None:
    """Refuse, with what is wrong, a rule that names a form or a field the catalogue does not have, or whose code
    the query cannot hold."""
    for rule in rules:
        if not rule.code or len(rule.code) > MAX_CODE_LENGTH:
            raise RuleDefinitionError(f"Rule code {rule.code!r}: 1 to {MAX_CODE_LENGTH} characters.")
        if not rule.forms or not all(rule.forms):
            raise RuleDefinitionError(f"Rule {rule.code!r} names no form: give it the form its queries are about.")
        for form in rule.forms:
            if form not in catalogue:
                raise RuleDefinitionError(
                    f"Rule {rule.code!r} names the form {form!r}, which the form catalogue (ecrf/crfs.py) does not "
                    f"have; its forms are {', '.join(catalogue)}."
                )
            if rule.field and rule.field not in catalogue[form].fields:
                raise RuleDefinitionError(
                    f"Rule {rule.code!r} names the field {rule.field!r}, which the form {form!r} "
                    f"({catalogue[form].label}) does not have."
                )


#: Every rule, by code (validated against the form catalogue when this module is imported).
RULES: Mapping[str, Rule] = MappingProxyType(_registry([*_check_rules(), *_other_rules()]))
validate(RULES.values(), CATALOGUE)


# ------------------------------------------------------------------------------------------ all hits


def with_disposition_days(patients: pd.DataFrame, events: pd.DataFrame) -> pd.DataFrame:
    """The patients with ``death_day`` (the first death event) and ``end_day`` (the first event after which no
    daily form is due: death, discharge, withdrawal, loss to follow-up), NaN where none; and ``death_at``, the
    time of that first death (UTC; NaT where none is recorded)."""
    patients = patients.copy()
    for column, kinds in (("death_day", [DispositionKind.DEATH]), ("end_day", ENDS_DAILY_FORMS)):
        ending = events.loc[events["kind"].isin(list(kinds))]
        first = ending.groupby("patient_id")["study_day"].min()
        patients[column] = first.reindex(patients.index).to_numpy(dtype=float)
    dead = events.loc[events["kind"].eq(DispositionKind.DEATH).to_numpy(dtype=bool)]
    times = dead["occurred_at"] if "occurred_at" in dead else pd.Series(None, index=dead.index, dtype=object)
    at = pd.Series(utc_moments(times), index=dead.index)
    first = dead["study_day"].to_numpy(dtype=float) == dead["patient_id"].map(patients["death_day"]).to_numpy(float)
    death_at = at[first].groupby(dead["patient_id"][first]).min()  # the earliest time of the first day's death
    patients["death_at"] = pd.to_datetime(death_at.reindex(patients.index)).dt.tz_localize("UTC")
    return patients


def find_hits(
    forms: Mapping[str, pd.DataFrame],
    patients: pd.DataFrame,
    regimens: Mapping[Any, Sequence[Mapping[str, Any]]],
    *,
    settings: Mapping[str, Any] | None = None,
    grace: int = MISSING_GRACE_DAYS,
) -> pd.DataFrame:
    """Every hit of every rule in the records of a batch of patients, one row per query key (:data:`KEY`).

    ``forms``: form key -> its records (see :class:`Records`), every form of the catalogue. ``patients``: indexed
    by patient id, with follow_up_days, today_day (the study day today is at the patient's site), weight_kg, arm
    (a key of ``regimens``: arm -> the arm's regimen entries), death_day, death_at and end_day
    (:func:`with_disposition_days` adds them from the disposition events), enrolment_date (day 0), time_zone (the
    site's IANA name) and now (the current moment, UTC) for the rules of the times; site_name for the texts. A fact
    that is missing (a column absent, NaN, NaT) leaves its rule unapplied, as a None fact does on the forms.
    ``settings``: the study's derivation settings (the FiO2 estimates).
    """
    hits: list[pd.DataFrame] = []
    done = {key: _done(frame) for key, frame in forms.items()}
    for key, frame in forms.items():
        crf = CATALOGUE[key]
        hits += check_hits(Records(crf, done[key], patients, regimens))
        if crf.per_day:
            hits.append(missing_hits(key, frame, patients, grace))  # a form marked not done is not missing
    hits.append(not_derivable_hits(done["vital_signs"], done["respiratory_support"], patients, settings))
    hits.append(episode_overlap_hits(done["ventilation_episodes"]))
    for form, jumps in _jumps_by_form().items():
        hits.append(jump_hits(jumps, form, done[form]))
    return _tidy(hits)


def _done(frame: pd.DataFrame) -> pd.DataFrame:
    """The records that hold data: a form marked not done for the day (column ``not_done``) has none to check."""
    if "not_done" not in frame.columns or not frame["not_done"].any():
        return frame
    return frame.loc[~frame["not_done"].astype(bool)].reset_index(drop=True)


def _tidy(hits: list[pd.DataFrame]) -> pd.DataFrame:
    """One frame of every hit with every column (rows -1, texts "" where a rule has none), one row per key."""
    hits = [frame for frame in hits if len(frame)]
    frame = pd.concat(hits, ignore_index=True) if hits else pd.DataFrame(columns=list(HIT_COLUMNS))
    frame = frame.reindex(columns=list(HIT_COLUMNS))
    for column in ("row", "other_row"):
        frame[column] = frame[column].fillna(-1).astype(np.int64)
    for column in ("code", "source_field"):
        frame[column] = frame[column].fillna("").astype(object)
    for column in ("record_id", "other_day", "next_day"):
        frame[column] = frame[column].astype(float)
    frame = frame.astype({"patient_id": np.int64, "study_day": np.int64})
    return frame.drop_duplicates(list(KEY), keep="first", ignore_index=True)


# ------------------------------------------------------------------------------------------ the texts


def _shown(value: Any, zone: datetime.tzinfo | None = None) -> str:
    """A stored value of any kind as the query's "value when raised" (a time: in the site's ``zone``)."""
    if isinstance(value, datetime.datetime):
        return time_text(value, zone)
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, float | int | np.number | Decimal):
        return _number(value)
    return "" if value is None else str(value)


def _plain(value: Any) -> Any:
    """A frame's cell as the scalar checks take it: None for missing, Python numbers, times as aware datetimes."""
    if value is None or value is pd.NaT or (isinstance(value, float) and np.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return value.tz_localize("UTC").to_pydatetime() if value.tzinfo is None else value.to_pydatetime()
    return value.item() if isinstance(value, np.generic) else value


def _zone(patient: pd.Series) -> ZoneInfo | None:
    name = patient.get("time_zone")
    return ZoneInfo(name) if isinstance(name, str) and name else None


def _moment(patient: pd.Series, name: str) -> datetime.datetime | None:
    """A moment of the patient's facts as the checks take it: an aware datetime (a naive one is UTC), or None."""
    value = patient.get(name)
    return None if value is None or pd.isna(value) else _plain(pd.Timestamp(value))


def _facts(patient: pd.Series, regimens: Mapping[Any, Sequence]) -> PatientFacts:
    def day(name: str) -> int | None:
        value = patient.get(name)
        return None if value is None or pd.isna(value) else int(value)

    weight, enrolment = patient.get("weight_kg"), patient.get("enrolment_date")
    return PatientFacts(
        follow_up_days=int(patient["follow_up_days"]),
        death_day=day("death_day"),
        weight_kg=None if weight is None or pd.isna(weight) else Decimal(repr(float(weight))),
        regimen=tuple(regimens.get(patient.get("arm"), ())),
        today_day=day("today_day"),
        enrolment_date=None if enrolment is None or pd.isna(enrolment) else pd.Timestamp(enrolment).date(),
        site_name=patient.get("site_name") or "",
        zone=_zone(patient),
        now=_moment(patient, "now"),
        death_at=_moment(patient, "death_at"),
    )


#: The fields of the forms that hold a study day (whole numbers the messages name).
_DAY_FIELDS = frozenset({"study_day", "stop_day", "end_day"})

_ASK = {
    HARD: "Please correct it on the form, from the source.",
    SOFT: "Please check it against the source.",
}


def _check_text(hit: pd.Series, forms: Mapping[str, pd.DataFrame], patients: pd.DataFrame, regimens) -> tuple[str, str]:
    """The message of the form's own check for this record (the same words as on the form), and the value."""
    crf = CATALOGUE[hit["form"]]
    record = forms[crf.key].iloc[hit["row"]]
    values = {name: _plain(record[name]) for name in crf.fields if name in record}
    for name in _DAY_FIELDS.intersection(values):  # days are read as floats: "study day 3", not "3.0"
        values[name] = None if values[name] is None else int(values[name])
    facts = _facts(patients.loc[hit["patient_id"]], regimens)
    issues = crf.issues(values, facts) + (day_issues(int(hit["study_day"]), facts) if crf.per_day else [])
    message = next(
        (i.message for i in issues if i.code == hit["code"] and (i.field or "study_day") == hit["source_field"]),
        RULES[hit["rule"]].label + ".",
    )
    if hit["rule"] == "after_death":
        ask = "There can be no data after the day of death: correct the day of this record or of the death."
    else:
        ask = _ASK[RULES[hit["rule"]].level]
    value = _shown(_plain(record[hit["field"]]), facts.zone) if hit["field"] else ""
    return value, f"{crf.label}, study day {hit['study_day']}: {message} {ask}"


def _overlap_text(hit: pd.Series, forms: Mapping[str, pd.DataFrame]) -> str:
    """The words of ecrf.services._episode_rules for an episode that overlaps another."""
    other = forms["ventilation_episodes"].iloc[hit["other_row"]]
    end_day = _plain(other["end_day"])
    if end_day is None:
        why = (
            f"The episode from study day {int(other['study_day'])} has no end yet: record its extubation (or how it "
            "ended) before a new episode."
        )
    else:
        why = (
            f"This episode overlaps the episode of study days {int(other['study_day'])} to {int(end_day)}: a "
            "re-intubation starts after the end of the previous episode."
        )
    return (
        f"{CATALOGUE['ventilation_episodes'].label}, study day {hit['study_day']}: {why} Please correct the days or "
        "times of the episodes from the source."
    )


def _missing_text(hit: pd.Series) -> str:
    label, day = CATALOGUE[hit["form"]].label, hit["study_day"]
    if hit["rule"] == "series_gap":
        why = f"although study days {int(hit['other_day'])} and {int(hit['next_day'])} are"
    else:
        why = f"{int(hit['other_day']) - day} days ago; it is due every day up to discharge and before death"
    return (
        f"{label} of study day {day} not entered, {why}. Please enter it from the source, or answer 'Not available "
        "in source'."
    )


def _not_derivable_text(hit: pd.Series, forms: Mapping[str, pd.DataFrame]) -> str:
    spo2 = _number(forms["vital_signs"]["spo2_pct"].iloc[hit["row"]])
    if hit["other_row"] < 0:
        why = "no respiratory support is recorded that day"
    else:
        support = forms["respiratory_support"].iloc[hit["other_row"]]
        needs_flow = "flow_l_min" in REQUIRED_SETTINGS.get(support["support"], ())
        why = (
            "the oxygen flow of the low-flow device is not recorded"
            if needs_flow and _plain(support["flow_l_min"]) is None
            else "no FiO2 is set on the device"
        )
    return (
        f"SpO2 {spo2}% on study day {hit['study_day']}, but the FiO2 of that day is not known ({why}): the "
        "PaO2:FiO2 cannot be derived from it. Please complete the respiratory support of that day."
    )


def _jump_text(hit: pd.Series, forms: Mapping[str, pd.DataFrame]) -> tuple[str, str]:
    jump = next(j for j in JUMPS if f"jump.{j.name}" == hit["rule"])
    limit = LIMITS[jump.name]
    column = forms[hit["form"]][jump.name]
    before, after = float(column.iloc[hit["other_row"]]), float(column.iloc[hit["row"]])
    if jump.max_change is not None and round(abs(after - before), 6) > float(jump.max_change):
        change = f"a change of {_quantity(round(abs(after - before), 6), limit.unit)} in one day"
    else:
        change = f"more than {_number(jump.max_ratio)}-fold in one day"
    return _number(after), (
        f"{limit.label} went from {_quantity(before, limit.unit)} on study day {int(hit['other_day'])} to "
        f"{_quantity(after, limit.unit)} on study day {hit['study_day']}, {change} ({_jump_label(jump).lower()} "
        "is unusual). Please check both values against the source."
    )


def describe(
    hit: pd.Series, forms: Mapping[str, pd.DataFrame], patients: pd.DataFrame, regimens: Mapping[Any, Sequence]
) -> tuple[str, str]:
    """(value when raised, text) of the query a hit opens: clear words naming the value. Called for the hits
    that open or reopen a query only (the rows of ``forms`` the hit points at; ``patients`` as for find_hits, with
    their disposition days: :func:`with_disposition_days`)."""
    rule = hit["rule"]
    if rule.startswith("check.") or rule == "after_death":
        return _check_text(hit, forms, patients, regimens)
    if rule in ("missing_past_due", "series_gap"):
        return "", _missing_text(hit)
    if rule == "not_derivable.pf":
        return "", _not_derivable_text(hit, forms)
    if rule == "episode_overlap":
        return "", _overlap_text(hit, forms)
    return _jump_text(hit, forms)


def cleared_text(rule_code: str) -> str:
    """The system's message when it closes a query whose condition cleared."""
    rule = RULES.get(rule_code)
    label = rule.label if rule is not None else f"{rule_code} (a rule no longer in use)"
    return f"The condition cleared: the data-quality rule '{label}' no longer finds it."
