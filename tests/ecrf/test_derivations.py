"""Derived daily data (clinical definitions §3) on the values a user would see on the patient's daily grid.

Expected values are written out from the clinical definitions (tables 3.1, 3.2 and the protocol of 1.1), never read
back from
``ecrf.derivations``, so a wrong number in the module's tables makes a test fail.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ecrf.derivations import (
    ALGORITHM_VERSION,
    DEFAULT_SETTINGS,
    OUTPUT_COLUMNS,
    SCALES,
    STATES,
    derive,
    estimate_fio2,
    resolve_settings,
    rice_pf,
    to_records,
)

NAN = math.nan
SUPPORT_COLUMNS = ["patient_id", "study_day", "support", "flow_l_min", "fio2", "peep_cmh2o", "ecmo", "prone"]
SUPPORT_COLUMNS += ["vasopressors", "rrt"]
VITALS_COLUMNS = ["patient_id", "study_day", "spo2_pct"]
LABS_COLUMNS = ["patient_id", "study_day", "pao2_mmhg", "abg_fio2", "crp_mg_l", "ast_u_l", "alt_u_l"]
LABS_COLUMNS += ["ast_uln_u_l", "alt_uln_u_l"]
EVENTS_COLUMNS = ["patient_id", "study_day", "kind", "normal_activities", "alive"]


def sup(day: int, support: str, patient_id: int = 1, **values: Any) -> dict[str, Any]:
    row = {"flow_l_min": NAN, "fio2": NAN, "peep_cmh2o": NAN, "ecmo": False, "prone": False}
    row |= {"vasopressors": False, "rrt": False}
    return {"patient_id": patient_id, "study_day": day, "support": support, **row, **values}


def spo2(day: int, value: float, patient_id: int = 1) -> dict[str, Any]:
    return {"patient_id": patient_id, "study_day": day, "spo2_pct": value}


def lab(day: int, patient_id: int = 1, **values: float) -> dict[str, Any]:
    row = dict.fromkeys(LABS_COLUMNS[2:], NAN)
    return {**row, "patient_id": patient_id, "study_day": day, **values}


def event(day: int, kind: str, patient_id: int = 1, normal: bool | None = None, alive: bool | None = None):
    return {"patient_id": patient_id, "study_day": day, "kind": kind, "normal_activities": normal, "alive": alive}


def run(
    days: Iterable[int] = range(3),
    support: Iterable[Mapping[str, Any]] = (),
    vitals: Iterable[Mapping[str, Any]] = (),
    labs: Iterable[Mapping[str, Any]] = (),
    events: Iterable[Mapping[str, Any]] = (),
    settings: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Derive one patient's days and index the result by study day."""
    grid = pd.DataFrame({"patient_id": 1, "study_day": list(days)})
    out = derive(
        grid,
        pd.DataFrame(list(support), columns=SUPPORT_COLUMNS),
        pd.DataFrame(list(vitals), columns=VITALS_COLUMNS),
        pd.DataFrame(list(labs), columns=LABS_COLUMNS),
        pd.DataFrame(list(events), columns=EVENTS_COLUMNS),
        settings,
    )
    return out.set_index("study_day")


def one_day(support: Iterable[Mapping[str, Any]] = (), **sources: Any) -> pd.Series:
    return run(days=[0], support=support, **sources).loc[0]


def is_na(value: Any) -> bool:
    return value is None or bool(pd.isna(value))


def states(out: pd.DataFrame) -> list[str | None]:
    return [None if is_na(state) else state for state in out["state"]]


# --------------------------------------------------------------------------------------------------------
# clinical definitions §3.2: PaO2:FiO2 derived from SpO2 with Rice et al.
# --------------------------------------------------------------------------------------------------------


def test_rice_example_from_the_spec():
    assert rice_pf(92, 0.50) == pytest.approx(142.857142857, rel=1e-9)
    day = one_day([sup(0, "hfnc", fio2=0.50)], vitals=[spo2(0, 92)])
    assert day["sf_ratio"] == pytest.approx(184.0)
    assert day["pf_derived"] == pytest.approx(142.857142857, rel=1e-9)
    assert (day["pf"], day["pf_source"], day["ards_severity"]) == (pytest.approx(142.857142857), "derived", "moderate")
    assert is_na(day["pf_derived_note"])


