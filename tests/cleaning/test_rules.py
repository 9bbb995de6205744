"""Each data-quality rule on small frames (cleaning/rules.py, no database): what it finds and what it does not, and
a rule that names something the form catalogue does not have is refused with what is wrong."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from cleaning import rules
from cohorts.limits import Jump
from ecrf.crfs import CATALOGUE

TODAY = 30  # the study day today is at the site: every day of a 21-day follow-up is past


def patients(*ids, follow_up=21, today=TODAY, arm=1, weight=80.0) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "follow_up_days": follow_up,
            "today_day": float(today),
            "weight_kg": weight,
            "arm": arm,
            "enrolment_date": datetime.date(2020, 3, 17),
            "site_name": "Milan",
        },
        index=pd.Index(ids or (1,), name="patient_id"),
    )


def form(key: str, *rows: dict) -> pd.DataFrame:
    """A form's records: the given values, every other field missing."""
    crf = CATALOGUE[key]
    columns = ["patient_id", "study_day", *(f for f in crf.fields if f != "study_day"), "confirmed_checks"]
    if not crf.per_day:
        columns.append("record_id")
    frame = pd.DataFrame(list(rows), columns=columns)
    for name in crf.fields:
        numbers = frame[name].dropna().map(lambda v: isinstance(v, int | float) and not isinstance(v, bool))
        if numbers.all():
            frame[name] = frame[name].astype(float)
    return frame.astype({"patient_id": np.int64, "study_day": np.int64})


def forms(**given: pd.DataFrame) -> dict[str, pd.DataFrame]:
    return {key: given.get(key, form(key)) for key in CATALOGUE}


def hits(records, people=None, regimens=None, **options) -> pd.DataFrame:
    people = rules.with_disposition_days(people if people is not None else patients(1), records["disposition_events"])
    return rules.find_hits(records, people, regimens or {}, **options)


def keys(found: pd.DataFrame, rule: str) -> list[tuple]:
    rows = found.loc[found["rule"] == rule]
    return sorted(zip(rows["patient_id"], rows["study_day"], rows["form"], rows["field"], strict=True))


def daily(patient=1, days=range(22), **values) -> list[dict]:
    return [{"patient_id": patient, "study_day": day, **values} for day in days]


def complete(**given) -> dict[str, pd.DataFrame]:
    """Every one-per-day form entered every day of patient 1's follow-up (no missing-form hits), plus ``given``."""
    base = {
        "vital_signs": form("vital_signs", *daily(spo2_pct=95)),
        "respiratory_support": form("respiratory_support", *daily(support="room_air")),
        "laboratory": form("laboratory", *daily(crp_mg_l=50.0)),
    }
    return forms(**{**base, **given})


# ------------------------------------------------------------------------------------------ edit checks


def test_complete_plausible_data_give_no_hit():
    assert hits(complete()).empty


def test_a_soft_value_is_a_hit_unless_the_record_confirmed_it():
    soft = daily(days=[4], spo2_pct=95, temperature_c=41.5)
    found = hits(
        complete(
            vital_signs=form(
                "vital_signs", *daily(days=range(4), spo2_pct=95), *soft, *daily(days=range(5, 22), spo2_pct=95)
            )
        )
    )
    assert keys(found, "check.temperature_c.soft_high") == [(1, 4, "vital_signs", "temperature_c")]
    confirmed = [{**soft[0], "confirmed_checks": json.dumps(["temperature_c.soft_high"])}]
    vitals = form("vital_signs", *daily(days=range(4), spo2_pct=95), *confirmed, *daily(days=range(5, 22), spo2_pct=95))
    assert keys(hits(complete(vital_signs=vitals)), "check.temperature_c.soft_high") == []


def test_a_value_outside_a_changed_limit_and_a_cross_field_rule():
    labs = form(
        "laboratory",
        *daily(days=range(21), crp_mg_l=50.0),
        {"patient_id": 1, "study_day": 21, "crp_mg_l": 1200.0, "ddimer_ng_ml": 800.0},
    )
    found = hits(complete(laboratory=labs))
    assert keys(found, "check.crp_mg_l.hard_max") == [(1, 21, "laboratory", "crp_mg_l")]
    assert keys(found, "check.ddimer_basis.required") == [(1, 21, "laboratory", "ddimer_basis")]


