"""Every endpoint of the API x every role (tests/access_pages/api.py): a token acts exactly as its user."""

import pytest

from cohorts import roles
from tests.access_pages import STUDY_URL
from tests.access_pages.api import ENDPOINTS
from tests.api.conftest import Api, make_token

USERS = [*roles.ROLES, "nurse_b", "norole"]


def expected(endpoint, username: str, url: str) -> tuple:
    role = {"nurse_b": roles.NURSE, "norole": None}.get(username, username)
    if role is None and role not in endpoint.allowed and STUDY_URL.match(url):
        return (404,)  # a study where the user holds no role: never a hint that it exists
    if role not in endpoint.allowed:
        return (403,)
    if username == "nurse_b" and endpoint.patient_scoped:
        return (404,)
    return endpoint.ok_statuses


@pytest.fixture
def fixtures(study, users, patient_a, patient_b):
    return {"study": study, "users": users, "patient_a": patient_a, "patient_b": patient_b}


def call(client, endpoint, fixtures, token):
    api = Api(client, token)
    url = endpoint.url(fixtures)
    headers = endpoint.headers(fixtures) if endpoint.headers else None
    if endpoint.method == "get":
        return api.get(url, headers=headers)
    return getattr(api, endpoint.method)(url, endpoint.body(fixtures) if endpoint.body else {}, headers=headers)


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_no_token_is_401(client, endpoint, fixtures):
    response = call(client, endpoint, fixtures, None)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=[e.name for e in ENDPOINTS])
def test_role_and_site_access(client, endpoint, username, fixtures):
    response = call(client, endpoint, fixtures, make_token(fixtures["users"][username]))
    url = endpoint.url(fixtures)
    assert response.status_code in expected(endpoint, username, url), getattr(response, "content", b"")[:400]
    if response.status_code >= 400:
        assert response["Content-Type"] == "application/problem+json"
        assert response.json()["status"] == response.status_code
