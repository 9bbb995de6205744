"""The New York 2020 case series (clinical definitions §1.2): anakinra to prevent mechanical ventilation.

Pure module: no Django imports but translation (labels marked with ``gettext_noop``, see engine.py). Registered in
cohorts/eligibility/__init__.py as "new_york_2020". One exception to the engine's rule that a blank input is "not
recorded", for respiratory failure: a patient is on non-rebreather + nasal cannula *or* on high-flow, so a blank setting
of an oxygen device counts as "not in use" and the criterion is missing only when no device is recorded.
"""

from __future__ import annotations

from dataclasses import replace

from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from cohorts.eligibility.engine import (
    FIO2_RANGE,
    Answer,
    Comparison,
    Criterion,
    Finding,
    RuleSet,
    Setting,
    Settings,
    Values,
    all_of,
    answer_criterion,
    any_of,
    compare,
    fmt,
    form_fields,
    read_choice,
    read_number,
    unusable,
)
from cohorts.units import DDIMER_BASES

SETTINGS = (
    Setting("ny_ferritin_gt_ng_ml", gettext_noop("Ferritin threshold (>)"), 1000, "ng/mL"),
    Setting("ny_crp_gt_mg_l", gettext_noop("Additional marker: CRP (>)"), 50, "mg/L"),
    Setting("ny_lymphocytes_lt_10e9_l", gettext_noop("Additional marker: lymphocytes (<)"), 1.2, "10^9/L"),
    Setting("ny_ddimer_gt_ng_ml", gettext_noop("Additional marker: D-dimer (>)"), 1000, "ng/mL"),
    Setting("ny_ddimer_basis", gettext_noop("Unit basis of the D-dimer threshold"), "FEU", choices=DDIMER_BASES),
    Setting("ny_ldh_gt_u_l", gettext_noop("Additional marker: LDH (>)"), 350, "U/L"),
    Setting("ny_nrb_flow_min_l_min", gettext_noop("Respiratory failure: non-rebreather flow (>=)"), 15, "L/min"),
    Setting(
        "ny_nasal_cannula_flow_min_l_min", gettext_noop("Respiratory failure: nasal cannula flow (>=)"), 6, "L/min"
    ),
    Setting("ny_hfnc_fio2_min", gettext_noop("Respiratory failure: HFNC FiO2 (>=)"), 0.95, "fraction"),
    Setting(
        "ny_procalcitonin_gt_ng_ml", gettext_noop("Suspected bacterial infection: procalcitonin (>)"), 0.6, "ng/mL"
    ),
)


def _ny_ddimer(values: Values, settings: Settings) -> Finding:
    """D-dimer above the threshold, compared only on the threshold's own basis: FEU and DDU
    differ by an assay-dependent factor and are never converted (clinical definitions §1.2, 2)."""
    limit = float(settings["ny_ddimer_gt_ng_ml"])
    basis = str(settings["ny_ddimer_basis"])
    label = _("D-dimer")
    wanted = f"{label} > {fmt(limit)} ng/mL {basis}"
    value, why = read_number(values, "ddimer_ng_ml")
    if value is None:
        return unusable(why.about(label), wanted, ("ddimer_ng_ml",), why.not_recorded)
    recorded, basis_why = read_choice(values, "ddimer_basis", DDIMER_BASES)
    shown = f"{label} {fmt(value)} ng/mL"
    if recorded is None:
        if basis_why.not_recorded:
            text = _("%(value)s with unit basis not recorded") % {"value": shown}
        else:
            text = _("%(value)s with unit basis has an unusable value %(raw)s (expected %(expected)s)") % {
                "value": shown,
                "raw": repr(basis_why.raw),
                "expected": basis_why.expected,
            }
        return unusable(text, wanted, ("ddimer_basis",), basis_why.not_recorded)
    if recorded != basis:
        text = _(
            "%(value)s %(basis)s cannot be compared with the %(threshold_basis)s threshold (FEU and DDU are never "
            "converted)"
        ) % {"value": shown, "basis": recorded, "threshold_basis": basis}
        return unusable(text, wanted, ("ddimer_basis",))
    return compare(label, value, f"ng/mL {basis}", ">", limit)


