"""Unit conversions to the canonical units stored everywhere (clinical definitions §1.3, 2).

Every number is stored in one canonical unit per quantity; forms let the user pick the unit the
laboratory reported and convert on the way in. The registry below is data, so adding a unit is a
one-line change and the codebook can list the accepted units with their factors.

Conversion is done in decimal arithmetic on the digits the user typed, so the stored value is the
one a person would compute by hand: 20 kPa is exactly 150.0124 mmHg (binary floating point would
give 150.01239999999999), and a value entered exactly at a threshold in another unit lands exactly
on the threshold.

D-dimer is reported on one of two *bases*, fibrinogen-equivalent units (FEU) or D-dimer units
(DDU). Their ratio depends on the assay, so the two are never converted into each other (clinical definitions §2):
only the mass-concentration unit is converted, and the basis is stored beside the value.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from django.utils.translation import gettext_lazy as _

from cohorts.limits import shown_unit

__all__ = [
    "DDIMER_BASES",
    "DDIMER_BASIS_LABELS",
    "UNITS",
    "Quantity",
    "canonical_unit",
    "ddimer_basis_choices",
    "to_canonical",
    "unit_choices",
]


@dataclass(frozen=True)
class Quantity:
    """A measured quantity: its canonical unit and the input units accepted, with factors.

    ``factors[unit]`` multiplies a value in ``unit`` to give the canonical unit; the canonical
    unit itself has factor 1.
    """

    label: str
    canonical: str
    factors: Mapping[str, Decimal]

    def __post_init__(self) -> None:
        if self.factors.get(self.canonical) != 1:
            raise ValueError(f"{self.label}: canonical unit {self.canonical!r} must have factor 1")
        object.__setattr__(self, "factors", MappingProxyType(dict(self.factors)))

    def factor(self, unit: str) -> Decimal:
        """Factor from ``unit`` to the canonical unit; ValueError naming the accepted units."""
        wanted = _normalise_unit(unit)
        for known, factor in self.factors.items():
            if _normalise_unit(known) == wanted:
                return factor
        accepted = ", ".join(self.factors)
        raise ValueError(f"{self.label}: unit {unit!r} is not accepted; use one of {accepted}")


def _quantity(label: str, canonical: str, others: Mapping[str, str] | None = None) -> Quantity:
    """Build a Quantity; factors are given as decimal strings so they stay exact."""
    factors = {canonical: Decimal(1)}
    factors.update({unit: Decimal(factor) for unit, factor in (others or {}).items()})
    return Quantity(label=label, canonical=canonical, factors=factors)


UNITS: Mapping[str, Quantity] = MappingProxyType(
    {
        # clinical definitions §1.3: mg/L = mg/dL x 10.
        "crp": _quantity("CRP", "mg/L", {"mg/dL": "10"}),
        # clinical definitions §2: PaO2 kPa converted x 7.50062 (1 kPa = 7.50062 mmHg).
        "pao2": _quantity("PaO2", "mmHg", {"kPa": "7.50062"}),
        # ng/mL and ug/L are the same concentration.
        "ferritin": _quantity("Ferritin", "ng/mL", {"ug/L": "1"}),
        # Mass units only; the FEU/DDU basis is a separate field and never converted.
        "ddimer": _quantity("D-dimer", "ng/mL", {"ug/L": "1", "ug/mL": "1000", "mg/L": "1000"}),
        # 1 /uL = 1e6 /L = 0.001 x 10^9/L.
        "lymphocytes": _quantity("Lymphocytes", "10^9/L", {"/uL": "0.001"}),
        "ldh": _quantity("LDH", "U/L"),
        "ast": _quantity("AST", "U/L"),
        "alt": _quantity("ALT", "U/L"),
        "procalcitonin": _quantity("Procalcitonin", "ng/mL"),
        "weight": _quantity("Weight", "kg"),
        # FiO2 is stored as a fraction (clinical definitions §2.1: 0.21-1.0); some devices display a percentage.
        "fio2": _quantity("FiO2", "fraction", {"%": "0.01"}),
        "peep": _quantity("PEEP", "cmH2O"),
        "o2_flow": _quantity("Oxygen flow", "L/min"),
    }
)

# clinical definitions §2: D-dimer unit basis; a value is only comparable with a threshold on the same basis. The one
# table of the
# bases and their labels: the screening's choices and the eligibility rules read it. The labels are lazy translations
# (choices shown in the reader's language); the codes FEU and DDU are stored.
DDIMER_BASIS_LABELS: Mapping[str, str] = MappingProxyType(
    {"FEU": _("FEU (fibrinogen-equivalent units)"), "DDU": _("DDU (D-dimer units)")}
)
DDIMER_BASES: tuple[str, ...] = tuple(DDIMER_BASIS_LABELS)


def _normalise_unit(unit: str) -> str:
    """Case-insensitive unit key that also accepts the micro sign for 'u' (ug/mL, /uL)."""
    return unit.strip().replace("\u00b5", "u").replace("\u03bc", "u").casefold()


def _get(quantity: str) -> Quantity:
    try:
        return UNITS[quantity]
    except KeyError:
        known = ", ".join(UNITS)
        raise ValueError(f"unknown quantity {quantity!r}; known: {known}") from None


def canonical_unit(quantity: str) -> str:
    """The unit in which ``quantity`` is stored, e.g. ``canonical_unit("crp") == "mg/L"``."""
    return _get(quantity).canonical


def to_canonical(quantity: str, value: float | Decimal | None, unit: str) -> float | None:
    """Convert ``value`` given in ``unit`` to the canonical unit of ``quantity``.

    None (and NaN, pandas' missing value) stays None: a missing measurement is never turned into
    a number. An unknown quantity or unit raises ValueError naming the accepted ones.
    """
    factor = _get(quantity).factor(unit)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        raise TypeError(f"{quantity}: value must be a number or None, not {value!r}")
    if isinstance(value, float) and math.isnan(value):
        return None
    if factor == 1:
        return float(value)
    # repr() of a float is the shortest string that reads back as the same float, i.e. the
    # digits the user typed; multiplying those in Decimal is exact.
    digits = value if isinstance(value, Decimal) else Decimal(repr(value))
    return float(digits * factor)


def unit_choices(quantity: str) -> list[tuple[str, str]]:
    """Django-style ``(value, label)`` choices for a unit selector, canonical unit first."""
    return [(unit, shown_unit(unit)) for unit in _get(quantity).factors]


def ddimer_basis_choices() -> list[tuple[str, str]]:
    """Choices for the D-dimer unit basis selector (stored beside the value, never converted)."""
    return list(DDIMER_BASIS_LABELS.items())
