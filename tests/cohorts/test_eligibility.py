"""Eligibility rule sets (clinical definitions §1.1 Milan, 1.2 New York, 1.3): what an investigator screening a
candidate sees, criterion by criterion, at, just below and just above every threshold."""

from datetime import datetime
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohorts.eligibility import (
    FIELDS,
    RULE_SETS,
    CriterionResult,
    Evaluation,
    evaluate,
    get_rule_set,
)
from cohorts.models import Protocol
from cohorts.units import UNITS, to_canonical

# A candidate who meets every Milan criterion with room to spare.
MILAN_OK = {
    "age_years": 62,
    "covid_rt_pcr_confirmed": True,
    "bilateral_infiltrates": True,
    "pao2_mmhg": 75,
    "fio2": 0.5,  # P/F 150
    "peep_cmh2o": 10,
    "left_atrial_hypertension_excluded": True,
    "crp_mg_l": 180,
    "ferritin_ng_ml": 1500,
    "on_niv_outside_icu": True,
    "written_consent": True,
    "in_icu_on_mechanical_ventilation": False,
    "bacterial_infection": False,
    "anti_inflammatory_or_glucocorticoids": False,
    "enrolled_in_other_trial": False,
}

# A candidate who meets every New York criterion: ferritin plus CRP only, on non-rebreather + cannula.
NY_OK = {
    "covid_molecular_confirmed": True,
    "fever": True,
    "ferritin_ng_ml": 1800,
    "crp_mg_l": 120,
    "lymphocytes_10e9_l": 1.5,
    "ddimer_ng_ml": 600,
    "ddimer_basis": "FEU",
    "ldh_u_l": 300,
    "nrb_flow_l_min": 15,
    "nasal_cannula_flow_l_min": 6,
    "hfnc_fio2": None,  # not on high-flow
    "on_invasive_ventilation": False,
    "positive_cultures": False,
    "procalcitonin_ng_ml": 0.2,
    "high_clinical_suspicion_bacterial": False,
    "cancer_on_chemo_or_immunotherapy": False,
    "other_immunosuppressive_biologics": False,
    "respiratory_failure_onset": datetime(2020, 4, 1, 8, 0),
}

# Every additional New York marker normal: only the marker under test can satisfy the criterion.
NY_NORMAL_MARKERS = {
    "crp_mg_l": 20,
    "lymphocytes_10e9_l": 2.0,
    "ddimer_ng_ml": 400,
    "ddimer_basis": "FEU",
    "ldh_u_l": 200,
}

BASE = {"milan_2020": MILAN_OK, "new_york_2020": NY_OK}


def screen(rule_set: str, changes: dict | None = None, settings_: dict | None = None) -> Evaluation:
    return evaluate(rule_set, {**BASE[rule_set], **(changes or {})}, settings_)


def criterion(rule_set: str, code: str, changes: dict | None = None, settings_: dict | None = None) -> CriterionResult:
    (result,) = [c for c in screen(rule_set, changes, settings_).criteria if c.code == code]
    return result


# --------------------------------------------------------------------------------------------
# The good candidates, and every single failure
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rule_set", ["milan_2020", "new_york_2020"])
def test_candidate_meeting_everything_is_eligible(rule_set):
    result = screen(rule_set)
    assert result.eligible
    assert result.failing == ()
    assert result.missing == ()
    assert result.missing_fields == frozenset()
    assert result.reasons == ()
    assert all(c.verdict == "met" for c in result.criteria if c.kind == "inclusion")
    assert all(c.verdict == "not_met" for c in result.criteria if c.kind == "exclusion")


