"""Thin views: parse, call a selector or service, render (docs/architecture.md)."""

from django.apps import apps
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from cohorts import enrolment, regimens, roles, selectors, services, setup, submissions
from cohorts.eligibility.engine import get_rule_set
from cohorts.forms import (
    ArmSetupForm,
    EnrolmentForm,
    ScreeningForm,
    SiteSetupForm,
    StudySetupForm,
    enrolment_refusal,
    place_setup_errors,
    regimen_data,
    regimen_formset,
)
from cohorts.history import history_rows
from cohorts.models import Patient
from cohorts.querystring import query_number


@login_required
def home(request):
    studies = list(selectors.study_list(user=request.user).order_by("code"))
    for study in studies:
        study.user_roles = roles.study_roles(request.user, study)
    return render(request, "home.html", {"studies": studies})


def _history_scope(label: str) -> tuple[type, bool] | None:
    """The audited model at ``label`` ("app.model") and whether it is the patient itself, when its history
    page exists: the patient, or a record of a patient (a ``patient`` foreign key), with an audit trail. None
    for anything else. Read from the models, so a new form of ecrf has its history page with no entry here."""
    try:
        model_class = apps.get_model(label)
    except (LookupError, ValueError):
        return None
    if not hasattr(model_class, "history"):
        return None
    if model_class is Patient:
        return model_class, True
    field = next((f for f in model_class._meta.get_fields() if f.name == "patient"), None)
    if field is None or getattr(field, "related_model", None) is not Patient:
        return None
    return model_class, False


def _one_per_day(model_class) -> bool:
    """A one-per-day form (unique per patient and study day): its history links back to the day's page too."""
    return any(tuple(getattr(c, "fields", ())) == ("patient", "study_day") for c in model_class._meta.constraints)


@roles.role_required(roles.PATIENT_READERS)
def record_history(request, model: str, pk: int):
    scope = _history_scope(model)
    if scope is None:
        raise Http404("No history for this kind of record.")
    model_class, is_patient = scope
    patients = selectors.patient_list(user=request.user)
    rows = model_class.history.filter(id=pk).select_related("history_user").order_by("history_date", "history_id")
    if not rows:
        raise Http404("No such record.")
    latest = rows[len(rows) - 1]
    patient_pk = latest.id if is_patient else latest.patient_id
    patient = patients.filter(pk=patient_pk).first()
    if patient is None:
        raise Http404("No such record at your sites.")
    return render(
        request,
        "history.html",
        {
            "patient": patient,
            "model_name": _("baseline") if is_patient else model_class._meta.verbose_name,
            "study_day": getattr(latest, "study_day", None),
            "day_form": _one_per_day(model_class),
            "rows": history_rows(list(rows)),
        },
    )


# --------------------------------------------------------------------------------------------
# Screening log and enrolment (clinical definitions §1.3)
# --------------------------------------------------------------------------------------------


