"""The machinery of eligibility rule sets: criteria, three-valued judges, evaluation and the registry of protocols.

Pure module: no Django imports but translation. A protocol (cohorts/eligibility/milan.py, new_york.py) is a ``RuleSet``
built from these parts: the inputs it reads (``Field``), its thresholds (``Setting``, the *study settings* stored per
study and written into the codebook) and its criteria, each judged by a ``Judge`` on the recorded values. Evaluating a
screening gives one ``CriterionResult`` per criterion: met / not met / missing, with the value that decided it and a
sentence for the screening log (clinical definitions §1.3).

Numbers arrive in canonical units. Every input may be None, meaning "not recorded". Combined criteria use
three-valued logic (``any_of``, ``all_of``), so a criterion is decided whenever the recorded values already decide
it, and a missing value only makes it "missing" when the answer really depends on it. A value of the wrong type or
outside the physically possible range (for instance FiO2 entered as a percentage) is treated as not recorded rather
than silently compared.

Languages: the labels of criteria, inputs and settings are English, marked with ``gettext_noop``; an evaluation
writes its labels, thresholds and sentences in the active language (``gettext``), numbers with its decimal separator.
What is stored (a screening's criteria and reasons, cohorts/services.py) is evaluated in ``STORED_LANGUAGE``, English,
so stored texts and counts by label do not depend on who screened; the pages show them in the reader's language
(cohorts/enrolment.py ``shown_criteria``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, pgettext

from cohorts.eligibility.fields import FIELDS, UNITS_IN_TEXT, Field
from cohorts.limits import LIMITS, localized_number, shown_unit

Kind = Literal["inclusion", "exclusion"]
Verdict = Literal["met", "not_met", "missing"]
Values = Mapping[str, object]
Settings = Mapping[str, float | str]

# The hard limits of FiO2 (cohorts/limits.py). A value outside them (typically a percentage typed into a fraction
# field) would make P/F look a hundred times worse, so it is not used.
FIO2_RANGE = (float(LIMITS["fio2"].hard_min), float(LIMITS["fio2"].hard_max))
# Measured quantities are never negative.
NON_NEGATIVE = (0.0, math.inf)


# --------------------------------------------------------------------------------------------
# Results, criteria and rule sets
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CriterionResult:
    """The verdict on one criterion for one screening.

    For an exclusion criterion, verdict "met" means the exclusion applies (patient excluded).
    ``fields`` are all inputs the criterion reads; ``missing_fields`` (a subset, non-empty when
    the verdict is "missing") are the ones that must be recorded or corrected to decide it.
    """

    code: str
    kind: Kind
    label: str
    verdict: Verdict
    value: object
    threshold: str
    sentence: str
    fields: tuple[str, ...]
    missing_fields: tuple[str, ...] = ()
    value_text: str = ""  # the value as shown when it is not the number itself (a computed ratio, rounded)
    not_recorded: bool = False  # an input it reads is not recorded (the sentence says which)

    @property
    def passes(self) -> bool:
        """True when this criterion does not stand in the way of enrolment."""
        return self.verdict == ("met" if self.kind == "inclusion" else "not_met")


@dataclass(frozen=True)
class Evaluation:
    """All criteria of a rule set for one screening (clinical definitions §1.3): enrol only when every
    inclusion is met, no exclusion applies and nothing is missing."""

    rule_set: str
    criteria: tuple[CriterionResult, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "criteria", tuple(self.criteria))

    @property
    def eligible(self) -> bool:
        return all(c.passes for c in self.criteria)

    @property
    def failing(self) -> tuple[CriterionResult, ...]:
        """Inclusions not met and exclusions that apply."""
        return tuple(c for c in self.criteria if not c.passes and c.verdict != "missing")

    @property
    def missing(self) -> tuple[CriterionResult, ...]:
        return tuple(c for c in self.criteria if c.verdict == "missing")

    @property
    def missing_fields(self) -> frozenset[str]:
        return frozenset(name for c in self.missing for name in c.missing_fields)

    @property
    def reasons(self) -> tuple[str, ...]:
        """Sentences for the screening log: failing criteria first, then missing ones."""
        return tuple(c.sentence for c in (*self.failing, *self.missing))


@dataclass(frozen=True)
class Finding:
    """What a criterion's judge found: the three-valued outcome and how to explain it.

    ``outcome`` True means the criterion's condition holds (inclusion met, or exclusion
    applies); None means the recorded values cannot decide it.
    """

    outcome: bool | None
    text: str
    value: object
    shown: str
    threshold: str
    missing: tuple[str, ...] = ()
    compound: bool = False
    value_text: str = ""
    not_recorded: bool = False  # the text says that an input is not recorded


Judge = Callable[[Values, Settings], Finding]


@dataclass(frozen=True)
class Criterion:
    code: str
    kind: Kind
    label: str  # English (gettext_noop); the result carries it in the active language
    fields: tuple[str, ...]
    judge: Judge

    def evaluate(self, values: Values, settings: Settings) -> CriterionResult:
        finding = self.judge(values, settings)
        verdict: Verdict = {True: "met", False: "not_met", None: "missing"}[finding.outcome]
        return CriterionResult(
            code=self.code,
            kind=self.kind,
            label=_(self.label),
            verdict=verdict,
            value=finding.value,
            threshold=finding.threshold,
            sentence=f"{finding.text}: {_verdict_word(self.kind, verdict)}",
            fields=self.fields,
            missing_fields=finding.missing if verdict == "missing" else (),
            value_text=finding.value_text,
            not_recorded=finding.not_recorded,
        )


def _verdict_word(kind: Kind, verdict: Verdict) -> str:
    """ "met", "not met", "exclusion applies", "exclusion does not apply", "missing", in the active language."""
    if verdict == "missing":
        return pgettext("criterion", "missing")
    if kind == "inclusion":
        return pgettext("criterion", "met") if verdict == "met" else pgettext("criterion", "not met")
    if verdict == "met":
        return pgettext("criterion", "exclusion applies")
    return pgettext("criterion", "exclusion does not apply")


@dataclass(frozen=True)
class Setting:
    """A threshold stored per study (*study setting* of the clinical definitions), with its default."""

    key: str
    label: str  # English (gettext_noop)
    default: float | str
    unit: str = ""
    choices: tuple[str, ...] = ()

    def problem(self, value: object) -> str | None:
        """Why ``value`` is not a valid override, in the active language (the study set-up shows it), or None."""
        if self.choices:
            if value not in self.choices:
                return _("%(value)s is not one of %(choices)s") % {"value": repr(value), "choices": self.choices}
            return None
        if _as_number(value) is None:
            return _("%(value)s is not a finite number") % {"value": repr(value)}
        return None

    def clean(self, value: object) -> float | str:
        """Validate an override: a finite number, or one of ``choices`` for a choice setting."""
        problem = self.problem(value)
        if problem is not None:
            raise ValueError(f"setting {self.key}: {problem}")
        return str(value) if self.choices else _as_number(value)


@dataclass(frozen=True)
class RuleSet:
    code: str
    title: str  # English (gettext_noop)
    fields: tuple[Field, ...]
    settings: tuple[Setting, ...]
    criteria: tuple[Criterion, ...]

    @property
    def default_settings(self) -> dict[str, float | str]:
        """A fresh dict of the default thresholds (safe to store on a Study and edit)."""
        return {s.key: s.default for s in self.settings}

    def resolve_settings(self, overrides: Mapping[str, object] | None = None) -> dict[str, float | str]:
        """Defaults updated with ``overrides``; an unknown key or bad value raises ValueError
        (a mistyped threshold must not be silently ignored)."""
        specs = {s.key: s for s in self.settings}
        unknown = sorted(set(overrides or {}) - set(specs))
        if unknown:
            raise ValueError(f"{self.code}: unknown settings {unknown}; known: {sorted(specs)}")
        resolved = self.default_settings
        resolved.update({k: specs[k].clean(v) for k, v in (overrides or {}).items()})
        return resolved

    def evaluate(self, values: Values, settings: Mapping[str, object] | None = None) -> Evaluation:
        resolved = self.resolve_settings(settings)
        results = tuple(c.evaluate(values, resolved) for c in self.criteria)
        return Evaluation(rule_set=self.code, criteria=results)


# --------------------------------------------------------------------------------------------
# Reading inputs
# --------------------------------------------------------------------------------------------


def _as_number(value: object) -> float | None:
    """A finite real number as float, else None (bools are answers, not measurements)."""
    if isinstance(value, bool) or not isinstance(value, int | float | Decimal):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class Unusable:
    """Why an input cannot be used: not recorded (``expected`` empty), or a value ``raw`` that is not what was
    ``expected`` (worded in the active language, e.g. "a number from 0 to 1")."""

    raw: object = None
    expected: str = ""

    @property
    def not_recorded(self) -> bool:
        return not self.expected

    def about(self, label: str) -> str:
        """The sentence for the input called ``label``: "CRP not recorded", "age has an unusable value ..."."""
        if self.not_recorded:
            return _("%(label)s not recorded") % {"label": label}
        return _("%(label)s has an unusable value %(value)s (expected %(expected)s)") % {
            "label": label,
            "value": repr(self.raw),
            "expected": self.expected,
        }


NOT_RECORDED = Unusable()


def read_number(
    values: Values, name: str, valid: tuple[float, float] = NON_NEGATIVE
) -> tuple[float | None, Unusable | None]:
    """(value, None) when usable, else (None, why)."""
    raw = values.get(name)
    if raw is None:
        return None, NOT_RECORDED
    number = _as_number(raw)
    low, high = valid
    if number is None or not low <= number <= high:
        if math.isinf(high):
            expected = _("a number from %(low)s") % {"low": fmt(low)}
        else:
            expected = _("a number from %(low)s to %(high)s") % {"low": fmt(low), "high": fmt(high)}
        return None, Unusable(raw, expected)
    return number, None


def _read_flag(values: Values, name: str) -> tuple[bool | None, Unusable | None]:
    raw = values.get(name)
    if raw is None:
        return None, NOT_RECORDED
    if not isinstance(raw, bool):
        return None, Unusable(raw, _("yes or no"))
    return raw, None


def read_choice(values: Values, name: str, choices: tuple[str, ...]) -> tuple[str | None, Unusable | None]:
    raw = values.get(name)
    if raw is None:
        return None, NOT_RECORDED
    text = raw.strip().upper() if isinstance(raw, str) else None
    if text not in choices:
        return None, Unusable(raw, _("one of %(choices)s") % {"choices": ", ".join(choices)})
    return text, None


def fmt(number: float) -> str:
    """Up to 4 decimals, trailing zeros dropped: 150.0124, 1200, 0.95 (0,95 in Italian: the active language's
    decimal separator)."""
    text = f"{number:.4f}".rstrip("0").rstrip(".")
    return localized_number("0" if text == "-0" else text)


def _with_unit(number: float, unit: str) -> str:
    return f"{fmt(number)} {shown_unit(unit)}".rstrip()


def _yes_no(flag: bool) -> str:
    return _("yes") if flag else _("no")


def and_text(parts: Iterable[str]) -> str:
    """ "A and B and C", with the active language's word."""
    return _joined(parts, lambda first, second: _("%(first)s and %(second)s") % {"first": first, "second": second})


