"""The import format (docs/import-format.md): its tables, their columns, and how a cell becomes a typed value.

A file per form, named after its catalogue key (the table names of the releases), and the patients. A column of a
form is built from its model field, so the format follows the catalogue (ecrf/crfs.py).
"""

from __future__ import annotations

import datetime
import functools
import re
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from cohorts.models import COMORBIDITIES, Patient, PatientStatus, Sex
from cohorts.units import UNITS
from ecrf import checks, crfs
from ecrf.crfs import CATALOGUE, CODE_COLUMN_SUFFIX, DAY_FORMS, Crf
from ecrf.models import MISSING_CODE_ABBREVIATIONS, MissingCode
from ecrf.numbers import parse_decimal, parse_integer

KEY = "participant_id"
PATIENTS = "patients"
CONFIRM = "confirm"
CONFIRM_ALIASES = (CONFIRM, "confirmed_checks")  # a release's tables name the confirmed checks "confirmed_checks"
NOT_DONE_REASON = "not_done_reason"
#: What a value cell or a code column may say instead of a value (any case): ND, UNK, NA, or the codes themselves.
CELL_CODES: dict[str, str] = {
    **{abbreviation.lower(): code.value for code, abbreviation in MISSING_CODE_ABBREVIATIONS.items()},
    **{code.value: code.value for code in MissingCode},
    # Their English words, whatever the language of the page: "not done", "unknown", "not applicable".
    **{code.value.replace("_", " "): code.value for code in MissingCode},
}

#: A file per form, named after its catalogue key (the table names of the releases), and the patients.
TABLES = (PATIENTS, *CATALOGUE)
#: The file names an import takes, for help texts.
FILE_NAMES = ", ".join(f"{table}.csv" for table in TABLES)


@dataclass(frozen=True, eq=False)  # one object per column of COLUMNS: hashed by identity (typed_cell's cache)
class Column:
    """A column of the format: how its cells are read and what an empty cell means."""

    name: str
    kind: str  # integer, decimal, boolean, choice, text, date, time, codes, missing_code
    required: bool = False  # a row needs a value
    nullable: bool = True  # empty -> None (else "" for text and choices, False for yes/no)
    places: int | None = None
    choices: tuple[str, ...] = ()
    max_length: int | None = None


def _field_column(model_field: models.Field, *, required: bool | None = None) -> Column:
    name, optional = model_field.name, model_field.null or model_field.blank
    if isinstance(model_field, models.DateTimeField):
        return Column(name, "time")
    if isinstance(model_field, models.DecimalField):
        return Column(
            name,
            "decimal",
            required=not optional if required is None else required,
            places=model_field.decimal_places,
        )
    if isinstance(model_field, models.IntegerField):
        return Column(name, "integer", required=not optional if required is None else required)
    if isinstance(model_field, models.BooleanField):
        return Column(name, "boolean", nullable=model_field.null)
    if model_field.choices:
        return Column(
            name,
            "choice",
            required=not optional if required is None else required,
            nullable=False,
            choices=tuple(str(value) for value, _ in model_field.flatchoices),
        )
    return Column(name, "text", nullable=False, max_length=model_field.max_length)


# Units a value may have been reported in before conversion (cohorts/units.py); the number is always canonical.
ENTERED_UNITS = {"pao2_entered_unit": "pao2", "crp_entered_unit": "crp"}


#: The study day a time lies on (clinical definitions §2.3): the stop time on the stop day, the end of a ventilation
#: episode on its end day, the patient's oxygen criterion on oxygen_criterion_day (a column of the import and of the
#: releases, not stored: the criterion's time gives it), every other time on the record's study day.
TIME_DAYS: dict[str, str] = {**crfs.TIME_DAYS, "oxygen_criterion_at": "oxygen_criterion_day"}


def _dating_time(crf: Crf) -> str | None:
    """The time of a repeating form that lies on its study day (started_at, occurred_at, intubated_at), or None: a
    row that gives it as a date and time may leave its study day empty, the import computes it (study days stay
    derived from the times, clinical definitions §2.3)."""
    return next((name for name, day in crf.time_days.items() if day == "study_day"), None)


