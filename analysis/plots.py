"""Figures of the analysis (clinical definitions §4): Kaplan-Meier curves and CRP / P/F trajectories, and the
swimmer plot of a case series (the New York 2020 series, clinical definitions §4.10).

matplotlib is imported inside the functions (cheap pages never pay for it) and used
through its object API with the Agg canvas, never pyplot: no global figure state, so
concurrent requests in threaded servers cannot draw into each other's figures.

Output is deterministic for a given matplotlib version (no creation date, fixed SVG
ids), because figures go into locked releases whose files are checked by SHA-256
(clinical definitions §5). SVG keeps text as text so arm labels stay searchable and selectable.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import numpy as np
import pandas as pd
from django.utils.translation import gettext, gettext_noop

from analysis import survival
from analysis.tables import TIMING_GROUP_LABELS, TIMING_GROUPS
from ecrf.derivations import SUPPORT_STATE

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

Format = Literal["png", "svg"]
FORMATS: Final = ("png", "svg")
DPI: Final = 150
FIGSIZE: Final = (7.0, 5.0)
X_MARGIN: Final = 0.04
"""Fraction of the horizon left blank either side of the KM curves."""
COLOURS: Final = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b")
"""Colour per group in display order; blue/red first, distinct in greyscale too."""
RC: Final[dict[str, Any]] = {
    "svg.hashsalt": "ecrf-analysis",  # stable element ids -> byte-identical SVG
    "svg.fonttype": "none",  # text stays <text>, so labels are searchable
    "font.size": 9,
}
_METADATA: Final[dict[str, dict[str, Any]]] = {
    "png": {"Software": None},
    "svg": {"Date": None, "Creator": None},
}


def plot_km(
    df: pd.DataFrame,
    time_col: str,
    event_col: str,
    group_col: str,
    fmt: Format = "png",
    *,
    title: str | None = None,
    ylabel: str | None = None,
    xlabel: str | None = None,
    risk_days: Sequence[int] = survival.RISK_DAYS,
    horizon: float = survival.DEFAULT_AT,
) -> bytes:
    """Kaplan-Meier curve per group with 95% CI bands, censoring ticks and a
    number-at-risk table under the axes (rows = groups, columns = ``risk_days``)."""
    _check_format(fmt)
    curve = survival.km_curve(df, time_col, event_col, group_col)
    data = survival.prepare(df, time_col, event_col, group_col)
    groups = survival.group_order(data["group"])
    with _rc():
        figure, (axes, table) = _figure_with_table(len(groups))
        for row, group in enumerate(groups):
            _draw_km(axes, curve.loc[curve[group_col].eq(group)], str(group), _colour(row))
            counts = survival.number_at_risk(data.loc[data["group"].eq(group), "time"], risk_days)
            _risk_row(table, row, _colour(row), risk_days, counts)
        _label_risk_rows(table, groups)
        # a little room left of day 0 and right of the horizon keeps the day-0 counts
        # clear of the group names and the censoring ticks at the horizon visible
        margin = X_MARGIN * horizon
        axes.set(ylim=(0, 1.02), xlim=(-margin, horizon + margin), ylabel=ylabel or gettext("Survival probability"))
        axes.set_title(title or "")
        axes.set_xticks(list(risk_days))
        axes.legend(loc="lower left", frameon=False)
        table.set_xlabel(xlabel or gettext("Study day"))
        return _render(figure, fmt)


def plot_trajectories(
    summary: pd.DataFrame,
    arm_col: str,
    fmt: Format = "png",
    *,
    ylabel: str,
    title: str | None = None,
    xlabel: str | None = None,
) -> bytes:
    """Median line with an IQR band per arm over study days.

    ``summary`` is the frame of :func:`analysis.tables.trajectories` (``arm_col``,
    study_day, n, median, q1, q3); days without values leave a gap.
    """
    _check_format(fmt)
    arms = survival.group_order(summary[arm_col])
    with _rc():
        figure = _new_figure()
        axes = figure.add_subplot()
        for index, arm in enumerate(arms):
            rows = summary.loc[summary[arm_col].eq(arm)].sort_values("study_day")
            colour = _colour(index)
            axes.plot(rows["study_day"], rows["median"], color=colour, marker="o", label=str(arm))
            axes.fill_between(rows["study_day"], rows["q1"], rows["q3"], color=colour, alpha=0.2, linewidth=0)
        axes.set(xlabel=xlabel or gettext("Study day"), ylabel=ylabel, title=title or "")
        axes.legend(frameon=False)
        return _render(figure, fmt)


# --- swimmer plot (case series) ------------------------------------------------------------

#: Respiratory support as drawn in the swimmer plot, least to most support: level, legend label, colour.
SUPPORT_LEVELS: Final = (
    ("room_air", gettext_noop("Room air"), "#d9d9d9"),
    ("low_flow", gettext_noop("Low-flow oxygen"), "#9ecae1"),
    ("hfnc_cpap_niv", gettext_noop("High-flow oxygen, CPAP or NIV"), "#fdae6b"),
    ("imv", gettext_noop("Invasive mechanical ventilation"), "#d62728"),
)
#: A support code of the respiratory-support form (ecrf.derivations.SUPPORT_STATE) or a day-state -> its level.
_SUPPORT_LEVEL: Final = {
    **SUPPORT_STATE,
    **{level: level for level, _, _ in SUPPORT_LEVELS},
    "imv_organ_support": "imv",
    "imv_ecmo": "imv",
}
#: Drug exposure bars under the support bar: kind, drugs, legend label, colour, offset of the bar in the row.
EXPOSURES: Final = (
    ("anakinra", ("anakinra",), gettext_noop("Anakinra"), COLOURS[0], 0.14),
    ("il6", ("tocilizumab", "other_il6_antagonist"), gettext_noop("IL-6 antagonist"), COLOURS[4], 0.28),
)
#: Markers: kind, legend label, matplotlib marker, face colour, edge colour.
MARKERS: Final = (
    ("intubation", gettext_noop("Intubation"), "v", "#000000", "#000000"),
    ("extubation", gettext_noop("Extubation"), "^", "#ffffff", "#000000"),
    ("discharged", gettext_noop("Discharged"), "D", COLOURS[2], "#000000"),
    ("death", gettext_noop("Death"), "X", "#000000", "#000000"),
)
_SUPPORT_TOP, _SUPPORT_HEIGHT, _EXPOSURE_HEIGHT = -0.4, 0.5, 0.1
SWIMMER_ROW_INCHES: Final = 0.3
SWIMMER_MAX_INCHES: Final = 30.0
"""Figure height grows by a row's inches per patient up to this cap (the rows get thinner beyond it)."""


