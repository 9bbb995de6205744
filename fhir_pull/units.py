"""UCUM units of pulled values, converted to the canonical unit of their field (the limits table's unit).

Pure module. A small explicit table, keyed by the canonical unit and the UCUM code, rather than a units library:
the handful of units involved are written as UCUM codes (``mm[Hg]``, ``Cel``, ``[degF]``, ``10*9/L``,
``{beats}/min``) that general-purpose libraries such as pint do not parse, the factors must be exactly those of
cohorts/units.py (``kPa`` x 7.50062, asserted by tests/fhir/test_units.py), and the arithmetic is decimal, so a
converted value is the one a person would compute by hand. A unit not in the table is refused with a message:
nothing is guessed.

UCUM annotations in braces (``{beats}/min``, ``ug/mL{FEU}``) carry no quantity and are ignored for conversion
(the D-dimer basis comes from the LOINC code, fhir_pull/mapping.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from types import MappingProxyType

from django.utils.translation import gettext as _

Convert = Callable[[Decimal], Decimal]


def _times(factor: str) -> Convert:
    exact = Decimal(factor)
    return lambda value: value * exact


def _fahrenheit_to_celsius(value: Decimal) -> Decimal:
    return (value - 32) * 5 / 9


#: Canonical unit of the limits table (cohorts/limits.py) -> UCUM code -> conversion into it.
CONVERSIONS: Mapping[str, Mapping[str, Convert]] = MappingProxyType(
    {
        "degC": {"Cel": _times("1"), "[degF]": _fahrenheit_to_celsius},
        "/min": {"/min": _times("1")},
        "mmHg": {"mm[Hg]": _times("1"), "kPa": _times("7.50062")},
        "%": {"%": _times("1")},
        "fraction": {"1": _times("1"), "%": _times("0.01")},
        "mg/L": {"mg/L": _times("1"), "mg/dL": _times("10")},
        "ng/mL": {"ng/mL": _times("1"), "ug/L": _times("1"), "ug/mL": _times("1000"), "mg/L": _times("1000")},
        "U/L": {"U/L": _times("1"), "[IU]/L": _times("1")},
        "x10^9/L": {
            "10*9/L": _times("1"),
            "10*3/uL": _times("1"),
            "10*3/mm3": _times("1"),
            "/uL": _times("0.001"),
            "/mm3": _times("0.001"),
        },
    }
)
#: How the canonical units are written for people (the limits table's names are for code).
SHOWN = {"degC": "°C", "fraction": "(fraction)", "x10^9/L": "10^9/L"}

_ANNOTATION = re.compile(r"\{[^}]*\}")


class UnitError(ValueError):
    """A unit that does not convert to the field's canonical unit; the message says which and why."""


def ucum_key(code: str) -> str:
    """The code without its annotations; a code that is only an annotation ({beats}) is the unity "1"."""
    return _ANNOTATION.sub("", code.strip()) or "1"


def shown(canonical: str) -> str:
    return SHOWN.get(canonical, canonical)


def to_canonical(value: Decimal, code: str, canonical: str, label: str) -> Decimal:
    """``value`` in the UCUM unit ``code`` in the ``canonical`` unit; UnitError when there is no conversion."""
    table = CONVERSIONS.get(canonical)
    if table is None:
        raise UnitError(
            _("%(label)s is stored in %(unit)s, which no pulled unit converts to.")
            % {"label": label, "unit": shown(canonical)}
        )
    convert = table.get(ucum_key(code))
    if convert is None:
        accepted = ", ".join(table)
        raise UnitError(
            _("the unit %(code)s of %(label)s does not convert to %(unit)s (UCUM units accepted: %(accepted)s).")
            % {"code": repr(code), "label": label, "unit": shown(canonical), "accepted": accepted}
        )
    return convert(value)
