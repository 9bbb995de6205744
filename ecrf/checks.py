"""Edit checks for the daily case report forms (clinical definitions §2.1), as data.

Pure module: no Django imports but the translation and formatting of the messages, so the rules can be
unit-tested on plain values and reused by forms (``form.clean()``), the services and the import alike. The limits
themselves are the one table of cohorts/limits.py, which the screening and the database
constraints read too.

Two kinds of finding, both reported as an :class:`Issue` attached to a form field:

* **hard** - the value is implausible and is refused;
* **soft** - the value is plausible but unusual; the user must tick "confirm" and the
  confirmation is stored (clinical definitions §2.1).

Every issue carries a stable machine ``code`` (``"<field>.<rule>"``, e.g.
``"temperature_c.hard_max"``) so forms can raise ``ValidationError(code=...)`` and
tests or queries can match on it without parsing the message.

Values may arrive as ``Decimal`` (Django form fields), ``int``, ``float`` or ``None``.
They are compared as ``Decimal`` so that ``0.21`` typed in a form and ``0.21`` in the
table are the same number (a binary float 0.21 is not exactly 0.21).
"""

from __future__ import annotations

import datetime
import functools
import math
import numbers
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Literal, TypeAlias

import numpy as np
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext

from cohorts.limits import LIMITS, Limit, Number, dose_limit, number_text

Level: TypeAlias = Literal["hard", "soft"]

HARD: Level = "hard"
SOFT: Level = "soft"


def confirm_hint() -> str:
    """The end of a soft finding's message on a form (the import says what to do in its file instead)."""
    return _("tick 'confirm' if this is correct.")


@dataclass(frozen=True)
class Issue:
    """One finding of an edit check, attached to the form field it belongs to."""

    field: str
    level: Level
    code: str
    message: str

    @property
    def variable(self) -> str:
        """Alias of ``field`` for single-variable range checks."""
        return self.field

    @property
    def needs_confirmation(self) -> bool:
        """A soft issue is accepted once the user confirms it; a hard one never is."""
        return self.level == SOFT


# Single-variable checks and cross-field rules return the same class.
CheckResult = Issue


# --------------------------------------------------------------------------- values


