"""Screening and enrolment rules on plain values (clinical definitions §1.3, 2, 2.1), used by forms and services.

Pure module: no Django imports, so the rules are testable without HTTP and shared by the screening form, the
enrolment form and the services that re-check them.

A screening value becomes day-0 source data (ecrf), where the same limits are database constraints, so an
implausible value is refused when it is typed, not at enrolment: the screening and the baseline weight are checked
against the one limits table of cohorts/limits.py, which the daily forms and the constraints read too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from decimal import Decimal

from cohorts.eligibility.engine import Evaluation, RuleSet
from cohorts.eligibility.fields import FIELDS
from cohorts.limits import LIMITS, exact, limit_of, within_hard_range
from cohorts.units import UNITS


def _fmt(number: float) -> str:
    text = f"{number:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def limit_problem(name: str, value: float, unit: str | None) -> str | None:
    """Why a canonical-unit screening value is implausible, or None when it is within its hard limits."""
    limit = limit_of(name)  # every screened number has both bounds (tests/cohorts/test_limits.py)
    if within_hard_range(limit, value):
        return None
    low, high = exact(limit.hard_min), exact(limit.hard_max)
    unit_text = f" {unit}" if unit and unit != "fraction" else ""
    return (
        f"{_fmt(value)}{unit_text} is outside the plausible range {_fmt(low)}-{_fmt(high)}{unit_text} "
        "(the hard limits of the edit checks); check the value and its unit."
    )


def weight_problem(weight_kg: Decimal | float | None, confirmed: bool) -> tuple[str, str] | None:
    """(code, message) when the baseline weight is refused or needs confirmation, else None."""
    if weight_kg is None:
        return None
    limit = LIMITS["weight_kg"]
    if not within_hard_range(limit, weight_kg):
        return (
            "weight_kg.hard",
            f"A weight of {weight_kg} kg is outside the plausible range {limit.hard_min}-{limit.hard_max} kg.",
        )
    if needs_weight_confirmation(weight_kg) and not confirmed:
        return (
            "weight_kg.soft_high",
            f"A weight above {limit.soft_high} kg is unusual: tick 'confirm weight' if {weight_kg} kg is correct.",
        )
    return None


def needs_weight_confirmation(weight_kg: Decimal | float | None) -> bool:
    """A baseline weight beyond the soft limit is accepted once confirmed, and the confirmation is stored."""
    return weight_kg is not None and weight_kg > LIMITS["weight_kg"].soft_high


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
    """Every criterion as stored on the screening and shown on the page (clinical definitions §1.3)."""
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


def baseline_refusals(rule_set: RuleSet, baseline: Mapping[str, object], settings: Mapping[str, object]) -> list[str]:
    """Why a patient enrolled without a screening (an import) is not eligible by the baseline it brings.

    Only the protocol's criteria that read nothing but baseline values are decided (the Milan minimum age); the
    others need a screening. A plausible age below the minimum is not eligible, not a typing error.
    """
    resolved = rule_set.resolve_settings(settings)
    refusals = []
    for criterion in rule_set.criteria:
        if set(criterion.fields) <= set(baseline):
            result = criterion.evaluate(baseline, resolved)
            if not result.passes:
                value = ", ".join(f"{FIELDS[name].label}: {value_text(baseline[name])}" for name in result.fields)
                refusals.append(
                    f"Not eligible: the protocol's {result.kind} criterion is {result.threshold} ({value})."
                )
    return refusals


def missing_field_errors(
    evaluation: Evaluation, fields: Iterable[str] | None = None
) -> dict[str, list[tuple[str, str]]]:
    """(message, code) per input that a criterion needs and does not have: missing data is an error on the
    field, never a silent pass (clinical definitions §1.3). ``fields`` limits the result to the inputs a form shows."""
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