def test_rice_is_valid_up_to_spo2_97_and_not_above():
    at_limit = one_day([sup(0, "hfnc", fio2=0.50)], vitals=[spo2(0, 97)])
    assert at_limit["pf_derived"] == pytest.approx((97 / 0.5 - 64) / 0.84)

    above = one_day([sup(0, "hfnc", fio2=0.50)], vitals=[spo2(0, 98)])
    assert np.isnan(above["pf_derived"])
    assert above["pf_derived_note"] == "SpO2 98% > 97%: Rice not valid"
    # The S/F itself is still reported (WHO CPS uses it when no P/F is known).
    assert above["sf_ratio"] == pytest.approx(196.0)
    assert is_na(above["pf_source"]) and is_na(above["ards_severity"])


def test_rice_gives_no_value_when_sf_is_64_or_below():
    assert np.isnan(rice_pf(64, 1.0))
    assert rice_pf(65, 1.0) == pytest.approx(1 / 0.84)
    day = one_day([sup(0, "imv", fio2=1.0)], vitals=[spo2(0, 60)])
    assert np.isnan(day["pf_derived"])
    assert day["pf_derived_note"] == "S/F <= 64"


def test_derived_pf_notes_when_an_input_is_missing():
    no_spo2 = one_day([sup(0, "hfnc", fio2=0.5)], vitals=[spo2(0, NAN)])
    assert no_spo2["pf_derived_note"] == "no SpO2"
    no_fio2 = one_day([sup(0, "hfnc")], vitals=[spo2(0, 92)])
    assert no_fio2["pf_derived_note"] == "no FiO2"
    assert np.isnan(no_fio2["fio2"]) and np.isnan(no_fio2["sf_ratio"])


def test_several_spo2_readings_give_the_worst_pf_of_the_day():
    day = one_day([sup(0, "hfnc", fio2=0.5)], vitals=[spo2(0, 95), spo2(0, 88), spo2(0, 99), spo2(0, NAN)])
    assert day["pf_derived"] == pytest.approx((88 / 0.5 - 64) / 0.84)
    assert day["sf_ratio"] == pytest.approx(176.0)


def test_valid_reading_wins_over_an_invalid_one_on_the_same_day():
    day = one_day([sup(0, "hfnc", fio2=0.5)], vitals=[spo2(0, 99), spo2(0, 96)])
    assert day["pf_derived"] == pytest.approx((96 / 0.5 - 64) / 0.84)
    assert is_na(day["pf_derived_note"])


def test_study_setting_moves_the_rice_limit():
    day = one_day([sup(0, "hfnc", fio2=0.5)], vitals=[spo2(0, 98)], settings={"rice_max_spo2": 98})
    assert day["pf_derived"] == pytest.approx((98 / 0.5 - 64) / 0.84)


# --------------------------------------------------------------------------------------------------------
# clinical definitions §3.2: FiO2 set on the device, else estimated
# --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("support", "flow", "expected"),
    [
        ("nasal_cannula", 2, 0.28),
        ("nasal_cannula", 6, 0.44),
        ("nasal_cannula", 8, 0.44),  # capped at 6 L/min
        ("simple_mask", 5, 0.40),
        ("simple_mask", 3, 0.40),  # never below 0.40
        ("simple_mask", 6, 0.50),
        ("simple_mask", 7, 0.60),
        ("simple_mask", 9, 0.60),  # never above 0.60
        ("non_rebreather", 15, 0.60),
        ("non_rebreather", NAN, 0.60),  # needs no flow
        ("room_air", NAN, 0.21),
    ],
)
def test_fio2_estimate_table(support, flow, expected):
    assert estimate_fio2(pd.Series([support]), pd.Series([flow])).iloc[0] == pytest.approx(expected, abs=1e-12)
    day = one_day([sup(0, support, flow_l_min=flow)])
    assert day["fio2"] == pytest.approx(expected, abs=1e-12)
    assert day["fio2_estimated"] == (support != "room_air")


@pytest.mark.parametrize("support", ["venturi", "hfnc", "cpap", "niv", "imv"])
def test_devices_that_need_the_set_fio2_have_no_estimate(support):
    day = one_day([sup(0, support, flow_l_min=40)], vitals=[spo2(0, 92)])
    assert np.isnan(day["fio2"])
    assert not day["fio2_estimated"]
    assert day["pf_derived_note"] == "no FiO2"


def test_flow_dependent_estimate_needs_the_flow():
    assert np.isnan(one_day([sup(0, "nasal_cannula")])["fio2"])


