"""The database side of the derived patient-day table (clinical definitions §3): read the sources, call
ecrf/derivations.py, write.

A batch of patients of one study is derived with a fixed number of queries whatever the number of patients or
days. It is read first: one query for the patients (with their derivation stamps), one per source table. It is
computed, then stored in one transaction: the lock check, the study's derivation lock (PostgreSQL advisory lock:
derivations of one study store one at a time), a re-read of the stamps, then for the changed patients one bulk
upsert of their rows and one delete of rows beyond the grid, and at most two statements for the stamps (an
UPDATE of the unchanged ones, an upsert of the changed ones). A worker killed mid-batch therefore leaves each
patient either old or new, never half, and a rerun gives identical rows.

The read is not under the lock: a patient whose stamp moved between the read and the store was derived by
another job that read its sources later (an edit's own recompute during the nightly run); its rows are kept.
A whole-study run on PostgreSQL (outside a transaction) reads each next batch on a second connection, in a
thread, while the current one is computed and stored: the database's reading overlaps this process's work.

Only what changed is written. Each patient's fresh rows are hashed into one 64-bit digest and compared with the
digest stored in its PatientDerivation stamp: a patient whose rows (values and number of days) and algorithm
version are unchanged keeps its DerivedDay rows as they are (their ``computed_at`` is when those values were
computed) and only its stamp's ``derived_at`` moves. The nightly run over a study where little changed therefore
costs little more than reading the sources, and does not rewrite (bloat, WAL) a million rows. ``force=True``
rewrites every row.

Reads go through the ORM's SQL but are executed on a plain cursor, so no model instance or per-row converter is
built for a million rows; decimals are cast to floats in the database (the contract of derivations.derive) and
the tuples are turned into numpy columns directly. Writes are ``bulk_create(update_conflicts=True)``; on
PostgreSQL a large batch is written as CSV by pyarrow, streamed with COPY into a temporary table and upserted
with one INSERT ... ON CONFLICT (same rows, same statement semantics, several times faster).
"""

from __future__ import annotations

import gc
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from django.db import connection, connections, models, transaction
from django.db.models import CharField, F, FloatField
from django.db.models.functions import Cast
from django.db.models.lookups import In
from django.utils import timezone

from cohorts.audit import StudyLocked, ensure_unlocked
from cohorts.clock import default_time_zone
from cohorts.models import Patient, Study
from ecrf import courses, derivations
from ecrf.crfs import CATALOGUE, Crf
from ecrf.models import (
    DerivedCourse,
    DerivedDay,
    DrugAdministration,
    PatientDerivation,
    VentilationEpisode,
)

logger = logging.getLogger(__name__)
T, R, S = TypeVar("T"), TypeVar("R"), TypeVar("S")

#: Patients per transaction of a whole-study run: ~42,000 patient-days, a few tens of MB of frames at most.
BATCH_PATIENTS = 2000
#: From this many rows a PostgreSQL write goes through COPY (below it, creating a temp table costs more).
COPY_MIN_ROWS = 2000
#: First key of the study's derivation lock (pg_advisory_xact_lock(DERIVE_LOCK_CLASS, study id)).
DERIVE_LOCK_CLASS = 0x5E7D

_WRITTEN = [name for name in derivations.OUTPUT_COLUMNS if name not in ("patient_id", "study_day")]
_TEXT = [name for name in _WRITTEN if isinstance(DerivedDay._meta.get_field(name), models.CharField)]
_FLAGS = [name for name in _WRITTEN if isinstance(DerivedDay._meta.get_field(name), models.BooleanField)]
_UPDATE_FIELDS = [*_WRITTEN, "algorithm_version", "computed_at"]
#: What the digest covers: every derived value and the day it belongs to.
_DIGESTED = [name for name in derivations.OUTPUT_COLUMNS if name != "patient_id"]


