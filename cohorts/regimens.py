"""An arm's planned regimen as data: one ``Dose`` per drug (clinical definitions §1, §2.1).

Stored in ``Arm.regimen`` as a JSON list, one object per drug:

    [{"drug": "anakinra", "dose": 5, "unit": "mg/kg", "route": "iv", "frequency": "bid", "duration_days": 7}]

- ``drug``, ``unit``, ``route``, ``frequency``: codes of the drug form (``ecrf.models.Drug``, ``DoseUnit``,
  ``Route``, ``Frequency``). cohorts does not import ecrf, so the codes are repeated here and
  tests/cohorts/test_regimens.py checks that the two agree (docs/architecture.md §1).
- ``dose``: a JSON number greater than 0, at most the drug's maximum single dose in its unit (the one limits
  table, ``cohorts.limits.dose_limit``, which the drug form reads too) and with at most two decimals (the
  precision of the drug form's dose).
- ``duration_days``: the planned duration in days, optional (absent: until the protocol's stopping rule, e.g.
  Milan's high-dose anakinra until sustained clinical benefit).

The soft dose and route check of the drug form (``ecrf.checks.check_regimen``) reads ``drug``, ``dose``,
``unit`` and ``route`` of these objects, so a regimen stored before this module (without ``duration_days``)
reads as it did. ``from_json`` is lenient (it reads what is stored, complete or not); ``parse`` is strict (it is
what the study set-up, cohorts/setup.py, accepts) and reports each problem with its path, e.g.
``regimen[0].route: required``.

Pure module: no Django import but translation: the labels of the codes are lazy translations, and the problems and
``Dose.text`` are worded in the active language (the codes and the stored JSON never are).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from cohorts.limits import dose_limit, localized_number

# Code -> label (lazy: shown in the reader's language).
DRUGS: Mapping[str, str] = {
    "anakinra": gettext_lazy("Anakinra"),
    "hydroxychloroquine": gettext_lazy("Hydroxychloroquine"),
    "lopinavir_ritonavir": gettext_lazy("Lopinavir/ritonavir"),
    "glucocorticoid": gettext_lazy("Glucocorticoid"),
    "tocilizumab": gettext_lazy("Tocilizumab"),
    "other_il6_antagonist": gettext_lazy("Other IL-6 antagonist"),
    "antibiotic": gettext_lazy("Antibiotic"),
}
UNITS: Mapping[str, str] = {"mg": "mg", "mg/kg": "mg/kg"}
ROUTES: Mapping[str, str] = {
    "oral": gettext_lazy("Oral"),
    "sc": gettext_lazy("Subcutaneous"),
    "iv": gettext_lazy("Intravenous"),
}
FREQUENCIES: Mapping[str, str] = {
    "once": gettext_lazy("Once"),
    "q24h": gettext_lazy("Every 24 h"),
    "bid": gettext_lazy("Twice daily (every 12 h)"),
    "q8h": gettext_lazy("Every 8 h"),
    "q6h": gettext_lazy("Every 6 h"),
}
# The largest single dose of each drug and unit is the limits table's (cohorts/limits.py DOSE_MAXIMA).
DOSE_DECIMALS = 2
MAX_DURATION_DAYS = 365
KEYS = ("drug", "dose", "unit", "route", "frequency", "duration_days")
REQUIRED = ("drug", "dose", "unit", "route", "frequency")


@dataclass(frozen=True)
class Problem:
    """One refusal: where (``regimen[1].dose``), why, and a stable code."""

    path: str
    message: str
    code: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class Dose:
    """One drug of an arm's regimen. Read from storage, any field may be None (a regimen typed before the set-up
    pages checked them); from ``parse``, every field but ``duration_days`` is set and valid."""

    drug: str | None
    dose: Decimal | None
    unit: str | None
    route: str | None
    frequency: str | None
    duration_days: int | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "drug": self.drug,
            "dose": _json_number(self.dose),
            "unit": self.unit,
            "route": self.route,
            "frequency": self.frequency,
        }
        if self.duration_days is not None:
            data["duration_days"] = self.duration_days
        return data

    @property
    def text(self) -> str:
        """E.g. "Anakinra 100 mg subcutaneous, twice daily (every 12 h), 20 days" (in the active language)."""
        parts = [
            str(DRUGS.get(self.drug or "", self.drug or "?")),
            f"{_number(_json_number(self.dose))} {self.unit or ''}".strip() if self.dose is not None else "",
        ]
        text = " ".join(p for p in parts if p)
        if self.route:
            text += f" {ROUTES.get(self.route, self.route).lower()}"
        if self.frequency:
            text += f", {FREQUENCIES.get(self.frequency, self.frequency).lower()}"
        if self.duration_days:
            days = ngettext("%(days)s day", "%(days)s days", self.duration_days) % {"days": self.duration_days}
            text += f", {days}"
        return text


def _number(value: object) -> str:
    """A number as a message shows it, with the active language's decimal separator."""
    return localized_number(str(value))


def _json_number(value: Decimal | None) -> int | float | None:
    """A dose as a JSON number: 100 (not 100.0 or "100"), 2.5."""
    if value is None:
        return None
    return int(value) if value == value.to_integral_value() else float(value)


def _decimal(value: object) -> Decimal | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    try:
        number = Decimal(str(value).strip()) if isinstance(value, str | int | float | Decimal) else None
    except InvalidOperation:
        return None
    return number if number is not None and number.is_finite() else None


