"""Eligibility rule sets per protocol (SPEC 1.1, 1.2, 1.3).

A study selects its rule set by code ("milan_2020", "new_york_2020"), so running either protocol
needs no code change. A rule set declares the inputs it reads (``Field``, from which the screening
form is generated), its thresholds (``Setting``, the *study settings* stored per study and written
into the codebook), and its criteria. Evaluating a screening gives one ``CriterionResult`` per
criterion: met / not met / missing, with the value that decided it and a sentence for the
screening log (SPEC 1.3).

Numbers arrive in canonical units (the form converts them with ``cohorts.units``). Every input
may be None, meaning "not recorded". Combined criteria use three-valued logic, so a criterion is
decided whenever the recorded values already decide it: CRP >= 100 mg/L meets the Milan
hyperinflammation criterion even if ferritin is missing, and a missing value only makes the
criterion "missing" when the answer really depends on it. A value of the wrong type or outside
the physically possible range (for instance FiO2 entered as a percentage) is treated as not
recorded rather than silently compared. One exception, for New York respiratory failure: a
patient is on non-rebreather + nasal cannula *or* on high-flow, so a blank setting of an oxygen
device counts as "not in use" and the criterion is missing only when no device is recorded.

Pure module: no Django imports.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from decimal import Decimal
from fractions import Fraction
from types import MappingProxyType
from typing import Any, Literal

from cohorts.units import DDIMER_BASES, UNITS

__all__ = [
    "ANAKINRA_TIMING_HOURS",
    "FIELDS",
    "RULE_SETS",
    "Criterion",
    "CriterionResult",
    "Evaluation",
    "Field",
    "Finding",
    "RuleSet",
    "Setting",
    "anakinra_timing",
    "evaluate",
    "get_rule_set",
    "rule_set_choices",
]

Kind = Literal["inclusion", "exclusion"]
Verdict = Literal["met", "not_met", "missing"]
FieldKind = Literal["bool", "number", "choice", "datetime"]
Values = Mapping[str, object]
Settings = Mapping[str, float | str]

# SPEC 2.1 hard limits of FiO2. A value outside them (typically a percentage typed into a
# fraction field) would make P/F look a hundred times worse, so it is not used.
FIO2_RANGE = (0.21, 1.0)
# Measured quantities are never negative.
NON_NEGATIVE = (0.0, math.inf)


# --------------------------------------------------------------------------------------------
# Public data structures
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One input of the screening form. Numbers are in ``unit``, the canonical unit of
    ``quantity`` in ``cohorts.units`` (the form offers that quantity's unit choices)."""

    name: str
    label: str
    kind: FieldKind
    unit: str | None = None
    quantity: str | None = None
    choices: tuple[str, ...] = ()


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

    @property
    def passes(self) -> bool:
        """True when this criterion does not stand in the way of enrolment."""
        return self.verdict == ("met" if self.kind == "inclusion" else "not_met")


