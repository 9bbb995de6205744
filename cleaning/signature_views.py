"""Pages of the casebook signatures: signing a patient's casebook (or a range of its days), and the study's list of
patients signed, broken and unsigned. Thin: they parse, call cleaning.signatures or a selector, and render; a
refusal comes back next to its field."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import logout
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from accounts import reauth
from cleaning import signature_state, signatures, status_selectors
from cleaning.forms import SignatureRangeForm, SignForm
from cohorts import roles
from cohorts import selectors as cohort_selectors
from cohorts.clock import site_zone
from ecrf import selectors as ecrf_selectors

STATES = {
    signature_state.SIGNED: pgettext_lazy("casebook signature", "Signed"),
    signature_state.BROKEN: gettext_lazy("Changed after signing"),
    signature_state.UNSIGNED: pgettext_lazy("casebook signature", "Not signed"),
}


def _codes(error: ValidationError) -> set[str]:
    errors = error.error_dict.values() if hasattr(error, "error_dict") else [error.error_list]
    return {item.code for items in errors for item in items}


def _range(request, patient) -> tuple[tuple[int, int] | None, SignatureRangeForm]:
    """The days to sign from the address (the whole casebook without), and the range form; None when the days
    are refused (the form then shows why next to the day)."""
    whole = signatures.whole_casebook(patient)
    asked = "first_day" in request.GET or "last_day" in request.GET
    form = SignatureRangeForm(request.GET if asked else None, initial={"first_day": whole[0], "last_day": whole[1]})
    if not asked:
        return whole, form
    if not form.is_valid():
        return None, form
    try:
        return signatures.check_range(patient, form.cleaned_data["first_day"], form.cleaned_data["last_day"]), form
    except ValidationError as error:
        form.place(error)
        return None, form


@roles.role_required(roles.SIGNERS)
def casebook_sign(request, patient_pk: int):
    """Sign the patient's casebook: the blockers with their links, or the meaning, the days and the hash of the
    data, with the password (and the second factor's code when it applies)."""
    patient = ecrf_selectors.patient_get(user=request.user, pk=patient_pk)
    if not roles.has_study_role(request.user, patient.study, roles.SIGNERS, site=patient.site):
        raise PermissionDenied("Only an investigator of the patient's site signs its casebook.")
    days, range_form = _range(request, patient)
    sign_form = SignForm(request.POST or None, asks_code=reauth.asks_second_factor(request.user))
    if request.method == "POST" and days is not None and sign_form.is_valid():
        try:
            signature = signatures.casebook_sign(
                patient=patient,
                first_day=days[0],
                last_day=days[1],
                user=request.user,
                password=sign_form.cleaned_data["password"],
                otp_token=sign_form.cleaned_data.get("otp_token"),
                request=request,
                seen_sha256=request.POST.get("seen_sha256", ""),
            )
        except ValidationError as error:
            codes = _codes(error)
            if reauth.LOCKED_OUT in codes:
                logout(request)  # django-axes answers with its lockout page
                return redirect("login")
            if "already_signed" in codes:
                messages.info(request, _("%(refusal)s Nothing was signed twice.") % {"refusal": error.messages[0]})
                return redirect(reverse("casebook", args=[patient.pk]) + "#signatures")
            sign_form.place(error)
        else:
            messages.success(
                request,
                _("Signed: days %(first)s to %(last)s of %(participant)s, SHA-256 %(sha256)s…")
                % {
                    "first": signature.first_day,
                    "last": signature.last_day,
                    "participant": patient.participant_id,
                    "sha256": signature.data_sha256[:12],
                },
            )
            return redirect(reverse("casebook", args=[patient.pk]) + "#signatures")
    whole = signatures.whole_casebook(patient)
    return render(
        request,
        "cleaning/sign.html",
        {
            "patient": patient,
            "days": days,
            "whole": days == whole,
            "range_form": range_form,
            "sign_form": sign_form,
            "check": signatures.signing_check(patient, request.user, *days) if days is not None else None,
            "printed_name": signatures.printed_name(request.user),
            # Shown in the user's language; the signature stores it as it is (cleaning.models.SIGNATURE_MEANING).
            "meaning": _(signatures.SIGNATURE_MEANING),
            "site_time_zone": str(site_zone(patient.site)),
        },
    )


@roles.role_required(roles.SIGNATURE_READERS)
def signature_list(request, study_code: str):
    """The study's patients at the user's sites: signed, changed after signing, or not signed (?state= filters)."""
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    state = request.GET.get("state", "")
    page, counts = status_selectors.signature_list_page(
        user=request.user, study=study, state=state, number=request.GET.get("page")
    )
    signers_at = roles.sites_held(request.user, study, roles.SIGNERS)  # None: every site
    return render(
        request,
        "cleaning/signature_list.html",
        {
            "study": study,
            "page": page,
            "counts": [(key, label, counts[key]) for key, label in STATES.items()],
            "state": state if state in STATES else "",
            "signable": {
                row.patient.pk
                for row in page.object_list
                if row.state != signature_state.SIGNED
                and not study.is_locked
                and (signers_at is None or row.patient.site_id in signers_at)
            },
        },
    )