def or_text(parts: Iterable[str]) -> str:
    """ "A or B or C", with the active language's word."""
    return _joined(parts, lambda first, second: _("%(first)s or %(second)s") % {"first": first, "second": second})


def _joined(parts: Iterable[str], join: Callable[[str, str], str]) -> str:
    parts = list(parts)
    text = parts[0] if parts else ""
    for part in parts[1:]:
        text = join(text, part)
    return text


# --------------------------------------------------------------------------------------------
# Judges: single comparisons, yes/no answers, and three-valued combinations
# --------------------------------------------------------------------------------------------

_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    ">=": operator.ge,
    ">": operator.gt,
    "<=": operator.le,
    "<": operator.lt,
}
# How a failed comparison reads, e.g. "CRP 85 mg/L is below 100 mg/L".
_FAILED: dict[str, str] = {
    ">=": gettext_noop("%(value)s is below %(threshold)s"),
    ">": gettext_noop("%(value)s is not above %(threshold)s"),
    "<=": gettext_noop("%(value)s is above %(threshold)s"),
    "<": gettext_noop("%(value)s is not below %(threshold)s"),
}


def compare(
    label: str, value: float | Fraction, unit: str, op: str, threshold: float | Fraction, detail: str = ""
) -> Finding:
    """Compare a value with a threshold; ``detail`` explains a derived value, e.g. its inputs.

    An exact Fraction (a derived ratio) is compared exactly, stored as a float and shown rounded (_ratio_text).
    """
    passed = bool(_OPERATORS[op](value, threshold))
    value_text = _ratio_text(value, op, threshold) if isinstance(value, Fraction) else ""
    value, threshold = float(value), float(threshold)
    number = f"{value_text} {shown_unit(unit)}".rstrip() if value_text else _with_unit(value, unit)
    shown = f"{label} {number}{detail}"
    limit = _with_unit(threshold, unit)
    sentence = _("%(value)s is %(op)s %(threshold)s") if passed else _(_FAILED[op])
    return Finding(
        outcome=passed,
        text=sentence % {"value": shown, "op": op, "threshold": limit},
        value=value,
        shown=shown,
        threshold=f"{label} {op} {limit}",
        value_text=value_text,
    )


