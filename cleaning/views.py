"""Pages of the queries: the study's list, one query with its thread and actions, raising a new one. Thin: they
parse, call a selector or a service, and render; a refusal of the service comes back next to its field."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import HttpResponseBadRequest, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from cleaning import selectors, services
from cleaning.forms import AnswerForm, FilterForm, MessageForm, QueryForm
from cleaning.models import QueryStatus
from cleaning.values import field_label
from cohorts import roles, submissions
from cohorts import selectors as cohort_selectors
from cohorts.paging import CountedPaginator
from cohorts.querystring import query_number
from ecrf import selectors as ecrf_selectors
from ecrf.crfs import CATALOGUE

PAGE_SIZE = 50


@roles.role_required(roles.PATIENT_READERS)
def query_list(request, study_code: str):
    """The study's queries at the user's sites, with filters, days open and the figures per site."""
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    filter_form = FilterForm(request.GET or None)
    filters = filter_form.filters() if request.GET else selectors.QueryFilters()
    metrics = selectors.query_metrics(user=request.user, study=study)
    queries = selectors.query_list(user=request.user, study=study, filters=filters)
    # Without filters the list holds every query the figures count: no second count of the study's queries.
    if filters == selectors.QueryFilters():
        paginator = CountedPaginator(queries, PAGE_SIZE, count=metrics.total)
    else:
        paginator = Paginator(queries, PAGE_SIZE)
    page = paginator.get_page(request.GET.get("page"))
    return render(
        request,
        "cleaning/query_list.html",
        {
            "study": study,
            "page": page,
            "filter_form": filter_form,
            "sites": cohort_selectors.study_site_list(user=request.user, study=study),
            "metrics": metrics,
            "querystring": _without_page(request),
            "rule_run": selectors.last_rule_run(study=study),
            "may_run_rules": roles.has_study_role(request.user, study, roles.QUERY_CLOSERS) and not study.is_locked,
        },
    )


@roles.role_required(roles.QUERY_CLOSERS)
@require_POST
def rules_run(request, study_code: str):
    """Queue a run of the data-quality rules over the study (monitors and data managers). The button
    (templates/cleaning/_rule_run.html) may sit on any page of the study: it posts here with that page as ``next``,
    and comes back to it (to the query list without one)."""
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    try:
        services.rules_request(study=study, user=request.user)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, _("Data-quality rules queued: their queries and counts appear when they have run."))
    back = request.POST.get("next", "")
    if _page_of_study(back, study, request):
        return HttpResponseRedirect(back)
    return redirect("query_list", study.code)


def _page_of_study(url: str, study, request) -> bool:
    """Whether ``url`` is a page of this study on this site (the only place the button sends the user back to)."""
    return (
        url.startswith(f"/studies/{study.code}/")
        and url.isprintable()
        and url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}, require_https=request.is_secure())
    )


def _without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


#: The actions of the query page: form class, service, who may, the message after success.
ACTIONS = {
    "answer": (AnswerForm, services.query_answer, roles.QUERY_ANSWERERS, gettext_lazy("Answer sent.")),
    "comment": (
        MessageForm,
        services.query_comment,
        roles.QUERY_RAISERS | roles.QUERY_ANSWERERS,
        gettext_lazy("Comment added."),
    ),
    "close": (MessageForm, services.query_close, roles.QUERY_CLOSERS, gettext_lazy("Query closed.")),
    "reopen": (MessageForm, services.query_reopen, roles.QUERY_CLOSERS, gettext_lazy("Query reopened.")),
}


def _allowed_actions(user, query) -> list[str]:
    """The actions the page offers this user for this query in its status."""
    if query.study.is_locked:
        return []
    held = roles.study_roles(user, query.study, query.patient.site)
    by_status = {
        QueryStatus.OPEN: ["answer", "comment", "close"],
        QueryStatus.ANSWERED: ["comment", "close"],
        QueryStatus.CLOSED: ["reopen"],
    }[query.status]
    return [name for name in by_status if held & ACTIONS[name][2]]


@roles.role_required(roles.PATIENT_READERS)
def query_detail(request, pk: int):
    """One query: what it is about (with links to the entry page and the audit trail), its thread, and the
    actions of the user's role in its status (answer, comment, close, reopen)."""
    query = selectors.query_get(user=request.user, pk=pk)
    forms = {name: ACTIONS[name][0](prefix=name) for name in _allowed_actions(request.user, query)}
    if request.method == "POST":
        name = request.POST.get("action", "")
        if name not in ACTIONS:
            return HttpResponseBadRequest(_("Unknown action."))
        form_class, service, allowed, done = ACTIONS[name]
        if not roles.has_study_role(request.user, query.study, allowed, site=query.patient.site):
            raise PermissionDenied(f"Your role at this patient's site cannot {name} a query.")
        form = form_class(request.POST, prefix=name)
        if form.is_valid():
            try:
                service(query=query, user=request.user, **form.cleaned_data)
            except ValidationError as exc:
                form.place(exc)
            else:
                messages.success(request, done)
                return redirect("query_detail", pk=query.pk)
        forms[name] = form
    return render(
        request,
        "cleaning/query_detail.html",
        {
            "query": query,
            "thread": selectors.thread(query),
            "forms": forms,
            "crf": CATALOGUE.get(query.form),
            "field_label": field_label(query.form, query.field),
            "entry_url": _entry_url(query),
            "days_open": selectors.days_open(query),
        },
    )


