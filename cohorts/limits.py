"""Plausibility limits of every measured variable, as data: the one table of the study (clinical definitions §2.1).

Pure module: no Django imports. Everything that refuses an implausible number reads this table, so a limit is
written once: the edit checks of the daily forms (ecrf/checks.py), the screening and enrolment forms
(cohorts/enrolment.py) and the database constraints of the patient and of the daily records
(cohorts/constraints.py). It lives in cohorts because cohorts may not import ecrf, and both need it.

A plausibility limit is not an eligibility criterion: age is plausible from 0 to 120 years, and the minimum age of a
protocol (Milan: 18 years) is a criterion of its rule set (cohorts/eligibility), so that a 17-year-old can be
screened and is logged as not eligible instead of being refused as a typing error.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TypeAlias

Number: TypeAlias = Decimal | int | float

__all__ = ["LIMITS", "SAME_LIMIT_AS", "Limit", "Number", "limit_of"]


@dataclass(frozen=True)
class Limit:
    """Plausibility range of one variable (clinical definitions §2.1).

    Hard bounds are inclusive (the bound itself is accepted) unless ``hard_min_exclusive`` is set; soft bounds are
    strict (a value equal to the soft bound needs no confirmation). ``None`` means "no such bound".
    """

    name: str
    label: str
    unit: str
    hard_min: Number | None
    hard_max: Number | None
    soft_low: Number | None = None
    soft_high: Number | None = None
    hard_min_exclusive: bool = False


def _limits(*limits: Limit) -> dict[str, Limit]:
    return {limit.name: limit for limit in limits}


# The table of clinical definitions §2.1, row by row, numbers written exactly as there; then the rows it has no
# line for (age, hours on NIV, dose, D-dimer), each with its reason.
LIMITS: dict[str, Limit] = _limits(
    # Vitals
    Limit("temperature_c", "Temperature", "degC", 32, 44, soft_low=35, soft_high=41),
    Limit("heart_rate_bpm", "Heart rate", "/min", 20, 250, soft_low=40, soft_high=180),
    Limit(
        "respiratory_rate_bpm",
        "Respiratory rate",
        "/min",
        4,
        70,
        soft_low=8,
        soft_high=45,
    ),
    Limit("systolic_mmhg", "Systolic blood pressure", "mmHg", 40, 300),
    Limit("diastolic_mmhg", "Diastolic blood pressure", "mmHg", 20, 200),
    Limit("spo2_pct", "SpO2", "%", 50, 100),
    # Respiratory support; FiO2 is exactly 0.21 on room air (ecrf/checks.py check_respiratory_support)
    Limit("fio2", "FiO2", "fraction", Decimal("0.21"), Decimal("1.0")),
    Limit("flow_l_min", "Oxygen flow", "L/min", Decimal("0.5"), 70),
    Limit("peep_cmh2o", "PEEP", "cmH2O", 0, 30),
    Limit("hours_on_niv", "Hours on NIV", "h", 0, 24),  # a day has 24 hours
    # Laboratory
    Limit("pao2_mmhg", "PaO2", "mmHg", 20, 700, soft_high=500),
    Limit("crp_mg_l", "CRP", "mg/L", 0, 1000, soft_high=500),
    Limit("ferritin_ng_ml", "Ferritin", "ng/mL", 0, 300000, soft_high=50000),
    Limit("ldh_u_l", "LDH", "U/L", 0, 20000),
    Limit("ast_u_l", "AST", "U/L", 0, 20000),
    Limit("alt_u_l", "ALT", "U/L", 0, 20000),
    Limit("lymphocytes_10e9_l", "Lymphocytes", "x10^9/L", 0, 50),
    Limit("procalcitonin_ng_ml", "Procalcitonin", "ng/mL", 0, 1000),
    # D-dimer has no clinical limit (it spans orders of magnitude between patients and assays); a measured
    # concentration is not negative, and the maximum is what the day-0 laboratory column holds (8 digits, one
    # decimal), so a screening value is refused when it is typed rather than failing the enrolment that stores it.
    Limit("ddimer_ng_ml", "D-dimer", "ng/mL", 0, 9_999_999),
    # Baseline
    Limit("weight_kg", "Weight", "kg", 30, 300, soft_high=200),
    # Plausibility only; the study's minimum age is an eligibility criterion (see the module docstring).
    Limit("age_years", "Age", "years", 0, 120),
    # Drug administration: the unit (mg or mg/kg) is a separate field, so none here.
    Limit("dose", "Dose", "", 0, None, hard_min_exclusive=True),
)

# Variables recorded under their own name that measure the quantity of a row above, so they share its limit:
# the screening's device settings of the New York criteria are an FiO2 and oxygen flows like the daily form's.
SAME_LIMIT_AS: Mapping[str, str] = MappingProxyType(
    {
        "hfnc_fio2": "fio2",
        "nrb_flow_l_min": "flow_l_min",
        "nasal_cannula_flow_l_min": "flow_l_min",
    }
)


def limit_of(variable: str) -> Limit:
    """The limit of ``variable``, by its own row or the row of the same quantity; KeyError when it has none."""
    try:
        return LIMITS[SAME_LIMIT_AS.get(variable, variable)]
    except KeyError:
        raise KeyError(f"no plausibility limit is defined for variable {variable!r}") from None