def _source_query(crf: Crf) -> tuple[type[models.Model], dict[str, Cast], tuple[str, ...], tuple[str, ...]]:
    """(model, casts, columns, bool columns) of the source frame a form gives the derivation.

    Numbers are read as ``<name>_f`` cast to float (the contract of derivations.derive); a yes/no that cannot be
    empty is read as a bool, one that can (not recorded) as an object.
    """
    model, casts, columns, bools = crf.model, {}, ["patient_id", "study_day"], []
    for name in crf.derivation_columns:
        model_field = model._meta.get_field(name)
        if isinstance(model_field, models.DecimalField | models.IntegerField):
            casts[f"{name}_f"] = Cast(F(name), FloatField())
            columns.append(f"{name}_f")
        else:
            columns.append(name)
            if isinstance(model_field, models.BooleanField) and not model_field.null:
                bools.append(name)
    return model, casts, tuple(columns), tuple(bools)


# One query per source frame, named as derivations.derive expects them (the catalogue's derivation_frame).
_SOURCES = {crf.derivation_frame: _source_query(crf) for crf in CATALOGUE.values() if crf.derivation_frame}

#: The patient course's own sources (ecrf/courses.py; it also reads the derivation's support frame): model, the
#: columns read (``<name>_f`` cast to float, times as UTC) and which of them are times.
_COURSE_SOURCES = {
    "drugs": (DrugAdministration, ("patient_id", "drug", "study_day", "stop_day_f", "started_at", "stopped_at")),
    "episodes": (
        VentilationEpisode,
        ("patient_id", "study_day", "end_day_f", "intubated_at", "ended_at", "end_reason"),
    ),
}
_TIMES = frozenset({"started_at", "stopped_at", "intubated_at", "ended_at", "occurred_at", "oxygen_criterion_at"})
_COURSE_WRITTEN = [name for name in courses.COURSE_COLUMNS if name != "patient_id"]


@dataclass
class DeriveSummary:
    """What a run did, for the command's output and the task's result."""

    studies: int = 0
    patients: int = 0
    rows: int = 0  # patient-days derived
    written: int = 0  # of which rewritten (the patient's rows had changed)
    deleted: int = 0
    skipped_locked: list[str] = field(default_factory=list)

    def add(self, other: DeriveSummary) -> None:
        self.studies += other.studies
        self.patients += other.patients
        self.rows += other.rows
        self.written += other.written
        self.deleted += other.deleted
        self.skipped_locked += other.skipped_locked

    def as_dict(self) -> dict:
        return {
            "studies": self.studies,
            "patients": self.patients,
            "rows": self.rows,
            "written": self.written,
            "deleted": self.deleted,
            "skipped_locked": self.skipped_locked,
        }


class _AnyOf(In):
    """``column = ANY(%s::bigint[])`` with the ids as one array literal on PostgreSQL, ``IN (...)`` elsewhere.

    A batch of a thousand patients then costs one text parameter instead of a thousand values to prepare, bind
    and parse on every query of the batch (about a fifth of a nightly run spent in Django and psycopg otherwise).
    The ids are ints already (of_patients), so Django's per-value preparation is skipped.
    """

    def get_prep_lookup(self):
        return self.rhs

    def as_postgresql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        return f"{lhs} = ANY(%s::bigint[])", (*lhs_params, "{" + ",".join(map(str, self.rhs)) + "}")


def _text(name: str) -> Cast:
    """A time read as its text: compared for equality only, so 48,000 of them need not be parsed."""
    return Cast(F(name), CharField())


def of_patients(patient_ids: Sequence[int], column: str = "patient_id") -> _AnyOf:
    return _AnyOf(F(column), [int(pk) for pk in patient_ids])


