"""The FHIR pages ask for the role at the patient's own study and site (cohorts/roles.py), not for a role held
somewhere: a nurse at one site who monitors another reads that site's day pages but neither pulls nor decides
there; a site's connection is edited by those who may edit the site (cohorts.selectors.site_get)."""

from cohorts import roles
from cohorts.team import grant
from fhir_pull.models import FhirEndpoint, PatientLink, Pull
from tests import factories
from tests.fhir.conftest import DAY, pull_url, review_url


def test_a_nurse_of_one_site_who_monitors_another_neither_pulls_nor_decides_there(client, users, connected, site_a):
    nurse_b = users["nurse_b"]  # nurse at site BG of the study
    grant(nurse_b, site_a.studies.get(), roles.MONITOR, [site_a], reason="test: monitors Milan")
    patient_a = PatientLink.objects.get().patient
    client.force_login(nurse_b)
    page = client.get(f"/patients/{patient_a.pk}/day/{DAY}/")
    assert page.status_code == 200 and 'data-testid="fhir-pull"' not in page.content.decode()
    assert client.post(pull_url(patient_a)).status_code == 403
    assert client.get(review_url(patient_a)).status_code == 403
    assert client.post(review_url(patient_a), {}).status_code == 403
    assert not Pull.objects.exists()


def test_an_investigator_of_one_site_who_monitors_another_does_not_link_its_patients(client, study, site_b, patient_a):
    investigator = factories.UserFactory(username="inv_bergamo")
    grant(investigator, study, roles.INVESTIGATOR, [site_b], reason="test: Bergamo")
    grant(investigator, study, roles.MONITOR, [patient_a.site], reason="test: monitors Milan")
    client.force_login(investigator)
    assert client.get(f"/patients/{patient_a.pk}/fhir/link/").status_code == 403
    assert client.post(f"/patients/{patient_a.pk}/fhir/link/", {"mrn": "X"}).status_code == 403
    assert not PatientLink.objects.exists()


def test_a_site_shared_with_another_study_is_connected_by_an_administrator(client, users, site_a):
    other = factories.StudyFactory(code="paris-anakinra", protocol="milan_2020")
    site_a.studies.add(other)
    url = f"/setup/sites/{site_a.code}/fhir/"
    client.force_login(users["data_manager"])  # data manager of the first study only
    assert client.get(url).status_code == 404
    assert client.post(url, {"base_url": "https://fhir.example.org/r4", "auth_kind": "none"}).status_code == 404
    assert not FhirEndpoint.objects.exists()
    client.force_login(users["admin"])
    assert client.get(url).status_code == 200
