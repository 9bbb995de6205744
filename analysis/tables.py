"""Descriptive tables per arm (clinical definitions §4): baseline, ordinal status, trajectories, AEs.

Pure pandas, no Django. Each table comes as a :class:`Table`: ``long`` is tidy (one row
per variable/level/arm, numbers as numbers, for exports and tests) and ``wide`` is the
display version (one row per line of the published table, one text column per arm,
the arm's n in the column header).

Percentages are rounded half up to whole numbers, as in the Milan paper. Baseline
percentages are of the arm's patients with a known value, and the missing count gets its
own line when there are any; ordinal-status and adverse-event percentages are of all
patients of the arm (an unknown status is a row of its own).

The case-series table (the New York 2020 series, clinical definitions §4.10) has the same two shapes, its
columns being the groups of the time to the first anakinra dose instead of arms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Final, Literal

import numpy as np
import pandas as pd
from django.utils import formats
from django.utils.translation import gettext, gettext_noop

from analysis.outcomes import AE_KINDS, DISCHARGED_STATES, IMV_STATES
from analysis.survival import group_order
from ecrf.courses import TIMING_GROUPS as TIMING_GROUP_LABELS
from ecrf.derivations import ARDS_SEVERITIES, DEFAULT_SETTINGS, ArdsBands, ards_bands

OVERALL: Final = "overall"
#: The tables' labels are English, as a release keeps them; the analysis page translates them when it shows them
#: (analysis/views.py), so they are marked for the catalogue only (gettext_noop).
OVERALL_LABEL: Final = gettext_noop("Overall")
DEFAULT_ARM_COL: Final = "arm_label"
PCT_DECIMALS: Final = 0
VALUE_DECIMALS: Final = 1
TRAJECTORY_VARIABLES: Final = ("crp_mg_l", "pf")
TRAJECTORY_DAYS: Final = range(15)
"""clinical definitions §4: CRP and P/F trajectories over days 0-14."""


@dataclass(frozen=True)
class Table:
    """A tidy ``long`` frame and its ``wide`` display version."""

    long: pd.DataFrame
    wide: pd.DataFrame


@dataclass(frozen=True)
class Variable:
    """One baseline variable: ``levels`` maps stored values to display labels.

    Categorical variables list every level; for a yes/no variable only the "yes" level
    is listed, the usual one-line layout of a baseline table.
    """

    name: str
    label: str
    levels: dict[Any, str] | None = None

    @property
    def continuous(self) -> bool:
        return self.levels is None


_BASELINE_COLUMNS: Final = ["variable", "level", "arm", "n", "pct", "median", "q1", "q3", "text"]
_YES = {True: gettext_noop("yes")}
BASELINE_VARIABLES: Final[tuple[Variable, ...]] = (
    Variable("sex", gettext_noop("Sex"), {"F": gettext_noop("female"), "M": gettext_noop("male")}),
    Variable("age_years", gettext_noop("Age, years")),
    Variable("weight_kg", gettext_noop("Weight, kg")),
    Variable("smoking", gettext_noop("Smoking"), _YES),
    Variable("hypertension", gettext_noop("Hypertension"), _YES),
    Variable("coronary_artery_disease", gettext_noop("Coronary artery disease"), _YES),
    Variable("diabetes", gettext_noop("Diabetes"), _YES),
    Variable("copd", gettext_noop("COPD"), _YES),
    Variable("chronic_kidney_disease", gettext_noop("Chronic kidney disease"), _YES),
)
"""clinical definitions §2 baseline: sex, age, weight, comorbidities."""


@dataclass(frozen=True)
class StatusRow:
    """A line of the Milan tables 2/3: which day-states (and P/F band) it counts."""

    key: str
    label: str
    states: frozenset[str]
    band: str | None = None
    parent: str | None = None


_NIV = frozenset({"hfnc_cpap_niv"})


def _key_number(value: float) -> str:
    return format(value, "g").replace(".", "p")


def ordinal_rows(bands: ArdsBands) -> tuple[StatusRow, ...]:
    """Milan paper tables 2 and 3 layout (clinical definitions §4), the CPAP/NIV line split by the study's
    ARDS bands; sub-rows (with a parent) are indented. Milan's band rows are hfnc_cpap_niv_pf_gt_200
    "P/F > 200", hfnc_cpap_niv_pf_100_200 "P/F 100-200" and hfnc_cpap_niv_pf_lt_100 "P/F < 100"."""
    low, high = _key_number(bands.severe_below), _key_number(bands.moderate_max)
    keys = {"none": f"gt_{high}", "moderate": f"{low}_{high}", "severe": f"lt_{low}"}
    texts = bands.texts
    split = tuple(
        StatusRow(f"hfnc_cpap_niv_pf_{keys[s]}", f"P/F {texts[s]}", _NIV, texts[s], "hfnc_cpap_niv")
        for s in ARDS_SEVERITIES
    )
    return (
        StatusRow("discharged", gettext_noop("Discharged"), DISCHARGED_STATES),
        StatusRow(
            "discharged_normal",
            gettext_noop("resumed normal activities"),
            frozenset({"discharged_normal"}),
            parent="discharged",
        ),
        StatusRow(
            "discharged_impaired",
            gettext_noop("unable to resume normal activities"),
            frozenset({"discharged_impaired"}),
            parent="discharged",
        ),
        StatusRow("room_air", gettext_noop("Hospitalised, not on oxygen"), frozenset({"room_air"})),
        StatusRow("low_flow", gettext_noop("Low-flow oxygen"), frozenset({"low_flow"})),
        StatusRow("hfnc_cpap_niv", gettext_noop("High-flow oxygen, CPAP or NIV"), _NIV),
        *split,
        StatusRow("imv", gettext_noop("Invasive mechanical ventilation"), IMV_STATES),
        StatusRow("death", gettext_noop("Death"), frozenset({"death"})),
    )


_PF_UNKNOWN = StatusRow("hfnc_cpap_niv_pf_unknown", gettext_noop("P/F not available"), _NIV, None, "hfnc_cpap_niv")
_STATUS_UNKNOWN = StatusRow("unknown", gettext_noop("Status not known"), frozenset())
_INDENT = "    "

AE_LABELS: Final[dict[str, str]] = {
    "bacteraemia": gettext_noop("Bacteraemia"),
    "liver_enzymes_gt_3uln": gettext_noop("Liver enzymes > 3 x ULN"),
    "thromboembolism": gettext_noop("Thromboembolism"),
}


# --- baseline --------------------------------------------------------------------------


def baseline_table(
    outcomes: pd.DataFrame,
    arm_col: str = DEFAULT_ARM_COL,
    variables: Sequence[Variable] = BASELINE_VARIABLES,
    pct_decimals: int = PCT_DECIMALS,
    value_decimals: int = VALUE_DECIMALS,
) -> Table:
    """Baseline characteristics per arm and overall (clinical definitions §4).

    Categorical levels as n (%) of patients with a known value, continuous variables as
    median (IQR) with pandas' linear-interpolation quartiles. ``long`` columns:
    variable, level, arm, n, pct, median, q1, q3, text; ``wide`` is indexed by
    (variable label, level label) with one column per arm and "Overall".
    """
    arms = _arm_order(outcomes[arm_col])
    stacked = pd.concat([outcomes, outcomes.assign(**{arm_col: OVERALL})], ignore_index=True)
    by = stacked[arm_col].astype(object)
    parts = [
        _continuous_rows(stacked[v.name], by, v, value_decimals)
        if v.continuous
        else _categorical_rows(stacked[v.name], by, v, pct_decimals)
        for v in variables
        if v.name in outcomes
    ]
    long = pd.concat(parts, ignore_index=True) if parts else _empty_baseline()
    long = _order_by_arm(long, [*arms, OVERALL])
    labels = {v.name: v.label for v in variables}
    display = long.assign(variable=long["variable"].map(labels))
    headers = _arm_headers(outcomes, arm_col, arms, overall=True)
    wide = _widen(display, ["variable", "level"], headers)
    return Table(long=long.reset_index(drop=True), wide=wide)


def _continuous_rows(column: pd.Series, by: pd.Series, variable: Variable, decimals: int) -> pd.DataFrame:
    """n, median, q1, q3 and "median (q1-q3)" per arm; text empty without values."""
    values = pd.to_numeric(column, errors="coerce").astype("float64").groupby(by, sort=False)
    stats = pd.DataFrame(
        {
            "n": values.count(),
            "median": values.median(),
            "q1": values.quantile(0.25),
            "q3": values.quantile(0.75),
        }
    )
    text = [
        f"{format_half_up(m, decimals)} ({format_half_up(lo, decimals)}-{format_half_up(hi, decimals)})"
        for m, lo, hi in stats[["median", "q1", "q3"]].to_numpy()
    ]
    stats["text"] = pd.Series(text, index=stats.index).where(stats["n"].gt(0), "")
    return _tidy(stats, variable.name, "")


def _categorical_rows(column: pd.Series, by: pd.Series, variable: Variable, decimals: int) -> pd.DataFrame:
    """n (%) per level and arm, % of patients with a known value; a "missing" line
    with the count of unknown values when there are any."""
    known = column.notna().groupby(by, sort=False).sum()
    frames = []
    for value, label in variable.levels.items():  # a few levels per variable
        n = column.eq(value).fillna(False).astype(bool).groupby(by, sort=False).sum()
        pct = 100 * n / known.where(known.gt(0))
        stats = pd.DataFrame({"n": n, "pct": pct, "text": _n_pct_text(n, pct, decimals)})
        frames.append(_tidy(stats, variable.name, label))
    missing = column.isna().groupby(by, sort=False).sum()
    if missing.gt(0).any():
        stats = pd.DataFrame({"n": missing, "text": missing.astype(str)})
        frames.append(_tidy(stats, variable.name, gettext_noop("missing")))
    return pd.concat(frames, ignore_index=True)


def _tidy(stats: pd.DataFrame, variable: str, level: str) -> pd.DataFrame:
    frame = stats.rename_axis("arm").reset_index()
    frame.insert(0, "level", level)
    frame.insert(0, "variable", variable)
    return frame.reindex(columns=_BASELINE_COLUMNS)


def _empty_baseline() -> pd.DataFrame:
    return pd.DataFrame(columns=_BASELINE_COLUMNS)


# --- ordinal status --------------------------------------------------------------------


def ordinal_table(
    outcomes: pd.DataFrame,
    day: int,
    arm_col: str = DEFAULT_ARM_COL,
    pct_decimals: int = PCT_DECIMALS,
    bands: ArdsBands | None = None,
) -> Table:
    """Clinical status on ``day`` per arm in the Milan tables 2/3 layout (clinical definitions §4).

    Reads ``state_d<day>`` and ``pf_band_d<day>`` of :func:`patient_outcomes`, which
    must have been computed with the same ``bands`` (the defaults when None).
    Percentages are of all patients of the arm. A gettext_noop("P/F not available") sub-row and a
    gettext_noop("Status not known") row appear only when some patient falls in them, so the
    sub-rows always add up to their parent and the top rows to the arm's n.
    ``long`` columns: row, label, parent, arm, n, denominator, pct, text.
    """
    state_col, band_col = f"state_d{day}", f"pf_band_d{day}"
    if state_col not in outcomes:
        raise ValueError(f"no status column {state_col!r}: day {day} is not a snapshot day")
    arms = _arm_order(outcomes[arm_col])
    state, band = outcomes[state_col].astype("string"), outcomes[band_col].astype("string")
    rows = [*ordinal_rows(bands or ards_bands())]
    other_bands = set(band.dropna()) - {row.band for row in rows}
    if other_bands:  # outcomes of other bands would silently fall out of every sub-row
        raise ValueError(f"P/F bands {sorted(other_bands)} of {band_col!r} are not the ARDS bands given")
    if (state.eq("hfnc_cpap_niv").fillna(False) & band.isna()).any():
        last_band = max(i for i, r in enumerate(rows) if r.parent == _PF_UNKNOWN.parent)
        rows.insert(last_band + 1, _PF_UNKNOWN)
    if state.isna().any():
        rows.append(_STATUS_UNKNOWN)
    members = pd.DataFrame({row.key: _row_members(row, state, band) for row in rows}, index=outcomes.index)
    long = _count_long(members, outcomes[arm_col], arms, pct_decimals)
    meta = pd.DataFrame(
        {
            "row": [r.key for r in rows],
            "label": [r.label for r in rows],
            "parent": [r.parent for r in rows],
        }
    )
    long = meta.merge(long, on="row", how="right")
    display = long.assign(label=np.where(long["parent"].notna(), _INDENT + long["label"], long["label"]))
    headers = _arm_headers(outcomes, arm_col, arms, overall=False)
    return Table(long=long, wide=_widen(display, ["label"], headers))


def _row_members(row: StatusRow, state: pd.Series, band: pd.Series) -> pd.Series:
    if row is _STATUS_UNKNOWN:
        return state.isna()
    in_row = state.isin(row.states).fillna(False)
    if row is _PF_UNKNOWN:
        return in_row & band.isna()
    if row.band is not None:
        return in_row & band.eq(row.band).fillna(False)
    return in_row


# --- adverse events --------------------------------------------------------------------


def adverse_event_table(
    outcomes: pd.DataFrame,
    arm_col: str = DEFAULT_ARM_COL,
    pct_decimals: int = PCT_DECIMALS,
) -> Table:
    """Patients with each clinical definitions §4 adverse event per arm, n (%) of the arm.

    Reads the ``ae_<kind>`` flags of :func:`patient_outcomes`. ``long`` columns:
    row (the AE kind), label, arm, n, denominator, pct, text.
    """
    arms = _arm_order(outcomes[arm_col])
    members = pd.DataFrame({kind: outcomes[f"ae_{kind}"].astype(bool) for kind in AE_KINDS}, index=outcomes.index)
    long = _count_long(members, outcomes[arm_col], arms, pct_decimals)
    long.insert(1, "label", long["row"].map(AE_LABELS))
    headers = _arm_headers(outcomes, arm_col, arms, overall=False)
    return Table(long=long, wide=_widen(long, ["label"], headers))


# --- case series (New York 2020) ------------------------------------------------------

#: The groups of the time from the oxygen criterion to the first anakinra dose (ecrf.courses), in display order.
TIMING_GROUPS: Final = tuple(TIMING_GROUP_LABELS)
#: The default limits of the groups (clinical definitions §3.4); a study's settings may change them.
EARLY_MAX_HOURS: Final = float(DEFAULT_SETTINGS["timing_early_max_hours"])
LATE_MIN_HOURS: Final = float(DEFAULT_SETTINGS["timing_late_min_hours"])


@dataclass(frozen=True)
class _CaseRow:
    key: str
    label: str
    kind: Literal["count", "n_pct", "range"]


CASE_SERIES_ROWS: Final[tuple[_CaseRow, ...]] = (
    _CaseRow("patients", gettext_noop("Patients"), "count"),
    _CaseRow("intubated", gettext_noop("Intubated"), "n_pct"),
    _CaseRow("extubated", gettext_noop("Extubated"), "n_pct"),
    _CaseRow("discharged", gettext_noop("Discharged home"), "n_pct"),
    _CaseRow("in_hospital", gettext_noop("Still in hospital"), "n_pct"),
    _CaseRow("died", gettext_noop("Died"), "n_pct"),
    _CaseRow("imv_days", gettext_noop("Ventilation days, median (range)"), "range"),
    _CaseRow("hours_to_anakinra", gettext_noop("Hours to first anakinra dose, median (range)"), "range"),
    _CaseRow("time_day_only", gettext_noop("Time known only to the day"), "count"),
)
CASE_SERIES_COLUMNS: Final = ["row", "label", "group", "n", "denominator", "pct", "median", "min", "max", "text"]
NO_VALUE: Final = "-"


def case_series_table(
    courses: pd.DataFrame,
    *,
    early_max_hours: float = EARLY_MAX_HOURS,
    late_min_hours: float = LATE_MIN_HOURS,
    pct_decimals: int = PCT_DECIMALS,
    value_decimals: int = VALUE_DECIMALS,
) -> Table:
    """Outcomes of a case series by the time to the first anakinra dose (clinical definitions §4.10, the New York
    2020 series).

    ``courses`` is the frame of :func:`ecrf.courses.derive_courses` (one row per patient). Columns are the
    timing groups early, intermediate, late, not treated, timing unknown, a group without patients left out;
    the headers show the hour limits given (the study's settings), e.g. "Early (<= 36 h) (n=7)". Rows:
    patients; intubated (imv_episodes > 0), extubated, discharged home, still in hospital (neither died nor
    discharged) and died as n (%) of the group's patients; ventilation days of the intubated patients and hours
    to the first anakinra dose as "median (min-max)" ("-" without a value); the patients whose time to
    anakinra is known only to the day (timing_basis "day"), so the table says when the day was used.

    ``long`` columns: row, label, group, n, denominator, pct, median, min, max, text (n is the count of a count
    row, the number of values of a range row); ``wide`` is indexed by the row label, one column per group.
    """
    group = courses["timing_group"].astype(object).where(courses["timing_group"].notna(), "unknown")
    others = set(group) - set(TIMING_GROUPS)
    if others:
        raise ValueError(f"timing groups {sorted(others, key=str)} are not among {TIMING_GROUPS}")
    groups = [g for g in TIMING_GROUPS if group.eq(g).any()]
    died, discharged = _flag(courses["died"]), _flag(courses["discharged"])
    intubated = pd.to_numeric(courses["imv_episodes"], errors="coerce").fillna(0).gt(0)
    members = pd.DataFrame(
        {
            "patients": pd.Series(True, index=courses.index),
            "intubated": intubated,
            "extubated": _flag(courses["extubated"]),
            "discharged": discharged,
            "in_hospital": ~died & ~discharged,
            "died": died,
            "time_day_only": courses["timing_basis"].astype(object).eq("day"),
        },
        index=courses.index,
    )
    counts = _count_long(members, group, groups, pct_decimals).rename(columns={"arm": "group"})
    plain = counts["row"].isin([r.key for r in CASE_SERIES_ROWS if r.kind == "count"])
    counts["pct"] = counts["pct"].mask(plain)
    counts["text"] = counts["text"].mask(plain, counts["n"].astype(str))
    values = {
        "imv_days": pd.to_numeric(courses["imv_days"], errors="coerce").where(intubated),
        "hours_to_anakinra": pd.to_numeric(courses["hours_to_anakinra"], errors="coerce"),
    }
    ranges = [
        _range_rows(key, column.astype("float64"), group, groups, value_decimals) for key, column in values.items()
    ]
    long = pd.concat([counts, *ranges], ignore_index=True)
    order = pd.Index([r.key for r in CASE_SERIES_ROWS])
    long = long.assign(_r=order.get_indexer(long["row"]), _g=pd.Index(groups).get_indexer(long["group"]))
    long = long.sort_values(["_r", "_g"], kind="stable").drop(columns=["_r", "_g"])
    long["label"] = long["row"].map({r.key: r.label for r in CASE_SERIES_ROWS})
    long = long.reindex(columns=CASE_SERIES_COLUMNS).reset_index(drop=True)
    sizes = group.value_counts()
    limits = _timing_limits(early_max_hours, late_min_hours)
    headers = {g: f"{TIMING_GROUP_LABELS[g]}{limits.get(g, '')} (n={int(sizes.get(g, 0))})" for g in groups}
    wide = _widen(long.rename(columns={"group": "arm"}), ["label"], headers)
    return Table(long=long, wide=wide)


def _flag(column: pd.Series) -> pd.Series:
    """A yes/no column as plain bools, an unknown value counting as no."""
    return column.astype("boolean").fillna(False).astype(bool)


def _range_rows(key: str, values: pd.Series, group: pd.Series, groups: list[str], decimals: int) -> pd.DataFrame:
    """n, median, min, max and "median (min-max)" of ``values`` per group; "-" where the group has none."""
    grouped = values.groupby(group, sort=False)
    stats = pd.DataFrame(
        {"n": grouped.count(), "median": grouped.median(), "min": grouped.min(), "max": grouped.max()}
    ).reindex(groups)
    stats["n"] = stats["n"].fillna(0).astype("int64")
    stats["denominator"] = group.value_counts().reindex(groups, fill_value=0).astype("int64")
    text = [
        f"{format_half_up(m, decimals)} ({format_half_up(lo, decimals)}-{format_half_up(hi, decimals)})"
        for m, lo, hi in stats[["median", "min", "max"]].to_numpy()
    ]
    stats["text"] = pd.Series(text, index=stats.index).where(stats["n"].gt(0), NO_VALUE)
    frame = stats.rename_axis("group").reset_index()
    frame.insert(0, "row", key)
    return frame


def _timing_limits(early_max_hours: float, late_min_hours: float) -> dict[str, str]:
    """The hour limits shown after a group's name, e.g. " (<= 36 h)", " (> 36 h, < 96 h)": symbols and numbers
    only, so nothing to translate (:func:`shown_label` keeps them, with the reader's decimal separator)."""
    if not early_max_hours < late_min_hours:
        raise ValueError(f"early_max_hours {early_max_hours} must be below late_min_hours {late_min_hours}")
    early, late = f"{early_max_hours:g}", f"{late_min_hours:g}"
    return {"early": f" (<= {early} h)", "intermediate": f" (> {early} h, < {late} h)", "late": f" (>= {late} h)"}


# --- trajectories ----------------------------------------------------------------------


def trajectories(
    derived: pd.DataFrame,
    patients: pd.DataFrame,
    variable: str,
    days: Iterable[int] = TRAJECTORY_DAYS,
    arm_col: str = DEFAULT_ARM_COL,
) -> pd.DataFrame:
    """Median and IQR of CRP or P/F per arm and study day (clinical definitions §4, days 0-14).

    One row per arm and day of ``days``, also when no value was measured (n 0, NaN
    statistics), so plots get a regular grid. Columns: ``arm_col``, study_day, n,
    median, q1, q3.
    """
    if variable not in TRAJECTORY_VARIABLES:
        raise ValueError(f"variable must be one of {TRAJECTORY_VARIABLES}, not {variable!r}")
    days = list(days)
    values = derived.loc[derived["study_day"].isin(days), ["patient_id", "study_day", variable]]
    values = values.merge(patients[["patient_id", arm_col]], on="patient_id", how="inner")
    grouped = values.groupby([arm_col, "study_day"], observed=False)[variable]
    stats = pd.DataFrame(
        {
            "n": grouped.count(),
            "median": grouped.median(),
            "q1": grouped.quantile(0.25),
            "q3": grouped.quantile(0.75),
        }
    )
    grid = pd.MultiIndex.from_product([_arm_order(patients[arm_col]), days], names=[arm_col, "study_day"])
    stats = stats.reindex(grid)
    stats["n"] = stats["n"].fillna(0).astype("int64")
    return stats.reset_index()


# --- shared helpers --------------------------------------------------------------------


def _arm_order(arms: pd.Series) -> list[Any]:
    """Declared category order if categorical, otherwise sorted (as in survival)."""
    return group_order(arms)


def _arm_headers(outcomes: pd.DataFrame, arm_col: str, arms: list[Any], overall: bool) -> dict[Any, str]:
    """Column header per arm with its number of patients, e.g. "Anakinra (n=29)"."""
    sizes = outcomes.groupby(arm_col, observed=True).size()
    headers = {arm: f"{arm} (n={int(sizes.get(arm, 0))})" for arm in arms}
    if overall:
        headers[OVERALL] = f"{OVERALL_LABEL} (n={len(outcomes)})"
    return headers


def _count_long(members: pd.DataFrame, arm: pd.Series, arms: list[Any], decimals: int) -> pd.DataFrame:
    """n (%) of each membership column per arm; denominator is the arm's n."""
    counts = members.groupby(arm, observed=True).sum().reindex(arms, fill_value=0)
    sizes = arm.value_counts().reindex(arms, fill_value=0)
    long = (
        counts.rename_axis(index="arm", columns="row").reset_index().melt(id_vars="arm", var_name="row", value_name="n")
    )
    long["n"] = long["n"].astype("int64")
    long["denominator"] = long["arm"].map(sizes).astype("int64")
    long["pct"] = 100 * long["n"] / long["denominator"].where(long["denominator"].gt(0))
    long["text"] = _n_pct_text(long["n"], long["pct"], decimals)
    order = pd.Index(list(members.columns))
    long = long.assign(_r=order.get_indexer(long["row"]), _a=pd.Index(arms).get_indexer(long["arm"]))
    return (
        long.sort_values(["_r", "_a"])
        .drop(columns=["_r", "_a"])
        .reset_index(drop=True)[["row", "arm", "n", "denominator", "pct", "text"]]
    )


def format_half_up(value: float, decimals: int) -> str:
    """Round half up as in published tables (2/16 = 12.5% -> "13%"), not Python's
    round-half-even ("12%"). The float's shortest repr is rounded, so 0.145 -> 0.15."""
    if pd.isna(value):
        return ""
    step = Decimal(1).scaleb(-decimals)
    return str(Decimal(repr(float(value))).quantize(step, rounding=ROUND_HALF_UP))


def _n_pct_text(n: pd.Series, pct: pd.Series, decimals: int) -> pd.Series:
    pct_text = pct.map(lambda v: "" if pd.isna(v) else f" ({format_half_up(v, decimals)}%)")
    return n.astype("int64").astype(str) + pct_text


def _order_by_arm(long: pd.DataFrame, arms: list[Any]) -> pd.DataFrame:
    """Stable sort keeping variable/level order and putting arms in display order."""
    position = pd.Index(arms).get_indexer(long["arm"])
    block = (long["variable"] + "\x00" + long["level"].astype(str)).factorize()[0]
    return long.assign(_b=block, _a=position).sort_values(["_b", "_a"], kind="stable").drop(columns=["_b", "_a"])


def _widen(long: pd.DataFrame, index: list[str], headers: dict[Any, str]) -> pd.DataFrame:
    """Display table: ``index`` rows in their first-seen order, one text column per arm."""
    wide = long.pivot_table(index=index, columns="arm", values="text", aggfunc="first", sort=False, observed=False)
    wide = wide.reindex(columns=list(headers)).rename(columns=headers)
    wide.columns.name = None
    return wide.fillna("")


# --- shown on a page ------------------------------------------------------------------


_HOURS = r"[<>]=? \d+(?:\.\d+)? h"
_N_SUFFIX = re.compile(
    rf"^(?P<words>.*?)(?P<hours> \({_HOURS}(?:, {_HOURS})?\))?(?P<n> \(n=\d+\))?$",
    re.DOTALL,
)
_DECIMAL_POINT = re.compile(r"(?<=\d)\.(?=\d)")


def shown_label(text: str) -> str:
    """A label of a display table (English, as the release keeps it) in the reader's language: its words
    translated where the catalogue has them (an arm's name is the study's own), its indentation, the hour limits
    of a case-series group ("(<= 36 h)", with the reader's decimal separator) and "(n=...)" kept."""
    words = text.lstrip(" ")
    indent = text[: len(text) - len(words)]
    found = _N_SUFFIX.match(words)
    words, hours, n = found["words"], shown_cell(found["hours"] or ""), found["n"] or ""
    return f"{indent}{gettext(words) if words else words}{hours}{n}"


def shown_cell(text: str) -> str:
    """A cell of a display table ("12 (46%)", "61.5 (54.2-70)") with the reader's decimal separator."""
    return _DECIMAL_POINT.sub(formats.get_format("DECIMAL_SEPARATOR"), text)