SINGLE_FAILURES = [
    # Milan inclusions (clinical definitions §1.1)
    ("milan_2020", {"age_years": 17}, "age"),
    ("milan_2020", {"covid_rt_pcr_confirmed": False}, "rt_pcr_confirmed"),
    ("milan_2020", {"bilateral_infiltrates": False}, "bilateral_infiltrates"),
    ("milan_2020", {"pao2_mmhg": 110}, "pao2_fio2"),  # P/F 220
    ("milan_2020", {"peep_cmh2o": 4}, "peep"),
    ("milan_2020", {"left_atrial_hypertension_excluded": False}, "no_left_atrial_hypertension"),
    ("milan_2020", {"crp_mg_l": 60, "ferritin_ng_ml": 500}, "hyperinflammation"),
    ("milan_2020", {"on_niv_outside_icu": False}, "niv_outside_icu"),
    ("milan_2020", {"written_consent": False}, "written_consent"),
    # Milan exclusions
    ("milan_2020", {"in_icu_on_mechanical_ventilation": True}, "icu_mechanical_ventilation"),
    ("milan_2020", {"bacterial_infection": True}, "bacterial_infection"),
    ("milan_2020", {"anti_inflammatory_or_glucocorticoids": True}, "anti_inflammatory_or_glucocorticoids"),
    ("milan_2020", {"enrolled_in_other_trial": True}, "other_trial"),
    # New York inclusions (clinical definitions §1.2)
    ("new_york_2020", {"covid_molecular_confirmed": False}, "sars_cov_2_molecular"),
    ("new_york_2020", {"fever": False}, "fever"),
    ("new_york_2020", {"ferritin_ng_ml": 900}, "hyperinflammation"),
    ("new_york_2020", {"crp_mg_l": 30}, "hyperinflammation"),  # no additional marker left
    ("new_york_2020", {"nasal_cannula_flow_l_min": 4}, "respiratory_failure"),
    ("new_york_2020", {"on_invasive_ventilation": True}, "not_on_invasive_ventilation"),
    # New York exclusions
    ("new_york_2020", {"positive_cultures": True}, "suspected_bacterial_infection"),
    ("new_york_2020", {"procalcitonin_ng_ml": 1.4}, "suspected_bacterial_infection"),
    ("new_york_2020", {"high_clinical_suspicion_bacterial": True}, "suspected_bacterial_infection"),
    ("new_york_2020", {"cancer_on_chemo_or_immunotherapy": True}, "cancer_on_chemo_or_immunotherapy"),
    ("new_york_2020", {"other_immunosuppressive_biologics": True}, "other_immunosuppressive_biologics"),
]


@pytest.mark.parametrize(("rule_set", "changes", "code"), SINGLE_FAILURES)
def test_every_single_failure_makes_the_candidate_ineligible_naming_that_criterion(rule_set, changes, code):
    result = screen(rule_set, changes)
    assert not result.eligible
    assert [c.code for c in result.failing] == [code]
    assert result.missing == ()
    (failed,) = result.failing
    expected_verdict = "not_met" if failed.kind == "inclusion" else "met"
    assert failed.verdict == expected_verdict
    assert result.reasons == (failed.sentence,)


def test_every_criterion_of_both_rule_sets_is_covered_by_a_failure_case():
    failing_codes = {(rule_set, code) for rule_set, _, code in SINGLE_FAILURES}
    all_codes = {(rs.code, c.code) for rs in RULE_SETS.values() for c in rs.criteria}
    assert failing_codes == all_codes


# --------------------------------------------------------------------------------------------
# Milan thresholds (clinical definitions §1.1)
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "changes", "verdict"),
    [
        # age >= 18 years
        ("age", {"age_years": 18}, "met"),
        ("age", {"age_years": 17.9}, "not_met"),
        ("age", {"age_years": 18.1}, "met"),
        # PaO2:FiO2 <= 200 mmHg
        ("pao2_fio2", {"pao2_mmhg": 100, "fio2": 0.5}, "met"),  # exactly 200
        ("pao2_fio2", {"pao2_mmhg": 99.9, "fio2": 0.5}, "met"),  # 199.8
        ("pao2_fio2", {"pao2_mmhg": 100.1, "fio2": 0.5}, "not_met"),  # 200.2
        ("pao2_fio2", {"pao2_mmhg": 60, "fio2": 0.3}, "met"),  # exactly 200 (binary floats give 200.00000000000003)
        ("pao2_fio2", {"pao2_mmhg": 60.01, "fio2": 0.3}, "not_met"),
        ("pao2_fio2", {"pao2_mmhg": 120, "fio2": 1.0}, "met"),
        # measured on PEEP >= 5 cmH2O
        ("peep", {"peep_cmh2o": 5}, "met"),
        ("peep", {"peep_cmh2o": 4.9}, "not_met"),
        ("peep", {"peep_cmh2o": 5.1}, "met"),
        # CRP >= 100 mg/L (ferritin below its threshold)
        ("hyperinflammation", {"crp_mg_l": 100, "ferritin_ng_ml": 500}, "met"),
        ("hyperinflammation", {"crp_mg_l": 99.9, "ferritin_ng_ml": 500}, "not_met"),
        ("hyperinflammation", {"crp_mg_l": 100.1, "ferritin_ng_ml": 500}, "met"),
        # or ferritin >= 900 ng/mL (CRP below its threshold)
        ("hyperinflammation", {"crp_mg_l": 40, "ferritin_ng_ml": 900}, "met"),
        ("hyperinflammation", {"crp_mg_l": 40, "ferritin_ng_ml": 899.9}, "not_met"),
        ("hyperinflammation", {"crp_mg_l": 40, "ferritin_ng_ml": 900.1}, "met"),
        # either suffices, even when the other is missing
        ("hyperinflammation", {"crp_mg_l": 150, "ferritin_ng_ml": None}, "met"),
        ("hyperinflammation", {"crp_mg_l": None, "ferritin_ng_ml": 1000}, "met"),
        # not met only when both are known; missing when the known one fails
        ("hyperinflammation", {"crp_mg_l": 50, "ferritin_ng_ml": None}, "missing"),
        ("hyperinflammation", {"crp_mg_l": None, "ferritin_ng_ml": 500}, "missing"),
        ("hyperinflammation", {"crp_mg_l": None, "ferritin_ng_ml": None}, "missing"),
    ],
)
def test_milan_thresholds(code, changes, verdict):
    assert criterion("milan_2020", code, changes).verdict == verdict


