"""A data manager connects a site to its FHIR server (the secret is an environment variable's name, never shown);
an investigator links a patient to its hospital record."""

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
    assert "fhir_endpoint_auth_needs_secret" in response.content.decode() or "secret" in response.content.decode()
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
    assert response.status_code == 200 and not FhirEndpoint.objects.exists()


def test_a_patient_is_linked_by_its_medical_record_number(client, users, patient_a):
    client.force_login(users["investigator"])
    url = f"/patients/{patient_a.pk}/fhir/link/"
    assert client.post(url, {"mrn": " 123-456 ", "identifier_system": "urn:oid:1.2.3"}).status_code == 302
    link = PatientLink.objects.get(patient=patient_a)
    assert (link.mrn, link.identifier_system) == ("123-456", "urn:oid:1.2.3")
    assert "123-456" in client.get(url).content.decode()
    client.post(url, {"mrn": ""})
    assert not PatientLink.objects.exists()