def add_service_error(form, error: ValidationError) -> None:
    """A service's refusal on the form: on its field when the form has that field, else above the form."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error)
        return
    for name, errors in error.error_dict.items():
        if name in form.fields:
            form.add_error(name, errors)
        else:
            for e in errors:
                form.add_error(None, ValidationError(f"{name}: {' '.join(e.messages)}", code=e.code))


@roles.role_required(roles.SCREENING_READERS)
def screening_log(request, study_code: str):
    study = selectors.study_get(user=request.user, code=study_code)
    sites = selectors.study_site_list(user=request.user, study=study, allowed=roles.SCREENING_READERS)
    site = next((s for s in sites if s.code == request.GET.get("site")), None)
    counts = selectors.consort_counts(user=request.user, study=study, site=site)
    number = request.GET.get("page")
    page = selectors.screening_log_page(
        user=request.user, study=study, site=site, number=number, total=counts["screenings"]
    )
    return render(
        request,
        "cohorts/screening_log.html",
        {
            "study": study,
            "sites": sites,
            "site": site,
            "page": page,
            "counts": counts,
            "can_screen": roles.has_study_role(request.user, study, roles.SCREENERS),
        },
    )


@roles.role_required(roles.SCREENERS)
def screening_create(request, study_code: str):
    study = selectors.study_get(user=request.user, code=study_code)
    if done := submissions.repeated(request):
        return _screening_submitted(request, study, done)
    as_screen_failure = request.POST.get("action") == "screen_failure"
    form = ScreeningForm(request.POST or None, study=study, user=request.user, as_screen_failure=as_screen_failure)
    rescreen = query_number(request.GET.get("rescreen", ""))
    if not form.is_bound and rescreen is not None:
        previous = selectors.rescreen_candidates(user=request.user, study=study).filter(pk=rescreen).first()
        if previous is not None:
            form.initial_from(previous)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            outcome = submissions.submit_once(
                request,
                lambda: services.screening_create(
                    study=study,
                    site=data["site"],
                    assessed_at=data["assessed_at"],
                    values=form.values,
                    entered_units=form.entered_units,
                    user=request.user,
                    rescreen_of=data.get("rescreen_of"),
                    as_screen_failure=as_screen_failure,
                ),
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if outcome.repeated:
                return _screening_submitted(request, study, outcome)
            screening = outcome.obj
            if screening.eligible:
                saved = _("Screening %(number)s saved to the screening log: eligible.")
            else:
                saved = _("Screening %(number)s saved to the screening log: not eligible.")
            messages.success(request, saved % {"number": screening.number})
            return redirect("screening_detail", study.code, screening.pk)
    return render(
        request,
        "cohorts/screening_form.html",
        {"study": study, "form": form, "submission_token": submissions.page_token(request)},
    )


def _screening_submitted(request, study, outcome: submissions.Outcome):
    """A screening form sent again: to the screening its first submission saved (else the log)."""
    if outcome.obj is not None:
        return submissions.already_submitted(request, reverse("screening_detail", args=[study.code, outcome.obj.pk]))
    return submissions.already_submitted(request, reverse("screening_log", args=[study.code]))


@require_POST
@roles.role_required(roles.SCREENERS)
def screening_evaluate(request, study_code: str):
    """htmx: the criteria table for the values typed so far (nothing is saved)."""
    study = selectors.study_get(user=request.user, code=study_code)
    form = ScreeningForm(request.POST, study=study, user=request.user)
    form.is_valid()
    return render(request, "cohorts/_criteria_table.html", {"form": form, "criteria": form.criteria, "live": True})


def _shown_criteria(study, screening) -> list[dict]:
    """The screening's stored criteria in the reader's language (cohorts.enrolment.shown_criteria)."""
    return enrolment.shown_criteria(
        get_rule_set(study.protocol), screening.values, screening.criteria, study.eligibility_settings()
    )


@roles.role_required(roles.SCREENING_READERS)
def screening_detail(request, study_code: str, pk: int):
    study = selectors.study_get(user=request.user, code=study_code)
    screening = selectors.screening_get(user=request.user, study=study, pk=pk)
    return render(
        request,
        "cohorts/screening_detail.html",
        {
            "study": study,
            "screening": screening,
            "criteria": _shown_criteria(study, screening),
            "converted": enrolment.conversion_notes(screening.values, screening.entered_units),
            "refusal": enrolment_refusal(screening),
            "can_screen": roles.has_study_role(request.user, study, roles.SCREENERS, site=screening.site),
        },
    )


@roles.role_required(roles.SCREENERS)
def patient_enrol(request, study_code: str, pk: int):
    study = selectors.study_get(user=request.user, code=study_code)
    screening = selectors.screening_get(user=request.user, study=study, pk=pk)
    detail = reverse("screening_detail", args=[study.code, screening.pk])
    if submissions.repeated(request):
        return submissions.already_submitted(request, detail)
    form = EnrolmentForm(request.POST or None, screening=screening)
    if form.is_bound and form.is_valid():
        try:
            outcome = submissions.submit_once(
                request,
                lambda: services.patient_enrol(screening=screening, user=request.user, **form.service_kwargs()),
            )
        except ValidationError as error:
            add_service_error(form, error)
        else:
            if outcome.repeated:
                return submissions.already_submitted(request, detail)
            patient = outcome.obj
            messages.success(
                request,
                _(
                    "Enrolled as %(participant)s in %(arm)s; day 0 = %(day0)s. The screening values are the day-0 "
                    "source data."
                )
                % {
                    "participant": patient.participant_id,
                    "arm": patient.arm.name,
                    "day0": f"{patient.enrolment_date:%d %b %Y}",
                },
            )
            return redirect(detail)
    return render(
        request,
        "cohorts/enrol_form.html",
        {
            "study": study,
            "screening": screening,
            "form": form,
            "criteria": _shown_criteria(study, screening),
            "refusal": enrolment_refusal(screening),
            "submission_token": submissions.page_token(request),
        },
    )


# --------------------------------------------------------------------------------------------
# Study set-up (cohorts/setup.py): studies, settings, sites, arms and their regimens
# --------------------------------------------------------------------------------------------


@roles.study_setup_required
def setup_index(request):
    return render(
        request,
        "cohorts/setup_index.html",
        {
            "studies": selectors.setup_study_list(user=request.user),
            "sites": selectors.setup_site_list(user=request.user),
            "may_create": roles.may_create_studies(request.user),
        },
    )


def _study_page(request, study):
    """The set-up page of a new study (``study`` None) or of an existing one: its form, and its arms once saved."""
    form = StudySetupForm(request.POST or None, study=study, sites=selectors.site_choice_list())
    if form.is_bound and form.is_valid():
        reason = form.cleaned_data["reason"]
        try:
            if study is None:
                data = {**form.setup_data(), "sites": [{"code": code} for code in form.site_codes()]}
                study = setup.study_create(data=data, user=request.user, reason=reason)
                done = _("Study %(study)s created. Add its arms below.")
            else:
                study = setup.study_update(
                    study=study,
                    data=form.setup_data(),
                    site_codes=form.site_codes(),
                    user=request.user,
                    reason=reason,
                    opened=form.cleaned_data["opened"],
                )
                done = _("Study %(study)s saved.")
        except ValidationError as error:
            place_setup_errors(error, form)
        else:
            messages.success(request, done % {"study": study.code})
            return redirect("setup_study", study.code)
    arms = list(selectors.arm_list(study=study)) if study is not None else []
    for arm in arms:
        arm.doses = regimens.from_json(arm.regimen)
    enrolled = study is not None and setup.has_enrolled(study)
    return render(
        request, "cohorts/setup_study.html", {"study": study, "form": form, "arms": arms, "enrolled": enrolled}
    )


@roles.admin_required
def setup_study_create(request):
    return _study_page(request, None)


@roles.study_setup_required
def setup_study(request, study_code: str):
    return _study_page(request, selectors.study_get(user=request.user, code=study_code))


def _arm_page(request, study, arm):
    form = ArmSetupForm(request.POST or None, arm=arm)
    formset = regimen_formset(request.POST or None, arm=arm)
    if form.is_bound and form.is_valid() and formset.is_valid():
        entries, rows = regimen_data(formset)
        try:
            arm = setup.arm_save(
                study=study,
                arm=arm,
                data={**form.setup_data(), "regimen": entries},
                user=request.user,
                reason=form.cleaned_data["reason"],
                opened=form.cleaned_data["opened"],
            )
        except ValidationError as error:
            place_setup_errors(error, form, formset, rows)
        else:
            messages.success(request, _("Arm %(arm)s of %(study)s saved.") % {"arm": arm.code, "study": study.code})
            return redirect("setup_study", study.code)
    enrolled = setup.has_enrolled(study)
    return render(
        request,
        "cohorts/setup_arm.html",
        {"study": study, "arm": arm, "form": form, "formset": formset, "enrolled": enrolled},
    )


@roles.study_setup_required
def setup_arm_create(request, study_code: str):
    return _arm_page(request, selectors.study_get(user=request.user, code=study_code), None)


@roles.study_setup_required
def setup_arm(request, study_code: str, arm_code: str):
    study = selectors.study_get(user=request.user, code=study_code)
    return _arm_page(request, study, selectors.arm_get(study=study, code=arm_code))


def _site_page(request, site):
    form = SiteSetupForm(request.POST or None, site=site)
    if form.is_bound and form.is_valid():
        try:
            site = setup.site_save(
                site=site,
                data=form.setup_data(),
                user=request.user,
                reason=form.cleaned_data["reason"],
                opened=form.cleaned_data["opened"],
            )
        except ValidationError as error:
            place_setup_errors(error, form)
        else:
            messages.success(request, _("Site %(site)s saved.") % {"site": site.code})
            return redirect("setup_index")
    enrolled = site is not None and setup.has_enrolled(site)
    return render(request, "cohorts/setup_site.html", {"site": site, "form": form, "enrolled": enrolled})


@roles.admin_required
def setup_site_create(request):
    return _site_page(request, None)


@roles.study_setup_required
def setup_site(request, site_code: str):
    return _site_page(request, selectors.site_get(user=request.user, code=site_code))
