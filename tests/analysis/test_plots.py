"""Figures (clinical definitions §4): valid PNG/SVG bytes, arm labels and at-risk counts shown, deterministic."""

from __future__ import annotations

import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.plots import plot_km, plot_trajectories

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
HIGH, STANDARD = "High-dose anakinra", "Standard treatment"


@pytest.fixture(scope="module")
def survival_frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "os_time": [3, 8, 13] + [21] * 5 + [1, 3, 4, 8] + [21] * 3 + [10],
            "os_event": [True] * 3 + [False] * 5 + [True] * 4 + [False] * 4,
            "arm_label": [HIGH] * 8 + [STANDARD] * 8,
        }
    )


@pytest.fixture(scope="module")
def trajectory_summary() -> pd.DataFrame:
    days = np.arange(15)
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "arm_label": arm,
                    "study_day": days,
                    "n": 10,
                    "median": start - slope * days,
                    "q1": start - slope * days - 30,
                    "q3": start - slope * days + 30,
                }
            )
            for arm, start, slope in ((HIGH, 180.0, 10.0), (STANDARD, 170.0, 4.0))
        ],
        ignore_index=True,
    )


def svg_texts(svg: bytes) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(node.itertext()).strip() for node in root.iter("{http://www.w3.org/2000/svg}text")]


def at_risk_rows(svg: bytes) -> dict[int, list[str]]:
    """At-risk counts per table row, read from the element ids ``at_risk_<row>_d<day>``."""
    rows: dict[int, list[str]] = {}
    for group in ET.fromstring(svg).iter("{http://www.w3.org/2000/svg}g"):
        match = re.fullmatch(r"at_risk_(\d+)_d(\d+)", group.get("id", ""))
        if match:
            rows.setdefault(int(match[1]), []).append("".join(group.itertext()).strip())
    return rows


def test_km_png_bytes(survival_frame):
    png = plot_km(survival_frame, "os_time", "os_event", "arm_label", "png")
    assert png.startswith(PNG_MAGIC)
    assert len(png) > 10_000


def test_km_svg_is_xml_with_arm_labels_and_at_risk_counts(survival_frame):
    svg = plot_km(survival_frame, "os_time", "os_event", "arm_label", "svg", title="Survival")
    texts = svg_texts(svg)
    assert texts.count(HIGH) == 2  # legend and at-risk row label
    assert texts.count(STANDARD) == 2
    assert "Number at risk" in texts and "Survival" in texts

    # high-dose: deaths on days 3, 8, 13, five followed to 21 -> 8, 7, 5, 5 at risk on
    # days 0, 7, 14, 21; standard: deaths on 1, 3, 4, 8, censored on 10 -> 8, 5, 3, 3
    assert at_risk_rows(svg) == {0: ["8", "7", "5", "5"], 1: ["8", "5", "3", "3"]}


def test_km_svg_is_byte_identical_between_runs(survival_frame):
    first = plot_km(survival_frame, "os_time", "os_event", "arm_label", "svg")
    second = plot_km(survival_frame, "os_time", "os_event", "arm_label", "svg")
    assert first == second
    assert not re.search(rb"<dc:date>", first)


def test_km_of_mvfs_ignores_excluded_patients(survival_frame):
    frame = pd.concat(
        [
            survival_frame.astype({"os_time": "Int64", "os_event": "boolean"}),
            pd.DataFrame({"os_time": [pd.NA], "os_event": [pd.NA], "arm_label": ["Excluded only"]}).astype(
                {"os_time": "Int64", "os_event": "boolean"}
            ),
        ],
        ignore_index=True,
    )
    texts = svg_texts(plot_km(frame, "os_time", "os_event", "arm_label", "svg"))
    assert "Excluded only" not in texts


def test_trajectory_png_and_svg(trajectory_summary):
    png = plot_trajectories(trajectory_summary, "arm_label", "png", ylabel="PaO2:FiO2 (mmHg)")
    assert png.startswith(PNG_MAGIC)
    svg = plot_trajectories(trajectory_summary, "arm_label", "svg", ylabel="PaO2:FiO2 (mmHg)", title="P/F")
    texts = svg_texts(svg)
    assert HIGH in texts and STANDARD in texts and "PaO2:FiO2 (mmHg)" in texts


def test_trajectory_with_days_without_values(trajectory_summary):
    gaps = trajectory_summary.copy()
    gaps.loc[gaps["study_day"] > 10, ["n", "median", "q1", "q3"]] = [0, np.nan, np.nan, np.nan]
    assert plot_trajectories(gaps, "arm_label", "png", ylabel="CRP (mg/L)").startswith(PNG_MAGIC)


def test_unknown_format_is_refused(survival_frame):
    with pytest.raises(ValueError, match="format"):
        plot_km(survival_frame, "os_time", "os_event", "arm_label", "pdf")


def test_importing_plots_does_not_import_matplotlib_or_lifelines():
    root = Path(__file__).resolve().parents[2]
    code = "import sys, analysis.plots; print(sorted({'matplotlib', 'lifelines'} & set(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
