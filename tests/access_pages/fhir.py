"""Pages of the fhir app in the access table.

Pulling and the review screen are data entry at the patient's study and site (DATA_ENTRY: nurse, investigator,
data manager; a monitor or an admin gets 403); linking a patient to its hospital record is for those who enrol
there (SCREENERS); a site's FHIR connection is the set-up of that site (STUDY_SETUP: the data managers of its
studies, the administrators). nurse_b of the other site gets 404 for patient A's pages. The review page is opened
with one proposal waiting (made here, without a server), so its form has fields; the pull itself finds no FHIR
server for the site and sends the user back to the day page.

Every address is built from the fixtures' patient, so the two-study table (tests/test_two_studies.py) opens study
B's patient and B's site with the same rows; the objects shown (a proposal, a link, a connection) are made here
for whichever study the fixtures are.
"""

from cohorts import roles
from fhir_pull.models import FhirEndpoint, PatientLink, Proposal, Pull
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


def link_a(f) -> str:
    patient = f["patient_a"]
    PatientLink.objects.get_or_create(patient=patient, defaults={"mrn": f"MRN-{patient.participant_id}"})
    return f"/patients/{patient.pk}/fhir/link/"


def endpoint_a(f) -> str:
    """The FHIR connection of patient A's site (a saved one, so the page shows its base URL)."""
    site = f["patient_a"].site
    FhirEndpoint.objects.get_or_create(site=site, defaults={"base_url": f"https://fhir.{site.code.lower()}.example/r4"})
    return f"/setup/sites/{site.code}/fhir/"


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
    Page("fhir link", link_a, roles.SCREENERS, patient_scoped=True),
    Page("fhir link save", link_a, roles.SCREENERS, patient_scoped=True, method="post", ok_statuses=(302,)),
    Page("fhir endpoint", endpoint_a, roles.STUDY_SETUP),
    Page("fhir endpoint save", endpoint_a, roles.STUDY_SETUP, method="post"),
]
