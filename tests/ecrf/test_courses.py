"""Per-patient courses of the New York protocol (clinical definitions §1.2, §3.4): time from the oxygen criterion to the
first anakinra dose, invasive-ventilation episodes, ventilator-free and ICU-free days, response and failure.

Expected values are worked out by hand from the clinical definitions (clock times at the site, study days from the
enrolment date), never read back from ``ecrf.courses``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ecrf.courses import COURSE_COLUMNS, derive_courses
from ecrf.derivations import DEFAULT_SETTINGS, resolve_settings, settings_problems

NAN = math.nan
NEW_YORK = "America/New_York"
ROME = "Europe/Rome"
PATIENT_COLUMNS = ["patient_id", "enrolment_date", "time_zone", "oxygen_criterion_at"]
DRUG_COLUMNS = ["patient_id", "drug", "study_day", "stop_day", "started_at", "stopped_at"]
EPISODE_COLUMNS = ["patient_id", "study_day", "end_day", "intubated_at", "ended_at", "end_reason"]
EVENT_COLUMNS = ["patient_id", "study_day", "kind", "occurred_at"]
SUPPORT_COLUMNS = ["patient_id", "study_day", "support", "flow_l_min_f"]
TIME_COLUMNS = ("oxygen_criterion_at", "started_at", "stopped_at", "intubated_at", "ended_at", "occurred_at")


def at(local: str | None, zone: str = NEW_YORK) -> pd.Timestamp | None:
    """A wall-clock time at the site, as stored (UTC)."""
    return None if local is None else pd.Timestamp(local, tz=zone).tz_convert("UTC")


def patient(
    patient_id: int = 1, enrolment: str = "2020-04-01", criterion: str | None = None, zone: str = NEW_YORK
) -> dict[str, Any]:
    return {
        "patient_id": patient_id,
        "enrolment_date": pd.Timestamp(enrolment),
        "time_zone": zone,
        "oxygen_criterion_at": at(criterion, zone),
    }


def drug(
    day: int, started: str | None = None, patient_id: int = 1, code: str = "anakinra", zone: str = NEW_YORK
) -> dict[str, Any]:
    return {
        "patient_id": patient_id,
        "drug": code,
        "study_day": day,
        "stop_day": NAN,
        "started_at": at(started, zone),
        "stopped_at": None,
    }


def episode(
    day: int,
    end_day: float = NAN,
    intubated: str | None = None,
    ended: str | None = None,
    reason: str = "",
    patient_id: int = 1,
) -> dict[str, Any]:
    return {
        "patient_id": patient_id,
        "study_day": day,
        "end_day": end_day,
        "intubated_at": at(intubated),
        "ended_at": at(ended),
        "end_reason": reason,
    }


def event(day: int, kind: str, occurred: str | None = None, patient_id: int = 1) -> dict[str, Any]:
    return {"patient_id": patient_id, "study_day": day, "kind": kind, "occurred_at": at(occurred)}


def sup(day: int, support: str, flow: float = NAN, patient_id: int = 1) -> dict[str, Any]:
    return {"patient_id": patient_id, "study_day": day, "support": support, "flow_l_min_f": flow}


def frame(rows: Iterable[Mapping[str, Any]], columns: list[str]) -> pd.DataFrame:
    """A source frame as the caller builds it: times datetime64[ns, UTC] (NaT when unknown), even when empty."""
    built = pd.DataFrame(list(rows), columns=columns)
    for column in TIME_COLUMNS:
        if column in built:
            built[column] = pd.to_datetime(built[column], utc=True).astype("datetime64[ns, UTC]")
    if "enrolment_date" in built:
        built["enrolment_date"] = pd.to_datetime(built["enrolment_date"]).astype("datetime64[ns]")
    return built


def courses(
    patients: Iterable[Mapping[str, Any]] = (),
    drugs: Iterable[Mapping[str, Any]] = (),
    episodes: Iterable[Mapping[str, Any]] = (),
    events: Iterable[Mapping[str, Any]] = (),
    support: Iterable[Mapping[str, Any]] = (),
    settings: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    return derive_courses(
        frame(patients, PATIENT_COLUMNS),
        frame(drugs, DRUG_COLUMNS),
        frame(episodes, EPISODE_COLUMNS),
        frame(events, EVENT_COLUMNS),
        frame(support, SUPPORT_COLUMNS),
        settings,
    )


def course(patient_row: Mapping[str, Any] | None = None, **sources: Any) -> pd.Series:
    """The course of one patient (patient 1, enrolled 2020-04-01 in New York unless given)."""
    out = courses([patient_row or patient()], **sources)
    assert len(out) == 1
    return out.iloc[0]


def timing(row: pd.Series) -> tuple[float, str, str]:
    return row["hours_to_anakinra"], row["timing_basis"], row["timing_group"]


# --------------------------------------------------------------------------------------------
# Time from the oxygen criterion to the first anakinra dose
# --------------------------------------------------------------------------------------------


def test_criterion_late_evening_and_first_dose_36_hours_later_is_early():
    row = course(patient(criterion="2020-04-01 22:00"), drugs=[drug(2, "2020-04-03 10:00")])
    assert timing(row) == (36.0, "time", "early")


@pytest.mark.parametrize(
    ("first_dose", "hours", "group"),
    [
        ("2020-04-01 08:00", 0.0, "early"),
        ("2020-04-02 20:00", 36.0, "early"),  # exactly 36 h is early
        ("2020-04-02 20:01", 36.02, "intermediate"),
        ("2020-04-03 00:00", 40.0, "intermediate"),
        ("2020-04-05 07:59", 95.98, "intermediate"),
        ("2020-04-05 08:00", 96.0, "late"),  # exactly 4 days is late
        ("2020-04-10 08:00", 216.0, "late"),
        ("2020-04-01 07:00", -1.0, "early"),  # a first dose before the criterion is early, with negative hours
    ],
)
def test_timing_groups_early_up_to_36_hours_late_from_4_days(first_dose, hours, group):
    first_day = (pd.Timestamp(first_dose).normalize() - pd.Timestamp("2020-04-01")).days
    row = course(patient(criterion="2020-04-01 08:00"), drugs=[drug(first_day, first_dose)])
    assert timing(row) == (hours, "time", group)


def test_hours_are_elapsed_time_across_the_spring_forward_change():
    # Criterion the evening before the US change (2020-03-08 02:00 EST -> 03:00 EDT); dose 37 h later by the wall
    # clock but only 36 h later in elapsed time: early.
    row = course(
        patient(enrolment="2020-03-07", criterion="2020-03-07 21:00"),
        drugs=[drug(2, "2020-03-09 10:00")],
    )
    assert timing(row) == (36.0, "time", "early")


def test_dose_known_only_to_the_day_counts_whole_days_from_the_criterions_local_date():
    # 23:30 in New York is already the next day in UTC; the criterion's day is the local date, day 0.
    row = course(patient(criterion="2020-04-01 23:30"), drugs=[drug(1)])
    assert timing(row) == (24.0, "day", "early")
    row = course(patient(criterion="2020-04-01 08:00"), drugs=[drug(2)])
    assert timing(row) == (48.0, "day", "intermediate")
    row = course(patient(criterion="2020-04-01 08:00"), drugs=[drug(4)])
    assert timing(row) == (96.0, "day", "late")


def test_local_date_of_the_criterion_is_the_sites():
    # 00:30 on 2 April in Rome is still 1 April in UTC: the criterion is on day 1, the dose on day 2 is one day later.
    row = course(
        patient(criterion="2020-04-02 00:30", zone=ROME),
        drugs=[drug(2)],
    )
    assert timing(row) == (24.0, "day", "early")
    row = course(
        patient(criterion="2020-04-02 00:30", zone=ROME),
        drugs=[drug(3, "2020-04-03 12:30", zone=ROME)],
    )
    assert timing(row) == (36.0, "time", "early")


def test_first_dose_is_the_earliest_row_of_a_taper():
    drugs = [
        drug(6, "2020-04-07 09:00"),  # tapered to every 12 h
        drug(3, "2020-04-04 14:00"),  # the first dose, every 6 h
        drug(0, "2020-04-01 09:00", code="tocilizumab"),
    ]
    row = course(patient(criterion="2020-04-01 08:00"), drugs=drugs)
    assert timing(row) == (78.0, "time", "intermediate")


def test_no_anakinra_is_not_treated():
    row = course(patient(criterion="2020-04-01 08:00"), drugs=[drug(1, "2020-04-02 08:00", code="tocilizumab")])
    hours, basis, group = timing(row)
    assert math.isnan(hours) and basis == "" and group == "not_treated"


def test_treated_without_a_criterion_time_is_unknown():
    row = course(patient(criterion=None), drugs=[drug(1, "2020-04-02 08:00")])
    hours, basis, group = timing(row)
    assert math.isnan(hours) and basis == "" and group == "unknown"


def test_study_settings_move_the_timing_groups():
    criterion = patient(criterion="2020-04-01 08:00")
    forty = [drug(2, "2020-04-03 00:00")]
    eighty = [drug(4, "2020-04-04 16:00")]
    assert course(criterion, drugs=forty)["timing_group"] == "intermediate"
    assert course(criterion, drugs=eighty)["timing_group"] == "intermediate"
    settings = {"timing_early_max_hours": 48, "timing_late_min_hours": 72.0}
    assert courses([criterion], drugs=forty, settings=settings).iloc[0]["timing_group"] == "early"
    assert courses([criterion], drugs=eighty, settings=settings).iloc[0]["timing_group"] == "late"


# --------------------------------------------------------------------------------------------
# Invasive ventilation and ventilator-free days
# --------------------------------------------------------------------------------------------

REINTUBATED = [
    episode(5, 12, "2020-04-06 08:00", "2020-04-13 08:00", "extubated"),
    episode(13, 20, reason="extubated"),  # re-intubation known only to the day
]


def test_reintubation_counts_a_failed_extubation_and_both_episodes():
    row = course(episodes=REINTUBATED)
    assert row["imv_episodes"] == 2
    assert row["failed_extubations"] == 1
    assert row["extubated"] and not row["imv_ongoing"]
    assert row["imv_days"] == 14.0  # 7 + 7
    assert row["imv_days_basis"] == "day"
    assert row["ventilator_free_days"] == 14.0  # 28 - 14
    assert row["ny_failure"] and not row["ny_response"]


def test_episodes_with_recorded_times_have_exact_durations():
    episodes = [
        episode(5, 12, "2020-04-06 08:00", "2020-04-13 08:00", "extubated"),
        episode(13, 20, "2020-04-14 20:00", "2020-04-21 08:00", "extubated"),
    ]
    row = course(episodes=episodes)
    assert (row["imv_days"], row["imv_days_basis"]) == (13.5, "time")  # 7 + 6.5
    assert row["ventilator_free_days"] == 14.5


def test_episode_order_is_by_start_not_by_row():
    row = course(episodes=[REINTUBATED[1], REINTUBATED[0]])
    assert (row["failed_extubations"], row["extubated"]) == (1, True)


def test_death_before_day_28_gives_no_ventilator_or_icu_free_days():
    row = course(
        episodes=[episode(5, 8, reason="extubated")],
        events=[event(3, "icu_admission"), event(8, "discharged"), event(10, "death", "2020-04-11 14:00")],
    )
    assert row["ventilator_free_days"] == 0.0 and row["icu_free_days"] == 0.0
    assert row["died"] and not row["discharged"]
    assert row["imv_days"] == 3.0


def test_death_known_only_to_the_day_before_day_28_also_gives_zero():
    row = course(events=[event(27, "death")])
    assert (row["ventilator_free_days"], row["icu_free_days"], row["died"]) == (0.0, 0.0, True)


def test_death_from_day_28_on_leaves_the_free_days():
    row = course(episodes=[episode(5, 12, reason="extubated")], events=[event(28, "death")])
    assert row["died"]
    assert (row["ventilator_free_days"], row["icu_free_days"]) == (21.0, 28.0)


def test_ongoing_episode_runs_to_the_start_of_day_28():
    row = course(episodes=[episode(20, intubated="2020-04-21 12:00")])
    assert row["imv_ongoing"] and not row["extubated"]
    assert (row["imv_days"], row["imv_days_basis"]) == (7.5, "time")  # to 2020-04-29 00:00 at the site
    assert row["ventilator_free_days"] == 20.5


def test_ongoing_episode_of_a_patient_who_died_runs_to_the_death():
    row = course(
        episodes=[episode(20, intubated="2020-04-21 12:00")],
        events=[event(30, "death", "2020-05-01 12:00")],
    )
    assert (row["imv_days"], row["imv_days_basis"]) == (10.0, "time")
    assert row["ventilator_free_days"] == 20.5  # alive at day 28: only the ventilated days before it count
    row = course(episodes=[episode(20, intubated="2020-04-21 12:00")], events=[event(25, "death")])
    assert (row["imv_days"], row["imv_days_basis"]) == (5.0, "day")  # the death is known only to the day
    assert row["ventilator_free_days"] == 0.0


def test_ongoing_episode_with_only_a_day_runs_to_day_28():
    row = course(episodes=[episode(20)])
    assert (row["imv_days"], row["imv_days_basis"], row["ventilator_free_days"]) == (8.0, "day", 20.0)


def test_horizon_is_a_study_setting():
    row = courses(
        [patient()], episodes=[episode(20, intubated="2020-04-21 12:00")], settings={"course_horizon_days": 21}
    )
    assert (row.iloc[0]["imv_days"], row.iloc[0]["ventilator_free_days"]) == (0.5, 20.5)


def test_start_of_day_28_skipped_by_a_midnight_change_is_the_first_instant_of_the_day():
    # Santiago de Chile moved from 00:00 to 01:00 on 2020-09-06, day 28 of a patient enrolled on 2020-08-09: the day
    # starts at 01:00 (-03), 12 h after noon (-04) of the day before.
    row = course(
        patient(enrolment="2020-08-09", zone="America/Santiago"),
        episodes=[{**episode(27), "intubated_at": at("2020-09-05 12:00", "America/Santiago")}],
    )
    assert (row["imv_days"], row["imv_days_basis"], row["ventilator_free_days"]) == (0.5, "time", 27.5)


def test_ventilation_before_enrolment_does_not_count_against_free_days():
    row = course(episodes=[episode(-2, 3, reason="extubated")])
    assert (row["imv_days"], row["ventilator_free_days"]) == (5.0, 25.0)


def test_extubation_is_false_when_the_last_episode_ended_otherwise():
    row = course(episodes=[episode(2, 5, reason="extubated"), episode(9, 12, reason="transferred")])
    assert (row["failed_extubations"], row["extubated"], row["imv_ongoing"]) == (1, False, False)


# --------------------------------------------------------------------------------------------
# ICU-free days
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("events", "icu_free"),
    [
        ([event(3, "icu_admission"), event(9, "icu_discharge")], 22.0),
        ([event(3, "icu_admission"), event(5, "icu_admission"), event(9, "icu_discharge")], 22.0),  # one stay
        ([event(3, "icu_admission"), event(9, "icu_discharge"), event(12, "icu_admission")], 6.0),  # 6 + 16
        ([event(3, "icu_admission"), event(10, "discharged")], 21.0),  # a hospital discharge ends the stay
        ([event(20, "icu_admission")], 20.0),  # still in the ICU at day 28
        ([event(30, "icu_admission")], 28.0),
        (
            [event(3, "icu_admission", "2020-04-04 18:00"), event(9, "icu_discharge", "2020-04-10 06:00")],
            22.5,
        ),
    ],
)
def test_icu_free_days(events, icu_free):
    row = course(events=events)
    assert row["icu_free_days"] == icu_free
    assert not row["died"]


# --------------------------------------------------------------------------------------------
# New York response and failure, disposition
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("support", "response"),
    [
        ([sup(0, "hfnc"), sup(4, "nasal_cannula", 2.0)], True),
        ([sup(0, "hfnc"), sup(4, "nasal_cannula", 3.0)], False),
        ([sup(0, "hfnc"), sup(4, "nasal_cannula")], False),  # flow not recorded
        ([sup(0, "non_rebreather", 15.0), sup(6, "room_air")], True),
        ([sup(0, "hfnc"), sup(4, "simple_mask", 2.0), sup(5, "")], False),
    ],
)
def test_ny_response_is_weaning_to_room_air_or_low_flow_nasal_cannula(support, response):
    row = course(support=support)
    assert (row["ny_response"], row["ny_failure"]) == (response, False)


def test_invasive_ventilation_is_a_failure_and_never_a_response():
    on_imv = [sup(0, "hfnc"), sup(3, "imv"), sup(10, "room_air")]
    row = course(support=on_imv)
    assert (row["ny_response"], row["ny_failure"]) == (False, True)
    assert row["imv_episodes"] == 0  # the support form alone says IMV
    row = course(episodes=[episode(3, 6, reason="extubated")], support=[sup(10, "room_air")])
    assert (row["ny_response"], row["ny_failure"]) == (False, True)


def test_response_flow_is_a_study_setting():
    row = courses([patient()], support=[sup(4, "nasal_cannula", 3.0)], settings={"ny_response_max_flow_l_min": 3})
    assert row.iloc[0]["ny_response"]


def test_discharged_alive():
    row = course(events=[event(12, "discharged")])
    assert (row["discharged"], row["died"]) == (True, False)


# --------------------------------------------------------------------------------------------
# Contract: one row per patient, columns, empty inputs, settings
# --------------------------------------------------------------------------------------------


def test_empty_sources_give_one_row_per_patient_in_order():
    out = courses([patient(7), patient(3, zone=ROME), patient(5, criterion="2020-04-01 08:00")])
    assert list(out.columns) == list(COURSE_COLUMNS)
    assert out["patient_id"].tolist() == [7, 3, 5]
    assert out["timing_group"].tolist() == ["not_treated"] * 3
    assert out["timing_basis"].tolist() == [""] * 3 and out["imv_days_basis"].tolist() == [""] * 3
    assert out["hours_to_anakinra"].isna().all()
    assert out["imv_episodes"].tolist() == [0, 0, 0] and out["failed_extubations"].tolist() == [0, 0, 0]
    assert out["imv_days"].tolist() == [0.0, 0.0, 0.0]
    assert out["ventilator_free_days"].tolist() == [28.0] * 3 and out["icu_free_days"].tolist() == [28.0] * 3
    for flag in ("imv_ongoing", "extubated", "ny_response", "ny_failure", "died", "discharged"):
        assert out[flag].tolist() == [False] * 3
    assert out.dtypes.to_dict() == {
        "patient_id": np.dtype("int64"),
        "hours_to_anakinra": np.dtype("float64"),
        "timing_basis": np.dtype("O"),
        "timing_group": np.dtype("O"),
        "imv_episodes": np.dtype("int64"),
        "imv_days": np.dtype("float64"),
        "imv_days_basis": np.dtype("O"),
        "imv_ongoing": np.dtype("bool"),
        "failed_extubations": np.dtype("int64"),
        "extubated": np.dtype("bool"),
        "ventilator_free_days": np.dtype("float64"),
        "icu_free_days": np.dtype("float64"),
        "ny_response": np.dtype("bool"),
        "ny_failure": np.dtype("bool"),
        "died": np.dtype("bool"),
        "discharged": np.dtype("bool"),
    }
    assert courses().empty and list(courses().columns) == list(COURSE_COLUMNS)


def test_patients_do_not_leak_into_each_other_and_unknown_patients_are_ignored():
    out = courses(
        [patient(2, criterion="2020-04-01 08:00"), patient(1, criterion="2020-04-01 08:00")],
        drugs=[drug(1, "2020-04-02 08:00", patient_id=1), drug(0, "2020-04-01 09:00", patient_id=99)],
        episodes=[episode(3, 6, reason="extubated", patient_id=2)],
        events=[event(10, "death", patient_id=1), event(4, "death", patient_id=99)],
        support=[sup(5, "room_air", patient_id=2)],
    ).set_index("patient_id")
    assert out.loc[1, "timing_group"] == "early" and out.loc[2, "timing_group"] == "not_treated"
    assert (out.loc[1, "imv_episodes"], out.loc[2, "imv_episodes"]) == (0, 1)
    assert (out.loc[1, "died"], out.loc[2, "died"]) == (True, False)
    assert (out.loc[1, "ventilator_free_days"], out.loc[2, "ventilator_free_days"]) == (0.0, 25.0)


def test_unknown_codes_and_missing_columns_are_refused():
    with pytest.raises(ValueError, match="unknown event kinds"):
        course(events=[event(1, "transferred")])
    with pytest.raises(ValueError, match="unknown support codes"):
        course(support=[sup(1, "helmet")])
    with pytest.raises(ValueError, match="unknown end reasons"):
        course(episodes=[episode(1, 2, reason="self_extubated")])
    with pytest.raises(ValueError, match="episodes frame lacks"):
        derive_courses(
            frame([patient()], PATIENT_COLUMNS),
            frame([], DRUG_COLUMNS),
            pd.DataFrame(columns=["patient_id", "study_day"]),
            frame([], EVENT_COLUMNS),
            frame([], SUPPORT_COLUMNS),
        )


def test_course_settings_defaults_ranges_and_order():
    assert DEFAULT_SETTINGS["timing_early_max_hours"] == 36
    assert DEFAULT_SETTINGS["timing_late_min_hours"] == 96
    assert DEFAULT_SETTINGS["course_horizon_days"] == 28
    assert DEFAULT_SETTINGS["ny_response_max_flow_l_min"] == 2
    assert settings_problems({"timing_early_max_hours": 24, "timing_late_min_hours": 72}) == []
    assert dict(settings_problems({"timing_early_max_hours": 96})) == {
        "timing_early_max_hours": "Timing groups must increase: the early group ends at 96 h, which must be lower "
        "than the late group's minimum 96 h"
    }
    found = dict(
        settings_problems({"course_horizon_days": 0, "ny_response_max_flow_l_min": 16, "timing_late_min_hours": 800})
    )
    assert found == {
        "course_horizon_days": "must be 1 to 365 (got 0)",
        "ny_response_max_flow_l_min": "must be 0 to 15 (got 16)",
        "timing_late_min_hours": "must be 0 to 720 (got 800)",
    }
    assert "course_horizon_days" in dict(settings_problems({"course_horizon_days": 28.5}))
    with pytest.raises(ValueError, match="Timing groups must increase"):
        resolve_settings({"timing_early_max_hours": 100, "timing_late_min_hours": 90})
    with pytest.raises(ValueError, match="Timing groups must increase"):
        courses([patient()], settings={"timing_late_min_hours": 30})
