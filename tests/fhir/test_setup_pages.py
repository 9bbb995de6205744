"""A data manager connects a site to its FHIR server (the secret is an environment variable's name, never shown);
an investigator links a patient to its hospital record."""

import re

import pytest

from fhir_pull.models import FhirEndpoint, PatientLink


def test_a_site_is_connected_with_the_name_of_its_secret_variable(client, users, site_a):
    client.force_login(users["data_manager"])
    url = "/setup/sites/MI/fhir/"
    response = client.post(
        url,
        {"base_url": "https://fhir.example.org/r4", "auth_kind": "bearer", "secret_env": "SECRET_KEY"},
    )
    assert "Name an environment variable starting with FHIR_SECRET_" in response.content.decode()
    assert not FhirEndpoint.objects.exists()
    response = client.post(url, {"base_url": "https://fhir.example.org/r4", "auth_kind": "bearer"})
    assert response.context["form"].errors == {
        "secret_env": ["Name the environment variable that holds the secret of this authentication."]
    }
    assert "Constraint" not in response.content.decode()
    assert not FhirEndpoint.objects.exists()
    response = client.post(
        url,
        {"base_url": "https://fhir.example.org/r4", "auth_kind": "bearer", "secret_env": "FHIR_SECRET_MILAN"},
    )
    assert response.status_code == 302
    endpoint = FhirEndpoint.objects.get(site=site_a)
    assert (endpoint.auth_kind, endpoint.secret_env) == ("bearer", "FHIR_SECRET_MILAN")
    assert endpoint.history.get().history_user == users["data_manager"]


def test_client_credentials_need_the_token_url_and_client_id(client, users, site_a):
    client.force_login(users["data_manager"])
    response = client.post(
        "/setup/sites/MI/fhir/",
        {"base_url": "https://fhir.example.org/r4", "auth_kind": "client_credentials", "secret_env": "FHIR_SECRET_X"},
    )
    assert response.context["form"].errors == {
        "token_url": ["Give the token URL of OAuth2 client credentials."],
        "client_id": ["Give the client id of OAuth2 client credentials."],
    }
    assert "Constraint" not in response.content.decode()
    assert not FhirEndpoint.objects.exists()


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        ({"base_url": "ftp://fhir.example.org/r4"}, {"base_url": ["Give an address starting with https://."]}),
        (
            {"base_url": "http://fhir.example.org/r4", "auth_kind": "bearer", "secret_env": "FHIR_SECRET_MI"},
            {"base_url": ["The secret is sent to this address: give one starting with https://."]},
        ),
        (
            {
                "auth_kind": "client_credentials",
                "token_url": "http://login.example.org/token",
                "client_id": "ecrf",
                "secret_env": "FHIR_SECRET_MI",
            },
            {"token_url": ["The secret is sent to this address: give one starting with https://."]},
        ),
    ],
)
def test_a_connection_speaks_http_and_sends_a_secret_over_https_only(client, users, site_a, values, errors):
    client.force_login(users["data_manager"])
    response = client.post(
        "/setup/sites/MI/fhir/", {"base_url": "https://fhir.example.org/r4", "auth_kind": "none", **values}
    )
    assert response.context["form"].errors == errors
    assert not FhirEndpoint.objects.exists()


def test_an_open_test_server_may_be_plain_http(client, users, site_a):
    client.force_login(users["data_manager"])
    response = client.post("/setup/sites/MI/fhir/", {"base_url": "http://127.0.0.1:8080/fhir", "auth_kind": "none"})
    assert response.status_code == 302
    assert FhirEndpoint.objects.get(site=site_a).base_url == "http://127.0.0.1:8080/fhir"


def test_a_patient_is_linked_by_its_medical_record_number(client, users, patient_a):
    client.force_login(users["investigator"])
    url = f"/patients/{patient_a.pk}/fhir/link/"
    assert client.post(url, {"mrn": " 123-456 ", "identifier_system": "urn:oid:1.2.3"}).status_code == 302
    link = PatientLink.objects.get(patient=patient_a)
    assert (link.mrn, link.identifier_system) == ("123-456", "urn:oid:1.2.3")
    assert "123-456" in client.get(url).content.decode()
    client.post(url, {"mrn": ""})
    assert not PatientLink.objects.exists()


def _opened(page: str) -> str:
    return re.search(r'name="opened" value="(\d+)"', page).group(1)


def test_a_connection_page_opened_before_another_change_does_not_undo_it(client, users, site_a):
    """Two data managers open the site's connection; the first moves it to a new server. The second page, posting
    the whole connection to set its secret, is refused, naming the change, and the new server stays."""
    client.force_login(users["data_manager"])
    url = "/setup/sites/MI/fhir/"
    client.post(url, {"base_url": "https://old.example.org/r4", "auth_kind": "none"})
    opened = _opened(client.get(url).content.decode())
    moved = {"base_url": "https://new.example.org/r4", "auth_kind": "none", "opened": opened}
    assert client.post(url, moved).status_code == 302
    stale = {"base_url": "https://old.example.org/r4", "auth_kind": "bearer", "secret_env": "FHIR_SECRET_MI"}
    refused = client.post(url, stale | {"opened": opened})
    page = refused.content.decode()
    assert refused.status_code == 200 and "changed by someone else after you opened it" in page
    assert "https://new.example.org/r4 (you started from https://old.example.org/r4)" in page
    assert FhirEndpoint.objects.get(site=site_a).base_url == "https://new.example.org/r4"
    reopened = _opened(client.get(url).content.decode())
    assert client.post(url, stale | {"base_url": "https://new.example.org/r4", "opened": reopened}).status_code == 302
    assert FhirEndpoint.objects.get(site=site_a).secret_env == "FHIR_SECRET_MI"


def test_a_link_page_opened_before_another_change_does_not_undo_it(client, users, patient_a):
    """The page was opened with no link; meanwhile a colleague linked the patient: the stale page's number is
    refused, and so is the removal of a link changed since the page was opened."""
    client.force_login(users["investigator"])
    url = f"/patients/{patient_a.pk}/fhir/link/"
    unlinked = _opened(client.get(url).content.decode())
    assert unlinked == "0"
    assert client.post(url, {"mrn": "111", "opened": unlinked}).status_code == 302
    refused = client.post(url, {"mrn": "222", "opened": unlinked})
    assert "changed by someone else after you opened it" in refused.content.decode()
    assert PatientLink.objects.get(patient=patient_a).mrn == "111"
    opened = _opened(client.get(url).content.decode())
    assert client.post(url, {"mrn": "333", "opened": opened}).status_code == 302
    assert "changed by someone else" in client.post(url, {"mrn": "", "opened": opened}).content.decode()
    assert PatientLink.objects.get(patient=patient_a).mrn == "333"