def test_set_fio2_wins_over_the_estimate_and_is_not_flagged():
    day = one_day([sup(0, "nasal_cannula", flow_l_min=2, fio2=0.35)])
    assert (day["fio2"], day["fio2_estimated"]) == (pytest.approx(0.35), False)


def test_a_set_fio2_is_preferred_to_an_equal_estimate_on_the_same_day():
    for rows in ([sup(0, "non_rebreather", fio2=0.6), sup(0, "non_rebreather")], [sup(0, "non_rebreather")] * 2):
        day = one_day(rows)
        assert day["fio2"] == pytest.approx(0.6)
        assert day["fio2_estimated"] == (rows[0]["fio2"] != 0.6)


def test_room_air_is_exactly_021_whatever_is_entered():
    day = one_day([sup(0, "room_air", fio2=0.30)])
    assert (day["fio2"], day["fio2_estimated"]) == (0.21, False)


def test_study_can_override_one_device_estimate():
    settings = {"fio2_estimates": {"nasal_cannula": {"fio2_at_ref_flow": 0.24, "per_l_min": 0.03}}}
    day = one_day([sup(0, "nasal_cannula", flow_l_min=2)], settings=settings)
    assert day["fio2"] == pytest.approx(0.30)
    # the other devices keep the default settings
    assert one_day([sup(0, "simple_mask", flow_l_min=7)], settings=settings)["fio2"] == pytest.approx(0.60)


def test_estimated_fio2_feeds_the_derived_pf():
    # nasal cannula 2 L/min -> FiO2 0.28; SpO2 90% -> S/F 321.4 -> P/F 306.4
    day = one_day([sup(0, "nasal_cannula", flow_l_min=2)], vitals=[spo2(0, 90)])
    assert day["pf_derived"] == pytest.approx((90 / 0.28 - 64) / 0.84)
    assert day["ards_severity"] == "none"


# --------------------------------------------------------------------------------------------------------
# clinical definitions §3.2: measured P/F, choice of the day's P/F, ARDS severity
# --------------------------------------------------------------------------------------------------------


def test_measured_pf_uses_the_fio2_of_the_blood_gas_else_the_days_fio2():
    with_gas_fio2 = one_day([sup(0, "cpap", fio2=0.6)], labs=[lab(0, pao2_mmhg=80, abg_fio2=0.5)])
    assert with_gas_fio2["pf_measured"] == pytest.approx(160.0)
    with_day_fio2 = one_day([sup(0, "cpap", fio2=0.5)], labs=[lab(0, pao2_mmhg=60)])
    assert with_day_fio2["pf_measured"] == pytest.approx(120.0)
    assert with_day_fio2["pf_source"] == "measured"
    unknown = one_day([sup(0, "cpap")], labs=[lab(0, pao2_mmhg=60)])
    assert np.isnan(unknown["pf_measured"]) and np.isnan(unknown["pf"])


def test_days_pf_is_the_lower_of_measured_and_derived():
    # derived: SpO2 92 on 0.5 -> 142.9; measured 60 / 0.5 = 120 -> measured is worse
    day = one_day([sup(0, "cpap", fio2=0.5)], vitals=[spo2(0, 92)], labs=[lab(0, pao2_mmhg=60)])
    assert (day["pf"], day["pf_source"]) == (pytest.approx(120.0), "measured")
    # measured 90 / 0.5 = 180 -> derived 142.9 is worse
    day = one_day([sup(0, "cpap", fio2=0.5)], vitals=[spo2(0, 92)], labs=[lab(0, pao2_mmhg=90)])
    assert (day["pf"], day["pf_source"]) == (pytest.approx(142.857142857), "derived")


def test_a_tie_between_measured_and_derived_pf_is_reported_as_measured():
    pao2 = (92 / 0.5 - 64) / 0.84 * 0.5  # the blood gas gives exactly the Rice value of SpO2 92% on 0.5
    day = one_day([sup(0, "cpap", fio2=0.5)], vitals=[spo2(0, 92)], labs=[lab(0, pao2_mmhg=pao2)])
    assert day["pf_measured"] == day["pf_derived"]
    assert day["pf_source"] == "measured"


def test_several_blood_gases_give_the_worst_measured_pf():
    day = one_day([sup(0, "cpap", fio2=0.5)], labs=[lab(0, pao2_mmhg=90), lab(0, pao2_mmhg=55), lab(0)])
    assert day["pf_measured"] == pytest.approx(110.0)


