"""Patient-level outcomes of clinical definitions §4, one row per patient.

Pure pandas (no Django): the analysis views and the locked-release job build the four
input frames from the database and call :func:`patient_outcomes`; everything per arm
(survival, tables, plots) starts from its result.

Input column contracts
----------------------
``patients``
    patient_id, study_id, arm, arm_label, sex, age_years, weight_kg, the comorbidity
    booleans and follow_up_days. Carried over unchanged.
``derived``
    One row per patient-day: patient_id, study_day, state (a code of
    :data:`SEVEN_POINT` or NA), ordinal_7 (Int64), pf (float), crp_mg_l (float).
``events``
    patient_id, study_day, kind (one of :data:`ecrf.derivations.EVENT_KINDS`), alive (bool/NA, only
    meaningful for ``vital_status_contact``).
``adverse_events``
    patient_id, study_day, kind (one of :data:`AE_KINDS` or "other"), serious.

Every step is a groupby/merge over whole frames; there is no per-patient Python loop,
so a study of thousands of patients costs the same few pandas calls.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import pandas as pd

from ecrf.derivations import ARDS_SEVERITIES, STATES, ArdsBands, ards_bands

HORIZON_DAYS: Final = 21
"""Follow-up of both reference protocols (clinical definitions §1.1): day-21 survival and status."""

SNAPSHOT_DAYS: Final[tuple[int, ...]] = (0, 7, 21)
"""Days at which the ordinal status is tabulated per arm (clinical definitions §4)."""

DISCHARGED_STATES: Final = frozenset({"discharged_normal", "discharged_impaired"})
IMV_STATES: Final = frozenset({"imv", "imv_organ_support", "imv_ecmo"})
"""Invasive ventilation with or without organ support or ECMO: the MVFS event (clinical definitions §4)."""
DEATH_STATE: Final = "death"

# The Milan 7-point score of each state comes from the derivation's clinical definitions §3.1 table, so the
# outcomes can never score a state differently from the derived table (clinical definitions §3.1).
SEVEN_POINT: Final[dict[str, int]] = {state.code: state.milan_7 for state in STATES}
"""Milan 7-point ordinal scale, 1 best (clinical definitions §3.1); used for days imputed here."""

AE_KINDS: Final[tuple[str, ...]] = (
    "bacteraemia",
    "liver_enzymes_gt_3uln",
    "thromboembolism",
)
"""Adverse events reported per arm (clinical definitions §4); each becomes an ``ae_<kind>`` flag."""

# clinical definitions §4, respiratory improvement at day 21: 7-point status <= 4, or status 5 (HFNC,
# CPAP, NIV) with P/F > 200.
IMPROVED_MAX_ORDINAL: Final = 4
IMPROVED_OXYGEN_ORDINAL: Final = 5
IMPROVED_OXYGEN_PF_ABOVE: Final = 200.0

_ID = "patient_id"
_DAY = "study_day"


def patient_outcomes(
    patients: pd.DataFrame,
    derived: pd.DataFrame,
    events: pd.DataFrame,
    adverse_events: pd.DataFrame | None = None,
    horizon: int = HORIZON_DAYS,
    bands: ArdsBands | None = None,
) -> pd.DataFrame:
    """One row per patient of ``patients``: baseline columns plus every clinical definitions §4 outcome.

    Added columns: os_time/os_event, mvfs_time/mvfs_event/mvfs_excluded,
    state_d{0,7,21}, ordinal_d{0,7,21}, pf_d{0,7,21}, pf_band_d{0,7,21},
    resp_improvement_d21 and ae_<kind> for each of :data:`AE_KINDS`.
    Times are whole study days (Int64); unknown values are NA, never 0.
    ``bands`` are the study's ARDS bands (``ecrf.derivations.ards_bands`` of its
    settings; the defaults when None), the ones its derived ards_severity uses.
    """
    ids = pd.Index(patients[_ID].unique(), name=_ID)
    derived = _clean_derived(derived, ids)
    events = _clean_events(events, ids)

    death_day = _death_day(derived, events).reindex(ids)
    imv_day = _imv_start_day(derived, events).reindex(ids)
    last_alive = _last_known_alive(derived, events).reindex(ids)
    censor_day = _censor_day(last_alive, death_day, horizon)

    parts = [
        _time_to_event(death_day, censor_day, horizon, prefix="os"),
        _mvfs(death_day, imv_day, censor_day, _on_imv_at_day0(derived, events, ids), horizon),
        _snapshots(derived, death_day, ids, SNAPSHOT_DAYS, bands or ards_bands()),
        _adverse_event_flags(adverse_events, ids, horizon),
    ]
    result = pd.concat(parts, axis=1)
    result["resp_improvement_d21"] = respiratory_improvement(result["ordinal_d21"], result["pf_d21"])
    return patients.merge(result.reset_index(), on=_ID, how="left", validate="one_to_one")


def pf_band(pf: pd.Series, bands: ArdsBands | None = None) -> pd.Series:
    """P/F band of each value, NA without one: the ARDS severity of ``bands`` (the
    defaults when None) as its P/F range, Milan's "> 200", "100-200" or "< 100".

    With Milan's bands 200 itself is moderate ARDS and 100 itself is moderate too, as in
    the paper (clinical definitions §3.2).
    """
    bands = bands or ards_bands()
    texts = np.array([*(bands.texts[severity] for severity in ARDS_SEVERITIES), None], dtype=object)
    values = pd.to_numeric(pf, errors="coerce").astype("float64")
    return pd.Series(texts[bands.severity_codes(values)], index=pf.index, dtype="string")


def respiratory_improvement(ordinal: pd.Series, pf: pd.Series) -> pd.Series:
    """clinical definitions §4: improved when the 7-point status is <= 4, or 5 with P/F > 200.

    Three-valued: NA when the status is unknown, and NA for status 5 without a P/F,
    because the definition cannot be decided without it.
    """
    status = ordinal.astype("Int64")
    values = pd.to_numeric(pf, errors="coerce")
    pf_good = values.gt(IMPROVED_OXYGEN_PF_ABOVE).astype("boolean").mask(values.isna())
    on_high_support = status.eq(IMPROVED_OXYGEN_ORDINAL).fillna(False)
    return status.le(IMPROVED_MAX_ORDINAL).mask(on_high_support, pf_good)


# --- input normalisation -------------------------------------------------------------


def _clean_derived(derived: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """Rows of known patients, sorted by day, with a nullable string state."""
    frame = derived.loc[derived[_ID].isin(ids) & derived[_DAY].notna()].copy()
    frame[_DAY] = pd.to_numeric(frame[_DAY]).astype("int64")
    frame["state"] = frame["state"].astype("string")
    return frame.sort_values([_ID, _DAY], kind="stable")


def _clean_events(events: pd.DataFrame, ids: pd.Index) -> pd.DataFrame:
    """Rows of known patients; ``alive`` as nullable boolean (None/NaN -> NA)."""
    frame = events.loc[events[_ID].isin(ids) & events[_DAY].notna()].copy()
    frame[_DAY] = pd.to_numeric(frame[_DAY]).astype("int64")
    if "alive" not in frame:
        frame["alive"] = pd.NA
    frame["alive"] = frame["alive"].astype("boolean")
    return frame


def _first_day(frame: pd.DataFrame, mask: pd.Series) -> pd.Series:
    return frame.loc[mask].groupby(_ID)[_DAY].min()


def _min_of(*series: pd.Series) -> pd.Series:
    """Element-wise minimum over patients, ignoring patients absent from a series."""
    return pd.concat(series, axis=1).min(axis=1)


# --- time-to-event ---------------------------------------------------------------------


def _death_day(derived: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """First day a death is known: a death disposition, a vital-status contact reporting
    the patient dead, or the first derived day scored death.

    A contact with alive=False dates the death at the contact when no earlier death
    report exists, the same rule as the derived job (ecrf/derivations.py), so the
    derived states and the survival times never disagree.
    """
    reports_death = events["kind"].eq("death") | (
        events["kind"].eq("vital_status_contact") & events["alive"].eq(False).fillna(False)
    )
    return _min_of(
        _first_day(derived, derived["state"].eq(DEATH_STATE).fillna(False)),
        _first_day(events, reports_death),
    )


def _imv_start_day(derived: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Earliest of the first derived day on IMV/ECMO and an ``imv_started`` event."""
    return _min_of(
        _first_day(derived, derived["state"].isin(IMV_STATES).fillna(False)),
        _first_day(events, events["kind"].eq("imv_started")),
    )