def test_repeating_forms_are_checked_with_the_patients_facts():
    drugs = form(
        "drug_administration",
        {
            "patient_id": 1,
            "study_day": 2,
            "drug": "antibiotic",
            "drug_detail": "",
            "dose": 1000.0,
            "dose_unit": "mg",
            "route": "iv",
            "frequency": "bid",
            "record_id": 7,
        },
        {
            "patient_id": 1,
            "study_day": 2,
            "drug": "anakinra",
            "drug_detail": "",
            "dose": 100.0,
            "dose_unit": "mg",
            "route": "sc",
            "frequency": "bid",
            "record_id": 8,
        },
    )
    regimen = {1: ({"drug": "anakinra", "dose": 5, "unit": "mg/kg", "route": "iv"},)}
    found = hits(complete(drug_administration=drugs), regimens=regimen)
    assert keys(found, "check.drug_detail.required") == [(1, 2, "drug_administration", "drug_detail")]
    assert keys(found, "check.dose.regimen") == [(1, 2, "drug_administration", "dose")]
    assert keys(found, "check.route.regimen") == [(1, 2, "drug_administration", "route")]
    assert found.loc[found["rule"] == "check.route.regimen", "record_id"].tolist() == [8.0]


def test_the_rules_read_every_field_but_the_units_values_were_typed_in():
    assert set(CATALOGUE["laboratory"].fields) - set(rules.fields_read(CATALOGUE["laboratory"])) == {
        "pao2_entered_unit",
        "crp_entered_unit",
    }
    assert rules.fields_read(CATALOGUE["respiratory_support"]) == CATALOGUE["respiratory_support"].fields


def utc(text: str) -> pd.Timestamp:
    return pd.Timestamp(text, tz="UTC")


def new_york(*ids, now="2020-04-20 12:00") -> pd.DataFrame:
    """Patients of a New York site enrolled on 17 March 2020 (day 0; daylight time, UTC-4, from 8 March)."""
    people = patients(*ids)
    people["time_zone"] = "America/New_York"
    people["now"] = utc(now)
    return people


def test_times_are_checked_on_their_study_day_at_the_site_and_against_now():
    drug = {"patient_id": 1, "drug": "anakinra", "dose": 100.0, "dose_unit": "mg", "route": "sc", "frequency": "q6h"}
    drugs = form(
        "drug_administration",
        # 22:30 in New York on 19 March (day 2) is 02:30 UTC on 20 March: day 2 at the site, no hit.
        {**drug, "study_day": 2, "started_at": utc("2020-03-20 02:30"), "record_id": 1},
        {**drug, "study_day": 3, "started_at": utc("2020-03-20 02:30"), "record_id": 2},
        # A stop time without its stop day; a stop time at the start time.
        {
            **drug,
            "study_day": 4,
            "started_at": utc("2020-03-21 14:00"),
            "stopped_at": utc("2020-03-21 18:00"),
            "record_id": 3,
        },
        {
            **drug,
            "study_day": 5,
            "stop_day": 5,
            "started_at": utc("2020-03-22 14:00"),
            "stopped_at": utc("2020-03-22 14:00"),
            "record_id": 4,
        },
        # After now (12:00 UTC on 20 April, day 34): in the future.
        {**drug, "study_day": 20, "started_at": utc("2020-04-20 12:01"), "record_id": 5},
    )
    found = hits(complete(drug_administration=drugs), new_york(1, now="2020-04-20 12:00"))
    assert keys(found, "check.started_at.other_day") == [(1, 3, "drug_administration", "started_at")]
    assert keys(found, "check.stop_day.required") == [(1, 4, "drug_administration", "stop_day")]
    assert keys(found, "check.stopped_at.before_start") == [(1, 5, "drug_administration", "stopped_at")]
    assert keys(found, "check.started_at.future") == [(1, 20, "drug_administration", "started_at")]
    assert keys(hits(complete(drug_administration=drugs)), "check.started_at.other_day") == []  # no zone: not applied


