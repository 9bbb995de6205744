"""The data-quality rule job (issue 15; the rules themselves: cleaning/rules.py): read a study's records set-based,
find the rules' hits, and reconcile them with the study's automatic queries, one transaction per batch.

Like the derivation job (ecrf/derivation_job.py, whose reader it uses), a batch of patients is read with a fixed
number of queries: one for the patients, one per form of the catalogue, executed on a plain cursor into columns
(no model instance per record). The hits are found by pure vectorised functions. Then, in one transaction: the
lock check (a locked study is skipped), the study's rule lock (PostgreSQL advisory lock: runs of one study
reconcile one batch at a time), one read of the batch's automatic queries, and only then the writes:

- a hit without a query opens one (origin rule, its rule code, day, form, field, the value and a text naming it),
  with its 'raised' message;
- a hit whose query the system closed reopens it (message 'reopened by the system');
- a hit whose query a person closed leaves it closed: a monitor accepted the value, it is never raised again;
- an open or answered automatic query whose condition no longer holds is closed by the system (no ``closed_by``,
  message 'closed by the system' saying the condition cleared).

Every query written gets its history row (simple-history's bulk helpers) and every transition its message, in bulk.
A rerun over unchanged data finds every hit's query in place and writes nothing. A worker killed mid-run leaves each
batch reconciled or untouched, never half; the rerun (acks_late) picks up where it was.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Any

import numpy as np
import pandas as pd
from django.db import connection, models, transaction
from django.db.models import BooleanField, Case, Exists, F, FloatField, OuterRef, TextField, Value, When
from django.db.models.functions import Cast
from django.utils import timezone, translation
from simple_history.utils import bulk_create_with_history, bulk_update_with_history

from cleaning import rules, status_receivers
from cleaning.models import (
    SDV_CHANGED_RULE,
    MessageKind,
    Query,
    QueryMessage,
    QueryOrigin,
    QueryStatus,
)
from cleaning.transitions import closed, reopened
from cohorts.audit import ensure_unlocked
from cohorts.clock import default_time_zone, site_today
from cohorts.languages import STORED_LANGUAGE
from cohorts.models import Arm, Patient, Site, Study
from ecrf.crfs import CATALOGUE, Crf
from ecrf.derivation_job import columns_frame, of_patients, pipelined, read_rows, with_times

#: Patients per transaction of a whole-study run (~42,000 patient-days with a 21-day follow-up).
BATCH_PATIENTS = 2000
#: First key of the study's rule lock (pg_advisory_xact_lock(RULES_LOCK_CLASS, study id)).
RULES_LOCK_CLASS = 0x5E7E


@dataclass
class RuleSummary:
    """What a run found and wrote."""

    patients: int = 0
    hits: int = 0  # conditions found: one per query key (its query open, or closed by a person)
    opened: int = 0
    reopened: int = 0
    closed: int = 0
    skipped_locked: list[str] = field(default_factory=list)

    def add(self, other: RuleSummary) -> None:
        for name in ("patients", "hits", "opened", "reopened", "closed"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.skipped_locked += other.skipped_locked

    @property
    def written(self) -> int:
        return self.opened + self.reopened + self.closed

    def as_dict(self) -> dict:
        return {
            "patients": self.patients,
            "hits": self.hits,
            "opened": self.opened,
            "reopened": self.reopened,
            "closed": self.closed,
            "skipped_locked": self.skipped_locked,
        }


# ------------------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class _FormQuery:
    model: type[models.Model]
    annotations: dict[str, Any]
    columns: tuple[str, ...]
    bools: tuple[str, ...]
    times: tuple[str, ...]


def _form_query(crf: Crf) -> _FormQuery:
    """How a form's records are read for the rules: the fields they look at, numbers as floats (``<name>_f``),
    times (``times``, made UTC datetimes after the read), the record's id for a repeating form, its confirmed
    checks as JSON text (NULL for none, the usual case: no string is built for it)."""
    model = crf.model
    annotations: dict[str, Any] = {
        "confirmed": Case(
            When(confirmed_checks=[], then=Value(None)),
            default=Cast("confirmed_checks", TextField()),
            output_field=TextField(),
        )
    }
    columns, bools, times = ["patient_id", "study_day"], [], []
    if not crf.per_day:
        annotations["record_id_f"] = Cast(F("pk"), FloatField())
        columns.append("record_id_f")
    for name in rules.fields_read(crf):
        model_field = model._meta.get_field(name)
        if isinstance(model_field, models.DecimalField | models.IntegerField):
            annotations[f"{name}_f"] = Cast(F(name), FloatField())
            columns.append(f"{name}_f")
        elif name != "study_day":
            columns.append(name)
            if isinstance(model_field, models.BooleanField) and not model_field.null:
                bools.append(name)
            elif isinstance(model_field, models.DateTimeField):
                times.append(name)
    if crf.per_day:  # a form marked not done is present for the missing-form rules, and has no values to check
        annotations["not_done"] = Case(
            When(not_done_reason="", then=Value(False)), default=Value(True), output_field=BooleanField()
        )
        columns.append("not_done")
        bools.append("not_done")
    columns.append("confirmed")
    return _FormQuery(model, annotations, tuple(dict.fromkeys(columns)), tuple(bools), tuple(times))


_FORMS = {key: _form_query(crf) for key, crf in CATALOGUE.items()}


def read_forms(patient_ids: Sequence[int]) -> dict[str, pd.DataFrame]:
    """Every form's records of ``patient_ids``: one query per form; times as UTC datetimes (NaT when not given),
    whatever the database returns for them (SQLite: text or naive datetimes, in UTC)."""
    frames = {}
    for key, form in _FORMS.items():
        queryset = form.model.objects.filter(of_patients(patient_ids)).annotate(**form.annotations)
        frame = with_times(columns_frame(read_rows(queryset, form.columns), form.columns, form.bools), form.times)
        frames[key] = frame.rename(columns={"confirmed": "confirmed_checks"})
    return frames


@dataclass(frozen=True)
class StudyContext:
    """What a run reads once: the study, its sites' dates today, names and time zones, its arms' regimens."""

    study: Study
    today: Mapping[int, datetime.date]  # site id -> the date at the site
    site_names: Mapping[int, str]
    regimens: Mapping[int, tuple]
    zones: Mapping[int, str] = field(default_factory=dict)  # site id -> its IANA time zone (cohorts.clock)

    @classmethod
    def of(cls, study: Study) -> StudyContext:
        sites = Site.objects.filter(pk__in=Patient.objects.filter(study=study).values("site_id"))
        arms = Arm.objects.filter(study=study).values_list("pk", "regimen")
        now = timezone.now()
        return cls(
            study=study,
            today={site.pk: site_today(site, now) for site in sites},
            site_names={site.pk: site.name for site in sites},
            regimens={pk: tuple(regimen or ()) for pk, regimen in arms},
            zones={site.pk: site.time_zone or default_time_zone() for site in sites},
        )


_PATIENT_COLUMNS = ("patient_id", "site_id", "arm", "enrolment_date", "weight_kg_f")


def read_patients(context: StudyContext, patient_ids: Sequence[int]) -> pd.DataFrame:
    """The batch's patients of the study, indexed by id, with what the rules know of them (rules.find_hits)."""
    queryset = Patient.objects.filter(of_patients(patient_ids, "pk"), study=context.study).annotate(
        weight_kg_f=Cast(F("weight_kg"), FloatField())
    )
    rows = read_rows(queryset, ["pk", "site_id", "arm_id", "enrolment_date", "weight_kg_f"])
    patients = columns_frame(rows, _PATIENT_COLUMNS).set_index("patient_id")
    enrolled = pd.to_datetime(patients["enrolment_date"]).to_numpy(dtype="datetime64[D]")
    today = patients["site_id"].map(context.today).to_numpy(dtype="datetime64[D]")
    patients["enrolment_date"] = pd.to_datetime(patients["enrolment_date"]).dt.date
    patients["today_day"] = (today - enrolled).astype(np.int64).astype(float)
    patients["follow_up_days"] = context.study.follow_up_days
    patients["site_name"] = patients["site_id"].map(context.site_names)
    patients["time_zone"] = patients["site_id"].map(context.zones).astype(object)
    return patients