@pytest.mark.parametrize(
    ("pao2", "severity"),
    [(49.5, "severe"), (50.0, "moderate"), (100.0, "moderate"), (100.5, "none")],  # on FiO2 0.5: P/F = 2 x PaO2
)
def test_ards_severity_thresholds(pao2, severity):
    assert one_day([sup(0, "cpap", fio2=0.5)], labs=[lab(0, pao2_mmhg=pao2)])["ards_severity"] == severity


# --------------------------------------------------------------------------------------------------------
# clinical definitions §3.1: the state table on the three scales
# --------------------------------------------------------------------------------------------------------

GOOD_GAS = {"labs": [lab(0, pao2_mmhg=75, abg_fio2=0.5)]}  # P/F exactly 150
POOR_GAS = {"labs": [lab(0, pao2_mmhg=74.5, abg_fio2=0.5)]}  # P/F 149
SF_200 = {"vitals": [spo2(0, 100)]}  # on FiO2 0.5: S/F exactly 200, no Rice P/F (SpO2 > 97)
SF_198 = {"vitals": [spo2(0, 99)]}


def imv(**values: Any) -> list[dict[str, Any]]:
    return [sup(0, "imv", **{"fio2": 0.5, **values})]


@pytest.mark.parametrize(
    ("label", "support", "sources", "state", "scores"),
    [
        ("room air", [sup(0, "room_air")], {}, "room_air", (3, 3, 4)),
        ("nasal cannula", [sup(0, "nasal_cannula", flow_l_min=2)], {}, "low_flow", (4, 4, 5)),
        ("simple mask", [sup(0, "simple_mask", flow_l_min=6)], {}, "low_flow", (4, 4, 5)),
        ("venturi", [sup(0, "venturi", fio2=0.35)], {}, "low_flow", (4, 4, 5)),
        ("non-rebreather", [sup(0, "non_rebreather", flow_l_min=15)], {}, "low_flow", (4, 4, 5)),
        ("HFNC", [sup(0, "hfnc", fio2=0.6, flow_l_min=50)], {}, "hfnc_cpap_niv", (5, 5, 6)),
        ("CPAP", [sup(0, "cpap", fio2=0.6, peep_cmh2o=10)], {}, "hfnc_cpap_niv", (5, 5, 6)),
        ("NIV", [sup(0, "niv", fio2=0.6, peep_cmh2o=8)], {}, "hfnc_cpap_niv", (5, 5, 6)),
        ("IMV, P/F 150", imv(), GOOD_GAS, "imv", (6, 6, 7)),
        ("IMV, P/F 149", imv(), POOR_GAS, "imv", (6, 6, 8)),
        ("IMV, no P/F, S/F 200", imv(), SF_200, "imv", (6, 6, 7)),
        ("IMV, no P/F, S/F 198", imv(), SF_198, "imv", (6, 6, 8)),
        ("IMV+vasopressors, P/F 150", imv(vasopressors=True), GOOD_GAS, "imv_organ_support", (6, 7, 8)),
        ("IMV+vasopressors, P/F 149", imv(vasopressors=True), POOR_GAS, "imv_organ_support", (6, 7, 9)),
        ("IMV+RRT, P/F 150", imv(rrt=True), GOOD_GAS, "imv_organ_support", (6, 7, 8)),
        ("IMV+RRT, P/F 149", imv(rrt=True), POOR_GAS, "imv_organ_support", (6, 7, 9)),
        ("IMV+RRT, no P/F, S/F 198", imv(rrt=True), SF_198, "imv_organ_support", (6, 7, 9)),
        ("IMV+ECMO", imv(ecmo=True), {}, "imv_ecmo", (6, 7, 9)),
        ("IMV+ECMO+vasopressors, P/F 150", imv(ecmo=True, vasopressors=True), GOOD_GAS, "imv_ecmo", (6, 7, 9)),
        ("death", [], {"events": [event(0, "death")]}, "death", (7, 8, 10)),
        ("discharged, normal", [], {"events": [event(0, "discharged", normal=True)]}, "discharged_normal", (1, 1, 2)),
        ("discharged, impaired", [], {"events": [event(0, "discharged", normal=False)]}, "discharged_impaired",
         (2, 2, 3)),
    ],
)  # fmt: skip
def test_spec_state_table(label, support, sources, state, scores):
    day = one_day(support, **sources)
    assert day["state"] == state, label
    assert (day["ordinal_7"], day["who_osci"], day["who_cps"]) == scores, label
    assert is_na(day["status_note"]), label