def test_milan_crp_entered_in_mg_dl_is_converted_before_the_threshold():
    # clinical definitions §1.3: 10 mg/dL = 100 mg/L meets the CRP >= 100 mg/L criterion; 9.99 mg/dL does not.
    at = criterion(
        "milan_2020", "hyperinflammation", {"crp_mg_l": to_canonical("crp", 10, "mg/dL"), "ferritin_ng_ml": 300}
    )
    below = criterion(
        "milan_2020", "hyperinflammation", {"crp_mg_l": to_canonical("crp", 9.99, "mg/dL"), "ferritin_ng_ml": 300}
    )
    assert at.verdict == "met"
    assert "CRP 100 mg/L" in at.sentence
    assert below.verdict == "not_met"
    assert "CRP 99.9 mg/L" in below.sentence


@pytest.mark.parametrize(
    ("kpa", "fio2", "verdict"),
    [
        (20, 0.8, "met"),  # 150.0124 mmHg / 0.8 = 187.5
        (20, 0.75, "not_met"),  # 150.0124 / 0.75 = 200.017: just above 200
        (19.99, 0.75, "met"),  # 149.937 / 0.75 = 199.92
    ],
)
def test_milan_pao2_entered_in_kpa_is_converted_before_the_ratio(kpa, fio2, verdict):
    pao2 = to_canonical("pao2", kpa, "kPa")
    assert criterion("milan_2020", "pao2_fio2", {"pao2_mmhg": pao2, "fio2": fio2}).verdict == verdict


def test_milan_pf_criterion_states_the_ratio_and_its_inputs():
    result = criterion("milan_2020", "pao2_fio2", {"pao2_mmhg": to_canonical("pao2", 20, "kPa"), "fio2": 0.8})
    assert result.value == pytest.approx(187.5155)
    assert result.threshold == "PaO2:FiO2 <= 200 mmHg"
    assert result.sentence == "PaO2:FiO2 187.5 mmHg (PaO2 150.0124 mmHg / FiO2 0.8) is <= 200 mmHg: met"
    assert result.value_text == "187.5"  # shown like every P/F; the value keeps its precision


@pytest.mark.parametrize(
    ("changes", "missing_fields"),
    [
        ({"pao2_mmhg": None}, {"pao2_mmhg"}),
        ({"fio2": None}, {"fio2"}),
        ({"pao2_mmhg": None, "fio2": None}, {"pao2_mmhg", "fio2"}),
        # FiO2 typed as a percentage would give a P/F of 1.5 and pass: it is refused instead.
        ({"fio2": 50}, {"fio2"}),
        ({"fio2": 0.2}, {"fio2"}),
        ({"fio2": 0}, {"fio2"}),
    ],
)
def test_milan_pf_without_a_usable_pao2_and_fio2_is_missing(changes, missing_fields):
    result = criterion("milan_2020", "pao2_fio2", changes)
    assert result.verdict == "missing"
    assert set(result.missing_fields) == missing_fields
    assert result.value is None


def test_milan_hyperinflammation_sentence_names_the_deciding_values():
    result = criterion("milan_2020", "hyperinflammation", {"crp_mg_l": 85, "ferritin_ng_ml": 1200})
    assert result.verdict == "met"
    assert result.value == "CRP 85 mg/L, ferritin 1200 ng/mL"
    assert result.threshold == "CRP >= 100 mg/L or ferritin >= 900 ng/mL"
    assert result.sentence == "CRP 85 mg/L is below 100 mg/L; ferritin 1200 ng/mL is >= 900 ng/mL: met"


def test_milan_missing_ferritin_is_flagged_on_the_ferritin_field_only():
    result = screen("milan_2020", {"crp_mg_l": 50, "ferritin_ng_ml": None})
    assert not result.eligible
    assert [c.code for c in result.missing] == ["hyperinflammation"]
    assert result.missing_fields == {"ferritin_ng_ml"}
    assert result.failing == ()


# --------------------------------------------------------------------------------------------
# New York thresholds (clinical definitions §1.2)
# --------------------------------------------------------------------------------------------