def _form_columns(crf: Crf) -> dict[str, Column]:
    columns = {KEY: Column(KEY, "text", required=True, nullable=False, max_length=24)}
    if "study_day" not in crf.fields:
        columns["study_day"] = Column("study_day", "integer", required=True)
    for name in crf.fields:
        model_field = crf.model._meta.get_field(name)
        if name in ENTERED_UNITS:
            units = tuple(UNITS[ENTERED_UNITS[name]].factors)
            columns[name] = Column(name, "choice", nullable=False, choices=units)
        elif name == "study_day":  # may be left empty beside a date and time it lies on (DATED_BY)
            columns[name] = Column(name, "integer", required=_dating_time(crf) is None)
        elif name == "support":  # required when the row has values: the service says so, next to the field
            columns[name] = _field_column(model_field, required=False)
        else:
            columns[name] = _field_column(model_field)
    columns[CONFIRM] = Column(CONFIRM, "codes", nullable=False)
    if crf.per_day:
        max_length = crf.model._meta.get_field(NOT_DONE_REASON).max_length
        columns[NOT_DONE_REASON] = Column(NOT_DONE_REASON, "text", nullable=False, max_length=max_length)
    for name in crf.code_columns.values():
        columns[name] = Column(name, "missing_code", nullable=False)
    return columns


def _patient_columns() -> dict[str, Column]:
    field_of = Patient._meta.get_field
    return {
        KEY: Column(KEY, "text", required=True, nullable=False, max_length=24),
        "site": Column("site", "text", required=True, nullable=False, max_length=8),
        "arm": Column("arm", "text", required=True, nullable=False, max_length=32),
        "arm_label": Column("arm_label", "text", nullable=False),  # checked against the arm, not stored
        "enrolment_date": Column("enrolment_date", "date"),
        "sex": Column("sex", "choice", required=True, nullable=False, choices=tuple(Sex.values)),
        "age_years": Column("age_years", "integer", required=True),
        "weight_kg": _field_column(field_of("weight_kg")),
        **{name: Column(name, "boolean") for name in COMORBIDITIES},
        "status": Column("status", "choice", nullable=False, choices=tuple(PatientStatus.values)),
        "follow_up_days": Column("follow_up_days", "integer"),  # checked against the study, not stored
        "oxygen_criterion_day": Column("oxygen_criterion_day", "integer"),  # the day of a time of day, not stored
        "oxygen_criterion_at": Column("oxygen_criterion_at", "time"),
        CONFIRM: Column(CONFIRM, "codes", nullable=False),
    }


COLUMNS: dict[str, dict[str, Column]] = {
    PATIENTS: _patient_columns(),
    **{key: _form_columns(crf) for key, crf in CATALOGUE.items()},
}
# Columns a file must have (a row may still leave some empty, e.g. no weight).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    table: tuple(name for name, column in columns.items() if column.required) for table, columns in COLUMNS.items()
}
REQUIRED_COLUMNS["respiratory_support"] += ("support",)
#: The repeating tables whose study day a row may leave to its time -> that time's column.
DATED_BY: dict[str, str] = {key: name for key, crf in CATALOGUE.items() if (name := _dating_time(crf)) is not None}

# The soft checks (clinical definitions §2.1) a row of each table may confirm in its confirm column.
SOFT_CODES: dict[str, frozenset[str]] = {
    key: frozenset(
        f"{name}.{rule}"
        for name in crf.limits.values()
        for rule, bound in (("soft_low", checks.LIMITS[name].soft_low), ("soft_high", checks.LIMITS[name].soft_high))
        if bound is not None
    )
    for key, crf in CATALOGUE.items()
}
SOFT_CODES["drug_administration"] = SOFT_CODES["drug_administration"] | {"dose.regimen", "route.regimen"}
SOFT_CODES[PATIENTS] = frozenset({"weight_kg.soft_high"})

# What identifies a row: two rows with the same key in one file are duplicates. A daily form has one record per
# patient-day; a disposition one per patient, day and kind (the database's unique constraints); a ventilation episode
# one per patient and intubation (its day and time): a row with the intubation of a stored episode corrects it.
ROW_KEYS: dict[str, tuple[str, ...]] = {
    PATIENTS: (KEY,),
    **dict.fromkeys(DAY_FORMS, (KEY, "study_day")),
    "disposition_events": (KEY, "study_day", "kind"),
    "ventilation_episodes": (KEY, "study_day", "intubated_at"),
}
#: The repeating tables whose row corrects the stored record of the same key (the others: a row that differs from
#: every stored record is a new record).
CORRECTED_BY_KEY = ("disposition_events", "ventilation_episodes")