def as_decimal(value: Number | None) -> Decimal | None:
    """Return ``value`` as an exact ``Decimal``; ``None`` (or NaN) means missing.

    Floats go through their shortest decimal representation, so ``34.9`` becomes
    ``Decimal("34.9")`` and not the binary approximation. NaN is treated as
    missing because pandas uses it for empty cells (clinical definitions §5: missing is empty).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        raise TypeError("a boolean is not a clinical measurement")
    if isinstance(value, Decimal):
        return None if value.is_nan() else value
    if isinstance(value, numbers.Integral):
        return Decimal(int(value))
    if isinstance(value, numbers.Real):
        number = float(value)
        return None if math.isnan(number) else Decimal(repr(number))
    raise TypeError(f"expected a number or None, got {type(value).__name__}")


def format_number(number: Number) -> str:
    """``45.0`` -> ``"45"``, ``41.50`` -> ``"41.5"``, ``300000`` -> ``"300000"``, with the decimal separator of the
    active language (Italian ``"41,5"``)."""
    return number_text(as_decimal(number))


# Units shown glued to the number, and units not worth showing next to a number.
_GLUED_UNITS = frozenset({"%"})
_SILENT_UNITS = frozenset({"", "fraction"})


def _quantity(number: Number, unit: str) -> str:
    """Number with its unit as the user reads it: "41.5 degC", "92%", "0.5"."""
    text = format_number(number)
    if unit in _SILENT_UNITS:
        return text
    if unit in _GLUED_UNITS:
        return f"{text}{unit}"
    return f"{text} {unit}"


# --------------------------------------------------------------------- range checks


def _shown(limit: Limit, value: Decimal, bound: Decimal) -> dict[str, str]:
    """The placeholders of a range message: the limit's label, the entered value and the bound, each with its unit
    ("Temperature", "45 degC", "44 degC")."""
    return {"label": str(limit.label), "value": _quantity(value, limit.unit), "bound": _quantity(bound, limit.unit)}


def _below_hard_min(limit: Limit, value: Decimal) -> Issue | None:
    """Refuse a value under the hard minimum (inclusive unless marked exclusive)."""
    low = as_decimal(limit.hard_min)
    if low is None:
        return None
    if limit.hard_min_exclusive and value <= low:
        message = _("%(label)s %(value)s must be greater than %(bound)s.") % _shown(limit, value, low)
    elif value < low:
        message = _("%(label)s %(value)s is below the plausible minimum of %(bound)s.") % _shown(limit, value, low)
    else:
        return None
    return Issue(limit.name, HARD, f"{limit.name}.hard_min", message)


def _above_hard_max(limit: Limit, value: Decimal) -> Issue | None:
    """Refuse a value over the hard maximum (the maximum itself is accepted)."""
    high = as_decimal(limit.hard_max)
    if high is None or value <= high:
        return None
    message = _("%(label)s %(value)s is above the plausible maximum of %(bound)s.") % _shown(limit, value, high)
    return Issue(limit.name, HARD, f"{limit.name}.hard_max", message)


def _beyond_soft_bound(limit: Limit, value: Decimal) -> Issue | None:
    """Ask for confirmation strictly beyond a soft bound (clinical definitions §2.1: "< 35 or > 41")."""
    low = as_decimal(limit.soft_low)
    high = as_decimal(limit.soft_high)
    if low is not None and value < low:
        rule = "soft_low"
        message = _("%(label)s %(value)s is below %(bound)s: %(hint)s") % {
            **_shown(limit, value, low),
            "hint": confirm_hint(),
        }
    elif high is not None and value > high:
        rule = "soft_high"
        message = _("%(label)s %(value)s is above %(bound)s: %(hint)s") % {
            **_shown(limit, value, high),
            "hint": confirm_hint(),
        }
    else:
        return None
    return Issue(limit.name, SOFT, f"{limit.name}.{rule}", message)


def get_limit(name: str) -> Limit:
    """The limit of ``name``; an unknown name is a programming error, not user input."""
    try:
        return LIMITS[name]
    except KeyError:
        raise KeyError(f"no edit check is defined for variable {name!r}") from None


def check_value(name: str, value: Number | None) -> CheckResult | None:
    """Check one value against its clinical definitions §2.1 limits.

    Returns ``None`` when the value is fine or missing (missing values are the
    business of required-field rules, not of range checks); otherwise the single
    most serious finding: a hard refusal takes precedence over a soft confirmation.
    """
    kind = type(value)  # an int or a finite Decimal, the typed values of forms and imports, as they are
    if (kind is int or (kind is Decimal and value.is_finite())) and _value_within(name, value):
        return None
    number = as_decimal(value)
    if number is None or (number.is_finite() and _value_within(name, number)):
        return None
    return check_limit(get_limit(name), number)


@functools.lru_cache(maxsize=2**14)
def _value_within(name: str, number: int | Decimal) -> bool:
    """_within for the limit of ``name``, kept per value: an import checks the same few values a million times (the
    limits table is fixed; 37.5 and 37.50 are within the same bounds)."""
    return _within(get_limit(name), number)


def check_limit(limit: Limit, value: Number | None) -> CheckResult | None:
    """:func:`check_value` against a given row of the limits table."""
    number = as_decimal(value)
    if number is None or _within(limit, number):
        return None
    return _below_hard_min(limit, number) or _above_hard_max(limit, number) or _beyond_soft_bound(limit, number)


def _exact(bound: Number | None) -> Number | None:
    """A bound as Python compares it exactly with a Decimal: an int or a Decimal as it is (no conversion), a float
    through as_decimal (its shortest decimal, as the messages show it)."""
    return bound if bound is None or type(bound) in (int, Decimal) else as_decimal(bound)


def _within(limit: Limit, value: Decimal) -> bool:
    """Whether none of the three checks below finds anything, without building a message: most values are fine, and
    an import checks millions of them."""
    hard_min, hard_max, soft_low, soft_high = map(
        _exact, (limit.hard_min, limit.hard_max, limit.soft_low, limit.soft_high)
    )
    return (
        (hard_min is None or (value > hard_min if limit.hard_min_exclusive else value >= hard_min))
        and (hard_max is None or value <= hard_max)
        and (soft_low is None or value >= soft_low)
        and (soft_high is None or value <= soft_high)
    )


@dataclass(frozen=True)
class RangeMasks:
    """The range findings of many values of one variable, as boolean arrays (ecrf.checks.check_limit's verdicts,
    each value's most serious finding): under the hard minimum, over the hard maximum, else below the soft low or
    above the soft high bound. A missing value (NaN) has none."""

    below: np.ndarray
    above: np.ndarray
    under: np.ndarray
    over: np.ndarray

    @property
    def found(self) -> np.ndarray:
        return self.below | self.above | self.under | self.over


def range_masks(limit: Limit, numbers: np.ndarray, hard_max: np.ndarray | None = None) -> RangeMasks:
    """The range verdicts of ``numbers`` (floats, NaN: missing) against ``limit``, in one pass of numpy: the rule
    job's edit checks over a whole study (cleaning/rules.py) and ``check_column`` read them. ``hard_max``: a maximum
    per value instead of the limit's (a dose's, by drug and unit; NaN: none).

    Compared as floats: exact for the numbers the forms and the import store (at most 15 significant digits: a
    float keeps their order and their equality with a bound)."""
    low = np.nan if limit.hard_min is None else float(limit.hard_min)
    high = hard_max if hard_max is not None else (np.nan if limit.hard_max is None else float(limit.hard_max))
    soft_low = np.nan if limit.soft_low is None else float(limit.soft_low)
    soft_high = np.nan if limit.soft_high is None else float(limit.soft_high)
    below = (numbers <= low) if limit.hard_min_exclusive else (numbers < low)
    above = ~below & (numbers > high)
    hard = below | above
    under = ~hard & (numbers < soft_low)
    over = ~hard & ~under & (numbers > soft_high)
    return RangeMasks(below, above, under, over)


def check_column(name: str, values: Sequence[Number | None]) -> dict[int, CheckResult]:
    """:func:`check_value` of many values of one variable at once (an import's chunk of records): position -> the
    finding, for the values that have one; the same findings, with the same messages, as ``check_value`` on each.

    The verdicts are ``range_masks``'; the values they find something in, and those equal to a bound as floats (a
    value with more digits than a float holds may be just beyond it), go through ``check_value``, which judges them
    exactly and writes the message. Values are numbers or None (missing; NaN too), as forms and imports type them."""
    limit = get_limit(name)
    try:
        numbers = np.fromiter((_NAN if value is None else float(value) for value in values), float, len(values))
    except (TypeError, ValueError):  # not a number (check_value says which), or a signalling NaN: one by one
        return {position: found for position, value in enumerate(values) if (found := check_value(name, value))}
    bounds = [float(b) for b in (limit.hard_min, limit.hard_max, limit.soft_low, limit.soft_high) if b is not None]
    candidates = range_masks(limit, numbers).found | np.isin(numbers, bounds)
    findings = {}
    for position in np.flatnonzero(candidates).tolist():
        if (found := check_value(name, values[position])) is not None:
            findings[position] = found
    return findings


_NAN = float("nan")


def check_dose(drug: str | None, unit: str | None, dose: Number | None) -> CheckResult | None:
    """A dose is positive and at most the maximum of its drug and unit (cohorts/limits.py DOSE_MAXIMA, clinical
    definitions §2.1): "Anakinra dose 2000 mg is above the plausible maximum of 1000 mg." """
    return check_limit(dose_limit(drug, unit), dose)


def check_values(values: Mapping[str, Number | None]) -> list[CheckResult]:
    """Check several values at once, in the mapping's order; unknown names raise."""
    results = (check_value(name, value) for name, value in values.items())
    return [result for result in results if result is not None]


