"""Derived daily data (clinical definitions §3): clinical status on three ordinal scales, PaO2:FiO2, ARDS severity
and the protocol signals, computed for every patient-day from the source forms.

This module is pure (no Django but the translation of its labels and messages): the caller builds one pandas frame
per source form with one query each and passes them to :func:`derive`, which returns one row per patient-day of
``grid``. Everything is vectorised so the nightly recomputation of a whole study (about a million patient-days) stays
well within seconds.

Input frames (column names are the contract; extra columns are ignored):

- ``grid``: patient_id, study_day - the patient-days to produce rows for.
- ``support``: patient_id, study_day, support (code, see :data:`SUPPORT_STATE`), flow_l_min, fio2 (NaN = not
  set on the device), peep_cmh2o, ecmo, prone, vasopressors, rrt. Several rows per day are allowed.
- ``vitals``: patient_id, study_day, spo2_pct. Several rows per day are allowed.
- ``labs``: patient_id, study_day, pao2_mmhg, abg_fio2 (NaN = use the day's FiO2), crp_mg_l, ast_u_l, alt_u_l,
  ast_uln_u_l, alt_uln_u_l. Several rows per day are allowed.
- ``events``: patient_id, study_day, kind (see :data:`EVENT_KINDS`), normal_activities, alive (bool or NA).

Output columns: see :data:`OUTPUT_COLUMNS` and :func:`derive`.

How the state of a day is decided (clinical definitions §3.1), in order:

1. on or after the first death report (a ``death`` event, or a vital-status contact with alive=False) the
   state is death (absorbing);
2. otherwise the worst state *recorded that day* wins: the respiratory support of the day (highest level,
   with that day's vasopressors / RRT / ECMO), a discharge, a vital-status contact, an ``imv_started`` event;
3. a day with nothing recorded takes the state left by the last earlier *anchor* day: a discharge or an
   informative contact carries its discharged state forward; a later hospital day (support row, ICU admission,
   invasive ventilation started: a readmission) ends the carry-forward; so does a withdrawal or a loss to
   follow-up. With no anchor the state is unknown.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

import numpy as np
import pandas as pd
from django.utils.translation import gettext, gettext_lazy, gettext_noop

#: Bump whenever a change to this module can change a derived value; stored with every derived row.
ALGORITHM_VERSION: Final = "1.1.0"

# --------------------------------------------------------------------------------------------------------
# Clinical states and the three ordinal scales (clinical definitions §3.1)
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class State:
    """One row of the clinical definitions §3.1 table.

    ``who_cps_10`` is the WHO clinical progression score when oxygenation is adequate (P/F >= 150, or
    S/F >= 200 when no P/F is known) and ``who_cps_10_low_pf`` when it is not; they differ only for the two
    invasive-ventilation states whose score depends on oxygenation.
    """

    code: str
    label: str
    milan_7: int
    who_osci_8: int
    who_cps_10: int
    who_cps_10_low_pf: int

    @property
    def needs_oxygenation(self) -> bool:
        return self.who_cps_10 != self.who_cps_10_low_pf


#: The clinical definitions §3.1 table, ordered from best to worst: the position is the severity used for "worst of the
#: day".
STATES: Final[tuple[State, ...]] = (
    State("discharged_normal", gettext_lazy("Discharged, normal activities resumed"), 1, 1, 2, 2),
    State("discharged_impaired", gettext_lazy("Discharged, unable to resume normal activities"), 2, 2, 3, 3),
    State("room_air", gettext_lazy("Hospitalised, room air"), 3, 3, 4, 4),
    State("low_flow", gettext_lazy("Low-flow oxygen (incl. non-rebreather)"), 4, 4, 5, 5),
    State("hfnc_cpap_niv", gettext_lazy("High-flow nasal cannula, CPAP or NIV"), 5, 5, 6, 6),
    State("imv", gettext_lazy("Invasive mechanical ventilation"), 6, 6, 7, 8),
    State("imv_organ_support", gettext_lazy("Invasive ventilation + vasopressors or RRT"), 6, 7, 8, 9),
    State("imv_ecmo", gettext_lazy("Invasive ventilation + ECMO"), 6, 7, 9, 9),
    State("death", gettext_lazy("Death"), 7, 8, 10, 10),
)
_CODE: Final = MappingProxyType({state.code: severity for severity, state in enumerate(STATES)})
_DEATH: Final = _CODE["death"]
_IMV: Final = _CODE["imv"]

#: Support code of the respiratory-support form -> state before vasopressors / RRT / ECMO are considered.
SUPPORT_STATE: Final = MappingProxyType(
    {
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
)

SUPPORT_CODES: Final = tuple(SUPPORT_STATE)
_SUPPORT_BASE_STATE: Final = np.array([_CODE[SUPPORT_STATE[code]] for code in SUPPORT_CODES], dtype=np.int64)

EVENT_KINDS: Final = frozenset(
    {
        "discharged",
        "death",
        "icu_admission",
        "icu_discharge",
        "imv_started",
        "withdrawal",
        "lost_to_follow_up",
        "vital_status_contact",
    }
)

# Days whose state is unknown get a negative code; the code says why (written to status_note, in English: the pages
# translate a stored note, the reason of gettext_noop).
_DISCHARGED_UNRECORDED: Final = -1  # discharged, normal activities not recorded
_IN_HOSPITAL: Final = -2  # in hospital (or nothing known) but no respiratory support recorded that day
_WITHDRAWN: Final = -3
_LOST: Final = -4
UNKNOWN_STATE_NOTES: Final = MappingProxyType(
    {
        _DISCHARGED_UNRECORDED: gettext_noop("discharged, normal activities not recorded"),
        _IN_HOSPITAL: gettext_noop("no respiratory support recorded"),
        _WITHDRAWN: gettext_noop("withdrawn from the study"),
        _LOST: gettext_noop("lost to follow-up"),
    }
)
NOTE_OXYGENATION_UNKNOWN: Final = gettext_noop("P/F and S/F unknown: WHO CPS needs them on invasive ventilation")

# WHO clinical progression scale cut-offs (WHO Working Group, Lancet Infect Dis 2020): scale-defined, not
# study settings.
WHO_CPS_LOW_PF: Final = 150.0
WHO_CPS_LOW_SF: Final = 200.0


@dataclass(frozen=True)
class Scale:
    """Codebook metadata of one ordinal scale; scores are stored with ``identifier`` (clinical definitions §3.1)."""

    identifier: str
    column: str
    label: str
    direction: str
    value_labels: Mapping[int, str]


SCALES: Final[Mapping[str, Scale]] = MappingProxyType(
    {
        scale.identifier: scale
        for scale in (
            Scale(
                "milan_7",
                "ordinal_7",
                "Milan 7-point ordinal clinical status",
                "lower_is_better",
                MappingProxyType(
                    {
                        1: "Discharged, normal activities resumed",
                        2: "Discharged, unable to resume normal activities",
                        3: "Hospitalised, not requiring supplemental oxygen",
                        4: "Hospitalised, low-flow oxygen (incl. non-rebreather)",
                        5: "Hospitalised, high-flow nasal cannula, CPAP or non-invasive ventilation",
                        6: "Invasive mechanical ventilation (with or without ECMO)",
                        7: "Death",
                    }
                ),
            ),
            Scale(
                "who_osci_8",
                "who_osci",
                "WHO ordinal scale for clinical improvement (0-8)",
                "higher_is_worse",
                MappingProxyType(
                    {
                        0: "Uninfected, no clinical or virological evidence of infection",
                        1: "Ambulatory, no limitation of activities",
                        2: "Ambulatory, limitation of activities",
                        3: "Hospitalised, no oxygen therapy",
                        4: "Hospitalised, oxygen by mask or nasal prongs",
                        5: "Hospitalised, non-invasive ventilation or high-flow oxygen",
                        6: "Intubation and mechanical ventilation",
                        7: "Ventilation + additional organ support (vasopressors, RRT, ECMO)",
                        8: "Death",
                    }
                ),
            ),
            Scale(
                "who_cps_10",
                "who_cps",
                "WHO clinical progression scale (0-10)",
                "higher_is_worse",
                MappingProxyType(
                    {
                        0: "Uninfected, no viral RNA detected",
                        1: "Asymptomatic, viral RNA detected",
                        2: "Symptomatic, independent",
                        3: "Symptomatic, assistance needed",
                        4: "Hospitalised, no oxygen therapy",
                        5: "Hospitalised, oxygen by mask or nasal prongs",
                        6: "Hospitalised, oxygen by NIV or high flow",
                        7: "Mechanical ventilation, P/F >= 150 or S/F >= 200",
                        8: "Mechanical ventilation, P/F < 150 (S/F < 200), or vasopressors",
                        9: "Mechanical ventilation, P/F < 150 and vasopressors or dialysis, or ECMO",
                        10: "Dead",
                    }
                ),
            ),
        )
    }
)

# --------------------------------------------------------------------------------------------------------
# PaO2:FiO2 (clinical definitions §3.2) and study settings
# --------------------------------------------------------------------------------------------------------

# Rice et al., Chest 2007;132:410-417: S/F = 64 + 0.84 x P/F (published coefficients, not study settings).
RICE_INTERCEPT: Final = 64.0
RICE_SLOPE: Final = 0.84
NOTE_NO_SPO2: Final = gettext_noop("no SpO2")  # stored in English; the pages translate it
NOTE_NO_FIO2: Final = gettext_noop("no FiO2")
NOTE_SF_TOO_LOW: Final = f"S/F <= {RICE_INTERCEPT:g}"

# FiO2 is entered with two decimals; estimates are rounded the same way so 2 L/min gives 0.28, not 0.28000004.
_FIO2_DECIMALS: Final = 2

#: Study settings (the clinical definitions mark each as a *study setting*); a study stores overrides of these keys.
DEFAULT_SETTINGS: Final[dict[str, Any]] = {
    # Room air is exactly 0.21 whatever is entered: a fact, not an estimate (never flagged as estimated).
    "room_air_fio2": 0.21,
    # FiO2 estimate when not set on the device (clinical definitions §3.2):
    #   fio2 = clip(fio2_at_ref_flow + per_l_min * (min(flow, max_flow_l_min) - ref_flow_l_min), min_fio2,
    #   max_fio2), rounded to 2 decimals. A device missing here (venturi, HFNC, CPAP, NIV, IMV) needs the set
    #   FiO2. An estimate that depends on the flow is unknown when the flow is.
    "fio2_estimates": {
        "nasal_cannula": {"fio2_at_ref_flow": 0.20, "per_l_min": 0.04, "max_flow_l_min": 6.0},
        "simple_mask": {
            "fio2_at_ref_flow": 0.40,
            "ref_flow_l_min": 5.0,
            "per_l_min": 0.10,
            "min_fio2": 0.40,
            "max_fio2": 0.60,
        },
        "non_rebreather": {"fio2_at_ref_flow": 0.60},
    },
    # Rice's S/F -> P/F conversion is valid only up to this SpO2 (%), above it the curve is flat.
    "rice_max_spo2": 97.0,
    # ARDS severity, Milan definitions: severe P/F < 100, moderate 100 <= P/F <= 200, none above 200.
    "ards_severe_pf_below": 100.0,
    "ards_moderate_pf_max": 200.0,
    # The state of a day when several are recorded; only "worst_of_day" is implemented (clinical definitions §3.1).
    "day_state_rule": "worst_of_day",
    # Sustained clinical benefit (clinical definitions §1.1): CRP fallen >= 75% from day 0 and P/F > 200 for 2
    # consecutive days.
    "benefit_crp_fall_fraction": 0.75,
    "benefit_pf_above": 200.0,
    "benefit_consecutive_days": 2,
    # Liver signal (clinical definitions §1.1, 3.3): AST or ALT strictly above 3 x the site's upper limit of normal.
    "liver_uln_multiple": 3.0,
    # Timing of the first anakinra dose after the New York oxygen criterion (clinical definitions §3.4, computed by
    # ecrf/courses.py): early up to and including 36 h, late from 96 h (4 days) on, intermediate between (exactly
    # 36.0 h is early, exactly 96.0 h is late).
    "timing_early_max_hours": 36.0,
    "timing_late_min_hours": 96.0,
    # Ventilator-free and ICU-free days are counted up to the start of this study day (clinical definitions §3.4):
    # day 28, as in Yehya et al., Am J Respir Crit Care Med 2019;200:828-836.
    "course_horizon_days": 28,
    # New York response (clinical definitions §3.4): weaned to room air, or on nasal cannula at most this flow.
    "ny_response_max_flow_l_min": 2.0,
}
_ESTIMATE_DEFAULTS: Final = MappingProxyType(
    {
        "ref_flow_l_min": 0.0,
        "per_l_min": 0.0,
        "max_flow_l_min": np.inf,
        "min_fio2": 0.21,
        "max_fio2": 1.0,
    }
)


def _check_estimate_table(table: Mapping[str, Mapping[str, float]]) -> None:
    unknown_devices = set(table) - set(SUPPORT_CODES)
    if unknown_devices:
        raise ValueError(
            gettext("FiO2 estimate for unknown support codes: %(codes)s") % {"codes": sorted(unknown_devices)}
        )
    for device, formula in table.items():
        if "fio2_at_ref_flow" not in formula:
            raise ValueError(gettext("FiO2 estimate of %(device)s lacks fio2_at_ref_flow") % {"device": device})
        unknown = set(formula) - {"fio2_at_ref_flow", *_ESTIMATE_DEFAULTS}
        if unknown:
            raise ValueError(
                gettext("FiO2 estimate of %(device)s has unknown parameters %(names)s")
                % {"device": device, "names": sorted(unknown)}
            )


# The allowed range of each number among the settings (inclusive; None: no bound), beyond being a finite number.
_SETTING_RANGES: Final[dict[str, tuple[float | None, float | None]]] = {
    "room_air_fio2": (0.21, 0.21),
    "rice_max_spo2": (50.0, 100.0),
    "ards_severe_pf_below": (1.0, 700.0),  # the hard range of PaO2 is 20-700 mmHg
    "ards_moderate_pf_max": (1.0, 700.0),
    "benefit_crp_fall_fraction": (0.01, 1.0),
    "benefit_pf_above": (1.0, 700.0),
    "benefit_consecutive_days": (1, 365),
    "liver_uln_multiple": (1.0, 100.0),
    "timing_early_max_hours": (0.0, 720.0),  # up to 30 days
    "timing_late_min_hours": (0.0, 720.0),
    "course_horizon_days": (1, 365),  # the range of follow_up_days
    "ny_response_max_flow_l_min": (0.0, 15.0),  # the highest flow of a nasal cannula or mask
}


def _merge(overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(DEFAULT_SETTINGS)
    for key, value in overrides.items():
        if key in merged and isinstance(merged[key], dict) and isinstance(value, Mapping):
            merged[key].update(copy.deepcopy(dict(value)))
        elif key in merged:
            merged[key] = value
    return merged


# The settings whose bands must increase: (the lower band's end, its name in the message), (the upper band's
# start, its name), the message. The problem names the setting the study overrides, the upper one when both.
_INCREASING = (
    (
        ("ards_severe_pf_below", "severe"),
        ("ards_moderate_pf_max", "moderate"),
        gettext_noop(
            "ARDS bands must increase: the severe band ends below %(severe)s mmHg, which must be lower than the "
            "moderate band's maximum %(moderate)s mmHg"
        ),
    ),
    (
        ("timing_early_max_hours", "early"),
        ("timing_late_min_hours", "late"),
        gettext_noop(
            "Timing groups must increase: the early group ends at %(early)s h, which must be lower than the late "
            "group's minimum %(late)s h"
        ),
    ),
)


def settings_problems(overrides: Any) -> list[tuple[str, str]]:
    """Every problem of a study's derivation overrides, as (key, message): an unknown key, a value that is not a
    number in its range, an FiO2 estimate table that does not parse, ARDS bands that do not increase (the severe
    band's upper limit must be below the moderate band's), anakinra timing groups that do not increase (the early
    group's maximum must be below the late group's minimum). The study set-up (cohorts/setup.py, through the
    signal ``study_settings_check``) shows them next to the setting; :func:`resolve_settings` raises the first."""
    if overrides is None:
        return []
    if not isinstance(overrides, Mapping):
        return [("", gettext("must be a table of derivation settings"))]
    problems = []
    for key, value in overrides.items():
        if key not in DEFAULT_SETTINGS:
            message = gettext("unknown derivation setting %(key)s; known: %(known)s") % {
                "key": repr(key),
                "known": ", ".join(DEFAULT_SETTINGS),
            }
            problems.append((str(key), message))
        elif key in _SETTING_RANGES:
            low, high = _SETTING_RANGES[key]
            whole = isinstance(DEFAULT_SETTINGS[key], int)
            ok_type = isinstance(value, int if whole else int | float) and not isinstance(value, bool)
            if not ok_type or not math.isfinite(value):
                if whole:
                    message = gettext("must be a whole number (got %(value)s)")
                else:
                    message = gettext("must be a number (got %(value)s)")
                problems.append((key, message % {"value": repr(value)}))
            elif (low is not None and value < low) or (high is not None and value > high):
                values = {"low": f"{low:g}", "high": f"{high:g}", "value": f"{value:g}"}
                if low == high:
                    message = gettext("must be %(low)s (got %(value)s)")
                else:
                    message = gettext("must be %(low)s to %(high)s (got %(value)s)")
                problems.append((key, message % values))
        elif key == "day_state_rule" and value != "worst_of_day":
            message = gettext("unsupported day_state_rule %(value)s; the only rule is 'worst_of_day'")
            problems.append((key, message % {"value": repr(value)}))
        elif key == "fio2_estimates":
            if not isinstance(value, Mapping) or not all(isinstance(f, Mapping) for f in value.values()):
                problems.append((key, gettext("must be a table of devices, each a table of formula parameters")))
                continue
            for device, formula in value.items():
                for name, number in formula.items():
                    if isinstance(number, bool) or not isinstance(number, int | float) or not math.isfinite(number):
                        message = gettext("must be a number (got %(value)s)") % {"value": repr(number)}
                        problems.append((f"{key}.{device}.{name}", message))
    bad = {key.split(".")[0] for key, _message in problems}
    merged = _merge({key: value for key, value in overrides.items() if key not in bad})
    if "fio2_estimates" not in bad:
        try:
            _check_estimate_table(merged["fio2_estimates"])
        except ValueError as error:
            problems.append(("fio2_estimates", str(error)))
    for (low_key, low_name), (high_key, high_name), message in _INCREASING:
        low, high = merged[low_key], merged[high_key]
        if low >= high:
            key = high_key if high_key in overrides else low_key
            problems.append((key, gettext(message) % {low_name: f"{low:g}", high_name: f"{high:g}"}))
    return problems


def resolve_settings(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Return the study settings: :data:`DEFAULT_SETTINGS` updated with a study's ``overrides``.

    Nested mappings (the FiO2 estimate table) are merged one level deep: a study overriding one device gives
    that device's whole formula and keeps the defaults of the others. Unknown keys, devices, formula
    parameters or aggregation rules, values out of range, ARDS bands and anakinra timing groups out of order are
    refused rather than silently ignored (:func:`settings_problems`).
    """
    problems = settings_problems(overrides)
    if problems:
        key, message = problems[0]
        raise ValueError(message if not key or key in message else f"{key}: {message}")
    return _merge(overrides or {})


