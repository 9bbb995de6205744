"""Per-patient courses (clinical definitions §1.2, §3.4): time from the New York oxygen criterion to the first anakinra
dose, invasive-ventilation episodes, ventilator-free and ICU-free days, and the New York response and failure.

This module is pure (no Django but the translation of its labels): the caller builds one pandas frame per source
with one query each and passes them to :func:`derive_courses`, which returns one row per patient. Everything is
vectorised (group-bys, merges, ``np.where``); the only loop is over the few distinct site time zones.

Input frames (column names are the contract; extra columns are ignored; any may be empty):

- ``patients``: patient_id, enrolment_date (naive midnight: study day 0), time_zone (IANA name of the site),
  oxygen_criterion_at (UTC, NaT when unknown: when the New York oxygen criterion, acute hypoxaemic respiratory
  failure, was met).
- ``drugs``: patient_id, drug (code), study_day, stop_day (NaN while ongoing), started_at, stopped_at.
- ``episodes`` (invasive ventilation, a re-intubation is a new row): patient_id, study_day (of intubation), end_day
  (NaN while ongoing), intubated_at, ended_at, end_reason (one of :data:`END_REASONS`, "" while ongoing).
- ``events`` (disposition): patient_id, study_day, kind (one of :data:`COURSE_EVENT_KINDS`), occurred_at.
- ``support`` (the highest respiratory support of each day): patient_id, study_day, support (a code of
  ``ecrf.derivations.SUPPORT_CODES``, "" on a day marked not done), flow_l_min_f.

Times are UTC (pandas datetime64[ns, UTC], NaT when unknown). **Days and instants**: study day d of a patient is the
local calendar date enrolment_date + d at the patient's site; it starts at local midnight of that date, converted to
UTC (a midnight skipped by a daylight-saving change starts the day at the first local instant that exists, a
midnight that occurs twice at its first occurrence). A moment whose time is unknown is placed at the start of its
day and the value computed from it has the basis "day" (known only to the day) rather than "time".

Output: one row per row of ``patients``, in that order, with the columns :data:`COURSE_COLUMNS` (see
:func:`derive_courses`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.utils.translation import gettext_noop

from ecrf.derivations import SUPPORT_CODES, check_columns, resolve_settings

COURSE_COLUMNS: Final = (
    "patient_id",
    "hours_to_anakinra",
    "timing_basis",
    "timing_group",
    "imv_episodes",
    "imv_days",
    "imv_days_basis",
    "imv_ongoing",
    "failed_extubations",
    "extubated",
    "ventilator_free_days",
    "icu_free_days",
    "ny_response",
    "ny_failure",
    "died",
    "discharged",
)

#: Values of timing_group, with labels for the pages (stored in English, translated when shown).
TIMING_GROUPS: Final = MappingProxyType(
    {
        "early": gettext_noop("Early"),
        "intermediate": gettext_noop("Intermediate"),
        "late": gettext_noop("Late"),
        "not_treated": gettext_noop("Not treated"),
        "unknown": gettext_noop("Timing unknown"),
    }
)
#: Values of timing_basis and imv_days_basis ("" when there is no value).
BASES: Final = MappingProxyType(
    {
        "time": gettext_noop("from the recorded times"),
        "day": gettext_noop("from the study days (a time is unknown)"),
    }
)

COURSE_EVENT_KINDS: Final = frozenset(
    {
        "discharged",
        "icu_admission",
        "icu_discharge",
        "imv_started",
        "death",
        "withdrawal",
        "lost_to_follow_up",
        "vital_status_contact",
    }
)
END_REASONS: Final = frozenset({"extubated", "died", "transferred", ""})
ANAKINRA: Final = "anakinra"

_REQUIRED_COLUMNS: Final = MappingProxyType(
    {
        "patients": ("patient_id", "enrolment_date", "time_zone", "oxygen_criterion_at"),
        "drugs": ("patient_id", "drug", "study_day", "stop_day", "started_at", "stopped_at"),
        "episodes": ("patient_id", "study_day", "end_day", "intubated_at", "ended_at", "end_reason"),
        "events": ("patient_id", "study_day", "kind", "occurred_at"),
        "support": ("patient_id", "study_day", "support", "flow_l_min_f"),
    }
)

_HOUR: Final = np.timedelta64(3600 * 10**9, "ns")
_DAY: Final = np.timedelta64(24 * 3600 * 10**9, "ns")
_NAT: Final = np.datetime64("NaT", "ns")

# --------------------------------------------------------------------------------------------------------
# Columns as numpy arrays. Instants are datetime64[ns] holding UTC (naive, so numpy can compare and subtract them).
# --------------------------------------------------------------------------------------------------------


def utc_moments(values: Any) -> np.ndarray:
    """Times as naive UTC ``datetime64[ns]`` (NaT: none), whatever they come as: aware datetimes in any zone,
    timestamps, ISO text (SQLite), None or NaN. Also the data-quality rules' reader (cleaning/rules.py)."""
    series = values if isinstance(values, pd.Series) else pd.Series(values, dtype=object)
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        series = pd.to_datetime(series.astype(object), utc=True, format="ISO8601")
    return series.dt.tz_convert(None).to_numpy(dtype="datetime64[ns]")


