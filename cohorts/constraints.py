"""Database constraints built from the limits table (cohorts/limits.py), for cohorts' and ecrf's models.

The hard limits that the forms check are also CHECK constraints (defence in depth: an import or a shell session
cannot store nonsense either), and both read the same row, so the form and the database cannot disagree.
"""

from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.deconstruct import deconstructible
from django.utils.translation import gettext as _

from cohorts.limits import DOSE_MAXIMA, Limit, limit_of, number_text, shown_unit, within_hard_range


def hard_range(
    model: str, field: str, limit: str | None = None, *, name: str | None = None, nullable: bool = True
) -> models.CheckConstraint:
    """A named CHECK constraint for the hard limits of a variable (clinical definitions §2.1).

    ``limit`` names the table's row when the column is named otherwise (``abg_fio2`` is an FiO2); ``name`` defaults
    to ``<model>_<field>_hard_range``. A ``nullable`` column may be NULL (not recorded).
    """
    lim = limit_of(limit or field)
    bounds = {f"{field}__gte": lim.hard_min, f"{field}__lte": lim.hard_max}
    within = Q(**{k: v for k, v in bounds.items() if v is not None})
    return models.CheckConstraint(
        condition=Q(**{f"{field}__isnull": True}) | within if nullable else within,
        name=name or f"{model}_{field}_hard_range",
    )


def dose_range(model: str, *, name: str | None = None) -> models.CheckConstraint:
    """A named CHECK constraint for the maximum dose of each drug and unit (the limits table's DOSE_MAXIMA).

    A dose of a drug and unit the table does not list is refused too (the drug and unit constraints say why).
    """
    within = Q()
    for row in DOSE_MAXIMA:
        within |= Q(drug=row.drug, dose_unit=row.unit, dose__lte=row.hard_max)
    return models.CheckConstraint(condition=within, name=name or f"{model}_dose_hard_max")


def _text(number) -> str:
    """A number as a message shows it: no float noise or trailing zeros, the active language's decimal separator."""
    return number_text(Decimal(str(number)))


def out_of_range(limit: Limit, value) -> str | None:
    """The refusal of ``value`` in clinical terms, naming the variable, its range and unit; None when within it."""
    if value is None or within_hard_range(limit, value):
        return None
    low, high = limit.hard_min, limit.hard_max
    unit = f" {shown_unit(limit.unit)}" if limit.unit and limit.unit != "fraction" else ""
    return _(
        "%(variable)s %(value)s%(unit)s is outside the plausible range %(low)s-%(high)s%(unit)s: check the value and "
        "its unit."
    ) % {"variable": limit.label, "value": _text(value), "unit": unit, "low": _text(low), "high": _text(high)}


@deconstructible
class WithinLimit:
    """A model or form field validator: the value must be within the hard range of its row of the limits table."""

    def __init__(self, limit: str):
        self.limit = limit

    def __call__(self, value) -> None:
        message = out_of_range(limit_of(self.limit), value)
        if message:
            raise ValidationError(message, code=f"{self.limit}.hard_range")

    def __eq__(self, other) -> bool:
        return isinstance(other, WithinLimit) and other.limit == self.limit

    def __hash__(self) -> int:
        return hash(self.limit)