def _on_imv_at_day0(derived: pd.DataFrame, events: pd.DataFrame, ids: pd.Index) -> pd.Series:
    """Patients already invasively ventilated at enrolment: excluded from MVFS (clinical definitions §4)."""
    day0 = (derived[_DAY].le(0) & derived["state"].isin(IMV_STATES).fillna(False)).groupby(derived[_ID]).any()
    started = (events[_DAY].le(0) & events["kind"].eq("imv_started")).groupby(events[_ID]).any()
    excluded = pd.concat([day0, started], axis=1).any(axis=1)
    return excluded.reindex(ids, fill_value=False).astype(bool)


def _observed_states(derived: pd.DataFrame) -> pd.DataFrame:
    """Derived rows that are observations rather than clinical definitions §3.1 carry-forward.

    After discharge the derived job repeats the discharge state daily "until a later
    contact says otherwise"; those repeats are not evidence that the patient was seen
    alive. A discharged state therefore counts only on the day it is entered (or when it
    changes, e.g. normal -> impaired); hospital states count every day.
    """
    known = derived.loc[derived["state"].notna()]
    previous = known.groupby(_ID)["state"].shift()
    repeated = known["state"].isin(DISCHARGED_STATES) & known["state"].eq(previous).fillna(False)
    return known.loc[~repeated]


