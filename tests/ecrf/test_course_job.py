"""The derivation job stores each patient's course (clinical definitions §3.4) with its derived days: from what the
nurses entered through the services, in the site's time zone, to the values a statistician reads."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from cohorts.models import Site
from ecrf import derivation_job, derivations, services
from ecrf.models import DerivedCourse, PatientDerivation
from ecrf.services import RecordInput
from tests import factories

NEW_YORK = ZoneInfo("America/New_York")
ENROLLED = datetime.date(2020, 4, 1)
ANAKINRA = {"drug": "anakinra", "dose": Decimal(100), "dose_unit": "mg", "route": "sc", "frequency": "q6h"}


def local(day: int, hour: int) -> datetime.datetime:
    date = ENROLLED + datetime.timedelta(days=day)
    return datetime.datetime(date.year, date.month, date.day, hour, tzinfo=NEW_YORK)


@pytest.fixture
def patient(study, arms):
    site = Site.objects.create(code="NY", name="New York", time_zone="America/New_York")
    site.studies.add(study)
    return factories.PatientFactory(
        study=study,
        site=site,
        arm=arms["standard"],
        participant_id="NY-0001",
        enrolment_date=ENROLLED,
        # the oxygen criterion met the evening before day 0, New York time
        oxygen_criterion_at=local(-1, 22),
    )


def enter(form, patient, user, **values):
    return services.event_save(form=form, patient=patient, entry=RecordInput(values), user=user)


def course(patient) -> dict:
    return DerivedCourse.objects.filter(patient=patient).values().get()


def test_a_late_patient_intubated_twice_gets_the_published_kind_of_figures(patient, users):
    nurse = users["admin"]
    # first anakinra dose on day 3 at 22:00: 4 days (96 h) after the criterion -> late
    enter("drug_administration", patient, nurse, study_day=3, started_at=local(3, 22), **ANAKINRA)
    enter(
        "drug_administration", patient, nurse, study_day=4, started_at=local(4, 10), **{**ANAKINRA, "frequency": "q8h"}
    )
    enter(
        "ventilation_episodes",
        patient,
        nurse,
        study_day=4,
        intubated_at=local(4, 8),
        end_day=11,
        ended_at=local(11, 8),
        end_reason="extubated",
    )
    enter(
        "ventilation_episodes",
        patient,
        nurse,
        study_day=12,
        intubated_at=local(12, 8),
        end_day=19,
        ended_at=local(19, 8),
        end_reason="extubated",
    )
    enter("disposition_events", patient, nurse, study_day=21, kind="discharged", normal_activities=False)
    derivation_job.derive_patient(patient.pk)
    got = course(patient)
    assert (got["hours_to_anakinra"], got["timing_basis"], got["timing_group"]) == (96.0, "time", "late")
    assert (got["imv_episodes"], got["imv_days"], got["failed_extubations"], got["extubated"]) == (2, 14.0, 1, True)
    assert (got["ventilator_free_days"], got["ny_failure"], got["ny_response"]) == (14.0, True, False)
    assert (got["discharged"], got["died"], got["algorithm_version"]) == (True, False, derivations.ALGORITHM_VERSION)


def test_an_early_patient_weaned_to_two_litres_is_a_response(patient, users):
    nurse = users["admin"]
    enter("drug_administration", patient, nurse, study_day=0, started_at=local(0, 9), **ANAKINRA)
    services.day_record_save(
        form="respiratory_support",
        patient=patient,
        study_day=6,
        entry=RecordInput({"support": "nasal_cannula", "flow_l_min": Decimal(2)}),
        user=nurse,
    )
    derivation_job.derive_patient(patient.pk)
    got = course(patient)
    assert (got["hours_to_anakinra"], got["timing_group"]) == (11.0, "early")
    assert (got["ny_response"], got["ny_failure"], got["imv_episodes"], got["ventilator_free_days"]) == (
        True,
        False,
        0,
        28.0,
    )


def test_a_dose_known_only_to_the_day_says_so(patient, users):
    enter("drug_administration", patient, users["admin"], study_day=2, **ANAKINRA)
    derivation_job.derive_patient(patient.pk)
    got = course(patient)
    # the criterion's local date is day -1: three days to day 2
    assert (got["hours_to_anakinra"], got["timing_basis"], got["timing_group"]) == (72.0, "day", "intermediate")


def test_a_corrected_criterion_time_moves_the_group_and_an_unchanged_rerun_writes_nothing(patient, users):
    enter("drug_administration", patient, users["admin"], study_day=1, started_at=local(1, 10), **ANAKINRA)
    derivation_job.derive_patient(patient.pk)
    assert course(patient)["timing_group"] == "early"  # 36 h
    first = course(patient)["computed_at"]
    summary = derivation_job.derive_patient(patient.pk)
    assert summary.written == 0 and course(patient)["computed_at"] == first
    patient.oxygen_criterion_at = local(-3, 10)
    patient.save()
    summary = derivation_job.derive_patient(patient.pk)
    assert summary.written > 0 and course(patient)["timing_group"] == "late"  # 96 h
    assert PatientDerivation.objects.get(patient=patient).algorithm_version == derivations.ALGORITHM_VERSION


def test_the_study_settings_move_the_timing_limits(patient, users):
    enter("drug_administration", patient, users["admin"], study_day=1, started_at=local(1, 22), **ANAKINRA)
    derivation_job.derive_patient(patient.pk)
    assert course(patient)["timing_group"] == "intermediate"  # 48 h
    patient.study.settings = {"derivation": {"timing_early_max_hours": 48}}
    patient.study.save()
    derivation_job.derive_patient(patient.pk)
    assert course(patient)["timing_group"] == "early"