# ------------------------------------------------------------------ cross-field rules


def check_blood_pressure(systolic: Number | None, diastolic: Number | None) -> list[Issue]:
    """Diastolic must be below systolic (clinical definitions §2.1); reported on the diastolic field."""
    sys_value, dia_value = as_decimal(systolic), as_decimal(diastolic)
    if sys_value is None or dia_value is None or dia_value < sys_value:
        return []
    unit = LIMITS["diastolic_mmhg"].unit
    message = _("Diastolic blood pressure %(diastolic)s must be below the systolic %(systolic)s.") % {
        "diastolic": _quantity(dia_value, unit),
        "systolic": _quantity(sys_value, unit),
    }
    return [Issue("diastolic_mmhg", HARD, "diastolic_mmhg.not_below_systolic", message)]


ROOM_AIR = "room_air"
ROOM_AIR_FIO2 = Decimal("0.21")

# Which device settings each level of support needs (clinical definitions §2.1 and 3.2): low-flow
# devices need the flow to estimate FiO2; Venturi and the high-flow / pressure
# devices deliver a set FiO2, which cannot be estimated; positive pressure needs PEEP.
# Room air has its own rule (FiO2 empty or 0.21, no flow), see _room_air_issues.
REQUIRED_SETTINGS: dict[str, frozenset[str]] = {
    ROOM_AIR: frozenset(),
    "nasal_cannula": frozenset({"flow_l_min"}),
    "simple_mask": frozenset({"flow_l_min"}),
    "non_rebreather": frozenset({"flow_l_min"}),
    "venturi": frozenset({"flow_l_min", "fio2"}),
    "hfnc": frozenset({"fio2"}),
    "cpap": frozenset({"fio2", "peep_cmh2o"}),
    "niv": frozenset({"fio2", "peep_cmh2o"}),
    "imv": frozenset({"fio2", "peep_cmh2o"}),
}
RESPIRATORY_SUPPORTS = frozenset(REQUIRED_SETTINGS)

