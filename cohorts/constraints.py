"""Database constraints built from the limits table (cohorts/limits.py), for cohorts' and ecrf's models.

The hard limits that the forms check are also CHECK constraints (defence in depth: an import or a shell session
cannot store nonsense either), and both read the same row, so the form and the database cannot disagree.
"""

from django.db import models
from django.db.models import Q

from cohorts.limits import limit_of


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