def _last_known_alive(derived: pd.DataFrame, events: pd.DataFrame) -> pd.Series:
    """Last day with evidence of life: an observed non-death state, an alive contact,
    or any disposition other than death (clinical definitions §4 censoring).

    A vital-status contact with alive unknown is not such evidence (nobody was
    reached), and one with alive=False reports a death (see :func:`_death_day`).
    """
    observed = _observed_states(derived)
    alive_rows = observed.loc[observed["state"].ne(DEATH_STATE)]
    contact = events["kind"].eq("vital_status_contact")
    alive_events = events.loc[events["kind"].ne("death") & (~contact | events["alive"].fillna(False))]
    return pd.concat(
        [alive_rows.groupby(_ID)[_DAY].max(), alive_events.groupby(_ID)[_DAY].max()],
        axis=1,
    ).max(axis=1)


def _censor_day(last_alive: pd.Series, death_day: pd.Series, horizon: int) -> pd.Series:
    """Censoring day if no event: last day known alive, capped at the horizon.

    Enrolment itself is day 0 alive. A death after the horizon proves life up to it,
    so such a patient is censored at the horizon.
    """
    alive_through = last_alive.fillna(0).clip(lower=0)
    alive_through = alive_through.mask(death_day.gt(horizon), horizon)
    return alive_through.clip(upper=horizon)


def _time_to_event(event_day: pd.Series, censor_day: pd.Series, horizon: int, prefix: str) -> pd.DataFrame:
    happened = event_day.le(horizon)
    time = event_day.where(happened, censor_day)
    return pd.DataFrame(
        {
            f"{prefix}_time": time.round().astype("Int64"),
            f"{prefix}_event": happened.astype("boolean"),
        }
    )


def _mvfs(
    death_day: pd.Series,
    imv_day: pd.Series,
    censor_day: pd.Series,
    excluded: pd.Series,
    horizon: int,
) -> pd.DataFrame:
    """Mechanical-ventilation-free survival (clinical definitions §4): first of death or IMV/ECMO start,
    censored as for OS; patients on IMV at day 0 are excluded (time/event NA)."""
    frame = _time_to_event(_min_of(death_day, imv_day), censor_day, horizon, "mvfs")
    frame.loc[excluded, ["mvfs_time", "mvfs_event"]] = pd.NA
    frame["mvfs_excluded"] = excluded
    return frame


# --- status snapshots ------------------------------------------------------------------


def _snapshots(
    derived: pd.DataFrame, death_day: pd.Series, ids: pd.Index, days: tuple[int, ...], bands: ArdsBands
) -> pd.DataFrame:
    columns = {}
    for day in days:  # a handful of snapshot days, each vectorised over all patients
        state, ordinal, pf = _status_on(derived, death_day, ids, day)
        columns[f"state_d{day}"] = state
        columns[f"ordinal_d{day}"] = ordinal
        columns[f"pf_d{day}"] = pf
        columns[f"pf_band_d{day}"] = pf_band(pf, bands)
    return pd.DataFrame(columns, index=ids)


def _status_on(
    derived: pd.DataFrame, death_day: pd.Series, ids: pd.Index, day: int
) -> tuple[pd.Series, pd.Series, pd.Series]:
    """State, 7-point score and P/F of ``day``, with clinical definitions §3.1 imputation.

    The derived row of the day wins, even when its state is NA (the derived job decided
    it is unknown, e.g. after a loss to follow-up). Only without a row does a discharge
    state carry forward from the last known state. Death is absorbing and overrides
    anything after it. P/F is never imputed.
    """
    today = derived.loc[derived[_DAY].eq(day)].drop_duplicates(_ID, keep="last").set_index(_ID)
    known_before = derived.loc[derived[_DAY].lt(day) & derived["state"].notna()]
    last_before = known_before.groupby(_ID)["state"].last()
    carried = last_before.where(last_before.isin(DISCHARGED_STATES)).reindex(ids)

    has_row = pd.Series(ids.isin(today.index), index=ids)
    state = today["state"].reindex(ids).where(has_row, carried).astype("string")
    ordinal = today["ordinal_7"].reindex(ids).astype("Int64")
    dead = death_day.le(day)
    state = state.mask(dead, DEATH_STATE)
    ordinal = ordinal.fillna(state.map(SEVEN_POINT).astype("Int64"))
    ordinal = ordinal.mask(dead, SEVEN_POINT[DEATH_STATE]).astype("Int64")
    pf = today["pf"].reindex(ids).astype("float64")
    return state, ordinal, pf


# --- adverse events --------------------------------------------------------------------


def _adverse_event_flags(adverse_events: pd.DataFrame | None, ids: pd.Index, horizon: int) -> pd.DataFrame:
    """``ae_<kind>`` True when the patient had that adverse event within follow-up."""
    columns = [f"ae_{kind}" for kind in AE_KINDS]
    if adverse_events is None or adverse_events.empty:
        return pd.DataFrame(False, index=ids, columns=columns)
    within = adverse_events.loc[
        adverse_events[_ID].isin(ids)
        & adverse_events["kind"].isin(AE_KINDS)
        & pd.to_numeric(adverse_events[_DAY]).le(horizon)
    ]
    counts = pd.crosstab(within[_ID], within["kind"])
    counts = counts.reindex(index=ids, columns=list(AE_KINDS), fill_value=0)
    flags = counts.gt(0)
    flags.columns = columns
    return flags