def site_days(moments: np.ndarray, zones: np.ndarray, enrolled: np.ndarray) -> np.ndarray:
    """The study day each UTC moment is on at its site (the calendar date in the site's time zone ``zones``, an IANA
    name, minus the enrolment date ``enrolled``, ``datetime64[D]``), as ecrf.checks.check_time counts it. NaN where
    the moment, the zone or the enrolment date is unknown. One conversion per distinct zone."""
    days = np.full(len(moments), np.nan)
    zone_known = np.array([isinstance(zone, str) and bool(zone) for zone in zones], dtype=bool)
    known = ~np.isnat(moments) & ~np.isnat(enrolled) & zone_known
    for zone in pd.unique(zones[known]):
        rows = known & (zones == zone)
        local = pd.DatetimeIndex(moments[rows]).tz_localize("UTC").tz_convert(ZoneInfo(zone))
        dates = local.tz_localize(None).normalize().to_numpy().astype("datetime64[D]")
        days[rows] = (dates - enrolled[rows]).astype(np.int64)
    return days


def _float(column: pd.Series) -> np.ndarray:
    return pd.to_numeric(column, errors="coerce").to_numpy(dtype=float, na_value=np.nan)


def _text(column: pd.Series) -> np.ndarray:
    """A code column with NA as ""."""
    return column.astype(object).where(column.notna(), "").astype(str).to_numpy(dtype=object)


def _refuse_unknown(name: str, codes: np.ndarray, known: frozenset[str] | set[str]) -> None:
    unknown = sorted(set(pd.unique(codes)) - set(known))
    if unknown:
        raise ValueError(f"unknown {name}: {unknown}")


@dataclass(frozen=True)
class _Sites:
    """Where and when each patient's study days start: the enrolment date and the site's time zone, per row of
    ``patients``. Rows of the other frames are placed by their position among the patients."""

    ids: pd.Index
    enrolment: np.ndarray  # datetime64[ns]: local midnight of study day 0, naive
    zones: np.ndarray  # IANA names

    @classmethod
    def of(cls, patients: pd.DataFrame) -> _Sites:
        ids = pd.Index(patients["patient_id"].to_numpy(dtype=np.int64))
        if ids.has_duplicates:
            raise ValueError(f"patients frame repeats patient ids {sorted(ids[ids.duplicated()].unique())}")
        enrolment = pd.to_datetime(patients["enrolment_date"]).dt.normalize().to_numpy(dtype="datetime64[ns]")
        return cls(ids, enrolment, patients["time_zone"].astype(str).to_numpy(dtype=object))

    def rows(self, frame: pd.DataFrame) -> tuple[pd.DataFrame, np.ndarray]:
        """The rows of ``frame`` that belong to a patient of ``patients``, and the position of that patient."""
        position = self.ids.get_indexer(frame["patient_id"].to_numpy(dtype=np.int64))
        kept = position >= 0
        return frame.loc[kept].reset_index(drop=True), position[kept]

    def _by_zone(self, position: np.ndarray) -> Iterator[tuple[str, np.ndarray]]:
        """Each time zone among the given patients, with the mask of its rows (a site has one zone: few loops)."""
        zones = self.zones[position]
        for zone in pd.unique(zones):
            yield zone, zones == zone

    def day_start(self, position: np.ndarray, days: Any) -> np.ndarray:
        """The UTC instant at which study day ``days`` (NaN: NaT) of each patient starts."""
        days = np.broadcast_to(np.asarray(days, dtype=float), position.shape)
        local = self.enrolment[position] + pd.to_timedelta(days, unit="D").to_numpy()
        start = np.full(len(position), _NAT)
        for zone, here in self._by_zone(position):
            stamps = pd.DatetimeIndex(local[here]).tz_localize(
                zone, ambiguous=np.ones(int(here.sum()), dtype=bool), nonexistent="shift_forward"
            )
            start[here] = stamps.tz_convert("UTC").tz_localize(None).to_numpy(dtype="datetime64[ns]")
        return start

    def day_of(self, position: np.ndarray, instants: np.ndarray) -> np.ndarray:
        """The study day (float, NaN for NaT) in which each UTC instant falls, by the site's local date."""
        return site_days(instants, self.zones[position], self.enrolment[position].astype("datetime64[D]"))


