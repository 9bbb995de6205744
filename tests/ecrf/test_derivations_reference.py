"""The vectorised ``derive`` against a plain per-patient, per-day reference written straight from the clinical
definitions.

The reference below loops over a dict of days, one patient at a time, the way a person would apply clinical definitions
§3.1-3.3
by hand. Hypothesis generates patient histories (several patients, several rows a day, missing values, all
event kinds, rows after death, rows outside the grid) and the two must agree on every cell, including where the
values are missing.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecrf.derivations import OUTPUT_COLUMNS, derive

NAN = math.nan

# clinical definitions §3.1, best to worst, with (7-point, WHO OSCI, WHO CPS if P/F >= 150 or S/F >= 200, WHO CPS
# otherwise).
TABLE = {
    "discharged_normal": (1, 1, 2, 2),
    "discharged_impaired": (2, 2, 3, 3),
    "room_air": (3, 3, 4, 4),
    "low_flow": (4, 4, 5, 5),
    "hfnc_cpap_niv": (5, 5, 6, 6),
    "imv": (6, 6, 7, 8),
    "imv_organ_support": (6, 7, 8, 9),
    "imv_ecmo": (6, 7, 9, 9),
    "death": (7, 8, 10, 10),
}
ORDER = list(TABLE)
DEVICE_STATE = {
    "room_air": "room_air",
    "nasal_cannula": "low_flow",
    "simple_mask": "low_flow",
    "venturi": "low_flow",
    "non_rebreather": "low_flow",
    "hfnc": "hfnc_cpap_niv",
    "cpap": "hfnc_cpap_niv",
    "niv": "hfnc_cpap_niv",
    "imv": "imv",
}
# Why a state is unknown (the status note shown to the user).
NO_SUPPORT = "no respiratory support recorded"
DISCHARGE_UNRECORDED = "discharged, normal activities not recorded"
WITHDRAWN = "withdrawn from the study"
LOST = "lost to follow-up"
NO_OXYGENATION = "P/F and S/F unknown: WHO CPS needs them on invasive ventilation"


def nan(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def lowest(values: list[float]) -> float:
    values = [v for v in values if not nan(v)]
    return min(values) if values else NAN


def estimate(device: str, flow: float) -> float:
    """clinical definitions §3.2 FiO2 estimates."""
    if device == "non_rebreather":
        return 0.60
    if nan(flow):
        return NAN
    if device == "nasal_cannula":
        return round(0.20 + 0.04 * min(flow, 6), 2)
    if device == "simple_mask":
        return round(min(max(0.40 + 0.10 * (flow - 5), 0.40), 0.60), 2)
    return NAN  # venturi, HFNC, CPAP, NIV, IMV need the set FiO2


def support_of_day(rows: list[dict]) -> tuple[str | None, float, bool]:
    """(state, FiO2, estimated?) of one day's support rows."""
    rows = [r for r in rows if r["support"] is not None]
    if not rows:
        return None, NAN, False
    level = max(ORDER.index(DEVICE_STATE[r["support"]]) for r in rows)
    if any(r["ecmo"] for r in rows):
        state = "imv_ecmo"
    elif ORDER[level] == "imv" and any(r["vasopressors"] or r["rrt"] for r in rows):
        state = "imv_organ_support"
    else:
        state = ORDER[level]
    candidates = []  # (FiO2, is a set value) at the highest level
    for r in rows:
        if ORDER.index(DEVICE_STATE[r["support"]]) != level:
            continue
        if r["support"] == "room_air":
            candidates.append((0.21, True))
        elif not nan(r["fio2"]):
            candidates.append((r["fio2"], True))
        elif not nan(estimate(r["support"], r["flow_l_min"])):
            candidates.append((estimate(r["support"], r["flow_l_min"]), False))
    if not candidates:
        return state, NAN, False
    fio2, is_set = max(candidates)
    return state, fio2, not is_set


