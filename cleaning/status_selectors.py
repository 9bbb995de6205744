"""The reads of the record status dashboard, scoped to the user's sites, in a fixed number of queries whatever the
size of the study: the counts from the per-site sums (cleaning.models.SiteRecordStatus), a page of patients from
their rows (PatientRecordStatus, in participant order, keyset-paged), and the grid of that page's patients only
(cleaning/status_grid.py)."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.paginator import Page
from django.db.models import QuerySet

from cleaning import status_job
from cleaning.models import SIGNATURE_STATES, PatientRecordStatus, SiteRecordStatus
from cleaning.selectors import signature_rows
from cleaning.signature_state import signature_states
from cleaning.status import STATES, State
from cleaning.status_grid import Grid, grids
from cohorts import roles
from cohorts.models import Arm, Patient, Site, Study
from cohorts.paging import CountedPaginator
from ecrf import selectors as ecrf_selectors
from ecrf.selectors import with_follow_up_end

PAGE_SIZE = 20


@dataclass(frozen=True)
class StatusFilters:
    """The dashboard's filters (each optional) and its place in the list of patients."""

    site: Site | None = None
    arm: Arm | None = None
    status: str = ""  # a state code: the patients with at least one cell in that state
    after: str = ""  # the page after this participant id
    before: str = ""  # the page before this participant id


@dataclass(frozen=True)
class StateCount:
    state: State
    cells: int
    patients: int


@dataclass(frozen=True)
class Counts:
    """Cells and patients per state over the study at the user's sites (with the site and arm filters)."""

    states: list[StateCount]
    patients: int
    updated_at: datetime.datetime | None
    #: Patients per state of their casebook's signatures (cleaning.signature_state: signed, broken, unsigned).
    signatures: dict[str, int]

    def patients_with(self, status: str) -> int:
        """How many patients the status filter keeps (every patient without one)."""
        return next((count.patients for count in self.states if count.state.code == status), self.patients)


def status_counts(
    *, user, study: Study, site: Site | None = None, arm: Arm | None = None, allowed=roles.PATIENT_READERS
) -> Counts:
    """The study's per-site rows at the sites where the user has a role of ``allowed`` (a few: one per site and
    arm), summed here."""
    groups = SiteRecordStatus.objects.filter(roles.scope(user, allowed), study=study)
    if site is not None:
        groups = groups.filter(site=site)
    if arm is not None:
        groups = groups.filter(arm=arm)
    names = ("patients", *(f"{kind}_{state.code}" for kind in "np" for state in STATES), *status_job.SIGNATURE_FIELDS)
    sums = dict.fromkeys(names, 0)
    updated_at = None
    for row in groups.values_list("updated_at", *names):
        if row[0] is not None and (updated_at is None or row[0] > updated_at):
            updated_at = row[0]
        for name, value in zip(names, row[1:], strict=True):
            sums[name] += value
    return Counts(
        states=[StateCount(state, sums[f"n_{state.code}"], sums[f"p_{state.code}"]) for state in STATES],
        patients=sums["patients"],
        updated_at=updated_at,
        signatures={state: sums[f"s_{state}"] for state in SIGNATURE_STATES},
    )


@dataclass(frozen=True)
class StatusPage:
    grids: list[Grid]
    #: The participant id to read the next page after ("" on the last page), and the previous page before.
    next_after: str
    previous_before: str


def _rows(*, user, study: Study, site: Site | None, allowed=roles.PATIENT_READERS) -> QuerySet[PatientRecordStatus]:
    """The study's patients' rows at the user's sites (where the user has a role of ``allowed``; scoped by the
    patient's own site), or at one of them."""
    rows = PatientRecordStatus.objects.filter(
        roles.scope(user, allowed, study="patient__study", site="patient__site"),
        study=study,
        patient__study=study,
    )
    return rows if site is None else rows.filter(patient__site=site)


def _computed_rows(
    *, user, study: Study, site: Site | None, now=None, allowed=roles.PATIENT_READERS
) -> QuerySet[PatientRecordStatus]:
    """_rows, once the rows not computed yet (a patient created since) are computed."""
    rows = _rows(user=user, study=study, site=site, allowed=allowed)
    uncomputed = list(rows.filter(as_of__isnull=True).values_list("patient_id", flat=True)[: status_job.BATCH_PATIENTS])
    if uncomputed:
        status_job.refresh_patients(uncomputed, now=now)
    return rows