def read_rows(queryset: models.QuerySet, columns: Sequence[str]) -> list[tuple]:
    """Execute the queryset's SQL on a plain cursor: tuples, no model instances, no per-row converters."""
    sql, params = queryset.values_list(*columns).query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def columns_frame(rows: list[tuple], columns: Sequence[str], bools: Iterable[str] = ()) -> pd.DataFrame:
    """Columns straight from the tuples: ``*_f`` as float (NULL -> NaN), ``bools`` as bool (SQLite gives 0/1),
    ids and days as int64, the rest (codes, nullable yes/no) as Python objects."""
    values = list(zip(*rows, strict=True)) if rows else [()] * len(columns)
    data = {}
    for column, cells in zip(columns, values, strict=True):
        name = column.removesuffix("_f")
        if column != name:
            data[name] = np.array(cells, dtype=float)
        elif name in bools:
            data[name] = np.array(cells, dtype=bool)
        elif name in ("patient_id", "study_day"):
            data[name] = np.array(cells, dtype=np.int64)
        else:
            data[name] = np.array(cells, dtype=object)
    return pd.DataFrame(data, copy=False)


def read_inputs(patient_ids: Sequence[int]) -> dict[str, pd.DataFrame]:
    """The four source frames of derivations.derive for ``patient_ids`` (one query each).

    A form marked not done that day is absent data (clinical definitions §2.2): its record is not read, so a
    respiratory-support record without a level never becomes a state, nor a day in hospital. A value with a
    missing-data code is empty in its column, hence missing to the derivation as any empty value.
    """
    frames = {}
    for name, (model, casts, columns, bools) in _SOURCES.items():
        queryset = model.objects.filter(of_patients(patient_ids), not_done_reason="").annotate(**casts)
        frames[name] = with_times(columns_frame(read_rows(queryset, columns), columns, bools))
    for name, (model, columns) in _COURSE_SOURCES.items():
        casts = {c: Cast(F(c.removesuffix("_f")), FloatField()) for c in columns if c.endswith("_f")}
        queryset = model.objects.filter(of_patients(patient_ids)).annotate(**casts)
        frames[name] = with_times(columns_frame(read_rows(queryset, columns), columns))
    return frames


def with_times(frame: pd.DataFrame, names: Iterable[str] = _TIMES) -> pd.DataFrame:
    """Its time columns (``names`` among its columns) as UTC datetimes (NaT when unknown), whatever the database gave
    (SQLite: text or naive datetimes, in UTC). Also the rule job's reader (cleaning/rule_job.py)."""
    for name in set(names).intersection(frame.columns):
        frame[name] = pd.to_datetime(pd.Series(frame[name], dtype=object), utc=True, format="ISO8601")
    return frame


_PATIENT_COLUMNS = (
    "patient_id",
    "ast_uln_f",
    "alt_uln_f",
    "enrolment_date",
    "time_zone",
    "oxygen_criterion_at",
    "stamp_version",
    "stamp_digest",
    "stamp_at",
)


def _patients(study: Study, patient_ids: Sequence[int]) -> pd.DataFrame:
    """Each patient of the batch (in id order) with the site's ULN (used when the lab row does not carry its own)
    and the stamp of its last derivation (algorithm version, digest and time; NA when never derived)."""
    queryset = (
        Patient.objects.filter(of_patients(patient_ids, "pk"), study=study)
        .annotate(
            ast_uln_f=Cast(F("site__ast_uln_u_l"), FloatField()),
            alt_uln_f=Cast(F("site__alt_uln_u_l"), FloatField()),
            time_zone=F("site__time_zone"),
            stamp_version=F("derivation__algorithm_version"),
            stamp_digest=F("derivation__digest"),
            stamp_at=_text("derivation__derived_at"),
        )
        .order_by("pk")
    )
    patients = with_times(columns_frame(read_rows(queryset, ["pk", *_PATIENT_COLUMNS[1:]]), _PATIENT_COLUMNS))
    patients["enrolment_date"] = pd.to_datetime(pd.Series(patients["enrolment_date"], dtype=object))
    patients["time_zone"] = patients["time_zone"].replace("", default_time_zone())  # the site's default zone
    # Exact 64-bit integers (a float would round them), NA where there is no stamp.
    patients["stamp_digest"] = pd.array(patients["stamp_digest"].to_numpy(), dtype="Int64")
    return patients


