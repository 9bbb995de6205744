"""The database side of the derived patient-day table (SPEC 3): read the sources, call ecrf/derivations.py, write.

A batch of patients of one study is derived in one transaction with a fixed number of queries whatever the number
of patients or days: the lock check, one query for the patients, one per source table, one bulk upsert and one
delete of rows beyond the grid. A worker killed mid-batch therefore leaves each patient either old or new, never
half, and a rerun writes identical rows (only ``computed_at`` moves).

Reads go through the ORM's SQL but are executed on a plain cursor, so no model instance or per-row converter is
built for a million rows; decimals are cast to floats in the database (the contract of derivations.derive).
Writes are ``bulk_create(update_conflicts=True)``; on PostgreSQL a large batch is streamed with COPY into a
temporary table and upserted with one INSERT ... ON CONFLICT (same rows, same statement semantics, ~5x faster).
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.db import connection, models, transaction
from django.db.models import F, FloatField
from django.db.models.functions import Cast
from django.utils import timezone

from cohorts.audit import StudyLocked, ensure_unlocked
from cohorts.models import Patient, Study
from ecrf import derivations
from ecrf.models import DerivedDay, DispositionEvent, LabResult, RespiratorySupport, VitalSigns

logger = logging.getLogger(__name__)

#: Patients per transaction of a whole-study run: ~21,000 patient-days, a few tens of MB of frames at most.
BATCH_PATIENTS = 1000
#: From this many rows a PostgreSQL write goes through COPY (below it, creating a temp table costs more).
COPY_MIN_ROWS = 2000

_WRITTEN = [name for name in derivations.OUTPUT_COLUMNS if name not in ("patient_id", "study_day")]
_TEXT = [name for name in _WRITTEN if isinstance(DerivedDay._meta.get_field(name), models.CharField)]
_FLAGS = [name for name in _WRITTEN if isinstance(DerivedDay._meta.get_field(name), models.BooleanField)]
_UPDATE_FIELDS = [*_WRITTEN, "algorithm_version", "computed_at"]


def _floats(*names: str) -> dict[str, Cast]:
    """Decimal columns cast to double precision in the query (derivations.derive wants floats)."""
    return {f"{name}_f": Cast(F(name), FloatField()) for name in names}


# One (model, columns) per source frame; column aliases are the names derivations.derive expects.
_SOURCES = {
    "support": (
        RespiratorySupport,
        _floats("flow_l_min", "fio2", "peep_cmh2o"),
        (
            "patient_id",
            "study_day",
            "support",
            "flow_l_min_f",
            "fio2_f",
            "peep_cmh2o_f",
            "ecmo",
            "prone",
            "vasopressors",
            "rrt",
        ),
    ),
    "vitals": (VitalSigns, _floats("spo2_pct"), ("patient_id", "study_day", "spo2_pct_f")),
    "labs": (
        LabResult,
        _floats("pao2_mmhg", "abg_fio2", "crp_mg_l", "ast_u_l", "alt_u_l", "ast_uln_u_l", "alt_uln_u_l"),
        (
            "patient_id",
            "study_day",
            "pao2_mmhg_f",
            "abg_fio2_f",
            "crp_mg_l_f",
            "ast_u_l_f",
            "alt_u_l_f",
            "ast_uln_u_l_f",
            "alt_uln_u_l_f",
        ),
    ),
    "events": (DispositionEvent, {}, ("patient_id", "study_day", "kind", "normal_activities", "alive")),
}
_BOOL_COLUMNS = {"support": ("ecmo", "prone", "vasopressors", "rrt")}


@dataclass
class DeriveSummary:
    """What a run did, for the command's output and the task's result."""

    studies: int = 0
    patients: int = 0
    rows: int = 0
    deleted: int = 0
    skipped_locked: list[str] = field(default_factory=list)

    def add(self, other: DeriveSummary) -> None:
        self.studies += other.studies
        self.patients += other.patients
        self.rows += other.rows
        self.deleted += other.deleted
        self.skipped_locked += other.skipped_locked

    def as_dict(self) -> dict:
        return {
            "studies": self.studies,
            "patients": self.patients,
            "rows": self.rows,
            "deleted": self.deleted,
            "skipped_locked": self.skipped_locked,
        }


def study_settings(study: Study) -> dict:
    """The study's derivation settings: DEFAULT_SETTINGS updated with its stored overrides (SPEC 3)."""
    return derivations.resolve_settings(study.settings.get("derivation", {}))