def reference(grid: list[tuple[int, int]], support, vitals, labs, events) -> pd.DataFrame:
    by_day: dict[str, dict[tuple[int, int], list[dict]]] = {k: defaultdict(list) for k in ("s", "v", "l", "e")}
    for name, rows in (("s", support), ("v", vitals), ("l", labs), ("e", events)):
        for r in rows:
            by_day[name][(r["patient_id"], r["study_day"])].append(r)

    def reports_death(e: dict) -> bool:
        return e["kind"] == "death" or (e["kind"] == "vital_status_contact" and e["alive"] is False)

    death_day: dict[int, int] = {}
    for e in events:
        if reports_death(e):
            death_day[e["patient_id"]] = min(death_day.get(e["patient_id"], e["study_day"]), e["study_day"])

    def discharged_state(normal: bool | None) -> str:
        return {True: "discharged_normal", False: "discharged_impaired"}.get(normal, DISCHARGE_UNRECORDED)

    def rank(state: str) -> int:
        return -1 if state == DISCHARGE_UNRECORDED else ORDER.index(state)

    # Walk every patient's days in order; the state (or the reason it is unknown) of every day.
    all_days: dict[int, set[int]] = defaultdict(set)
    for pid, day in [*grid, *(k for table in by_day.values() for k in table)]:
        all_days[pid].add(day)
    state_of: dict[tuple[int, int], str] = {}
    for pid, days in all_days.items():
        carried = NO_SUPPORT
        for day in sorted(days):
            day_support, _, _ = support_of_day(by_day["s"][(pid, day)])
            recorded = [day_support] if day_support else []
            dispositions, hospital = [], day_support is not None
            kinds = {e["kind"] for e in by_day["e"][(pid, day)]}
            for e in by_day["e"][(pid, day)]:
                if reports_death(e):
                    dispositions.append("death")
                elif e["kind"] == "discharged" or (
                    e["kind"] == "vital_status_contact" and e["alive"] is True and e["normal_activities"] is not None
                ):
                    dispositions.append(discharged_state(e["normal_activities"]))
                elif e["kind"] == "imv_started":
                    recorded.append("imv")
                    hospital = True
                elif e["kind"] == "icu_admission":
                    hospital = True
            recorded += dispositions
            if pid in death_day and day >= death_day[pid]:
                state_of[(pid, day)] = "death"
            elif recorded:
                state_of[(pid, day)] = max(recorded, key=rank)
            else:
                state_of[(pid, day)] = carried
            if "withdrawal" in kinds:
                carried = WITHDRAWN
            elif "lost_to_follow_up" in kinds:
                carried = LOST
            elif dispositions:
                carried = max(dispositions, key=rank)
            elif hospital:
                carried = NO_SUPPORT

    def day_values(pid: int, day: int) -> dict[str, Any]:
        _, fio2, estimated = support_of_day(by_day["s"][(pid, day)])
        readings = [v["spo2_pct"] for v in by_day["v"][(pid, day)] if not nan(v["spo2_pct"])]
        sf = [s / fio2 for s in readings] if not nan(fio2) else []
        derived = [(s / fio2 - 64) / 0.84 for s in readings if not nan(fio2) and s <= 97 and s / fio2 > 64]
        if derived:
            note = None
        elif not readings:
            note = "no SpO2"
        elif nan(fio2):
            note = "no FiO2"
        elif min(readings) > 97:
            note = f"SpO2 {min(readings):g}% > 97%: Rice not valid"
        else:
            note = "S/F <= 64"
        measured = []
        for g in by_day["l"][(pid, day)]:
            gas_fio2 = g["abg_fio2"] if not nan(g["abg_fio2"]) else fio2
            if not nan(g["pao2_mmhg"]) and not nan(gas_fio2):
                measured.append(g["pao2_mmhg"] / gas_fio2)
        pf_m, pf_d = lowest(measured), lowest(derived)
        if nan(pf_m) and nan(pf_d):
            pf, source = NAN, None
        elif nan(pf_d) or (not nan(pf_m) and pf_m <= pf_d):
            pf, source = pf_m, "measured"
        else:
            pf, source = pf_d, "derived"
        crps = [g["crp_mg_l"] for g in by_day["l"][(pid, day)] if not nan(g["crp_mg_l"])]
        liver = any(
            (not nan(g[e]) and not nan(g[uln]) and g[e] > 3 * g[uln])
            for g in by_day["l"][(pid, day)]
            for e, uln in (("ast_u_l", "ast_uln_u_l"), ("alt_u_l", "alt_uln_u_l"))
        )
        return {
            "fio2": fio2,
            "fio2_estimated": estimated,
            "sf_ratio": lowest(sf),
            "pf_measured": pf_m,
            "pf_derived": pf_d,
            "pf_derived_note": note,
            "pf": pf,
            "pf_source": source,
            "crp": max(crps) if crps else NAN,
            "liver": liver,
        }

    def benefit_met(pid: int, day: int) -> bool:
        today, baseline = day_values(pid, day), day_values(pid, 0)
        if nan(today["crp"]) or nan(baseline["crp"]) or baseline["crp"] <= 0 or nan(today["pf"]):
            return False
        return today["crp"] <= 0.25 * baseline["crp"] and today["pf"] > 200

    out = []
    for pid, day in grid:
        v = day_values(pid, day)
        state = state_of[(pid, day)]
        row = {"patient_id": pid, "study_day": day, "state": None, "status_note": None}
        row |= {"ordinal_7": None, "who_osci": None, "who_cps": None}
        if state in TABLE:
            milan, osci, cps_ok, cps_low = TABLE[state]
            row |= {"state": state, "ordinal_7": milan, "who_osci": osci, "who_cps": cps_ok}
            if cps_ok != cps_low:
                if not nan(v["pf"]):
                    row["who_cps"] = cps_low if v["pf"] < 150 else cps_ok
                elif not nan(v["sf_ratio"]):
                    row["who_cps"] = cps_low if v["sf_ratio"] < 200 else cps_ok
                else:
                    row["who_cps"], row["status_note"] = None, NO_OXYGENATION
        else:
            row["status_note"] = state
        pf = v["pf"]
        row |= {k: v[k] for k in ("fio2", "fio2_estimated", "sf_ratio", "pf_measured", "pf_derived")}
        row |= {k: v[k] for k in ("pf_derived_note", "pf", "pf_source")}
        row["ards_severity"] = None if nan(pf) else "severe" if pf < 100 else "moderate" if pf <= 200 else "none"
        row["sustained_benefit"] = benefit_met(pid, day) and benefit_met(pid, day - 1)
        row["liver_enzymes_gt_3uln"] = v["liver"]
        after_death = pid in death_day and day > death_day[pid]
        row["data_after_death"] = after_death and bool(
            by_day["s"][(pid, day)]
            or by_day["v"][(pid, day)]
            or by_day["l"][(pid, day)]
            or any(not reports_death(e) for e in by_day["e"][(pid, day)])
        )
        out.append(row)
    return pd.DataFrame(out, columns=list(OUTPUT_COLUMNS))