@dataclass
class _Read:
    """What a batch's derivation reads: its patients with their stamps, then the four source frames."""

    patients: pd.DataFrame
    inputs: dict[str, pd.DataFrame]


def read_batch(study: Study, patient_ids: Sequence[int]) -> _Read:
    """Read the batch's patients (stamps first: a derivation stored after this read is seen by _rederived),
    then the sources of those of them that belong to ``study``."""
    patients = _patients(study, patient_ids)
    return _Read(patients, read_inputs(patients["patient_id"].tolist()))


class _Inline:
    """Runs what is submitted at once, in this thread: the executor of a run that must stay on one connection."""

    def submit(self, function, /, *args, **kwargs) -> Future:
        done = Future()
        try:
            done.set_result(function(*args, **kwargs))
        except BaseException as error:  # raised again by .result(), as from a thread
            done.set_exception(error)
        return done


@contextmanager
def _reader(batches: int) -> Iterator[Executor]:
    """The reader of a run: on PostgreSQL, outside a transaction, with more than one batch, a thread with its own
    connection, so the database's reading of the next batch overlaps this process's computing and storing of the
    current one. Otherwise inline: another connection would not see the rows of an open transaction (a caller's
    atomic block, a test), and one batch has nothing to overlap.

    (A writer thread as well, storing batch k-1 while k is computed, was measured: 3% off a run that rewrites
    every row, nothing off the nightly run. PostgreSQL's upsert is the bound there, not this process.)"""
    if batches < 2 or connection.vendor != "postgresql" or connection.in_atomic_block:
        yield _Inline()
        return
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="derive-read") as reader:
        try:
            yield reader
        finally:
            reader.submit(connections.close_all)  # the thread's own connection


def _grid(patient_ids: np.ndarray, follow_up_days: int) -> pd.DataFrame:
    """Days 0..follow_up_days of every patient (clinical definitions §3: every patient-day of the follow-up)."""
    days = np.arange(follow_up_days + 1, dtype=np.int64)
    return pd.DataFrame({"patient_id": np.repeat(patient_ids, len(days)), "study_day": np.tile(days, len(patient_ids))})


def compute(study: Study, patients: pd.DataFrame, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The derived days of the batch (pure: no query)."""
    labs = inputs["labs"]
    if len(labs):
        # The site's ULN applies where the laboratory row does not carry its own (clinical definitions §2: "with the
        # site's ULN").
        uln = patients.set_index("patient_id")
        for lab_column, site_column in (("ast_uln_u_l", "ast_uln"), ("alt_uln_u_l", "alt_uln")):
            labs[lab_column] = labs[lab_column].fillna(labs["patient_id"].map(uln[site_column]))
    grid = _grid(patients["patient_id"].to_numpy(dtype=np.int64), study.follow_up_days)
    # The frames are named after derive's parameters (the catalogue's derivation_frame of each source form).
    day_inputs = {name: inputs[name] for name in _SOURCES}
    return derivations.derive(grid, **{**day_inputs, "labs": labs}, settings=study.settings.get("derivation", {}))


def compute_courses(study: Study, patients: pd.DataFrame, inputs: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """The patient courses of the batch, one row per patient in the patients' order (pure: no query)."""
    return courses.derive_courses(
        patients[["patient_id", "enrolment_date", "time_zone", "oxygen_criterion_at"]],
        drugs=inputs["drugs"].rename(columns={"stop_day_f": "stop_day"}),
        episodes=inputs["episodes"].rename(columns={"end_day_f": "end_day"}),
        events=inputs["events"],
        support=inputs["support"][["patient_id", "study_day", "support", "flow_l_min"]].rename(
            columns={"flow_l_min": "flow_l_min_f"}
        ),
        settings=study.settings.get("derivation", {}),
    )


def patient_digests(derived: pd.DataFrame, course: pd.DataFrame | None = None) -> pd.Series:
    """One signed 64-bit digest per patient of a derived frame (rows of a patient contiguous, as derive gives) and
    of its course (one row per patient, in the same order).

    The wrapping sum of a hash of each row (every derived value and the study day, then the course's values), so
    equal digests mean equal rows with overwhelming probability, whatever the order of the categories pandas chose
    for the text columns.
    """
    patient = derived["patient_id"].to_numpy(dtype=np.int64)
    if not len(patient):
        return pd.Series([], dtype=np.int64)
    row_hashes = pd.util.hash_pandas_object(derived[_DIGESTED], index=False).to_numpy(dtype=np.uint64)
    starts = np.flatnonzero(np.r_[True, patient[1:] != patient[:-1]])
    digests = np.add.reduceat(row_hashes, starts)
    if course is not None:
        digests = digests + pd.util.hash_pandas_object(course[_COURSE_WRITTEN], index=False).to_numpy(dtype=np.uint64)
    return pd.Series(digests.view(np.int64), index=patient[starts])


def _blanks(derived: pd.DataFrame) -> pd.DataFrame:
    """Missing text as "" and missing flags as False: the model's blanks (vectorised, for COPY)."""
    derived = derived.copy()
    for name in _TEXT:
        derived[name] = derived[name].astype(object).where(derived[name].notna(), "")
    for name in _FLAGS:
        derived[name] = derived[name].fillna(False).astype(bool)
    return derived


def _csv(derived: pd.DataFrame, columns: Sequence[str]) -> bytes:
    """The rows as CSV for COPY (FORMAT csv): NULL unquoted and empty, text always quoted (so "" is not NULL).

    Written by pyarrow in C++; floats are printed in their shortest form that reads back to the same double.
    """
    out = _blanks(derived)
    table = pa.Table.from_pandas(out[list(columns)], preserve_index=False)
    sink = io.BytesIO()
    pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False, quoting_style="needed"))
    return sink.getvalue()


