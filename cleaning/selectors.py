"""Every read of queries and signatures a page needs, scoped to the user's studies and sites (another site's query
is a 404), and the release's rows of the source data verification marks."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Aggregate, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from cleaning import signature_state, signatures
from cleaning.models import Query, QueryStatus, RuleRun, Signature, SourceVerification
from cohorts import roles
from cohorts.models import Patient, RoleAssignment, Study


def _scoped(user) -> QuerySet[Query]:
    return Query.objects.filter(roles.scope(user, roles.PATIENT_READERS, study="study", site="site"))


@dataclass(frozen=True)
class QueryFilters:
    """The query list's filters (each optional); values come from the list's filter form."""

    site: str = ""
    status: str = ""
    origin: str = ""
    form: str = ""
    patient: str = ""  # participant id
    day: int | None = None
    mine: bool = False  # assigned to the user


def query_list(*, user, study: Study, filters: QueryFilters = QueryFilters()) -> QuerySet[Query]:
    """The study's queries at the user's sites, newest first, with what the list shows (one query)."""
    queries = _scoped(user).filter(study=study).select_related("patient", "site", "assignee", "opened_by")
    if filters.site:
        queries = queries.filter(site__code=filters.site)
    if filters.status == "changed":
        queries = queries.filter(changed_after_close=True)
    elif filters.status == "waiting":
        queries = queries.filter(status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED])
    elif filters.status:
        queries = queries.filter(status=filters.status)
    if filters.origin:
        queries = queries.filter(origin=filters.origin)
    if filters.form:
        queries = queries.filter(form=filters.form)
    if filters.patient:
        queries = queries.filter(patient__participant_id=filters.patient)
    if filters.day is not None:
        queries = queries.filter(study_day=filters.day)
    if filters.mine:
        queries = queries.filter(assignee=user)
    return queries.order_by("-opened_at", "-pk")


def query_get(*, user, pk: int) -> Query:
    """One query at the user's sites, with its thread's authors; another site's or study's query is a 404."""
    try:
        return (
            _scoped(user).select_related("study", "patient__site", "patient__study", "assignee", "opened_by").get(pk=pk)
        )
    except (Query.DoesNotExist, ValueError, TypeError):
        raise Http404("No such query at your sites.") from None


def thread(query: Query):
    return query.messages.select_related("author").order_by("created_at", "pk")


@dataclass(frozen=True)
class Metrics:
    """The list's figures over the study's queries at the user's sites (whatever the filters)."""

    by_site: list[dict]  # {"site": code, "open": n, "answered": n, "closed": n}
    median_days_to_close: float | None
    total: int


def query_metrics(*, user, study: Study) -> Metrics:
    """Queries per site and status (one aggregate query) and the median days from raising to closing."""
    queries = _scoped(user).filter(study=study)
    rows = list(
        queries.values("site__code")
        .annotate(
            open=Count("pk", filter=Q(status=QueryStatus.OPEN)),
            answered=Count("pk", filter=Q(status=QueryStatus.ANSWERED)),
            closed=Count("pk", filter=Q(status=QueryStatus.CLOSED)),
        )
        .order_by("site__code")
    )
    by_site = [{"site": r["site__code"], **{k: r[k] for k in ("open", "answered", "closed")}} for r in rows]
    return Metrics(
        by_site=by_site,
        median_days_to_close=_median_days_to_close(queries.filter(status=QueryStatus.CLOSED)),
        total=sum(r["open"] + r["answered"] + r["closed"] for r in by_site),
    )


class _Median(Aggregate):
    """PostgreSQL's median (percentile_cont(0.5): the mean of the two middle values of an even count)."""

    function = "percentile_cont"
    template = "%(function)s(0.5) WITHIN GROUP (ORDER BY %(expressions)s)"


def _median_days_to_close(closed: QuerySet[Query]) -> float | None:
    """Median days from raising to closing, to 0.1 day: computed by PostgreSQL over however many queries were closed;
    SQLite (the demo's database) has no median, so its spans are read and the median taken here."""
    if connection.vendor == "postgresql":
        span = ExpressionWrapper(F("closed_at") - F("opened_at"), output_field=DurationField())
        median = closed.aggregate(median=_Median(span, output_field=DurationField()))["median"]
        return round(median.total_seconds() / 86400, 1) if median is not None else None
    spans = [(end - start).total_seconds() / 86400 for start, end in closed.values_list("opened_at", "closed_at")]
    return round(statistics.median(spans), 1) if spans else None


def days_open(query: Query, now=None) -> int:
    """Whole days from raising to closing (or to now while not closed)."""
    end = query.closed_at or now or timezone.now()
    return max((end - query.opened_at).days, 0)


def assignee_choices(patient: Patient):
    """The people who may answer a query at the patient's site: data-entry roles of the study there."""
    held = RoleAssignment.objects.filter(
        Q(all_sites=True) | Q(sites=patient.site),
        study=patient.study,
        role__in=sorted(roles.QUERY_ANSWERERS),
        ended_at__isnull=True,
        user__is_active=True,
    ).values("user")
    return get_user_model().objects.filter(pk__in=held).order_by("username")