def test_times_after_the_moment_of_death():
    events = form(
        "disposition_events",
        {
            "patient_id": 1,
            "study_day": 5,
            "kind": "death",
            "cause_of_death": "ARDS",
            "occurred_at": utc("2020-03-22 15:00"),
        },
    )
    episodes = form(
        "ventilation_episodes",
        {"patient_id": 1, "study_day": 5, "intubated_at": utc("2020-03-22 16:00"), "record_id": 1},
    )
    people = rules.with_disposition_days(new_york(1), events)
    assert people.loc[1, "death_at"] == utc("2020-03-22 15:00")
    found = hits(complete(disposition_events=events, ventilation_episodes=episodes), new_york(1))
    assert keys(found, "check.intubated_at.after_death") == [(1, 5, "ventilation_episodes", "intubated_at")]
    assert keys(found, "check.occurred_at.after_death") == []  # the death itself


def test_the_rules_of_a_ventilation_episode():
    episodes = form(
        "ventilation_episodes",
        {"patient_id": 1, "study_day": 3, "end_day": 2, "end_reason": "extubated", "record_id": 1},
        {"patient_id": 1, "study_day": 8, "end_day": 9, "record_id": 2},
        {"patient_id": 1, "study_day": 12, "end_reason": "transferred", "record_id": 3},
        {
            "patient_id": 1,
            "study_day": 14,
            "end_day": 14,
            "end_reason": "extubated",
            "intubated_at": utc("2020-03-31 14:00"),
            "ended_at": utc("2020-03-31 13:00"),
            "record_id": 4,
        },
    )
    found = hits(complete(ventilation_episodes=episodes), new_york(1))
    assert keys(found, "check.end_day.before_start") == [(1, 3, "ventilation_episodes", "end_day")]
    assert keys(found, "check.end_reason.required") == [(1, 8, "ventilation_episodes", "end_reason")]
    assert keys(found, "check.end_day.required") == [(1, 12, "ventilation_episodes", "end_day")]
    assert keys(found, "check.ended_at.before_start") == [(1, 14, "ventilation_episodes", "ended_at")]


def test_overlapping_ventilation_episodes_are_one_query_each():
    episodes = form(
        "ventilation_episodes",
        # Patient 1: days 2-5, then a re-intubation on day 4 (overlap), then one after an ongoing episode.
        {"patient_id": 1, "study_day": 2, "end_day": 5, "end_reason": "extubated", "record_id": 1},
        {"patient_id": 1, "study_day": 4, "end_day": 6, "end_reason": "extubated", "record_id": 2},
        {"patient_id": 1, "study_day": 10, "record_id": 3},
        {"patient_id": 1, "study_day": 12, "end_day": 13, "end_reason": "extubated", "record_id": 4},
        # Patient 2: extubated and re-intubated on day 3 (without times: by the days), then on day 5 at 12:00 and
        # 14:00 (by the times): no overlap.
        {"patient_id": 2, "study_day": 1, "end_day": 3, "end_reason": "extubated", "record_id": 5},
        {
            "patient_id": 2,
            "study_day": 3,
            "end_day": 5,
            "end_reason": "extubated",
            "ended_at": utc("2020-03-22 12:00"),
            "record_id": 6,
        },
        {"patient_id": 2, "study_day": 5, "intubated_at": utc("2020-03-22 14:00"), "record_id": 7},
        # Patient 3: re-intubated at 10:00 on day 3, before the extubation of 12:00 that day.
        {
            "patient_id": 3,
            "study_day": 1,
            "end_day": 3,
            "end_reason": "extubated",
            "ended_at": utc("2020-03-20 12:00"),
            "record_id": 8,
        },
        {"patient_id": 3, "study_day": 3, "intubated_at": utc("2020-03-20 10:00"), "record_id": 9},
    )
    records = forms(ventilation_episodes=episodes)
    people = patients(1, 2, 3)
    found = hits(records, people)
    assert keys(found, "episode_overlap") == [
        (1, 2, "ventilation_episodes", ""),
        (1, 4, "ventilation_episodes", ""),
        (1, 10, "ventilation_episodes", ""),
        (1, 12, "ventilation_episodes", ""),
        (3, 1, "ventilation_episodes", ""),
        (3, 3, "ventilation_episodes", ""),
    ]
    texts = {
        hit["study_day"]: rules.describe(hit, records, people, {})
        for _, hit in found.loc[found["rule"] == "episode_overlap"].iterrows()
        if hit["patient_id"] == 1
    }
    assert texts[2] == (
        "",
        "Ventilation episode, study day 2: This episode overlaps the episode of study days 4 to 6: a re-intubation "
        "starts after the end of the previous episode. Please correct the days or times of the episodes from the "
        "source.",
    )
    assert "The episode from study day 10 has no end yet" in texts[12][1]