@dataclass
class _Read:
    patients: pd.DataFrame
    forms: dict[str, pd.DataFrame]


def read_batch(context: StudyContext, patient_ids: Sequence[int]) -> _Read:
    patients = read_patients(context, patient_ids)
    forms = read_forms(patients.index.tolist())
    # Now is taken after the read: a time entered while the run reads is never "in the future".
    patients["now"] = pd.Timestamp(timezone.now()).tz_convert("UTC")
    return _Read(patients, forms)


# ------------------------------------------------------------------------------------------ reconciling

_EXISTING = (
    "pk",
    "rule",
    "patient_id",
    "study_day",
    "form",
    "field",
    "status",
    "closed_by_person",
    "reopened_by_person",
)


def _existing(context: StudyContext, patient_ids: Sequence[int]) -> pd.DataFrame:
    """The batch's automatic queries: key, status, whether a person closed it and whether a person ever reopened
    it."""
    reopened = QueryMessage.objects.filter(query=OuterRef("pk"), kind=MessageKind.REOPENED, author__isnull=False)
    queryset = (
        Query.objects.filter(of_patients(patient_ids), study=context.study, origin=QueryOrigin.RULE)
        .exclude(rule=SDV_CHANGED_RULE)  # not a data-quality rule: re-verification closes it
        .annotate(
            closed_by_person=Case(When(closed_by__isnull=False, then=Value(1)), default=Value(0)),
            reopened_by_person=Case(When(Exists(reopened), then=Value(1)), default=Value(0)),
        )
    )
    rows = read_rows(queryset, _EXISTING)
    frame = pd.DataFrame(rows, columns=list(_EXISTING))
    return frame.astype(
        {
            "pk": np.int64,
            "patient_id": np.int64,
            "study_day": np.int64,
            "closed_by_person": bool,
            "reopened_by_person": bool,
        }
    )


