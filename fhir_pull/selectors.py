"""Every read of the fhir app a page, a task or a release needs (keyword-only, a fixed number of queries).

Patient scoping is the caller's: pages fetch the patient through ecrf.selectors.patient_get (another site's
patient is a 404) before asking anything here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Exists, OuterRef, QuerySet

from cohorts.models import Patient, PatientStatus, Site, Study
from fhir_pull.models import FhirEndpoint, PatientLink, Proposal, ProposalStatus, Pull


def endpoint_get(*, site: Site) -> FhirEndpoint | None:
    return FhirEndpoint.objects.filter(site=site).first()


def link_get(*, patient: Patient) -> PatientLink | None:
    return PatientLink.objects.filter(patient=patient).first()


@dataclass(frozen=True)
class PullState:
    """What the day page shows of the pull: may it pull (site with a server, linked patient), what waits."""

    has_endpoint: bool
    has_link: bool
    pending: int

    @property
    def can_pull(self) -> bool:
        return self.has_endpoint and self.has_link


def pull_state(*, patient: Patient, study_day: int) -> PullState:
    """The site's server, then (only at a site that has one) the patient's link and the proposals waiting for
    review: one small query at most sites, which have no server."""
    if not FhirEndpoint.objects.filter(site_id=patient.site_id).exists():
        return PullState(has_endpoint=False, has_link=False, pending=0)
    if not PatientLink.objects.filter(patient_id=patient.pk).exists():
        return PullState(has_endpoint=True, has_link=False, pending=0)
    pending = Proposal.objects.filter(patient=patient, study_day=study_day, status=ProposalStatus.PROPOSED).count()
    return PullState(has_endpoint=True, has_link=True, pending=pending)


@dataclass
class Review:
    """The latest pull of a patient-day and its proposals still to decide, with those decided before."""

    pull: Pull | None
    proposals: list[Proposal] = field(default_factory=list)
    decided: list[Proposal] = field(default_factory=list)


def review_get(*, patient: Patient, study_day: int) -> Review:
    """Two queries: the latest pull, and every proposal of the day not superseded (newest pull first)."""
    pull = Pull.objects.filter(patient=patient, study_day=study_day).order_by("-started_at", "-pk").first()
    rows = (
        Proposal.objects.filter(patient=patient, study_day=study_day)
        .exclude(status=ProposalStatus.SUPERSEDED)
        .select_related("decided_by")
        .order_by("pk")
    )
    review = Review(pull)
    for proposal in rows:
        (review.proposals if proposal.status == ProposalStatus.PROPOSED else review.decided).append(proposal)
    return review


def linked_patients(*, study: Study) -> QuerySet[Patient]:
    """Patients in follow-up of the study who are linked to a FHIR Patient at a site with a FHIR server."""
    return (
        Patient.objects.filter(study=study, status=PatientStatus.ACTIVE, fhir_link__isnull=False)
        .filter(Exists(FhirEndpoint.objects.filter(site=OuterRef("site"))))
        .select_related("site", "study")
        .order_by("pk")
    )


PROVENANCE_COLUMNS = (
    "participant_id",
    "study_day",
    "form",
    "field",
    "value",
    "resource_type",
    "resource_id",
    "last_updated",
)


def provenance_rows(*, patients: QuerySet[Patient]) -> list[tuple]:
    """One row per field whose value was last accepted from a FHIR pull (one query): where it came from.

    A field accepted twice (a later pull replacing the value) keeps its latest acceptance only. ``last_updated``
    is the resource's lastUpdated in UTC (ISO 8601).
    """
    rows = (
        Proposal.objects.filter(patient__in=patients, status=ProposalStatus.ACCEPTED)
        .order_by("decided_at", "pk")
        .values_list(
            "patient__participant_id",
            "study_day",
            "form",
            "field",
            "value",
            "resource_type",
            "resource_id",
            "last_updated",
        )
    )
    latest: dict[tuple, tuple] = {}
    for pid, day, form, name, value, kind, rid, updated in rows:
        latest[(pid, day, form, name)] = (
            pid, day, form, name, float(value), kind, rid, updated.isoformat() if updated else None,
        )  # fmt: skip
    return list(latest.values())