def test_vasopressors_or_rrt_without_invasive_ventilation_do_not_change_the_state():
    day = one_day([sup(0, "niv", fio2=0.6, vasopressors=True, rrt=True)])
    assert (day["state"], day["ordinal_7"], day["who_osci"], day["who_cps"]) == ("hfnc_cpap_niv", 5, 5, 6)


def test_who_cps_on_ventilation_is_missing_without_pf_or_sf():
    day = one_day([sup(0, "imv")], vitals=[spo2(0, 94)])  # no FiO2 set: neither P/F nor S/F
    assert (day["state"], day["ordinal_7"], day["who_osci"]) == ("imv", 6, 6)
    assert is_na(day["who_cps"])
    assert "P/F" in day["status_note"] and "S/F" in day["status_note"]
    organ = one_day([sup(0, "imv", vasopressors=True)])
    assert (organ["who_osci"], is_na(organ["who_cps"])) == (7, True)


def test_measured_pf_takes_precedence_over_sf_for_who_cps():
    # P/F 149 from the gas, S/F 200 from a SpO2 of 100%: the P/F decides.
    day = one_day([sup(0, "imv", fio2=0.5)], vitals=[spo2(0, 100)], labs=[lab(0, pao2_mmhg=74.5)])
    assert day["who_cps"] == 8


def test_scales_metadata_describes_every_score_the_table_produces():
    assert set(SCALES) == {"milan_7", "who_osci_8", "who_cps_10"}
    assert SCALES["milan_7"].direction == "lower_is_better"
    assert SCALES["who_osci_8"].direction == SCALES["who_cps_10"].direction == "higher_is_worse"
    assert set(SCALES["milan_7"].value_labels) == set(range(1, 8))
    assert set(SCALES["who_osci_8"].value_labels) == set(range(9))
    assert set(SCALES["who_cps_10"].value_labels) == set(range(11))
    produced = {
        "milan_7": {s.milan_7 for s in STATES},
        "who_osci_8": {s.who_osci_8 for s in STATES},
        "who_cps_10": {s.who_cps_10 for s in STATES} | {s.who_cps_10_low_pf for s in STATES},
    }
    for identifier, scores in produced.items():
        assert scores <= set(SCALES[identifier].value_labels), identifier
    assert {SCALES[i].column for i in SCALES} <= set(OUTPUT_COLUMNS)


# --------------------------------------------------------------------------------------------------------
# clinical definitions §3.1: worst of the day, death absorbing, discharge carry-forward
# --------------------------------------------------------------------------------------------------------


def test_worst_support_of_the_day_wins_and_gives_the_days_fio2():
    rows = [sup(0, "room_air"), sup(0, "cpap", fio2=0.5, peep_cmh2o=10), sup(0, "nasal_cannula", flow_l_min=4)]
    for order in (rows, rows[::-1]):
        day = one_day(order, vitals=[spo2(0, 92)])
        assert (day["state"], day["ordinal_7"]) == ("hfnc_cpap_niv", 5)
        # the SpO2 is read against the FiO2 of the highest support, not the nasal cannula estimate
        assert (day["fio2"], day["fio2_estimated"]) == (pytest.approx(0.5), False)
        assert day["pf_derived"] == pytest.approx(142.857142857)


def test_vasopressors_recorded_on_another_row_of_an_imv_day_count():
    day = one_day([sup(0, "niv", fio2=0.6, vasopressors=True), sup(0, "imv", fio2=0.6)], **GOOD_GAS)
    assert (day["state"], day["who_osci"], day["who_cps"]) == ("imv_organ_support", 7, 8)


def test_worst_of_day_between_two_imv_rows_with_and_without_ecmo():
    day = one_day([sup(0, "imv", fio2=0.6, ecmo=True), sup(0, "imv", fio2=0.8)])
    assert (day["state"], day["who_cps"]) == ("imv_ecmo", 9)
    assert day["fio2"] == pytest.approx(0.8)  # the worst FiO2 at the highest level


def test_death_makes_its_day_and_every_later_day_death():
    out = run(
        days=range(5),
        support=[sup(d, "imv", fio2=0.6) for d in range(4)],
        vitals=[spo2(2, 90), spo2(4, 90)],
        events=[event(2, "death")],
    )
    assert states(out) == ["imv", "imv", "death", "death", "death"]
    assert out["ordinal_7"].tolist() == [6, 6, 7, 7, 7]
    # rows on the death day are fine; rows after it are flagged
    assert out["data_after_death"].tolist() == [False, False, False, True, True]