def ny_markers(**markers) -> dict:
    """Ferritin above 1000 and every additional marker normal except those given."""
    return {"ferritin_ng_ml": 1500, **NY_NORMAL_MARKERS, **markers}


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        # ferritin > 1000 ng/mL (strict), with CRP 120 as the additional marker
        ({"ferritin_ng_ml": 1000}, "not_met"),
        ({"ferritin_ng_ml": 999.9}, "not_met"),
        ({"ferritin_ng_ml": 1000.1}, "met"),
        # CRP > 50 mg/L
        (ny_markers(crp_mg_l=50), "not_met"),
        (ny_markers(crp_mg_l=49.9), "not_met"),
        (ny_markers(crp_mg_l=50.1), "met"),
        # lymphocytes < 1.2 x10^9/L
        (ny_markers(lymphocytes_10e9_l=1.2), "not_met"),
        (ny_markers(lymphocytes_10e9_l=1.19), "met"),
        (ny_markers(lymphocytes_10e9_l=1.21), "not_met"),
        # D-dimer > 1000 ng/mL FEU
        (ny_markers(ddimer_ng_ml=1000), "not_met"),
        (ny_markers(ddimer_ng_ml=999.9), "not_met"),
        (ny_markers(ddimer_ng_ml=1000.1), "met"),
        # LDH > 350 U/L
        (ny_markers(ldh_u_l=350), "not_met"),
        (ny_markers(ldh_u_l=349.9), "not_met"),
        (ny_markers(ldh_u_l=350.1), "met"),
        # several markers at once
        (ny_markers(crp_mg_l=80, ldh_u_l=500), "met"),
        # ferritin high but every marker normal: no additional marker
        (ny_markers(), "not_met"),
        # ferritin not above 1000 decides, even with markers missing
        ({"ferritin_ng_ml": 800, **dict.fromkeys(NY_NORMAL_MARKERS)}, "not_met"),
        # one abnormal marker decides even when the others are missing
        ({"ferritin_ng_ml": 1500, **dict.fromkeys(NY_NORMAL_MARKERS), "ldh_u_l": 400}, "met"),
        # ferritin missing: cannot be met, and not decided while a marker is abnormal
        ({"ferritin_ng_ml": None}, "missing"),
        # ferritin high, all markers missing
        ({"ferritin_ng_ml": 1500, **dict.fromkeys(NY_NORMAL_MARKERS)}, "missing"),
        # ferritin missing but no marker abnormal: not met whatever ferritin is
        ({**ny_markers(), "ferritin_ng_ml": None}, "not_met"),
    ],
)
def test_new_york_hyperinflammation_ferritin_and_at_least_one_marker(changes, verdict):
    assert criterion("new_york_2020", "hyperinflammation", changes).verdict == verdict


@pytest.mark.parametrize(
    ("count_per_ul", "verdict"),
    [(1200, "not_met"), (1199, "met"), (1201, "not_met")],
)
def test_new_york_lymphocytes_entered_per_microlitre(count_per_ul, verdict):
    lymphocytes = to_canonical("lymphocytes", count_per_ul, "/uL")
    result = criterion("new_york_2020", "hyperinflammation", ny_markers(lymphocytes_10e9_l=lymphocytes))
    assert result.verdict == verdict


@pytest.mark.parametrize(
    ("ug_per_ml", "verdict"),
    [(1.0, "not_met"), (1.01, "met")],
)
def test_new_york_ddimer_entered_in_ug_per_ml(ug_per_ml, verdict):
    ddimer = to_canonical("ddimer", ug_per_ml, "ug/mL")
    result = criterion("new_york_2020", "hyperinflammation", ny_markers(ddimer_ng_ml=ddimer))
    assert result.verdict == verdict


def test_new_york_ddimer_in_ddu_is_never_compared_with_the_feu_threshold():
    # 5000 ng/mL DDU is far above 1000 in any basis, but DDU is never converted to FEU (clinical definitions §2).
    result = criterion("new_york_2020", "hyperinflammation", ny_markers(ddimer_ng_ml=5000, ddimer_basis="DDU"))
    assert result.verdict == "missing"
    assert "never converted" in result.sentence
    assert "D-dimer 5000 ng/mL DDU" in result.sentence
    assert result.missing_fields == ("ddimer_basis",)


def test_new_york_ddimer_in_ddu_does_not_matter_when_another_marker_is_abnormal():
    changes = ny_markers(ddimer_ng_ml=5000, ddimer_basis="DDU", crp_mg_l=90)
    assert criterion("new_york_2020", "hyperinflammation", changes).verdict == "met"


@pytest.mark.parametrize(("ddimer", "verdict"), [(1000, "not_met"), (1000.1, "met")])
def test_new_york_ddimer_compared_on_ddu_when_the_study_sets_a_ddu_threshold(ddimer, verdict):
    changes = ny_markers(ddimer_ng_ml=ddimer, ddimer_basis="DDU")
    result = criterion("new_york_2020", "hyperinflammation", changes, {"ny_ddimer_basis": "DDU"})
    assert result.verdict == verdict
    assert "D-dimer > 1000 ng/mL DDU" in result.threshold


