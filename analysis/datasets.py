"""One study's data as pandas frames: the selectors of the analysis pages and of the locked releases.

Every frame is keyed by the pseudonymised ``participant_id`` (clinical definitions §5): no database primary key, no
calendar date
and no name ever enters a frame, so nothing built from them (pages, release files, exports) can leak one; the one
exception is the table of casebook signatures, whose printed names and times are the signatures themselves.
Times are study days relative to enrolment.

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
from django.db import connections, models
from django.db.models import F, FloatField, QuerySet
from django.db.models.functions import Cast
from django.utils.translation import gettext_lazy

from analysis import outcomes as outcomes_module
from analysis import survival, tables
from cleaning import selectors as cleaning_selectors
from cohorts import selectors as cohort_selectors
from cohorts.models import COMORBIDITIES, Arm, Patient, Site, Study
from ecrf import derivations
from ecrf.crfs import CATALOGUE, crf_of
from ecrf.models import (
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

_PANDAS_TYPES = {"string": "string", "integer": "Int64", "float": "float64", "boolean": "boolean"}


def column_type(field: models.Field) -> str:
    """The export type of a model field: string, integer, float or boolean."""
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
        if kind == "string":
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
    of the model after the exported ones."""
    fields = exported_fields(model)
    casts = {f"_f_{f.name}": Cast(f.name, FloatField()) for f in fields if isinstance(f, models.DecimalField)}
    names = [f"_f_{f.name}" if f"_f_{f.name}" in casts else f.name for f in fields]
    return (
        model.objects.filter(patient__in=patients)
        .annotate(_pid=F("patient__participant_id"), **casts)
        .values_list("_pid", *names, *extra)
    )


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
    rows = _fetch(_values(model, _patients_query(study, sites), extra=("missing_codes", NOT_DONE_REASON)))
    position = list(columns).index("confirmed_checks")
    rows = [(*row[:position], _checks_text(row[position]), *row[position + 1 :]) for row in rows]
    coded_rows = [(number, codes) for number, row in enumerate(rows) if (codes := _codes(row[-2]))]  # few rows
    reasons = pd.Series([row[-1] for row in rows], dtype="string").replace("", pd.NA)
    frame = typed_frame([row[:-2] for row in rows], columns)
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


def patients_frame(study: Study, sites: QuerySet[Site] | None = None) -> pd.DataFrame:
    """One row per enrolled patient: arm, baseline characteristics, follow-up (no dates, no database ids)."""
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
        )
    )
    return _sorted(typed_frame(_fetch(query), PATIENT_COLUMNS), unique_keys=False)


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
    """Every table of a study (limited to ``sites`` for a site-scoped reader): arms, patients, the forms, derived,
    the provenance of the values pulled from FHIR servers, the queries, the freezes, the signatures of casebooks and
    the source data verification marks."""
    frames = {"arms": arms_frame(study), "patients": patients_frame(study, sites)}
    frames.update({name: form_frame(name, study, sites) for name in SOURCE_FORMS})
    frames["derived_days"] = derived_frame(study, sites)
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
        }

    def display_tables(self) -> dict[str, pd.DataFrame]:
        """The published-layout tables (one text column per arm) of the analysis page."""
        shown = {"baseline": self.baseline.wide, "adverse_events": self.adverse_events.wide}
        shown.update({f"ordinal_d{day}": table.wide for day, table in self.ordinal.items()})
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


def compute_results(frames: dict[str, pd.DataFrame], bands: derivations.ArdsBands | None = None) -> Results:
    """Outcomes per patient and every per-arm table of clinical definitions §4 from one data set's frames.

    ``bands``: the study's ARDS bands (``derivations.ards_bands`` of its derivation settings), which split the
    CPAP/NIV line of the ordinal tables as they split its derived ards_severity; the defaults when None.
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
    )
