"""Case-series outputs (clinical definitions §4.10): the table by time to the first anakinra dose and the swimmer
plot, on a series told like the New York 2020 one (Arthritis & Rheumatology): anakinra within 36 h of the oxygen
criterion and no patient intubated; anakinra 4 days or more later and every patient intubated."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pandas as pd
import pytest
from django.utils import translation
from django.utils.translation import gettext

from analysis.plots import _exposure_segments, _support_segments, swimmer_plot
from analysis.tables import case_series_table, shown_cell, shown_label

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
EARLY, INTERMEDIATE, LATE = "Early (<= 36 h) (n=7)", "Intermediate (> 36 h, < 96 h) (n=3)", "Late (>= 96 h) (n=4)"


def patient(pid, group, hours, basis="time", episodes=0, imv_days=0.0, extubated=False, died=False, home=True):
    return {
        "patient_id": pid,
        "hours_to_anakinra": hours,
        "timing_basis": basis,
        "timing_group": group,
        "imv_episodes": episodes,
        "imv_days": imv_days,
        "imv_days_basis": "day" if episodes else "",
        "imv_ongoing": bool(episodes) and not extubated and not died,
        "failed_extubations": 1 if episodes == 2 else 0,
        "extubated": extubated,
        "ventilator_free_days": 28.0 - imv_days,
        "icu_free_days": np.nan,
        "ny_response": episodes == 0,
        "ny_failure": episodes > 0,
        "died": died,
        "discharged": home and not died,
    }


def new_york() -> pd.DataFrame:
    """7 early (two timed to the day only), none intubated, one still in hospital; 3 intermediate, one intubated
    for 9 days then extubated; 4 late, all intubated for 7-19 days: one extubation failed before a successful
    one, two went home, one died, one is still ventilated."""
    early = [
        patient(i, "early", hours, basis)
        for i, (hours, basis) in enumerate(
            [(4.0, "time"), (8.0, "time"), (12.0, "day"), (20.0, "time"), (24.0, "day"), (30.0, "time"), (36.0, "time")]
        )
    ]
    early[-1]["discharged"] = False
    intermediate = [
        patient(10, "intermediate", 40.0),
        patient(11, "intermediate", 60.0, episodes=1, imv_days=9.0, extubated=True),
        patient(12, "intermediate", 80.0, "day"),
    ]
    late = [
        patient(20, "late", 96.0, episodes=2, imv_days=12.0, extubated=True),
        patient(21, "late", 110.0, "day", episodes=1, imv_days=7.0, extubated=True),
        patient(22, "late", 130.0, episodes=1, imv_days=19.0, died=True),
        patient(23, "late", 150.0, episodes=1, imv_days=10.0, home=False),
    ]
    return pd.DataFrame(early + intermediate + late)


@pytest.fixture(scope="module")
def table():
    return case_series_table(new_york())


def cell(table, label: str, column: str) -> str:
    return table.wide.loc[label, column]


# --- table ----------------------------------------------------------------------------------------


def test_columns_are_the_timing_groups_in_order_with_their_limits_and_sizes(table):
    assert list(table.wide.columns) == [EARLY, INTERMEDIATE, LATE]  # no untreated, no unknown timing: left out


def test_rows_in_the_published_order(table):
    assert list(table.wide.index) == [
        "Patients",
        "Intubated",
        "Extubated",
        "Discharged home",
        "Still in hospital",
        "Died",
        "Ventilation days, median (range)",
        "Hours to first anakinra dose, median (range)",
        "Time known only to the day",
    ]


def test_early_patients_none_intubated(table):
    assert cell(table, "Patients", EARLY) == "7"
    assert cell(table, "Intubated", EARLY) == "0 (0%)"
    assert cell(table, "Discharged home", EARLY) == "6 (86%)"
    assert cell(table, "Still in hospital", EARLY) == "1 (14%)"
    assert cell(table, "Ventilation days, median (range)", EARLY) == "-"
    assert cell(table, "Hours to first anakinra dose, median (range)", EARLY) == "20.0 (4.0-36.0)"
    assert cell(table, "Time known only to the day", EARLY) == "2"


def test_late_patients_all_intubated(table):
    late = table.wide[LATE].to_dict()
    assert late == {
        "Patients": "4",
        "Intubated": "4 (100%)",
        "Extubated": "2 (50%)",  # the failed extubation is followed by a successful one
        "Discharged home": "2 (50%)",
        "Still in hospital": "1 (25%)",
        "Died": "1 (25%)",
        "Ventilation days, median (range)": "11.0 (7.0-19.0)",
        "Hours to first anakinra dose, median (range)": "120.0 (96.0-150.0)",
        "Time known only to the day": "1",
    }


def test_ventilation_days_are_of_the_intubated_patients_only(table):
    assert cell(table, "Intubated", INTERMEDIATE) == "1 (33%)"
    assert cell(table, "Ventilation days, median (range)", INTERMEDIATE) == "9.0 (9.0-9.0)"


def test_long_table_keeps_the_numbers(table):
    long = table.long.set_index(["row", "group"])
    assert list(table.long.columns) == [
        "row",
        "label",
        "group",
        "n",
        "denominator",
        "pct",
        "median",
        "min",
        "max",
        "text",
    ]
    intubated = long.loc[("intubated", "intermediate")]
    assert (intubated["n"], intubated["denominator"], intubated["text"]) == (1, 3, "1 (33%)")
    assert intubated["pct"] == pytest.approx(100 / 3)
    days = long.loc[("imv_days", "late")]
    assert days[["n", "median", "min", "max"]].tolist() == [4, 11.0, 7.0, 19.0]
    assert long.loc[("imv_days", "early"), "n"] == 0
    assert pd.isna(long.loc[("patients", "early"), "pct"])
    assert table.long.groupby("row", sort=False).size().eq(3).all()


def test_untreated_and_unknown_timing_come_last_without_hours():
    courses = pd.concat(
        [
            new_york(),
            pd.DataFrame(
                [
                    patient(30, "not_treated", np.nan, ""),
                    patient(31, "unknown", np.nan, "", episodes=1, imv_days=3.0, died=True),
                ]
            ),
        ],
        ignore_index=True,
    ).sample(frac=1.0, random_state=3)
    wide = case_series_table(courses).wide
    assert list(wide.columns) == [EARLY, INTERMEDIATE, LATE, "Not treated (n=1)", "Timing unknown (n=1)"]
    assert wide.loc["Hours to first anakinra dose, median (range)"].tolist()[-2:] == ["-", "-"]
    assert wide.loc["Died", "Timing unknown (n=1)"] == "1 (100%)"
    assert wide.loc["Ventilation days, median (range)", "Timing unknown (n=1)"] == "3.0 (3.0-3.0)"


def test_the_study_s_hour_limits_show_in_the_headers():
    courses = new_york().query("timing_group != 'intermediate'")
    wide = case_series_table(courses, early_max_hours=48.0, late_min_hours=72.5).wide
    assert list(wide.columns) == ["Early (<= 48 h) (n=7)", "Late (>= 72.5 h) (n=4)"]
    with pytest.raises(ValueError, match="below"):
        case_series_table(courses, early_max_hours=96.0, late_min_hours=96.0)


def test_an_unknown_timing_group_is_refused():
    courses = new_york()
    courses.loc[0, "timing_group"] = "very_early"
    with pytest.raises(ValueError, match="very_early"):
        case_series_table(courses)


def test_no_patients_no_columns():
    table = case_series_table(new_york().iloc[:0])
    assert table.wide.empty and table.long.empty


def test_shown_in_italian_through_shown_label_and_shown_cell(table):
    with translation.override("it"):
        assert shown_label("Died") == "Deceduto"
        assert shown_label("Patients") == "Pazienti"
        # the group's name is translated, its hour limits (with the decimal comma) and its n are kept
        assert (
            shown_label("Intermediate (> 36.5 h, < 96 h) (n=3)")
            == f"{gettext('Intermediate')} (> 36,5 h, < 96 h) (n=3)"
        )
        assert shown_label(EARLY) == f"{gettext('Early')} (<= 36 h) (n=7)"
        assert shown_cell(cell(table, "Ventilation days, median (range)", LATE)) == "11,0 (7,0-19,0)"
        assert shown_label("    P/F > 200") == "    P/F > 200" and shown_label("Anakinra (n=29)") == "Anakinra (n=29)"


# --- swimmer plot ---------------------------------------------------------------------------------


def swimmer_inputs():
    """Four of the series: an early patient weaned to room air and home, a late one intubated on day 3 with a
    failed extubation on day 6 and a successful one on day 12, then home, one on an IL-6 antagonist who died, and
    an untreated patient with no support recorded."""
    courses = pd.DataFrame(
        {
            "patient_id": [1, 2, 3, 4],
            "timing_group": ["late", "early", "intermediate", "not_treated"],
            "hours_to_anakinra": [110.0, 20.0, 50.0, np.nan],
        }
    )
    late = ["nasal_cannula", "hfnc", "hfnc"] + ["imv"] * 4 + ["niv"] + ["imv"] * 5 + ["nasal_cannula"] * 3
    support = pd.DataFrame(
        {
            "patient_id": [1] * len(late) + [2] * 6 + [3] * 4,
            "study_day": list(range(len(late))) + list(range(6)) + [0, 1, 2, 2],
            "support": late + ["nasal_cannula"] * 3 + ["room_air"] * 3 + ["venturi", "cpap", "cpap", "imv"],
        }
    )
    drugs = pd.DataFrame(
        {
            "patient_id": [1, 2, 3, 3],
            "drug": ["anakinra", "anakinra", "anakinra", "tocilizumab"],
            "study_day": [4, 0, 1, 1],
            "stop_day": [13.0, np.nan, np.nan, 1.0],
        }
    )
    episodes = pd.DataFrame(
        {
            "patient_id": [1, 1, 3],
            "study_day": [3, 8, 2],
            "end_day": [6, 12, 4],
            "end_reason": ["extubated", "extubated", "died"],
        }
    )
    events = pd.DataFrame(
        {"patient_id": [1, 2, 3], "study_day": [16, 6, 4], "kind": ["discharged", "discharged", "death"]}
    )
    labels = {1: "NY-001", 2: "NY-002", 3: "NY-003", 4: "NY-004"}
    return courses, support, drugs, episodes, events, labels


def svg_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(node.itertext()).strip() for node in root.iter("{http://www.w3.org/2000/svg}text")]


def test_swimmer_png():
    assert swimmer_plot(*swimmer_inputs(), "png").startswith(PNG_MAGIC)


def test_swimmer_svg_has_the_participants_in_timing_order_and_the_legend():
    texts = svg_texts(swimmer_plot(*swimmer_inputs(), "svg"))
    ids = [t for t in texts if t.startswith("NY-")]
    assert ids == ["NY-002", "NY-003", "NY-001", "NY-004"]  # early, intermediate, late, not treated
    legend = [
        "Room air",
        "Low-flow oxygen",
        "High-flow oxygen, CPAP or NIV",
        "Invasive mechanical ventilation",
        "Anakinra",
        "IL-6 antagonist",
        "Intubation",
        "Extubation",
        "Discharged",
        "Death",
    ]
    assert all(text in texts for text in legend), sorted(set(legend) - set(texts))
    assert "Study day" in texts


def test_swimmer_svg_is_byte_identical_between_runs():
    assert swimmer_plot(*swimmer_inputs(), "svg") == swimmer_plot(*swimmer_inputs(), "svg")


def test_swimmer_with_no_support_at_all():
    courses, support, drugs, episodes, events, labels = swimmer_inputs()
    svg = swimmer_plot(courses, support.iloc[:0], drugs.iloc[:0], episodes.iloc[:0], events.iloc[:0], labels, "svg")
    assert {"NY-001", "NY-004"} <= set(svg_texts(svg))


def test_swimmer_refuses_an_unknown_format_and_support_code():
    inputs = swimmer_inputs()
    with pytest.raises(ValueError, match="format"):
        swimmer_plot(*inputs, "pdf")
    courses, support, *rest = inputs
    with pytest.raises(ValueError, match="bubble_helmet"):
        swimmer_plot(courses, support.assign(support="bubble_helmet"), *rest, "png")


def test_support_runs_take_the_day_s_most_support():
    _, support, *_ = swimmer_inputs()
    position = pd.Series([0, 1, 2], index=[3, 2, 1])
    runs = _support_segments(support, position, horizon_days=28)
    rows = runs.loc[runs["row"].eq(0)].to_dict("list")  # patient 3: venturi, cpap, cpap + imv on day 2
    assert rows == {
        "row": [0, 0, 0],
        "level": ["low_flow", "hfnc_cpap_niv", "imv"],
        "start": [0, 1, 2],
        "width": [1, 1, 1],
    }
    late = runs.loc[runs["row"].eq(2)]
    assert late["level"].tolist() == ["low_flow", "hfnc_cpap_niv", "imv", "hfnc_cpap_niv", "imv", "low_flow"]
    assert late["width"].sum() == 16
    not_done = support.assign(
        support=support["support"].mask(support["study_day"].eq(7) & support["patient_id"].eq(1), "")
    )
    gap = _support_segments(not_done, position, horizon_days=28)  # day 7 marked not done: a gap
    assert gap.loc[gap["row"].eq(2), "level"].tolist() == ["low_flow", "hfnc_cpap_niv", "imv", "imv", "low_flow"]
    assert gap.loc[gap["row"].eq(2), "width"].sum() == 15
    clipped = _support_segments(support, position, horizon_days=10)
    assert clipped.loc[clipped["row"].eq(2), "width"].sum() == 11  # days 0-10


def test_an_ongoing_drug_runs_to_the_last_day_with_data():
    _, _, drugs, *_ = swimmer_inputs()
    position = pd.Series([0, 1, 2], index=[2, 3, 1])
    last_day = pd.Series([6.0, 4.0, 16.0], index=[2, 3, 1])
    bars = _exposure_segments(drugs, position, last_day, horizon_days=28).set_index(["row", "kind"])
    assert bars.loc[(0, "anakinra"), ["start", "width"]].tolist() == [0.0, 7.0]  # ongoing: days 0-6
    assert bars.loc[(1, "anakinra"), ["start", "width"]].tolist() == [1.0, 4.0]  # ongoing: days 1-4
    assert bars.loc[(1, "il6"), ["start", "width"]].tolist() == [1.0, 1.0]
    assert bars.loc[(2, "anakinra"), ["start", "width"]].tolist() == [4.0, 10.0]
