"""Fixtures of the FHIR pull tests: the fake server, a site connected to it and patient A linked to its record."""

import pytest

from fhir_pull.models import FhirEndpoint, PatientLink
from tests.fhir.server import FakeFhirServer, fhir_patient

# Patient A (tests/conftest.py) is enrolled on 2020-03-17 at site MI (Europe/Rome): study day 3 is 2020-03-20,
# from 2020-03-19T23:00Z to 2020-03-20T23:00Z.
DAY = 3
IN_DAY = "2020-03-20T08:30:00+01:00"


@pytest.fixture
def server():
    fake = FakeFhirServer().start()
    fake.patients.append(fhir_patient("p1", "MRN-0001"))
    yield fake
    fake.stop()


@pytest.fixture
def connected(server, site_a, patient_a):
    """Site A has the fake server as its FHIR endpoint; patient A is linked to its FHIR Patient p1."""
    FhirEndpoint.objects.create(site=site_a, base_url=server.url)
    PatientLink.objects.create(patient=patient_a, mrn="MRN-0001")
    return server


@pytest.fixture
def nurse(client, users):
    client.force_login(users["nurse"])
    return client


def review_url(patient, day: int = DAY) -> str:
    return f"/patients/{patient.pk}/day/{day}/fhir/"


def pull_url(patient, day: int = DAY) -> str:
    return f"/patients/{patient.pk}/day/{day}/fhir/pull/"