def from_json(stored: object) -> list[Dose]:
    """The doses of a stored ``Arm.regimen``, as stored (nothing refused; unknown keys ignored)."""
    if not isinstance(stored, list):
        return []
    doses = []
    for entry in stored:
        if not isinstance(entry, Mapping):
            continue
        duration = entry.get("duration_days")
        doses.append(
            Dose(
                drug=_text_or_none(entry.get("drug")),
                dose=_decimal(entry.get("dose")),
                unit=_text_or_none(entry.get("unit")),
                route=_text_or_none(entry.get("route")),
                frequency=_text_or_none(entry.get("frequency")),
                duration_days=duration if isinstance(duration, int) and not isinstance(duration, bool) else None,
            )
        )
    return doses


def to_json(doses: list[Dose]) -> list[dict[str, Any]]:
    return [dose.to_json() for dose in doses]


def _text_or_none(value: object) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _choice(entry: Mapping, key: str, known: Mapping[str, str], path: str, problems: list[Problem]) -> str | None:
    value = _text_or_none(entry.get(key))
    if value is None:
        problems.append(
            Problem(f"{path}.{key}", _("required: one of %(known)s") % {"known": ", ".join(known)}, "required")
        )
        return None
    if value not in known:
        message = _("unknown %(key)s %(value)s; known: %(known)s") % {
            "key": key,
            "value": repr(value),
            "known": ", ".join(known),
        }
        problems.append(Problem(f"{path}.{key}", message, "unknown"))
        return None
    return value


def parse_dose(entry: object, path: str) -> tuple[Dose | None, list[Problem]]:
    """One regimen entry (a mapping from a TOML file or a form row) checked: known drug, unit, route and
    frequency, a dose above 0 and at most the unit's maximum, a whole number of days if a duration is given."""
    if not isinstance(entry, Mapping):
        return None, [Problem(path, _("must be a table of drug, dose, unit, route, frequency"), "not_a_table")]
    problems: list[Problem] = []
    unknown = [key for key in entry if key not in KEYS]
    if unknown:
        message = _("unknown key %(keys)s; known: %(known)s") % {
            "keys": ", ".join(map(str, unknown)),
            "known": ", ".join(KEYS),
        }
        problems.append(Problem(path, message, "unknown_key"))
    drug = _choice(entry, "drug", DRUGS, path, problems)
    unit = _choice(entry, "unit", UNITS, path, problems)
    route = _choice(entry, "route", ROUTES, path, problems)
    frequency = _choice(entry, "frequency", FREQUENCIES, path, problems)
    raw_dose = entry.get("dose")
    dose = _decimal(raw_dose)
    if raw_dose is None or (isinstance(raw_dose, str) and not raw_dose.strip()):
        problems.append(Problem(f"{path}.dose", _("required: the planned single dose, a number above 0"), "required"))
    elif dose is None:
        problems.append(
            Problem(f"{path}.dose", _("%(value)s is not a number") % {"value": repr(raw_dose)}, "not_a_number")
        )
    elif dose <= 0:
        problems.append(
            Problem(
                f"{path}.dose", _("must be greater than 0 (got %(dose)s)") % {"dose": _number(dose)}, "not_positive"
            )
        )
    elif unit is not None and (maximum := dose_limit(drug, unit).hard_max) is not None and dose > maximum:
        problems.append(
            Problem(
                f"{path}.dose",
                _("%(dose)s %(unit)s is above the plausible maximum single dose of %(maximum)s %(unit)s")
                % {"dose": _number(dose), "unit": unit, "maximum": _number(maximum)},
                "implausible",
            )
        )
    elif -dose.as_tuple().exponent > DOSE_DECIMALS and dose != dose.quantize(Decimal(1).scaleb(-DOSE_DECIMALS)):
        problems.append(
            Problem(
                f"{path}.dose",
                _("at most %(decimals)s decimals (got %(dose)s)") % {"decimals": DOSE_DECIMALS, "dose": _number(dose)},
                "too_precise",
            )
        )
    raw_duration = entry.get("duration_days")
    duration = None
    if raw_duration is not None and not (isinstance(raw_duration, str) and not raw_duration.strip()):
        number = _decimal(raw_duration)
        if number is None or number != number.to_integral_value():
            problems.append(Problem(f"{path}.duration_days", _("must be a whole number of days"), "not_a_number"))
        elif not 1 <= number <= MAX_DURATION_DAYS:
            message = _("must be 1 to %(maximum)s days (got %(days)s)") % {
                "maximum": MAX_DURATION_DAYS,
                "days": _number(number),
            }
            problems.append(Problem(f"{path}.duration_days", message, "range"))
        else:
            duration = int(number)
    if problems:
        return None, problems
    return Dose(drug, dose.normalize() if dose is not None else None, unit, route, frequency, duration), []


def parse(entries: object, path: str = "regimen") -> tuple[list[Dose], list[Problem]]:
    """A whole regimen (a list of entries), each checked by ``parse_dose``; one drug appears once."""
    if entries is None:
        return [], []
    if not isinstance(entries, list | tuple):
        return [], [Problem(path, _("must be a list of drugs ([[arms.regimen]] tables in a file)"), "not_a_list")]
    doses, problems = [], []
    seen: dict[str, int] = {}
    for index, entry in enumerate(entries):
        dose, found = parse_dose(entry, f"{path}[{index}]")
        problems += found
        if dose is None:
            continue
        if dose.drug in seen:
            problems.append(
                Problem(
                    f"{path}[{index}].drug",
                    _("%(drug)s is already planned in %(entry)s; one entry per drug")
                    % {"drug": dose.drug, "entry": f"{path}[{seen[dose.drug]}]"},
                    "duplicate",
                )
            )
            continue
        seen[dose.drug] = index
        doses.append(dose)
    return doses, problems