def release_rows(*, patients: QuerySet[Patient]) -> list[tuple]:
    """One row per query of these patients, for the locked release's ``data/queries`` (one query): what it was
    about, where it came from, its status and answer, and when it was raised, answered and closed (UTC, ISO 8601).
    No names of people: the release carries no personal data of the study team."""
    rows = (
        Query.objects.filter(patient__in=patients)
        .order_by("pk")
        .values_list(
            "pk",
            "patient__participant_id",
            "study_day",
            "form",
            "field",
            "origin",
            "rule",
            "status",
            "answer_code",
            "opened_at",
            "answered_at",
            "closed_at",
            "closed_by",
            "changed_after_close",
        )
    )
    return [
        (
            *row[:9],
            *(moment.isoformat() if moment else None for moment in row[9:12]),
            row[11] is not None and row[12] is None,  # closed by the system (a rule's condition cleared)
            row[13],
        )
        for row in rows
    ]


def waiting_counts(*, study: Study) -> dict[str, int]:
    """The study's queries still waiting, for the lock page: {"open": n, "answered": n} (one query)."""
    counts = Query.objects.filter(study=study).aggregate(
        open=Count("pk", filter=Q(status=QueryStatus.OPEN)),
        answered=Count("pk", filter=Q(status=QueryStatus.ANSWERED)),
    )
    return {key: value or 0 for key, value in counts.items()}


def waiting_participants(*, study: Study) -> list[str]:
    """The participants with a query open or answered, in order (for the lock's checklist)."""
    return list(
        Query.objects.filter(study=study, status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED])
        .order_by("patient__participant_id")
        .values_list("patient__participant_id", flat=True)
        .distinct()
    )


# ------------------------------------------------------------------------------------------------ signatures


def patient_signatures(patient: Patient) -> list[Signature]:
    """Every signature of the patient, oldest first, with who broke them (one query); the caller has the patient
    through a site-scoped selector."""
    return list(Signature.objects.filter(patient=patient).select_related("broken_by").order_by("signed_at", "pk"))


def intact_signatures(patient: Patient, study_day: int | None = None) -> list[Signature]:
    """The patient's signatures in force and not broken that a change of ``study_day`` would break (any day when
    None), for the notice of the entry pages (one query)."""
    in_force = signature_state.current(Signature.objects.filter(patient=patient))
    if study_day is not None:
        day = signatures.casebook_day(study_day, patient.study.follow_up_days)
        in_force = [signature for signature in in_force if signature.covers(day)]
    return [signature for signature in in_force if not signature.is_broken]


@dataclass(frozen=True)
class SignatureRow:
    """One patient of the signatures list: its state and its signatures not superseded (oldest first)."""

    patient: Patient
    state: str
    current: list[Signature]


def signature_rows(patients: Iterable[Patient]) -> list[SignatureRow]:
    """These patients (a page of the signatures list) with the state of their signatures (one query)."""
    patients = list(patients)
    by_patient: dict[int, list[Signature]] = defaultdict(list)
    for signature in Signature.objects.filter(patient__in=[p.pk for p in patients]).order_by("signed_at", "pk"):
        by_patient[signature.patient_id].append(signature)
    rows = []
    for patient in patients:
        every = by_patient[patient.pk]
        rows.append(SignatureRow(patient, signature_state.state(every), signature_state.current(every)))
    return rows


def signature_release_rows(*, patients: QuerySet[Patient]) -> list[tuple]:
    """One row per signature of these patients, broken ones too, for the locked release's ``data/signatures``
    (one query): the range, the printed name, when (UTC, ISO 8601), the meaning, the SHA-256 of the signed data
    and when a later change broke it. The printed name is part of the signature (21 CFR Part 11 §11.50)."""
    rows = (
        Signature.objects.filter(patient__in=patients)
        .order_by("patient__participant_id", "signed_at", "pk")
        .values_list(
            "patient__participant_id",
            "first_day",
            "last_day",
            "printed_name",
            "signed_at",
            "meaning",
            "data_sha256",
            "broken_at",
        )
    )
    return [(*row[:4], row[4].isoformat(), row[5], row[6], row[7].isoformat() if row[7] else None) for row in rows]


def sdv_release_rows(*, patients: QuerySet[Patient]) -> list[tuple]:
    """One row per source data verification mark of these patients, changed ones too, for the locked release's
    ``data/source_verifications`` (one query): the form and record, its study day when verified, the scope (critical
    fields or all), the verified fields (joined with ";"), the SHA-256 of their values, when it was verified (UTC,
    ISO 8601) and when a later change altered them. No monitor's name or user id, no free text."""
    rows = (
        SourceVerification.objects.filter(patient__in=patients)
        .order_by("patient__participant_id", "form", "study_day", "record_id")
        .values_list(
            "patient__participant_id",
            "form",
            "record_id",
            "study_day",
            "scope",
            "fields",
            "data_sha256",
            "verified_at",
            "changed_at",
        )
    )
    return [
        (
            *row[:5],
            ";".join(row[5] or []),
            row[6],
            row[7].isoformat(),
            row[8].isoformat() if row[8] else None,
        )
        for row in rows
    ]


def last_rule_run(*, study: Study) -> RuleRun | None:
    """The study's latest run of the data-quality rules (queued, running or finished), or None."""
    return RuleRun.objects.filter(study=study).select_related("requested_by").order_by("-created_at", "-pk").first()
