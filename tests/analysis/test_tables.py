"""Descriptive tables per arm (clinical definitions §4), checked against numbers worked out by hand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.outcomes import patient_outcomes
from analysis.tables import (
    adverse_event_table,
    baseline_table,
    format_half_up,
    ordinal_table,
    trajectories,
)
from ecrf.derivations import ArdsBands

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


def tiny_baseline() -> pd.DataFrame:
    """Arm A n=4, arm B n=3 (one missing age, one missing sex)."""
    return pd.DataFrame(
        {
            "patient_id": range(1, 8),
            "arm_label": ["A", "A", "A", "A", "B", "B", "B"],
            "sex": ["F", "F", "M", "M", "F", "M", None],
            "age_years": [50, 60, 70, 80, 40, 45, None],
            "hypertension": [True, False, False, False, True, True, False],
        }
    )


def long_row(long: pd.DataFrame, variable: str, level: str, arm: str) -> pd.Series:
    hit = long.loc[(long["variable"] == variable) & (long["level"] == level) & (long["arm"] == arm)]
    assert len(hit) == 1
    return hit.iloc[0]


# --- baseline ---------------------------------------------------------------------------------


def test_baseline_categorical_n_and_percent_of_known_values():
    long = baseline_table(tiny_baseline(), "arm_label").long
    female_a = long_row(long, "sex", "female", "A")
    assert (female_a["n"], female_a["pct"], female_a["text"]) == (2, 50.0, "2 (50%)")
    female_b = long_row(long, "sex", "female", "B")  # 1 of the 2 with a recorded sex
    assert (female_b["n"], female_b["pct"], female_b["text"]) == (1, 50.0, "1 (50%)")
    assert long_row(long, "sex", "missing", "B")["text"] == "1"
    assert long_row(long, "sex", "missing", "A")["n"] == 0
    hypertension = {arm: long_row(long, "hypertension", "yes", arm)["text"] for arm in ("A", "B", "overall")}
    assert hypertension == {"A": "1 (25%)", "B": "2 (67%)", "overall": "3 (43%)"}


def test_baseline_continuous_median_and_iqr():
    long = baseline_table(tiny_baseline(), "arm_label").long
    age_a = long_row(long, "age_years", "", "A")  # 50 60 70 80
    assert age_a[["n", "median", "q1", "q3"]].tolist() == [4, 65.0, 57.5, 72.5]
    assert age_a["text"] == "65.0 (57.5-72.5)"
    age_b = long_row(long, "age_years", "", "B")  # 40 45 (one missing)
    assert age_b[["n", "median", "q1", "q3"]].tolist() == [2, 42.5, 41.25, 43.75]
    assert age_b["text"] == "42.5 (41.3-43.8)"  # halves round up as in print
    overall = long_row(long, "age_years", "", "overall")  # 40 45 50 60 70 80
    assert overall[["median", "q1", "q3"]].tolist() == [55.0, 46.25, 67.5]


def test_baseline_wide_display_has_arm_sizes_in_headers_and_overall_last():
    wide = baseline_table(tiny_baseline(), "arm_label").wide
    assert list(wide.columns) == ["A (n=4)", "B (n=3)", "Overall (n=7)"]
    assert wide.loc[("Age, years", ""), "Overall (n=7)"] == "55.0 (46.3-67.5)"
    assert wide.loc[("Sex", "male"), "B (n=3)"] == "1 (50%)"
    assert wide.index.get_level_values(0).unique().tolist() == ["Sex", "Age, years", "Hypertension"]


def test_baseline_continuous_without_values_is_empty_not_zero():
    frame = tiny_baseline().assign(weight_kg=[70.0, 80.0, 90.0, 60.0, np.nan, np.nan, np.nan])
    long = baseline_table(frame, "arm_label").long
    weight_b = long_row(long, "weight_kg", "", "B")
    assert weight_b["n"] == 0 and weight_b["text"] == ""
    assert np.isnan(weight_b["median"])


def test_percent_rounds_half_up():
    assert format_half_up(12.5, 0) == "13"  # 2 of 16 patients
    assert format_half_up(43.75, 0) == "44"  # 7 of 16
    assert format_half_up(0.145, 2) == "0.15"


# --- ordinal table --------------------------------------------------------------------------


def day7_outcomes() -> pd.DataFrame:
    """Arm A: five patients on CPAP on day 7 with P/F at and around the band edges;
    arm B: the other levels, including the three invasive-ventilation states."""
    day7 = [
        ("A", "hfnc_cpap_niv", 250.0),
        ("A", "hfnc_cpap_niv", 200.0),
        ("A", "hfnc_cpap_niv", 100.0),
        ("A", "hfnc_cpap_niv", 99.9),
        ("A", "hfnc_cpap_niv", np.nan),
        ("B", "imv", 150.0),
        ("B", "imv_organ_support", 120.0),
        ("B", "imv_ecmo", 60.0),
        ("B", "death", np.nan),
        ("B", "discharged_impaired", np.nan),
        ("B", "room_air", np.nan),
        ("B", None, np.nan),  # no form on day 7, not discharged: unknown
    ]
    patients = pd.DataFrame(
        {"patient_id": range(1, len(day7) + 1), "arm": [a for a, _, _ in day7], "arm_label": [a for a, _, _ in day7]}
    )
    derived = pd.DataFrame(
        {
            "patient_id": patients["patient_id"],
            "study_day": 7,
            "state": [s for _, s, _ in day7],
            "ordinal_7": pd.array([SEVEN_POINT.get(s) for _, s, _ in day7], dtype="Int64"),
            "pf": [p for _, _, p in day7],
            "crp_mg_l": np.nan,
        }
    )
    events = pd.DataFrame(columns=["patient_id", "study_day", "kind", "alive"])
    return patient_outcomes(patients, derived, events)


def test_ordinal_table_splits_cpap_by_pf_band():
    long = ordinal_table(day7_outcomes(), 7).long
    n = long.set_index(["row", "arm"])["n"]
    assert n["hfnc_cpap_niv", "A"] == 5
    assert n["hfnc_cpap_niv_pf_gt_200", "A"] == 1  # 250
    assert n["hfnc_cpap_niv_pf_100_200", "A"] == 2  # 200 and 100 are moderate ARDS
    assert n["hfnc_cpap_niv_pf_lt_100", "A"] == 1  # 99.9
    assert n["hfnc_cpap_niv_pf_unknown", "A"] == 1  # on CPAP without a P/F that day
    assert n["imv", "B"] == 3  # with or without organ support / ECMO
    assert (n["death", "B"], n["discharged", "B"], n["discharged_impaired", "B"]) == (1, 1, 1)
    assert (n["room_air", "B"], n["low_flow", "B"], n["unknown", "B"]) == (1, 0, 1)


def test_ordinal_table_splits_cpap_by_the_bands_it_is_given():
    patients = pd.DataFrame({"patient_id": [1, 2, 3], "arm": "A", "arm_label": "A"})
    derived = pd.DataFrame(
        {
            "patient_id": [1, 2, 3],
            "study_day": 7,
            "state": "hfnc_cpap_niv",
            "ordinal_7": pd.array([5, 5, 5], dtype="Int64"),
            "pf": [180.0, 140.0, 120.0],
            "crp_mg_l": np.nan,
        }
    )
    events = pd.DataFrame(columns=["patient_id", "study_day", "kind", "alive"])
    bands = ArdsBands(severe_below=130.0, moderate_max=150.0)
    outcomes = patient_outcomes(patients, derived, events, bands=bands)
    long = ordinal_table(outcomes, 7, bands=bands).long
    split = long.loc[long["parent"].eq("hfnc_cpap_niv")].set_index("row")
    assert split["label"].to_dict() == {
        "hfnc_cpap_niv_pf_gt_150": "P/F > 150",
        "hfnc_cpap_niv_pf_130_150": "P/F 130-150",
        "hfnc_cpap_niv_pf_lt_130": "P/F < 130",
    }
    assert split["n"].tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="not the ARDS bands given"):
        ordinal_table(outcomes, 7)  # outcomes of other bands would fall out of every P/F line


def test_ordinal_table_rows_add_up_to_the_arm():
    long = ordinal_table(day7_outcomes(), 7).long
    top = long.loc[long["parent"].isna()].groupby("arm")["n"].sum()
    assert top.to_dict() == {"A": 5, "B": 7}
    for parent in ("hfnc_cpap_niv", "discharged"):
        children = long.loc[long["parent"] == parent].groupby("arm")["n"].sum()
        own = long.loc[long["row"] == parent].set_index("arm")["n"]
        assert children.to_dict() == own.to_dict()


def test_ordinal_table_percent_of_the_arm_and_milan_layout():
    table = ordinal_table(day7_outcomes(), 7)
    row = table.long.set_index(["row", "arm"]).loc[("hfnc_cpap_niv_pf_100_200", "A")]
    assert (row["denominator"], row["pct"], row["text"]) == (5, 40.0, "2 (40%)")
    assert list(table.wide.columns) == ["A (n=5)", "B (n=7)"]
    assert table.wide.index.tolist() == [
        "Discharged",
        "    resumed normal activities",
        "    unable to resume normal activities",
        "Hospitalised, not on oxygen",
        "Low-flow oxygen",
        "High-flow oxygen, CPAP or NIV",
        "    P/F > 200",
        "    P/F 100-200",
        "    P/F < 100",
        "    P/F not available",
        "Invasive mechanical ventilation",
        "Death",
        "Status not known",
    ]
    assert table.wide.loc["Death", "B (n=7)"] == "1 (14%)"


def test_ordinal_table_for_a_day_without_a_snapshot_is_refused():
    with pytest.raises(ValueError, match="snapshot"):
        ordinal_table(day7_outcomes(), 14)


# --- adverse events -------------------------------------------------------------------------


def test_adverse_event_table_counts_patients_per_arm():
    outcomes = pd.DataFrame(
        {
            "arm_label": ["A"] * 4 + ["B"] * 2,
            "ae_bacteraemia": [True, False, False, False, True, True],
            "ae_liver_enzymes_gt_3uln": [True, True, False, False, False, False],
            "ae_thromboembolism": [False] * 6,
        }
    )
    table = adverse_event_table(outcomes)
    texts = table.long.set_index(["row", "arm"])["text"]
    assert texts["bacteraemia", "A"] == "1 (25%)" and texts["bacteraemia", "B"] == "2 (100%)"
    assert texts["liver_enzymes_gt_3uln", "A"] == "2 (50%)"
    assert texts["thromboembolism", "B"] == "0 (0%)"
    assert table.wide.loc["Liver enzymes > 3 x ULN", "A (n=4)"] == "2 (50%)"


# --- trajectories ---------------------------------------------------------------------------


def test_trajectories_median_and_iqr_per_arm_and_day():
    patients = pd.DataFrame({"patient_id": [1, 2, 3, 4, 5], "arm_label": ["A", "A", "A", "A", "B"]})
    derived = pd.DataFrame(
        {
            "patient_id": [1, 2, 3, 4, 1, 2, 5, 1],
            "study_day": [0, 0, 0, 0, 1, 1, 0, 15],
            "crp_mg_l": [100.0, 200.0, 300.0, np.nan, 50.0, 70.0, 180.0, 5.0],
            "pf": np.nan,
        }
    )
    result = trajectories(derived, patients, "crp_mg_l").set_index(["arm_label", "study_day"])
    assert result.loc[("A", 0), ["n", "median", "q1", "q3"]].tolist() == [3, 200.0, 150.0, 250.0]
    assert result.loc[("A", 1), ["n", "median", "q1", "q3"]].tolist() == [2, 60.0, 55.0, 65.0]
    assert result.loc[("B", 0), ["n", "median"]].tolist() == [1, 180.0]
    # a regular grid of days 0-14 per arm: no value is n 0 and NaN, day 15 is outside
    assert len(result) == 2 * 15
    assert result.loc[("B", 1), "n"] == 0 and np.isnan(result.loc[("B", 1), "median"])


def test_trajectories_only_for_crp_and_pf():
    with pytest.raises(ValueError, match="variable"):
        trajectories(pd.DataFrame(), pd.DataFrame(), "ferritin")