def test_any_event_after_death_is_data_after_death():
    out = run(days=range(4), events=[event(1, "death"), event(3, "icu_admission")])
    assert out["data_after_death"].tolist() == [False, False, False, True]


def test_death_reported_by_the_vital_status_contact_counts_from_the_contact_day():
    out = run(
        days=range(6),
        support=[sup(0, "cpap", fio2=0.5)],
        events=[event(1, "discharged", normal=True), event(4, "vital_status_contact", alive=False)],
    )
    assert states(out) == ["hfnc_cpap_niv", *["discharged_normal"] * 3, "death", "death"]
    assert not out["data_after_death"].any()


def test_discharge_carries_forward_and_the_discharge_day_is_the_worst_of_the_day():
    out = run(
        days=range(6),
        support=[sup(0, "cpap", fio2=0.5), sup(1, "nasal_cannula", flow_l_min=2)],
        events=[event(1, "discharged", normal=False)],
    )
    assert states(out) == ["hfnc_cpap_niv", "low_flow"] + ["discharged_impaired"] * 4
    assert out["ordinal_7"].tolist() == [5, 4, 2, 2, 2, 2]


def test_contact_after_discharge_changes_the_carried_state():
    out = run(
        days=range(7),
        support=[sup(0, "room_air")],
        events=[
            event(1, "discharged", normal=False),
            event(3, "vital_status_contact", alive=True, normal=True),
            event(5, "vital_status_contact", alive=True, normal=None),  # says nothing about activities
        ],
    )
    assert states(out) == ["room_air"] + ["discharged_impaired"] * 2 + ["discharged_normal"] * 4
    assert out["who_osci"].tolist() == [3, 2, 2, 1, 1, 1, 1]


def test_discharge_and_contact_on_the_same_day_carry_the_worse_state():
    events = [event(1, "discharged", normal=True), event(1, "vital_status_contact", alive=True, normal=False)]
    out = run(days=range(3), support=[sup(0, "room_air")], events=events)
    assert states(out) == ["room_air", "discharged_impaired", "discharged_impaired"]


def test_readmission_uses_the_hospital_support_and_ends_the_carry_forward():
    out = run(
        days=range(7),
        support=[sup(0, "room_air"), sup(3, "non_rebreather", flow_l_min=15)],
        events=[event(1, "discharged", normal=True), event(6, "vital_status_contact", alive=True, normal=True)],
    )
    assert states(out) == [
        "room_air",
        "discharged_normal",
        "discharged_normal",
        "low_flow",
        None,
        None,
        "discharged_normal",
    ]
    assert out.loc[4, "status_note"] == "no respiratory support recorded"


def test_discharge_without_normal_activities_recorded_leaves_the_state_unknown():
    out = run(days=range(4), support=[sup(0, "room_air")], events=[event(1, "discharged", normal=None)])
    assert states(out) == ["room_air", None, None, None]
    assert out.loc[2, "status_note"] == "discharged, normal activities not recorded"
    assert out.loc[2, ["ordinal_7", "who_osci", "who_cps"]].isna().all()


def test_lost_to_follow_up_ends_the_carry_forward():
    out = run(
        days=range(5),
        events=[event(0, "discharged", normal=True), event(2, "lost_to_follow_up")],
    )
    assert states(out) == ["discharged_normal", "discharged_normal", "discharged_normal", None, None]
    assert out.loc[3, "status_note"] == "lost to follow-up"


def test_hospital_day_without_support_has_no_state_and_says_why():
    out = run(days=range(3), support=[sup(0, "cpap", fio2=0.5), sup(2, "cpap", fio2=0.5)], vitals=[spo2(1, 93)])
    assert states(out) == ["hfnc_cpap_niv", None, "hfnc_cpap_niv"]
    assert out.loc[1, "status_note"] == "no respiratory support recorded"
    assert out.loc[1, ["ordinal_7", "who_osci", "who_cps"]].isna().all()


def test_imv_started_event_records_invasive_ventilation_on_its_day():
    out = run(days=range(2), support=[sup(0, "niv", fio2=0.6)], events=[event(1, "imv_started")])
    assert states(out) == ["hfnc_cpap_niv", "imv"]


# --------------------------------------------------------------------------------------------------------
# clinical definitions §1.1 / 3.3: protocol signals
# --------------------------------------------------------------------------------------------------------


