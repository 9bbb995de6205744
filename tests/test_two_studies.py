"""Two studies on one installation (issue 14 item 4): every page and endpoint of the access tables, opened by each
member of study A for study B's objects, answers 404 or 403 and never shows B's data; a role in one study gives
nothing in the other; one person may hold different roles in the two studies.
"""

import datetime

import pytest

from cohorts import roles
from cohorts.team import grant
from tests import factories
from tests.access_pages.api import ENDPOINTS
from tests.api.conftest import Api, make_token
from tests.test_access import PAGES

B_CODE = "paris-anakinra"
B_PATIENT = "PA-0001"
DENIED = (403, 404)


@pytest.fixture
def study_b(db):
    return factories.StudyFactory(code=B_CODE, title="Anakinra in ARDS (Paris)", protocol="milan_2020")


@pytest.fixture
def b(study_b, users, study, patient_a):
    """Study B with its site PA, an arm and a patient; the fixtures dict of the access tables, pointed at B."""
    site = factories.SiteFactory(code="PA", name="Paris Bichat", studies=[study_b])
    arm = factories.ArmFactory(study=study_b, code="standard", name="Standard treatment")
    patient = factories.PatientFactory(
        study=study_b, site=site, arm=arm, participant_id=B_PATIENT, enrolment_date=datetime.date(2020, 4, 1)
    )
    # The objects the pages need (a release, jobs) are made by B's own data manager.
    b_users = {**users, "data_manager": factories.UserFactory(username="dm_paris")}
    grant(b_users["data_manager"], study_b, roles.DATA_MANAGER, reason="test: B's data manager")
    b_users["statistician"] = factories.UserFactory(username="stat_paris")
    grant(b_users["statistician"], study_b, roles.STATISTICIAN, reason="test: B's statistician")
    return {"study": study_b, "users": b_users, "patient_a": patient, "patient_b": patient}


def a_fixtures(study, users, patient_a, patient_b):
    return {"study": study, "users": users, "patient_a": patient_a, "patient_b": patient_b}


A_MEMBERS = [r for r in roles.ROLES if r != roles.ADMIN] + ["nurse_b"]


@pytest.mark.parametrize("username", A_MEMBERS)
@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_a_member_of_study_a_gets_nothing_of_study_b(client, page, username, b, study, users, patient_a, patient_b):
    a_url = page.url(a_fixtures(study, users, patient_a, patient_b))
    b_url = page.url(b)
    client.force_login(users[username])
    response = getattr(client, page.method)(b_url)
    if b_url != a_url:
        assert response.status_code in DENIED, (b_url, response.status_code)
    else:  # a page of no study (home, set-up, help, tokens): it may open, but shows nothing of B
        body = response.content.decode(errors="replace") if response.status_code == 200 else ""
        assert B_CODE not in body and B_PATIENT not in body and "Paris" not in body, b_url


@pytest.mark.parametrize("username", A_MEMBERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_a_token_of_study_a_gets_nothing_of_study_b(client, endpoint, username, b, study, users, patient_a, patient_b):
    a_url = endpoint.url(a_fixtures(study, users, patient_a, patient_b))
    b_url = endpoint.url(b)
    api = Api(client, make_token(users[username]))
    headers = endpoint.headers(b) if endpoint.headers else None
    if endpoint.method == "get":
        response = api.get(b_url, headers=headers)
    else:
        response = getattr(api, endpoint.method)(b_url, endpoint.body(b) if endpoint.body else {}, headers=headers)
    if b_url != a_url:
        assert response.status_code in DENIED, (b_url, response.status_code)
    else:
        body = response.content.decode(errors="replace") if response.status_code == 200 else ""
        assert B_CODE not in body and B_PATIENT not in body, b_url


def test_the_statistician_of_a_sees_only_a_on_the_home_page_and_the_api(client, b, users, study):
    client.force_login(users["statistician"])
    home = client.get("/").content.decode()
    assert study.code in home and B_CODE not in home
    listed = Api(client, make_token(users["statistician"])).get("/api/v1/studies/").json()
    assert [s["code"] for s in listed["results"]] == [study.code]


def test_one_person_holds_different_roles_in_two_studies(client, b, users, patient_a):
    """A nurse of A who monitors B: enters A's data, reads B's casebook, and cannot save in B."""
    nurse = users["nurse"]
    grant(nurse, b["study"], roles.MONITOR, reason="test: monitors the Paris study")
    client.force_login(nurse)
    patient_b_of_b = b["patient_a"]
    assert client.get(f"/patients/{patient_b_of_b.pk}/").status_code == 200
    page = client.get(f"/patients/{patient_b_of_b.pk}/day/1/").content.decode()
    assert 'data-testid="save"' not in page
    assert client.post(f"/patients/{patient_b_of_b.pk}/day/1/", {}).status_code == 403
    assert client.post(f"/patients/{patient_a.pk}/day/1/", {}).status_code == 302  # A: data entry
    assert client.get(f"/studies/{B_CODE}/screenings/").status_code == 200  # monitors read the log
    assert client.get(f"/studies/{B_CODE}/screenings/new/").status_code == 403
    home = client.get("/").content.decode()
    assert "Study nurse" in home and "Monitor" in home


def test_a_role_at_one_site_of_a_study_sees_only_that_site(client, b, users):
    """An investigator of B at site PA only: B's second site's patient is a 404, and so is A's."""
    other = factories.SiteFactory(code="LY", name="Lyon", studies=[b["study"]])
    arm = b["patient_a"].arm
    lyon_patient = factories.PatientFactory(study=b["study"], site=other, arm=arm, participant_id="LY-0001")
    investigator = factories.UserFactory(username="inv_paris")
    grant(investigator, b["study"], roles.INVESTIGATOR, [b["patient_a"].site], reason="test: Paris only")
    client.force_login(investigator)
    assert client.get(f"/patients/{b['patient_a'].pk}/").status_code == 200
    assert client.get(f"/patients/{lyon_patient.pk}/").status_code == 404
    listing = client.get(f"/studies/{B_CODE}/patients/").content.decode()
    assert B_PATIENT in listing and "LY-0001" not in listing
    assert client.get(f"/studies/{users['nurse'].role_assignments.first().study.code}/patients/").status_code == 404