@dataclass(frozen=True)
class ArdsBands:
    """ARDS severity by P/F (clinical definitions §3.2, Milan; both thresholds are study settings): severe below
    ``severe_below``, moderate from there up to and including ``moderate_max``, none above.

    The one reading of the thresholds: the derived ards_severity, the P/F bands of the outcome tables and the
    codebook all come from :func:`ards_bands`, so they cannot disagree for a study with its own bands.
    """

    severe_below: float
    moderate_max: float

    def severity_codes(self, pf: Any) -> np.ndarray:
        """Position in :data:`ARDS_SEVERITIES` of each P/F value, -1 where it is missing."""
        values = np.asarray(pf, dtype=float)
        return np.select(
            [values < self.severe_below, values <= self.moderate_max, values > self.moderate_max], [2, 1, 0], -1
        )

    @property
    def texts(self) -> dict[str, str]:
        """The P/F range of each severity as tables show it; Milan's: "> 200", "100-200", "< 100"."""
        low, high = format(self.severe_below, "g"), format(self.moderate_max, "g")
        return {"none": f"> {high}", "moderate": f"{low}-{high}", "severe": f"< {low}"}


def ards_bands(settings: Mapping[str, Any] | None = None) -> ArdsBands:
    """The ARDS bands of a study's settings (its overrides of :data:`DEFAULT_SETTINGS`, or settings already
    resolved: resolving is idempotent)."""
    cfg = resolve_settings(settings)
    return ArdsBands(float(cfg["ards_severe_pf_below"]), float(cfg["ards_moderate_pf_max"]))