def _entry_url(query) -> str | None:
    """The page where the data of the query are entered (the day page, or the record of a repeating form)."""
    if not query.form:
        return reverse("casebook", args=[query.patient_id])
    crf = CATALOGUE[query.form]
    if crf.per_day:
        url = reverse("day_entry", args=[query.patient_id, query.study_day])
        return f"{url}#id_{crf.key}-{query.field}" if query.field else url
    if query.record_id is not None:
        return reverse("event_edit", args=[query.patient_id, crf.slug, query.record_id])
    return reverse("casebook", args=[query.patient_id]) + f"#day-{query.study_day}"


@roles.role_required(roles.QUERY_RAISERS)
def query_new(request, patient_pk: int):
    """Raise a query about a patient, a day, a form, a field (prefilled from the address: ?day=&form=&field=)."""
    patient = ecrf_selectors.patient_get(user=request.user, pk=patient_pk)
    if not roles.has_study_role(request.user, patient.study, roles.QUERY_RAISERS, site=patient.site):
        raise PermissionDenied("Your role at this patient's site cannot raise queries.")
    assignees = selectors.assignee_choices(patient)
    if request.method == "POST":
        if done := submissions.repeated(request):
            return submissions.already_submitted(request, _after_new(patient, done.obj))
        form = QueryForm(request.POST, assignees=assignees)
        if form.is_valid():
            data = form.cleaned_data
            try:
                outcome = submissions.submit_once(
                    request,
                    lambda: services.query_open(
                        patient=patient,
                        study_day=data["study_day"],
                        form=data["form"],
                        field=data["field"],
                        record_id=data["record_id"],
                        assignee=data["assignee"],
                        text=data["text"],
                        user=request.user,
                    ),
                )
            except ValidationError as exc:
                form.place(exc)
            else:
                if outcome.repeated:
                    return submissions.already_submitted(request, _after_new(patient, outcome.obj))
                messages.success(request, _("Query #%(pk)s raised.") % {"pk": outcome.obj.pk})
                return redirect("query_detail", pk=outcome.obj.pk)
    else:
        initial = {key: request.GET.get(key, "") for key in ("form", "field")}
        initial["study_day"] = query_number(request.GET.get("day", ""))
        initial["record_id"] = query_number(request.GET.get("record", ""))
        form = QueryForm(initial=initial, assignees=assignees)
    return render(
        request,
        "cleaning/query_new.html",
        {"patient": patient, "form": form, "submission_token": submissions.page_token(request)},
    )


def _after_new(patient, query) -> str:
    return reverse("query_detail", args=[query.pk]) if query is not None else reverse("casebook", args=[patient.pk])
