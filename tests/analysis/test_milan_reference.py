"""The Milan paper's day-21 results (clinical definitions §4), reproduced from patient-level data.

:func:`milan_cohort` builds ``patients``, ``derived`` and ``events`` for 45 patients
carrying the published facts: high-dose anakinra n=29 (discharged 13, hospitalised
without oxygen 3, low-flow 3, CPAP 2 with P/F > 200, invasive ventilation 5, died 3)
and standard treatment n=16 (discharged 7, low-flow 1, invasive ventilation 1, died 7).
Everybody alive is either in hospital through day 21 or discharged with an alive
day-21 contact, so survival is censored at 21 for all survivors.

The paper gives no death days; the log-rank p depends on them. Chosen days:
standard treatment 1, 3, 4, 8, 11, 18, 19; high-dose anakinra 3, 8, 13 (ties across
arms on days 3 and 8). With them the overall log-rank p for survival is 0.00898,
which rounds to the published 0.009. Intubation days (high-dose 2, 3, 5, 6, 9 and one
death intubated on day 10; standard 4 and two deaths intubated on days 6 and 12) do
not change survival; ventilation-free survival counts each patient's first event once.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.outcomes import patient_outcomes
from analysis.survival import cox_hazard_ratios, km_summary, logrank
from analysis.tables import ordinal_table

HIGH, STANDARD = "High-dose anakinra", "Standard treatment"
ARM_CODES = {HIGH: "high_dose", STANDARD: "standard"}
SEVEN_POINT = {
    "discharged_normal": 1,
    "discharged_impaired": 2,
    "room_air": 3,
    "low_flow": 4,
    "hfnc_cpap_niv": 5,
    "imv": 6,
    "death": 7,
}
OXYGEN_STATES = {"low_flow", "hfnc_cpap_niv", "imv"}
HORIZON = 21

DEATH_DAYS = {STANDARD: [1, 3, 4, 8, 11, 18, 19], HIGH: [3, 8, 13]}


class Cohort:
    """Accumulates the three input frames, one clinical course at a time."""

    def __init__(self) -> None:
        self.patients: list[dict[str, Any]] = []
        self.derived: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []

    def enrol(self, arm: str) -> int:
        patient_id = len(self.patients) + 1
        rng = np.random.default_rng(patient_id)
        self.patients.append(
            {
                "patient_id": patient_id,
                "study_id": f"MI-{patient_id:03d}",
                "arm": ARM_CODES[arm],
                "arm_label": arm,
                "sex": "M" if patient_id % 5 else "F",  # the cohort was mostly men
                "age_years": int(rng.integers(45, 80)),
                "weight_kg": float(rng.integers(60, 100)),
                "smoking": bool(patient_id % 7 == 0),
                "hypertension": bool(patient_id % 2),
                "coronary_artery_disease": bool(patient_id % 9 == 0),
                "diabetes": bool(patient_id % 4 == 0),
                "copd": False,
                "chronic_kidney_disease": bool(patient_id % 11 == 0),
                "follow_up_days": HORIZON,
            }
        )
        return patient_id

    def span(self, patient_id: int, first: int, last: int, state: str, pf: float = np.nan) -> None:
        for day in range(first, last + 1):
            self.derived.append(
                {
                    "patient_id": patient_id,
                    "study_day": day,
                    "state": state,
                    "ordinal_7": SEVEN_POINT[state],
                    "pf": pf if state in OXYGEN_STATES else np.nan,
                    "crp_mg_l": np.nan,
                }
            )

    def event(self, patient_id: int, day: int, kind: str, alive: bool | None = None) -> None:
        self.events.append({"patient_id": patient_id, "study_day": day, "kind": kind, "alive": alive})

    # --- the courses -----------------------------------------------------------------

    def discharged(self, arm: str, day: int, normal: bool = True) -> None:
        """CPAP, then low-flow oxygen, discharged on ``day``; the derived job carries the
        discharge state to day 21, where a phone call confirms the patient alive."""
        pid = self.enrol(arm)
        self.span(pid, 0, day - 4, "hfnc_cpap_niv", pf=150.0)
        self.span(pid, day - 3, day - 1, "low_flow", pf=260.0)
        self.span(pid, day, HORIZON, "discharged_normal" if normal else "discharged_impaired")
        self.event(pid, day, "discharged")
        self.event(pid, HORIZON, "vital_status_contact", alive=True)

    def in_hospital(self, arm: str, final_state: str) -> None:
        """Still in hospital on day 21, on ``final_state``."""
        pid = self.enrol(arm)
        if final_state == "room_air":
            self.span(pid, 0, 6, "hfnc_cpap_niv", pf=140.0)
            self.span(pid, 7, 12, "low_flow", pf=240.0)
            self.span(pid, 13, HORIZON, "room_air")
        elif final_state == "low_flow":
            self.span(pid, 0, 9, "hfnc_cpap_niv", pf=130.0)
            self.span(pid, 10, HORIZON, "low_flow", pf=230.0)
        else:  # still on CPAP, but with P/F > 200 by the end (both Milan patients)
            self.span(pid, 0, 14, "hfnc_cpap_niv", pf=120.0)
            self.span(pid, 15, HORIZON, "hfnc_cpap_niv", pf=245.0)

    def intubated(self, arm: str, day: int) -> None:
        """CPAP failure on ``day``: ICU, invasive ventilation, alive on day 21."""
        pid = self.enrol(arm)
        self.span(pid, 0, day - 1, "hfnc_cpap_niv", pf=95.0)
        self.span(pid, day, HORIZON, "imv", pf=150.0)
        self.event(pid, day, "icu_admission")
        self.event(pid, day, "imv_started")

    def died(self, arm: str, day: int, intubated_on: int | None = None) -> None:
        """Death on ``day`` (absorbing in the derived data), possibly after intubation."""
        pid = self.enrol(arm)
        last_cpap = (intubated_on or day) - 1
        self.span(pid, 0, last_cpap, "hfnc_cpap_niv", pf=85.0)
        if intubated_on is not None:
            self.span(pid, intubated_on, day - 1, "imv", pf=70.0)
            self.event(pid, intubated_on, "imv_started")
        self.span(pid, day, HORIZON, "death")
        self.event(pid, day, "death")


def milan_cohort() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """``patients``, ``derived`` and ``events`` carrying the Milan day-21 facts."""
    cohort = Cohort()
    # high-dose anakinra, n = 29
    for day, normal in zip(range(8, 21), [True] * 10 + [False] * 3, strict=True):
        cohort.discharged(HIGH, day, normal)  # 13, days 8-20
    for state in ["room_air"] * 3 + ["low_flow"] * 3 + ["hfnc_cpap_niv"] * 2:
        cohort.in_hospital(HIGH, state)
    for day in (2, 3, 5, 6, 9):
        cohort.intubated(HIGH, day)
    cohort.died(HIGH, 3)
    cohort.died(HIGH, 8)
    cohort.died(HIGH, 13, intubated_on=10)
    # standard treatment, n = 16
    for day, normal in zip((10, 12, 13, 14, 15, 17, 19), [True] * 5 + [False] * 2, strict=True):
        cohort.discharged(STANDARD, day, normal)
    cohort.in_hospital(STANDARD, "low_flow")
    cohort.intubated(STANDARD, 4)
    for day, intubated_on in zip(DEATH_DAYS[STANDARD], [None, None, None, None, 6, 12, None], strict=True):
        cohort.died(STANDARD, day, intubated_on)

    derived = pd.DataFrame(cohort.derived).astype({"ordinal_7": "Int64"})
    return pd.DataFrame(cohort.patients), derived, pd.DataFrame(cohort.events)


@pytest.fixture(scope="module")
def outcomes() -> pd.DataFrame:
    patients, derived, events = milan_cohort()
    return patient_outcomes(patients, derived, events, adverse_events=None, horizon=HORIZON)


def test_fixture_carries_the_published_arm_sizes_and_death_days(outcomes):
    assert outcomes["arm_label"].value_counts().to_dict() == {HIGH: 29, STANDARD: 16}
    for arm, days in DEATH_DAYS.items():
        dead = outcomes.loc[(outcomes["arm_label"] == arm) & outcomes["os_event"]]
        assert sorted(dead["os_time"]) == days


def test_day_21_ordinal_table_counts(outcomes):
    table = ordinal_table(outcomes, 21).long
    counts = table.pivot_table(index="row", columns="arm", values="n", aggfunc="sum")
    expected = {
        "discharged": (13, 7),
        "room_air": (3, 0),
        "low_flow": (3, 1),
        "hfnc_cpap_niv": (2, 0),
        "hfnc_cpap_niv_pf_gt_200": (2, 0),
        "hfnc_cpap_niv_pf_100_200": (0, 0),
        "hfnc_cpap_niv_pf_lt_100": (0, 0),
        "imv": (5, 1),
        "death": (3, 7),
    }
    for row, (high, standard) in expected.items():
        assert (counts.loc[row, HIGH], counts.loc[row, STANDARD]) == (high, standard), row
    assert "unknown" not in counts.index  # every patient's day-21 status is known
    assert "hfnc_cpap_niv_pf_unknown" not in counts.index
    wide = ordinal_table(outcomes, 21).wide
    assert list(wide.columns) == [f"{HIGH} (n=29)", f"{STANDARD} (n=16)"]
    assert wide.loc["Discharged", f"{HIGH} (n=29)"] == "13 (45%)"
    assert wide.loc["Death", f"{STANDARD} (n=16)"] == "7 (44%)"


def test_day_0_everyone_on_cpap_with_pf_at_most_200(outcomes):
    rows = ordinal_table(outcomes, 0).long.set_index(["row", "arm"])["n"]
    assert rows["hfnc_cpap_niv", HIGH] == 29 and rows["hfnc_cpap_niv", STANDARD] == 16
    assert rows["hfnc_cpap_niv_pf_gt_200", HIGH] == 0 and rows["hfnc_cpap_niv_pf_gt_200", STANDARD] == 0


def test_survival_at_day_21_is_90_vs_56_percent(outcomes):
    summary = km_summary(outcomes, "os_time", "os_event", "arm_label").set_index("arm_label")
    assert summary.loc[HIGH, "survival"] == pytest.approx(26 / 29, abs=1e-12)
    assert summary.loc[STANDARD, "survival"] == pytest.approx(9 / 16, abs=1e-12)
    assert round(100 * summary.loc[HIGH, "survival"]) == 90
    assert round(100 * summary.loc[STANDARD, "survival"]) == 56
    assert summary.loc[HIGH, "ci_lower"] < summary.loc[HIGH, "survival"] < summary.loc[HIGH, "ci_upper"]
    # nobody is censored before day 21: all survivors are still at risk on day 21
    assert summary.loc[HIGH, "at_risk_d21"] == 26 and summary.loc[STANDARD, "at_risk_d21"] == 9


def test_ventilation_free_survival_is_72_vs_50_percent(outcomes):
    assert not outcomes["mvfs_excluded"].any()  # nobody was intubated at enrolment
    summary = km_summary(outcomes, "mvfs_time", "mvfs_event", "arm_label").set_index("arm_label")
    assert summary.loc[HIGH, "survival"] == pytest.approx(21 / 29, abs=1e-12)
    assert summary.loc[STANDARD, "survival"] == pytest.approx(8 / 16, abs=1e-12)
    assert round(100 * summary.loc[HIGH, "survival"]) == 72
    assert round(100 * summary.loc[STANDARD, "survival"]) == 50


def test_logrank_p_for_survival_rounds_to_0_009(outcomes):
    result = logrank(outcomes, "os_time", "os_event", "arm_label")
    assert result["overall"]["p_value"] == pytest.approx(0.00898, abs=5e-6)
    assert round(result["overall"]["p_value"], 3) == 0.009
    assert result["pairwise"][0]["p_value"] == pytest.approx(result["overall"]["p_value"], abs=1e-12)


def test_hazard_of_death_is_lower_with_high_dose_anakinra(outcomes):
    result = cox_hazard_ratios(outcomes, "os_time", "os_event", "arm_label", reference=STANDARD).iloc[0]
    assert result["arm_label"] == HIGH
    assert result["hr"] < 1 and result["ci_upper"] < 1
    assert result["p_value"] < 0.05


def test_respiratory_improvement_at_day_21(outcomes):
    # discharged, room air, low-flow, and CPAP with P/F > 200 all count as improved
    improved = outcomes.groupby("arm_label")["resp_improvement_d21"].sum()
    assert improved.to_dict() == {HIGH: 13 + 3 + 3 + 2, STANDARD: 7 + 1}
