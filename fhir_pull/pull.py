"""A pull: search the site's FHIR server for one patient-day and store what it proposes (never a value).

``pull_day`` is what the day page's button and the nightly task run; it never raises for a server's fault: a
timeout, an HTTP error or a malformed bundle is recorded on the pull as its failure (shown on the review screen)
and nothing is proposed.
"""

from __future__ import annotations

import datetime

from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext as _

from cohorts.clock import site_today, site_zone
from cohorts.languages import STORED_LANGUAGE
from cohorts.models import Patient, Study
from fhir_pull import mapping, services
from fhir_pull.client import Connection, FhirClient, FhirError
from fhir_pull.models import FhirEndpoint, PatientLink, Pull
from fhir_pull.selectors import linked_patients


def _instant(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def observation_params(patient_id: str, window: mapping.Window) -> list[tuple[str, str]]:
    """The Observation search of a study day: vital signs and laboratory, by LOINC code, within its window."""
    return [
        ("patient", patient_id),
        ("category", "vital-signs,laboratory"),
        ("code", ",".join(f"{mapping.LOINC}|{code}" for code in mapping.search_codes())),
        ("date", f"ge{_instant(window.start)}"),
        ("date", f"lt{_instant(window.end)}"),
        ("_count", "100"),
    ]


def medication_params(patient_id: str, window: mapping.Window) -> list[tuple[str, str]]:
    return [
        ("patient", patient_id),
        ("effective-time", f"ge{_instant(window.start)}"),
        ("effective-time", f"lt{_instant(window.end)}"),
        ("_count", "100"),
    ]


def study_day_window(patient: Patient, study_day: int) -> mapping.Window:
    """Study day d is day 0's date + d at the patient's site, local midnight to midnight (cohorts/clock.py)."""
    day_date = patient.enrolment_date + datetime.timedelta(days=study_day)
    return mapping.day_window(day_date, site_zone(patient.site))


def _client(endpoint: FhirEndpoint) -> FhirClient:
    return FhirClient(
        Connection.of(endpoint),
        timeout=settings.FHIR_TIMEOUT_SECONDS,
        deadline=settings.FHIR_PULL_DEADLINE_SECONDS,
    )


@translation.override(STORED_LANGUAGE)
def pull_day(*, patient: Patient, study_day: int, user=None) -> Pull:
    """Search the FHIR server for the patient-day and store the proposals (or the failure) as a new pull. Its texts
    (the failure, the notes and errors of the values) are stored in English whoever pulls (cohorts.languages)."""
    endpoint = FhirEndpoint.objects.filter(site_id=patient.site_id).first()
    link = PatientLink.objects.filter(patient=patient).first()
    if endpoint is None or link is None:
        if endpoint is None:
            failure = _("No pull: the site has no FHIR server.")
        else:
            failure = _("No pull: the patient is not linked to a record.")
        return services.pull_store(patient=patient, study_day=study_day, user=user, failure=failure)
    window = study_day_window(patient, study_day)
    try:
        with _client(endpoint) as client:
            fhir_id = client.patient_id(link.mrn, link.identifier_system)
            observations = client.search("Observation", observation_params(fhir_id, window))
            administrations = client.search("MedicationAdministration", medication_params(fhir_id, window))
    except FhirError as exc:
        return services.pull_store(patient=patient, study_day=study_day, user=user, failure=str(exc))
    mapped = mapping.observations_values(observations, window)
    return services.pull_store(
        patient=patient,
        study_day=study_day,
        user=user,
        found=mapped.found,
        notes=mapped.notes,
        medications=mapping.medication_rows(administrations),
    )


def pull_study_previous_day(study: Study, now: datetime.datetime | None = None) -> dict[str, int]:
    """The nightly pull: for every linked patient of the study at a site with a FHIR server, the study day that
    was yesterday at the site, when it is within the follow-up. Proposals only: nothing is saved."""
    counts = {"patients": 0, "failed": 0, "proposals": 0}
    if study.is_locked:
        return counts
    for patient in linked_patients(study=study):
        study_day = (site_today(patient.site, now) - patient.enrolment_date).days - 1
        if not 0 <= study_day <= study.follow_up_days:
            continue
        pull = pull_day(patient=patient, study_day=study_day)
        counts["patients"] += 1
        counts["failed"] += bool(pull.failure)
        counts["proposals"] += pull.proposal_count
    return counts