# --------------------------------------------------------------------------------------------------------
# Patient histories
# --------------------------------------------------------------------------------------------------------

maybe_bool = st.sampled_from([True, False, None])
DEVICES = [*DEVICE_STATE, "imv", "imv", None]
KINDS = ["discharged", "death", "icu_admission", "imv_started", "withdrawal", "lost_to_follow_up"]
KINDS += ["vital_status_contact"] * 2


def near_thresholds(values: list[float], anything: st.SearchStrategy[float]) -> st.SearchStrategy[float]:
    """Values at and around the thresholds of the clinical definitions most of the time, any plausible value
    otherwise."""
    return st.one_of(st.sampled_from(values), st.sampled_from(values), anything)


# On FiO2 0.5: SpO2 100 -> S/F 200 (WHO CPS), 97 / 97.5 / 98 around the Rice limit, 74 -> P/F 100, 60 on 1.0 -> S/F 60.
SPO2 = near_thresholds([NAN, 60, 74, 88, 92, 96, 97, 97.5, 98, 99, 100], st.integers(50, 100).map(float))
# On FiO2 0.5, P/F = 2 x PaO2: around 100 (ARDS), 150 (WHO CPS), 200 (ARDS, sustained benefit).
PAO2 = near_thresholds([NAN, 49.5, 50, 74.5, 75, 100, 100.5, 125], st.integers(20, 700).map(float))
# Day-0 CRP 200; 50 is exactly a 75% fall, 51 is not.
CRP = near_thresholds([NAN, 0, 50, 51, 200, 200], st.integers(0, 400).map(float))
FLOW = st.sampled_from([NAN, 0.5, 1, 2, 2.5, 4, 5, 6, 7, 8, 10, 15])
FIO2 = st.sampled_from([NAN, NAN, 0.21, 0.35, 0.5, 0.5, 0.6, 1.0])


