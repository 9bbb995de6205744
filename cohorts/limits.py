"""Plausibility limits of every measured variable, as data: the one table of the study (clinical definitions §2.1).

Pure module: no Django imports but translation (the labels are marked for it, ``gettext_lazy``: they name a variable in
the messages of the edit checks, in the active language). Everything that refuses an implausible number reads this
table, so a limit is written once: the edit checks of the daily forms (ecrf/checks.py), the screening and enrolment
forms (cohorts/enrolment.py) and the database constraints of the patient and of the daily records
(cohorts/constraints.py). It lives in cohorts because cohorts may not import ecrf, and both need it.

A plausibility limit is not an eligibility criterion: age is plausible from 0 to 120 years, and the minimum age of a
protocol (Milan: 18 years) is a criterion of its rule set (cohorts/eligibility), so that a 17-year-old can be
screened and is logged as not eligible instead of being refused as a typing error.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType
from typing import TypeAlias

from django.utils.formats import number_format
from django.utils.functional import lazy
from django.utils.translation import gettext, pgettext
from django.utils.translation import gettext_lazy as _

Number: TypeAlias = Decimal | int | float

_PLAIN_NUMBER = re.compile(r"-?[0-9]+(\.[0-9]+)?")

__all__ = [
    "DOSE_MAXIMA",
    "JUMPS",
    "LIMITS",
    "SAME_LIMIT_AS",
    "DoseMaximum",
    "Jump",
    "Limit",
    "Number",
    "dose_limit",
    "exact",
    "limit_of",
    "localized_number",
    "shown_unit",
    "within_hard_range",
]


@dataclass(frozen=True)
class Limit:
    """Plausibility range of one variable (clinical definitions §2.1).

    Hard bounds are inclusive (the bound itself is accepted) unless ``hard_min_exclusive`` is set; soft bounds are
    strict (a value equal to the soft bound needs no confirmation). ``None`` means "no such bound".

    ``label`` is a lazy translation (a message names the variable in the reader's language): str() it before it goes
    into a database, a JSON document or a file. ``unit`` is a code, the same in every language (``shown_unit``).
    """

    name: str
    label: str  # lazy: see the class docstring
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
    Limit("temperature_c", _("Temperature"), "degC", 32, 44, soft_low=35, soft_high=41),
    Limit("heart_rate_bpm", _("Heart rate"), "/min", 20, 250, soft_low=40, soft_high=180),
    Limit(
        "respiratory_rate_bpm",
        _("Respiratory rate"),
        "/min",
        4,
        70,
        soft_low=8,
        soft_high=45,
    ),
    Limit("systolic_mmhg", _("Systolic blood pressure"), "mmHg", 40, 300),
    Limit("diastolic_mmhg", _("Diastolic blood pressure"), "mmHg", 20, 200),
    Limit("spo2_pct", _("SpO2"), "%", 50, 100),
    # Respiratory support; FiO2 is exactly 0.21 on room air (ecrf/checks.py check_respiratory_support)
    Limit("fio2", _("FiO2"), "fraction", Decimal("0.21"), Decimal("1.0")),
    Limit("flow_l_min", _("Oxygen flow"), "L/min", Decimal("0.5"), 70),
    Limit("peep_cmh2o", _("PEEP"), "cmH2O", 0, 30),
    Limit("hours_on_niv", _("Hours on NIV"), "h", 0, 24),  # a day has 24 hours
    # Laboratory
    Limit("pao2_mmhg", _("PaO2"), "mmHg", 20, 700, soft_high=500),
    Limit("crp_mg_l", _("CRP"), "mg/L", 0, 1000, soft_high=500),
    Limit("ferritin_ng_ml", _("Ferritin"), "ng/mL", 0, 300000, soft_high=50000),
    Limit("ldh_u_l", _("LDH"), "U/L", 0, 20000),
    Limit("ast_u_l", _("AST"), "U/L", 0, 20000),
    Limit("alt_u_l", _("ALT"), "U/L", 0, 20000),
    Limit("lymphocytes_10e9_l", _("Lymphocytes"), "x10^9/L", 0, 50),
    Limit("procalcitonin_ng_ml", _("Procalcitonin"), "ng/mL", 0, 1000),
    # D-dimer has no clinical limit (it spans orders of magnitude between patients and assays); a measured
    # concentration is not negative, and the maximum is what the day-0 laboratory column holds (8 digits, one
    # decimal), so a screening value is refused when it is typed rather than failing the enrolment that stores it.
    Limit("ddimer_ng_ml", _("D-dimer"), "ng/mL", 0, 9_999_999),
    # Baseline
    Limit("weight_kg", _("Weight"), "kg", 30, 300, soft_high=200),
    # Plausibility only; the study's minimum age is an eligibility criterion (see the module docstring).
    Limit("age_years", _("Age"), "years", 0, 120),
    # The laboratory's upper limits of normal of AST and ALT (the site's, or the day's on the laboratory form).
    # Reference ranges put them at about 30-60 U/L; the bounds only catch a typing slip (a value in another unit, a
    # digit too many), so they are wide.
    Limit("ast_uln_u_l", _("AST upper limit of normal"), "U/L", 10, 200),
    Limit("alt_uln_u_l", _("ALT upper limit of normal"), "U/L", 10, 200),
    # Study set-up: the follow-up, day 0 to this day (clinical definitions §1.1; constraint study_follow_up_1_to_365).
    Limit("follow_up_days", _("Follow-up"), "days", 1, 365),
    # Drug administration: any dose is positive; its maximum depends on the drug and the unit (mg or mg/kg, a
    # separate field), see DOSE_MAXIMA below and dose_limit().
    Limit("dose", _("Dose"), "", 0, None, hard_min_exclusive=True),
)


@dataclass(frozen=True)
class DoseMaximum:
    """The largest plausible single dose (one administration, as the drug form records it) of a drug in a unit."""

    drug: str  # a code of ecrf.models.Drug (cohorts may not import ecrf; tests/cohorts/test_limits.py checks)
    label: str  # lazy, as Limit.label
    unit: str  # a code of ecrf.models.DoseUnit
    hard_max: Number


# Maximum single dose per drug and unit (clinical definitions §2.1). These maxima are PLAUSIBILITY BOUNDS chosen by
# the software team to catch typing errors (a digit too many, mg typed as mg/kg); they are not prescribing limits
# and must be reviewed by a clinician of the study before they are relied on. Each sits above the largest dose of
# the protocols (clinical definitions §1) and of common practice:
# - anakinra: Milan high dose 5 mg/kg IV twice daily, New York 100 mg SC every 6 h; IV doses up to 10 mg/kg have
#   been given in hyperinflammation;
# - hydroxychloroquine: 200 mg twice daily, loading doses up to 800 mg;
# - lopinavir/ritonavir: 400/100 mg twice daily, 800/200 mg once daily;
# - glucocorticoid: methylprednisolone pulses up to 1000 mg or 30 mg/kg;
# - tocilizumab: 8 mg/kg IV, at most 800 mg per dose; 12 mg/kg in children under 30 kg;
# - other IL-6 antagonists: sarilumab 400 mg, siltuximab 11 mg/kg;
# - antibiotics (a class): up to 8 g per dose (fosfomycin IV) or 100 mg/kg.
DOSE_MAXIMA: tuple[DoseMaximum, ...] = (
    DoseMaximum("anakinra", _("Anakinra"), "mg", 1000),
    DoseMaximum("anakinra", _("Anakinra"), "mg/kg", 10),
    DoseMaximum("hydroxychloroquine", _("Hydroxychloroquine"), "mg", 800),
    DoseMaximum("hydroxychloroquine", _("Hydroxychloroquine"), "mg/kg", 15),
    DoseMaximum("lopinavir_ritonavir", _("Lopinavir/ritonavir"), "mg", 1000),
    DoseMaximum("lopinavir_ritonavir", _("Lopinavir/ritonavir"), "mg/kg", 20),
    DoseMaximum("glucocorticoid", _("Glucocorticoid"), "mg", 1000),
    DoseMaximum("glucocorticoid", _("Glucocorticoid"), "mg/kg", 30),
    DoseMaximum("tocilizumab", _("Tocilizumab"), "mg", 800),
    DoseMaximum("tocilizumab", _("Tocilizumab"), "mg/kg", 12),
    DoseMaximum("other_il6_antagonist", _("IL-6 antagonist"), "mg", 800),
    DoseMaximum("other_il6_antagonist", _("IL-6 antagonist"), "mg/kg", 15),
    DoseMaximum("antibiotic", _("Antibiotic"), "mg", 8000),
    DoseMaximum("antibiotic", _("Antibiotic"), "mg/kg", 100),
)
_DOSE_MAXIMA = {(row.drug, row.unit): row for row in DOSE_MAXIMA}


def dose_limit(drug: str | None, unit: str | None) -> Limit:
    """The dose's limit for this drug and unit: positive, at most the drug's maximum (the row ``dose`` when the drug
    or unit is not one of the table, e.g. not chosen yet)."""
    row = _DOSE_MAXIMA.get((drug, unit))
    if row is None:
        return LIMITS["dose"]
    return Limit("dose", _dose_label(row.label), row.unit, 0, row.hard_max, hard_min_exclusive=True)


def _drug_dose(drug: str) -> str:
    return gettext("%(drug)s dose") % {"drug": drug}


#: "Anakinra dose", translated when it is shown (the label stays lazy, as the table's).
_dose_label = lazy(_drug_dose, str)


@dataclass(frozen=True)
class Jump:
    """An implausible change of one variable from one study day to the next (the data-quality rule ``jump.<name>``,
    cleaning/rules.py; clinical definitions §2.1).

    ``max_change``: the largest plausible change in the variable's unit, up or down (a change of exactly this much
    is plausible). ``max_ratio``: the largest plausible factor between the two values, each counted as at least
    ``ratio_floor`` (so that a change among small values, 1 to 15 mg/L of CRP, is not a jump).
    """

    name: str  # a row of LIMITS, and a field of a one-per-day form of the same name
    max_change: Number | None = None
    max_ratio: Number | None = None
    ratio_floor: Number = 0


# Changes between consecutive study days that the data-quality rules query (clinical definitions §2.1). These
# thresholds are PLAUSIBILITY BOUNDS chosen by the software team to catch a value typed on the wrong day, the wrong
# patient or in the wrong unit; they are TO BE REVIEWED BY A CLINICIAN of the study before they are relied on:
# - temperature: more than 3 degC in a day (fever spikes are 1-2 degC; 3 degC is a typing slip or Fahrenheit);
# - heart rate: more than 60/min (a tachyarrhythmia can do it: the query asks to confirm, it refuses nothing);
# - SpO2: more than 20 points (a probe off the finger, or a value of another patient);
# - CRP: more than tenfold, each value counted as at least 10 mg/L (CRP doubles in about 8 hours at most, so a
#   tenfold rise from 10 mg/L within a day is possible but rare; a tenfold fall is not: mg/dL typed as mg/L).
JUMPS: tuple[Jump, ...] = (
    Jump("temperature_c", max_change=3),
    Jump("heart_rate_bpm", max_change=60),
    Jump("spo2_pct", max_change=20),
    Jump("crp_mg_l", max_ratio=10, ratio_floor=10),
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


def exact(number: Number) -> Decimal:
    """A table bound or a typed value as the decimal a person reads (a float 0.21 is 0.21, not 0.2099...)."""
    return number if isinstance(number, Decimal) else Decimal(repr(number))


def within_hard_range(limit: Limit, value: Number) -> bool:
    """Whether ``value`` lies within the hard bounds of ``limit`` (inclusive, but for an exclusive minimum)."""
    number = exact(value)
    if limit.hard_min is not None:
        low = exact(limit.hard_min)
        if number < low or (limit.hard_min_exclusive and number == low):
            return False
    return limit.hard_max is None or number <= exact(limit.hard_max)


def shown_unit(unit: str) -> str:
    """A unit as a message or a unit selector shows it: the units that are words ("years", "days", "fraction") in
    the active language, the others (mg/L, mmHg, /min) as written."""
    if unit == "years":
        return pgettext("unit", "years")
    if unit == "days":
        return pgettext("unit", "days")
    if unit == "fraction":
        return pgettext("unit", "fraction")
    return unit


#: Digits a message writes out on either side of the decimal point; a number beyond (one typed absurdly, 1e400) is
#: written with its power of ten.
_WRITTEN_DIGITS = 15


def number_text(number: Decimal) -> str:
    """A number as a message shows it, in the active language: ``45.0`` -> "45", ``41.50`` -> "41.5" ("41,5" in
    Italian), ``300000`` -> "300000"; beyond 15 digits on either side of the point, "1E+400" (a message is never
    hundreds of zeros long)."""
    number = number.normalize()
    if number and not -_WRITTEN_DIGITS <= number.adjusted() < _WRITTEN_DIGITS:
        return format(number, "E")
    text = format(number, "f")
    return localized_number("0" if text == "-0" else text)


def localized_number(text: str) -> str:
    """A number written as in English ("37.5", "1200", "-0.25") with the active language's decimal separator
    ("37,5" in Italian); the same text in English. Any other text (an exponent, not a number) is returned as it is."""
    if not _PLAIN_NUMBER.fullmatch(text):
        return text
    return number_format(Decimal(text))
