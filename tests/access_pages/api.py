"""The API in the access table: its two pages (tests/test_access.py), and every endpoint x every role
(tests/api/test_access_api.py), with a bearer token of each user instead of a session.

An endpoint names its roles by the same role sets as the pages (cohorts/roles.py); a role not listed gets 403 (a
problem), nurse_b of the other site gets 404 for patient A's data; a user without a role gets 403.
"""

from collections.abc import Callable
from dataclasses import dataclass

from cohorts import roles
from ecrf.crfs import CATALOGUE
from ecrf.models import AdverseEvent, VitalSigns
from tests.access_pages import EVERY_ROLE, Page
from tests.access_pages.analysis import export_job, release_v1
from tests.access_pages.cleaning import query_of_a
from tests.access_pages.cohorts import screening_a

PAGES: list = [
    # Open without a verified second factor: the page says itself that a token needs one (test_tokens_page.py).
    Page("api tokens", lambda f: "/accounts/api-tokens/", EVERY_ROLE, open_without_second_factor=True),
    Page(
        "api tokens post",
        lambda f: "/accounts/api-tokens/",
        EVERY_ROLE,
        method="post",
        open_without_second_factor=True,
    ),
    Page("api documentation", lambda f: "/api/v1/docs/", EVERY_ROLE),
]

AUTHENTICATED = frozenset({*roles.ROLES, None})  # any user with a token, even without a role


@dataclass(frozen=True)
class Endpoint:
    name: str
    url: Callable[[dict], str]
    allowed: frozenset
    patient_scoped: bool = False
    method: str = "get"
    body: Callable[[dict], dict] | None = None
    headers: Callable[[dict], dict] | None = None
    ok_statuses: tuple = (200,)


def vitals_a(f) -> VitalSigns:
    record = VitalSigns.objects.filter(patient=f["patient_a"], study_day=1).first()
    return record or VitalSigns.objects.create(patient=f["patient_a"], study_day=1, heart_rate_bpm=80)


def adverse_a(f) -> AdverseEvent:
    record = AdverseEvent.objects.filter(patient=f["patient_a"]).first()
    return record or AdverseEvent.objects.create(patient=f["patient_a"], study_day=2, kind="thromboembolism")


def v1(f, suffix: str = "") -> str:
    return f"/api/v1/studies/{f['study'].code}/{suffix}"


def p1(f, suffix: str = "") -> str:
    return f"/api/v1/patients/{f['patient_a'].pk}/{suffix}"


ENDPOINTS: list = [
    Endpoint("schema", lambda f: "/api/v1/schema/", AUTHENTICATED),
    Endpoint("forms", lambda f: "/api/v1/forms/", EVERY_ROLE),
    Endpoint("form", lambda f: "/api/v1/forms/vital_signs/", EVERY_ROLE),
    Endpoint("studies", lambda f: "/api/v1/studies/", EVERY_ROLE),
    Endpoint("study", lambda f: v1(f), EVERY_ROLE),
    Endpoint("patients", lambda f: v1(f, "patients/"), roles.PATIENT_READERS),
    Endpoint("patient", lambda f: p1(f), roles.PATIENT_READERS, patient_scoped=True),
    *[
        Endpoint(f"records {key}", lambda f, key=key: p1(f, f"records/{key}/"), roles.PATIENT_READERS, True)
        for key in CATALOGUE
    ],
    Endpoint(
        "record vital_signs",
        lambda f: p1(f, f"records/vital_signs/{vitals_a(f).pk}/"),
        roles.PATIENT_READERS,
        patient_scoped=True,
    ),
    Endpoint(
        "record adverse_events",
        lambda f: p1(f, f"records/adverse_events/{adverse_a(f).pk}/"),
        roles.PATIENT_READERS,
        patient_scoped=True,
    ),
    Endpoint(
        "record vital_signs create",
        lambda f: p1(f, "records/vital_signs/"),
        roles.DATA_ENTRY,
        patient_scoped=True,
        method="post",
        body=lambda f: {"study_day": 3, "values": {"heart_rate_bpm": 90}},
        ok_statuses=(201,),
    ),
    Endpoint(
        "record vital_signs update",
        lambda f: p1(f, f"records/vital_signs/{vitals_a(f).pk}/"),
        roles.DATA_ENTRY,
        patient_scoped=True,
        method="put",
        body=lambda f: {"values": {"heart_rate_bpm": 91}, "reason": "typo"},
        headers=lambda f: {"If-Match": '"1"'},
    ),
    Endpoint(
        "record adverse_events create",
        lambda f: p1(f, "records/adverse_events/"),
        roles.DATA_ENTRY,
        patient_scoped=True,
        method="post",
        body=lambda f: {"values": {"study_day": 2, "kind": "other", "description": "rash"}},
        ok_statuses=(201,),
    ),
    Endpoint(
        "record adverse_events update",
        lambda f: p1(f, f"records/adverse_events/{adverse_a(f).pk}/"),
        roles.DATA_ENTRY,
        patient_scoped=True,
        method="put",
        body=lambda f: {"values": {"study_day": 2, "kind": "thromboembolism", "serious": True}, "reason": "serious"},
        headers=lambda f: {"If-Match": '"1"'},
    ),
    Endpoint("screenings", lambda f: v1(f, "screenings/"), roles.SCREENING_READERS),
    Endpoint("screening", lambda f: v1(f, f"screenings/{screening_a(f).pk}/"), roles.SCREENING_READERS),
    Endpoint("releases", lambda f: v1(f, "releases/"), roles.RELEASE_DOWNLOADERS),
    Endpoint("release", lambda f: v1(f, f"releases/{release_v1(f).version}/"), roles.RELEASE_DOWNLOADERS),
    Endpoint(
        "release file",
        lambda f: v1(f, f"releases/{release_v1(f).version}/files/figures/km_os.png"),
        roles.RELEASE_DOWNLOADERS,
    ),
    Endpoint("queries", lambda f: v1(f, "queries/"), roles.PATIENT_READERS),
    Endpoint("patient queries", lambda f: p1(f, "queries/"), roles.PATIENT_READERS, patient_scoped=True),
    Endpoint(
        "patient query create",
        lambda f: p1(f, "queries/"),
        roles.QUERY_RAISERS,
        patient_scoped=True,
        method="post",
        body=lambda f: {"study_day": 2, "form": "vital_signs", "text": "Vital signs of day 2?"},
        ok_statuses=(201,),
    ),
    Endpoint("query", lambda f: f"/api/v1/queries/{query_of_a(f).pk}/", roles.PATIENT_READERS, patient_scoped=True),
    Endpoint(
        "query comment",
        lambda f: f"/api/v1/queries/{query_of_a(f).pk}/comment/",
        roles.QUERY_RAISERS | roles.QUERY_ANSWERERS,
        patient_scoped=True,
        method="post",
        body=lambda f: {"text": "Looking into it."},
    ),
    Endpoint("export download", lambda f: f"/api/v1/exports/{export_job(f).pk}/download/", roles.RELEASE_DOWNLOADERS),
]