def _read(queryset: models.QuerySet, columns: Sequence[str]) -> list[tuple]:
    """Execute the queryset's SQL on a plain cursor: tuples, no model instances, no per-row converters."""
    sql, params = queryset.values_list(*columns).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _frame(rows: list[tuple], columns: Sequence[str], bools: Iterable[str] = ()) -> pd.DataFrame:
    frame = pd.DataFrame.from_records(rows, columns=[c.removesuffix("_f") for c in columns], coerce_float=True)
    for name in columns:
        if name.endswith("_f"):  # all-NULL columns come back as object
            frame[name[:-2]] = frame[name[:-2]].astype(float)
    for name in bools:  # SQLite returns 0/1
        frame[name] = frame[name].astype(bool)
    return frame


def read_inputs(patient_ids: Sequence[int]) -> dict[str, pd.DataFrame]:
    """The four source frames of derivations.derive for ``patient_ids`` (one query each)."""
    frames = {}
    for name, (model, casts, columns) in _SOURCES.items():
        queryset = model.objects.filter(patient_id__in=patient_ids).annotate(**casts)
        frames[name] = _frame(_read(queryset, columns), columns, _BOOL_COLUMNS.get(name, ()))
    return frames


def _patients(study: Study, patient_ids: Sequence[int]) -> pd.DataFrame:
    """id and the site's ULN of each patient of the batch (the ULN when the lab row does not carry its own)."""
    queryset = Patient.objects.filter(study=study, pk__in=list(patient_ids)).annotate(
        ast_uln=Cast(F("site__ast_uln_u_l"), FloatField()), alt_uln=Cast(F("site__alt_uln_u_l"), FloatField())
    )
    rows = _read(queryset, ["pk", "ast_uln", "alt_uln"])
    return pd.DataFrame.from_records(rows, columns=["patient_id", "ast_uln", "alt_uln"])


def _grid(patient_ids: np.ndarray, follow_up_days: int) -> pd.DataFrame:
    """Days 0..follow_up_days of every patient (SPEC 3: every patient-day of the follow-up)."""
    days = np.arange(follow_up_days + 1, dtype=np.int64)
    return pd.DataFrame({"patient_id": np.repeat(patient_ids, len(days)), "study_day": np.tile(days, len(patient_ids))})