def status_page(*, user, study: Study, filters: StatusFilters, now: datetime.datetime | None = None) -> StatusPage:
    """A page of the study's patients at the user's sites (with the filters), in participant order, with their
    grids: one query for the page's patients, one for their follow-up, those of the grid, one for the signatures."""
    rows = _rows(user=user, study=study, site=filters.site)
    if filters.arm is not None:
        rows = rows.filter(patient__arm=filters.arm)
    if filters.status:
        rows = rows.filter(**{f"n_{filters.status}__gt": 0})
    if filters.before:
        ids = list(
            rows.filter(participant_id__lt=filters.before)
            .order_by("-participant_id")
            .values_list("patient_id", "participant_id")[: PAGE_SIZE + 1]
        )
        more_before, more_after = len(ids) > PAGE_SIZE, True
        ids = ids[:PAGE_SIZE][::-1]
    else:
        if filters.after:
            rows = rows.filter(participant_id__gt=filters.after)
        ids = list(rows.order_by("participant_id").values_list("patient_id", "participant_id")[: PAGE_SIZE + 1])
        more_before, more_after = bool(filters.after), len(ids) > PAGE_SIZE
        ids = ids[:PAGE_SIZE]
    order = {pk: position for position, (pk, _) in enumerate(ids)}
    patients = sorted(
        with_follow_up_end(Patient.objects.filter(pk__in=list(order))).select_related("site", "arm", "study"),
        key=lambda patient: order[patient.pk],
    )
    page = grids(patients, now=now)
    signed = signature_states([patient.pk for patient in patients])
    for grid in page:
        grid.signature = signed[grid.patient.pk]
    return StatusPage(
        grids=page,
        next_after=ids[-1][1] if ids and more_after else "",
        previous_before=ids[0][1] if ids and more_before else "",
    )


PATIENT_LIST_SIZE = 100


def patient_list_page(*, user, study: Study, site: Site | None = None, number=None, now=None) -> Page:
    """A page of the study's patients at the user's sites, those with forms to enter today first (then in
    participant order), read in that order from the kept counts (PatientRecordStatus.n_due_today, index
    ``record_status_worklist``) and counted from the per-site sums: its cost does not follow the size of the study.
    Rows not computed yet (a patient created since) are computed first. The page's patients come with what the
    list shows, computed for them only (ecrf.selectors.patient_list: today's study day, today's forms)."""
    rows = _computed_rows(user=user, study=study, site=site, now=now)
    total = status_counts(user=user, study=study, site=site).patients
    ordered = rows.order_by("-n_due_today", "participant_id").values_list("patient_id", flat=True)
    page = CountedPaginator(ordered, PATIENT_LIST_SIZE, count=total).get_page(number)
    order = {pk: position for position, pk in enumerate(page.object_list)}
    patients = ecrf_selectors.patient_list(user=user, study=study, site=site, pks=order)
    page.object_list = sorted(patients, key=lambda patient: order[patient.pk])
    return page


SIGNATURE_LIST_SIZE = 100


def signature_list_page(*, user, study: Study, state: str = "", number=None, now=None) -> tuple[Page, dict[str, int]]:
    """A page of the study's patients at the user's sites (SIGNATURE_READERS), of one signature state if ``state``
    is one (cleaning.signature_state), in participant order, with their signatures (SignatureRow); and the patients
    per state. Read in order from the kept states (PatientRecordStatus.signature, index
    ``record_status_signature``) and counted from the per-site sums: its cost does not follow the size of the study."""
    rows = _computed_rows(user=user, study=study, site=None, now=now, allowed=roles.SIGNATURE_READERS)
    counts = status_counts(user=user, study=study, allowed=roles.SIGNATURE_READERS).signatures
    if state in counts:
        rows = rows.filter(signature=state)
    ordered = rows.order_by("participant_id").values_list("patient_id", flat=True)
    total = counts[state] if state in counts else sum(counts.values())
    page = CountedPaginator(ordered, SIGNATURE_LIST_SIZE, count=total).get_page(number)
    order = {pk: position for position, pk in enumerate(page.object_list)}
    patients = sorted(Patient.objects.filter(pk__in=list(order)).select_related("site"), key=lambda p: order[p.pk])
    page.object_list = signature_rows(patients)
    return page, counts