@dataclass(frozen=True)
class Evaluation:
    """All criteria of a rule set for one screening (SPEC 1.3): enrol only when every
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


Judge = Callable[[Values, Settings], Finding]


@dataclass(frozen=True)
class Criterion:
    code: str
    kind: Kind
    label: str
    fields: tuple[str, ...]
    judge: Judge

    def evaluate(self, values: Values, settings: Settings) -> CriterionResult:
        finding = self.judge(values, settings)
        verdict: Verdict = {True: "met", False: "not_met", None: "missing"}[finding.outcome]
        return CriterionResult(
            code=self.code,
            kind=self.kind,
            label=self.label,
            verdict=verdict,
            value=finding.value,
            threshold=finding.threshold,
            sentence=f"{finding.text}: {_VERDICT_WORDS[self.kind][verdict]}",
            fields=self.fields,
            missing_fields=finding.missing if verdict == "missing" else (),
            value_text=finding.value_text,
        )


_VERDICT_WORDS: dict[Kind, dict[Verdict, str]] = {
    "inclusion": {"met": "met", "not_met": "not met", "missing": "missing"},
    "exclusion": {
        "met": "exclusion applies",
        "not_met": "exclusion does not apply",
        "missing": "missing",
    },
}


@dataclass(frozen=True)
class Setting:
    """A threshold stored per study (*study setting*, SPEC), with its default."""

    key: str
    label: str
    default: float | str
    unit: str = ""
    choices: tuple[str, ...] = ()

    def clean(self, value: object) -> float | str:
        """Validate an override: a finite number, or one of ``choices`` for a choice setting."""
        if self.choices:
            if value not in self.choices:
                raise ValueError(f"setting {self.key}: {value!r} is not one of {self.choices}")
            return str(value)
        number = _as_number(value)
        if number is None:
            raise ValueError(f"setting {self.key}: {value!r} is not a finite number")
        return number


@dataclass(frozen=True)
class RuleSet:
    code: str
    title: str
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


def _read_number(values: Values, name: str, valid: tuple[float, float] = NON_NEGATIVE) -> tuple[float | None, str]:
    """(value, "") when usable, else (None, why) with why worded for a sentence."""
    raw = values.get(name)
    if raw is None:
        return None, "not recorded"
    number = _as_number(raw)
    low, high = valid
    if number is None or not low <= number <= high:
        expected = f"a number from {_fmt(low)}" + ("" if math.isinf(high) else f" to {_fmt(high)}")
        return None, f"has an unusable value {raw!r} (expected {expected})"
    return number, ""


def _read_flag(values: Values, name: str) -> tuple[bool | None, str]:
    raw = values.get(name)
    if raw is None:
        return None, "not recorded"
    if not isinstance(raw, bool):
        return None, f"has an unusable value {raw!r} (expected yes or no)"
    return raw, ""


def _read_choice(values: Values, name: str, choices: tuple[str, ...]) -> tuple[str | None, str]:
    raw = values.get(name)
    if raw is None:
        return None, "not recorded"
    text = raw.strip().upper() if isinstance(raw, str) else None
    if text not in choices:
        return None, f"has an unusable value {raw!r} (expected one of {', '.join(choices)})"
    return text, ""


def _fmt(number: float) -> str:
    """Up to 4 decimals, trailing zeros dropped: 150.0124, 1200, 0.95."""
    text = f"{number:.4f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def _with_unit(number: float, unit: str) -> str:
    return f"{_fmt(number)} {unit}".rstrip()


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


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
_FAILED: dict[str, str] = {">=": "is below", ">": "is not above", "<=": "is above", "<": "is not below"}


def _compare(
    label: str, value: float | Fraction, unit: str, op: str, threshold: float | Fraction, detail: str = ""
) -> Finding:
    """Compare a value with a threshold; ``detail`` explains a derived value, e.g. its inputs.

    An exact Fraction (a derived ratio) is compared exactly, stored as a float and shown rounded (_ratio_text).
    """
    passed = bool(_OPERATORS[op](value, threshold))
    value_text = _ratio_text(value, op, threshold) if isinstance(value, Fraction) else ""
    value, threshold = float(value), float(threshold)
    shown = f"{label} {f'{value_text} {unit}'.rstrip() if value_text else _with_unit(value, unit)}{detail}"
    verb = f"is {op}" if passed else _FAILED[op]
    return Finding(
        outcome=passed,
        text=f"{shown} {verb} {_with_unit(threshold, unit)}",
        value=value,
        shown=shown,
        threshold=f"{label} {op} {_with_unit(threshold, unit)}",
        value_text=value_text,
    )


def _ratio_text(value: Fraction, op: str, threshold: Fraction | float) -> str:
    """A computed ratio to one decimal, as P/F reads everywhere in the application (116.7, not 116.6667); with
    more decimals only where one would put it onto or across the threshold (200.04 is above 200, not "200")."""
    compare, limit = _OPERATORS[op], Fraction(threshold)
    for decimals in range(1, 5):
        scale = 10**decimals
        rounded = Fraction(math.floor(value * scale + Fraction(1, 2)), scale)  # half up, exactly
        if compare(rounded, limit) == compare(value, limit) and (rounded == limit) == (value == limit):
            return _fmt(float(rounded))
    return _fmt(float(value))


def _unusable(label: str, why: str, threshold: str, missing: tuple[str, ...]) -> Finding:
    text = f"{label} {why}"
    return Finding(None, text, None, text, threshold, missing)


@dataclass(frozen=True)
class _Comparison:
    """A judge comparing one recorded number with a threshold taken from the settings.

    With ``blank_is_off`` a blank value is a device not in use and fails the comparison (a
    patient on a non-rebreather has no HFNC FiO2); an unusable value is still not evaluable.
    """

    field: str
    label: str
    op: str
    setting: str
    valid: tuple[float, float] = NON_NEGATIVE
    blank_is_off: bool = False

    def __call__(self, values: Values, settings: Settings) -> Finding:
        threshold = float(settings[self.setting])
        unit = _FIELD_UNITS[self.field]
        wanted = f"{self.label} {self.op} {_with_unit(threshold, unit)}"
        value, why = _read_number(values, self.field, self.valid)
        if value is None and self.blank_is_off and values.get(self.field) is None:
            text = f"{self.label} not recorded (not in use)"
            return Finding(False, text, None, text, wanted)
        if value is None:
            return _unusable(self.label, why, wanted, (self.field,))
        return _compare(self.label, value, unit, self.op, threshold)


@dataclass(frozen=True)
class _Answer:
    """A judge on a yes/no input; the outcome is True when the answer equals ``holds_when``."""

    field: str
    label: str
    holds_when: bool = True

    def __call__(self, values: Values, settings: Settings) -> Finding:
        flag, why = _read_flag(values, self.field)
        wanted = f"{self.label}: {_yes_no(self.holds_when)}"
        if flag is None:
            return _unusable(self.label, why, wanted, (self.field,))
        shown = f"{self.label}: {_yes_no(flag)}"
        text = f"{self.label} answered {_yes_no(flag)}"
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


def _combine(findings: list[Finding], outcome: bool | None, word: str, sep: str) -> Finding:
    """Join sub-findings; when undecided, only the undecided parts say which inputs are needed."""
    missing: tuple[str, ...] = ()
    if outcome is None:
        missing = tuple(name for f in findings if f.outcome is None for name in f.missing)
    return Finding(
        outcome=outcome,
        text=sep.join(_part(f, "text") for f in findings),
        value=", ".join(f.shown for f in findings),
        shown=", ".join(f.shown for f in findings),
        threshold=f" {word} ".join(_part(f, "threshold") for f in findings),
        missing=tuple(dict.fromkeys(missing)),
        compound=True,
    )


def _any_of(*judges: Judge) -> Judge:
    def judge(values: Values, settings: Settings) -> Finding:
        findings = [j(values, settings) for j in judges]
        return _combine(findings, _kleene_any(f.outcome for f in findings), "or", "; ")

    return judge


def _all_of(*judges: Judge) -> Judge:
    def judge(values: Values, settings: Settings) -> Finding:
        findings = [j(values, settings) for j in judges]
        return _combine(findings, _kleene_all(f.outcome for f in findings), "and", " and ")

    return judge


def _answer_criterion(code: str, kind: Kind, field: str, holds_when: bool = True) -> Criterion:
    """A criterion decided by one yes/no input, labelled with the field's label."""
    label = _FIELD_LABELS[field]
    return Criterion(code, kind, label, (field,), _Answer(field, label, holds_when))


