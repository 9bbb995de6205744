"""Pages of the cleaning app (queries, record status, casebook signatures) in the access table.

Every patient reader of the site reads the study's queries, its record status and a query of its patients (nurse_b
of the other site: 404); raising one is for QUERY_RAISERS (investigator, monitor, data manager; a nurse or an admin
gets 403). A POST on a query without an action is a bad request (400) for those who may read it. Running the
data-quality rules is for QUERY_CLOSERS (monitor, data manager): the POST queues a run and redirects to the query
list (302). Signing a casebook is for SIGNERS (the investigator; an empty POST is refused on the page, 200); the
signatures list for SIGNATURE_READERS (investigator, monitor, data manager). The query is made here for whichever
study the fixtures are, so the two-study table (tests/test_two_studies.py) uses the same rows.
"""

from django.utils import timezone

from cleaning.models import Query
from cohorts import roles
from tests.access_pages import Page


def query_of_a(f) -> Query:
    """An open query on patient A (made once)."""
    patient = f["patient_a"]
    query = Query.objects.filter(patient=patient).first()
    if query is None:
        query = Query.objects.create(
            study=patient.study,
            patient=patient,
            study_day=2,
            form="",
            text="Consent form signed?",
            opened_at=timezone.now(),
        )
    return query


def query_a(f) -> str:
    return f"/queries/{query_of_a(f).pk}/"


PAGES: list = [
    Page("query list", lambda f: f"/studies/{f['study'].code}/queries/", roles.PATIENT_READERS),
    Page(
        "query rules run",
        lambda f: f"/studies/{f['study'].code}/queries/rules/run/",
        roles.QUERY_CLOSERS,
        method="post",
        ok_statuses=(302,),
    ),
    Page("record status", lambda f: f"/studies/{f['study'].code}/status/", roles.PATIENT_READERS),
    Page("query", query_a, roles.PATIENT_READERS, patient_scoped=True),
    Page("query save", query_a, roles.PATIENT_READERS, patient_scoped=True, method="post", ok_statuses=(400,)),
    Page(
        "query new", lambda f: f"/patients/{f['patient_a'].pk}/queries/new/", roles.QUERY_RAISERS, patient_scoped=True
    ),
    Page(
        "query new save",
        lambda f: f"/patients/{f['patient_a'].pk}/queries/new/",
        roles.QUERY_RAISERS,
        patient_scoped=True,
        method="post",
    ),
    Page("sign", lambda f: f"/patients/{f['patient_a'].pk}/sign/", roles.SIGNERS, patient_scoped=True),
    Page(
        "sign save", lambda f: f"/patients/{f['patient_a'].pk}/sign/", roles.SIGNERS, patient_scoped=True, method="post"
    ),
    Page("signature list", lambda f: f"/studies/{f['study'].code}/signatures/", roles.SIGNATURE_READERS),
]