@dataclass(frozen=True)
class Plan:
    """What a batch's reconciliation writes: new hits, hits whose query reopens, queries that close."""

    new: pd.DataFrame
    reopen: pd.DataFrame
    close: pd.DataFrame


def plan(hits: pd.DataFrame, existing: pd.DataFrame) -> Plan:
    """Compare the hits with the automatic queries by key (pure). A query a person closed is not reopened by a
    returning hit, and one a person reopened is not closed when its condition clears: that person decides."""
    merged = hits.merge(existing, on=list(rules.KEY), how="outer", indicator=True)
    closed = merged["status"].eq(QueryStatus.CLOSED)
    found = merged["_merge"].eq("both")
    return Plan(
        new=merged.loc[merged["_merge"].eq("left_only")],
        reopen=merged.loc[found & closed & ~merged["closed_by_person"].astype(bool)],
        close=merged.loc[merged["_merge"].eq("right_only") & ~closed & ~merged["reopened_by_person"].astype(bool)],
    )


def _texts(rows: pd.DataFrame, read: _Read, context: StudyContext) -> list[tuple[str, str]]:
    return [rules.describe(hit, read.forms, read.patients, context.regimens) for _, hit in rows.iterrows()]


def _open(rows: pd.DataFrame, read: _Read, context: StudyContext, now) -> list[QueryMessage]:
    """New automatic queries for ``rows`` (history rows in bulk) and their 'raised' messages."""
    sites = read.patients.loc[rows["patient_id"].astype(np.int64), "site_id"].to_numpy()
    queries = [
        Query(
            study=context.study,
            patient_id=int(hit["patient_id"]),
            site_id=int(site),
            study_day=int(hit["study_day"]),
            form=hit["form"],
            field=hit["field"],
            record_id=None if np.isnan(hit["record_id"]) else int(hit["record_id"]),
            origin=QueryOrigin.RULE,
            rule=hit["rule"],
            status=QueryStatus.OPEN,
            text=text,
            value_at_open=value[:200],
            opened_at=now,
        )
        for (_, hit), site, (value, text) in zip(rows.iterrows(), sites, _texts(rows, read, context), strict=True)
    ]
    queries = bulk_create_with_history(
        queries, Query, default_change_reason="raised by a data-quality rule", default_date=now
    )
    return [QueryMessage(query=q, kind=MessageKind.OPENED, text=q.text, created_at=now) for q in queries]


