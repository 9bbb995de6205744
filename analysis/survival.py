"""Survival analysis per arm (clinical definitions §4): Kaplan-Meier, log-rank, Cox hazard ratios.

Pure pandas + lifelines, no Django. lifelines is imported inside each function because
importing it costs about 1.5 s, which every page load of the app would otherwise pay.

Every function takes one patient-level frame (normally the result of
:func:`analysis.outcomes.patient_outcomes`) and the names of its time, event and group
columns, e.g. ``("os_time", "os_event", "arm_label")`` or
``("mvfs_time", "mvfs_event", "arm")``. Rows whose time, event or group is missing
(patients excluded from MVFS) are left out of every computation.

Groups are reported in the order of the categories when the group column is
categorical, otherwise in sorted order, so tables are stable between runs.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Final

import numpy as np
import pandas as pd

DEFAULT_AT: Final = 21
"""Day of the reported survival estimate: end of follow-up (clinical definitions §1.1, 4)."""
RISK_DAYS: Final[tuple[int, ...]] = (0, 7, 14, 21)
"""Days of the number-at-risk table under the Kaplan-Meier plot."""
ALPHA: Final = 0.05
"""Two-sided 95% confidence intervals throughout (clinical definitions §4)."""

COX_PRECISION: Final = 1e-12
"""Newton convergence precision of the Cox fit. lifelines' default (1e-7) stops with a
score of about 1e-5, which moves hazard ratios in the 6th digit; the tighter value makes
them agree with other software (statsmodels PHReg, R survival) to about 1e-9."""

_T, _E, _G = "time", "event", "group"


def prepare(df: pd.DataFrame, time_col: str, event_col: str, group_col: str) -> pd.DataFrame:
    """Complete cases as a frame of float ``time``, bool ``event`` and ``group``."""
    complete = df.loc[df[[time_col, event_col, group_col]].notna().all(axis=1)]
    return pd.DataFrame(
        {
            _T: complete[time_col].astype("float64").to_numpy(),
            _E: complete[event_col].astype(bool).to_numpy(),
            _G: complete[group_col].array,  # keeps a categorical's declared order
        }
    )


def group_order(values: pd.Series) -> list[Any]:
    """Categories in declared order if categorical, otherwise sorted; only those present."""
    present = set(values.dropna().unique())
    if isinstance(values.dtype, pd.CategoricalDtype):
        return [c for c in values.cat.categories if c in present]
    return sorted(present, key=str)


def number_at_risk(times: pd.Series | np.ndarray, days: Sequence[float]) -> list[int]:
    """Patients still followed at the start of each day: time >= day.

    A patient dying or censored on day 7 is counted at risk on day 7, the convention of
    lifelines' event table and of published at-risk tables.
    """
    values = np.asarray(times, dtype="float64")
    return [int((values >= day).sum()) for day in days]


def km_summary(
    df: pd.DataFrame,
    time_col: str,
    event_col: str,
    group_col: str,
    at: float = DEFAULT_AT,
    risk_days: Sequence[int] = RISK_DAYS,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Per group: n, events, Kaplan-Meier survival at ``at`` with its CI, and at risk.

    The CI is lifelines' default, the log(-log) transform of Greenwood's variance
    ("exponential Greenwood"), which stays inside [0, 1]. Columns: ``group_col``, n,
    events, day, survival, ci_lower, ci_upper, at_risk_d<day> for each risk day.
    """
    data = prepare(df, time_col, event_col, group_col)
    rows = []
    for group in group_order(data[_G]):  # one fit per arm; arms are few
        arm = data.loc[data[_G].eq(group)]
        curve = _km_fit_table(arm, alpha)
        step = curve.loc[curve[_T].le(at)].iloc[-1]
        row = {
            group_col: group,
            "n": len(arm),
            "events": int(arm[_E].sum()),
            "day": at,
            "survival": step["survival"],
            "ci_lower": step["ci_lower"],
            "ci_upper": step["ci_upper"],
        }
        counts = number_at_risk(arm[_T], risk_days)
        row.update({f"at_risk_d{day}": n for day, n in zip(risk_days, counts, strict=True)})
        rows.append(row)
    return pd.DataFrame(rows, columns=_summary_columns(group_col, risk_days))


