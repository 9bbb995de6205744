"""Pages of source data verification: a patient's worksheet (the monitor ticks the records verified against source),
the study's SDV page (the plan per form and the progress per site and per monitor), and the bulk verification
from the record status dashboard. Thin: they parse, call cleaning.sdv, and render; a refusal comes back as a
message on the page."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from cleaning import sdv
from cleaning.forms import SdvPlanForm
from cohorts import roles
from cohorts import selectors as cohort_selectors
from cohorts.clock import site_zone
from ecrf import selectors as ecrf_selectors
from ecrf.crfs import display_value


def _record_url(entry: sdv.Entry) -> str:
    if entry.crf.per_day:
        return reverse("day_entry", args=[entry.record.patient_id, entry.record.study_day])
    return reverse("event_edit", args=[entry.record.patient_id, entry.crf.slug, entry.record.pk])


def _rows(entries: list[sdv.Entry], zone=None) -> list[dict]:
    """What the worksheet shows of each record: its verified values as the pages show them, its state and mark."""
    return [
        {
            "entry": entry,
            "values": [
                (
                    entry.crf.model._meta.get_field(name).verbose_name,
                    display_value(entry.record, name, zone) or (entry.record.missing_codes or {}).get(name, "") or "—",
                )
                for name in entry.fields
                if name != "study_day"
            ],
            "url": _record_url(entry),
        }
        for entry in entries
    ]


@roles.role_required(roles.SDV_READERS)
def sdv_patient(request, patient_pk: int):
    """The patient's records of the planned forms with their verification; a monitor of the site ticks and
    verifies them (the page's hashes: a record changed since it was shown is refused, not verified unseen)."""
    patient = ecrf_selectors.patient_get(user=request.user, pk=patient_pk)
    if not roles.has_study_role(request.user, patient.study, roles.SDV_READERS, site=patient.site):
        raise PermissionDenied(
            "Source data verification is read by the study's monitors, data managers and investigators."
        )
    may_verify = not patient.study.is_locked and roles.has_study_role(
        request.user, patient.study, roles.SDV_VERIFIERS, site=patient.site
    )
    if request.method == "POST":
        if not may_verify:
            raise PermissionDenied("Only a monitor of the patient's site verifies its records, before the lock.")
        try:
            items = sdv.parse_keys(request.POST.getlist("record"))
            written = sdv.sdv_verify(user=request.user, patient=patient, items=items)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(
                request,
                ngettext(
                    "%(count)s record verified against source.", "%(count)s records verified against source.", written
                )
                % {"count": written},
            )
            return redirect("sdv_patient", patient_pk=patient.pk)
    levels = sdv.plan_levels(patient.study)
    entries = sdv.worksheet(patient, levels)
    counts = sdv.state_counts(entries)
    return render(
        request,
        "cleaning/sdv_patient.html",
        {
            "patient": patient,
            "rows": _rows(entries, site_zone(patient.site)),
            "counts": [(state, label, counts[state]) for state, label in sdv.STATES.items()],
            "may_verify": may_verify,
            "planned": bool(sdv.planned(levels)),
        },
    )


@roles.role_required(roles.SDV_READERS | roles.STUDY_SETUP)
def sdv_study(request, study_code: str):
    """The study's SDV plan (edited by whoever sets the study up) and the progress at the user's sites."""
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    may_plan = roles.may_set_up_studies(request.user, study) and not study.is_locked
    form = SdvPlanForm(
        request.POST if request.method == "POST" else None, levels=sdv.plan_levels(study), opened=sdv.plan_stamp(study)
    )
    if request.method == "POST":
        if not may_plan:
            raise PermissionDenied("The SDV plan is set by the study's data managers, before the lock.")
        if form.is_valid():
            try:
                sdv.plan_save(
                    study=study,
                    levels=form.levels(),
                    user=request.user,
                    reason=form.cleaned_data["reason"],
                    opened=form.cleaned_data["opened"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("SDV plan saved."))
                return redirect("sdv_study", study_code=study.code)
    patients = cohort_selectors.patient_list(user=request.user).filter(study=study)
    by_site, by_monitor = sdv.sdv_progress(study, patients)
    return render(
        request,
        "cleaning/sdv_study.html",
        {"study": study, "form": form, "may_plan": may_plan, "by_site": by_site, "by_monitor": by_monitor},
    )


@require_POST
@roles.role_required(roles.SDV_VERIFIERS)
def sdv_bulk(request, study_code: str):
    """The record status dashboard's bulk verification: every not-verified record of the ticked patients."""
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    ids = [int(pk) for pk in request.POST.getlist("patient") if pk.isdigit()]
    try:
        written = sdv.patients_verify(user=request.user, study=study, patient_ids=ids)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        records = ngettext("%(count)s record", "%(count)s records", written) % {"count": written}
        patients = ngettext(
            "%(records)s of %(count)s patient verified against source.",
            "%(records)s of %(count)s patients verified against source.",
            len(ids),
        ) % {"records": records, "count": len(ids)}
        messages.success(request, patients)
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()}):
        back = reverse("record_status", args=[study.code])
    return redirect(back)
