"""Pages of the cohorts app in the access table."""

import datetime

from cohorts import roles
from cohorts.models import Screening
from tests.access_pages import Page


def screening_a(f) -> Screening:
    """An eligible screening at site A (patient A's site), made once per test."""
    site = f["patient_a"].site
    screening, _ = Screening.objects.get_or_create(
        study=f["study"],
        number="MI-S0001",
        defaults={
            "site": site,
            "assessed_at": datetime.datetime(2020, 3, 16, 9, tzinfo=datetime.UTC),
            "screened_by": f["users"]["investigator"],
            "values": {"age_years": 60},
            "entered_units": {"crp_mg_l": "mg/L"},
            "criteria": [{"code": "age", "passes": True, "verdict": "met", "label": "Age", "kind": "inclusion"}],
            "eligible": True,
        },
    )
    return screening


def screenings(f, suffix: str = "") -> str:
    return f"/studies/{f['study'].code}/screenings/{suffix}"


PAGES: list = [
    Page("screening log", lambda f: screenings(f), roles.SCREENING_READERS),
    Page("screening form", lambda f: screenings(f, "new/"), roles.SCREENERS),
    Page("screening form post", lambda f: screenings(f, "new/"), roles.SCREENERS, method="post"),
    Page("screening live evaluation", lambda f: screenings(f, "evaluate/"), roles.SCREENERS, method="post"),
    Page(
        "screening detail",
        lambda f: screenings(f, f"{screening_a(f).pk}/"),
        roles.SCREENING_READERS,
        patient_scoped=True,
    ),
    Page(
        "enrolment form", lambda f: screenings(f, f"{screening_a(f).pk}/enrol/"), roles.SCREENERS, patient_scoped=True
    ),
    Page(
        "enrolment post",
        lambda f: screenings(f, f"{screening_a(f).pk}/enrol/"),
        roles.SCREENERS,
        patient_scoped=True,
        method="post",
    ),
]


def setup(f, suffix: str = "") -> str:
    return f"/setup/{suffix}"


def arm_of_a(f) -> str:
    return f["patient_a"].arm.code


# Study set-up: the study's data managers and the system administrators (roles.STUDY_SETUP, may_set_up_studies);
# a new study or site: the system administrators only (may_create_studies).
ADMINS = frozenset({roles.ADMIN})
PAGES += [
    Page("set-up", lambda f: setup(f), roles.STUDY_SETUP),
    Page("set-up new study", lambda f: setup(f, "studies/new/"), ADMINS),
    Page("set-up new study post", lambda f: setup(f, "studies/new/"), ADMINS, method="post"),
    Page("set-up study", lambda f: setup(f, f"studies/{f['study'].code}/"), roles.STUDY_SETUP),
    Page("set-up study post", lambda f: setup(f, f"studies/{f['study'].code}/"), roles.STUDY_SETUP, method="post"),
    Page("set-up new arm", lambda f: setup(f, f"studies/{f['study'].code}/arms/new/"), roles.STUDY_SETUP),
    Page(
        "set-up new arm post",
        lambda f: setup(f, f"studies/{f['study'].code}/arms/new/"),
        roles.STUDY_SETUP,
        method="post",
    ),
    Page("set-up arm", lambda f: setup(f, f"studies/{f['study'].code}/arms/{arm_of_a(f)}/"), roles.STUDY_SETUP),
    Page(
        "set-up arm post",
        lambda f: setup(f, f"studies/{f['study'].code}/arms/{arm_of_a(f)}/"),
        roles.STUDY_SETUP,
        method="post",
    ),
    Page("set-up new site", lambda f: setup(f, "sites/new/"), ADMINS),
    Page("set-up new site post", lambda f: setup(f, "sites/new/"), ADMINS, method="post"),
    Page("set-up site", lambda f: setup(f, f"sites/{f['patient_a'].site.code}/"), roles.STUDY_SETUP),
    Page(
        "set-up site post", lambda f: setup(f, f"sites/{f['patient_a'].site.code}/"), roles.STUDY_SETUP, method="post"
    ),
]
