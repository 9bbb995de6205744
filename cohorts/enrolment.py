"""Screening and enrolment rules on plain values (clinical definitions §1.3, 2, 2.1), used by forms and services.

Pure module: no Django imports but translation, so the rules are testable without HTTP and shared by the screening
form, the enrolment form and the services that re-check them. The messages are in the active language; what is stored
(a screening's criteria) in ``STORED_LANGUAGE``, and shown in the reader's language by ``shown_criteria``.

A screening value becomes day-0 source data (ecrf), where the same limits are database constraints, so an
implausible value is refused when it is typed, not at enrolment: the screening and the baseline weight are checked
against the one limits table of cohorts/limits.py, which the daily forms and the constraints read too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from django.utils import translation
from django.utils.translation import gettext as _

from cohorts.eligibility.engine import CriterionResult, Evaluation, RuleSet
from cohorts.eligibility.fields import FIELDS
from cohorts.languages import STORED_LANGUAGE
from cohorts.limits import LIMITS, exact, limit_of, localized_number, shown_unit, within_hard_range
from cohorts.units import UNITS

# How far in the future a time typed at screening may be (clock skew between the ward PC and the server).
FUTURE_TOLERANCE = timedelta(minutes=10)
# An earlier time is a slip of the year (0001 for 2001); the first hours of year 1 cannot even be stored.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)


def time_problem(moment: datetime, now: datetime, tolerance: timedelta = FUTURE_TOLERANCE) -> str | None:
    """``"future"`` for a time after ``now`` (give or take ``tolerance``), ``"too_early"`` for one before 2000 (a slip
    of the year), else None: the plausibility of a time typed for a study, whose message each caller words."""
    if moment > now + tolerance:
        return "future"
    if moment < EARLIEST_TIME:
        return "too_early"
    return None


def screening_time_problems(
    assessed_at: datetime | None, recorded: Mapping[str, datetime | None], now: datetime
) -> dict[str, tuple[str, str]]:
    """(message, code) per implausible time of a screening: the assessment in the future or before 2000 (a slip of
    the year); a time the screening records (the onset of respiratory failure, clinical definitions §1.2) after the
    assessment, since it tells what had happened by then, or, without a plausible assessment to compare, in the
    future or before 2000."""
    problems: dict[str, tuple[str, str]] = {}
    assessment = {
        "future": _("The assessment cannot be in the future."),
        "too_early": _("Check the year: an assessment before 2000 is not plausible."),
    }
    recorded_time = {
        "future": _("This time cannot be in the future."),
        "too_early": _("Check the year: a time before 2000 is not plausible."),
    }
    if assessed_at is not None and (code := time_problem(assessed_at, now)):
        problems["assessed_at"] = (assessment[code], code)
    compared = None if "assessed_at" in problems else assessed_at
    for name, moment in recorded.items():
        if moment is None:
            continue
        if compared is not None and moment > compared:
            problems[name] = (
                _("This time is after the assessment: the screening records what had happened by then."),
                "after_assessment",
            )
        elif code := time_problem(moment, now):
            problems[name] = (recorded_time[code], code)
    return problems


def _fmt(number: float) -> str:
    text = f"{number:.4f}".rstrip("0").rstrip(".")
    return localized_number("0" if text == "-0" else text)


def limit_problem(name: str, value: float, unit: str | None) -> str | None:
    """Why a canonical-unit screening value is implausible, or None when it is within its hard limits."""
    limit = limit_of(name)  # every screened number has both bounds (tests/cohorts/test_limits.py)
    if within_hard_range(limit, value):
        return None
    low, high = exact(limit.hard_min), exact(limit.hard_max)
    unit_text = f" {shown_unit(unit)}" if unit and unit != "fraction" else ""
    return _(
        "%(value)s%(unit)s is outside the plausible range %(low)s-%(high)s%(unit)s (the hard limits of the edit "
        "checks); check the value and its unit."
    ) % {"value": _fmt(value), "unit": unit_text, "low": _fmt(low), "high": _fmt(high)}


def weight_problem(weight_kg: Decimal | float | None, confirmed: bool) -> tuple[str, str] | None:
    """(code, message) when the baseline weight is refused or needs confirmation, else None."""
    if weight_kg is None:
        return None
    limit = LIMITS["weight_kg"]
    weight = localized_number(str(weight_kg))
    if not within_hard_range(limit, weight_kg):
        return (
            "weight_kg.hard",
            _("A weight of %(weight)s kg is outside the plausible range %(low)s-%(high)s kg.")
            % {"weight": weight, "low": limit.hard_min, "high": limit.hard_max},
        )
    if needs_weight_confirmation(weight_kg) and not confirmed:
        return (
            "weight_kg.soft_high",
            _("A weight above %(limit)s kg is unusual: tick 'confirm weight' if %(weight)s kg is correct.")
            % {"limit": limit.soft_high, "weight": weight},
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
        return _("yes") if value else _("no")
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
    """One sentence naming every criterion that stands in the way, e.g. for the enrolment refusal (stored criteria:
    their English labels are shown in the active language)."""
    parts = []
    for c in blocking_rows(criteria):
        what = {
            "missing": _("%(criterion)s (missing data)"),
            "met": _("%(criterion)s (exclusion applies)"),
            "not_met": _("%(criterion)s (not met)"),
        }[c["verdict"]]
        parts.append(what % {"criterion": _(c["label"]) if c["label"] else c["label"]})
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
                value = ", ".join(f"{_(FIELDS[name].label)}: {value_text(baseline[name])}" for name in result.fields)
                if result.kind == "exclusion":
                    refusal = _("Not eligible: the protocol's exclusion criterion is %(threshold)s (%(values)s).")
                else:
                    refusal = _("Not eligible: the protocol's inclusion criterion is %(threshold)s (%(values)s).")
                refusals.append(refusal % {"threshold": result.threshold, "values": value})
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


def _missing_message(criterion: CriterionResult, name: str) -> str:
    """ "Needed to decide 'Hyperinflammation (CRP or ferritin)'.", with the reason when it is more than "not
    recorded" (e.g. a D-dimer on the other unit basis than the threshold's)."""
    own_question = criterion.fields == (name,)
    words = {"criterion": criterion.label, "reason": criterion.sentence}
    if criterion.not_recorded:
        if own_question:
            return _("Needed to decide this criterion.")
        return _("Needed to decide '%(criterion)s'.") % words
    if own_question:
        return _("Needed to decide this criterion. %(reason)s.") % words
    return _("Needed to decide '%(criterion)s'. %(reason)s.") % words


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
        notes.append(f"{_(field.label)}: {value_text(typed)} {unit} = {value_text(value)}{canonical_unit}")
    return notes


