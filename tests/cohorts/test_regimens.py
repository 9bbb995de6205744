"""Arm regimens as data (cohorts/regimens.py): what the set-up accepts and refuses, and old regimens still read."""

from decimal import Decimal

import pytest

from cohorts import regimens
from demo.studies import MILAN_ARMS
from ecrf import checks
from ecrf.models import DoseUnit, Drug, Frequency, Route
from ecrf.validators import PatientFacts, drug_administration

ANAKINRA_SC = {"drug": "anakinra", "dose": 100, "unit": "mg", "route": "sc", "frequency": "bid"}


def problems(entries) -> dict[str, str]:
    _doses, found = regimens.parse(entries)
    return {p.path: p.code for p in found}


def test_the_codes_are_those_of_the_drug_form():
    """cohorts does not import ecrf: its copy of the drug form's codes must agree with ecrf.models."""
    assert dict(regimens.DRUGS) == dict(Drug.choices)
    assert dict(regimens.UNITS) == dict(DoseUnit.choices)
    assert dict(regimens.ROUTES) == dict(Route.choices)
    assert dict(regimens.FREQUENCIES) == dict(Frequency.choices)


def test_a_complete_regimen_round_trips_through_the_stored_json():
    doses, found = regimens.parse([{**ANAKINRA_SC, "duration_days": 20}, {**ANAKINRA_SC, "drug": "tocilizumab"}])
    assert found == []
    stored = regimens.to_json(doses)
    assert stored[0] == {**ANAKINRA_SC, "duration_days": 20}
    assert stored[1] == {**ANAKINRA_SC, "drug": "tocilizumab"}  # no duration: the key is left out
    assert regimens.from_json(stored) == doses
    assert doses[0].text == "Anakinra 100 mg subcutaneous, twice daily (every 12 h), 20 days"


@pytest.mark.parametrize(
    ("change", "path", "code"),
    [
        ({"route": None}, "regimen[0].route", "required"),
        ({"route": ""}, "regimen[0].route", "required"),
        ({"route": "inhaled"}, "regimen[0].route", "unknown"),
        ({"drug": "aspirin"}, "regimen[0].drug", "unknown"),
        ({"unit": "g"}, "regimen[0].unit", "unknown"),
        ({"frequency": "q4h"}, "regimen[0].frequency", "unknown"),
        ({"dose": 0}, "regimen[0].dose", "not_positive"),
        ({"dose": -5}, "regimen[0].dose", "not_positive"),
        # anakinra at most 1000 mg or 10 mg/kg per dose: the one dose table (cohorts/limits.py DOSE_MAXIMA)
        ({"dose": 1001}, "regimen[0].dose", "implausible"),
        ({"dose": 10.5, "unit": "mg/kg"}, "regimen[0].dose", "implausible"),
        ({"dose": "abc"}, "regimen[0].dose", "not_a_number"),
        ({"dose": True}, "regimen[0].dose", "not_a_number"),
        ({"dose": float("nan")}, "regimen[0].dose", "not_a_number"),
        ({"dose": 2.555}, "regimen[0].dose", "too_precise"),
        ({"dose": None}, "regimen[0].dose", "required"),
        ({"duration_days": 0}, "regimen[0].duration_days", "range"),
        ({"duration_days": 2.5}, "regimen[0].duration_days", "not_a_number"),
        ({"dosage": 100}, "regimen[0]", "unknown_key"),
    ],
)
def test_what_a_regimen_entry_refuses(change, path, code):
    entry = {**ANAKINRA_SC, **change}
    assert problems([entry]) == {path: code}


def test_the_limits_themselves_are_accepted():
    assert problems([{**ANAKINRA_SC, "dose": 1000}, {**ANAKINRA_SC, "drug": "tocilizumab", "dose": 0.25}]) == {}
    assert problems([{**ANAKINRA_SC, "dose": 10, "unit": "mg/kg"}]) == {}
    assert problems([{**ANAKINRA_SC, "drug": "antibiotic", "dose": 8000}]) == {}


def test_one_entry_per_drug_and_every_problem_at_once():
    found = problems([ANAKINRA_SC, {**ANAKINRA_SC, "dose": 200}, {"drug": "anakinra"}])
    assert found["regimen[1].drug"] == "duplicate"
    assert {"regimen[2].dose", "regimen[2].unit", "regimen[2].route", "regimen[2].frequency"} <= set(found)


def test_the_message_names_the_field_and_what_is_allowed():
    (problem,) = regimens.parse([{**ANAKINRA_SC, "route": None}], path="arms[1].regimen")[1]
    assert str(problem) == "arms[1].regimen[0].route: required: one of oral, sc, iv"


def test_regimens_stored_before_the_module_still_read_and_still_check_the_dose():
    """The demo's regimens (and those of existing studies) have no duration; they read as they are, pass the
    strict checks, and the drug form's soft dose and route check still compares with them."""
    for arm in MILAN_ARMS:
        doses, found = regimens.parse(arm["regimen"])
        assert found == []
        assert regimens.to_json(doses) == arm["regimen"]  # written back unchanged
    high_dose = next(arm for arm in MILAN_ARMS if arm["code"] == "high_dose")
    stored = regimens.to_json(regimens.parse(high_dose["regimen"])[0])
    facts = PatientFacts(follow_up_days=21, weight_kg=Decimal(70), regimen=tuple(stored))
    taper = {"drug": "anakinra", "dose": Decimal(100), "dose_unit": "mg", "route": "sc", "frequency": "bid"}
    codes = {i.code for i in drug_administration({**taper, "study_day": 5}, facts)}
    assert {"dose.regimen", "route.regimen"} <= codes
    assert checks.check_regimen("anakinra", 5, "mg/kg", "iv", stored[0]) == []


def test_an_incomplete_old_entry_is_read_not_refused():
    (dose,) = regimens.from_json([{"drug": "anakinra", "dose": "100", "route": "sc"}, "junk"])
    assert (dose.drug, dose.dose, dose.unit, dose.frequency) == ("anakinra", Decimal(100), None, None)
    assert regimens.from_json(None) == []