# --------------------------------------------------------------------------------------------
# Fields (shared by name across rule sets, so one name always means one thing)
# --------------------------------------------------------------------------------------------


def _number_field(name: str, label: str, quantity: str | None, unit: str | None = None) -> Field:
    """A number field in the canonical unit of ``quantity`` (or ``unit`` when no quantity)."""
    canonical = UNITS[quantity].canonical if quantity else unit
    return Field(name, label, "number", unit=canonical, quantity=quantity)


FIELDS: Mapping[str, Field] = MappingProxyType(
    {
        f.name: f
        for f in (
            # Milan (SPEC 1.1)
            _number_field("age_years", "Age", None, "years"),
            Field("covid_rt_pcr_confirmed", "COVID-19 confirmed by RT-PCR", "bool"),
            Field("bilateral_infiltrates", "Bilateral infiltrates on chest X-ray or CT", "bool"),
            _number_field("pao2_mmhg", "PaO2 (arterial blood gas)", "pao2"),
            _number_field("fio2", "FiO2 at the blood gas", "fio2"),
            _number_field("peep_cmh2o", "PEEP at the blood gas", "peep"),
            Field(
                "left_atrial_hypertension_excluded",
                "Left atrial hypertension (cardiogenic oedema) ruled out",
                "bool",
            ),
            _number_field("crp_mg_l", "CRP", "crp"),
            _number_field("ferritin_ng_ml", "Ferritin", "ferritin"),
            Field("on_niv_outside_icu", "On non-invasive ventilation outside the ICU", "bool"),
            Field("written_consent", "Written informed consent", "bool"),
            Field("in_icu_on_mechanical_ventilation", "In ICU on mechanical ventilation", "bool"),
            Field("bacterial_infection", "Evidence of bacterial infection", "bool"),
            Field(
                "anti_inflammatory_or_glucocorticoids",
                "Concomitant anti-inflammatory agents or glucocorticoids",
                "bool",
            ),
            Field("enrolled_in_other_trial", "Enrolled in another clinical trial", "bool"),
            # New York (SPEC 1.2)
            Field("covid_molecular_confirmed", "SARS-CoV-2 confirmed by a molecular test", "bool"),
            Field("fever", "Fever (documented or reported)", "bool"),
            _number_field("lymphocytes_10e9_l", "Lymphocytes", "lymphocytes"),
            _number_field("ddimer_ng_ml", "D-dimer", "ddimer"),
            Field("ddimer_basis", "D-dimer unit basis", "choice", choices=DDIMER_BASES),
            _number_field("ldh_u_l", "LDH", "ldh"),
            _number_field("nrb_flow_l_min", "Oxygen flow by non-rebreather mask", "o2_flow"),
            _number_field("nasal_cannula_flow_l_min", "Oxygen flow by nasal cannula", "o2_flow"),
            _number_field("hfnc_fio2", "FiO2 on high-flow nasal cannula", "fio2"),
            Field("on_invasive_ventilation", "On invasive mechanical ventilation at evaluation", "bool"),
            Field("positive_cultures", "Positive cultures", "bool"),
            _number_field("procalcitonin_ng_ml", "Procalcitonin", "procalcitonin"),
            Field(
                "high_clinical_suspicion_bacterial",
                "High clinical suspicion of bacterial infection",
                "bool",
            ),
            Field("cancer_on_chemo_or_immunotherapy", "Cancer on chemotherapy or immunotherapy", "bool"),
            Field("other_immunosuppressive_biologics", "Other immunosuppressive biologics", "bool"),
            # Recorded for the early/late initiation analysis, not a criterion (SPEC 1.2).
            Field("respiratory_failure_onset", "Onset of respiratory failure", "datetime"),
        )
    }
)
_FIELD_LABELS = {name: f.label for name, f in FIELDS.items()}
# How a canonical unit reads after a number in a sentence ("0.95", "1.2 x10^9/L").
_UNIT_IN_TEXT = {"fraction": "", "10^9/L": "x10^9/L"}
_FIELD_UNITS = {name: _UNIT_IN_TEXT.get(f.unit or "", f.unit or "") for name, f in FIELDS.items()}