def _support_positions(support: pd.Series) -> np.ndarray:
    """Position of each support code in :data:`SUPPORT_CODES`, -1 where missing; unknown codes are refused."""
    positions = pd.Categorical(support, categories=SUPPORT_CODES).codes.astype(np.int64)
    unknown = (positions < 0) & support.notna().to_numpy()
    if unknown.any():
        raise ValueError(f"unknown support codes: {sorted(support[unknown].astype(str).unique())}")
    return positions


def _per_support_code(values: Mapping[str, float]) -> np.ndarray:
    """An array indexed by support position; the extra last element (NaN) is what position -1 selects."""
    return np.array([values.get(code, np.nan) for code in SUPPORT_CODES] + [np.nan], dtype=float)


def _estimate_fio2(positions: np.ndarray, flow_l_min: np.ndarray, settings: Mapping[str, Any]) -> np.ndarray:
    """The formula of DEFAULT_SETTINGS["fio2_estimates"], applied per row with that row's device parameters."""
    table = {code: {**_ESTIMATE_DEFAULTS, **row} for code, row in settings["fio2_estimates"].items()}
    param = {
        name: _per_support_code({code: row[name] for code, row in table.items()})[positions]
        for name in ("fio2_at_ref_flow", *_ESTIMATE_DEFAULTS)
    }
    flow = np.minimum(flow_l_min, param["max_flow_l_min"]) - param["ref_flow_l_min"]
    # A flow-independent estimate (per_l_min == 0) must not become NaN when the flow is missing.
    flow_term = np.where(param["per_l_min"] == 0, 0.0, flow * param["per_l_min"])
    raw = np.clip(param["fio2_at_ref_flow"] + flow_term, param["min_fio2"], param["max_fio2"])
    room_air = positions == SUPPORT_CODES.index("room_air")
    return np.where(room_air, float(settings["room_air_fio2"]), np.round(raw, _FIO2_DECIMALS))