# ------------------------------------------------------------------------------------------ missing forms


def test_gaps_and_trailing_missing_days_are_disjoint():
    vitals = form("vital_signs", *daily(days=[0, 1, 4, 5], spo2_pct=95))
    found = hits(complete(vital_signs=vitals))
    assert keys(found, "series_gap") == [(1, 2, "vital_signs", ""), (1, 3, "vital_signs", "")]
    assert [day for _, day, *_ in keys(found, "missing_past_due")] == list(range(6, 22))


def test_leading_missing_days_are_past_due_not_gaps():
    found = hits(complete(vital_signs=form("vital_signs", *daily(days=range(3, 22), spo2_pct=95))))
    assert [day for _, day, *_ in keys(found, "missing_past_due")] == [0, 1, 2] and keys(found, "series_gap") == []


def test_a_missing_day_waits_for_the_grace_period():
    """Today is day 10: the form of day 9 is due tonight; with 2 days' grace day 7 is the last one queried."""
    found = hits(forms(), patients(1, today=10), grace=2)
    assert [day for _, day, form, _ in keys(found, "missing_past_due") if form == "laboratory"] == list(range(8))


def test_no_form_is_required_after_discharge_or_from_the_day_of_death():
    events = form(
        "disposition_events",
        {"patient_id": 1, "study_day": 3, "kind": "discharged", "normal_activities": True, "record_id": 1},
        {"patient_id": 2, "study_day": 2, "kind": "death", "cause_of_death": "ARDS", "record_id": 2},
    )
    found = hits(forms(disposition_events=events), patients(1, 2))
    due = keys(found, "missing_past_due")
    assert {day for p, day, form, _ in due if p == 1 and form == "vital_signs"} == {0, 1, 2, 3}
    assert {day for p, day, form, _ in due if p == 2 and form == "vital_signs"} == {0, 1}


# ------------------------------------------------------------------------------------------ death, P/F, jumps


def test_data_after_death_is_one_query_per_form_and_day():
    events = form(
        "disposition_events", {"patient_id": 1, "study_day": 5, "kind": "death", "cause_of_death": "x", "record_id": 1}
    )
    vitals = form("vital_signs", *daily(days=range(8), spo2_pct=95))
    found = hits(complete(vital_signs=vitals, disposition_events=events))
    expected = [(1, day, "vital_signs", "") for day in (6, 7)]
    expected += [(1, day, form, "") for form in ("laboratory", "respiratory_support") for day in range(6, 22)]
    assert keys(found, "after_death") == sorted(expected)


def test_spo2_without_fio2_cannot_give_a_pf():
    support = form(
        "respiratory_support",
        *daily(days=range(20), support="room_air"),
        {"patient_id": 1, "study_day": 20, "support": "nasal_cannula"},  # no flow: no estimate
    )  # day 21: no support recorded at all
    found = hits(complete(respiratory_support=support))
    assert keys(found, "not_derivable.pf") == [
        (1, 20, "respiratory_support", "fio2"),
        (1, 21, "respiratory_support", "fio2"),
    ]
    with_flow = form("respiratory_support", *daily(support="nasal_cannula", flow_l_min=2.0))
    assert keys(hits(complete(respiratory_support=with_flow)), "not_derivable.pf") == []