_NY_HYPERINFLAMMATION = all_of(
    Comparison("ferritin_ng_ml", gettext_noop("ferritin"), ">", "ny_ferritin_gt_ng_ml"),
    any_of(
        Comparison("crp_mg_l", gettext_noop("CRP"), ">", "ny_crp_gt_mg_l"),
        Comparison("lymphocytes_10e9_l", gettext_noop("lymphocytes"), "<", "ny_lymphocytes_lt_10e9_l"),
        _ny_ddimer,
        Comparison("ldh_u_l", gettext_noop("LDH"), ">", "ny_ldh_gt_u_l"),
    ),
)

# clinical definitions §1.2: 15 L/min by non-rebreather combined with 6 L/min nasal cannula, or HFNC FiO2 >= 0.95.
_NY_OXYGEN_DEVICES = ("nrb_flow_l_min", "nasal_cannula_flow_l_min", "hfnc_fio2")
_NY_OXYGEN_RULE = any_of(
    all_of(
        Comparison(
            "nrb_flow_l_min", gettext_noop("non-rebreather flow"), ">=", "ny_nrb_flow_min_l_min", blank_is_off=True
        ),
        Comparison(
            "nasal_cannula_flow_l_min",
            gettext_noop("nasal cannula flow"),
            ">=",
            "ny_nasal_cannula_flow_min_l_min",
            blank_is_off=True,
        ),
    ),
    Comparison("hfnc_fio2", gettext_noop("HFNC FiO2"), ">=", "ny_hfnc_fio2_min", FIO2_RANGE, blank_is_off=True),
)


def _ny_respiratory_failure(values: Values, settings: Settings) -> Finding:
    """Judged on the oxygen devices recorded: a patient is on non-rebreather + cannula *or* on
    HFNC, so the settings of the device not in use are left blank and count as not in use.
    Missing only when no device setting is recorded at all (or a recorded one is unusable)."""
    finding = _NY_OXYGEN_RULE(values, settings)
    if any(values.get(name) is not None for name in _NY_OXYGEN_DEVICES):
        return finding
    text = _("no oxygen device setting recorded (non-rebreather, nasal cannula or HFNC)")
    return replace(
        finding, outcome=None, text=text, value=None, shown=text, missing=_NY_OXYGEN_DEVICES, not_recorded=False
    )


_NY_BACTERIAL_INFECTION = any_of(
    Answer("positive_cultures", gettext_noop("positive cultures")),
    Comparison("procalcitonin_ng_ml", gettext_noop("procalcitonin"), ">", "ny_procalcitonin_gt_ng_ml"),
    Answer("high_clinical_suspicion_bacterial", gettext_noop("high clinical suspicion")),
)

CRITERIA = (
    answer_criterion("sars_cov_2_molecular", "inclusion", "covid_molecular_confirmed"),
    answer_criterion("fever", "inclusion", "fever"),
    Criterion(
        "hyperinflammation",
        "inclusion",
        gettext_noop("Hyperinflammation (ferritin and at least one additional marker)"),
        ("ferritin_ng_ml", "crp_mg_l", "lymphocytes_10e9_l", "ddimer_ng_ml", "ddimer_basis", "ldh_u_l"),
        _NY_HYPERINFLAMMATION,
    ),
    Criterion(
        "respiratory_failure",
        "inclusion",
        gettext_noop("Acute hypoxaemic respiratory failure"),
        _NY_OXYGEN_DEVICES,
        _ny_respiratory_failure,
    ),
    answer_criterion("not_on_invasive_ventilation", "inclusion", "on_invasive_ventilation", holds_when=False),
    Criterion(
        "suspected_bacterial_infection",
        "exclusion",
        gettext_noop("Suspected bacterial infection"),
        ("positive_cultures", "procalcitonin_ng_ml", "high_clinical_suspicion_bacterial"),
        _NY_BACTERIAL_INFECTION,
    ),
    answer_criterion("cancer_on_chemo_or_immunotherapy", "exclusion", "cancer_on_chemo_or_immunotherapy"),
    answer_criterion("other_immunosuppressive_biologics", "exclusion", "other_immunosuppressive_biologics"),
)

RULE_SET = RuleSet(
    code="new_york_2020",
    title=gettext_noop("New York 2020 case series: anakinra to prevent mechanical ventilation"),
    # Recorded for the early/late initiation analysis (ecrf/courses.py, clinical definitions §3.4), judged by no
    # criterion (clinical definitions §1.2).
    fields=form_fields(CRITERIA, recorded=("respiratory_failure_onset",)),
    settings=SETTINGS,
    criteria=CRITERIA,
)
