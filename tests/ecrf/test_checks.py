"""Edit checks of clinical definitions §2.1, tested on the values a user would type.

The expected bounds are written out literally from the table of clinical definitions §2.1 below, never read
back from ``ecrf.checks.LIMITS``, so a wrong number in LIMITS makes a test fail.
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import NamedTuple

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecrf import checks
from ecrf.checks import (
    LIMITS,
    Issue,
    check_after_death,
    check_blood_pressure,
    check_regimen,
    check_respiratory_support,
    check_value,
    check_values,
    check_weight_based_dose,
    check_within_follow_up,
)


class HardRow(NamedTuple):
    """One row of the clinical definitions §2.1 table, as the test expects it."""

    name: str
    word: str  # what the message must name
    low: str
    high: str
    step: str  # a clinically small step for "just inside / just outside"
    low_asks: bool  # the hard minimum itself lies beyond a soft bound
    high_asks: bool  # the hard maximum itself lies beyond a soft bound


SPEC_HARD_LIMITS = [
    HardRow("temperature_c", "Temperature", "32", "44", "0.1", True, True),
    HardRow("heart_rate_bpm", "Heart rate", "20", "250", "1", True, True),
    HardRow("respiratory_rate_bpm", "Respiratory rate", "4", "70", "1", True, True),
    HardRow("systolic_mmhg", "Systolic", "40", "300", "1", False, False),
    HardRow("diastolic_mmhg", "Diastolic", "20", "200", "1", False, False),
    HardRow("spo2_pct", "SpO2", "50", "100", "1", False, False),
    HardRow("fio2", "FiO2", "0.21", "1.0", "0.01", False, False),
    HardRow("flow_l_min", "flow", "0.5", "70", "0.1", False, False),
    HardRow("peep_cmh2o", "PEEP", "0", "30", "0.5", False, False),
    HardRow("pao2_mmhg", "PaO2", "20", "700", "1", False, True),
    HardRow("weight_kg", "Weight", "30", "300", "0.1", False, True),
    HardRow("crp_mg_l", "CRP", "0", "1000", "0.1", False, True),
    HardRow("ferritin_ng_ml", "Ferritin", "0", "300000", "1", False, True),
    HardRow("ldh_u_l", "LDH", "0", "20000", "1", False, False),
    HardRow("ast_u_l", "AST", "0", "20000", "1", False, False),
    HardRow("alt_u_l", "ALT", "0", "20000", "1", False, False),
    HardRow("lymphocytes_10e9_l", "Lymphocytes", "0", "50", "0.01", False, False),
    HardRow("procalcitonin_ng_ml", "Procalcitonin", "0", "1000", "0.01", False, False),
    HardRow("hours_on_niv", "NIV", "0", "24", "0.5", False, False),
    # Plausibility only: the minimum age of 18 is the Milan inclusion criterion (cohorts/eligibility).
    HardRow("age_years", "Age", "0", "120", "1", False, False),
]
HARD_CASES = [pytest.param(row, id=row.name) for row in SPEC_HARD_LIMITS]

# variable, soft bound (no confirmation), value just beyond it (confirmation), code.
SPEC_SOFT_LIMITS = [
    ("temperature_c", "35.0", "34.9", "temperature_c.soft_low"),
    ("temperature_c", "41.0", "41.1", "temperature_c.soft_high"),
    ("heart_rate_bpm", "40", "39", "heart_rate_bpm.soft_low"),
    ("heart_rate_bpm", "180", "181", "heart_rate_bpm.soft_high"),
    ("respiratory_rate_bpm", "8", "7", "respiratory_rate_bpm.soft_low"),
    ("respiratory_rate_bpm", "45", "46", "respiratory_rate_bpm.soft_high"),
    ("pao2_mmhg", "500", "501", "pao2_mmhg.soft_high"),
    ("weight_kg", "200", "200.1", "weight_kg.soft_high"),
    ("crp_mg_l", "500", "500.1", "crp_mg_l.soft_high"),
    ("ferritin_ng_ml", "50000", "50001", "ferritin_ng_ml.soft_high"),
]

# clinical definitions §2.1 soft bounds per variable, for the codebook: (soft_low, soft_high).
SPEC_SOFT_BOUNDS = {
    "temperature_c": (35, 41),
    "heart_rate_bpm": (40, 180),
    "respiratory_rate_bpm": (8, 45),
    "pao2_mmhg": (None, 500),
    "weight_kg": (None, 200),
    "crp_mg_l": (None, 500),
    "ferritin_ng_ml": (None, 50000),
}

# Values arrive from forms as Decimal and from imports as float.
AS_TYPES = [pytest.param(Decimal, id="decimal"), pytest.param(float, id="float")]


# ---------------------------------------------------------------- hard limits


@pytest.mark.parametrize("as_type", AS_TYPES)
@pytest.mark.parametrize("row", HARD_CASES)
def test_hard_bounds_themselves_are_accepted(row: HardRow, as_type):
    for bound, asks in ((row.low, row.low_asks), (row.high, row.high_asks)):
        result = check_value(row.name, as_type(Decimal(bound)))
        if asks:
            assert result is not None and result.level == "soft", bound
        else:
            assert result is None, bound


@pytest.mark.parametrize("as_type", AS_TYPES)
@pytest.mark.parametrize("row", HARD_CASES)
def test_values_just_inside_the_hard_range_are_not_refused(row: HardRow, as_type):
    step = Decimal(row.step)
    for value in (Decimal(row.low) + step, Decimal(row.high) - step):
        result = check_value(row.name, as_type(value))
        assert result is None or result.level == "soft", value


@pytest.mark.parametrize("as_type", AS_TYPES)
@pytest.mark.parametrize("row", HARD_CASES)
def test_values_just_below_the_hard_minimum_are_refused_naming_the_variable(row: HardRow, as_type):
    result = check_value(row.name, as_type(Decimal(row.low) - Decimal(row.step)))

    assert result is not None and result.level == "hard"
    assert not result.needs_confirmation
    assert result.code == f"{row.name}.hard_min"
    assert result.field == result.variable == row.name
    assert row.word in result.message
    assert f"below the plausible minimum of {_plain(row.low)}" in result.message


@pytest.mark.parametrize("as_type", AS_TYPES)
@pytest.mark.parametrize("row", HARD_CASES)
def test_values_just_above_the_hard_maximum_are_refused_naming_the_variable(row: HardRow, as_type):
    result = check_value(row.name, as_type(Decimal(row.high) + Decimal(row.step)))

    assert result is not None and result.level == "hard"
    assert result.code == f"{row.name}.hard_max"
    assert row.word in result.message
    assert f"above the plausible maximum of {_plain(row.high)}" in result.message


def _plain(number: str) -> str:
    """The number of the clinical definitions as a user reads it: "1.0" -> "1", "0.50" -> "0.5"."""
    return f"{Decimal(number).normalize():f}"


def test_hard_message_reads_as_a_sentence_next_to_the_field():
    result = check_value("temperature_c", 45.0)

    assert result == Issue(
        "temperature_c",
        "hard",
        "temperature_c.hard_max",
        "Temperature 45 degC is above the plausible maximum of 44 degC.",
    )


def test_percent_is_written_next_to_the_number():
    result = check_value("spo2_pct", 49)

    assert result.message == "SpO2 49% is below the plausible minimum of 50%."


def test_hard_refusal_wins_over_soft_confirmation():
    result = check_value("temperature_c", Decimal("31.9"))

    assert result.level == "hard"
    assert result.code == "temperature_c.hard_min"


@pytest.mark.parametrize(
    ("dose", "refused"),
    [
        (Decimal(0), True),
        (-1, True),
        (Decimal("0.01"), False),
        (100, False),
        (5000, False),  # no upper hard limit on dose
    ],
)
def test_dose_must_be_greater_than_zero(dose, refused):
    result = check_value("dose", dose)

    if refused:
        assert result.level == "hard" and result.code == "dose.hard_min"
        assert "Dose" in result.message and "greater than 0" in result.message
    else:
        assert result is None


TEMPERATURE_HARD_MIN, TEMPERATURE_HARD_MAX = 32, 44  # clinical definitions §2.1, degC


@given(st.decimals(min_value=-100, max_value=100, places=1))
def test_temperature_is_refused_exactly_outside_32_to_44(value):
    result = check_value("temperature_c", value)

    refused = result is not None and result.level == "hard"
    assert refused == (value < TEMPERATURE_HARD_MIN or value > TEMPERATURE_HARD_MAX)


# ---------------------------------------------------------------- soft limits


@pytest.mark.parametrize("as_type", AS_TYPES)
@pytest.mark.parametrize(
    ("name", "boundary", "beyond", "code"),
    [pytest.param(*row, id=row[3]) for row in SPEC_SOFT_LIMITS],
)
def test_soft_bound_needs_no_confirmation_just_beyond_it_does(name, boundary, beyond, code, as_type):
    assert check_value(name, as_type(Decimal(boundary))) is None

    result = check_value(name, as_type(Decimal(beyond)))

    assert result.level == "soft" and result.needs_confirmation
    assert result.code == code
    assert "tick 'confirm'" in result.message


def test_soft_message_says_what_to_do():
    result = check_value("temperature_c", Decimal("41.5"))

    assert result.message == ("Temperature 41.5 degC is above 41 degC: tick 'confirm' if this is correct.")


# ---------------------------------------------------------------- input types


@pytest.mark.parametrize(
    "value",
    [None, float("nan"), Decimal("NaN"), np.float64("nan")],
    ids=["none", "float-nan", "decimal-nan", "numpy-nan"],
)
def test_missing_values_are_not_range_checked(value):
    assert check_value("temperature_c", value) is None


@pytest.mark.parametrize(
    "value",
    [37, 36.6, Decimal("36.60"), np.float64(36.6), np.int64(37)],
    ids=["int", "float", "decimal", "numpy-float", "numpy-int"],
)
def test_normal_temperature_of_any_numeric_type_passes(value):
    assert check_value("temperature_c", value) is None


def test_numpy_values_are_refused_like_plain_ones():
    assert check_value("heart_rate_bpm", np.int64(251)).code == "heart_rate_bpm.hard_max"


@pytest.mark.parametrize("value", ["37", True], ids=["text", "bool"])
def test_non_numbers_are_a_programming_error(value):
    with pytest.raises(TypeError):
        check_value("temperature_c", value)


def test_unknown_variable_is_a_programming_error():
    with pytest.raises(KeyError, match="temprature_c"):
        check_value("temprature_c", 37)


def test_check_values_reports_only_the_problems_in_order():
    results = check_values(
        {
            "temperature_c": Decimal("36.8"),
            "heart_rate_bpm": 260,
            "spo2_pct": None,
            "crp_mg_l": Decimal(612),
        }
    )

    assert [(r.field, r.level) for r in results] == [
        ("heart_rate_bpm", "hard"),
        ("crp_mg_l", "soft"),
    ]


def test_check_values_of_a_normal_day_is_empty():
    day = {"temperature_c": 37.2, "heart_rate_bpm": 88, "spo2_pct": 94, "fio2": 0.5}

    assert check_values(day) == []


# ---------------------------------------------------------------- cross-field rules


def _codes(issues: list[Issue]) -> set[str]:
    return {issue.code for issue in issues}


@pytest.mark.parametrize(
    ("systolic", "diastolic", "codes"),
    [
        (120, 80, set()),
        (120, 119, set()),
        (120, 120, {"diastolic_mmhg.not_below_systolic"}),
        (Decimal(90), Decimal(110), {"diastolic_mmhg.not_below_systolic"}),
        (None, 80, set()),
        (120, None, set()),
    ],
)
def test_diastolic_must_be_below_systolic(systolic, diastolic, codes):
    issues = check_blood_pressure(systolic, diastolic)

    assert _codes(issues) == codes
    assert all(i.field == "diastolic_mmhg" and i.level == "hard" for i in issues)


def test_blood_pressure_message_names_both_values():
    (issue,) = check_blood_pressure(110, 120)

    assert issue.message == ("Diastolic blood pressure 120 mmHg must be below the systolic 110 mmHg.")


@pytest.mark.parametrize(
    ("support", "fio2", "flow", "peep", "codes"),
    [
        # room air: FiO2 empty or exactly 0.21, no flow
        ("room_air", None, None, None, set()),
        ("room_air", 0.21, None, None, set()),
        ("room_air", Decimal("0.210"), None, None, set()),
        ("room_air", Decimal("0.22"), None, None, {"fio2.room_air"}),
        ("room_air", 0.4, 2, None, {"fio2.room_air", "flow_l_min.room_air"}),
        # low-flow devices need a flow
        ("nasal_cannula", None, 2, None, set()),
        ("nasal_cannula", None, None, None, {"flow_l_min.required"}),
        ("simple_mask", None, 5, None, set()),
        ("simple_mask", None, None, None, {"flow_l_min.required"}),
        ("non_rebreather", None, 15, None, set()),
        ("non_rebreather", None, None, None, {"flow_l_min.required"}),
        # Venturi is low-flow and delivers a set FiO2
        ("venturi", 0.4, 8, None, set()),
        ("venturi", None, 8, None, {"fio2.required"}),
        ("venturi", 0.4, None, None, {"flow_l_min.required"}),
        # high-flow and pressure devices need the set FiO2; pressure needs PEEP
        ("hfnc", 0.95, 60, None, set()),
        ("hfnc", None, 60, None, {"fio2.required"}),
        ("cpap", 0.6, None, 10, set()),
        ("cpap", 0.6, None, 0, set()),  # PEEP 0 is a value, not a missing one
        ("cpap", 0.6, None, None, {"peep_cmh2o.required"}),
        ("cpap", None, None, None, {"fio2.required", "peep_cmh2o.required"}),
        ("niv", Decimal("0.5"), None, Decimal(8), set()),
        ("niv", Decimal("0.5"), None, None, {"peep_cmh2o.required"}),
        ("imv", 0.8, None, 12, set()),
        ("imv", None, None, 12, {"fio2.required"}),
        # nothing chosen yet
        (None, None, None, None, set()),
    ],
)
def test_respiratory_support_settings(support, fio2, flow, peep, codes):
    issues = check_respiratory_support(support, fio2, flow, peep)

    assert _codes(issues) == codes
    assert all(i.level == "hard" and i.code.startswith(f"{i.field}.") for i in issues)


def test_missing_peep_message_names_the_device():
    (issue,) = check_respiratory_support("cpap", Decimal("0.6"), None, None)

    assert issue.field == "peep_cmh2o"
    assert issue.message == "PEEP is required for CPAP."


def test_unknown_support_code_is_a_programming_error():
    with pytest.raises(ValueError, match="ecmo"):
        check_respiratory_support("ecmo", None, None, None)


@pytest.mark.parametrize(
    ("unit", "weight", "codes"),
    [
        ("mg/kg", None, {"unit.weight_required"}),
        ("mg/kg", Decimal("82.5"), set()),
        ("mg", None, set()),
        (None, None, set()),
    ],
)
def test_weight_based_dose_needs_a_weight(unit, weight, codes):
    issues = check_weight_based_dose(unit, weight)

    assert _codes(issues) == codes
    assert all(i.level == "hard" and "weight" in i.message for i in issues)


@pytest.mark.parametrize(
    ("study_day", "death_day", "codes"),
    [
        (4, 5, set()),
        (5, 5, set()),  # data of the day of death are allowed
        (6, 5, {"study_day.after_death"}),
        (6, None, set()),
        (None, 5, set()),
    ],
)
def test_no_data_after_the_day_of_death(study_day, death_day, codes):
    issues = check_after_death(study_day, death_day)

    assert _codes(issues) == codes
    assert all(i.field == "study_day" and i.level == "hard" for i in issues)


@pytest.mark.parametrize(
    ("study_day", "codes"),
    [
        (-1, {"study_day.before_enrolment"}),
        (0, set()),
        (21, set()),
        (22, {"study_day.after_follow_up"}),
        (None, set()),
    ],
)
def test_study_day_within_21_day_follow_up(study_day, codes):
    issues = check_within_follow_up(study_day, 21)

    assert _codes(issues) == codes
    assert all(i.field == "study_day" and i.level == "hard" for i in issues)


def test_follow_up_length_is_the_study_setting():
    assert check_within_follow_up(28, 28) == []
    assert _codes(check_within_follow_up(28, 21)) == {"study_day.after_follow_up"}


LOW_DOSE_ANAKINRA = {"drug": "anakinra", "dose": 100, "unit": "mg", "route": "sc"}


@pytest.mark.parametrize(
    ("drug", "dose", "unit", "route", "codes"),
    [
        ("anakinra", 100, "mg", "sc", set()),
        ("Anakinra", Decimal("100.0"), "mg", "SC", set()),
        ("anakinra", 200, "mg", "sc", {"dose.regimen"}),
        ("anakinra", 100, "mg/kg", "sc", {"dose.regimen"}),
        ("anakinra", 100, "mg", "iv", {"route.regimen"}),
        ("anakinra", 5, "mg/kg", "iv", {"dose.regimen", "route.regimen"}),
        ("anakinra", None, "mg", None, set()),
        ("hydroxychloroquine", 200, "mg", "oral", set()),  # another drug's regimen
    ],
)
def test_dose_and_route_against_the_arm_regimen(drug, dose, unit, route, codes):
    issues = check_regimen(drug, dose, unit, route, LOW_DOSE_ANAKINRA)

    assert _codes(issues) == codes
    assert all(i.level == "soft" and i.needs_confirmation for i in issues)


def test_regimen_mismatch_message_shows_given_and_planned_dose():
    (issue,) = check_regimen("anakinra", 200, "mg", "sc", LOW_DOSE_ANAKINRA)

    assert issue.field == "dose"
    assert "200 mg" in issue.message and "100 mg" in issue.message
    assert "tick 'confirm'" in issue.message


def test_no_regimen_no_issue():
    assert check_regimen("anakinra", 5, "mg/kg", "iv", None) == []


# ---------------------------------------------------------------- the limits table


def test_the_limits_table_has_one_row_per_limit_with_the_spec_numbers():
    expected = {spec.name for spec in SPEC_HARD_LIMITS} | {"dose", "ddimer_ng_ml"}
    expected |= {"ast_uln_u_l", "alt_uln_u_l", "follow_up_days"}  # issue 13: every number has a range
    assert set(LIMITS) == expected
    for spec in SPEC_HARD_LIMITS:
        limit = LIMITS[spec.name]
        assert (limit.hard_min, limit.hard_max) == (Decimal(spec.low), Decimal(spec.high)), spec.name
        soft = SPEC_SOFT_BOUNDS.get(spec.name, (None, None))
        assert (limit.soft_low, limit.soft_high) == soft, spec.name
        assert limit.label and limit.unit, spec.name
        assert limit.hard_min_exclusive is False
    assert LIMITS["dose"].hard_min == 0 and LIMITS["dose"].hard_min_exclusive is True
    # No clinical limit: what the day-0 laboratory column holds (8 digits, one decimal).
    assert (LIMITS["ddimer_ng_ml"].hard_min, LIMITS["ddimer_ng_ml"].hard_max) == (0, 9_999_999)
    for uln in ("ast_uln_u_l", "alt_uln_u_l"):
        assert (LIMITS[uln].hard_min, LIMITS[uln].hard_max, LIMITS[uln].unit) == (10, 200, "U/L")
    assert (LIMITS["follow_up_days"].hard_min, LIMITS["follow_up_days"].hard_max) == (1, 365)


def test_the_limits_table_units_are_the_spec_units():
    units = {name: limit.unit for name, limit in LIMITS.items()}

    assert units["temperature_c"] == "degC"
    assert units["crp_mg_l"] == "mg/L"
    assert units["ferritin_ng_ml"] == "ng/mL"
    assert units["pao2_mmhg"] == "mmHg"
    assert units["peep_cmh2o"] == "cmH2O"
    assert units["flow_l_min"] == "L/min"


@given(
    limit=st.sampled_from(sorted(LIMITS.values(), key=lambda limit: limit.name)),
    exclusive=st.booleans(),
    offset=st.one_of(
        st.sampled_from([Decimal(0), Decimal("0.1"), Decimal("-0.1"), Decimal("0.001"), Decimal("-0.001")]),
        st.decimals(min_value=-1000, max_value=1000, places=3),
    ),
    around=st.sampled_from(["hard_min", "hard_max", "soft_low", "soft_high"]),
)
def test_the_fine_values_skip_no_finding(limit, exclusive, offset, around):
    """check_limit's shortcut for values within every bound gives what the three checks give, at and around each
    bound (an exclusive minimum included)."""
    limit = dataclasses.replace(limit, hard_min_exclusive=exclusive)
    bound = getattr(limit, around)
    value = (Decimal(bound) if bound is not None else Decimal(50)) + offset
    full = (
        checks._below_hard_min(limit, value)
        or checks._above_hard_max(limit, value)
        or checks._beyond_soft_bound(limit, value)
    )
    assert checks.check_limit(limit, value) == full