_TIME_COLUMNS: dict[str, dict[str, str]] = {
    table: {name: TIME_DAYS.get(name, "study_day") for name, column in columns.items() if column.kind == "time"}
    for table, columns in COLUMNS.items()
}


def time_columns(table: str) -> dict[str, str]:
    """The time columns of a table -> the column of the study day each lies on."""
    return _TIME_COLUMNS[table]


def template_header(table: str) -> str:
    """The header line of the table's template file (docs/import-templates/<table>.csv): every column but the
    missing-data code columns (<field>_mc) of a release, as a file written by hand puts ND, UNK or NA in the value's
    own cell."""
    return ",".join(name for name in COLUMNS[table] if not is_code_column(table, name))


def is_code_column(table: str, name: str) -> bool:
    """Whether ``name`` is a value's missing-data code column (<field>_mc) of the table."""
    crf = CATALOGUE.get(table)
    return crf is not None and name.endswith(CODE_COLUMN_SUFFIX) and name in crf.code_columns.values()


def cell_code(text: str) -> str | None:
    """The missing-data code a value cell holds instead of a value (ND, UNK, NA in any case), or None."""
    return CELL_CODES.get(text.strip().lower()) if text.strip().lower() in _ABBREVIATIONS else None


_ABBREVIATIONS = frozenset(abbreviation.lower() for abbreviation in MISSING_CODE_ABBREVIATIONS.values())


class CellError(ValueError):
    pass


#: Cells up to this length are typed once per distinct text of a column (typed_cell).
_CACHED_LENGTH = 40


def typed_cell(column: Column, text: str, may_be_code: bool) -> tuple[str | None, Any]:
    """A cell as (its missing-data code, None) when ``may_be_code`` and it holds ND, UNK or NA instead of a value,
    else (None, its typed value, parse_cell); CellError when it cannot be read.

    An import repeats the same few texts in a column (37.2, cpap, true) a million times: a short text is typed once
    per column and the typed value (immutable: a number, a text, a date, a set of codes) reused. A refusal is not
    kept: its message is built again, in the language of the moment."""
    if len(text) > _CACHED_LENGTH:
        return _typed_cell(column, text, may_be_code)
    return _cached_cell(column, text, may_be_code)


def _typed_cell(column: Column, text: str, may_be_code: bool) -> tuple[str | None, Any]:
    code = cell_code(text) if may_be_code else None
    return (code, None) if code is not None else (None, parse_cell(column, text))


_cached_cell = functools.lru_cache(maxsize=2**16)(_typed_cell)


_BOOLEANS = {
    "true": True,
    "false": False,
    "yes": True,
    "no": False,
    "y": True,
    "n": False,
    "1": True,
    "0": False,
    "t": True,
    "f": False,
}


def parse_cell(column: Column, text: str) -> Any:
    """The typed value of a cell, or CellError with a message for the person who wrote the file."""
    text = text.strip()
    if "\x00" in text:
        raise CellError(_("The cell contains a NUL character: the file is damaged or not a text file."))
    if not text:
        if column.required:
            if column.choices:
                raise CellError(_("A value is required here: one of %(codes)s.") % {"codes": ", ".join(column.choices)})
            raise CellError(_("A value is required here."))
        if column.kind == "boolean" and not column.nullable:
            return False
        if column.kind == "codes":
            return frozenset()
        return "" if column.kind in ("text", "choice") else None
    if column.kind == "integer":
        return _integer(text)
    if column.kind == "decimal":
        return _decimal(column, text)
    if column.kind == "boolean":
        if text.lower() not in _BOOLEANS:
            raise CellError(
                _("'%(text)s' is not yes or no: write true or false (yes/no and 1/0 are read too).") % {"text": text}
            )
        return _BOOLEANS[text.lower()]
    if column.kind == "choice":
        match = {choice.lower(): choice for choice in column.choices}.get(text.lower())
        if match is None:
            raise CellError(
                _("'%(text)s' is not one of the codes of %(column)s: %(codes)s.")
                % {"text": text, "column": column.name, "codes": ", ".join(column.choices)}
            )
        return match
    if column.kind == "date":
        try:
            return datetime.date.fromisoformat(text)
        except ValueError:
            raise CellError(
                _("'%(text)s' is not a date: write it as year-month-day, e.g. 2020-03-17.") % {"text": text}
            ) from None
    if column.kind == "time":
        return parse_time(text)
    if column.kind == "codes":
        return frozenset(code for code in re.split(r"[;,\s]+", text) if code)
    if column.kind == "missing_code":
        code = CELL_CODES.get(text.lower())
        if code is None:
            raise CellError(
                _(
                    "'%(text)s' is not a missing-data code: write ND (not done), UNK (unknown) or NA (not applicable), "
                    "or leave the cell empty."
                )
                % {"text": text}
            )
        return code
    if column.max_length and len(text) > column.max_length:
        raise CellError(
            _("The text has %(length)s characters; at most %(maximum)s fit.")
            % {"length": len(text), "maximum": column.max_length}
        )
    return text