def benefit_days(crps: list[float], pao2s: list[float]) -> list[bool]:
    """Sustained benefit per day for a CPAP patient on FiO2 0.5 (P/F = 2 x PaO2)."""
    out = run(
        days=range(len(crps)),
        support=[sup(d, "cpap", fio2=0.5) for d in range(len(crps))],
        labs=[lab(d, crp_mg_l=c, pao2_mmhg=p) for d, (c, p) in enumerate(zip(crps, pao2s, strict=True))],
    )
    return out["sustained_benefit"].tolist()


def test_sustained_benefit_needs_two_consecutive_days():
    # baseline CRP 200; 50 is exactly a 75% fall; PaO2 125 on 0.5 -> P/F 250
    assert benefit_days([200, 50, 180, 50], [60, 125, 125, 125]) == [False, False, False, False]
    assert benefit_days([200, 50, 50, 40], [60, 125, 125, 125]) == [False, False, True, True]


def test_sustained_benefit_thresholds():
    assert benefit_days([200, 51, 51], [60, 125, 125])[-1] is False  # CRP fallen 74.5%
    assert benefit_days([200, 50, 50], [60, 100, 100])[-1] is False  # P/F exactly 200 is not > 200
    assert benefit_days([200, 50, 50], [60, 100.5, 100.5])[-1] is True  # P/F 201
    assert benefit_days([NAN, 10, 10], [60, 125, 125])[-1] is False  # no baseline CRP


def test_sustained_benefit_uses_the_highest_crp_of_a_day():
    labs = [lab(0, crp_mg_l=200), lab(1, crp_mg_l=40), lab(1, crp_mg_l=60), lab(2, crp_mg_l=40)]
    labs += [lab(d, pao2_mmhg=125) for d in range(3)]
    out = run(days=range(3), support=[sup(d, "cpap", fio2=0.5) for d in range(3)], labs=labs)
    # day 1 also had a CRP of 60 (only 70% below baseline): days 1-2 are not two days of benefit
    assert out["sustained_benefit"].tolist() == [False, False, False]


@pytest.mark.parametrize(
    ("ast", "alt", "flagged"),
    [(120, 30, False), (120.5, 30, True), (30, 120, False), (30, 121, True), (NAN, NAN, False)],
)
def test_liver_enzymes_above_three_times_uln(ast, alt, flagged):
    day = one_day(labs=[lab(0, ast_u_l=ast, alt_u_l=alt, ast_uln_u_l=40, alt_uln_u_l=40)])
    assert bool(day["liver_enzymes_gt_3uln"]) is flagged


def test_liver_flag_needs_the_sites_uln():
    assert not one_day(labs=[lab(0, ast_u_l=500)])["liver_enzymes_gt_3uln"]


# --------------------------------------------------------------------------------------------------------
# Output contract
# --------------------------------------------------------------------------------------------------------


def test_one_row_per_grid_row_in_grid_order_with_typed_columns():
    grid = pd.DataFrame({"patient_id": [7, 3, 7, 3], "study_day": [1, 0, 0, 1]})
    support = pd.DataFrame([sup(0, "room_air", patient_id=3), sup(1, "imv", patient_id=7)], columns=SUPPORT_COLUMNS)
    out = derive(
        grid,
        support,
        pd.DataFrame(columns=VITALS_COLUMNS),
        pd.DataFrame(columns=LABS_COLUMNS),
        pd.DataFrame(columns=EVENTS_COLUMNS),
    )
    assert tuple(out.columns) == OUTPUT_COLUMNS
    assert out[["patient_id", "study_day"]].to_numpy().tolist() == [[7, 1], [3, 0], [7, 0], [3, 1]]
    assert states(out) == ["imv", "room_air", None, None]
    assert {out[c].dtype.name for c in ("ordinal_7", "who_osci", "who_cps")} == {"Int64"}
    assert {out[c].dtype.name for c in ("sustained_benefit", "liver_enzymes_gt_3uln", "data_after_death")} == {"bool"}
    assert out["fio2_estimated"].dtype == bool
    assert {out[c].dtype.name for c in ("state", "status_note", "pf_derived_note", "pf_source", "ards_severity")} == {
        "category"
    }


def test_empty_grid_gives_an_empty_frame_with_every_column():
    out = run(days=[])
    assert out.empty and set(OUTPUT_COLUMNS) - {"study_day"} <= set(out.columns)


