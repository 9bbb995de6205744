"""The Milan 2020 cohort (clinical definitions §1.1): COVID-19 ARDS with hyperinflammation on CPAP outside the ICU.

Pure module: no Django imports but translation (labels marked with ``gettext_noop``, see engine.py). Registered in
cohorts/eligibility/__init__.py as "milan_2020".
"""

from __future__ import annotations

from fractions import Fraction

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from cohorts.eligibility.engine import (
    FIO2_RANGE,
    Comparison,
    Criterion,
    Finding,
    RuleSet,
    Setting,
    Settings,
    Values,
    and_text,
    answer_criterion,
    any_of,
    compare,
    fmt,
    form_fields,
    read_number,
    unusable,
)

SETTINGS = (
    Setting("min_age", gettext_noop("Minimum age"), 18, "years"),
    Setting("milan_pf_max", gettext_noop("Maximum PaO2:FiO2 (<=)"), 200, "mmHg"),
    Setting("milan_peep_min", gettext_noop("Minimum PEEP at the blood gas (>=)"), 5, "cmH2O"),
    Setting("milan_crp_min_mg_l", gettext_noop("CRP threshold of hyperinflammation (>=)"), 100, "mg/L"),
    Setting("milan_ferritin_min_ng_ml", gettext_noop("Ferritin threshold of hyperinflammation (>=)"), 900, "ng/mL"),
)


def _ratio(numerator: float, denominator: float) -> Fraction:
    """Divide the typed digits exactly: 60 / 0.3 is 200, not 200.00000000000003 as in binary
    floating point, so a P/F exactly at the threshold is judged as such (and one a hair above
    it is never rounded onto it)."""
    return Fraction(repr(numerator)) / Fraction(repr(denominator))


def _milan_pf(values: Values, settings: Settings) -> Finding:
    """PaO2:FiO2 from the arterial blood gas, at most the threshold (clinical definitions §1.1)."""
    limit = float(settings["milan_pf_max"])
    pao2, pao2_why = read_number(values, "pao2_mmhg")
    fio2, fio2_why = read_number(values, "fio2", FIO2_RANGE)
    if pao2 is None or fio2 is None:
        problems = [
            (label, name, why)
            for label, name, why in (("PaO2", "pao2_mmhg", pao2_why), ("FiO2", "fio2", fio2_why))
            if why
        ]
        text = _("PaO2:FiO2 cannot be computed: %(why)s") % {
            "why": and_text(why.about(label) for label, _name, why in problems)
        }
        missing = tuple(name for _label, name, _why in problems)
        not_recorded = any(why.not_recorded for _label, _name, why in problems)
        return unusable(text, f"PaO2:FiO2 <= {fmt(limit)} mmHg", missing, not_recorded)
    detail = f" (PaO2 {fmt(pao2)} mmHg / FiO2 {fmt(fio2)})"
    return compare("PaO2:FiO2", _ratio(pao2, fio2), "mmHg", "<=", Fraction(repr(limit)), detail)


CRITERIA = (
    Criterion(
        "age",
        "inclusion",
        gettext_noop("Age"),
        ("age_years",),
        Comparison("age_years", gettext_noop("age"), ">=", "min_age"),
    ),
    answer_criterion("rt_pcr_confirmed", "inclusion", "covid_rt_pcr_confirmed"),
    answer_criterion("bilateral_infiltrates", "inclusion", "bilateral_infiltrates"),
    Criterion(
        "pao2_fio2", "inclusion", gettext_noop("PaO2:FiO2 by arterial blood gas"), ("pao2_mmhg", "fio2"), _milan_pf
    ),
    # clinical definitions §1.1: the P/F must be measured on PEEP >= 5 cmH2O; kept as its own criterion so the
    # screening log says which half failed.
    Criterion(
        "peep",
        "inclusion",
        gettext_noop("PEEP at the blood gas"),
        ("peep_cmh2o",),
        Comparison("peep_cmh2o", gettext_noop("PEEP"), ">=", "milan_peep_min"),
    ),
    answer_criterion("no_left_atrial_hypertension", "inclusion", "left_atrial_hypertension_excluded"),
    Criterion(
        "hyperinflammation",
        "inclusion",
        gettext_noop("Hyperinflammation (CRP or ferritin)"),
        ("crp_mg_l", "ferritin_ng_ml"),
        any_of(
            Comparison("crp_mg_l", gettext_noop("CRP"), ">=", "milan_crp_min_mg_l"),
            Comparison("ferritin_ng_ml", gettext_noop("ferritin"), ">=", "milan_ferritin_min_ng_ml"),
        ),
    ),
    answer_criterion("niv_outside_icu", "inclusion", "on_niv_outside_icu"),
    answer_criterion("written_consent", "inclusion", "written_consent"),
    answer_criterion("icu_mechanical_ventilation", "exclusion", "in_icu_on_mechanical_ventilation"),
    answer_criterion("bacterial_infection", "exclusion", "bacterial_infection"),
    answer_criterion("anti_inflammatory_or_glucocorticoids", "exclusion", "anti_inflammatory_or_glucocorticoids"),
    answer_criterion("other_trial", "exclusion", "enrolled_in_other_trial"),
)

RULE_SET = RuleSet(
    code="milan_2020",
    title=gettext_noop("Milan 2020 cohort: COVID-19 ARDS with hyperinflammation on CPAP outside the ICU"),
    fields=form_fields(CRITERIA),
    settings=SETTINGS,
    criteria=CRITERIA,
)