def _fields(*names: str) -> tuple[Field, ...]:
    return tuple(FIELDS[name] for name in names)


# --------------------------------------------------------------------------------------------
# Milan 2020 (SPEC 1.1)
# --------------------------------------------------------------------------------------------

MILAN_SETTINGS = (
    Setting("min_age", "Minimum age", 18, "years"),
    Setting("milan_pf_max", "Maximum PaO2:FiO2 (<=)", 200, "mmHg"),
    Setting("milan_peep_min", "Minimum PEEP at the blood gas (>=)", 5, "cmH2O"),
    Setting("milan_crp_min_mg_l", "CRP threshold of hyperinflammation (>=)", 100, "mg/L"),
    Setting("milan_ferritin_min_ng_ml", "Ferritin threshold of hyperinflammation (>=)", 900, "ng/mL"),
)


def _ratio(numerator: float, denominator: float) -> Fraction:
    """Divide the typed digits exactly: 60 / 0.3 is 200, not 200.00000000000003 as in binary
    floating point, so a P/F exactly at the threshold is judged as such (and one a hair above
    it is never rounded onto it)."""
    return Fraction(repr(numerator)) / Fraction(repr(denominator))


def _milan_pf(values: Values, settings: Settings) -> Finding:
    """PaO2:FiO2 from the arterial blood gas, at most the threshold (SPEC 1.1)."""
    limit = float(settings["milan_pf_max"])
    pao2, pao2_why = _read_number(values, "pao2_mmhg")
    fio2, fio2_why = _read_number(values, "fio2", FIO2_RANGE)
    if pao2 is None or fio2 is None:
        problems = [("PaO2", "pao2_mmhg", pao2_why), ("FiO2", "fio2", fio2_why)]
        why = " and ".join(f"{label} {text}" for label, _, text in problems if text)
        missing = tuple(name for _, name, text in problems if text)
        return _unusable("PaO2:FiO2 cannot be computed:", why, f"PaO2:FiO2 <= {_fmt(limit)} mmHg", missing)
    detail = f" (PaO2 {_fmt(pao2)} mmHg / FiO2 {_fmt(fio2)})"
    return _compare("PaO2:FiO2", _ratio(pao2, fio2), "mmHg", "<=", Fraction(repr(limit)), detail)


