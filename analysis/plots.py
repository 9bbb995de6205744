"""Figures of the analysis (clinical definitions §4): Kaplan-Meier curves and CRP / P/F trajectories.

matplotlib is imported inside the functions (cheap pages never pay for it) and used
through its object API with the Agg canvas, never pyplot: no global figure state, so
concurrent requests in threaded servers cannot draw into each other's figures.

Output is deterministic for a given matplotlib version (no creation date, fixed SVG
ids), because figures go into locked releases whose files are checked by SHA-256
(clinical definitions §5). SVG keeps text as text so arm labels stay searchable and selectable.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final, Literal

import pandas as pd
from django.utils.translation import gettext

from analysis import survival

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