def _ratio_text(value: Fraction, op: str, threshold: Fraction | float) -> str:
    """A computed ratio to one decimal, as P/F reads everywhere in the application (116.7, not 116.6667); with
    more decimals only where one would put it onto or across the threshold (200.04 is above 200, not "200")."""
    holds, limit = _OPERATORS[op], Fraction(threshold)
    for decimals in range(1, 5):
        scale = 10**decimals
        rounded = Fraction(math.floor(value * scale + Fraction(1, 2)), scale)  # half up, exactly
        if holds(rounded, limit) == holds(value, limit) and (rounded == limit) == (value == limit):
            return fmt(float(rounded))
    return fmt(float(value))


def unusable(text: str, threshold: str, missing: tuple[str, ...], not_recorded: bool = False) -> Finding:
    """An undecided finding: ``text`` says why (e.g. ``Unusable.about``), ``missing`` the inputs it needs."""
    return Finding(None, text, None, text, threshold, missing, not_recorded=not_recorded)


@dataclass(frozen=True)
class Comparison:
    """A judge comparing one recorded number with a threshold taken from the settings.

    With ``blank_is_off`` a blank value is a device not in use and fails the comparison (a
    patient on a non-rebreather has no HFNC FiO2); an unusable value is still not evaluable.
    """

    field: str
    label: str  # English (gettext_noop), lower case where it is not a name: "age", "CRP"
    op: str
    setting: str
    valid: tuple[float, float] = NON_NEGATIVE
    blank_is_off: bool = False

    def __call__(self, values: Values, settings: Settings) -> Finding:
        label = _(self.label)
        threshold = float(settings[self.setting])
        unit = UNITS_IN_TEXT[self.field]
        wanted = f"{label} {self.op} {_with_unit(threshold, unit)}"
        value, why = read_number(values, self.field, self.valid)
        if value is None and self.blank_is_off and values.get(self.field) is None:
            text = _("%(label)s not recorded (not in use)") % {"label": label}
            return Finding(False, text, None, text, wanted, not_recorded=True)
        if value is None:
            return unusable(why.about(label), wanted, (self.field,), why.not_recorded)
        return compare(label, value, unit, self.op, threshold)