def _transition(
    rows: pd.DataFrame, change: Callable[[Query, Any], str], kind: str, reason: str, now
) -> list[QueryMessage]:
    """Apply ``change(query, hit) -> message text`` to the queries of ``rows`` and save them in bulk with their
    history rows (the system as the user, ``reason`` as the reason for change)."""
    if not len(rows):
        return []
    hits = {int(hit["pk"]): hit for _, hit in rows.iterrows()}
    queries = list(Query.objects.filter(pk__in=list(hits)).order_by("pk"))
    messages = [QueryMessage(query=q, kind=kind, text=change(q, hits[q.pk]), created_at=now) for q in queries]
    fields = ["status", "answer_code", "answered_at", "closed_at", "closed_by", "changed_after_close"]
    bulk_update_with_history(queries, Query, fields, default_change_reason=reason, default_date=now)
    return messages


def _store(context: StudyContext, read: _Read, *, on_batch: Callable[[RuleSummary], None] | None) -> RuleSummary:
    """Find the batch's hits (outside the transaction), then reconcile them in one transaction."""
    patient_ids = read.patients.index.tolist()
    if not patient_ids:
        return RuleSummary()
    read.patients = rules.with_disposition_days(read.patients, read.forms["disposition_events"])
    hits = rules.find_hits(
        read.forms, read.patients, context.regimens, settings=context.study.settings.get("derivation", {})
    )
    with transaction.atomic():
        ensure_unlocked(context.study)
        _serialise(context.study)
        todo = plan(hits, _existing(context, patient_ids))
        now = timezone.now()
        messages = _open(todo.new, read, context, now)

        def reopen(query: Query, hit) -> str:
            reopened(query)
            return f"The condition is back: {rules.describe(hit, read.forms, read.patients, context.regimens)[1]}"

        def close(query: Query, hit) -> str:
            closed(query, at=now)
            return rules.cleared_text(query.rule)

        messages += _transition(
            todo.reopen, reopen, MessageKind.REOPENED_BY_SYSTEM, "reopened by the system: the condition is back", now
        )
        messages += _transition(
            todo.close, close, MessageKind.CLOSED_BY_SYSTEM, "closed by the system: the condition cleared", now
        )
        QueryMessage.objects.bulk_create(messages)
        # Bulk writes send no signal: the record status counts of the patients whose queries changed follow here.
        status_receivers.refresh_after_commit(
            {*todo.new["patient_id"], *todo.reopen["patient_id"], *todo.close["patient_id"]}
        )
        summary = RuleSummary(
            patients=len(patient_ids),
            hits=len(hits),
            opened=len(todo.new),
            reopened=len(todo.reopen),
            closed=len(todo.close),
        )
        if on_batch is not None:
            on_batch(summary)
    return summary


def _serialise(study: Study) -> None:
    """The study's rule lock until the end of the transaction (PostgreSQL; SQLite serialises every write anyway):
    two runs of one study never reconcile the same batch at once (they would both open its new queries)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [RULES_LOCK_CLASS, study.pk])


# ------------------------------------------------------------------------------------------ runs


def run_batches(
    context: StudyContext, batches: Sequence[Sequence[int]], *, on_batch: Callable[[RuleSummary], None] | None = None
) -> RuleSummary:
    """Read, check and reconcile the batches in order (the next one read while one is reconciled)."""
    summary = RuleSummary()
    # The queries' texts and messages are stored: in the stored language, whoever asked for the run.
    with translation.override(STORED_LANGUAGE):
        for stored in pipelined(batches, partial(read_batch, context), partial(_store, context, on_batch=on_batch)):
            summary.add(stored)
    return summary


def run_study(
    study: Study,
    *,
    batch_patients: int = BATCH_PATIENTS,
    on_batch: Callable[[RuleSummary], None] | None = None,
) -> RuleSummary:
    """Every patient of ``study``, ``batch_patients`` per transaction; ``on_batch(summary)`` is called inside each
    batch's transaction. Refuses a locked study (StudyLocked): its data and queries are frozen."""
    ensure_unlocked(study)
    ids = list(Patient.objects.filter(study=study).order_by("pk").values_list("pk", flat=True))
    batches = [ids[start : start + batch_patients] for start in range(0, len(ids), batch_patients)]
    return run_batches(StudyContext.of(study), batches, on_batch=on_batch)


def run_patient(patient_id: int) -> RuleSummary:
    """One patient (a fixed, small number of queries); an unknown patient: nothing to do."""
    patient = Patient.objects.select_related("study").filter(pk=patient_id).first()
    if patient is None:
        return RuleSummary()
    ensure_unlocked(patient.study)
    return run_batches(StudyContext.of(patient.study), [[patient.pk]])