def test_new_york_feu_ddimer_is_not_compared_with_a_ddu_threshold():
    changes = ny_markers(ddimer_ng_ml=5000, ddimer_basis="FEU")
    result = criterion("new_york_2020", "hyperinflammation", changes, {"ny_ddimer_basis": "DDU"})
    assert result.verdict == "missing"


def test_new_york_ddimer_without_its_basis_is_not_evaluable():
    result = criterion("new_york_2020", "hyperinflammation", ny_markers(ddimer_ng_ml=5000, ddimer_basis=None))
    assert result.verdict == "missing"
    assert result.missing_fields == ("ddimer_basis",)


def test_new_york_hyperinflammation_missing_names_only_the_unrecorded_markers():
    changes = {"ferritin_ng_ml": 1500, "crp_mg_l": 30, "lymphocytes_10e9_l": None, "ldh_u_l": None}
    changes |= {"ddimer_ng_ml": 300, "ddimer_basis": "FEU"}
    result = screen("new_york_2020", changes)
    assert result.missing_fields == {"lymphocytes_10e9_l", "ldh_u_l"}


NOT_ON_NRB = {"nrb_flow_l_min": None, "nasal_cannula_flow_l_min": None}


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        # branch 1: non-rebreather >= 15 L/min combined with nasal cannula >= 6 L/min (not on HFNC)
        ({"nrb_flow_l_min": 15, "nasal_cannula_flow_l_min": 6}, "met"),
        ({"nrb_flow_l_min": 15.5, "nasal_cannula_flow_l_min": 6.5}, "met"),
        ({"nrb_flow_l_min": 14.9, "nasal_cannula_flow_l_min": 6}, "not_met"),
        ({"nrb_flow_l_min": 15, "nasal_cannula_flow_l_min": 5.9}, "not_met"),
        # non-rebreather alone is not enough, however high the flow
        ({"nrb_flow_l_min": 15, "nasal_cannula_flow_l_min": None}, "not_met"),
        ({"nrb_flow_l_min": 15, "nasal_cannula_flow_l_min": 0}, "not_met"),
        # branch 2: high-flow nasal cannula with FiO2 >= 0.95 (not on non-rebreather)
        ({**NOT_ON_NRB, "hfnc_fio2": 0.95}, "met"),
        ({**NOT_ON_NRB, "hfnc_fio2": 0.94}, "not_met"),
        ({**NOT_ON_NRB, "hfnc_fio2": 0.96}, "met"),
        ({**NOT_ON_NRB, "hfnc_fio2": 1.0}, "met"),
        # either branch suffices when both are recorded
        ({"nrb_flow_l_min": 10, "nasal_cannula_flow_l_min": 6, "hfnc_fio2": 1.0}, "met"),
        ({"nrb_flow_l_min": 15, "nasal_cannula_flow_l_min": 6, "hfnc_fio2": 0.6}, "met"),
        # nothing recorded at all: missing, not "not met"
        ({**NOT_ON_NRB, "hfnc_fio2": None}, "missing"),
        # HFNC FiO2 typed as a percentage is not evaluated ...
        ({**NOT_ON_NRB, "hfnc_fio2": 95}, "missing"),
        # ... unless the other branch already decides
        ({"nrb_flow_l_min": 15, "nasal_cannula_flow_l_min": 6, "hfnc_fio2": 95}, "met"),
    ],
)
def test_new_york_respiratory_failure_both_branches(changes, verdict):
    assert criterion("new_york_2020", "respiratory_failure", changes).verdict == verdict


def test_new_york_respiratory_failure_with_no_device_recorded_names_every_device_field():
    result = criterion("new_york_2020", "respiratory_failure", {**NOT_ON_NRB, "hfnc_fio2": None})
    assert result.missing_fields == ("nrb_flow_l_min", "nasal_cannula_flow_l_min", "hfnc_fio2")
    assert "no oxygen device setting recorded" in result.sentence


def test_new_york_respiratory_failure_unusable_hfnc_fio2_is_flagged_on_that_field():
    result = criterion("new_york_2020", "respiratory_failure", {**NOT_ON_NRB, "hfnc_fio2": 95})
    assert result.missing_fields == ("hfnc_fio2",)


def test_new_york_respiratory_failure_sentence_shows_the_deciding_branch():
    result = criterion("new_york_2020", "respiratory_failure", {"nrb_flow_l_min": 15, "nasal_cannula_flow_l_min": 6})
    assert result.sentence == (
        "(non-rebreather flow 15 L/min is >= 15 L/min and nasal cannula flow 6 L/min is >= 6 L/min); "
        "HFNC FiO2 not recorded (not in use): met"
    )
    assert result.threshold == (
        "(non-rebreather flow >= 15 L/min and nasal cannula flow >= 6 L/min) or HFNC FiO2 >= 0.95"
    )


