"""Reads of the API, composed from the site-scoped selectors of cohorts and ecrf (docs/architecture.md §2, §7):
a token sees exactly what its user sees on the pages."""

from __future__ import annotations

import datetime

from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils.translation import gettext as _

from api.models import ApiToken
from cohorts import selectors as cohort_selectors
from cohorts.models import Patient, Site, Study
from ecrf.crfs import CATALOGUE, Crf


def patient_list(*, user, study: Study, site: Site | None = None, updated_since: datetime.datetime | None = None):
    """The patients of the user's sites; with ``updated_since``, those whose own record or any of whose daily
    records was created, changed or deleted since then (read from the audit trail, so deletions count too)."""
    qs = cohort_selectors.patient_list(user=user, study=study, site=site)
    if updated_since is not None:
        changed = Q(pk__in=Patient.history.filter(history_date__gte=updated_since).values("id"))
        for crf in CATALOGUE.values():
            changed |= Q(pk__in=crf.model.history.filter(history_date__gte=updated_since).values("patient_id"))
        qs = qs.filter(changed)
    return qs


def record_list(*, patient: Patient, crf: Crf, study_day: int | None = None) -> QuerySet:
    qs = crf.model.objects.filter(patient=patient)
    if study_day is not None:
        qs = qs.filter(study_day=study_day)
    return qs.order_by("study_day", "pk")


def record_get(*, patient: Patient, crf: Crf, pk):
    """One record of a form of this (already scoped) patient; anything else is a 404."""
    try:
        return crf.model.objects.get(patient=patient, pk=pk)
    except (crf.model.DoesNotExist, ValueError, TypeError):
        raise Http404(_("No such record for this patient.")) from None


def token_list(*, user) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user).order_by("-created_at")
