"""The rules of missing-data codes and of a form marked not done (clinical definitions §2.2), on plain values through
the catalogue (ecrf/crfs.py), as the forms and the services call them."""

from decimal import Decimal

import pytest
from django.db.models import Q

from ecrf.crfs import CATALOGUE, DAY_FORMS
from ecrf.validators import PatientFacts

FACTS = PatientFacts(follow_up_days=21, weight_kg=Decimal(80))
VITALS, SUPPORT, LABS = (CATALOGUE[key] for key in ("vital_signs", "respiratory_support", "laboratory"))


def found(crf, values, *, codes=None, not_done=None) -> dict[str, list[str]]:
    """field -> codes of the issues of one record."""
    out: dict[str, list[str]] = {}
    for issue in crf.issues(values, FACTS, missing_codes=codes, not_done_reason=not_done):
        out.setdefault(issue.field, []).append(issue.code)
    return out


def messages(crf, values, *, codes=None, not_done=None) -> list[str]:
    return [i.message for i in crf.issues(values, FACTS, missing_codes=codes, not_done_reason=not_done)]


def test_codes_stand_instead_of_values_and_pass():
    assert found(VITALS, {"temperature_c": Decimal("37.5")}, codes={"spo2_pct": "not_done"}) == {}
    assert found(LABS, {}, codes={"ldh_u_l": "unknown", "procalcitonin_ng_ml": "not_applicable"}) == {}


def test_a_code_that_is_not_a_missing_data_code_is_refused_next_to_its_field():
    assert found(VITALS, {}, codes={"spo2_pct": "refused"}) == {"spo2_pct": ["missing_codes.invalid"]}
    assert messages(VITALS, {}, codes={"spo2_pct": "refused"}) == [
        "'refused' is not a missing-data code of SpO2: use not_done, unknown, not_applicable."
    ]


def test_a_code_on_a_field_that_is_not_a_value_of_the_form_is_refused_naming_it():
    assert found(LABS, {"crp_mg_l": Decimal(5)}, codes={"ast_uln_u_l": "unknown"}) == {
        "missing_codes": ["missing_codes.not_allowed"]
    }
    (message,) = messages(LABS, {"crp_mg_l": Decimal(5)}, codes={"ast_uln_u_l": "unknown"})
    assert message == (
        "AST upper limit of normal (ast_uln_u_l) takes no missing-data code: it is not a value of this form."
    )
    (message,) = messages(VITALS, {}, codes={"weight_kg": "unknown"})
    assert message == "weight_kg takes no missing-data code: it is not a value of this form."


def test_the_respiratory_support_level_takes_no_code_the_form_is_marked_not_done_instead():
    assert found(SUPPORT, {}, codes={"support": "unknown"}) == {"missing_codes": ["missing_codes.not_allowed"]}
    (message,) = messages(SUPPORT, {}, codes={"support": "unknown"})
    assert message.endswith("takes no missing-data code: give its value, or mark the whole form not done.")
    # A yes/no box is ticked or not: no code either.
    assert found(SUPPORT, {"support": "room_air"}, codes={"ecmo": "unknown"}) == {
        "missing_codes": ["missing_codes.not_allowed"]
    }


def test_a_value_and_a_code_on_the_same_field_are_refused_next_to_that_field():
    assert found(VITALS, {"spo2_pct": 94}, codes={"spo2_pct": "not_done"}) == {"spo2_pct": ["spo2_pct.value_and_code"]}
    assert messages(VITALS, {"spo2_pct": 94}, codes={"spo2_pct": "not_done"}) == [
        "Give a value or a missing-data code, not both."
    ]


def test_a_record_of_codes_only_still_needs_the_level_of_support():
    """Stored, it would be a respiratory-support record without a level: only a form marked not done has none."""
    assert found(SUPPORT, {}, codes={"fio2": "unknown"}) == {"support": ["support.required"]}
    assert messages(SUPPORT, {}, codes={"fio2": "unknown"}) == [
        "Choose the highest level of respiratory support of the day."
    ]
    assert found(SUPPORT, {"support": "hfnc", "fio2": Decimal("0.5")}, codes={"flow_l_min": "unknown"}) == {}


def test_a_coded_value_required_by_a_rule_is_still_asked_for():
    """A code is not a value: a Venturi mask still needs its FiO2."""
    issues = found(SUPPORT, {"support": "venturi", "flow_l_min": Decimal(8)}, codes={"fio2": "unknown"})
    assert issues == {"fio2": ["fio2.required"]}


