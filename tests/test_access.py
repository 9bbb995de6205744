"""Who may open what: one table for every page of the eCRF. Every new page is added here.

Each row names a page, how to build its URL from the fixtures, the roles that may open it, and whether it shows
one patient's data (then a user of another site gets 404, never the data). Anonymous users are always sent
to the login page; a role not listed gets 403.
"""

import pytest

from cohorts import roles
from tests.access_pages import EVERY_ROLE, STUDY_URL, Page
from tests.access_pages.analysis import PAGES as ANALYSIS_PAGES
from tests.access_pages.api import PAGES as API_PAGES
from tests.access_pages.cleaning import PAGES as CLEANING_PAGES
from tests.access_pages.cohorts import PAGES as COHORTS_PAGES
from tests.access_pages.ecrf import PAGES as ECRF_PAGES
from tests.access_pages.fhir import PAGES as FHIR_PAGES

BASE_PAGES = [
    Page("home", lambda f: "/", EVERY_ROLE),
    Page("patient list", lambda f: f"/studies/{f['study'].code}/patients/", roles.PATIENT_READERS),
    Page(
        "patient history",
        lambda f: f"/history/cohorts.patient/{f['patient_a'].pk}/",
        roles.PATIENT_READERS,
        patient_scoped=True,
    ),
]
PAGES = BASE_PAGES + COHORTS_PAGES + ECRF_PAGES + FHIR_PAGES + CLEANING_PAGES + ANALYSIS_PAGES + API_PAGES

USERS = [*roles.ROLES, "nurse_b", "norole"]


def expected_statuses(page: Page, username: str, url: str) -> tuple:
    role = {"nurse_b": roles.NURSE, "norole": None}.get(username, username)
    if page.allowed == EVERY_ROLE and role is None:
        return page.ok_statuses  # a logged-in user without a role sees the home page telling them so
    if role is None and STUDY_URL.match(url):
        return (404,)  # a study where the user holds no role: never a hint that it exists
    if role not in page.allowed:
        return (403,)
    if username == "nurse_b" and page.patient_scoped:
        return (404,)
    return page.ok_statuses


@pytest.fixture
def fixtures(study, users, patient_a, patient_b):
    return {"study": study, "users": users, "patient_a": patient_a, "patient_b": patient_b}


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_anonymous_is_sent_to_login(client, page, fixtures):
    url = page.url(fixtures)
    response = getattr(client, page.method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_role_and_site_access(client, page, username, fixtures):
    client.force_login(fixtures["users"][username])
    url = page.url(fixtures)
    response = getattr(client, page.method)(url)
    assert response.status_code in expected_statuses(page, username, url), response.content[:300]


def test_patient_list_shows_only_own_sites(client, fixtures):
    client.force_login(fixtures["users"]["nurse_b"])
    page = client.get(f"/studies/{fixtures['study'].code}/patients/").content.decode()
    assert "BG-0001" in page and "MI-0001" not in page
    client.force_login(fixtures["users"]["data_manager"])
    page = client.get(f"/studies/{fixtures['study'].code}/patients/").content.decode()
    assert "BG-0001" in page and "MI-0001" in page