def estimate_fio2(support: pd.Series, flow_l_min: pd.Series, settings: Mapping[str, Any] | None = None) -> pd.Series:
    """FiO2 estimated from the device and flow (clinical definitions §3.2), NaN where the device needs the set FiO2.

    Room air gives the exact room-air FiO2. ``settings`` are a study's overrides of the defaults.
    """
    estimate = _estimate_fio2(_support_positions(support), _numeric(flow_l_min), resolve_settings(settings))
    return pd.Series(estimate, index=support.index, name="fio2")


def rice_pf(spo2_pct: Any, fio2: Any, max_spo2: float = DEFAULT_SETTINGS["rice_max_spo2"]) -> Any:
    """P/F derived from SpO2 (%) and FiO2 (fraction) with Rice et al. (clinical definitions §3.2); NaN where not valid.

    Valid only for SpO2 <= ``max_spo2`` and S/F > 64. Works on scalars and arrays alike.
    Example: SpO2 92% on FiO2 0.50 -> S/F 184 -> P/F 142.857...
    """
    spo2 = np.asarray(spo2_pct, dtype=float)
    sf = spo2 / np.asarray(fio2, dtype=float)
    valid = (spo2 <= max_spo2) & (sf > RICE_INTERCEPT)
    pf = np.where(valid, (sf - RICE_INTERCEPT) / RICE_SLOPE, np.nan)
    return pf if pf.ndim else float(pf)


# --------------------------------------------------------------------------------------------------------
# Output contract
# --------------------------------------------------------------------------------------------------------

#: Categories of the text columns with a fixed vocabulary.
PF_SOURCES: Final = ("measured", "derived")
ARDS_SEVERITIES: Final = ("none", "moderate", "severe")

OUTPUT_COLUMNS: Final = (
    "patient_id",
    "study_day",
    "state",
    "ordinal_7",
    "who_osci",
    "who_cps",
    "status_note",
    "fio2",
    "fio2_estimated",
    "sf_ratio",
    "pf_measured",
    "pf_derived",
    "pf_derived_note",
    "pf",
    "pf_source",
    "ards_severity",
    "sustained_benefit",
    "liver_enzymes_gt_3uln",
    "data_after_death",
)