def _copy_upsert(derived: pd.DataFrame, computed_at) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT ... ON CONFLICT DO UPDATE.

    The batch's constant columns (algorithm version, computed time) are added by the INSERT, not copied.
    """
    table = DerivedDay._meta.db_table
    loaded = ["patient_id", "study_day", *_WRITTEN]
    quoted = ", ".join(f'"{c}"' for c in loaded)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in _UPDATE_FIELDS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"CREATE TEMP TABLE IF NOT EXISTS derived_load ON COMMIT DELETE ROWS AS SELECT {quoted} FROM {table} "
            "WITH NO DATA"
        )
        with cursor.cursor.copy(f"COPY derived_load ({quoted}) FROM STDIN (FORMAT csv)") as copy:
            copy.write(_csv(derived, loaded))
        cursor.execute(
            f'INSERT INTO {table} ({quoted}, "algorithm_version", "computed_at") '
            f"SELECT {quoted}, %s, %s FROM derived_load "
            f'ON CONFLICT ("patient_id", "study_day") DO UPDATE SET {updates}',
            [derivations.ALGORITHM_VERSION, computed_at],
        )
        cursor.execute("TRUNCATE derived_load")


def _bulk_upsert(model, columns: dict, *, unique_fields: list[str], update_fields: list[str], computed_at) -> None:
    """bulk_create(update_conflicts=True) of rows given column by column (no per-cell pandas calls), stamped with
    the algorithm version and the time of computation."""
    names = list(columns)
    rows = [
        model(
            **dict(zip(names, values, strict=True)),
            algorithm_version=derivations.ALGORITHM_VERSION,
            computed_at=computed_at,
        )
        for values in zip(*columns.values(), strict=True)
    ]
    model.objects.bulk_create(rows, update_conflicts=True, unique_fields=unique_fields, update_fields=update_fields)


def _orm_upsert(derived: pd.DataFrame, computed_at) -> None:
    columns = {}
    for name in derived.columns:
        values = derived[name].to_numpy(dtype=object, na_value=None)
        if name in _TEXT:
            values = ["" if value is None else value for value in values]
        elif name in _FLAGS:
            values = [bool(value) for value in values]  # None (missing) -> False
        columns[name] = values
    _bulk_upsert(
        DerivedDay,
        columns,
        unique_fields=["patient", "study_day"],
        update_fields=_UPDATE_FIELDS,
        computed_at=computed_at,
    )


def write(derived: pd.DataFrame, computed_at) -> None:
    """One upsert of every row (missing text as "", missing flags as False: the model's blanks)."""
    if connection.vendor == "postgresql" and len(derived) >= COPY_MIN_ROWS:
        _copy_upsert(derived, computed_at)
    elif len(derived):
        _orm_upsert(derived, computed_at)


def write_courses(course: pd.DataFrame, computed_at) -> None:
    """One upsert of the patients' course rows (a few thousand at most per batch: the ORM's bulk upsert)."""
    _bulk_upsert(
        DerivedCourse,
        {name: course[name].to_numpy(dtype=object, na_value=None) for name in courses.COURSE_COLUMNS},
        unique_fields=["patient"],
        update_fields=[*_COURSE_WRITTEN, "algorithm_version", "computed_at"],
        computed_at=computed_at,
    )


def _changed(patients: pd.DataFrame, digests: pd.Series) -> np.ndarray:
    """Which patients of the batch need their rows rewritten: no stamp, another algorithm version or another
    digest (a value changed, or the number of days did: the follow-up was changed)."""
    other_version = patients["stamp_version"].ne(derivations.ALGORITHM_VERSION).to_numpy()
    other_digest = patients["stamp_digest"].ne(digests.to_numpy()).fillna(True).to_numpy(dtype=bool)
    return other_version | other_digest


def _stamp(digests: pd.Series, changed: np.ndarray, derived_at) -> None:
    """Record the derivation of the batch: the unchanged patients' stamps only move ``derived_at`` (one UPDATE);
    the changed ones get their new digest and version (one upsert)."""
    if not changed.all():
        unchanged = digests.index[~changed].tolist()
        PatientDerivation.objects.filter(of_patients(unchanged)).update(derived_at=derived_at)
    if changed.any():
        stamps = [
            PatientDerivation(
                patient_id=patient_id,
                algorithm_version=derivations.ALGORITHM_VERSION,
                digest=digest,
                derived_at=derived_at,
            )
            for patient_id, digest in zip(digests.index[changed].tolist(), digests[changed].tolist(), strict=True)
        ]
        PatientDerivation.objects.bulk_create(
            stamps,
            update_conflicts=True,
            unique_fields=["patient"],
            update_fields=["algorithm_version", "digest", "derived_at"],
        )


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a run turns fetched tuples into columns (~100,000 per batch).

    Those allocations trigger full collections that walk every object of the process (three quarters of the
    time of building the columns, measured); they create no reference cycles, so nothing is left uncollected.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _serialise(study: Study) -> None:
    """Take the study's derivation lock until the end of the transaction (PostgreSQL; SQLite serialises every
    write anyway): no two derivations of one study store at the same time."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [DERIVE_LOCK_CLASS, study.pk])


def _rederived(patients: pd.DataFrame) -> np.ndarray:
    """Which patients of the batch another derivation stored since their stamps were read (under the study's
    derivation lock). It read their sources later than this one did: its rows must not be overwritten."""
    queryset = PatientDerivation.objects.filter(of_patients(patients["patient_id"].tolist())).annotate(
        at=_text("derived_at")
    )
    stored = patients["patient_id"].map(dict(read_rows(queryset, ("patient_id", "at"))))
    read = patients["stamp_at"]
    return ((stored.isna() != read.isna()) | (stored.notna() & stored.ne(read))).to_numpy(dtype=bool)


def _store(study: Study, read: _Read, *, force: bool) -> DeriveSummary:
    """Compute the batch (outside the transaction), then store in one transaction the rows of the patients whose
    rows changed and the stamps of all, except the patients another derivation stored since the read (theirs are
    fresher)."""
    patients = read.patients
    ids = patients["patient_id"].to_numpy(dtype=np.int64)
    if not len(ids):
        return DeriveSummary()
    derived = compute(study, patients, read.inputs)
    course = compute_courses(study, patients, read.inputs)
    digests = patient_digests(derived, course)  # in the order of ids: derive keeps the grid's order
    with transaction.atomic():
        ensure_unlocked(study)
        _serialise(study)
        current = ~_rederived(patients)
        changed = current if force else current & _changed(patients, digests)
        now = timezone.now()
        deleted = 0
        if changed.any():
            changed_ids = ids[changed]
            if not changed.all():
                derived = derived.loc[derived["patient_id"].isin(changed_ids)]
            write(derived, now)
            write_courses(course.loc[changed], now)
            # Days beyond the grid (the follow-up was shortened, a day was renumbered) are no longer derived.
            deleted, _ = (
                DerivedDay.objects.filter(of_patients(changed_ids))
                .exclude(study_day__gte=0, study_day__lte=study.follow_up_days)
                .delete()
            )
        _stamp(digests[current], changed[current], now)
    days = study.follow_up_days + 1
    return DeriveSummary(patients=len(ids), rows=len(ids) * days, written=int(changed.sum()) * days, deleted=deleted)


def pipelined(batches: Sequence[T], read: Callable[[T], R], store: Callable[[R], S]) -> Iterator[S]:
    """``store(read(batch))`` for each batch in order, batch k+1 being read (on PostgreSQL, on a second connection)
    while batch k is stored; the cyclic garbage collector paused meanwhile. Also the rule job's loop
    (cleaning/rule_job.py)."""
    if not batches:
        return
    with gc_paused(), _reader(len(batches)) as reader:
        reading = reader.submit(read, batches[0])
        for following in [*batches[1:], None]:
            done = reading.result()
            if following is not None:
                reading = reader.submit(read, following)
            yield store(done)


def _derive_batches(study: Study, batches: Sequence[Sequence[int]], *, force: bool) -> DeriveSummary:
    """Read, compute and store the batches in order, batch k+1 being read while batch k is computed and stored."""
    summary = DeriveSummary()
    for stored in pipelined(batches, partial(read_batch, study), partial(_store, study, force=force)):
        summary.add(stored)
    return summary


def derive_batch(study: Study, patient_ids: Sequence[int], *, force: bool = False) -> DeriveSummary:
    """Derive the patient-days of ``patient_ids`` (those of ``study``); store what changed in one transaction.

    ``force`` rewrites every row even where the stored digest says it is unchanged.
    Refuses (StudyLocked) while the study is locked: the derived data are frozen with the release (clinical definitions
    §5).
    """
    return _derive_batches(study, [patient_ids], force=force)


def derive_patient(patient_id: int, *, force: bool = False) -> DeriveSummary:
    """Recompute one patient (after a save of one of its sources). Unknown patient: nothing to do."""
    patient = Patient.objects.select_related("study").filter(pk=patient_id).first()
    if patient is None:
        return DeriveSummary()
    return derive_batch(patient.study, [patient.pk], force=force)


def derive_study(study: Study, *, batch_patients: int = BATCH_PATIENTS, force: bool = False) -> DeriveSummary:
    """Recompute every patient of ``study``, ``batch_patients`` per transaction (memory stays bounded)."""
    ensure_unlocked(study)
    ids = list(Patient.objects.filter(study=study).order_by("pk").values_list("pk", flat=True))
    summary = _derive_batches(
        study, [ids[start : start + batch_patients] for start in range(0, len(ids), batch_patients)], force=force
    )
    summary.studies = 1
    return summary


def derive_all(studies: Iterable[Study] | None = None, *, force: bool = False) -> DeriveSummary:
    """The nightly run: every study (or ``studies``); a locked study is skipped and named in the summary."""
    summary = DeriveSummary()
    for study in studies if studies is not None else Study.objects.order_by("code"):
        try:
            summary.add(derive_study(study, force=force))
        except StudyLocked:
            logger.info("derivation skipped: study %s is locked", study.code)
            summary.skipped_locked.append(study.code)
    return summary