MILAN_CRITERIA = (
    Criterion("age", "inclusion", "Age", ("age_years",), _Comparison("age_years", "age", ">=", "min_age")),
    _answer_criterion("rt_pcr_confirmed", "inclusion", "covid_rt_pcr_confirmed"),
    _answer_criterion("bilateral_infiltrates", "inclusion", "bilateral_infiltrates"),
    Criterion("pao2_fio2", "inclusion", "PaO2:FiO2 by arterial blood gas", ("pao2_mmhg", "fio2"), _milan_pf),
    # SPEC 1.1: the P/F must be measured on PEEP >= 5 cmH2O; kept as its own criterion so the
    # screening log says which half failed.
    Criterion(
        "peep",
        "inclusion",
        "PEEP at the blood gas",
        ("peep_cmh2o",),
        _Comparison("peep_cmh2o", "PEEP", ">=", "milan_peep_min"),
    ),
    _answer_criterion("no_left_atrial_hypertension", "inclusion", "left_atrial_hypertension_excluded"),
    Criterion(
        "hyperinflammation",
        "inclusion",
        "Hyperinflammation (CRP or ferritin)",
        ("crp_mg_l", "ferritin_ng_ml"),
        _any_of(
            _Comparison("crp_mg_l", "CRP", ">=", "milan_crp_min_mg_l"),
            _Comparison("ferritin_ng_ml", "ferritin", ">=", "milan_ferritin_min_ng_ml"),
        ),
    ),
    _answer_criterion("niv_outside_icu", "inclusion", "on_niv_outside_icu"),
    _answer_criterion("written_consent", "inclusion", "written_consent"),
    _answer_criterion("icu_mechanical_ventilation", "exclusion", "in_icu_on_mechanical_ventilation"),
    _answer_criterion("bacterial_infection", "exclusion", "bacterial_infection"),
    _answer_criterion("anti_inflammatory_or_glucocorticoids", "exclusion", "anti_inflammatory_or_glucocorticoids"),
    _answer_criterion("other_trial", "exclusion", "enrolled_in_other_trial"),
)

# --------------------------------------------------------------------------------------------
# New York 2020 (SPEC 1.2)
# --------------------------------------------------------------------------------------------

NEW_YORK_SETTINGS = (
    Setting("ny_ferritin_gt_ng_ml", "Ferritin threshold (>)", 1000, "ng/mL"),
    Setting("ny_crp_gt_mg_l", "Additional marker: CRP (>)", 50, "mg/L"),
    Setting("ny_lymphocytes_lt_10e9_l", "Additional marker: lymphocytes (<)", 1.2, "10^9/L"),
    Setting("ny_ddimer_gt_ng_ml", "Additional marker: D-dimer (>)", 1000, "ng/mL"),
    Setting("ny_ddimer_basis", "Unit basis of the D-dimer threshold", "FEU", choices=DDIMER_BASES),
    Setting("ny_ldh_gt_u_l", "Additional marker: LDH (>)", 350, "U/L"),
    Setting("ny_nrb_flow_min_l_min", "Respiratory failure: non-rebreather flow (>=)", 15, "L/min"),
    Setting("ny_nasal_cannula_flow_min_l_min", "Respiratory failure: nasal cannula flow (>=)", 6, "L/min"),
    Setting("ny_hfnc_fio2_min", "Respiratory failure: HFNC FiO2 (>=)", 0.95, "fraction"),
    Setting("ny_procalcitonin_gt_ng_ml", "Suspected bacterial infection: procalcitonin (>)", 0.6, "ng/mL"),
)