def _integer(text: str) -> int:
    number = parse_integer(text, error=CellError)  # read as the forms read it (ecrf/numbers.py)
    if abs(number) > 32767:
        raise CellError(_("'%(text)s' is far too large.") % {"text": text})
    return int(number)


def _decimal(column: Column, text: str) -> Decimal:
    number = parse_decimal(text, error=CellError)  # read as the forms read it (ecrf/numbers.py)
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and column.places is not None and -exponent > column.places:
        raise CellError(
            _("%(text)s has more decimals than %(column)s keeps (%(places)s).")
            % {"text": text, "column": column.name, "places": column.places}
        )
    if abs(number) >= 10**12:  # no measurement is that large; the limits of the forms report the others
        raise CellError(_("%(text)s is far too large.") % {"text": text})
    # The number of digits a column keeps is not checked here: the forms' hard limits (or, for the few columns
    # without limits, the model's) refuse a number that does not fit, with the clinical message.
    return number.quantize(Decimal(1).scaleb(-(column.places or 0)))


# ---------------------------------------------------------------------------------------------------------- times

_CLOCK = r"(?P<clock>\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)\s*(?P<offset>Z|[+-]\d{2}:?\d{2})?"
_TIME = re.compile(rf"^(?P<date>\d{{4}}-\d{{2}}-\d{{2}})[T ]{_CLOCK}$", re.IGNORECASE)
_TIME_OF_DAY = re.compile(rf"^{_CLOCK}$", re.IGNORECASE)


def parse_time(text: str) -> datetime.datetime | datetime.time:
    """A time cell, ISO 8601 (clinical definitions §2.3, docs/import-format.md):

    - a date and time, ``2020-04-01T22:00`` or ``2020-04-01 22:00`` (seconds optional), is the local time at the
      patient's site and comes back as a naive datetime, to be placed in the site's zone by :func:`site_time` once
      the patient is known; with an offset or Z (``2020-04-01T22:00-04:00``) it is exact and comes back aware;
    - a time of day, ``22:00`` or ``22:00-04:00`` (what a release writes), is that clock time at the site on the
      study day of its row, and comes back as a ``datetime.time`` (aware with its offset), placed on its day by
      :func:`site_time_of_day`.
    """
    found = _TIME.match(text) or _TIME_OF_DAY.match(text)
    moment = None
    if found:
        offset = (found["offset"] or "").upper().replace("Z", "+00:00")
        if offset and ":" not in offset:
            offset = f"{offset[:3]}:{offset[3:]}"
        try:
            if "date" in found.groupdict():
                moment = datetime.datetime.fromisoformat(f"{found['date']}T{found['clock']}{offset}")
            else:
                moment = datetime.time.fromisoformat(f"{found['clock']}{offset}")
        except ValueError:
            moment = None
    if moment is None:
        raise CellError(
            _(
                "'%(text)s' is not a time: write a date and time, e.g. 2020-04-01 22:00 (local time at the site) or "
                "2020-04-01T22:00-04:00 (with its UTC offset), or a time of day on the row's study day, e.g. 22:00 "
                "or 22:00-04:00."
            )
            % {"text": text}
        )
    return moment


def is_time_of_day(value: Any) -> bool:
    """Whether a parsed time cell is a time of day (placed on the study day of its row)."""
    return isinstance(value, datetime.time)


