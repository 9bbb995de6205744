"""Every read of queries a page needs, scoped to the user's studies and sites (another site's query is a 404)."""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.http import Http404
from django.utils import timezone

from cleaning.models import Query, QueryStatus, RuleRun
from cohorts import roles
from cohorts.models import Patient, RoleAssignment, Study


def _scoped(user) -> QuerySet[Query]:
    return Query.objects.filter(roles.scope(user, roles.PATIENT_READERS, study="study", site="patient__site"))


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
    queries = _scoped(user).filter(study=study).select_related("patient__site", "assignee", "opened_by")
    if filters.site:
        queries = queries.filter(patient__site__code=filters.site)
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
        queries.values("patient__site__code")
        .annotate(
            open=Count("pk", filter=Q(status=QueryStatus.OPEN)),
            answered=Count("pk", filter=Q(status=QueryStatus.ANSWERED)),
            closed=Count("pk", filter=Q(status=QueryStatus.CLOSED)),
        )
        .order_by("patient__site__code")
    )
    by_site = [{"site": r["patient__site__code"], **{k: r[k] for k in ("open", "answered", "closed")}} for r in rows]
    spans = [
        (closed - opened).total_seconds() / 86400
        for opened, closed in queries.filter(status=QueryStatus.CLOSED).values_list("opened_at", "closed_at")
    ]
    return Metrics(
        by_site=by_site,
        median_days_to_close=round(statistics.median(spans), 1) if spans else None,
        total=sum(r["open"] + r["answered"] + r["closed"] for r in by_site),
    )


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


def last_rule_run(*, study: Study) -> RuleRun | None:
    """The study's latest run of the data-quality rules (queued, running or finished), or None."""
    return RuleRun.objects.filter(study=study).select_related("requested_by").order_by("-created_at", "-pk").first()