@pytest.mark.parametrize(
    ("changes", "verdict"),
    [
        # procalcitonin > 0.6 ng/mL (strict)
        ({"procalcitonin_ng_ml": 0.6}, "not_met"),
        ({"procalcitonin_ng_ml": 0.59}, "not_met"),
        ({"procalcitonin_ng_ml": 0.61}, "met"),
        # any one of the three suffices
        ({"positive_cultures": True, "procalcitonin_ng_ml": None}, "met"),
        ({"high_clinical_suspicion_bacterial": True, "positive_cultures": None}, "met"),
        # none known to apply, one not recorded
        ({"procalcitonin_ng_ml": None}, "missing"),
        ({"positive_cultures": None}, "missing"),
    ],
)
def test_new_york_suspected_bacterial_infection_exclusion(changes, verdict):
    assert criterion("new_york_2020", "suspected_bacterial_infection", changes).verdict == verdict


def test_new_york_exclusion_sentence_says_it_applies():
    result = criterion("new_york_2020", "suspected_bacterial_infection", {"procalcitonin_ng_ml": 0.61})
    assert result.kind == "exclusion"
    assert "procalcitonin 0.61 ng/mL is > 0.6 ng/mL" in result.sentence
    assert result.sentence.endswith(": exclusion applies")


@pytest.mark.parametrize(("on_ventilator", "verdict"), [(False, "met"), (True, "not_met"), (None, "missing")])
def test_new_york_not_on_invasive_ventilation(on_ventilator, verdict):
    result = criterion("new_york_2020", "not_on_invasive_ventilation", {"on_invasive_ventilation": on_ventilator})
    assert result.verdict == verdict


# --------------------------------------------------------------------------------------------
# Missing and unusable answers
# --------------------------------------------------------------------------------------------

YES_NO_CRITERIA = [
    ("milan_2020", "covid_rt_pcr_confirmed", "rt_pcr_confirmed"),
    ("milan_2020", "written_consent", "written_consent"),
    ("milan_2020", "bacterial_infection", "bacterial_infection"),
    ("new_york_2020", "fever", "fever"),
    ("new_york_2020", "cancer_on_chemo_or_immunotherapy", "cancer_on_chemo_or_immunotherapy"),
]


@pytest.mark.parametrize(("rule_set", "field", "code"), YES_NO_CRITERIA)
@pytest.mark.parametrize("unanswered", [None, 1, "yes", 0.0])
def test_unanswered_or_unusable_yes_no_is_missing_on_its_field(rule_set, field, code, unanswered):
    result = screen(rule_set, {field: unanswered})
    assert not result.eligible
    assert [c.code for c in result.missing] == [code]
    assert result.missing_fields == {field}


@pytest.mark.parametrize(
    ("rule_set", "field", "code"),
    [
        ("milan_2020", "age_years", "age"),
        ("milan_2020", "peep_cmh2o", "peep"),
        ("new_york_2020", "procalcitonin_ng_ml", "suspected_bacterial_infection"),
    ],
)
@pytest.mark.parametrize("unusable", [None, True, "12", float("nan"), float("inf"), -1])
def test_missing_or_unusable_number_is_missing_on_its_field(rule_set, field, code, unusable):
    result = screen(rule_set, {field: unusable})
    assert not result.eligible
    assert [c.code for c in result.missing] == [code]
    assert result.missing_fields == {field}


def test_absent_keys_count_as_missing_and_extra_keys_are_ignored():
    values = {k: v for k, v in MILAN_OK.items() if k != "written_consent"}
    result = evaluate("milan_2020", {**values, "crp_unit": "mg/dL", "screening_number": "MI-S0001"})
    assert [c.code for c in result.missing] == ["written_consent"]


def test_missing_sentence_says_what_is_missing():
    result = criterion("milan_2020", "age", {"age_years": None})
    assert result.sentence == "age not recorded: missing"
    assert result.fields == ("age_years",)
    assert result.missing_fields == ("age_years",)


def test_failure_and_missing_are_both_reported():
    result = screen("milan_2020", {"age_years": 16, "written_consent": None})
    assert [c.code for c in result.failing] == ["age"]
    assert [c.code for c in result.missing] == ["written_consent"]
    assert result.reasons == (
        "age 16 years is below 18 years: not met",
        "Written informed consent not recorded: missing",
    )


# --------------------------------------------------------------------------------------------
# Study settings
# --------------------------------------------------------------------------------------------