_REQUIRED_COLUMNS: Final = MappingProxyType(
    {
        "grid": ("patient_id", "study_day"),
        "support": ("patient_id", "study_day", "support", "flow_l_min", "fio2", "ecmo", "vasopressors", "rrt"),
        "vitals": ("patient_id", "study_day", "spo2_pct"),
        "labs": (
            *("patient_id", "study_day", "pao2_mmhg", "abg_fio2", "crp_mg_l"),
            *("ast_u_l", "alt_u_l", "ast_uln_u_l", "alt_uln_u_l"),
        ),
        "events": ("patient_id", "study_day", "kind", "normal_activities", "alive"),
    }
)

# --------------------------------------------------------------------------------------------------------
# Patient-day keys: one int64 per (patient_id, study_day). Sorting by key sorts by patient, then day, so every
# per-day reduction, lookup and "the day before" is a sort or a binary search on one column rather than a
# hash-based group-by or join: this is what keeps a million patient-days within a few seconds.
# --------------------------------------------------------------------------------------------------------

_DAY_OFFSET: Final = 1 << 20  # study days must lie in [-2**20, 2**20)
_DAY_SPAN: Final = 1 << 21
_MAX_PATIENT_ID: Final = (1 << 62) // _DAY_SPAN


def _day_keys(frame: pd.DataFrame) -> np.ndarray:
    patient = frame["patient_id"].to_numpy(dtype=np.int64)
    day = frame["study_day"].to_numpy(dtype=np.int64)
    if len(frame) and (patient.min() < 0 or patient.max() >= _MAX_PATIENT_ID or np.abs(day).max() >= _DAY_OFFSET):
        raise ValueError("patient_id or study_day out of the supported range")
    return patient * _DAY_SPAN + (day + _DAY_OFFSET)


def _key_patient(keys: np.ndarray) -> np.ndarray:
    return keys // _DAY_SPAN


def _key_day(keys: np.ndarray) -> np.ndarray:
    return keys % _DAY_SPAN - _DAY_OFFSET


def _sorted_unique(keys: np.ndarray) -> np.ndarray:
    """Distinct keys, sorted (by sorting: numpy's hash-based ``np.unique`` is several times slower here)."""
    ordered = np.sort(keys)
    return ordered[np.r_[True, ordered[1:] != ordered[:-1]]] if len(ordered) else ordered


@dataclass(frozen=True)
class _Lookup:
    """Where each of some keys sits among sorted distinct keys (one binary search, reused for every column)."""

    position: np.ndarray
    found: np.ndarray

    @classmethod
    def of(cls, sorted_keys: np.ndarray, keys: np.ndarray) -> _Lookup:
        position = np.searchsorted(sorted_keys, keys)
        found = position < len(sorted_keys)
        found[found] = sorted_keys[position[found]] == keys[found]
        return cls(position, found)

    def take(self, values: np.ndarray, missing: Any = np.nan) -> np.ndarray:
        """``values`` (one per sorted key) at each looked-up key; ``missing`` where the key is absent."""
        result = np.full(len(self.found), missing, dtype=np.result_type(values, np.asarray(missing)))
        result[self.found] = values[self.position[self.found]]
        return result


def _at(sorted_keys: np.ndarray, values: np.ndarray, keys: np.ndarray, missing: Any = np.nan) -> np.ndarray:
    """``values`` (one per distinct sorted key) looked up at each of ``keys``; ``missing`` where absent."""
    return _Lookup.of(sorted_keys, keys).take(values, missing)


# Per-day columns of equal length, with the sorted distinct day keys under "key". Plain arrays rather than a
# DataFrame: pandas' block consolidation would copy every column several times for nothing.
_Columns = dict[str, np.ndarray]


@dataclass(frozen=True)
class _Days:
    """Source rows grouped by patient-day: ``order`` sorts the rows by day, ``starts`` is where each day begins."""

    keys: np.ndarray  # the distinct day keys, sorted
    order: np.ndarray
    starts: np.ndarray

    @classmethod
    def of(cls, keys: np.ndarray, order: np.ndarray | None = None) -> _Days:
        """Group ``keys``; ``order`` may also rank the rows within a day (it must sort by key first)."""
        order = np.argsort(keys, kind="stable") if order is None else order
        ordered = keys[order]
        starts = np.flatnonzero(np.r_[True, ordered[1:] != ordered[:-1]]) if len(keys) else order
        return cls(ordered[starts], order, starts)

    def reduce(self, values: np.ndarray, ufunc: np.ufunc) -> np.ndarray:
        """``np.fmin`` / ``np.fmax`` skip NaN (NaN only when the whole day is); ``np.logical_or`` is "any"."""
        return ufunc.reduceat(values[self.order], self.starts) if len(self.keys) else values[:0]

    def first(self, values: np.ndarray) -> np.ndarray:
        """The value of the first row of each day in ``order``."""
        return values[self.order[self.starts]]

    def columns(self, **columns: np.ndarray) -> _Columns:
        return {"key": self.keys, **columns}