_SUPPORT_LABELS = {
    ROOM_AIR: gettext_lazy("room air"),
    "nasal_cannula": gettext_lazy("nasal cannula"),
    "simple_mask": gettext_lazy("simple mask"),
    "venturi": gettext_lazy("Venturi mask"),
    "non_rebreather": gettext_lazy("non-rebreather mask"),
    "hfnc": gettext_lazy("high-flow nasal cannula"),
    "cpap": "CPAP",
    "niv": gettext_lazy("non-invasive ventilation"),
    "imv": gettext_lazy("invasive mechanical ventilation"),
}


def _room_air_issues(fio2: Decimal | None, flow: Decimal | None) -> list[Issue]:
    """Room air means FiO2 0.21 (or left empty) and no oxygen flow (clinical definitions §2.1)."""
    issues = []
    if fio2 is not None and fio2 != ROOM_AIR_FIO2:
        message = _("FiO2 %(fio2)s does not match room air: leave it empty or enter %(room_air)s.") % {
            "fio2": format_number(fio2),
            "room_air": format_number(ROOM_AIR_FIO2),
        }
        issues.append(Issue("fio2", HARD, "fio2.room_air", message))
    if flow is not None:
        message = _("Oxygen flow %(flow)s cannot be given on room air: leave it empty or choose the oxygen device.") % {
            "flow": _quantity(flow, "L/min")
        }
        issues.append(Issue("flow_l_min", HARD, "flow_l_min.room_air", message))
    return issues


def _missing_setting_issues(support: str, settings: Mapping[str, Decimal | None]) -> list[Issue]:
    """One issue per device setting that this level of support needs but lacks."""
    device = _SUPPORT_LABELS[support]
    return [
        Issue(
            field,
            HARD,
            f"{field}.required",
            _("%(label)s is required for %(device)s.") % {"label": LIMITS[field].label, "device": device},
        )
        for field in sorted(REQUIRED_SETTINGS[support])
        if settings[field] is None
    ]


def check_respiratory_support(
    support: str | None,
    fio2: Number | None,
    flow_l_min: Number | None,
    peep_cmh2o: Number | None,
) -> list[Issue]:
    """Device settings consistent with the day's highest level of support.

    ``support`` is one of :data:`RESPIRATORY_SUPPORTS`; ``None`` (not yet chosen)
    gives no issue. Ranges of the settings themselves are :func:`check_value`'s job.
    """
    if support is None:
        return []
    if support not in RESPIRATORY_SUPPORTS:
        raise ValueError(f"unknown respiratory support code {support!r}")
    settings = {
        "fio2": as_decimal(fio2),
        "flow_l_min": as_decimal(flow_l_min),
        "peep_cmh2o": as_decimal(peep_cmh2o),
    }
    if support == ROOM_AIR:
        return _room_air_issues(settings["fio2"], settings["flow_l_min"])
    return _missing_setting_issues(support, settings)


WEIGHT_BASED_UNIT = "mg/kg"


def check_weight_based_dose(unit: str | None, weight_kg: Number | None) -> list[Issue]:
    """A dose in mg/kg needs the patient's weight (clinical definitions §2.1), reported on the unit."""
    if unit != WEIGHT_BASED_UNIT or as_decimal(weight_kg) is not None:
        return []
    message = _("A dose in mg/kg needs the patient's weight: enter it on the baseline form.")
    return [Issue("unit", HARD, "unit.weight_required", message)]