def test_patients_do_not_leak_into_each_other():
    grid = pd.DataFrame({"patient_id": [1, 1, 2, 2], "study_day": [0, 1, 0, 1]})
    out = derive(
        grid,
        pd.DataFrame([sup(0, "room_air", patient_id=2), sup(1, "room_air", patient_id=2)], columns=SUPPORT_COLUMNS),
        pd.DataFrame(columns=VITALS_COLUMNS),
        pd.DataFrame([lab(0, patient_id=1, crp_mg_l=200)], columns=LABS_COLUMNS),
        pd.DataFrame([event(0, "discharged", patient_id=1, normal=True)], columns=EVENTS_COLUMNS),
    )
    assert states(out) == ["discharged_normal", "discharged_normal", "room_air", "room_air"]


def test_unknown_codes_and_settings_are_refused():
    with pytest.raises(ValueError, match="unknown support"):
        one_day([sup(0, "helmet")])
    with pytest.raises(ValueError, match="unknown event"):
        one_day(events=[event(0, "transferred")])
    with pytest.raises(ValueError, match="unknown derivation setting"):
        resolve_settings({"rice_max_sp02": 98})
    with pytest.raises(ValueError, match="day_state_rule"):
        resolve_settings({"day_state_rule": "last_of_day"})


def test_settings_and_version_are_exposed_for_the_codebook():
    assert DEFAULT_SETTINGS["rice_max_spo2"] == 97
    assert (DEFAULT_SETTINGS["ards_severe_pf_below"], DEFAULT_SETTINGS["ards_moderate_pf_max"]) == (100, 200)
    assert DEFAULT_SETTINGS["day_state_rule"] == "worst_of_day"
    assert isinstance(ALGORITHM_VERSION, str) and ALGORITHM_VERSION
    # overriding one device replaces its whole formula and leaves the other devices and the defaults alone
    resolved = resolve_settings({"fio2_estimates": {"nasal_cannula": {"fio2_at_ref_flow": 0.3}}})
    assert resolved["fio2_estimates"]["nasal_cannula"] == {"fio2_at_ref_flow": 0.3}
    assert resolved["fio2_estimates"]["simple_mask"] == DEFAULT_SETTINGS["fio2_estimates"]["simple_mask"]
    assert DEFAULT_SETTINGS["fio2_estimates"]["nasal_cannula"]["max_flow_l_min"] == 6
    with pytest.raises(ValueError, match="fio2_at_ref_flow"):
        resolve_settings({"fio2_estimates": {"nasal_cannula": {"max_flow_l_min": 4}}})
    with pytest.raises(ValueError, match="unknown support"):
        resolve_settings({"fio2_estimates": {"helmet": {"fio2_at_ref_flow": 0.5}}})


def test_records_for_the_database_have_none_for_every_missing_value():
    out = run(days=range(2), support=[sup(0, "imv", fio2=0.5)], vitals=[spo2(0, 92)])
    first, second = to_records(out)
    assert (first["state"], first["ordinal_7"], first["pf_source"]) == ("imv", 6, "derived")
    assert first["pf"] == pytest.approx(142.857142857) and first["fio2_estimated"] is False
    assert second["state"] is None and second["ordinal_7"] is None and second["pf"] is None
    assert second["status_note"] == "no respiratory support recorded"
    assert all(
        value is None or isinstance(value, str | int | float | bool) for value in (*first.values(), *second.values())
    )


def test_settings_out_of_range_or_bands_out_of_order_are_refused_key_by_key():
    from ecrf.derivations import settings_problems

    assert settings_problems({"ards_severe_pf_below": 90, "ards_moderate_pf_max": 190}) == []
    assert dict(settings_problems({"ards_severe_pf_below": 200})) == {
        "ards_severe_pf_below": "ARDS bands must increase: the severe band ends below 200 mmHg, which must be lower "
        "than the moderate band's maximum 200 mmHg"
    }
    found = dict(
        settings_problems(
            {
                "rice_max_spo2": "97",
                "benefit_consecutive_days": 1.5,
                "fio2_estimates": {"nasal_cannula": {"fio2_at_ref_flow": "x"}},
                "nope": 1,
            }
        )
    )
    assert set(found) == {
        "rice_max_spo2",
        "benefit_consecutive_days",
        "fio2_estimates.nasal_cannula.fio2_at_ref_flow",
        "nope",
    }
    with pytest.raises(ValueError, match="ARDS bands must increase"):
        resolve_settings({"ards_severe_pf_below": 150, "ards_moderate_pf_max": 120})