def test_a_form_marked_not_done_with_a_reason_passes():
    for crf in DAY_FORMS.values():
        assert found(crf, {}, not_done="patient off the ward") == {}, crf.key


def test_a_form_marked_not_done_holds_no_value_and_no_code():
    values = {"temperature_c": Decimal("37.1"), "heart_rate_bpm": 80}
    assert found(VITALS, values, codes={"spo2_pct": "unknown"}, not_done="no time") == {
        "not_done_reason": ["not_done_reason.with_values"]
    }
    assert messages(VITALS, values, codes={"spo2_pct": "unknown"}, not_done="no time") == [
        "A form marked not done holds no value and no code: clear the value of temperature and heart rate and the "
        "missing-data code of SpO2, or untick 'Not done this day'."
    ]
    # A box not ticked, a unit, the site's upper limit of normal are no values.
    assert found(SUPPORT, {"ecmo": False, "prone": False}, not_done="x") == {}
    assert found(LABS, {"pao2_entered_unit": "mmHg", "ast_uln_u_l": Decimal(40)}, not_done="x") == {}


def test_a_form_marked_not_done_needs_its_reason():
    assert found(VITALS, {}, not_done="") == {"not_done_reason": ["not_done_reason.required"]}
    assert found(VITALS, {}, not_done="   ") == {"not_done_reason": ["not_done_reason.required"]}
    assert messages(VITALS, {}, not_done="") == [
        "Give the reason the form was not done this day (e.g. 'no blood sample taken')."
    ]


def test_a_repeating_form_is_never_marked_not_done():
    values = {"study_day": 2, "kind": "other", "description": "rash"}
    assert found(CATALOGUE["adverse_events"], values, not_done="x") == {
        "not_done_reason": ["not_done_reason.not_daily"]
    }


def test_a_repeating_form_codes_its_optional_values():
    drug = {"study_day": 0, "drug": "anakinra", "dose": Decimal(100), "dose_unit": "mg", "route": "sc"}
    assert found(CATALOGUE["drug_administration"], {**drug, "frequency": "bid"}, codes={"stop_day": "unknown"}) == {}
    assert found(CATALOGUE["drug_administration"], drug, codes={"frequency": "unknown"}) == {
        "missing_codes": ["missing_codes.not_allowed"]
    }


def test_codes_and_the_mark_make_a_record_that_is_not_empty():
    assert VITALS.is_empty({"temperature_c": None})
    assert not VITALS.is_empty({}, {"spo2_pct": "unknown"})
    assert not VITALS.is_empty({}, not_done_reason="off the ward")
    assert not VITALS.is_empty({}, not_done_reason="")  # marked without a reason: checked (and refused), not dropped


def test_which_values_take_a_code():
    assert VITALS.code_fields == VITALS.value_fields
    assert SUPPORT.code_fields == ("flow_l_min", "fio2", "peep_cmh2o", "niv_hours")
    assert "ast_uln_u_l" not in LABS.code_fields and "ldh_u_l" in LABS.code_fields
    assert CATALOGUE["drug_administration"].code_fields == ("started_at", "drug_detail", "stop_day", "stopped_at")
    assert CATALOGUE["disposition_events"].code_fields == (
        "occurred_at",
        "normal_activities",
        "alive",
        "cause_of_death",
    )
    assert CATALOGUE["ventilation_episodes"].code_fields == ("intubated_at", "end_day", "ended_at", "end_reason")
    assert CATALOGUE["adverse_events"].code_fields == ("organism", "description")


def _named(condition: Q) -> set[str]:
    """The field names a constraint's condition mentions."""
    names = set()
    for child in condition.children:
        if isinstance(child, Q):
            names |= _named(child)
        else:
            lookup, value = child
            field = lookup.split("__")[0]
            names.add(value if lookup.endswith("has_key") else field)
    return names


@pytest.mark.parametrize("crf", CATALOGUE.values(), ids=list(CATALOGUE))
def test_the_database_constraints_cover_the_catalogue_fields(crf):
    """The models list the fields of their missing-data constraints themselves (ecrf may not build models from the
    catalogue); they must be the catalogue's."""
    coded = next(c for c in crf.model._meta.constraints if c.name.endswith("_coded_fields_empty"))
    assert _named(coded.condition) - {"missing_codes"} == set(crf.code_fields)
    if crf.per_day:
        holds_nothing = next(c for c in crf.model._meta.constraints if c.name.endswith("_not_done_holds_nothing"))
        assert _named(holds_nothing.condition) - {"missing_codes", "not_done_reason"} == set(crf.value_fields)