def _ny_ddimer(values: Values, settings: Settings) -> Finding:
    """D-dimer above the threshold, compared only on the threshold's own basis: FEU and DDU
    differ by an assay-dependent factor and are never converted (SPEC 1.2, 2)."""
    limit = float(settings["ny_ddimer_gt_ng_ml"])
    basis = str(settings["ny_ddimer_basis"])
    wanted = f"D-dimer > {_fmt(limit)} ng/mL {basis}"
    value, why = _read_number(values, "ddimer_ng_ml")
    if value is None:
        return _unusable("D-dimer", why, wanted, ("ddimer_ng_ml",))
    recorded, basis_why = _read_choice(values, "ddimer_basis", DDIMER_BASES)
    shown = f"D-dimer {_fmt(value)} ng/mL"
    if recorded is None:
        return _unusable(shown, f"with unit basis {basis_why}", wanted, ("ddimer_basis",))
    if recorded != basis:
        why = f"{recorded} cannot be compared with the {basis} threshold (FEU and DDU are never converted)"
        return _unusable(shown, why, wanted, ("ddimer_basis",))
    return _compare("D-dimer", value, f"ng/mL {basis}", ">", limit)


_NY_HYPERINFLAMMATION = _all_of(
    _Comparison("ferritin_ng_ml", "ferritin", ">", "ny_ferritin_gt_ng_ml"),
    _any_of(
        _Comparison("crp_mg_l", "CRP", ">", "ny_crp_gt_mg_l"),
        _Comparison("lymphocytes_10e9_l", "lymphocytes", "<", "ny_lymphocytes_lt_10e9_l"),
        _ny_ddimer,
        _Comparison("ldh_u_l", "LDH", ">", "ny_ldh_gt_u_l"),
    ),
)

# SPEC 1.2: 15 L/min by non-rebreather combined with 6 L/min nasal cannula, or HFNC FiO2 >= 0.95.
_NY_OXYGEN_DEVICES = ("nrb_flow_l_min", "nasal_cannula_flow_l_min", "hfnc_fio2")
_NY_OXYGEN_RULE = _any_of(
    _all_of(
        _Comparison("nrb_flow_l_min", "non-rebreather flow", ">=", "ny_nrb_flow_min_l_min", blank_is_off=True),
        _Comparison(
            "nasal_cannula_flow_l_min",
            "nasal cannula flow",
            ">=",
            "ny_nasal_cannula_flow_min_l_min",
            blank_is_off=True,
        ),
    ),
    _Comparison("hfnc_fio2", "HFNC FiO2", ">=", "ny_hfnc_fio2_min", FIO2_RANGE, blank_is_off=True),
)


def _ny_respiratory_failure(values: Values, settings: Settings) -> Finding:
    """Judged on the oxygen devices recorded: a patient is on non-rebreather + cannula *or* on
    HFNC, so the settings of the device not in use are left blank and count as not in use.
    Missing only when no device setting is recorded at all (or a recorded one is unusable)."""
    finding = _NY_OXYGEN_RULE(values, settings)
    if any(values.get(name) is not None for name in _NY_OXYGEN_DEVICES):
        return finding
    text = "no oxygen device setting recorded (non-rebreather, nasal cannula or HFNC)"
    return replace(finding, outcome=None, text=text, value=None, shown=text, missing=_NY_OXYGEN_DEVICES)


_NY_BACTERIAL_INFECTION = _any_of(
    _Answer("positive_cultures", "positive cultures"),
    _Comparison("procalcitonin_ng_ml", "procalcitonin", ">", "ny_procalcitonin_gt_ng_ml"),
    _Answer("high_clinical_suspicion_bacterial", "high clinical suspicion"),
)

NEW_YORK_CRITERIA = (
    _answer_criterion("sars_cov_2_molecular", "inclusion", "covid_molecular_confirmed"),
    _answer_criterion("fever", "inclusion", "fever"),
    Criterion(
        "hyperinflammation",
        "inclusion",
        "Hyperinflammation (ferritin and at least one additional marker)",
        ("ferritin_ng_ml", "crp_mg_l", "lymphocytes_10e9_l", "ddimer_ng_ml", "ddimer_basis", "ldh_u_l"),
        _NY_HYPERINFLAMMATION,
    ),
    Criterion(
        "respiratory_failure",
        "inclusion",
        "Acute hypoxaemic respiratory failure",
        _NY_OXYGEN_DEVICES,
        _ny_respiratory_failure,
    ),
    _answer_criterion("not_on_invasive_ventilation", "inclusion", "on_invasive_ventilation", holds_when=False),
    Criterion(
        "suspected_bacterial_infection",
        "exclusion",
        "Suspected bacterial infection",
        ("positive_cultures", "procalcitonin_ng_ml", "high_clinical_suspicion_bacterial"),
        _NY_BACTERIAL_INFECTION,
    ),
    _answer_criterion("cancer_on_chemo_or_immunotherapy", "exclusion", "cancer_on_chemo_or_immunotherapy"),
    _answer_criterion("other_immunosuppressive_biologics", "exclusion", "other_immunosuppressive_biologics"),
)

