"""Concurrent enrolments on PostgreSQL: the id counter and the screening row are locked (SELECT ... FOR UPDATE)."""

import datetime
import threading

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from cohorts import services
from cohorts.models import Patient, Screening
from tests.factories import UserFactory

pytestmark = [
    # serialized_rollback: the flush after the test restores the role groups for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks need PostgreSQL"),
]


def eligible_screening(study, site, user, n) -> Screening:
    return Screening.objects.create(
        study=study,
        site=site,
        number=f"{site.code}-T{n:04d}",
        assessed_at=datetime.datetime(2020, 3, 16, 9, tzinfo=datetime.UTC),
        screened_by=user,
        values={"age_years": 60},
        entered_units={"crp_mg_l": "mg/L"},
        criteria=[{"code": "age", "passes": True, "verdict": "met", "label": "Age", "kind": "inclusion"}],
        eligible=True,
    )


def run_together(calls):
    barrier = threading.Barrier(len(calls))
    outcomes = [None] * len(calls)

    def worker(i, call):
        try:
            barrier.wait()
            outcomes[i] = call()
        except Exception as error:  # the outcome is what the test looks at
            outcomes[i] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return outcomes


def enrol(screening, arm, user):
    return lambda: services.patient_enrol(
        screening=screening,
        arm=arm,
        enrolment_date=datetime.date(2020, 3, 16),
        sex="F",
        age_years=None,
        weight_kg=70,
        user=user,
    )


@pytest.fixture
def user(db):
    # Not the role users: a transactional test flushes the role groups of the data migration.
    return UserFactory(username="concurrent-investigator")


def test_concurrent_enrolments_get_distinct_ids(study, site_a, arms, user):
    screenings = [eligible_screening(study, site_a, user, n) for n in range(4)]
    outcomes = run_together([enrol(s, arms["standard"], user) for s in screenings])
    assert all(isinstance(o, Patient) for o in outcomes), outcomes
    assert sorted(p.participant_id for p in outcomes) == ["MI-0001", "MI-0002", "MI-0003", "MI-0004"]


def test_concurrent_enrolments_of_one_screening_make_one_patient(study, site_a, arms, user):
    screening = eligible_screening(study, site_a, user, 1)
    outcomes = run_together([enrol(screening, arms["standard"], user) for _ in range(3)])
    assert sum(isinstance(o, Patient) for o in outcomes) == 1
    refusals = [o for o in outcomes if isinstance(o, ValidationError)]
    assert len(refusals) == 2 and all(r.code == "already_enrolled" for r in refusals)
    assert Patient.objects.count() == 1