def km_curve(
    df: pd.DataFrame,
    time_col: str,
    event_col: str,
    group_col: str,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Step-function table per group for plots: one row per distinct time (and 0).

    Columns: ``group_col``, time, survival, ci_lower, ci_upper, at_risk (just before
    the time), events and censored (at the time). Plot with ``where="post"``.
    """
    data = prepare(df, time_col, event_col, group_col)
    tables = [
        _km_fit_table(data.loc[data[_G].eq(group)], alpha).assign(**{group_col: group})
        for group in group_order(data[_G])
    ]
    columns = [group_col, _T, "survival", "ci_lower", "ci_upper", "at_risk", "events", "censored"]
    if not tables:
        return pd.DataFrame(columns=columns)
    return pd.concat(tables, ignore_index=True)[columns]


def logrank(df: pd.DataFrame, time_col: str, event_col: str, group_col: str) -> dict[str, Any]:
    """Overall and pairwise log-rank tests between groups (clinical definitions §4).

    Returns ``{"overall": {"test_statistic", "p_value", "degrees_of_freedom", "note"},
    "pairwise": [{"group_a", "group_b", "test_statistic", "p_value"}, ...]}`` with plain
    Python numbers (JSON-ready). With fewer than two groups the overall test is NaN and
    the note says why.
    """
    from lifelines.statistics import multivariate_logrank_test, pairwise_logrank_test

    data = prepare(df, time_col, event_col, group_col)
    groups = group_order(data[_G])
    if len(groups) < 2:
        overall = _test_result(np.nan, np.nan, 0, "fewer than two groups with data")
        return {"overall": overall, "pairwise": []}

    test = multivariate_logrank_test(data[_T], data[_G], data[_E])
    overall = _test_result(test.test_statistic, test.p_value, test.degrees_of_freedom, "")
    summary = pairwise_logrank_test(data[_T], data[_G], data[_E]).summary
    pairwise = []
    for i, first in enumerate(groups):
        for second in groups[i + 1 :]:
            key = (first, second) if (first, second) in summary.index else (second, first)
            pairwise.append(
                {
                    "group_a": first,
                    "group_b": second,
                    "test_statistic": float(summary.loc[key, "test_statistic"]),
                    "p_value": float(summary.loc[key, "p"]),
                }
            )
    return {"overall": overall, "pairwise": pairwise}


def cox_hazard_ratios(
    df: pd.DataFrame,
    time_col: str,
    event_col: str,
    group_col: str,
    reference: Any,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Hazard ratio of each group against ``reference``, Cox model on group dummies.

    lifelines' CoxPHFitter (Efron ties, no penalty). Columns: ``group_col``, reference,
    n, events, hr, ci_lower, ci_upper, p_value, note.

    A group without events has a maximum-likelihood HR of 0 (its coefficient diverges),
    so it is reported as NaN with a note and left out of the fit; leaving it out gives
    the other groups exactly the limit of the full model, because a group whose hazard
    tends to 0 stops contributing to the risk sets' weighted sums. No events in the
    reference group makes every HR unestimable, again NaN with a note.
    """
    data = prepare(df, time_col, event_col, group_col)
    groups = group_order(data[_G])
    if reference not in groups:
        raise ValueError(f"reference group {reference!r} has no data in {group_col!r}")
    events = data.groupby(_G, observed=True)[_E].sum()
    sizes = data.groupby(_G, observed=True).size()
    others = [g for g in groups if g != reference]

    result = pd.DataFrame(
        {
            group_col: others,
            "reference": reference,
            "n": [int(sizes[g]) for g in others],
            "events": [int(events[g]) for g in others],
            "hr": np.nan,
            "ci_lower": np.nan,
            "ci_upper": np.nan,
            "p_value": np.nan,
            "note": "",
        }
    )
    if events[reference] == 0:
        result["note"] = "no events in the reference group: hazard ratio not estimable"
        return result
    no_events = result["events"].eq(0)
    result.loc[no_events, "note"] = "no events in this group: hazard ratio not estimable"
    fitted = [g for g in others if events[g] > 0]
    if fitted:
        estimates, note = _fit_cox(data.loc[data[_G].isin([reference, *fitted])], fitted, alpha)
        rows = result[group_col].isin(fitted)
        result.loc[rows, ["hr", "ci_lower", "ci_upper", "p_value"]] = estimates.to_numpy()
        result.loc[rows, "note"] = note
    return result


# --- helpers ---------------------------------------------------------------------------


def _km_fit_table(arm: pd.DataFrame, alpha: float) -> pd.DataFrame:
    """lifelines Kaplan-Meier fit of one group as a flat step table."""
    from lifelines import KaplanMeierFitter

    fitter = KaplanMeierFitter(alpha=alpha).fit(arm[_T], arm[_E])
    ci = fitter.confidence_interval_survival_function_
    table = fitter.event_table
    return pd.DataFrame(
        {
            _T: fitter.survival_function_.index.to_numpy(dtype="float64"),
            "survival": fitter.survival_function_.iloc[:, 0].to_numpy(),
            "ci_lower": ci.iloc[:, 0].to_numpy(),
            "ci_upper": ci.iloc[:, 1].to_numpy(),
            "at_risk": table["at_risk"].to_numpy(dtype="int64"),
            "events": table["observed"].to_numpy(dtype="int64"),
            "censored": table["censored"].to_numpy(dtype="int64"),
        }
    )


def _fit_cox(data: pd.DataFrame, fitted: list[Any], alpha: float) -> tuple[pd.DataFrame, str]:
    """Cox fit on one 0/1 dummy per non-reference group; HR, CI and p per dummy."""
    from lifelines import CoxPHFitter
    from lifelines.exceptions import ConvergenceError, ConvergenceWarning

    dummies = {f"g{i}": data[_G].eq(g).astype("float64") for i, g in enumerate(fitted)}
    design = pd.DataFrame({_T: data[_T], _E: data[_E].astype(int), **dummies})
    empty = pd.DataFrame(np.nan, index=list(dummies), columns=range(4))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        try:
            fitter = CoxPHFitter(alpha=alpha).fit(
                design, duration_col=_T, event_col=_E, fit_options={"precision": COX_PRECISION}
            )
        except ConvergenceError as error:
            return empty, f"Cox model did not converge: {error}"
    note = "Cox model may not have converged" if _any_convergence(caught) else ""
    estimates = pd.DataFrame(
        {
            "hr": fitter.hazard_ratios_,
            "ci_lower": np.exp(fitter.confidence_intervals_.iloc[:, 0]),
            "ci_upper": np.exp(fitter.confidence_intervals_.iloc[:, 1]),
            "p_value": fitter.summary["p"],
        }
    ).loc[list(dummies)]
    return estimates, note


def _any_convergence(caught: list[warnings.WarningMessage]) -> bool:
    from lifelines.exceptions import ConvergenceWarning

    return any(issubclass(w.category, ConvergenceWarning) for w in caught)


def _test_result(statistic: float, p_value: float, dof: int, note: str) -> dict[str, Any]:
    return {
        "test_statistic": float(statistic),
        "p_value": float(p_value),
        "degrees_of_freedom": int(dof),
        "note": note,
    }


def _summary_columns(group_col: str, risk_days: Sequence[int]) -> list[str]:
    fixed = [group_col, "n", "events", "day", "survival", "ci_lower", "ci_upper"]
    return fixed + [f"at_risk_d{day}" for day in risk_days]
