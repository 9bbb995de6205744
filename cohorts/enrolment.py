"""Screening and enrolment rules on plain values (SPEC 1.3, 2, 2.1), used by forms and services.

Pure module: no Django imports, so the rules are testable without HTTP and shared by the screening form, the
enrolment form and the services that re-check them.

The plausibility ranges below repeat the hard limits of SPEC 2.1 for the values a screening records: a
screening value becomes day-0 source data (ecrf), where the same limits are database constraints, so an
implausible value must be refused when it is typed, not at enrolment. cohorts may not import ecrf (DESIGN.md),
so the numbers live here too; tests/cohorts/test_enrol_rules.py asserts they equal ecrf/checks.py's LIMITS.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from cohorts.eligibility import FIELDS, Evaluation
from cohorts.units import UNITS

# Hard limits (inclusive) per screening field, in the canonical unit. A field not listed only has to be >= 0.
SCREENING_HARD_LIMITS: Mapping[str, tuple[float, float]] = {
    "age_years": (0, 120),  # Patient.age_years constraint; the study minimum is a criterion, not a limit
    "pao2_mmhg": (20, 700),
    "fio2": (0.21, 1.0),
    "hfnc_fio2": (0.21, 1.0),
    "peep_cmh2o": (0, 30),
    "crp_mg_l": (0, 1000),
    "ferritin_ng_ml": (0, 300000),
    "ldh_u_l": (0, 20000),
    "lymphocytes_10e9_l": (0, 50),
    "procalcitonin_ng_ml": (0, 1000),
    "nrb_flow_l_min": (0.5, 70),
    "nasal_cannula_flow_l_min": (0.5, 70),
    # No SPEC limit; the capacity of the day-0 laboratory column (ng/mL), so enrolment cannot fail on it.
    "ddimer_ng_ml": (0, 9_999_999),
}

# Baseline weight (SPEC 2.1): refused outside 30-300 kg (also the Patient table's constraint), confirmed above 200.
WEIGHT_HARD_MIN_KG = 30
WEIGHT_HARD_MAX_KG = 300
WEIGHT_SOFT_HIGH_KG = 200


def _fmt(number: float) -> str:
    text = f"{number:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def limit_problem(name: str, value: float, unit: str | None) -> str | None:
    """Why a canonical-unit value is implausible, or None when it is within the hard limits."""
    low, high = SCREENING_HARD_LIMITS.get(name, (0, math.inf))
    if low <= value <= high:
        return None
    unit_text = f" {unit}" if unit and unit != "fraction" else ""
    if math.isinf(high):
        return f"{_fmt(value)}{unit_text} is not possible: the value cannot be below {_fmt(low)}{unit_text}."
    return (
        f"{_fmt(value)}{unit_text} is outside the plausible range {_fmt(low)}-{_fmt(high)}{unit_text} "
        "(SPEC 2.1 hard limits); check the value and its unit."
    )


def weight_problem(weight_kg: Decimal | float | None, confirmed: bool) -> tuple[str, str] | None:
    """(code, message) when the baseline weight is refused or needs confirmation, else None."""
    if weight_kg is None:
        return None
    if not WEIGHT_HARD_MIN_KG <= weight_kg <= WEIGHT_HARD_MAX_KG:
        return (
            "weight_kg.hard",
            f"A weight of {weight_kg} kg is outside the plausible range {WEIGHT_HARD_MIN_KG}-{WEIGHT_HARD_MAX_KG} kg.",
        )
    if weight_kg > WEIGHT_SOFT_HIGH_KG and not confirmed:
        return (
            "weight_kg.soft_high",
            f"A weight above {WEIGHT_SOFT_HIGH_KG} kg is unusual: tick 'confirm weight' if {weight_kg} kg is correct.",
        )
    return None


def json_value(value: object) -> object:
    """A cleaned form value as stored in Screening.values (JSON): numbers as float, date-times as ISO text."""
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def value_text(value: object) -> str:
    """A criterion's deciding value as a person reads it: yes/no, a number without float noise, or the text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int | float):
        return _fmt(float(value))
    return str(value)


def criteria_rows(evaluation: Evaluation) -> list[dict]:
    """Every criterion as stored on the screening and shown on the page (SPEC 1.3)."""
    return [
        {
            "code": c.code,
            "kind": c.kind,
            "label": c.label,
            "verdict": c.verdict,
            "passes": c.passes,
            "value": c.value,
            "value_text": c.value_text or value_text(c.value),
            "threshold": c.threshold,
            "sentence": c.sentence,
            "fields": list(c.fields),
            "missing_fields": list(c.missing_fields),
        }
        for c in evaluation.criteria
    ]


def blocking_rows(criteria: Iterable[Mapping]) -> list[Mapping]:
    """Criteria that stand in the way of enrolment: inclusions not met, exclusions that apply, missing ones."""
    return [c for c in criteria if not c.get("passes")]


def blocking_sentence(criteria: Iterable[Mapping]) -> str:
    """One sentence naming every criterion that stands in the way, e.g. for the enrolment refusal."""
    parts = []
    for c in blocking_rows(criteria):
        what = {"missing": "missing data", "met": "exclusion applies", "not_met": "not met"}[c["verdict"]]
        parts.append(f"{c['label']} ({what})")
    return "; ".join(parts)


def missing_field_errors(
    evaluation: Evaluation, fields: Iterable[str] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """(message, code) per input that a criterion needs and does not have: missing data is an error on the
    field, never a silent pass (SPEC 1.3). ``fields`` limits the result to the inputs a form shows."""
    errors: dict[str, list[tuple[str, str]]] = {}
    wanted = set(fields) if fields is not None else None
    for c in evaluation.missing:
        for name in c.missing_fields:
            if wanted is not None and name not in wanted:
                continue
            errors.setdefault(name, []).append((_missing_message(c, name), "required_for_criterion"))
    return errors


def _missing_message(criterion, name: str) -> str:
    """ "Needed to decide 'Hyperinflammation (CRP or ferritin)'.", with the reason when it is more than "not
    recorded" (e.g. a D-dimer on the other unit basis than the threshold's)."""
    own_question = criterion.fields == (name,)
    message = "Needed to decide this criterion." if own_question else f"Needed to decide '{criterion.label}'."
    if "not recorded" not in criterion.sentence:
        message += f" {criterion.sentence}."
    return message


def conversion_notes(values: Mapping[str, object], entered_units: Mapping[str, str]) -> list[str]:
    """What was converted, as typed and as evaluated: "CRP: 12 mg/dL = 120 mg/L" (values in canonical units)."""
    notes = []
    for name, unit in entered_units.items():
        field, value = FIELDS.get(name), values.get(name)
        if field is None or field.quantity is None or unit == field.unit or not isinstance(value, int | float):
            continue
        factor = UNITS[field.quantity].factors.get(unit)
        if factor is None:
            continue
        typed = float(Decimal(repr(float(value))) / factor)
        canonical_unit = "" if field.unit == "fraction" else f" {field.unit}"
        notes.append(f"{field.label}: {value_text(typed)} {unit} = {value_text(value)}{canonical_unit}")
    return notes