@dataclass(frozen=True)
class Answer:
    """A judge on a yes/no input; the outcome is True when the answer equals ``holds_when``."""

    field: str
    label: str  # English (gettext_noop)
    holds_when: bool = True

    def __call__(self, values: Values, settings: Settings) -> Finding:
        label = _(self.label)
        flag, why = _read_flag(values, self.field)
        wanted = f"{label}: {_yes_no(self.holds_when)}"
        if flag is None:
            return unusable(why.about(label), wanted, (self.field,), why.not_recorded)
        shown = f"{label}: {_yes_no(flag)}"
        text = (_("%(label)s answered yes") if flag else _("%(label)s answered no")) % {"label": label}
        return Finding(flag == self.holds_when, text, flag, shown, wanted)


def _kleene_any(outcomes: Iterable[bool | None]) -> bool | None:
    """Three-valued OR: True if any is True, False if all are False, else undecided."""
    seen = list(outcomes)
    if True in seen:
        return True
    return False if all(o is False for o in seen) else None


def _kleene_all(outcomes: Iterable[bool | None]) -> bool | None:
    """Three-valued AND: False if any is False, True if all are True, else undecided."""
    seen = list(outcomes)
    if False in seen:
        return False
    return True if all(o is True for o in seen) else None


def _part(finding: Finding, attribute: str) -> str:
    text = getattr(finding, attribute)
    return f"({text})" if finding.compound else text


