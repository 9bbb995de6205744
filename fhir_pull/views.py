"""Pages of the FHIR pull: a site's connection, a patient's link, the pull button's target and the review screen.

Thin views: role decorators of cohorts/roles.py, the patient through ecrf.selectors.patient_get (a patient of a
study or site where the user reads no patient data is a 404), then the role at the patient's own study and site
(cohorts.roles.has_study_role; a role there that does not allow it is a 403), then a selector or a service.
Pulling and deciding are data entry (DATA_ENTRY); linking a patient to its hospital record is for those who enrol
(SCREENERS); a site's connection is set-up of that site, by those who may edit it (cohorts.selectors.site_get:
the system administrators, and the data managers of every study of the site).
"""

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from cohorts import roles
from cohorts import selectors as cohort_selectors
from ecrf import selectors as ecrf_selectors
from fhir_pull import pull as pulls
from fhir_pull import selectors, services
from fhir_pull.forms import EndpointForm, LinkForm, ReviewForm
from fhir_pull.models import FhirEndpoint


def _review_url(patient, study_day: int) -> str:
    return reverse("fhir_review", args=[patient.pk, study_day])


def _patient(request, patient_pk: int, allowed: frozenset):
    """The patient, if the user reads it (else 404) and holds one of ``allowed`` at its study and site (else 403)."""
    patient = ecrf_selectors.patient_get(user=request.user, pk=patient_pk)
    if not roles.has_study_role(request.user, patient.study, allowed, site=patient.site):
        raise PermissionDenied(_("Your role at this patient's study and site does not give access to this page."))
    return patient


@roles.role_required(roles.DATA_ENTRY)
@require_POST
def pull(request, patient_pk: int, study_day: int):
    """Run the pull of one patient-day (synchronously: a few searches within FHIR_PULL_DEADLINE_SECONDS)."""
    patient = _patient(request, patient_pk, roles.DATA_ENTRY)
    ecrf_selectors.check_day(patient, study_day)
    if patient.study.is_locked:
        messages.error(request, _("The study is locked for a data release: nothing can be pulled."))
        return redirect("day_entry", patient.pk, study_day)
    if not selectors.pull_state(patient=patient, study_day=study_day).can_pull:
        messages.error(
            request,
            _("Nothing to pull: the patient's site has no FHIR server, or the patient is not linked to a record."),
        )
        return redirect("day_entry", patient.pk, study_day)
    done = pulls.pull_day(patient=patient, study_day=study_day, user=request.user)
    if done.failure:
        messages.error(request, done.failure)
    else:
        messages.success(
            request,
            ngettext(
                "Pulled from the hospital's FHIR server: %(count)s value(s) proposed. Nothing is saved "
                "until you accept it below.",
                "Pulled from the hospital's FHIR server: %(count)s value(s) proposed. Nothing is saved "
                "until you accept it below.",
                done.proposal_count,
            )
            % {"count": done.proposal_count},
        )
    return redirect(_review_url(patient, study_day))


@roles.role_required(roles.DATA_ENTRY)
def review(request, patient_pk: int, study_day: int):
    """The proposals of the latest pull beside the saved values: accept or reject each one."""
    patient = _patient(request, patient_pk, roles.DATA_ENTRY)
    ecrf_selectors.check_day(patient, study_day)
    state = selectors.review_get(patient=patient, study_day=study_day)
    stored = ecrf_selectors.day_records(patient=patient, study_day=study_day).current
    page_errors: list[str] = []
    locked = patient.study.is_locked
    if request.method == "POST" and not locked:
        form = ReviewForm(request.POST, proposals=state.proposals, stored=stored)
        if form.is_valid():
            try:
                counts = services.proposals_decide(
                    patient=patient,
                    study_day=study_day,
                    decisions=form.decisions(),
                    versions=form.versions(),
                    user=request.user,
                )
            except services.ReviewInvalid as exc:
                form.row_errors = exc.rows
                page_errors = exc.page
            except ValidationError as exc:
                page_errors = exc.messages
            else:
                messages.success(
                    request,
                    _("%(accepted)s value(s) accepted and saved, %(rejected)s rejected.")
                    % {"accepted": counts["accepted"], "rejected": counts["rejected"]},
                )
                return redirect(_review_url(patient, study_day))
    else:
        form = ReviewForm(proposals=state.proposals, stored=stored)
    return render(
        request,
        "fhir/review.html",
        {
            "patient": patient,
            "study_day": study_day,
            "date": ecrf_selectors.day_date(patient, study_day),
            "review": state,
            "form": form,
            "page_errors": page_errors,
            "locked": locked,
            "has_errors": bool(page_errors or form.row_errors or form.errors),
        },
    )


@roles.role_required(roles.SCREENERS)
def link(request, patient_pk: int):
    """The patient's medical record number at the hospital (never exported)."""
    patient = _patient(request, patient_pk, roles.SCREENERS)
    current = selectors.link_get(patient=patient)
    if request.method == "POST":
        form = LinkForm(request.POST, instance=current)
        if form.is_valid():
            try:
                services.link_save(
                    patient=patient,
                    mrn=form.cleaned_data["mrn"],
                    identifier_system=form.cleaned_data["identifier_system"],
                    user=request.user,
                    opened=form.cleaned_data["opened"],
                )
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(
                    request,
                    _("The hospital record link of %(participant)s is saved.")
                    % {"participant": patient.participant_id},
                )
                return redirect("casebook", patient.pk)
    else:
        form = LinkForm(instance=current)
    return render(request, "fhir/link.html", {"patient": patient, "form": form, "link": current})


@roles.study_setup_required
def endpoint(request, site_code: str):
    """A site's FHIR server: base URL and authentication (the secret is an environment variable's name). The
    site is one the user may edit, as on its set-up page (another study's site is a 404)."""
    site = cohort_selectors.site_get(user=request.user, code=site_code)
    current = selectors.endpoint_get(site=site) or FhirEndpoint(site=site)
    if request.method == "POST":
        form = EndpointForm(request.POST, instance=current)
        if form.is_valid():
            try:
                services.endpoint_save(endpoint=form.instance, user=request.user, opened=form.cleaned_data["opened"])
            except ValidationError as exc:
                form.add_error(None, exc)
            else:
                messages.success(request, _("The FHIR connection of site %(site)s is saved.") % {"site": site.code})
                return redirect("fhir_endpoint", site.code)
    else:
        form = EndpointForm(instance=current)
    return render(request, "fhir/endpoint.html", {"site": site, "form": form, "saved": current.pk is not None})