# --------------------------------------------------------------------------------------------
# Registry and entry points
# --------------------------------------------------------------------------------------------

RULE_SETS: Mapping[str, RuleSet] = MappingProxyType(
    {
        "milan_2020": RuleSet(
            code="milan_2020",
            title="Milan 2020 cohort: COVID-19 ARDS with hyperinflammation on CPAP outside the ICU",
            fields=_fields(
                "age_years",
                "covid_rt_pcr_confirmed",
                "bilateral_infiltrates",
                "pao2_mmhg",
                "fio2",
                "peep_cmh2o",
                "left_atrial_hypertension_excluded",
                "crp_mg_l",
                "ferritin_ng_ml",
                "on_niv_outside_icu",
                "written_consent",
                "in_icu_on_mechanical_ventilation",
                "bacterial_infection",
                "anti_inflammatory_or_glucocorticoids",
                "enrolled_in_other_trial",
            ),
            settings=MILAN_SETTINGS,
            criteria=MILAN_CRITERIA,
        ),
        "new_york_2020": RuleSet(
            code="new_york_2020",
            title="New York 2020 case series: anakinra to prevent mechanical ventilation",
            fields=_fields(
                "covid_molecular_confirmed",
                "fever",
                "ferritin_ng_ml",
                "crp_mg_l",
                "lymphocytes_10e9_l",
                "ddimer_ng_ml",
                "ddimer_basis",
                "ldh_u_l",
                "nrb_flow_l_min",
                "nasal_cannula_flow_l_min",
                "hfnc_fio2",
                "on_invasive_ventilation",
                "positive_cultures",
                "procalcitonin_ng_ml",
                "high_clinical_suspicion_bacterial",
                "cancer_on_chemo_or_immunotherapy",
                "other_immunosuppressive_biologics",
                "respiratory_failure_onset",
            ),
            settings=NEW_YORK_SETTINGS,
            criteria=NEW_YORK_CRITERIA,
        ),
    }
)


def get_rule_set(code: str) -> RuleSet:
    try:
        return RULE_SETS[code]
    except KeyError:
        raise ValueError(f"unknown rule set {code!r}; known: {', '.join(RULE_SETS)}") from None


def rule_set_choices() -> list[tuple[str, str]]:
    """Django-style choices for a Study's rule set."""
    return [(code, rule_set.title) for code, rule_set in RULE_SETS.items()]


def evaluate(rule_set_code: str, values: Values, settings: Mapping[str, object] | None = None) -> Evaluation:
    """Evaluate one screening against a study's rule set.

    ``values`` maps field names to canonical-unit numbers, booleans, choice strings or None
    (extra keys are ignored); ``settings`` overrides the rule set's default thresholds.
    """
    return get_rule_set(rule_set_code).evaluate(values, settings)


# --------------------------------------------------------------------------------------------
# Timing of the first anakinra dose (SPEC 1.2)
# --------------------------------------------------------------------------------------------

# SPEC 1.2: early initiation <= 36 h after onset of respiratory failure, late >= 4 days.
ANAKINRA_TIMING_HOURS: Mapping[str, float] = MappingProxyType({"early_max": 36.0, "late_min": 96.0})


def anakinra_timing(onset: datetime, first_dose: datetime) -> tuple[Literal["early", "intermediate", "late"], float]:
    """Classify the time from onset of respiratory failure to the first anakinra dose.

    Returns the category and the hours elapsed. A first dose before the onset is a data error
    and raises ValueError. Both datetimes must be naive or both aware.
    """
    hours = (first_dose - onset).total_seconds() / 3600
    if hours < 0:
        raise ValueError(f"first anakinra dose {first_dose} is before respiratory failure onset {onset}")
    if hours <= ANAKINRA_TIMING_HOURS["early_max"]:
        return "early", hours
    if hours >= ANAKINRA_TIMING_HOURS["late_min"]:
        return "late", hours
    return "intermediate", hours
