"""Pages of the fhir app in the access table.

Pulling and the review screen are data entry (DATA_ENTRY: nurse, investigator, data manager; a monitor or an
admin gets 403); linking a patient to its hospital record is for those who enrol (SCREENERS); a site's FHIR
connection is study set-up (STUDY_SETUP). nurse_b of the other site gets 404 for patient A's pages. The review
page is opened with one proposal waiting (made here, without a server), so its form has fields; the pull itself
finds no FHIR server for the site and sends the user back to the day page.
"""

from cohorts import roles
from fhir.models import Proposal, Pull
from tests.access_pages import Page


def review_a(f) -> str:
    patient = f["patient_a"]
    if not Proposal.objects.filter(patient=patient, study_day=3).exists():
        pull = Pull.objects.create(patient=patient, study_day=3)
        Proposal.objects.create(
            pull=pull,
            patient=patient,
            study_day=3,
            form="vital_signs",
            field="heart_rate_bpm",
            value=88,
            loinc="8867-4",
            resource_type="Observation",
            resource_id="hr-1",
        )
    return f"/patients/{patient.pk}/day/3/fhir/"


PAGES: list = [
    Page("fhir review", review_a, roles.DATA_ENTRY, patient_scoped=True),
    Page("fhir review save", review_a, roles.DATA_ENTRY, patient_scoped=True, method="post", ok_statuses=(302,)),
    Page(
        "fhir pull",
        lambda f: f"/patients/{f['patient_a'].pk}/day/3/fhir/pull/",
        roles.DATA_ENTRY,
        patient_scoped=True,
        method="post",
        ok_statuses=(302,),
    ),
    Page("fhir link", lambda f: f"/patients/{f['patient_a'].pk}/fhir/link/", roles.SCREENERS, patient_scoped=True),
    Page(
        "fhir link save",
        lambda f: f"/patients/{f['patient_a'].pk}/fhir/link/",
        roles.SCREENERS,
        patient_scoped=True,
        method="post",
        ok_statuses=(302,),
    ),
    Page("fhir endpoint", lambda f: "/setup/sites/MI/fhir/", roles.STUDY_SETUP),
    Page("fhir endpoint save", lambda f: "/setup/sites/MI/fhir/", roles.STUDY_SETUP, method="post"),
]
