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