def _moments(sites: _Sites, position: np.ndarray, times: np.ndarray, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(instant, timed): the recorded time, else the start of the day (then timed is False)."""
    timed = ~np.isnat(times)
    return np.where(timed, times, sites.day_start(position, days)), timed


def _per_patient(position: np.ndarray, values: np.ndarray, how: str, count: int, fill: Any) -> np.ndarray:
    """``values`` reduced per patient (``how``: "sum", skipping NaN; "any"; "all"), ``fill`` for patients without
    rows. numpy's bincount: a batch of one patient (the recompute after a save) pays no pandas group-by."""
    position = np.asarray(position, dtype=np.int64)
    rows = np.bincount(position, minlength=count)
    if how == "sum":
        reduced = np.bincount(position, weights=np.nan_to_num(np.asarray(values, dtype=float)), minlength=count)
    elif how in ("any", "all"):
        trues = np.bincount(position, weights=np.asarray(values, dtype=bool).astype(float), minlength=count)
        reduced = trues > 0 if how == "any" else trues == rows
    else:
        raise ValueError(f"no reduction {how!r}")
    return np.where(rows > 0, reduced, fill)


def _first_per_patient(frame: pd.DataFrame, by: list[str], ascending: list[bool], count: int) -> pd.DataFrame:
    """The first row of each patient (column ``position``) in the order ``by``, reindexed to all patients (NaN / NaT /
    None for patients without rows)."""
    first = frame.sort_values(["position", *by], ascending=[True, *ascending], kind="stable")
    return first.drop_duplicates("position").set_index("position").reindex(range(count))


def _timed(first: pd.DataFrame) -> np.ndarray:
    """The ``timed`` column of :func:`_first_per_patient`'s result, False for patients without rows."""
    return first["timed"].astype("boolean").fillna(False).to_numpy(dtype=bool)


def _days_inside(
    start: np.ndarray,
    end: np.ndarray,
    start_day: np.ndarray,
    end_day: np.ndarray,
    timed: np.ndarray,
    window: tuple[np.ndarray, np.ndarray],
    horizon: int,
) -> np.ndarray:
    """Days of each interval inside [start of day 0, start of day ``horizon``): from the instants when ``timed``, else
    from the study days (whole days)."""
    window_start, window_end = window
    by_time = (np.minimum(end, window_end) - np.maximum(start, window_start)) / _DAY
    by_day = np.minimum(end_day, horizon) - np.maximum(start_day, 0)
    return np.clip(np.where(timed, by_time, by_day), 0.0, None)


def _round(values: np.ndarray) -> np.ndarray:
    return np.round(values.astype(float), 2) + 0.0  # + 0.0 turns -0.0 into 0.0


# --------------------------------------------------------------------------------------------------------
# The parts of a course
# --------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Deaths:
    died: np.ndarray
    instant: np.ndarray  # the recorded time, else the start of the death day; NaT without a death
    day: np.ndarray
    timed: np.ndarray


def _deaths(sites: _Sites, events: pd.DataFrame, position: np.ndarray, count: int) -> _Deaths:
    """The first death event of each patient."""
    death = events["kind"].to_numpy(dtype=object) == "death"
    day = _float(events["study_day"])[death]
    at, timed = _moments(sites, position[death], utc_moments(events["occurred_at"])[death], day)
    rows = pd.DataFrame({"position": position[death], "at": at, "timed": timed, "day": day})
    first = _first_per_patient(rows, ["at", "timed"], [True, False], count)
    died = first["at"].notna().to_numpy()
    return _Deaths(
        died, first["at"].to_numpy(dtype="datetime64[ns]"), first["day"].to_numpy(dtype=float), died & _timed(first)
    )


def _anakinra_timing(
    sites: _Sites, patients: pd.DataFrame, drugs: pd.DataFrame, settings: Mapping[str, Any]
) -> dict[str, np.ndarray]:
    """Hours from the oxygen criterion to the first anakinra dose and the timing group (clinical definitions §3.4).

    The first dose is the anakinra row with the earliest instant (its started_at, else the start of its study day);
    on a tie a recorded time wins. With a recorded dose time the hours are exact; without it they are the whole
    days between the criterion's local date and the dose's study day, times 24.
    """
    count = len(patients)
    rows, position = sites.rows(drugs)
    anakinra = rows["drug"].to_numpy(dtype=object) == ANAKINRA
    position = position[anakinra]
    day = _float(rows["study_day"])[anakinra]
    at, timed = _moments(sites, position, utc_moments(rows["started_at"])[anakinra], day)
    doses = pd.DataFrame({"position": position, "at": at, "timed": timed, "day": day})
    first = _first_per_patient(doses, ["at", "timed"], [True, False], count)
    treated = first["at"].notna().to_numpy()
    dose_timed = _timed(first)

    criterion = utc_moments(patients["oxygen_criterion_at"])
    known = ~np.isnat(criterion)
    everyone = np.arange(count)
    criterion_day = sites.day_of(everyone, criterion)
    by_time = (first["at"].to_numpy(dtype="datetime64[ns]") - criterion) / _HOUR
    by_day = (first["day"].to_numpy(dtype=float) - criterion_day) * 24.0
    hours = np.where(treated & known, np.where(dose_timed, by_time, by_day), np.nan)
    group = np.select(
        [
            ~treated,
            ~known,
            hours <= float(settings["timing_early_max_hours"]),
            hours >= float(settings["timing_late_min_hours"]),
        ],
        ["not_treated", "unknown", "early", "late"],
        "intermediate",
    )
    basis = np.select([np.isnan(hours), dose_timed], ["", "time"], "day")
    return {
        "hours_to_anakinra": _round(hours),
        "timing_basis": basis.astype(object),
        "timing_group": group.astype(object),
    }


def _ventilation(
    sites: _Sites,
    episodes: pd.DataFrame,
    deaths: _Deaths,
    window: tuple[np.ndarray, np.ndarray],
    horizon: int,
    count: int,
) -> dict[str, np.ndarray]:
    """Invasive-ventilation episodes per patient and the ventilated days inside the window (clinical definitions
    §3.4).

    An episode ends at its ended_at, else at the start of its end_day; an ongoing one (neither) runs to the end of
    follow-up: the death instant if the patient died, else the start of day ``horizon``. Its duration is exact when
    both ends are instants (an ongoing end is, unless it is a death known only to the day), else end day - start
    day. A negative duration (an end recorded before the start) counts as 0.
    """
    rows, position = sites.rows(episodes)
    reason = _text(rows["end_reason"])
    _refuse_unknown("end reasons", reason, END_REASONS)
    start_day = _float(rows["study_day"])
    start, start_timed = _moments(sites, position, utc_moments(rows["intubated_at"]), start_day)
    ended_at = utc_moments(rows["ended_at"])
    end_known = ~np.isnat(ended_at)
    recorded_end_day = _float(rows["end_day"])
    recorded_end_day = np.where(np.isnan(recorded_end_day), sites.day_of(position, ended_at), recorded_end_day)
    ongoing = np.isnan(recorded_end_day)
    died = deaths.died[position]
    window_end = window[1][position]
    end = np.select(
        [end_known, ~ongoing, died],
        [ended_at, sites.day_start(position, recorded_end_day), deaths.instant[position]],
        window_end,
    )
    end_timed = end_known | (ongoing & (~died | deaths.timed[position]))
    end_day = np.select([~ongoing, died], [recorded_end_day, deaths.day[position]], float(horizon))
    timed = start_timed & end_timed
    duration = np.clip(np.where(timed, (end - start) / _DAY, end_day - start_day), 0.0, None)
    inside = _days_inside(start, end, start_day, end_day, timed, (window[0][position], window_end), horizon)

    # The last episode of each patient (latest start); an extubation followed by a later episode failed.
    order = pd.DataFrame(
        {"position": position, "start": start, "start_day": start_day, "row": np.arange(len(position))}
    ).sort_values(["position", "start", "start_day", "row"], kind="stable")
    last_rows = order.drop_duplicates("position", keep="last")
    is_last = np.zeros(len(position), dtype=bool)
    is_last[last_rows["row"].to_numpy()] = True
    extubated = reason == "extubated"
    last = pd.DataFrame({"ongoing": ongoing, "extubated": extubated}).iloc[last_rows["row"].to_numpy()]
    last.index = last_rows["position"].to_numpy()
    last = last.reindex(range(count), fill_value=False)

    episodes_count = _per_patient(position, np.ones(len(position), dtype=np.int64), "sum", count, 0)
    all_timed = _per_patient(position, timed, "all", count, False)
    return {
        "imv_episodes": episodes_count.astype(np.int64),
        "imv_days": _round(_per_patient(position, duration, "sum", count, 0.0)),
        "imv_days_basis": np.select([episodes_count == 0, all_timed.astype(bool)], ["", "time"], "day").astype(object),
        "imv_ongoing": last["ongoing"].to_numpy(dtype=bool),
        "failed_extubations": _per_patient(position, extubated & ~is_last, "sum", count, 0).astype(np.int64),
        "extubated": last["extubated"].to_numpy(dtype=bool),
        "ventilated_days": _per_patient(position, inside, "sum", count, 0.0).astype(float),
    }


def _icu_days(
    sites: _Sites,
    events: pd.DataFrame,
    position: np.ndarray,
    window: tuple[np.ndarray, np.ndarray],
    horizon: int,
    count: int,
) -> np.ndarray:
    """Days in the ICU inside the window (clinical definitions §3.4).

    A stay opens at an ICU admission (an admission while a stay is already open is ignored) and closes at the next
    ICU discharge or hospital discharge of the patient; one still open runs to the start of day ``horizon`` (a death
    before that day gives 0 ICU-free days whatever the stays). Days are exact when both ends are recorded times,
    else whole study days.
    """
    kind = events["kind"].to_numpy(dtype=object)
    icu = np.isin(kind, ["icu_admission", "icu_discharge", "discharged"])
    day = _float(events["study_day"])[icu]
    at, timed = _moments(sites, position[icu], utc_moments(events["occurred_at"])[icu], day)
    admission = kind[icu] == "icu_admission"
    rows = pd.DataFrame(
        # On a tie an admission comes first, so that a discharge of the same moment closes it.
        {"position": position[icu], "at": at, "rank": np.where(admission, 0, 1), "timed": timed, "day": day}
    ).sort_values(["position", "at", "rank"], kind="stable", ignore_index=True)
    admission = rows["rank"].to_numpy() == 0
    after_admission = rows.groupby("position", sort=False)["rank"].shift(1).eq(0).to_numpy()
    opens = admission & ~after_admission
    closing = pd.Series(np.where(admission, np.nan, np.arange(len(rows))))
    following = closing.groupby(rows["position"].to_numpy()).bfill().to_numpy()
    closed = ~np.isnan(following)
    source = np.where(closed, following, 0).astype(np.int64)
    stay_position = rows["position"].to_numpy()
    window_end = window[1][stay_position]
    end = np.where(closed, rows["at"].to_numpy()[source], window_end)
    end_timed = np.where(closed, rows["timed"].to_numpy(dtype=bool)[source], True)
    end_day = np.where(closed, rows["day"].to_numpy(dtype=float)[source], float(horizon))
    inside = _days_inside(
        rows["at"].to_numpy(),
        end,
        rows["day"].to_numpy(),
        end_day,
        rows["timed"].to_numpy(dtype=bool) & end_timed,
        (window[0][stay_position], window_end),
        horizon,
    )
    return _per_patient(stay_position[opens], inside[opens], "sum", count, 0.0).astype(float)


def _ny_outcomes(
    sites: _Sites, support: pd.DataFrame, imv_episodes: np.ndarray, settings: Mapping[str, Any], count: int
) -> dict[str, np.ndarray]:
    """New York response and failure (clinical definitions §1.2, §3.4).

    Failure: invasive mechanical ventilation (an episode or a day on IMV). Response: no failure, and on some day
    room air or a nasal cannula at no more than the study's flow (a cannula without a recorded flow does not count).
    """
    rows, position = sites.rows(support)
    code = _text(rows["support"])
    _refuse_unknown("support codes", code, {*SUPPORT_CODES, ""})
    flow = _float(rows["flow_l_min_f"])
    weaned = (code == "room_air") | (
        (code == "nasal_cannula") & (flow <= float(settings["ny_response_max_flow_l_min"]))
    )
    imv_day = _per_patient(position, code == "imv", "any", count, False).astype(bool)
    failure = (imv_episodes > 0) | imv_day
    return {
        "ny_response": ~failure & _per_patient(position, weaned, "any", count, False).astype(bool),
        "ny_failure": failure,
    }


def derive_courses(
    patients: pd.DataFrame,
    drugs: pd.DataFrame,
    episodes: pd.DataFrame,
    events: pd.DataFrame,
    support: pd.DataFrame,
    settings: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """One course row per row of ``patients``, in that order (clinical definitions §3.4).

    ``settings`` are a study's overrides of ``ecrf.derivations.DEFAULT_SETTINGS`` (keys timing_early_max_hours,
    timing_late_min_hours, course_horizon_days H, ny_response_max_flow_l_min). Columns (:data:`COURSE_COLUMNS`;
    numbers rounded to 2 decimals):

    - hours_to_anakinra (float, NaN when not treated or the criterion time is unknown): from oxygen_criterion_at to
      the first anakinra dose, negative for a dose before the criterion; timing_basis "time", "day" (the dose time is
      unknown: whole days x 24) or ""; timing_group "early" (<= early maximum), "late" (>= late minimum),
      "intermediate", "not_treated" (no anakinra row) or "unknown" (treated, criterion time unknown).
    - imv_episodes (int); imv_days (float): the summed duration of the episodes; imv_days_basis "time", "day" or "";
      imv_ongoing: the last episode has no end; failed_extubations (int): extubations followed by a later episode;
      extubated: the last episode ended by extubation.
    - ventilator_free_days, icu_free_days (float): 0 when the patient died before the start of day H, else H minus the
      days ventilated (in the ICU) between the start of day 0 and the start of day H, at least 0.
    - ny_response, ny_failure (bool); died: a death event; discharged: a discharge event and no death.
    """
    cfg = resolve_settings(settings)
    check_columns(
        {"patients": patients, "drugs": drugs, "episodes": episodes, "events": events, "support": support},
        _REQUIRED_COLUMNS,
    )
    horizon = int(cfg["course_horizon_days"])
    count = len(patients)
    sites = _Sites.of(patients)
    everyone = np.arange(count)
    window = (sites.day_start(everyone, 0.0), sites.day_start(everyone, float(horizon)))

    event_rows, event_position = sites.rows(events)
    kind = event_rows["kind"].to_numpy(dtype=object)
    _refuse_unknown("event kinds", kind, COURSE_EVENT_KINDS)
    deaths = _deaths(sites, event_rows, event_position, count)
    died_early = deaths.died & (deaths.instant < window[1])
    discharged = _per_patient(event_position, kind == "discharged", "any", count, False).astype(bool)

    ventilation = _ventilation(sites, episodes, deaths, window, horizon, count)
    icu_days = _icu_days(sites, event_rows, event_position, window, horizon, count)
    free = {
        "ventilator_free_days": ventilation.pop("ventilated_days"),
        "icu_free_days": icu_days,
    }
    free = {name: _round(np.where(died_early, 0.0, np.maximum(horizon - days, 0.0))) for name, days in free.items()}

    columns = {
        "patient_id": patients["patient_id"].to_numpy(dtype=np.int64),
        **_anakinra_timing(sites, patients, drugs, cfg),
        **ventilation,
        **free,
        **_ny_outcomes(sites, support, ventilation["imv_episodes"], cfg, count),
        "died": deaths.died,
        "discharged": discharged & ~deaths.died,
    }
    return pd.DataFrame(columns, columns=list(COURSE_COLUMNS))