def swimmer_plot(
    courses: pd.DataFrame,
    support: pd.DataFrame,
    drugs: pd.DataFrame,
    episodes: pd.DataFrame,
    events: pd.DataFrame,
    labels: Mapping[Any, str] | pd.Series,
    fmt: Format = "png",
    *,
    horizon_days: int = 28,
) -> bytes:
    """One row per patient of ``courses`` (:func:`ecrf.courses.derive_courses`) over study days 0 to
    ``horizon_days``: the respiratory support of each day as coloured segments (room air, low-flow oxygen,
    high-flow/CPAP/NIV, invasive ventilation; the most support of the day when several are recorded), thin bars
    for anakinra and IL-6 antagonist exposure (study_day to stop_day, to the patient's last day with data while
    ongoing), markers for intubation (an episode's start), extubation (its end with end_reason "extubated"),
    discharge and death.

    Rows are sorted by timing group, then by the hours to the first anakinra dose, then by participant id, and
    are labelled by ``labels`` (patient_id -> participant id). Input frames: ``support`` (patient_id, study_day,
    support), ``drugs`` (patient_id, drug, study_day, stop_day: NaN while ongoing), ``episodes`` (patient_id,
    study_day, end_day, end_reason), ``events`` (patient_id, study_day, kind). A day covers [day, day + 1).
    """
    _check_format(fmt)
    rows = _swimmer_rows(courses, labels)
    position = pd.Series(np.arange(len(rows)), index=pd.Index(rows["patient_id"]))
    last_day = _last_day(position, support, drugs, episodes, events, horizon_days)
    segments = _support_segments(support, position, horizon_days)
    exposures = _exposure_segments(drugs, position, last_day, horizon_days)
    markers = _marker_points(episodes, events, position, horizon_days)
    with _rc():
        from matplotlib.lines import Line2D
        from matplotlib.patches import Patch

        height = min(2.2 + SWIMMER_ROW_INCHES * max(len(rows), 1), SWIMMER_MAX_INCHES)
        figure = _new_figure()
        figure.set_size_inches(FIGSIZE[0], height)
        axes = figure.add_subplot()
        colours = {level: colour for level, _, colour in SUPPORT_LEVELS}
        for (row, level), part in segments.groupby(["row", "level"], sort=True):
            spans = list(zip(part["start"].tolist(), part["width"].tolist(), strict=True))
            axes.broken_barh(spans, (row + _SUPPORT_TOP, _SUPPORT_HEIGHT), facecolors=colours[level], linewidth=0)
        offsets = {kind: (colour, offset) for kind, _, _, colour, offset in EXPOSURES}
        for (row, kind), part in exposures.groupby(["row", "kind"], sort=True):
            colour, offset = offsets[kind]
            spans = list(zip(part["start"].tolist(), part["width"].tolist(), strict=True))
            axes.broken_barh(spans, (row + offset, _EXPOSURE_HEIGHT), facecolors=colour, linewidth=0)
        marker_y = _SUPPORT_TOP + _SUPPORT_HEIGHT / 2
        for kind, _, marker, face, edge in MARKERS:
            points = markers.loc[markers["kind"].eq(kind)]
            axes.plot(
                points["day"] + 0.5,
                points["row"] + marker_y,
                linestyle="none",
                marker=marker,
                markerfacecolor=face,
                markeredgecolor=edge,
                markersize=6,
                zorder=3,
            )
        _swimmer_axes(axes, rows, horizon_days)
        handles = [
            *(Patch(facecolor=colour, label=gettext(label)) for _, label, colour in SUPPORT_LEVELS),
            *(Patch(facecolor=colour, label=gettext(label)) for _, _, label, colour, _ in EXPOSURES),
            *(
                Line2D(
                    [],
                    [],
                    linestyle="none",
                    marker=marker,
                    markerfacecolor=face,
                    markeredgecolor=edge,
                    label=gettext(label),
                )
                for _, label, marker, face, edge in MARKERS
            ),
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=3, frameon=False, fontsize="small")
        return _render(figure, fmt)