def test_default_settings_are_the_spec_thresholds():
    assert RULE_SETS["milan_2020"].default_settings == {
        "min_age": 18,
        "milan_pf_max": 200,
        "milan_peep_min": 5,
        "milan_crp_min_mg_l": 100,
        "milan_ferritin_min_ng_ml": 900,
    }
    assert RULE_SETS["new_york_2020"].default_settings == {
        "ny_ferritin_gt_ng_ml": 1000,
        "ny_crp_gt_mg_l": 50,
        "ny_lymphocytes_lt_10e9_l": 1.2,
        "ny_ddimer_gt_ng_ml": 1000,
        "ny_ddimer_basis": "FEU",
        "ny_ldh_gt_u_l": 350,
        "ny_nrb_flow_min_l_min": 15,
        "ny_nasal_cannula_flow_min_l_min": 6,
        "ny_hfnc_fio2_min": 0.95,
        "ny_procalcitonin_gt_ng_ml": 0.6,
    }


def test_default_settings_are_a_fresh_copy():
    defaults = RULE_SETS["milan_2020"].default_settings
    defaults["min_age"] = 99
    assert RULE_SETS["milan_2020"].default_settings["min_age"] == 18


@pytest.mark.parametrize(
    ("rule_set", "code", "changes", "override", "default_verdict", "override_verdict"),
    [
        ("milan_2020", "age", {"age_years": 20}, {"min_age": 21}, "met", "not_met"),
        (
            "milan_2020",
            "hyperinflammation",
            {"crp_mg_l": 85, "ferritin_ng_ml": 500},
            {"milan_crp_min_mg_l": 80},
            "not_met",
            "met",
        ),
        ("milan_2020", "pao2_fio2", {"pao2_mmhg": 75, "fio2": 0.5}, {"milan_pf_max": 100}, "met", "not_met"),
        ("milan_2020", "peep", {"peep_cmh2o": 5}, {"milan_peep_min": 8}, "met", "not_met"),
        ("new_york_2020", "hyperinflammation", ny_markers(crp_mg_l=40), {"ny_crp_gt_mg_l": 30}, "not_met", "met"),
        (
            "new_york_2020",
            "hyperinflammation",
            ny_markers(lymphocytes_10e9_l=1.3),
            {"ny_lymphocytes_lt_10e9_l": 1.5},
            "not_met",
            "met",
        ),
        ("new_york_2020", "hyperinflammation", ny_markers(ldh_u_l=400), {"ny_ldh_gt_u_l": 450}, "met", "not_met"),
        (
            "new_york_2020",
            "hyperinflammation",
            {"ferritin_ng_ml": 900},
            {"ny_ferritin_gt_ng_ml": 800},
            "not_met",
            "met",
        ),
        (
            "new_york_2020",
            "suspected_bacterial_infection",
            {"procalcitonin_ng_ml": 0.4},
            {"ny_procalcitonin_gt_ng_ml": 0.25},
            "not_met",
            "met",
        ),
        (
            "new_york_2020",
            "respiratory_failure",
            {**NOT_ON_NRB, "hfnc_fio2": 0.9},
            {"ny_hfnc_fio2_min": 0.9},
            "not_met",
            "met",
        ),
    ],
)
def test_study_settings_override_a_threshold(rule_set, code, changes, override, default_verdict, override_verdict):
    assert criterion(rule_set, code, changes).verdict == default_verdict
    assert criterion(rule_set, code, changes, override).verdict == override_verdict


def test_overridden_threshold_appears_in_the_sentence():
    result = criterion("milan_2020", "age", {"age_years": 20}, {"min_age": 21})
    assert result.threshold == "age >= 21 years"
    assert result.sentence == "age 20 years is below 21 years: not met"


def test_settings_merged_as_the_study_model_stores_them_are_accepted():
    stored = {**RULE_SETS["new_york_2020"].default_settings, "ny_crp_gt_mg_l": 30}
    assert criterion("new_york_2020", "hyperinflammation", ny_markers(crp_mg_l=40), stored).verdict == "met"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"milan_crp_min": 80}, "unknown settings"),  # typo must not be silently ignored
        ({"ny_crp_gt_mg_l": 30}, "unknown settings"),  # the other protocol's setting
        ({"min_age": "eighteen"}, "not a finite number"),
        ({"min_age": None}, "not a finite number"),
        ({"min_age": True}, "not a finite number"),
        ({"milan_pf_max": float("nan")}, "not a finite number"),
    ],
)
def test_bad_settings_are_refused(override, message):
    with pytest.raises(ValueError, match=message):
        evaluate("milan_2020", MILAN_OK, override)


def test_ddimer_basis_setting_must_be_feu_or_ddu():
    with pytest.raises(ValueError, match="not one of"):
        evaluate("new_york_2020", NY_OK, {"ny_ddimer_basis": "mg/L"})


# --------------------------------------------------------------------------------------------
# Rule sets as configuration
# --------------------------------------------------------------------------------------------


