"""The pages of the record status: the patient list (those with forms to enter today first) and the dashboard
(patients x study days x forms of a study at the user's sites, with its legend, counts per state, filters by site,
arm and state, and keyset pages). Thin: the selectors read, the templates and their tags
(cleaning/templatetags/record_status.py) show."""

from __future__ import annotations

from urllib.parse import urlencode

from django.shortcuts import render
from django.urls import reverse
from django.utils.html import format_html_join

from cleaning import notes, status_selectors
from cleaning.status import BY_CODE
from cleaning.status_forms import StatusFilterForm
from cohorts import roles
from cohorts import selectors as cohort_selectors
from ecrf.crfs import DAY_FORMS


@roles.role_required(roles.PATIENT_READERS)
def patient_list(request, study_code: str):
    """Patients of the user's sites, those with forms to enter today first."""
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    sites = cohort_selectors.study_site_list(user=request.user, study=study)
    # Picked from the user's sites, not filtered by in SQL: a junk ?site= (a NUL byte) is no site, not a 500.
    site = next((s for s in sites if s.code == request.GET.get("site")), None)
    page = status_selectors.patient_list_page(user=request.user, study=study, site=site, number=request.GET.get("page"))
    badges = notes.patient_list(patients=page.object_list, user=request.user)
    for patient in page.object_list:
        patient.notes = badges.get(patient.pk, [])
    return render(
        request,
        "cleaning/patient_list.html",
        {"study": study, "page": page, "patients": page.object_list, "sites": sites, "site": site},
    )


@roles.role_required(roles.PATIENT_READERS)
def record_status(request, study_code: str):
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    sites = list(cohort_selectors.study_site_list(user=request.user, study=study))
    arms = list(cohort_selectors.arm_list(study=study))
    form = StatusFilterForm(request.GET, sites=sites, arms=arms)
    filters = form.filters()
    counts = status_selectors.status_counts(user=request.user, study=study, site=filters.site, arm=filters.arm)
    page = status_selectors.status_page(user=request.user, study=study, filters=filters)
    kept = {
        "site": filters.site.code if filters.site else "",
        "arm": filters.arm.code if filters.arm else "",
        "status": filters.status,
    }
    return render(
        request,
        "cleaning/record_status.html",
        {
            "study": study,
            "form": form,
            "filters": filters,
            "counts": counts,
            "matching": counts.patients_with(filters.status),
            "status_state": BY_CODE.get(filters.status),
            "page": page,
            "days": range(study.follow_up_days + 1),
            "day_forms": DAY_FORMS,
            "forms_title": ", ".join(str(crf.label) for crf in DAY_FORMS.values()),
            # The order of a day's icons, for a sentence of the page: "<strong>V</strong> vital signs, ...".
            "forms_order": format_html_join(
                ", ",
                "<strong>{}</strong> {}",
                ((str(crf.label)[:1], str(crf.label).lower()) for crf in DAY_FORMS.values()),
            ),
            "query_list": reverse("query_list", args=[study.code]),
            "may_verify": not study.is_locked and roles.has_study_role(request.user, study, roles.SDV_VERIFIERS),
            # The addresses of the pages and of each state's filter keep the other filters.
            "next_query": _query(kept, after=page.next_after),
            "previous_query": _query(kept, before=page.previous_before),
            # A state's button lists the patients with that state; pressed again, every patient.
            "legend": [
                (count, _query(kept, status="" if count.state.code == filters.status else count.state.code))
                for count in counts.states
            ],
        },
    )


def _query(kept: dict, **changes) -> str:
    return urlencode({name: value for name, value in {**kept, **changes}.items() if value})
