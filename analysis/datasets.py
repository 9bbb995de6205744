"""One study's data as pandas frames: the selectors of the analysis pages and of the locked releases.

Every frame is keyed by the pseudonymised ``participant_id`` (clinical definitions §5): no database primary key, no
calendar date and no name ever enters a frame, so nothing built from them (pages, release files, exports) can leak
one; the one exception is the table of casebook signatures, whose printed names and times are the signatures
themselves. Time is the study day relative to enrolment. The times recorded on the forms (a drug's start and stop, a
disposition event, a ventilation episode; the patient's oxygen criterion, clinical definitions §2.3) are written as
the clock time of day at the patient's site with its UTC offset, ISO 8601 ``22:30-04:00`` (seconds only when not
zero), on the study day of their row (``study_day``, ``stop_day``, ``end_day``; the patients' table gives the
criterion's day in ``oxygen_criterion_day``): the clock time the nurse saw, never a date. The import reads it back on
the row's day (docs/import-format.md).

One query per table (``values_list`` with the joins done by the database, never a query per patient), read from
the cursor without Django's per-value converters and with decimals cast to float in SQL, so a million patient-days
do not go through millions of ``Decimal`` and JSON conversions. Missing values stay missing (NA), never 0; a blank
text field is missing too, so exports show an empty cell for both.

:func:`study_frames` gives the source tables; :func:`compute_results` turns them into the per-patient outcomes
and the per-arm tables of clinical definitions §4 (pure pandas, shared by the live analysis page and the release job).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connections, models
from django.db.models import F, FloatField, QuerySet
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy

from analysis import outcomes as outcomes_module
from analysis import survival, tables
from cleaning import selectors as cleaning_selectors
from cohorts import selectors as cohort_selectors
from cohorts.models import COMORBIDITIES, Arm, Patient, Site, Study
from cohorts.services import records_oxygen_criterion
from ecrf import derivations
from ecrf.crfs import CATALOGUE, crf_of
from ecrf.models import (
    DerivedCourse,
    DerivedDay,
    MissingCode,
)
from fhir_pull import selectors as fhir_selectors

KEY = "participant_id"

#: The source forms, in the order of the casebook: the form catalogue; its keys are the file and sheet names of
#: releases.
SOURCE_FORMS: Mapping[str, type[models.Model]] = {key: crf.model for key, crf in CATALOGUE.items()}
# Bookkeeping columns that are not data: the optimistic-locking counter and the save time (a calendar date). The
# missing-data codes and the mark "not done" leave as columns of their own (see form_frame), after the others.
_NOT_EXPORTED = frozenset({"id", "patient", "version", "updated_at", "computed_at", "missing_codes", "not_done_reason"})
NOT_DONE_REASON = "not_done_reason"

PATIENT_COLUMNS: dict[str, str] = {
    KEY: "string",
    "site": "string",
    "arm": "string",
    "arm_label": "string",
    "sex": "string",
    "age_years": "integer",
    "weight_kg": "float",
    **dict.fromkeys(COMORBIDITIES, "boolean"),
    "status": "string",
    "follow_up_days": "integer",
    "oxygen_criterion_day": "integer",
    "oxygen_criterion_at": "time",
}
#: Where the values accepted from a hospital's FHIR server came from (fhir app): one row per field.
PROVENANCE_COLUMNS: dict[str, str] = {
    KEY: "string",
    "study_day": "integer",
    "form": "string",
    "field": "string",
    "value": "float",
    "resource_type": "string",
    "resource_id": "string",
    "last_updated": "string",
}
#: The queries raised on the data (cleaning app): one row per query, whatever its status.
QUERY_COLUMNS: dict[str, str] = {
    "query_id": "integer",
    KEY: "string",
    "study_day": "integer",
    "form": "string",
    "field": "string",
    "origin": "string",
    "rule": "string",
    "status": "string",
    "answer_code": "string",
    "opened_at": "string",
    "answered_at": "string",
    "closed_at": "string",
    "closed_by_system": "boolean",
    "changed_after_close": "boolean",
}
#: The data managers' freezes of casebooks before the lock (cohorts.PatientFreeze): one row per freeze.
FREEZE_COLUMNS: dict[str, str] = {
    KEY: "string",
    "frozen_at": "string",
    "freeze_reason": "string",
    "unfrozen_at": "string",
    "unfreeze_reason": "string",
}
#: The investigators' signatures of casebooks (cleaning app): one row per signature, broken ones too. The printed
#: name and the time are the signature's manifestation (21 CFR Part 11 §11.50), kept in the release.
SIGNATURE_COLUMNS: dict[str, str] = {
    KEY: "string",
    "first_day": "integer",
    "last_day": "integer",
    "printed_name": "string",
    "signed_at": "string",
    "meaning": "string",
    "data_sha256": "string",
    "broken_at": "string",
}
#: The monitors' source data verification marks (cleaning app): one row per verified record, changed ones too. No
#: monitor's name or user id (who verified stays in the system's audit trail), and no free text (the change's words
#: and its reason, like the queries' messages, stay in the system). ``record_id`` is the record's number
#: in the system, as ``query_id`` is the query's: the forms' tables do not carry it.
SDV_COLUMNS: dict[str, str] = {
    KEY: "string",
    "form": "string",
    "record_id": "integer",
    "study_day": "integer",
    "scope": "string",
    "fields": "string",
    "data_sha256": "string",
    "verified_at": "string",
    "changed_at": "string",
}
ARM_COLUMNS: dict[str, str] = {"arm": "string", "arm_label": "string", "order": "integer", "regimen": "string"}

#: Export type -> pandas dtype. A "time" is text: the clock time at the site with its UTC offset (see local_times).
_PANDAS_TYPES = {"string": "string", "integer": "Int64", "float": "float64", "boolean": "boolean", "time": "string"}


def column_type(field: models.Field) -> str:
    """The export type of a model field: string, integer, float, boolean or time (a moment, written as the clock
    time at the site on its row's study day, see :func:`local_times`)."""
    if isinstance(field, models.DateTimeField):
        return "time"
    if isinstance(field, models.DecimalField | models.FloatField):
        return "float"
    if isinstance(field, models.IntegerField):
        return "integer"
    if isinstance(field, models.BooleanField):
        return "boolean"
    return "string"  # CharField, TextField, the JSON list of confirmed checks (joined with ";")


def exported_fields(model: type[models.Model]) -> list[models.Field]:
    """The model's data fields in declaration order (study_day first, the confirmed checks last), without
    bookkeeping columns."""
    fields = [f for f in model._meta.concrete_fields if f.name not in _NOT_EXPORTED]
    return sorted(fields, key=lambda f: (f.name != "study_day") + 2 * (f.name == "confirmed_checks"))


def table_columns(model: type[models.Model]) -> dict[str, str]:
    """Column name -> export type of a form's or the derived table's frame. A form's table ends with what is
    missing and why (clinical definitions §2.2): ``not_done_reason`` (one-per-day forms) and a code column
    ``<field>_mc`` per value a record may lack for a reason (the catalogue's code_columns)."""
    columns = {KEY: "string", **{f.name: column_type(f) for f in exported_fields(model)}}
    if model in SOURCE_FORMS.values():
        crf = crf_of(model)
        if crf.per_day:
            columns[NOT_DONE_REASON] = "string"
        columns.update(dict.fromkeys(crf.code_columns.values(), "string"))
    return columns


def typed_frame(rows: Iterable[tuple], columns: dict[str, str]) -> pd.DataFrame:
    """Rows as a frame with the nullable dtype of each column; blank text becomes NA (missing is empty)."""
    frame = pd.DataFrame.from_records(list(rows), columns=list(columns))
    for name, kind in columns.items():
        column = frame[name]
        if kind in ("string", "time"):
            column = column.astype("string").replace("", pd.NA)
        frame[name] = column.astype(_PANDAS_TYPES[kind])
    return frame


def _sorted(frame: pd.DataFrame, unique_keys: bool) -> pd.DataFrame:
    """Rows in a stable order that does not depend on primary keys: participant, day, then every column."""
    by = [KEY, "study_day"] if unique_keys else list(frame.columns)
    return frame.sort_values(by, kind="mergesort", na_position="last").reset_index(drop=True)


def _patients_query(study: Study, sites: QuerySet[Site] | None) -> QuerySet[Patient]:
    patients = Patient.objects.filter(study=study)
    return patients if sites is None else patients.filter(site__in=sites)


def _values(model: type[models.Model], patients: QuerySet[Patient], extra: Iterable[str] = ()) -> QuerySet:
    """One query: the form's rows of these patients, decimals as floats, participant id by join; ``extra`` columns
    of the model after the exported ones (``_zone``: the time zone of the patient's site)."""
    fields = exported_fields(model)
    casts = {f"_f_{f.name}": Cast(f.name, FloatField()) for f in fields if isinstance(f, models.DecimalField)}
    names = [f"_f_{f.name}" if f"_f_{f.name}" in casts else f.name for f in fields]
    if "_zone" in extra:
        casts["_zone"] = F("patient__site__time_zone")
    return (
        model.objects.filter(patient__in=patients)
        .annotate(_pid=F("patient__participant_id"), **casts)
        .values_list("_pid", *names, *extra)
    )


def local_times(values: pd.Series, zones: Iterable[str]) -> pd.DataFrame:
    """Moments stored in UTC (the database's text or datetimes) at each row's site (``zones``: IANA names; empty:
    the project's TIME_ZONE), as two columns on ``values``' index:

    - ``clock``: the clock time of day at the site, ISO 8601, seconds only when not zero: ``22:30``, ``09:15:30``.
      No date and no offset: the row's study day says which day it is, so a release re-imported on other dates
      keeps its clock times (clinical definitions §5). Only a clock time that occurs twice that day (the hour the
      clocks go back) carries its UTC offset, which says which of the two it is: ``01:30-04:00``;
    - ``date``: the local calendar date there (datetime64), for the study day of a time without one in its row (the
      patients' oxygen criterion); never written to a release.

    Missing stays missing; one vectorised conversion per distinct zone."""
    out = pd.DataFrame(
        {
            "clock": pd.Series(pd.NA, index=values.index, dtype="string"),
            "date": pd.Series(pd.NaT, index=values.index, dtype="datetime64[ns]"),
        }
    )
    present = values.notna().to_numpy(dtype=bool)
    if not present.any():
        return out
    moments = pd.to_datetime(values[present].astype(object), utc=True, format="ISO8601")
    names = pd.Series(list(zones), index=values.index, dtype=object)[present]
    names = names.where(names.notna() & names.ne(""), settings.TIME_ZONE)
    for zone in names.unique():
        local = moments[names.eq(zone).to_numpy()].dt.tz_convert(zone)
        wall = local.dt.tz_localize(None)
        seconds = (wall.dt.second != 0).to_numpy()
        clock = wall.dt.strftime("%H:%M").where(~seconds, wall.dt.strftime("%H:%M:%S"))
        twice = wall.dt.tz_localize(zone, ambiguous="NaT", nonexistent="NaT").isna()
        if twice.any():
            offset = local[twice].dt.strftime("%z")
            clock[twice] = clock[twice] + offset.str[:3] + ":" + offset.str[3:]
        out.loc[local.index, "clock"] = clock.to_numpy()
        out.loc[local.index, "date"] = wall.dt.normalize().to_numpy()
    return out


def _fetch(queryset: QuerySet) -> list[tuple]:
    """The rows of a ``values_list`` queryset straight from the database cursor.

    Django's per-value converters (JSON decoding, booleans, decimals) cost more than the query itself for a
    million rows; typed_frame types each column at once instead.
    """
    sql, params = queryset.query.get_compiler(using=queryset.db).as_sql()
    with connections[queryset.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _checks_text(value) -> str:
    """The confirmed checks (a JSON list, as text from the cursor) as 'code;code'."""
    if value is None or value in ("[]", []):
        return ""
    return ";".join(json.loads(value) if isinstance(value, str) else value)


def _codes(value) -> dict[str, str]:
    """The stored missing-data codes (a JSON object, as text from SQLite's cursor, decoded by psycopg's)."""
    if value is None or value in ("{}", {}):
        return {}
    return json.loads(value) if isinstance(value, str) else dict(value)


def form_frame(name: str, study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """One source form as a long table, one row per record (patient-day for the daily forms).

    What is missing and why (clinical definitions §2.2): a value with a missing-data code is NA and its code is in
    ``<field>_mc``; a record marked not done has its reason in ``not_done_reason``, NA in every value (a yes/no box
    included) and ``not_done`` in every code column. So an NA value with an empty code is truly missing.
    """
    model = SOURCE_FORMS[name]
    crf = CATALOGUE[name]
    data = table_columns(model)
    columns = {column: kind for column, kind in data.items() if column in exported_columns(model)}
    rows = _fetch(_values(model, _patients_query(study, sites), extra=("_zone", "missing_codes", NOT_DONE_REASON)))
    position = list(columns).index("confirmed_checks")
    rows = [(*row[:position], _checks_text(row[position]), *row[position + 1 :]) for row in rows]
    coded_rows = [(number, codes) for number, row in enumerate(rows) if (codes := _codes(row[-2]))]  # few rows
    reasons = pd.Series([row[-1] for row in rows], dtype="string").replace("", pd.NA)
    frame = typed_frame([row[:-3] for row in rows], columns)
    zones = [row[-3] for row in rows]
    for time_column in (column for column, kind in columns.items() if kind == "time"):
        frame[time_column] = local_times(frame[time_column], zones)["clock"]  # on the row's day: no date
    not_done = reasons.notna().to_numpy(dtype=bool)
    if crf.per_day:
        frame[NOT_DONE_REASON] = reasons
    for field, column in crf.code_columns.items():
        cells = np.full(len(rows), None, dtype=object)
        for number, codes in coded_rows:
            cells[number] = codes.get(field)
        coded = pd.Series(cells, dtype="string").mask(not_done, MissingCode.NOT_DONE.value)
        frame[column] = coded
        frame[field] = frame[field].mask(coded.notna())
    return _sorted(frame[list(data)], unique_keys=crf.per_day)


def exported_columns(model: type[models.Model]) -> list[str]:
    """The columns of a form's table read as they are stored (the participant id and the exported fields)."""
    return [KEY, *(f.name for f in exported_fields(model))]


def derived_frame(study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """The derived patient-day table (clinical definitions §3) as the Celery job stored it."""
    rows = _fetch(_values(DerivedDay, _patients_query(study, sites)))
    return _sorted(typed_frame(rows, table_columns(DerivedDay)), unique_keys=True)


def courses_frame(study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """The patients' courses (clinical definitions §3.4) as the Celery job stored them: one row per patient."""
    rows = _fetch(_values(DerivedCourse, _patients_query(study, sites)))
    return _sorted(typed_frame(rows, table_columns(DerivedCourse)), unique_keys=False)


def patients_frame(study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """One row per enrolled patient: arm, baseline characteristics, follow-up (no dates, no database ids); the
    oxygen criterion as its study day at the site (``oxygen_criterion_day``, local date minus enrolment date; may be
    negative) and its clock time (``oxygen_criterion_at``, see :func:`local_times`)."""
    query = (
        _patients_query(study, sites)
        .annotate(_weight=Cast("weight_kg", FloatField()))
        .values_list(
            "participant_id",
            "site__code",
            "arm__code",
            "arm__name",
            "sex",
            "age_years",
            "_weight",
            *COMORBIDITIES,
            "status",
            "study__follow_up_days",
            "oxygen_criterion_at",
            "site__time_zone",
            "enrolment_date",
        )
    )
    rows = _fetch(query)
    # Filled below from oxygen_criterion_at: its day, then the time itself; the enrolment date stays here.
    frame = typed_frame([(*row[:-3], None, row[-3]) for row in rows], PATIENT_COLUMNS)
    local = local_times(frame["oxygen_criterion_at"], [row[-2] for row in rows])
    enrolled = pd.to_datetime(pd.Series([row[-1] for row in rows], index=frame.index, dtype=object), format="ISO8601")
    frame["oxygen_criterion_day"] = (local["date"] - enrolled).dt.days.astype("Int64")
    frame["oxygen_criterion_at"] = local["clock"]
    return _sorted(frame, unique_keys=False)


def arms_frame(study: Study) -> pd.DataFrame:
    """The study's arms in display order; ``order`` decides the order of every per-arm table."""
    rows = [
        (arm.code, arm.name, arm.order, arm.regimen_description)
        for arm in Arm.objects.filter(study=study).order_by("order", "code")
    ]
    return typed_frame(rows, ARM_COLUMNS)


def provenance_frame(study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """The source of every value accepted from a FHIR pull (resource type and id, its lastUpdated in UTC)."""
    rows = fhir_selectors.provenance_rows(patients=_patients_query(study, sites))
    frame = typed_frame(rows, PROVENANCE_COLUMNS)
    return frame.sort_values([KEY, "study_day", "form", "field"], kind="mergesort").reset_index(drop=True)


def queries_frame(study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """Every query raised on the study's data, in the order they were raised."""
    return typed_frame(cleaning_selectors.release_rows(patients=_patients_query(study, sites)), QUERY_COLUMNS)


def freezes_frame(study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """Every freeze of a casebook, by participant and time."""
    return typed_frame(cohort_selectors.freeze_rows(patients=_patients_query(study, sites)), FREEZE_COLUMNS)


def signatures_frame(study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """Every signature of the study's casebooks, by participant and time of signing."""
    rows = cleaning_selectors.signature_release_rows(patients=_patients_query(study, sites))
    return typed_frame(rows, SIGNATURE_COLUMNS)


def source_verifications_frame(study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """Every source data verification mark of the study's records, by participant, form and study day."""
    rows = cleaning_selectors.sdv_release_rows(patients=_patients_query(study, sites))
    return typed_frame(rows, SDV_COLUMNS)


def study_frames(study: Study, sites: QuerySet[Site] | None = None) -> dict[str, pd.DataFrame]:
    """Every table of a study (limited to ``sites`` for a site-scoped reader): arms, patients, the forms, derived
    days and the patients' courses, the provenance of the values pulled from FHIR servers, the queries, the freezes,
    the signatures of casebooks and the source data verification marks."""
    frames = {"arms": arms_frame(study), "patients": patients_frame(study, sites)}
    frames.update({name: form_frame(name, study, sites) for name in SOURCE_FORMS})
    frames["derived_days"] = derived_frame(study, sites)
    frames["patient_courses"] = courses_frame(study, sites)
    frames["fhir_provenance"] = provenance_frame(study, sites)
    frames["queries"] = queries_frame(study, sites)
    frames["freezes"] = freezes_frame(study, sites)
    frames["signatures"] = signatures_frame(study, sites)
    frames["source_verifications"] = source_verifications_frame(study, sites)
    return frames


# --------------------------------------------------------------------------------------------
# Outcomes and arm tables (clinical definitions §4), pure pandas from the frames above
# --------------------------------------------------------------------------------------------

#: Endpoint code -> its heading on the analysis page (translated; the files of a release carry the codes only).
ENDPOINTS = {
    "os": gettext_lazy("Survival to day 21"),
    "mvfs": gettext_lazy("Mechanical-ventilation-free survival to day 21"),
}
ORDINAL_DAYS = outcomes_module.SNAPSHOT_DAYS


@dataclass(frozen=True)
class Results:
    """The clinical definitions §4 results of one data set: tidy tables for files, display tables for pages."""

    outcomes: pd.DataFrame
    km_summary: pd.DataFrame
    logrank: pd.DataFrame
    cox: pd.DataFrame
    baseline: tables.Table
    ordinal: dict[int, tables.Table]
    trajectories: pd.DataFrame
    adverse_events: tables.Table
    #: The case series by time to the first anakinra dose (clinical definitions §4.10) and the frames of its swimmer
    #: plot, for a study whose protocol records the oxygen criterion; None otherwise.
    case_series: tables.Table | None = None
    swimmer: dict[str, Any] | None = None

    def long_tables(self) -> dict[str, pd.DataFrame]:
        """The tidy tables written to a release, by file name."""
        ordinal = pd.concat(
            [table.long.assign(day=day) for day, table in self.ordinal.items()], ignore_index=True
        ).reindex(columns=["day", "row", "label", "parent", "arm", "n", "denominator", "pct", "text"])
        return {
            "outcomes": self.outcomes,
            "km_summary": self.km_summary,
            "logrank": self.logrank,
            "cox": self.cox,
            "baseline_table": self.baseline.long,
            "ordinal_table": ordinal,
            "trajectories": self.trajectories,
            "adverse_event_table": self.adverse_events.long,
            "case_series_table": (
                self.case_series.long
                if self.case_series is not None
                else pd.DataFrame(columns=list(tables.CASE_SERIES_COLUMNS))
            ),
        }

    def display_tables(self) -> dict[str, pd.DataFrame]:
        """The published-layout tables (one text column per arm) of the analysis page."""
        shown = {"baseline": self.baseline.wide, "adverse_events": self.adverse_events.wide}
        shown.update({f"ordinal_d{day}": table.wide for day, table in self.ordinal.items()})
        if self.case_series is not None:
            shown["case_series"] = self.case_series.wide
        return shown

    def display_payload(self) -> dict[str, dict[str, Any]]:
        """The display tables as plain lists (JSON for releases, the same structure for live pages)."""
        return {
            name: {
                "index": [list(i) if isinstance(i, tuple) else [i] for i in table.index],
                "columns": list(table.columns),
                "rows": table.astype(str).to_numpy().tolist(),
            }
            for name, table in self.display_tables().items()
        }


def analysis_inputs(frames: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """The input frames of analysis.outcomes. Its ``patient_id`` is the position of the participant in the
    patients frame: grouping and joining a million rows on integers is several times faster than on text ids."""
    order = frames["arms"]["arm_label"].dropna().tolist()
    ids = pd.Index(frames["patients"][KEY].astype(object))
    patients = frames["patients"].drop(columns=[KEY])
    patients.insert(0, "patient_id", np.arange(len(ids), dtype="int64"))
    patients["arm_label"] = pd.Categorical(
        patients["arm_label"].astype(object),
        categories=order + sorted(set(patients["arm_label"].dropna()) - set(order)),
    )

    def keyed(name: str, columns: list[str]) -> pd.DataFrame:
        frame = frames[name]
        position = ids.get_indexer(frame[KEY].astype(object))
        keyed = frame.loc[position >= 0, columns].copy()
        keyed.insert(0, "patient_id", position[position >= 0])
        return keyed

    derived = keyed("derived_days", ["study_day", "state", "ordinal_7", "pf"])
    crp = keyed("laboratory", ["study_day", "crp_mg_l"]).dropna(subset=["crp_mg_l"])
    derived = derived.merge(crp, on=["patient_id", "study_day"], how="outer")
    derived["state"] = derived["state"].astype(object).where(derived["state"].notna(), None)
    return {
        "ids": ids,
        "patients": patients,
        "derived": derived,
        "events": keyed("disposition_events", ["study_day", "kind", "alive"]),
        "adverse_events": keyed("adverse_events", ["study_day", "kind", "serious"]),
    }


def _reference_arm(outcome: pd.DataFrame, time_col: str, event_col: str) -> Any | None:
    present = survival.group_order(survival.prepare(outcome, time_col, event_col, "arm_label")["group"])
    return present[0] if len(present) >= 2 else None


def _survival_tables(outcome: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    km_parts, logrank_rows, cox_parts = [], [], []
    for endpoint in ENDPOINTS:
        time_col, event_col = f"{endpoint}_time", f"{endpoint}_event"
        km = survival.km_summary(outcome, time_col, event_col, "arm_label")
        km_parts.append(km.assign(endpoint=endpoint))
        tests = survival.logrank(outcome, time_col, event_col, "arm_label")
        overall = tests["overall"]
        logrank_rows.append(
            {
                "endpoint": endpoint,
                "comparison": "overall",
                "group_a": "",
                "group_b": "",
                "test_statistic": overall["test_statistic"],
                "degrees_of_freedom": overall["degrees_of_freedom"],
                "p_value": overall["p_value"],
                "note": overall["note"],
            }
        )
        logrank_rows += [
            {"endpoint": endpoint, "comparison": "pairwise", **pair, "degrees_of_freedom": 1, "note": ""}
            for pair in tests["pairwise"]
        ]
        reference = _reference_arm(outcome, time_col, event_col)
        if reference is not None:
            cox = survival.cox_hazard_ratios(outcome, time_col, event_col, "arm_label", reference)
            cox_parts.append(cox.assign(endpoint=endpoint))
    km = pd.concat(km_parts, ignore_index=True)
    km = km[["endpoint", *[c for c in km.columns if c != "endpoint"]]]
    logrank = pd.DataFrame(
        logrank_rows,
        columns=[
            "endpoint",
            "comparison",
            "group_a",
            "group_b",
            "test_statistic",
            "degrees_of_freedom",
            "p_value",
            "note",
        ],
    )
    cox_columns = ["endpoint", "arm_label", "reference", "n", "events", "hr", "ci_lower", "ci_upper", "p_value", "note"]
    cox = pd.concat(cox_parts, ignore_index=True)[cox_columns] if cox_parts else pd.DataFrame(columns=cox_columns)
    return km, logrank, cox


@dataclass(frozen=True)
class CaseSeries:
    """How a study's case series is drawn (clinical definitions §3.4, §4.10): its timing limits and horizon."""

    early_max_hours: float
    late_min_hours: float
    horizon_days: int


def case_series_of(study: Study) -> CaseSeries | None:
    """The case series of a study whose protocol records when the oxygen criterion was met (New York), with the
    limits of its derivation settings; None for a study without one (Milan)."""
    if not records_oxygen_criterion(study):
        return None
    settings = derivations.resolve_settings(study.settings.get("derivation", {}))
    return CaseSeries(
        float(settings["timing_early_max_hours"]),
        float(settings["timing_late_min_hours"]),
        int(settings["course_horizon_days"]),
    )


def _case_series(frames: dict[str, pd.DataFrame], series: CaseSeries) -> tuple[tables.Table, dict[str, Any]]:
    """The case-series table and the swimmer plot's frames, keyed by participant id."""

    def keyed(name: str, columns: list[str]) -> pd.DataFrame:
        return frames[name][[KEY, *columns]].rename(columns={KEY: "patient_id"})

    courses = keyed("patient_courses", [c for c in frames["patient_courses"].columns if c != KEY])
    table = tables.case_series_table(
        courses, early_max_hours=series.early_max_hours, late_min_hours=series.late_min_hours
    )
    support = keyed("respiratory_support", ["study_day", "support"])
    swimmer = {
        "courses": courses,
        "support": support.assign(support=support["support"].astype(object).where(support["support"].notna(), "")),
        "drugs": keyed("drug_administration", ["drug", "study_day", "stop_day"]),
        "episodes": keyed("ventilation_episodes", ["study_day", "end_day", "end_reason"]),
        "events": keyed("disposition_events", ["study_day", "kind"]),
        "labels": pd.Series(courses["patient_id"].astype(str).to_numpy(), index=courses["patient_id"]),
        "horizon_days": series.horizon_days,
    }
    return table, swimmer


def compute_results(
    frames: dict[str, pd.DataFrame],
    bands: derivations.ArdsBands | None = None,
    *,
    case_series: CaseSeries | None = None,
) -> Results:
    """Outcomes per patient and every per-arm table of clinical definitions §4 from one data set's frames.

    ``bands``: the study's ARDS bands (``derivations.ards_bands`` of its derivation settings), which split the
    CPAP/NIV line of the ordinal tables as they split its derived ards_severity; the defaults when None.
    ``case_series``: the study's case series (:func:`case_series_of`), or None for none.
    """
    inputs = analysis_inputs(frames)
    outcome = outcomes_module.patient_outcomes(
        inputs["patients"], inputs["derived"], inputs["events"], inputs["adverse_events"], bands=bands
    )
    km, logrank, cox = _survival_tables(outcome)
    trajectory = pd.concat(
        [
            tables.trajectories(inputs["derived"], inputs["patients"], variable).assign(variable=variable)
            for variable in tables.TRAJECTORY_VARIABLES
        ],
        ignore_index=True,
    )[["variable", "arm_label", "study_day", "n", "median", "q1", "q3"]]
    arm_order = inputs["patients"]["arm_label"].cat.categories
    trajectory["arm_label"] = pd.Categorical(trajectory["arm_label"], categories=arm_order)
    outcome_export = outcome.drop(columns=["patient_id"])
    outcome_export.insert(0, KEY, inputs["ids"].take(outcome["patient_id"].to_numpy()))
    outcome_export[KEY] = outcome_export[KEY].astype("string")
    return Results(
        outcomes=outcome_export,
        km_summary=km,
        logrank=logrank,
        cox=cox,
        baseline=tables.baseline_table(outcome),
        ordinal={day: tables.ordinal_table(outcome, day, bands=bands) for day in ORDINAL_DAYS},
        trajectories=trajectory,
        adverse_events=tables.adverse_event_table(outcome),
        **(
            dict(zip(("case_series", "swimmer"), _case_series(frames, case_series), strict=True))
            if case_series is not None
            else {}
        ),
    )