def day_masks(
    day: np.ndarray, follow_up_days: np.ndarray, death_day: np.ndarray, today_day: np.ndarray
) -> dict[str, np.ndarray]:
    """The study-day rules over many records at once (clinical definitions §2.1), code -> the records that break it:
    before day 0, after the end of follow-up, after the day of death, after today at the site. A death or a today
    that is not known is NaN (floats) or a day later than any (integers): it breaks nothing. The one-record checks
    (check_within_follow_up, check_after_death, PatientFacts.not_future) write the messages."""
    return {
        "study_day.before_enrolment": day < 0,
        "study_day.after_follow_up": day > follow_up_days,
        "study_day.after_death": day > death_day,
        "study_day.future": day > today_day,
    }


def check_after_death(study_day: int | None, death_day: int | None) -> list[Issue]:
    """No data after the day of death (clinical definitions §2.1); the day of death itself is allowed."""
    if study_day is None or death_day is None or study_day <= death_day:
        return []
    message = _("Study day %(day)s is after the patient's death on study day %(death_day)s.") % {
        "day": study_day,
        "death_day": death_day,
    }
    return [Issue("study_day", HARD, "study_day.after_death", message)]


def check_within_follow_up(study_day: int | None, follow_up_days: int) -> list[Issue]:
    """Study day between 0 (enrolment) and the end of follow-up, inclusive (clinical definitions §2)."""
    if study_day is None:
        return []
    if study_day < 0:
        message = _("Study day %(day)s is before enrolment (study day 0).") % {"day": study_day}
        return [Issue("study_day", HARD, "study_day.before_enrolment", message)]
    if study_day > follow_up_days:
        message = _("Study day %(day)s is after the end of follow-up (study day %(last_day)s).") % {
            "day": study_day,
            "last_day": follow_up_days,
        }
        return [Issue("study_day", HARD, "study_day.after_follow_up", message)]
    return []


def _day_text(day: datetime.date) -> str:
    """14 Dec 2026: the day, the month's abbreviation and the year, as the pages show dates (Italian: 14 dic 2026)."""
    # Translators: a date format (Django's date filter) for dates in messages: "j M Y" is "14 Dec 2026"; Italian
    # "j b Y" gives "14 dic 2026".
    return date_format(day, pgettext("date in a message", "j M Y"))


def check_not_future(
    study_day: int | None, today_day: int | None, enrolment_date: datetime.date | None, site_name: str = ""
) -> list[Issue]:
    """No data for a day that has not happened yet at the patient's site (clinical definitions §2.1).

    ``today_day`` is the study day that today is at the site (the last day data may be entered for); ``None``
    means the caller does not know today, and the rule is not applied. The message gives both dates.
    """
    if study_day is None or today_day is None or study_day <= today_day:
        return []
    message = _(
        "Study day %(day)s is after today (study day %(today_day)s): data cannot be entered for a day that has not "
        "happened yet."
    ) % {"day": study_day, "today_day": today_day}
    if enrolment_date is not None:
        try:
            day = _day_text(enrolment_date + datetime.timedelta(days=study_day))
            today = _day_text(enrolment_date + datetime.timedelta(days=today_day))
        except OverflowError:  # a day number far beyond any calendar: the message without dates
            pass
        else:
            values = {"day": study_day, "date": day, "today": today, "site": site_name}
            if site_name:
                message = (
                    _(
                        "Study day %(day)s is %(date)s, after today (%(today)s at %(site)s): data cannot be entered "
                        "for a day that has not happened yet."
                    )
                    % values
                )
            else:
                message = (
                    _(
                        "Study day %(day)s is %(date)s, after today (%(today)s): data cannot be entered for a day that "
                        "has not happened yet."
                    )
                    % values
                )
    return [Issue("study_day", HARD, "study_day.future", message)]


def time_text(moment: datetime.datetime, zone: datetime.tzinfo | None = None) -> str:
    """3 Apr 2020 10:00: a moment as the pages show it, in ``zone`` (default: the time zone it is given in)."""
    if zone is not None:
        moment = moment.astimezone(zone)
    # Translators: a date-and-time format (Django's date filter) for times in messages: "j M Y H:i" is
    # "3 Apr 2020 10:00"; Italian "j b Y H:i" gives "3 apr 2020 10:00".
    return date_format(moment, pgettext("time in a message", "j M Y H:i"))