def _swimmer_rows(courses: pd.DataFrame, labels: Mapping[Any, str] | pd.Series) -> pd.DataFrame:
    """patient_id, label, group of each row, top to bottom: by timing group, hours to anakinra (unknown last),
    participant id."""
    names = labels if isinstance(labels, pd.Series) else pd.Series(dict(labels), dtype=object)
    ids = courses["patient_id"]
    label = ids.map(names).astype(object)
    rows = pd.DataFrame(
        {
            "patient_id": ids.to_numpy(),
            "label": label.where(label.notna(), ids.astype(str)).astype(str).to_numpy(),
            "group": courses["timing_group"]
            .astype(object)
            .where(courses["timing_group"].notna(), "unknown")
            .to_numpy(),
            "hours": pd.to_numeric(courses["hours_to_anakinra"], errors="coerce").astype("float64").to_numpy(),
        }
    )
    rows["_g"] = pd.Index(TIMING_GROUPS).get_indexer(rows["group"])
    rows["_g"] = rows["_g"].where(rows["_g"].ge(0), len(TIMING_GROUPS))
    rows = rows.sort_values(["_g", "hours", "label"], na_position="last", kind="stable")
    return rows.drop(columns="_g").reset_index(drop=True)


def _last_day(
    position: pd.Series,
    support: pd.DataFrame,
    drugs: pd.DataFrame,
    episodes: pd.DataFrame,
    events: pd.DataFrame,
    horizon_days: int,
) -> pd.Series:
    """Each patient's last study day with any data (at most the horizon): where an ongoing drug's bar ends."""
    days = pd.concat(
        [
            frame[["patient_id", column]].set_axis(["patient_id", "day"], axis=1)
            for frame, columns in (
                (support, ("study_day",)),
                (drugs, ("study_day", "stop_day")),
                (episodes, ("study_day", "end_day")),
                (events, ("study_day",)),
            )
            for column in columns
        ],
        ignore_index=True,
    )
    days["day"] = pd.to_numeric(days["day"], errors="coerce").astype("float64")
    last = days.groupby("patient_id")["day"].max().reindex(position.index)
    return last.clip(upper=horizon_days)