def test_rule_sets_are_selected_by_code():
    assert list(RULE_SETS) == ["milan_2020", "new_york_2020"]
    assert get_rule_set("milan_2020").code == "milan_2020"
    with pytest.raises(ValueError, match="unknown rule set 'rome_2021'"):
        evaluate("rome_2021", {})


@pytest.mark.parametrize("protocol", Protocol.values)
def test_every_protocol_a_study_can_choose_has_its_rule_set(protocol):
    assert get_rule_set(protocol).code == protocol


def test_every_rule_set_is_a_protocol_a_study_can_choose():
    assert set(RULE_SETS) <= set(Protocol.values)


@pytest.mark.parametrize("rule_set", list(RULE_SETS.values()), ids=list(RULE_SETS))
def test_rule_set_fields_cover_every_input_its_criteria_read(rule_set):
    field_names = [f.name for f in rule_set.fields]
    assert len(field_names) == len(set(field_names))
    read = {name for c in rule_set.criteria for name in c.fields}
    assert read <= set(field_names)
    codes = [c.code for c in rule_set.criteria]
    assert len(codes) == len(set(codes))


def test_number_fields_are_in_the_canonical_unit_of_their_quantity():
    for field in FIELDS.values():
        if field.quantity is not None:
            assert field.kind == "number"
            assert field.unit == UNITS[field.quantity].canonical, field.name


def test_new_york_form_records_respiratory_failure_onset_without_judging_it():
    rule_set = RULE_SETS["new_york_2020"]
    onset = next(f for f in rule_set.fields if f.name == "respiratory_failure_onset")
    assert onset.kind == "datetime"
    assert all("respiratory_failure_onset" not in c.fields for c in rule_set.criteria)
    assert screen("new_york_2020", {"respiratory_failure_onset": None}).eligible


def test_ddimer_basis_field_offers_feu_and_ddu():
    assert FIELDS["ddimer_basis"].kind == "choice"
    assert FIELDS["ddimer_basis"].choices == ("FEU", "DDU")


# --------------------------------------------------------------------------------------------
# Properties over arbitrary inputs
# --------------------------------------------------------------------------------------------

ANY_INPUT = st.one_of(
    st.none(),
    st.booleans(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(min_value=0, max_value=2000),
)
ANY_VALUES = st.fixed_dictionaries(
    dict.fromkeys(FIELDS, ANY_INPUT)
    | {"ddimer_basis": st.one_of(ANY_INPUT, st.sampled_from(["FEU", "DDU", "feu", "mg/L"]))}
)


@settings(max_examples=300, deadline=None)
@given(rule_set=st.sampled_from(sorted(RULE_SETS)), values=ANY_VALUES)
def test_any_inputs_never_raise_and_eligible_means_every_criterion_passes(rule_set, values):
    result = evaluate(rule_set, values)
    inclusions = [c for c in result.criteria if c.kind == "inclusion"]
    exclusions = [c for c in result.criteria if c.kind == "exclusion"]
    expected = all(c.verdict == "met" for c in inclusions) and all(c.verdict == "not_met" for c in exclusions)
    assert result.eligible == expected
    for c in result.criteria:
        assert c.verdict in {"met", "not_met", "missing"}
        assert c.sentence
        if c.verdict == "missing":
            assert c.missing_fields
            assert set(c.missing_fields) <= set(c.fields)
        else:
            assert c.missing_fields == ()
    assert set(result.failing).isdisjoint(result.missing)


@given(
    pao2=st.floats(min_value=20, max_value=700),
    fio2=st.floats(min_value=0.21, max_value=1.0),
)
def test_milan_pf_verdict_matches_the_hand_calculation(pao2, fio2):
    """Met exactly when PaO2 <= 200 x FiO2 on the values as entered."""
    expected = Fraction(repr(pao2)) <= 200 * Fraction(repr(fio2))
    verdict = criterion("milan_2020", "pao2_fio2", {"pao2_mmhg": pao2, "fio2": fio2}).verdict
    assert verdict == ("met" if expected else "not_met")


@pytest.mark.parametrize(
    ("pao2", "fio2", "shown"),
    [
        (70, 0.6, "116.7"),  # 116.666...
        (69.99, 0.6, "116.7"),  # exactly 116.65: half up, on the typed digits (binary floats give 116.6499...)
        (100, 0.5, "200"),  # exactly at the threshold
        (99.98, 0.5, "199.96"),  # one decimal would put it onto the threshold
        (100.02, 0.5, "200.04"),  # ... or, not met, read as if it were on it
    ],
)
def test_the_pf_ratio_is_shown_to_one_decimal_unless_that_misstates_the_verdict(pao2, fio2, shown):
    result = criterion("milan_2020", "pao2_fio2", {"pao2_mmhg": pao2, "fio2": fio2})
    assert result.value_text == shown and result.sentence.startswith(f"PaO2:FiO2 {shown} mmHg (")