def _combine(
    findings: list[Finding], outcome: bool | None, word: Callable[[Iterable[str]], str], text: Callable
) -> Finding:
    """Join sub-findings (``word``: the thresholds, with "or" or "and"; ``text``: the sentences); when undecided,
    only the undecided parts say which inputs are needed."""
    missing: tuple[str, ...] = ()
    if outcome is None:
        missing = tuple(name for f in findings if f.outcome is None for name in f.missing)
    return Finding(
        outcome=outcome,
        text=text(_part(f, "text") for f in findings),
        value=", ".join(f.shown for f in findings),
        shown=", ".join(f.shown for f in findings),
        threshold=word(_part(f, "threshold") for f in findings),
        missing=tuple(dict.fromkeys(missing)),
        compound=True,
        not_recorded=any(f.not_recorded for f in findings),
    )


def any_of(*judges: Judge) -> Judge:
    def judge(values: Values, settings: Settings) -> Finding:
        findings = [j(values, settings) for j in judges]
        return _combine(findings, _kleene_any(f.outcome for f in findings), or_text, "; ".join)

    return judge


def all_of(*judges: Judge) -> Judge:
    def judge(values: Values, settings: Settings) -> Finding:
        findings = [j(values, settings) for j in judges]
        return _combine(findings, _kleene_all(f.outcome for f in findings), and_text, and_text)

    return judge


def form_fields(criteria: Iterable[Criterion], recorded: tuple[str, ...] = ()) -> tuple[Field, ...]:
    """A rule set's inputs, in the order its screening form shows them: those its criteria read, in the order of
    the criteria, then ``recorded``, inputs kept with the screening that no criterion judges."""
    read = dict.fromkeys(name for criterion in criteria for name in criterion.fields)
    return tuple(FIELDS[name] for name in (*read, *recorded))


def answer_criterion(code: str, kind: Kind, field: str, holds_when: bool = True) -> Criterion:
    """A criterion decided by one yes/no input, labelled with the field's label (English, as every label)."""
    label = FIELDS[field].label
    return Criterion(code, kind, label, (field,), Answer(field, label, holds_when))


# --------------------------------------------------------------------------------------------
# Registry of the protocols a study can select (filled in cohorts/eligibility/__init__.py)
# --------------------------------------------------------------------------------------------

_REGISTERED: dict[str, RuleSet] = {}
RULE_SETS: Mapping[str, RuleSet] = MappingProxyType(_REGISTERED)


def register(rule_set: RuleSet) -> RuleSet:
    """Make ``rule_set`` selectable by its code; a code is registered once."""
    if rule_set.code in _REGISTERED:
        raise ValueError(f"rule set {rule_set.code!r} is already registered")
    _REGISTERED[rule_set.code] = rule_set
    return rule_set


def get_rule_set(code: str) -> RuleSet:
    try:
        return RULE_SETS[code]
    except KeyError:
        raise ValueError(f"unknown rule set {code!r}; known: {', '.join(RULE_SETS)}") from None


def evaluate(rule_set_code: str, values: Values, settings: Mapping[str, object] | None = None) -> Evaluation:
    """Evaluate one screening against a study's rule set.

    ``values`` maps field names to canonical-unit numbers, booleans, choice strings or None
    (extra keys are ignored); ``settings`` overrides the rule set's default thresholds.
    """
    return get_rule_set(rule_set_code).evaluate(values, settings)