def _numeric(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _flag(column: pd.Series) -> np.ndarray:
    """A yes/no column where NA means no (an unticked box)."""
    return column.astype("boolean").fillna(False).to_numpy(dtype=bool)


def _is(column: pd.Series, value: bool) -> np.ndarray:
    """Where a nullable yes/no column is recorded and equals ``value`` (NA is neither yes nor no)."""
    return column.astype("boolean").eq(value).fillna(False).to_numpy(dtype=bool)


# --------------------------------------------------------------------------------------------------------
# Per-source daily summaries, each for the days that have rows in that source
# --------------------------------------------------------------------------------------------------------


def _support_days(support: pd.DataFrame, settings: Mapping[str, Any]) -> _Columns:
    """State and FiO2 of each day with respiratory support recorded (clinical definitions §3.1 worst of day, 3.2 FiO2).

    The day's level is its highest support; vasopressors, RRT and ECMO are day-level facts (as on the
    one-row-per-day form), so IMV on one row and vasopressors on another make "IMV + vasopressors".
    ECMO is the worst state whatever the ventilation recorded. The day's FiO2 is the one at the highest
    level (the SpO2 of the day is assumed taken on it): the highest such FiO2, a set value before an estimate.
    Room air is always exactly the room-air FiO2. A row without a support code carries nothing (a day with
    only such rows has no state) but still counts as a row of that day.
    """
    positions = _support_positions(support["support"])
    coded = positions >= 0
    set_fio2 = np.where(coded, _numeric(support["fio2"]), np.nan)
    estimate = _estimate_fio2(positions, _numeric(support["flow_l_min"]), settings)
    room_air = positions == SUPPORT_CODES.index("room_air")
    use_estimate = room_air | np.isnan(set_fio2)
    level = np.where(coded, _SUPPORT_BASE_STATE[positions], -1)
    fio2 = np.where(use_estimate, estimate, set_fio2)
    estimated = use_estimate & ~room_air & ~np.isnan(estimate)
    # Rows of a day from the preferred one: the highest level, then the highest FiO2 (NaN last), then set.
    keys = _day_keys(support)
    days = _Days.of(keys, np.lexsort((estimated, -fio2, -level, keys)))
    level_of_day = days.first(level)
    ecmo = days.reduce(_flag(support["ecmo"]) & coded, np.logical_or)
    organ_support = days.reduce((_flag(support["vasopressors"]) | _flag(support["rrt"])) & coded, np.logical_or)
    state = np.select(
        [level_of_day < 0, ecmo, (level_of_day == _IMV) & organ_support],
        [np.nan, _CODE["imv_ecmo"], _CODE["imv_organ_support"]],
        level_of_day,
    )
    return days.columns(support_state=state, fio2=days.first(fio2), fio2_estimated=days.first(estimated))


def _event_rows(events: pd.DataFrame) -> pd.DataFrame:
    """Per event row: whether it reports death, the state it records and the carry-forward anchor it sets.

    Anchor priority on one day: a withdrawal, then a loss to follow-up (both end the information), then a
    discharge or an informative contact (carries its state), then an ICU admission or discharge / IMV start
    (in hospital). A contact with alive=True but normal activities not recorded, or with alive not recorded, says
    nothing. A discharge with normal activities not recorded records a discharged state of unknown level.
    """
    unknown = ~events["kind"].isin(EVENT_KINDS)
    if unknown.any():
        raise ValueError(f"unknown event kinds: {sorted(events.loc[unknown, 'kind'].astype(str).unique())}")
    kind = events["kind"].to_numpy(dtype=object)
    normal = events["normal_activities"]
    contact = kind == "vital_status_contact"
    reports_death = (kind == "death") | (contact & _is(events["alive"], False))
    informative_contact = contact & _is(events["alive"], True) & normal.notna().to_numpy()
    discharge = kind == "discharged"
    discharged_state = np.select(
        [_is(normal, True), _is(normal, False)],
        [_CODE["discharged_normal"], _CODE["discharged_impaired"]],
        _DISCHARGED_UNRECORDED,
    )
    disposition = reports_death | discharge | informative_contact
    # An ICU admission, a discharge from the ICU to the ward, a start of invasive ventilation: in hospital.
    back_in_hospital = np.isin(kind, ("icu_admission", "icu_discharge", "imv_started"))
    recorded_state = np.select(
        [reports_death, discharge | informative_contact, kind == "imv_started"],
        [_DEATH, discharged_state, _IMV],
        np.nan,
    )
    anchor_rules = (  # (priority, applies, anchor)
        (4, kind == "withdrawal", _WITHDRAWN),
        (3, kind == "lost_to_follow_up", _LOST),
        (2, disposition, recorded_state),
        (1, back_in_hospital, _IN_HOSPITAL),
    )
    return pd.DataFrame(
        {
            "key": _day_keys(events),
            "reports_death": reports_death,
            "recorded_state": recorded_state,
            "anchor": np.select([r[1] for r in anchor_rules], [r[2] for r in anchor_rules], np.nan),
            "priority": np.select([r[1] for r in anchor_rules], [r[0] for r in anchor_rules], 0),
        }
    )


def _event_days(event_rows: pd.DataFrame) -> _Columns:
    """Per day: the worst state recorded by events, the anchor the day leaves for the following days, and
    whether the day has events other than death reports."""
    keys = event_rows["key"].to_numpy()
    anchors = event_rows["anchor"].to_numpy()
    # Rows of a day from the highest-priority anchor, the worst state first among equals.
    days = _Days.of(keys, np.lexsort((-anchors, -event_rows["priority"].to_numpy(), keys)))
    return days.columns(
        event_state=days.reduce(event_rows["recorded_state"].to_numpy(), np.fmax),
        event_anchor=days.first(anchors),
        other_events=days.reduce(~event_rows["reports_death"].to_numpy(), np.logical_or),
    )


def _death_days(event_rows: pd.DataFrame, keys: np.ndarray) -> np.ndarray:
    """For each day key: the first day a death of that patient is reported, +inf if none (clinical definitions §3.1)."""
    deaths = event_rows.loc[event_rows["reports_death"], "key"].to_numpy()
    patients = _Days.of(_key_patient(deaths))
    first_death = patients.reduce(_key_day(deaths), np.minimum).astype(float)
    return _at(patients.keys, first_death, _key_patient(keys), np.inf)


def _vital_days(vitals: pd.DataFrame, support_days: _Columns, settings: Mapping[str, Any]) -> _Columns:
    """Lowest SpO2, lowest S/F and lowest derived P/F (Rice) of each day, on the day's FiO2 (clinical definitions
    §3.2)."""
    keys = _day_keys(vitals)
    spo2 = _numeric(vitals["spo2_pct"])
    fio2 = _at(support_days["key"], support_days["fio2"], keys)
    days = _Days.of(keys)
    return days.columns(
        min_spo2=days.reduce(spo2, np.fmin),
        sf_ratio=days.reduce(spo2 / fio2, np.fmin),
        pf_derived=days.reduce(rice_pf(spo2, fio2, float(settings["rice_max_spo2"])), np.fmin),
    )


def _lab_days(labs: pd.DataFrame, support_days: _Columns, settings: Mapping[str, Any]) -> _Columns:
    """Per day: the lowest measured P/F, the highest (worst) CRP, and AST or ALT > 3 x ULN (clinical definitions §3.2,
    3.3).

    Measured P/F uses the FiO2 recorded with the blood gas, else the day's FiO2. The liver flag needs the
    site's ULN on the same row: without it nothing is flagged.
    """
    keys = _day_keys(labs)
    gas_fio2 = _numeric(labs["abg_fio2"])
    day_fio2 = _at(support_days["key"], support_days["fio2"], keys)
    gas_fio2 = np.where(np.isnan(gas_fio2), day_fio2, gas_fio2)
    multiple = float(settings["liver_uln_multiple"])
    liver = (_numeric(labs["ast_u_l"]) > multiple * _numeric(labs["ast_uln_u_l"])) | (
        _numeric(labs["alt_u_l"]) > multiple * _numeric(labs["alt_uln_u_l"])
    )
    days = _Days.of(keys)
    return days.columns(
        pf_measured=days.reduce(_numeric(labs["pao2_mmhg"]) / gas_fio2, np.fmin),
        crp=days.reduce(_numeric(labs["crp_mg_l"]), np.fmax),
        liver=days.reduce(liver, np.logical_or),
    )


# --------------------------------------------------------------------------------------------------------
# Day-level derivations on the frame of all patient-days (sorted by key)
# --------------------------------------------------------------------------------------------------------


def _last_earlier(values: np.ndarray, patient: np.ndarray) -> np.ndarray:
    """For rows sorted by patient then day: the last non-NaN value on an earlier row of the same patient."""
    position = np.where(np.isnan(values), -1, np.arange(len(values)))
    last_up_to = np.maximum.accumulate(position) if len(values) else position
    last_before = np.r_[-1, last_up_to[:-1]] if len(values) else position
    source = np.maximum(last_before, 0)
    same_patient = (last_before >= 0) & (patient[source] == patient)
    return np.where(same_patient, values[source], np.nan)


def _state_codes(days: _Columns, death_day: np.ndarray) -> np.ndarray:
    """Severity code of each day's state (clinical definitions §3.1), negative when unknown (the code says why)."""
    keys = days["key"]
    patient = _key_patient(keys)
    recorded = np.fmax(days["support_state"], days["event_state"])
    # A support row makes the day a hospital day; events of the same day take precedence over it.
    support_anchor = np.where(np.isnan(days["support_state"]), np.nan, _IN_HOSPITAL)
    event_anchor = days["event_anchor"]
    anchor = np.where(np.isnan(event_anchor), support_anchor, event_anchor)
    # The state left by the last earlier anchor day (the same day is covered by "recorded").
    carried = np.nan_to_num(_last_earlier(anchor, patient), nan=_IN_HOSPITAL)
    dead = _key_day(keys) >= death_day
    return np.select([dead, ~np.isnan(recorded)], [_DEATH, recorded], carried).astype(np.int64)


def _score_table(attribute: str) -> np.ndarray:
    return np.asarray([getattr(state, attribute) for state in STATES], dtype=np.int64)


def _scores(codes: np.ndarray, oxygenation_low: np.ndarray, oxygenation_known: np.ndarray) -> dict[str, Any]:
    """Scores on the three scales looked up in the state table (clinical definitions §3.1).

    WHO CPS of the invasive-ventilation states depends on oxygenation: P/F < 150, or S/F < 200 when there is
    no P/F, selects the "low" column; with neither known the score is missing.
    """
    known = codes >= 0
    row = np.where(known, codes, 0)
    needs = np.asarray([state.needs_oxygenation for state in STATES])[row] & known
    cps = np.where(oxygenation_low, _score_table("who_cps_10_low_pf")[row], _score_table("who_cps_10")[row])
    return {
        "ordinal_7": pd.arrays.IntegerArray(_score_table("milan_7")[row], ~known),
        "who_osci": pd.arrays.IntegerArray(_score_table("who_osci_8")[row], ~known),
        "who_cps": pd.arrays.IntegerArray(cps, ~known | (needs & ~oxygenation_known)),
        "oxygenation_missing": needs & ~oxygenation_known,
    }


def _text(codes: np.ndarray, texts: Sequence[str]) -> pd.Categorical:
    """A text column from codes into ``texts`` (-1 = missing).

    Categorical: a million rows share a handful of texts, so no per-row Python strings are built.
    """
    categories = list(dict.fromkeys(texts))  # equal texts share one category
    remap = np.array([categories.index(text) for text in texts] + [-1], dtype=np.int64)
    return pd.Categorical.from_codes(remap[codes], categories=categories)


def _status_notes(codes: np.ndarray, oxygenation_missing: np.ndarray) -> pd.Categorical:
    """Why the state or a score of the day is missing."""
    reasons = list(UNKNOWN_STATE_NOTES.items())
    conditions = [codes == code for code, _ in reasons] + [oxygenation_missing]
    return _text(
        np.select(conditions, np.arange(len(conditions)), -1),
        [note for _, note in reasons] + [NOTE_OXYGENATION_UNKNOWN],
    )


def _pf_derived_notes(days: _Columns, settings: Mapping[str, Any]) -> pd.Categorical:
    """Why the derived P/F of a day is missing: the reason of the day's lowest SpO2 reading."""
    max_spo2 = float(settings["rice_max_spo2"])
    missing = np.isnan(days["pf_derived"])
    min_spo2 = days["min_spo2"]
    too_high_values = np.unique(min_spo2[missing & (min_spo2 > max_spo2)])  # a few distinct SpO2 values
    codes = np.select(
        [~missing, np.isnan(min_spo2), np.isnan(days["fio2"]), min_spo2 > max_spo2],
        [-1, 0, 1, 3 + np.searchsorted(too_high_values, min_spo2)],
        2,
    )
    return _text(
        codes,
        [NOTE_NO_SPO2, NOTE_NO_FIO2, NOTE_SF_TOO_LOW]
        + [f"SpO2 {value:g}% > {max_spo2:g}%: Rice not valid" for value in too_high_values],
    )


def _ards_severity(pf: np.ndarray, settings: Mapping[str, Any]) -> pd.Categorical:
    """ARDS severity from P/F (clinical definitions §3.2) with the study's bands."""
    return _text(ards_bands(settings).severity_codes(pf), ARDS_SEVERITIES)


def _pf_of_day(measured: np.ndarray, derived: np.ndarray) -> tuple[np.ndarray, pd.Categorical]:
    """The day's P/F: the lower of measured and derived, with its source (measured on a tie)."""
    measured_wins = ~np.isnan(measured) & ~(derived < measured)
    source = np.select([measured_wins, ~np.isnan(derived)], [0, 1], -1)
    return np.fmin(measured, derived), _text(source, PF_SOURCES)


def _oxygenation_low(pf: np.ndarray, sf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """WHO CPS oxygenation: (low, known). P/F < 150 when a P/F is known, else S/F < 200."""
    has_pf = ~np.isnan(pf)
    return np.where(has_pf, pf < WHO_CPS_LOW_PF, sf < WHO_CPS_LOW_SF), has_pf | ~np.isnan(sf)


def _sustained_benefit(days: _Columns, settings: Mapping[str, Any]) -> np.ndarray:
    """clinical definitions §1.1: CRP fallen >= 75% from the day-0 CRP and P/F > 200, on this day and the day(s) before
    it.

    A missing day-0 CRP, or a missing value on any of the days, means no benefit.
    """
    keys, crp = days["key"], days["crp"]
    crp0 = _at(keys, crp, keys - _key_day(keys))  # the same patient's day 0
    crp_fallen = crp <= (1.0 - float(settings["benefit_crp_fall_fraction"])) * crp0
    met = crp_fallen & (crp0 > 0) & (days["pf"] > float(settings["benefit_pf_above"]))
    sustained = met
    for days_before in range(1, int(settings["benefit_consecutive_days"])):
        sustained = sustained & _at(keys, met, keys - days_before, missing=False)
    return sustained


def _data_after_death(days: _Columns, death_day: np.ndarray) -> np.ndarray:
    """Days after the death day holding any source row other than a death report (clinical definitions §2.1, 3.3)."""
    return days["has_rows"] & (_key_day(days["key"]) > death_day)


def check_columns(frames: Mapping[str, pd.DataFrame], required: Mapping[str, Iterable[str]]) -> None:
    """Refuse (ValueError) an input frame that lacks a column the computation reads (``required``: frame name ->
    its columns)."""
    for name, frame in frames.items():
        missing = [column for column in required[name] if column not in frame.columns]
        if missing:
            raise ValueError(f"{name} frame lacks columns {missing}")


def _day_columns(
    grid_keys: np.ndarray,
    support: pd.DataFrame,
    vitals: pd.DataFrame,
    labs: pd.DataFrame,
    event_rows: pd.DataFrame,
    settings: Mapping[str, Any],
) -> _Columns:
    """Daily summaries of every source on every patient-day that is in the grid or has a source row.

    Days outside the grid are kept because they can still anchor a carry-forward or be "the day before".
    A day without rows in a source gets NaN (numbers) or False (flags) for that source's columns.
    """
    support_days = _support_days(support, settings)
    summaries = {
        "support": support_days,
        "events": _event_days(event_rows),
        "vitals": _vital_days(vitals, support_days, settings),
        "labs": _lab_days(labs, support_days, settings),
    }
    keys = _sorted_unique(np.concatenate([grid_keys, *(summary["key"] for summary in summaries.values())]))
    days = {"key": keys}
    has_rows = np.zeros(len(keys), dtype=bool)
    for source, summary in summaries.items():
        lookup = _Lookup.of(summary["key"], keys)
        for name, values in summary.items():
            if name != "key":
                days[name] = lookup.take(values, False if values.dtype == bool else np.nan)
        if source != "events":
            has_rows |= lookup.found
    days["has_rows"] = has_rows | days["other_events"]  # any source row but a death report
    days["pf"], days["pf_source"] = _pf_of_day(days["pf_measured"], days["pf_derived"])
    return days


def derive(
    grid: pd.DataFrame,
    support: pd.DataFrame,
    vitals: pd.DataFrame,
    labs: pd.DataFrame,
    events: pd.DataFrame,
    settings: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Derived data of every patient-day in ``grid`` (clinical definitions §3), one output row per grid row, in grid
    order.

    ``settings`` are a study's overrides of :data:`DEFAULT_SETTINGS`. Output columns (:data:`OUTPUT_COLUMNS`;
    text columns are pandas categoricals, NaN where missing; see :func:`to_records` for plain values):

    - state: a code of :data:`STATES`, missing when unknown; ordinal_7, who_osci, who_cps: Int64 scores (see
      :data:`SCALES`); status_note: why the state or a score is missing.
    - fio2, fio2_estimated: the day's FiO2 (set, else estimated); sf_ratio: the lowest S/F of the day.
    - pf_measured, pf_derived: the lowest of the day; pf_derived_note: why pf_derived is missing.
    - pf, pf_source: the lower of the two ("measured" on a tie); ards_severity: "none" / "moderate" / "severe".
    - sustained_benefit, liver_enzymes_gt_3uln, data_after_death: protocol signals (clinical definitions §3.3).
    """
    cfg = resolve_settings(settings)
    check_columns(
        {"grid": grid, "support": support, "vitals": vitals, "labs": labs, "events": events}, _REQUIRED_COLUMNS
    )
    grid_keys = _day_keys(grid)
    event_rows = _event_rows(events)
    days = _day_columns(grid_keys, support, vitals, labs, event_rows, cfg)
    death_day = _death_days(event_rows, days["key"])
    codes = _state_codes(days, death_day)
    scores = _scores(codes, *_oxygenation_low(days["pf"], days["sf_ratio"]))
    derived = {
        "state": _text(np.where(codes >= 0, codes, -1), [state.code for state in STATES]),
        "ordinal_7": scores["ordinal_7"],
        "who_osci": scores["who_osci"],
        "who_cps": scores["who_cps"],
        "status_note": _status_notes(codes, scores["oxygenation_missing"]),
        **{name: days[name] for name in ("fio2", "fio2_estimated", "sf_ratio", "pf_measured", "pf_derived")},
        "pf_derived_note": _pf_derived_notes(days, cfg),
        "pf": days["pf"],
        "pf_source": days["pf_source"],
        "ards_severity": _ards_severity(days["pf"], cfg),
        "sustained_benefit": _sustained_benefit(days, cfg),
        "liver_enzymes_gt_3uln": days["liver"],
        "data_after_death": _data_after_death(days, death_day),
    }
    rows = np.searchsorted(days["key"], grid_keys)  # every grid key is among the days
    return pd.DataFrame(
        {
            "patient_id": grid["patient_id"].to_numpy(dtype=np.int64),
            "study_day": grid["study_day"].to_numpy(dtype=np.int64),
            **{name: column[rows] for name, column in derived.items()},
        },
        columns=list(OUTPUT_COLUMNS),
    )


def to_records(derived: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows of a derived frame as plain Python values with ``None`` wherever a value is missing.

    For the ORM and exports: clinical definitions §5 wants missing values empty, and NaN or pd.NA must never reach a
    database.
    """
    return derived.astype(object).where(derived.notna(), None).to_dict("records")