@pytest.mark.parametrize(
    ("jump", "before", "after", "jumped"),
    [
        (Jump("temperature_c", max_change=3), 36.5, 39.5, False),  # exactly 3 degC
        (Jump("temperature_c", max_change=3), 38.1, 35.1, False),  # 3.0000000000000036 as floats
        (Jump("temperature_c", max_change=3), 36.5, 39.6, True),
        (Jump("crp_mg_l", max_ratio=10, ratio_floor=10), 2.0, 90.0, False),  # counted as 10 -> 90
        (Jump("crp_mg_l", max_ratio=10, ratio_floor=10), 12.0, 130.0, True),
        (Jump("crp_mg_l", max_ratio=10, ratio_floor=10), 400.0, 35.0, True),
        (Jump("crp_mg_l", max_ratio=10, ratio_floor=10), 400.0, np.nan, False),
    ],
)
def test_jump_thresholds(jump, before, after, jumped):
    assert rules.jumped(jump, np.array([before]), np.array([after])).tolist() == [jumped]


def test_a_jump_needs_consecutive_days_of_the_same_patient():
    vitals = form(
        "vital_signs",
        *daily(days=range(22), spo2_pct=95),
    )
    vitals.loc[vitals["study_day"] == 4, "heart_rate_bpm"] = 70.0
    vitals.loc[vitals["study_day"] == 5, "heart_rate_bpm"] = 140.0  # +70/min in a day
    vitals.loc[vitals["study_day"] == 8, "heart_rate_bpm"] = 60.0  # day 7 has none: not consecutive
    found = hits(complete(vital_signs=vitals.sample(frac=1, random_state=3)))  # any row order
    assert keys(found, "jump.heart_rate_bpm") == [(1, 5, "vital_signs", "heart_rate_bpm")]


# ------------------------------------------------------------------------------------------ definitions and texts


def test_a_rule_naming_a_form_or_field_that_does_not_exist_is_refused():
    with pytest.raises(rules.RuleDefinitionError, match="names the field 'weight', which the form 'vital_signs'"):
        rules.validate([rules.Rule("check.weight.soft_high", "Weight", ("vital_signs",), "weight")], CATALOGUE)
    with pytest.raises(rules.RuleDefinitionError, match="names the form 'blood_gas', which the form catalogue"):
        rules.validate([rules.Rule("jump.pao2", "PaO2", ("blood_gas",), "pao2_mmhg")], CATALOGUE)
    with pytest.raises(rules.RuleDefinitionError, match="names no form"):
        rules.validate([rules.Rule("jump.weight_kg", "Weight", ("",), "weight_kg")], CATALOGUE)
    with pytest.raises(rules.RuleDefinitionError, match="1 to 48 characters"):
        rules.validate([rules.Rule("x" * 49, "Too long", ("vital_signs",))], CATALOGUE)
    rules.validate(rules.RULES.values(), CATALOGUE)  # the rules in force are valid (also checked at import)


def test_a_jump_on_a_variable_no_daily_form_holds_names_no_form(monkeypatch):
    monkeypatch.setattr(rules, "JUMPS", (Jump("weight_kg", max_change=10),))
    with pytest.raises(rules.RuleDefinitionError, match=r"'jump\.weight_kg' names no form"):
        rules.validate(list(rules._other_rules()), CATALOGUE)


def test_texts_name_the_value_in_plain_words():
    vitals = form(
        "vital_signs",
        *daily(days=range(21), spo2_pct=95),
        {"patient_id": 1, "study_day": 21, "spo2_pct": 95, "temperature_c": 31.0},
    )
    records = complete(vital_signs=vitals)
    people = rules.with_disposition_days(patients(1), records["disposition_events"])
    found = hits(records)
    hit = found.loc[found["rule"] == "check.temperature_c.hard_min"].iloc[0]
    value, text = rules.describe(hit, records, people, {})
    assert value == "31"
    assert text == (
        "Vital signs, study day 21: Temperature 31 degC is below the plausible minimum of 32 degC. "
        "Please correct it on the form, from the source."
    )
    assert rules.cleared_text("check.temperature_c.hard_min") == (
        "The condition cleared: the data-quality rule 'Temperature below its plausible minimum' no longer finds it."
    )


def test_the_data_manager_guide_explains_every_rule():
    guide = (Path(__file__).resolve().parents[2] / "docs" / "data-manager.md").read_text()
    section = guide[guide.index("## Data-quality rules") :]
    for code in rules.RULES:
        if not code.startswith("check.") or code.startswith("check.study_day."):
            assert f"`{code}`" in section, code
    assert "`check.<field>.<rule>`" in section