def shown_criteria(rule_set: RuleSet, values: Mapping[str, object], stored: Iterable[Mapping], settings) -> list[dict]:
    """A screening's stored criteria rows (``Screening.criteria``, in ``STORED_LANGUAGE``) as a page shows them, in
    the active language.

    The stored values are evaluated again with the study's settings: a row whose evaluation in the stored language
    is the stored row itself (same verdict, value, threshold and sentence: the settings and the rule set have not
    changed since) is shown as that evaluation in the active language, word for word the same. Any other row (a
    threshold changed since the screening) is shown as stored, with its label and verdict translated: a page never
    shows a criterion otherwise than it was decided.
    """
    stored = [dict(row) for row in stored]
    try:
        with translation.override(STORED_LANGUAGE):
            again = {row["code"]: row for row in criteria_rows(rule_set.evaluate(values, settings))}
        here = {row["code"]: row for row in criteria_rows(rule_set.evaluate(values, settings))}
    except (KeyError, TypeError, ValueError):  # settings no longer valid for the rule set: show what is stored
        again, here = {}, {}
    shown = []
    for row in stored:
        if again.get(row.get("code")) == row:
            shown.append(here[row["code"]])
        else:
            shown.append({**row, "label": _(row["label"]) if row.get("label") else ""})
    return shown