def site_time(moment: datetime.datetime, zone: datetime.tzinfo) -> datetime.datetime:
    """A date and time of a cell as an aware moment: an exact one (with an offset) as it is, a local one placed in
    ``zone``.

    A local time that does not exist in ``zone`` (skipped when the clocks go forward) or exists twice (when they go
    back) is refused with CellError: the cell must give its UTC offset."""
    if moment.tzinfo is not None:
        return moment
    first, second = moment.replace(tzinfo=zone, fold=0), moment.replace(tzinfo=zone, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    values = {"time": moment.strftime("%Y-%m-%d %H:%M"), "zone": str(zone)}
    if _skipped(moment, zone):
        values["example"] = first.astimezone(datetime.UTC).astimezone(zone).isoformat(timespec="minutes")
        raise CellError(
            _(
                "%(time)s does not exist in %(zone)s: the clocks went forward at the change to daylight-saving time. "
                "Correct the time (%(example)s is the same moment in daylight-saving time), or give its UTC offset."
            )
            % values
        )
    values.update({"first": _offset_text(first), "second": _offset_text(second)})
    values["example"] = first.isoformat(timespec="minutes")
    raise CellError(
        _(
            "%(time)s occurs twice in %(zone)s (the clocks went back at the end of daylight-saving time): give it with "
            "its UTC offset, %(first)s (the first time) or %(second)s (the second), e.g. %(example)s."
        )
        % values
    )


def site_time_of_day(clock: datetime.time, date: datetime.date, zone: datetime.tzinfo) -> datetime.datetime:
    """A time of day of a cell (``22:30`` or ``22:30-04:00``) on the local ``date`` of its row's study day at the
    site, as an aware moment.

    It is the clock time in ``zone``: one that a daylight-saving change skips is refused, and one it repeats needs
    its offset, as a local date and time does (:func:`site_time`). An offset must be the one ``zone`` has at that
    clock time on that date (both are named when it is not): it only tells which of a repeated hour it is."""
    local = datetime.datetime.combine(date, clock.replace(tzinfo=None))
    first, second = local.replace(tzinfo=zone, fold=0), local.replace(tzinfo=zone, fold=1)
    values = {"time": local.strftime("%H:%M"), "date": date.isoformat(), "zone": str(zone)}
    if _skipped(local, zone):
        raise CellError(
            _(
                "%(time)s does not exist in %(zone)s on %(date)s: the clocks went forward at the change to "
                "daylight-saving time. Correct the time or the day."
            )
            % values
        )
    if clock.tzinfo is not None:
        given = local.replace(tzinfo=clock.tzinfo)
        if given.utcoffset() in (first.utcoffset(), second.utcoffset()):
            return given
        values.update({"cell": clock_text(clock), "offset": _offset_text(given), "site": _offset_text(first)})
        if first.utcoffset() == second.utcoffset():
            raise CellError(
                _(
                    "%(cell)s is not the clock time at the site: at %(time)s on %(date)s the offset of %(zone)s is "
                    "%(site)s, not %(offset)s. Give the offset %(site)s, or the time without an offset."
                )
                % values
            )
        values["second"] = _offset_text(second)
        raise CellError(
            _(
                "%(cell)s is not the clock time at the site: %(time)s occurs twice in %(zone)s on %(date)s, at the "
                "offsets %(site)s (the first time) and %(second)s (the second), not %(offset)s. Give one of them."
            )
            % values
        )
    if first.utcoffset() == second.utcoffset():
        return first
    values.update({"first": _offset_text(first), "second": _offset_text(second)})
    values["example"] = clock_text(clock) + values["first"]
    raise CellError(
        _(
            "%(time)s occurs twice in %(zone)s on %(date)s (the clocks went back at the end of daylight-saving time): "
            "give it with its UTC offset, %(first)s (the first time) or %(second)s (the second), e.g. %(example)s."
        )
        % values
    )


def clock_text(clock: datetime.time) -> str:
    """A time of day as ISO 8601 writes it, seconds only when not zero: 22:30-04:00, 22:30:15."""
    return clock.isoformat(timespec="minutes" if not (clock.second or clock.microsecond) else "auto")


def _skipped(local: datetime.datetime, zone: datetime.tzinfo) -> bool:
    """Whether the naive local time ``local`` does not exist in ``zone`` (the clocks went forward over it)."""
    return local.replace(tzinfo=zone).astimezone(datetime.UTC).astimezone(zone).replace(tzinfo=None) != local


def _offset_text(moment: datetime.datetime) -> str:
    """The UTC offset of an aware moment as ISO 8601 writes it: -04:00."""
    return moment.isoformat()[-6:]