def compute(study: Study, patients: pd.DataFrame, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The derived frame of the batch (pure: no query)."""
    labs = inputs["labs"]
    if len(labs):
        # The site's ULN applies where the laboratory row does not carry its own (SPEC 2: "with the site's ULN").
        uln = patients.set_index("patient_id")
        for lab_column, site_column in (("ast_uln_u_l", "ast_uln"), ("alt_uln_u_l", "alt_uln")):
            labs[lab_column] = labs[lab_column].fillna(labs["patient_id"].map(uln[site_column]))
    grid = _grid(patients["patient_id"].to_numpy(dtype=np.int64), study.follow_up_days)
    return derivations.derive(
        grid, inputs["support"], inputs["vitals"], labs, inputs["events"], study.settings.get("derivation", {})
    )


def _blanks(derived: pd.DataFrame) -> pd.DataFrame:
    """Missing text as "" and missing flags as False: the model's blanks (vectorised, for COPY)."""
    derived = derived.copy()
    for name in _TEXT:
        derived[name] = derived[name].astype(object).where(derived[name].notna(), "")
    for name in _FLAGS:
        derived[name] = derived[name].fillna(False).astype(bool)
    return derived


def _copy_upsert(derived: pd.DataFrame, computed_at) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE."""
    table = DerivedDay._meta.db_table
    columns = ["patient_id", "study_day", *_UPDATE_FIELDS]
    quoted = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in _UPDATE_FIELDS)
    out = _blanks(derived)
    out["algorithm_version"] = derivations.ALGORITHM_VERSION
    out["computed_at"] = computed_at.isoformat()
    for name in ("ordinal_7", "who_osci", "who_cps"):
        out[name] = out[name].astype("Int64")
    buffer = io.StringIO()
    out[columns].to_csv(buffer, index=False, header=False, na_rep="\\N", sep="\t")
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS derived_load ON COMMIT DELETE ROWS AS SELECT {quoted} FROM {table} "
            "WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY derived_load ({quoted}) FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        cursor.execute(
            f"INSERT INTO {table} ({quoted}) SELECT {quoted} FROM derived_load "
            f'ON CONFLICT ("patient_id", "study_day") DO UPDATE SET {updates}'
        )
        cursor.execute("TRUNCATE derived_load")


def _orm_upsert(derived: pd.DataFrame, computed_at) -> None:
    """bulk_create(update_conflicts=True); values taken column by column (no per-cell pandas calls)."""
    columns = {}
    for name in derived.columns:
        values = derived[name].to_numpy(dtype=object, na_value=None)
        if name in _TEXT:
            values = ["" if value is None else value for value in values]
        elif name in _FLAGS:
            values = [bool(value) for value in values]  # None (missing) -> False
        columns[name] = values
    names = list(columns)
    rows = [
        DerivedDay(
            **dict(zip(names, values, strict=True)),
            algorithm_version=derivations.ALGORITHM_VERSION,
            computed_at=computed_at,
        )
        for values in zip(*columns.values(), strict=True)
    ]
    DerivedDay.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["patient", "study_day"], update_fields=_UPDATE_FIELDS
    )


def write(derived: pd.DataFrame, computed_at) -> None:
    """One upsert of every row (missing text as "", missing flags as False: the model's blanks)."""
    if connection.vendor == "postgresql" and len(derived) >= COPY_MIN_ROWS:
        _copy_upsert(derived, computed_at)
    elif len(derived):
        _orm_upsert(derived, computed_at)


def derive_batch(study: Study, patient_ids: Sequence[int]) -> DeriveSummary:
    """Derive and store the patient-days of ``patient_ids`` (all of ``study``) in one transaction.

    Refuses (StudyLocked) while the study is locked: the derived data are frozen with the release (SPEC 5).
    """
    with transaction.atomic():
        ensure_unlocked(study)
        patients = _patients(study, patient_ids)
        ids = patients["patient_id"].tolist()
        if not ids:
            return DeriveSummary()
        derived = compute(study, patients, read_inputs(ids))
        write(derived, timezone.now())
        # Days beyond the grid (the follow-up was shortened, a day was renumbered) are no longer derived.
        deleted, _ = (
            DerivedDay.objects.filter(patient_id__in=ids)
            .exclude(study_day__gte=0, study_day__lte=study.follow_up_days)
            .delete()
        )
    return DeriveSummary(patients=len(ids), rows=len(derived), deleted=deleted)


def derive_patient(patient_id: int) -> DeriveSummary:
    """Recompute one patient (after a save of one of its sources). Unknown patient: nothing to do."""
    patient = Patient.objects.select_related("study").filter(pk=patient_id).first()
    if patient is None:
        return DeriveSummary()
    return derive_batch(patient.study, [patient.pk])


def derive_study(study: Study, *, batch_patients: int = BATCH_PATIENTS) -> DeriveSummary:
    """Recompute every patient of ``study``, ``batch_patients`` per transaction (memory stays bounded)."""
    ensure_unlocked(study)
    summary = DeriveSummary(studies=1)
    ids = list(Patient.objects.filter(study=study).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), batch_patients):
        summary.add(derive_batch(study, ids[start : start + batch_patients]))
    return summary


def derive_all(studies: Iterable[Study] | None = None) -> DeriveSummary:
    """The nightly run: every study (or ``studies``); a locked study is skipped and named in the summary."""
    summary = DeriveSummary()
    for study in studies if studies is not None else Study.objects.order_by("code"):
        try:
            summary.add(derive_study(study))
        except StudyLocked:
            logger.info("derivation skipped: study %s is locked", study.code)
            summary.skipped_locked.append(study.code)
    return summary
