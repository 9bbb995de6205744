"""Survival numbers (clinical definitions §4) against hand values, lifelines and an independent
statsmodels computation, on data with ties and censoring."""

from __future__ import annotations

import subprocess
import sys
import warnings
from fractions import Fraction
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from scipy.stats import norm
from statsmodels.duration.hazard_regression import PHReg
from statsmodels.duration.survfunc import SurvfuncRight, survdiff

from analysis.survival import cox_hazard_ratios, km_curve, km_summary, logrank, number_at_risk

TOL = 1e-9

# Ties within and between arms, censoring tied with deaths (day 2, day 5), censoring at 21.
HANDMADE = pd.DataFrame(
    {
        "os_time": [1, 2, 2, 3, 5, 5, 21, 21, 2, 4, 5, 8, 8, 21, 21, 21, 3, 3, 9, 21],
        "os_event": [1, 1, 0, 1, 1, 0, 0, 0, 1, 1, 0, 1, 0, 0, 0, 0, 1, 1, 1, 0],
        "arm": ["std"] * 8 + ["high"] * 8 + ["low"] * 4,
    }
)
HANDMADE["os_event"] = HANDMADE["os_event"].astype(bool)


def arm(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    return frame.loc[frame["arm"] == name]


def statsmodels_km(frame: pd.DataFrame) -> SurvfuncRight:
    return SurvfuncRight(frame["os_time"].to_numpy(float), frame["os_event"].to_numpy(int))


def statsmodels_loglog_ci(fit: SurvfuncRight, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """log(-log) CI rebuilt from statsmodels' Greenwood standard error."""
    s = fit.surv_prob
    with np.errstate(divide="ignore", invalid="ignore"):
        se = fit.surv_prob_se / (s * np.abs(np.log(s)))
    z = norm.ppf(1 - alpha / 2)
    return s ** np.exp(z * se), s ** np.exp(-z * se)


def km_at(fit: SurvfuncRight, day: float) -> float:
    before = fit.surv_times <= day
    return float(fit.surv_prob[before][-1]) if before.any() else 1.0


# --- Kaplan-Meier --------------------------------------------------------------------------


def test_km_survival_by_hand():
    # std arm: 8 at risk; deaths 1 (1 of 8), 2 (1 of 7, plus one censored), 3 (1 of 5),
    # 5 (1 of 4, plus one censored); two censored at 21.
    expected = Fraction(7, 8) * Fraction(6, 7) * Fraction(4, 5) * Fraction(3, 4)
    summary = km_summary(HANDMADE, "os_time", "os_event", "arm").set_index("arm")
    assert summary.loc["std", "survival"] == pytest.approx(float(expected), abs=TOL)  # 9/20 = 45%
    assert summary.loc["std", ["n", "events"]].tolist() == [8, 4]
    assert summary.loc["std", ["at_risk_d0", "at_risk_d7", "at_risk_d14", "at_risk_d21"]].tolist() == [8, 2, 2, 2]


def test_km_summary_matches_statsmodels_estimate_and_loglog_ci():
    summary = km_summary(HANDMADE, "os_time", "os_event", "arm", at=21).set_index("arm")
    assert summary.index.tolist() == ["high", "low", "std"]
    for name in summary.index:
        fit = statsmodels_km(arm(HANDMADE, name))
        lower, upper = statsmodels_loglog_ci(fit)
        last = np.flatnonzero(fit.surv_times <= 21)[-1]
        assert summary.loc[name, "survival"] == pytest.approx(fit.surv_prob[last], abs=TOL)
        assert summary.loc[name, "ci_lower"] == pytest.approx(lower[last], abs=TOL)
        assert summary.loc[name, "ci_upper"] == pytest.approx(upper[last], abs=TOL)


def test_km_summary_at_an_earlier_day_and_before_any_death():
    summary = km_summary(HANDMADE, "os_time", "os_event", "arm", at=4).set_index("arm")
    assert summary.loc["std", "survival"] == pytest.approx(7 / 8 * 6 / 7 * 4 / 5, abs=TOL)
    early = km_summary(HANDMADE, "os_time", "os_event", "arm", at=0.5).set_index("arm")
    assert early["survival"].tolist() == [1.0, 1.0, 1.0]


def test_km_curve_matches_statsmodels_at_every_event_time():
    curve = km_curve(HANDMADE, "os_time", "os_event", "arm")
    for name in ("std", "high", "low"):
        mine = curve.loc[curve["arm"] == name].set_index("time")
        fit = statsmodels_km(arm(HANDMADE, name))
        lower, upper = statsmodels_loglog_ci(fit)
        np.testing.assert_allclose(mine.loc[fit.surv_times, "survival"], fit.surv_prob, atol=TOL, rtol=0)
        np.testing.assert_allclose(mine.loc[fit.surv_times, "ci_lower"], lower, atol=TOL, rtol=0)
        np.testing.assert_allclose(mine.loc[fit.surv_times, "ci_upper"], upper, atol=TOL, rtol=0)
        np.testing.assert_array_equal(mine.loc[fit.surv_times, "at_risk"], fit.n_risk)
        assert mine.loc[0.0, "survival"] == 1.0
        assert mine["censored"].sum() + mine["events"].sum() == len(arm(HANDMADE, name))


def test_km_rows_with_missing_time_are_left_out():
    # patients excluded from MVFS carry NA time and event
    excluded = pd.DataFrame({"os_time": [pd.NA], "os_event": [pd.NA], "arm": ["std"]})
    frame = pd.concat(
        [
            HANDMADE.astype({"os_time": "Int64", "os_event": "boolean"}),
            excluded.astype({"os_time": "Int64", "os_event": "boolean"}),
        ],
        ignore_index=True,
    )
    summary = km_summary(frame, "os_time", "os_event", "arm").set_index("arm")
    assert summary.loc["std", "n"] == 8


def test_number_at_risk_counts_patients_still_followed_at_the_start_of_the_day():
    assert number_at_risk([1, 7, 7, 10, 21], [0, 7, 14, 21]) == [5, 4, 1, 1]


def test_arm_with_no_deaths_has_survival_one():
    frame = pd.DataFrame({"t": [21, 21, 10], "e": [False] * 3, "g": ["a"] * 3})
    row = km_summary(frame, "t", "e", "g").iloc[0]
    assert (row["survival"], row["ci_lower"], row["ci_upper"], row["events"]) == (1.0, 1.0, 1.0, 0)


def test_categorical_group_order_is_kept():
    frame = HANDMADE.assign(arm=pd.Categorical(HANDMADE["arm"], categories=["std", "low", "high"]))
    assert km_summary(frame, "os_time", "os_event", "arm")["arm"].tolist() == ["std", "low", "high"]


# --- log-rank ----------------------------------------------------------------------------------


def sm_logrank(frame: pd.DataFrame) -> tuple[float, float]:
    return survdiff(frame["os_time"].to_numpy(float), frame["os_event"].to_numpy(int), frame["arm"].to_numpy())


def test_logrank_overall_and_pairwise_match_statsmodels():
    result = logrank(HANDMADE, "os_time", "os_event", "arm")
    chisq, p = sm_logrank(HANDMADE)
    assert result["overall"]["test_statistic"] == pytest.approx(chisq, abs=TOL)
    assert result["overall"]["p_value"] == pytest.approx(p, abs=TOL)
    assert result["overall"]["degrees_of_freedom"] == 2
    pairs = {(r["group_a"], r["group_b"]): r for r in result["pairwise"]}
    assert list(pairs) == [("high", "low"), ("high", "std"), ("low", "std")]
    for (a, b), row in pairs.items():
        chisq, p = sm_logrank(HANDMADE.loc[HANDMADE["arm"].isin([a, b])])
        assert row["test_statistic"] == pytest.approx(chisq, abs=TOL)
        assert row["p_value"] == pytest.approx(p, abs=TOL)


def test_logrank_with_one_group_says_why():
    result = logrank(arm(HANDMADE, "std"), "os_time", "os_event", "arm")
    assert np.isnan(result["overall"]["p_value"])
    assert result["overall"]["note"]
    assert result["pairwise"] == []


# --- Cox -----------------------------------------------------------------------------------------


def statsmodels_cox(frame: pd.DataFrame, reference: str, others: list[str]):
    design = np.column_stack([(frame["arm"] == g).to_numpy(float) for g in others])
    return PHReg(frame["os_time"].to_numpy(float), design, status=frame["os_event"].to_numpy(int), ties="efron").fit(
        method="newton", maxiter=200
    )


def test_cox_hazard_ratios_match_statsmodels_efron():
    result = cox_hazard_ratios(HANDMADE, "os_time", "os_event", "arm", reference="std").set_index("arm")
    fit = statsmodels_cox(HANDMADE, "std", ["high", "low"])
    ci = np.exp(fit.conf_int())
    np.testing.assert_allclose(result[["hr"]].to_numpy().ravel(), np.exp(fit.params), rtol=1e-8)
    np.testing.assert_allclose(result[["ci_lower", "ci_upper"]].to_numpy(), ci, rtol=1e-8)
    np.testing.assert_allclose(result["p_value"].to_numpy(), fit.pvalues, rtol=1e-8)
    assert result["note"].tolist() == ["", ""]
    assert result["reference"].unique().tolist() == ["std"]


def test_cox_arm_without_events_is_nan_with_a_note_and_others_still_fitted():
    no_deaths = pd.DataFrame({"os_time": [21, 21, 14], "os_event": [False] * 3, "arm": ["none"] * 3})
    frame = pd.concat([HANDMADE.loc[HANDMADE["arm"] != "low"], no_deaths], ignore_index=True)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no convergence warning leaks to the user
        result = cox_hazard_ratios(frame, "os_time", "os_event", "arm", reference="std").set_index("arm")
    assert np.isnan(result.loc["none", ["hr", "ci_lower", "ci_upper", "p_value"]].astype(float)).all()
    assert "no events" in result.loc["none", "note"]
    two_arm = cox_hazard_ratios(
        frame.loc[frame["arm"] != "none"], "os_time", "os_event", "arm", reference="std"
    ).set_index("arm")
    assert result.loc["high", "hr"] == pytest.approx(two_arm.loc["high", "hr"], rel=1e-9)


def test_cox_reference_without_events_makes_every_ratio_unestimable():
    frame = pd.DataFrame({"t": [21, 21, 3, 5], "e": [False, False, True, True], "g": ["ref", "ref", "x", "x"]})
    result = cox_hazard_ratios(frame, "t", "e", "g", reference="ref")
    assert np.isnan(result.loc[0, "hr"])
    assert "reference" in result.loc[0, "note"]


def test_cox_unknown_reference_is_a_caller_error():
    with pytest.raises(ValueError, match="reference"):
        cox_hazard_ratios(HANDMADE, "os_time", "os_event", "arm", reference="placebo")


# --- random data with ties ----------------------------------------------------------------------


@st.composite
def survival_data(draw: st.DrawFn) -> pd.DataFrame:
    n_groups = draw(st.integers(min_value=2, max_value=3))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(min_value=0, max_value=21),  # whole days: many ties
                st.booleans(),
                st.integers(min_value=0, max_value=n_groups - 1),
            ),
            min_size=4,
            max_size=40,
        )
    )
    frame = pd.DataFrame(rows, columns=["os_time", "os_event", "arm"])
    frame["arm"] = "arm_" + frame["arm"].astype(str)
    assume(frame["arm"].nunique() >= 2)
    assume(frame["os_event"].any())
    return frame


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(survival_data())
def test_random_data_km_and_logrank_match_statsmodels(frame):
    summary = km_summary(frame, "os_time", "os_event", "arm", at=14).set_index("arm")
    curve = km_curve(frame, "os_time", "os_event", "arm")
    for name, rows in frame.groupby("arm"):
        assert summary.loc[name, "n"] == len(rows)
        assert summary.loc[name, "at_risk_d14"] == (rows["os_time"] >= 14).sum()
        if not rows["os_event"].any():
            assert summary.loc[name, "survival"] == 1.0
            continue
        fit = statsmodels_km(rows)
        assert summary.loc[name, "survival"] == pytest.approx(km_at(fit, 14), abs=TOL)
        mine = curve.loc[curve["arm"] == name].set_index("time").loc[fit.surv_times]
        np.testing.assert_allclose(mine["survival"], fit.surv_prob, atol=TOL, rtol=0)
        lower, upper = statsmodels_loglog_ci(fit)
        defined = (fit.surv_prob > 0) & (fit.surv_prob < 1)  # log(-log) CI needs 0 < S < 1
        np.testing.assert_allclose(mine["ci_lower"][defined], lower[defined], atol=TOL, rtol=0)
        np.testing.assert_allclose(mine["ci_upper"][defined], upper[defined], atol=TOL, rtol=0)

    result = logrank(frame, "os_time", "os_event", "arm")
    assert 0.0 <= result["overall"]["p_value"] <= 1.0
    try:
        chisq, p = sm_logrank(frame)
    except np.linalg.LinAlgError:
        # no death happens while two arms are both at risk, so the log-rank variance
        # matrix is singular: statsmodels gives up where lifelines uses a pseudo-inverse
        return
    assert result["overall"]["test_statistic"] == pytest.approx(chisq, abs=1e-9)
    assert result["overall"]["p_value"] == pytest.approx(p, abs=1e-9)


# --- import cost ---------------------------------------------------------------------------------


def test_importing_survival_does_not_import_lifelines():
    root = Path(__file__).resolve().parents[2]
    code = "import sys, analysis.survival; print('lifelines' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