@st.composite
def histories(draw: st.DrawFn) -> dict[str, Any]:
    """Several patients; several rows a day; events crowded on few days so that same-day rules are exercised."""
    n_patients = draw(st.integers(1, 3))
    grid, support, vitals, labs, events = [], [], [], [], []
    for pid in draw(st.lists(st.integers(1, 10**6), min_size=n_patients, max_size=n_patients, unique=True)):
        last = draw(st.integers(0, 6))
        grid += [(pid, day) for day in range(last + 1)]
        day_of = st.integers(-1, last + 1)  # sources may fall just outside the grid
        for _ in range(draw(st.integers(0, 2 * (last + 1)))):
            support.append(
                {
                    "patient_id": pid,
                    "study_day": draw(day_of),
                    "support": draw(st.sampled_from(DEVICES)),
                    "flow_l_min": draw(FLOW),
                    "fio2": draw(FIO2),
                    "peep_cmh2o": NAN,
                    "ecmo": draw(st.sampled_from([False, False, False, True])),
                    "prone": draw(st.booleans()),
                    "vasopressors": draw(st.booleans()),
                    "rrt": draw(st.sampled_from([False, False, False, True])),
                }
            )
        for _ in range(draw(st.integers(0, 2 * (last + 1)))):
            vitals.append({"patient_id": pid, "study_day": draw(day_of), "spo2_pct": draw(SPO2)})
        for _ in range(draw(st.integers(0, 2 * (last + 1)))):
            labs.append(
                {
                    "patient_id": pid,
                    "study_day": draw(day_of),
                    "pao2_mmhg": draw(PAO2),
                    "abg_fio2": draw(st.sampled_from([NAN, NAN, 0.5, 1.0])),
                    "crp_mg_l": draw(CRP),
                    "ast_u_l": draw(st.sampled_from([NAN, 30, 120, 121])),
                    "alt_u_l": draw(st.sampled_from([NAN, 30, 120, 121])),
                    "ast_uln_u_l": draw(st.sampled_from([NAN, 40])),
                    "alt_uln_u_l": draw(st.sampled_from([NAN, 40])),
                }
            )
        event_days = st.sampled_from(draw(st.lists(day_of, min_size=1, max_size=3)))
        for _ in range(draw(st.integers(0, 4))):
            events.append(
                {
                    "patient_id": pid,
                    "study_day": draw(event_days),
                    "kind": draw(st.sampled_from(KINDS)),
                    "normal_activities": draw(maybe_bool),
                    "alive": draw(maybe_bool),
                }
            )
    order = draw(st.randoms(use_true_random=False))
    for rows in (support, vitals, labs, events):
        order.shuffle(rows)
    return {"grid": grid, "support": support, "vitals": vitals, "labs": labs, "events": events}


COLUMNS = {
    "support": (
        *("patient_id", "study_day", "support", "flow_l_min", "fio2", "peep_cmh2o"),
        *("ecmo", "prone", "vasopressors", "rrt"),
    ),
    "vitals": ("patient_id", "study_day", "spo2_pct"),
    "labs": (
        *("patient_id", "study_day", "pao2_mmhg", "abg_fio2", "crp_mg_l"),
        *("ast_u_l", "alt_u_l", "ast_uln_u_l", "alt_uln_u_l"),
    ),
    "events": ("patient_id", "study_day", "kind", "normal_activities", "alive"),
}


def frames(history: dict[str, Any]) -> dict[str, pd.DataFrame]:
    built = {name: pd.DataFrame(history[name], columns=list(cols)) for name, cols in COLUMNS.items()}
    built["grid"] = pd.DataFrame(history["grid"], columns=["patient_id", "study_day"])
    return built


def normalised(frame: pd.DataFrame) -> pd.DataFrame:
    """Both results with one representation of "missing" per column kind, to compare cell by cell."""
    types: dict[str, Any] = {"patient_id": "int64", "study_day": "int64"}
    types |= dict.fromkeys(("state", "status_note", "pf_derived_note", "pf_source", "ards_severity"), "string")
    types |= dict.fromkeys(("ordinal_7", "who_osci", "who_cps"), "Int64")
    types |= dict.fromkeys(("fio2", "sf_ratio", "pf_measured", "pf_derived", "pf"), float)
    types |= dict.fromkeys(("fio2_estimated", "sustained_benefit", "liver_enzymes_gt_3uln", "data_after_death"), bool)
    return frame.astype(types).reset_index(drop=True)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(histories())
def test_vectorised_derivation_equals_the_per_day_reference(history):
    built = frames(history)
    actual = derive(built["grid"], built["support"], built["vitals"], built["labs"], built["events"])
    expected = reference(history["grid"], history["support"], history["vitals"], history["labs"], history["events"])
    pd.testing.assert_frame_equal(normalised(actual), normalised(expected), check_exact=False, rtol=1e-12)


def test_reference_agrees_on_a_hand_checked_history():
    """Guards the reference itself: a discharge carried forward, then a death reported at the day-21 call."""
    history = {
        "grid": [(1, d) for d in range(4)],
        "support": [
            {"patient_id": 1, "study_day": 0, "support": "cpap", "flow_l_min": NAN, "fio2": 0.5, "peep_cmh2o": 10}
            | {"ecmo": False, "prone": False, "vasopressors": False, "rrt": False}
        ],
        "vitals": [{"patient_id": 1, "study_day": 0, "spo2_pct": 92.0}],
        "labs": [],
        "events": [
            {"patient_id": 1, "study_day": 1, "kind": "discharged", "normal_activities": True, "alive": None},
            {
                "patient_id": 1,
                "study_day": 3,
                "kind": "vital_status_contact",
                "normal_activities": None,
                "alive": False,
            },
        ],
    }
    expected = reference(history["grid"], history["support"], history["vitals"], history["labs"], history["events"])
    assert expected["state"].tolist() == ["hfnc_cpap_niv", "discharged_normal", "discharged_normal", "death"]
    assert expected["ordinal_7"].tolist() == [5, 1, 1, 7]
    assert expected.loc[0, "pf"] == 142.85714285714286