def _support_segments(support: pd.DataFrame, position: pd.Series, horizon_days: int) -> pd.DataFrame:
    """row, level, start, width: runs of consecutive days at the same level (the day's most support); a day
    without a code ("" when marked not done) is a gap."""
    codes = support["support"].astype(object).replace("", None)  # "" is a day marked not done
    unknown = set(codes.dropna()) - set(_SUPPORT_LEVEL)
    if unknown:
        raise ValueError(f"support codes {sorted(unknown, key=str)} have no level in the swimmer plot")
    ranks = {level: rank for rank, (level, _, _) in enumerate(SUPPORT_LEVELS)}
    days = pd.DataFrame(
        {
            "row": support["patient_id"].map(position),
            "day": pd.to_numeric(support["study_day"], errors="coerce"),
            "rank": codes.map(_SUPPORT_LEVEL).map(ranks),
        }
    ).dropna()
    days = days.loc[days["day"].between(0, horizon_days)].astype("int64")
    days = days.groupby(["row", "day"], sort=True)["rank"].max().reset_index()
    same_run = (
        days["row"].eq(days["row"].shift())
        & days["rank"].eq(days["rank"].shift())
        & days["day"].eq(days["day"].shift() + 1)
    )
    runs = days.groupby((~same_run).cumsum()).agg(
        row=("row", "first"), rank=("rank", "first"), start=("day", "first"), end=("day", "last")
    )
    levels = np.array([level for level, _, _ in SUPPORT_LEVELS], dtype=object)
    return pd.DataFrame(
        {
            "row": runs["row"].to_numpy(),
            "level": levels[runs["rank"].to_numpy()],
            "start": runs["start"].to_numpy(),
            "width": (runs["end"] - runs["start"] + 1).to_numpy(),
        }
    )


def _exposure_segments(
    drugs: pd.DataFrame, position: pd.Series, last_day: pd.Series, horizon_days: int
) -> pd.DataFrame:
    """row, kind, start, width of each drug course, clipped to days 0 to the horizon."""
    kinds = {drug: kind for kind, names, _, _, _ in EXPOSURES for drug in names}
    stop = pd.to_numeric(drugs["stop_day"], errors="coerce").astype("float64")
    courses = pd.DataFrame(
        {
            "row": drugs["patient_id"].map(position),
            "kind": drugs["drug"].map(kinds),
            "start": pd.to_numeric(drugs["study_day"], errors="coerce").astype("float64").clip(lower=0),
            "stop": stop.fillna(drugs["patient_id"].map(last_day)).clip(upper=horizon_days),
        }
    ).dropna()
    courses = courses.loc[courses["stop"].ge(courses["start"])]
    return pd.DataFrame(
        {
            "row": courses["row"].astype("int64").to_numpy(),
            "kind": courses["kind"].to_numpy(),
            "start": courses["start"].to_numpy(),
            "width": (courses["stop"] - courses["start"] + 1).to_numpy(),
        }
    )


def _marker_points(
    episodes: pd.DataFrame, events: pd.DataFrame, position: pd.Series, horizon_days: int
) -> pd.DataFrame:
    """row, day, kind of each marker within days 0 to the horizon."""
    extubated = episodes.loc[episodes["end_reason"].astype(object).eq("extubated")]
    points = pd.concat(
        [
            pd.DataFrame({"patient_id": episodes["patient_id"], "day": episodes["study_day"], "kind": "intubation"}),
            pd.DataFrame({"patient_id": extubated["patient_id"], "day": extubated["end_day"], "kind": "extubation"}),
            events.loc[events["kind"].isin(["discharged", "death"]), ["patient_id", "study_day", "kind"]].rename(
                columns={"study_day": "day"}
            ),
        ],
        ignore_index=True,
    )
    points = pd.DataFrame(
        {
            "row": points["patient_id"].map(position),
            "day": pd.to_numeric(points["day"], errors="coerce").astype("float64"),
            "kind": points["kind"].astype(object),
        }
    ).dropna()
    return points.loc[points["day"].between(0, horizon_days)].reset_index(drop=True)


