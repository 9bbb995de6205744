"""Patient-level outcomes (clinical definitions §4): censoring, MVFS, day snapshots, P/F bands, AEs."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analysis.outcomes import patient_outcomes, pf_band, respiratory_improvement

SEVEN_POINT = {
    "discharged_normal": 1,
    "discharged_impaired": 2,
    "room_air": 3,
    "low_flow": 4,
    "hfnc_cpap_niv": 5,
    "imv": 6,
    "imv_organ_support": 6,
    "imv_ecmo": 6,
    "death": 7,
}
EVENT_COLUMNS = ["patient_id", "study_day", "kind", "alive"]
AE_COLUMNS = ["patient_id", "study_day", "kind", "serious"]


def course(patient_id: int, *spans: tuple[int, int, str], pf: float = 150.0) -> list[dict]:
    """Derived rows of one patient: each span is (first day, last day, state).

    P/F is recorded only while in hospital on oxygen support, as in real data.
    """
    rows = []
    for first, last, state in spans:
        for day in range(first, last + 1):
            measured = state in {"hfnc_cpap_niv", "low_flow", "imv"}
            rows.append(
                {
                    "patient_id": patient_id,
                    "study_day": day,
                    "state": state,
                    "ordinal_7": SEVEN_POINT[state],
                    "pf": pf if measured else np.nan,
                    "crp_mg_l": np.nan,
                }
            )
    return rows


def run(
    derived_rows: list[dict],
    event_rows: list[tuple] = (),
    ae_rows: list[tuple] = (),
    patient_ids: list[int] | None = None,
    horizon: int = 21,
) -> pd.DataFrame:
    derived = pd.DataFrame(
        derived_rows,
        columns=["patient_id", "study_day", "state", "ordinal_7", "pf", "crp_mg_l"],
    )
    derived["ordinal_7"] = derived["ordinal_7"].astype("Int64")
    ids = patient_ids if patient_ids is not None else sorted(derived["patient_id"].unique())
    patients = pd.DataFrame(
        {
            "patient_id": ids,
            "study_id": [f"S-{i:03d}" for i in ids],
            "arm": "high_dose",
            "arm_label": "High-dose anakinra",
            "age_years": 60,
            "follow_up_days": 21,
        }
    )
    events = pd.DataFrame(list(event_rows), columns=EVENT_COLUMNS)
    adverse = pd.DataFrame(list(ae_rows), columns=AE_COLUMNS)
    result = patient_outcomes(patients, derived, events, adverse, horizon=horizon)
    return result.set_index("patient_id")


def os_of(result: pd.DataFrame, patient_id: int) -> tuple[int, bool]:
    row = result.loc[patient_id]
    return int(row["os_time"]), bool(row["os_event"])


def mvfs_of(result: pd.DataFrame, patient_id: int) -> tuple[int, bool]:
    row = result.loc[patient_id]
    return int(row["mvfs_time"]), bool(row["mvfs_event"])


# --- overall survival censoring (clinical definitions §4) ---------------------------------------------


def test_discharged_with_alive_contact_on_day_21_is_censored_at_21():
    derived = course(1, (0, 9, "hfnc_cpap_niv"), (10, 21, "discharged_normal"))
    events = [(1, 10, "discharged", None), (1, 21, "vital_status_contact", True)]
    result = run(derived, events)
    assert os_of(result, 1) == (21, False)
    assert mvfs_of(result, 1) == (21, False)


def test_discharged_on_day_10_without_contact_is_censored_at_10():
    # The derived job carries the discharge state forward to day 21 (clinical definitions §3.1); that
    # repetition is not evidence of life, so follow-up ends at discharge.
    carried = course(1, (0, 9, "hfnc_cpap_niv"), (10, 21, "discharged_normal"))
    not_carried = course(2, (0, 9, "hfnc_cpap_niv"), (10, 10, "discharged_normal"))
    events = [(1, 10, "discharged", None), (2, 10, "discharged", None)]
    result = run(carried + not_carried, events)
    assert os_of(result, 1) == (10, False)
    assert os_of(result, 2) == (10, False)
    assert result.loc[1, "state_d21"] == "discharged_normal"


def test_death_on_day_5_is_an_event_at_5():
    derived = course(1, (0, 4, "hfnc_cpap_niv"), (5, 21, "death"))
    result = run(derived, [(1, 5, "death", None)])
    assert os_of(result, 1) == (5, True)
    assert mvfs_of(result, 1) == (5, True)


def test_death_recorded_only_as_disposition_still_counts():
    derived = course(1, (0, 6, "hfnc_cpap_niv"))
    result = run(derived, [(1, 6, "death", None)])
    assert os_of(result, 1) == (6, True)
    # death is absorbing (clinical definitions §3.1): day 7 and 21 score death without derived rows
    assert result.loc[1, "state_d7"] == "death"
    assert result.loc[1, "ordinal_d21"] == 7


def test_still_in_hospital_on_day_21_is_censored_at_21():
    result = run(course(1, (0, 21, "low_flow")))
    assert os_of(result, 1) == (21, False)


def test_lost_to_follow_up_is_censored_at_last_day_known_alive():
    derived = course(1, (0, 12, "hfnc_cpap_niv"))
    result = run(derived, [(1, 14, "lost_to_follow_up", None)])
    assert os_of(result, 1) == (14, False)


def test_contact_reporting_death_is_a_death_on_the_contact_day():
    # as in the derived job: without a dated death report, the contact dates it
    derived = course(1, (0, 9, "room_air"), (10, 17, "discharged_impaired"))
    events = [(1, 10, "discharged", None), (1, 18, "vital_status_contact", False)]
    result = run(derived, events)
    assert os_of(result, 1) == (18, True)
    assert result.loc[1, "state_d21"] == "death"


def test_dated_death_report_wins_over_a_later_contact():
    derived = course(1, (0, 9, "room_air"), (10, 12, "discharged_impaired"))
    events = [
        (1, 10, "discharged", None),
        (1, 13, "death", None),
        (1, 21, "vital_status_contact", False),
    ]
    assert os_of(run(derived, events), 1) == (13, True)


def test_contact_with_unknown_vital_status_is_not_evidence_of_life():
    derived = course(1, (0, 9, "room_air"), (10, 10, "discharged_normal"))
    events = [(1, 10, "discharged", None), (1, 21, "vital_status_contact", None)]
    assert os_of(run(derived, events), 1) == (10, False)


def test_alive_contact_after_the_horizon_censors_at_the_horizon():
    derived = course(1, (0, 8, "hfnc_cpap_niv"), (9, 9, "discharged_normal"))
    events = [(1, 9, "discharged", None), (1, 28, "vital_status_contact", True)]
    assert os_of(run(derived, events), 1) == (21, False)


def test_death_after_the_horizon_is_censored_at_the_horizon():
    derived = course(1, (0, 24, "imv"), (25, 25, "death"))
    result = run(derived, [(1, 25, "death", None)])
    assert os_of(result, 1) == (21, False)
    assert result.loc[1, "state_d21"] == "imv"


def test_readmission_after_discharge_extends_follow_up():
    derived = course(1, (0, 5, "hfnc_cpap_niv"), (6, 11, "discharged_normal"), (12, 15, "room_air"))
    assert os_of(run(derived), 1) == (15, False)


def test_patient_without_any_data_is_censored_at_enrolment():
    result = run(course(1, (0, 21, "room_air")), patient_ids=[1, 2])
    assert os_of(result, 2) == (0, False)
    assert pd.isna(result.loc[2, "state_d0"])
    assert pd.isna(result.loc[2, "resp_improvement_d21"])


def test_other_horizon_caps_times():
    result = run(course(1, (0, 28, "room_air")), horizon=28)
    assert os_of(result, 1) == (28, False)


# --- mechanical-ventilation-free survival ----------------------------------------------


def test_on_invasive_ventilation_at_day_0_is_excluded_from_mvfs():
    derived = course(1, (0, 21, "imv")) + course(2, (0, 21, "imv_ecmo"))
    result = run(derived)
    for patient in (1, 2):
        assert bool(result.loc[patient, "mvfs_excluded"]) is True
        assert pd.isna(result.loc[patient, "mvfs_time"])
        assert pd.isna(result.loc[patient, "mvfs_event"])
        assert os_of(result, patient) == (21, False)


def test_imv_started_event_on_day_3_is_mvfs_event_at_3():
    derived = course(1, (0, 21, "hfnc_cpap_niv"))
    result = run(derived, [(1, 3, "imv_started", None)])
    assert mvfs_of(result, 1) == (3, True)
    assert bool(result.loc[1, "mvfs_excluded"]) is False
    assert os_of(result, 1) == (21, False)


def test_mvfs_event_is_the_first_of_intubation_and_death():
    derived = course(1, (0, 3, "hfnc_cpap_niv"), (4, 8, "imv_organ_support"), (9, 21, "death"))
    result = run(derived, [(1, 9, "death", None)])
    assert mvfs_of(result, 1) == (4, True)
    assert os_of(result, 1) == (9, True)


def test_ecmo_counts_as_invasive_ventilation():
    derived = course(1, (0, 5, "hfnc_cpap_niv"), (6, 21, "imv_ecmo"))
    assert mvfs_of(run(derived), 1) == (6, True)


def test_without_events_mvfs_is_censored_like_survival():
    derived = course(1, (0, 9, "hfnc_cpap_niv"), (10, 21, "discharged_normal"))
    assert mvfs_of(run(derived, [(1, 10, "discharged", None)]), 1) == (10, False)


# --- day snapshots, P/F bands and respiratory improvement ------------------------------


@pytest.mark.parametrize(
    ("pf", "band"),
    [(250.0, "> 200"), (200.1, "> 200"), (200.0, "100-200"), (100.0, "100-200"), (99.9, "< 100"), (60.0, "< 100")],
)
def test_pf_band_edges_follow_milan_ards_definitions(pf, band):
    assert pf_band(pd.Series([pf])).iloc[0] == band


def test_pf_band_is_missing_without_a_value():
    assert pd.isna(pf_band(pd.Series([np.nan])).iloc[0])


def test_snapshot_columns_take_the_derived_day():
    derived = course(1, (0, 6, "hfnc_cpap_niv"), (7, 20, "low_flow"), pf=180.0)
    derived += course(1, (21, 21, "room_air"))
    result = run(derived)
    row = result.loc[1]
    assert (row["state_d0"], row["ordinal_d0"], row["pf_d0"], row["pf_band_d0"]) == (
        "hfnc_cpap_niv",
        5,
        180.0,
        "100-200",
    )
    assert (row["state_d7"], row["ordinal_d7"]) == ("low_flow", 4)
    assert (row["state_d21"], row["ordinal_d21"]) == ("room_air", 3)
    assert pd.isna(row["pf_d21"]) and pd.isna(row["pf_band_d21"])


def test_discharge_state_carries_forward_to_day_21():
    derived = course(1, (0, 11, "low_flow"), (12, 12, "discharged_impaired"))
    row = run(derived).loc[1]
    assert (row["state_d21"], row["ordinal_d21"]) == ("discharged_impaired", 2)


def test_unknown_state_decided_by_the_derived_job_is_kept():
    # discharged on day 12, lost to follow-up on day 15: the derived job writes rows with
    # an unknown state from day 15 on, which must not be overwritten by the discharge
    derived = course(1, (0, 11, "low_flow"), (12, 14, "discharged_normal"))
    derived += [{**row, "state": None, "ordinal_7": None} for row in course(1, (15, 21, "room_air"))]
    result = run(derived, [(1, 12, "discharged", None), (1, 15, "lost_to_follow_up", None)])
    assert pd.isna(result.loc[1, "state_d21"]) and pd.isna(result.loc[1, "ordinal_d21"])
    assert os_of(result, 1) == (15, False)


def test_hospital_state_is_not_carried_forward():
    row = run(course(1, (0, 12, "low_flow"))).loc[1]
    assert pd.isna(row["state_d21"]) and pd.isna(row["ordinal_d21"])


@pytest.mark.parametrize(
    ("ordinal", "pf", "improved"),
    [
        (1, np.nan, True),
        (4, np.nan, True),
        (5, 201.0, True),
        (5, 200.0, False),
        (5, 120.0, False),
        (6, 250.0, False),
        (7, np.nan, False),
    ],
)
def test_respiratory_improvement_at_day_21(ordinal, pf, improved):
    result = respiratory_improvement(pd.Series([ordinal], dtype="Int64"), pd.Series([pf]))
    assert bool(result.iloc[0]) is improved


@pytest.mark.parametrize(("ordinal", "pf"), [(None, 250.0), (5, np.nan)])
def test_respiratory_improvement_unknown_without_status_or_needed_pf(ordinal, pf):
    result = respiratory_improvement(pd.Series([ordinal], dtype="Int64"), pd.Series([pf]))
    assert pd.isna(result.iloc[0])


def test_respiratory_improvement_column_from_patient_data():
    cpap_good = course(1, (0, 21, "hfnc_cpap_niv"), pf=240.0)
    cpap_bad = course(2, (0, 21, "hfnc_cpap_niv"), pf=160.0)
    low_flow = course(3, (0, 21, "low_flow"))
    result = run(cpap_good + cpap_bad + low_flow)
    assert result["resp_improvement_d21"].tolist() == [True, False, True]


# --- adverse events and frame shape -----------------------------------------------------


def test_adverse_event_flags_within_follow_up():
    derived = course(1, (0, 21, "room_air")) + course(2, (0, 21, "room_air"))
    aes = [
        (1, 3, "bacteraemia", True),
        (1, 8, "liver_enzymes_gt_3uln", False),
        (2, 30, "thromboembolism", True),  # after day 21: outside follow-up
        (2, 4, "other", False),
    ]
    result = run(derived, ae_rows=aes)
    flags = ["ae_bacteraemia", "ae_liver_enzymes_gt_3uln", "ae_thromboembolism"]
    assert result.loc[1, flags].tolist() == [True, True, False]
    assert result.loc[2, flags].tolist() == [False, False, False]


def test_one_row_per_patient_in_patient_order_with_baseline_columns():
    derived = course(3, (0, 21, "room_air")) + course(1, (0, 21, "room_air"))
    derived += course(99, (0, 21, "death"))  # not an enrolled patient: ignored
    result = run(derived, patient_ids=[3, 1])
    assert result.index.tolist() == [3, 1]
    assert result.loc[3, "study_id"] == "S-003"
    assert result.loc[1, "age_years"] == 60


def test_empty_event_and_adverse_event_frames():
    derived = course(1, (0, 21, "room_air"))
    patients = pd.DataFrame({"patient_id": [1], "arm": ["x"]})
    result = patient_outcomes(
        patients,
        pd.DataFrame(derived),
        pd.DataFrame(columns=EVENT_COLUMNS),
        None,
    )
    assert (result.loc[0, "os_time"], bool(result.loc[0, "os_event"])) == (21, False)
    assert bool(result.loc[0, "ae_bacteraemia"]) is False


# --- invariants on random courses ---------------------------------------------------------

STATES = list(SEVEN_POINT)


@st.composite
def random_course(draw: st.DrawFn, patient_id: int) -> tuple[list[dict], list[tuple]]:
    days = draw(st.integers(min_value=0, max_value=25))
    states = draw(st.lists(st.sampled_from(STATES), min_size=days + 1, max_size=days + 1))
    derived = [course(patient_id, (day, day, state))[0] for day, state in enumerate(states)]
    kinds = ["discharged", "death", "icu_admission", "imv_started", "vital_status_contact"]
    events = draw(
        st.lists(
            st.tuples(
                st.just(patient_id),
                st.integers(min_value=0, max_value=30),
                st.sampled_from(kinds),
                st.sampled_from([True, False, None]),
            ),
            max_size=3,
        )
    )
    return derived, events


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=10**6), min_size=1, max_size=6, unique=True).flatmap(
        lambda ids: st.tuples(*[random_course(i) for i in ids])
    )
)
def test_outcome_invariants(courses):
    derived = [row for rows, _ in courses for row in rows]
    events = [event for _, evs in courses for event in evs]
    result = run(derived, events)
    assert result["os_time"].between(0, 21).all()
    included = ~result["mvfs_excluded"]
    mvfs = result.loc[included]
    # ventilation-free survival ends no later than survival, and a death is always
    # also an MVFS event (at the latest on the day of death)
    assert (mvfs["mvfs_time"] <= mvfs["os_time"]).all()
    died = mvfs["os_event"].astype(bool)
    assert mvfs.loc[died, "mvfs_event"].astype(bool).all()
    assert result.loc[~included, "mvfs_time"].isna().all()
    # a patient dead on day 21 scores 7 on that day
    assert (result.loc[result["os_event"].astype(bool), "ordinal_d21"] == 7).all()