def check_time(
    name: str,
    moment: datetime.datetime | None,
    study_day: int | None,
    *,
    zone: datetime.tzinfo | None,
    enrolment_date: datetime.date | None,
    now: datetime.datetime | None = None,
    death_at: datetime.datetime | None = None,
) -> list[Issue]:
    """A time of a record (clinical definitions §2.3): not in the future, not after the death, and on the study day of
    its record at the site (``zone``). Rules whose facts are None are not applied; the first problem is the one
    reported."""
    if moment is None:
        return []
    local = moment.astimezone(zone) if zone is not None else moment
    if now is not None and moment > now:
        message = _("%(time)s is in the future: a time can only be entered once it has passed.") % {
            "time": time_text(local)
        }
        return [Issue(name, HARD, f"{name}.future", message)]
    if death_at is not None and moment > death_at:
        message = _("%(time)s is after the death (%(death)s): there can be no data after the death.") % {
            "time": time_text(local),
            "death": time_text(death_at.astimezone(zone) if zone is not None else death_at),
        }
        return [Issue(name, HARD, f"{name}.after_death", message)]
    if study_day is not None and enrolment_date is not None and zone is not None:
        on_day = (local.date() - enrolment_date).days
        if on_day != study_day:
            message = _("%(time)s is on study day %(time_day)s, not on day %(day)s: correct the day or the time.") % {
                "time": time_text(local),
                "time_day": on_day,
                "day": study_day,
            }
            return [Issue(name, HARD, f"{name}.other_day", message)]
    return []


def check_time_order(
    name: str,
    start: datetime.datetime | None,
    end: datetime.datetime | None,
    *,
    zone: datetime.tzinfo | None = None,
    what: str = "",
) -> list[Issue]:
    """An end time after its start time (``what`` names the start in the message, e.g. "the intubation")."""
    if start is None or end is None or end > start:
        return []
    values = {
        "end": time_text(end.astimezone(zone) if zone else end),
        "start": time_text(start.astimezone(zone) if zone else start),
        "what": what,
    }
    if what:
        message = _("%(end)s is not after %(what)s (%(start)s).") % values
    else:
        message = _("%(end)s is not after the start (%(start)s).") % values
    return [Issue(name, HARD, f"{name}.before_start", message)]


def _same_text(left: object, right: object) -> bool:
    """Codes typed or configured by people: compare ignoring case and spaces."""

    def norm(text: object) -> str:
        return "" if text is None else str(text).strip().casefold()

    return norm(left) == norm(right)


def check_regimen(
    drug: str | None,
    dose: Number | None,
    unit: str | None,
    route: str | None,
    regimen: Mapping[str, object] | None,
) -> list[Issue]:
    """Dose and route compared with the arm's regimen for this drug (soft, clinical definitions §2.1).

    ``regimen`` is a plain dict such as ``{"drug": "anakinra", "dose": 100,
    "unit": "mg", "route": "sc"}``. It applies only to its own drug: other drugs,
    a missing regimen, or missing entries give no issue. A mismatch is soft because
    protocols taper or switch (e.g. high-dose anakinra ends with 100 mg SC, clinical definitions §1.1).
    """
    if not regimen or drug is None or not _same_text(drug, regimen.get("drug")):
        return []
    differences = []  # (field, code, message, given, planned)
    planned_dose = as_decimal(regimen.get("dose"))
    given_dose = as_decimal(dose)
    if planned_dose is not None and given_dose is not None:
        planned_unit = str(regimen.get("unit") or "")
        if given_dose != planned_dose or not _same_text(unit, planned_unit):
            message = _("Dose %(given)s differs from the arm's %(drug)s regimen of %(planned)s: %(hint)s")
            given, planned = _quantity(given_dose, unit or ""), _quantity(planned_dose, planned_unit)
            differences.append(("dose", "dose.regimen", message, given, planned))
    planned_route = regimen.get("route")
    if planned_route and route and not _same_text(route, planned_route):
        message = _("Route %(given)s differs from the arm's %(drug)s regimen route %(planned)s: %(hint)s")
        differences.append(("route", "route.regimen", message, route, planned_route))
    values = {"drug": drug, "hint": confirm_hint()}
    return [
        Issue(field, SOFT, code, message % {**values, "given": given, "planned": planned})
        for field, code, message, given, planned in differences
    ]