def _swimmer_axes(axes: Axes, rows: pd.DataFrame, horizon_days: int) -> None:
    """Participant ids down the side, study days along the bottom, a dashed line and the name between groups."""
    n = len(rows)
    axes.set_ylim(max(n, 1) - 0.5, -0.5)
    axes.set_yticks(range(n), labels=rows["label"].tolist())
    axes.tick_params(axis="y", length=0)
    axes.set_xlim(0, horizon_days + 1)
    ticks = list(range(0, horizon_days + 1, 7))
    axes.set_xticks([day + 0.5 for day in ticks], labels=[str(day) for day in ticks])
    axes.set_axisbelow(True)
    axes.grid(axis="x", color="#e5e5e5", linewidth=0.5)
    axes.set_xlabel(gettext("Study day"))
    starts = rows.index[rows["group"].ne(rows["group"].shift())].tolist()
    for first, end in zip(starts, [*starts[1:], n], strict=True):
        if first:
            axes.axhline(first - 0.5, color="#7f7f7f", linewidth=0.6, linestyle="--")
        name = TIMING_GROUP_LABELS.get(rows["group"].iloc[first])
        if name:
            axes.text(
                1.01,
                (first + end - 1) / 2,
                gettext(name),
                transform=axes.get_yaxis_transform(),
                ha="left",
                va="center",
                fontsize="small",
            )


# --- helpers ---------------------------------------------------------------------------


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {FORMATS}, not {fmt!r}")


def _colour(index: int) -> str:
    return COLOURS[index % len(COLOURS)]


def _rc() -> Any:
    import matplotlib

    return matplotlib.rc_context(RC)


def _new_figure() -> Figure:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=FIGSIZE, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _figure_with_table(n_groups: int) -> tuple[Figure, tuple[Axes, Axes]]:
    """Curve axes on top, an at-risk axes below sharing its x axis."""
    figure = _new_figure()
    table_height = 0.5 + 0.35 * n_groups
    curve_axes, table_axes = figure.subplots(2, 1, sharex=True, height_ratios=[6.0, table_height])
    table_axes.set_ylim(n_groups - 0.5, -1.0)
    table_axes.set_title(gettext("Number at risk"), loc="left", fontsize="small")
    for side in ("top", "right", "left"):
        table_axes.spines[side].set_visible(False)
    curve_axes.tick_params(labelbottom=True)
    return figure, (curve_axes, table_axes)


def _label_risk_rows(axes: Axes, groups: list[Any]) -> None:
    axes.set_yticks(range(len(groups)), labels=[str(g) for g in groups])
    axes.tick_params(axis="y", length=0)
    for row, tick in enumerate(axes.get_yticklabels()):
        tick.set_color(_colour(row))


def _draw_km(axes: Axes, curve: pd.DataFrame, label: str, colour: str) -> None:
    axes.step(curve["time"], curve["survival"], where="post", color=colour, label=label)
    axes.fill_between(
        curve["time"],
        curve["ci_lower"],
        curve["ci_upper"],
        step="post",
        color=colour,
        alpha=0.15,
        linewidth=0,
    )
    censored = curve.loc[curve["censored"].gt(0)]
    axes.plot(censored["time"], censored["survival"], "|", color=colour, markersize=8)


def _risk_row(
    axes: Axes,
    row: int,
    colour: str,
    days: Sequence[int],
    counts: Sequence[int],
) -> None:
    """One line of the at-risk table: the count under each day, coloured as its curve.

    The group names are the y tick labels of the table axes (set by the caller).
    """
    for day, count in zip(days, counts, strict=True):
        # the gid becomes the SVG element id: a stable hook for tests and screen readers
        axes.text(day, row, str(count), ha="center", va="center", color=colour, gid=f"at_risk_{row}_d{day}")


def _render(figure: Figure, fmt: str) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format=fmt, metadata=_METADATA[fmt])
    return buffer.getvalue()
