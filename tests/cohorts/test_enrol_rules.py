"""The pure screening/enrolment rules of cohorts/enrolment.py, on plain values."""

import pytest

from cohorts import enrolment
from ecrf.enrolment import day0_support


@pytest.mark.parametrize(
    ("weight", "confirmed", "code"),
    [
        (None, False, None),
        (29.9, False, "weight_kg.hard"),
        (30, False, None),
        (200, False, None),
        (200.1, False, "weight_kg.soft_high"),
        (200.1, True, None),
        (300, True, None),
        (300.1, True, "weight_kg.hard"),
    ],
)
def test_weight_problem(weight, confirmed, code):
    problem = enrolment.weight_problem(weight, confirmed)
    assert (problem[0] if problem else None) == code


@pytest.mark.parametrize(
    ("name", "value", "ok"),
    [
        ("crp_mg_l", 1000, True),
        ("crp_mg_l", 1000.1, False),
        ("fio2", 0.2, False),
        ("fio2", 0.21, True),
        ("ddimer_ng_ml", 0, True),
        ("ddimer_ng_ml", -1, False),
        ("age_years", 121, False),
    ],
)
def test_limit_problem(name, value, ok):
    assert (enrolment.limit_problem(name, value, "mg/L") is None) == ok


def test_value_text():
    assert [enrolment.value_text(v) for v in (True, False, None, 150.0124, 200.0, "x")] == [
        "yes",
        "no",
        "",
        "150.0124",
        "200",
        "x",
    ]


@pytest.mark.parametrize(
    ("values", "support"),
    [
        (
            {"on_niv_outside_icu": True, "fio2": 0.5, "peep_cmh2o": 10},
            {"support": "cpap", "fio2": 0.5, "peep_cmh2o": 10},
        ),
        ({"on_niv_outside_icu": True, "fio2": 0.5}, None),  # CPAP needs its PEEP
        ({"on_niv_outside_icu": False, "fio2": 0.5, "peep_cmh2o": 10}, None),
        ({"hfnc_fio2": 0.95, "nrb_flow_l_min": 15}, {"support": "hfnc", "fio2": 0.95}),
        ({"nrb_flow_l_min": 15, "nasal_cannula_flow_l_min": 6}, {"support": "non_rebreather", "flow_l_min": 15}),
        ({"on_invasive_ventilation": True, "hfnc_fio2": 0.95}, None),
        ({}, None),
    ],
)
def test_day0_support(values, support):
    assert day0_support(values) == support
