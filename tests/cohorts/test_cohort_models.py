"""Named database constraints refuse bad rows through full_clean() and through direct creation."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cohorts.models import Patient, Site, Study
from tests import factories


def patient_kwargs(study, site, arm, **over):
    base = {
        "study": study,
        "site": site,
        "arm": arm,
        "participant_id": "MI-0100",
        "enrolment_date": datetime.date(2020, 3, 20),
        "sex": "F",
        "age_years": 55,
        "weight_kg": 70,
    }
    return {**base, **over}


BAD_PATIENTS = [
    ("age_negative", {"age_years": -1}, None),  # PositiveSmallIntegerField + patient_age_0_120
    ("age_too_old", {"age_years": 121}, "patient_age_0_120"),
    ("weight_too_low", {"weight_kg": 29}, "patient_weight_30_300"),
    ("weight_too_high", {"weight_kg": 301}, "patient_weight_30_300"),
    ("sex_unknown", {"sex": "X"}, "patient_sex_valid"),
    ("status_unknown", {"status": "gone"}, "patient_status_valid"),
]


@pytest.mark.parametrize(("case", "over", "constraint"), BAD_PATIENTS, ids=[c[0] for c in BAD_PATIENTS])
def test_patient_constraints_refuse_bad_rows(case, over, constraint, study, site_a, arms):
    patient = Patient(**patient_kwargs(study, site_a, arms["standard"], **over))
    with pytest.raises(ValidationError):
        patient.full_clean()
    with pytest.raises(IntegrityError) as excinfo, transaction.atomic():
        Patient.objects.create(**patient_kwargs(study, site_a, arms["standard"], **over))
    if constraint and "sqlite" not in str(type(excinfo.value.__cause__)).lower():
        assert constraint in str(excinfo.value) or "CHECK" in str(excinfo.value).upper()


def test_participant_id_unique_per_study_but_not_across_studies(study, site_a, arms):
    Patient.objects.create(**patient_kwargs(study, site_a, arms["standard"]))
    duplicate = Patient(**patient_kwargs(study, site_a, arms["standard"]))
    with pytest.raises(ValidationError, match="Participant id already exists"):
        duplicate.full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Patient.objects.create(**patient_kwargs(study, site_a, arms["standard"]))
    other = factories.StudyFactory(code="ny-anakinra", protocol="new_york_2020")
    other_arm = factories.ArmFactory(study=other, code="anakinra")
    Patient(**patient_kwargs(other, site_a, other_arm)).full_clean()


def test_arm_must_belong_to_the_patients_study(study, site_a):
    other = factories.StudyFactory(code="ny-anakinra", protocol="new_york_2020")
    foreign_arm = factories.ArmFactory(study=other, code="anakinra")
    with pytest.raises(ValidationError, match="another study"):
        Patient(**patient_kwargs(study, site_a, foreign_arm)).full_clean()


def test_site_code_and_follow_up_constraints(db):
    with pytest.raises(ValidationError):
        Site(code="mi lan", name="x").full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Site.objects.create(code="mi lan", name="x")
    with pytest.raises(IntegrityError), transaction.atomic():
        Study.objects.create(code="s", title="t", protocol="milan_2020", follow_up_days=0)


def test_arm_code_unique_per_study(study):
    factories.ArmFactory(study=study, code="standard")
    with pytest.raises(IntegrityError), transaction.atomic():
        factories.ArmFactory(study=study, code="standard")


# ------------------------------------------------------------------------------------ the site's calendar day


def test_today_is_the_date_at_the_sites_time_zone(db):
    from cohorts.clock import site_today

    # 23:30 UTC on 12 Dec: already 13 Dec in Rome and on Kiritimati (UTC+14), still 12 Dec in New York.
    now = datetime.datetime(2026, 12, 12, 23, 30, tzinfo=datetime.UTC)
    assert site_today(Site(code="MI", name="Milan", time_zone="Europe/Rome"), now) == datetime.date(2026, 12, 13)
    assert site_today(Site(code="NY", name="New York", time_zone="America/New_York"), now) == datetime.date(
        2026, 12, 12
    )
    assert site_today(Site(code="KI", name="Kiritimati", time_zone="Pacific/Kiritimati"), now) == datetime.date(
        2026, 12, 13
    )


def test_site_time_zone_defaults_to_the_project_time_zone_and_must_be_an_iana_name(db, settings):
    site = Site.objects.create(code="MI", name="Milan")
    assert site.time_zone == settings.TIME_ZONE
    site.time_zone = "Mars/Olympus_Mons"
    with pytest.raises(ValidationError) as refused:
        site.full_clean()
    assert "time_zone" in refused.value.error_dict
    assert "Mars/Olympus_Mons" in refused.value.error_dict["time_zone"][0].message
    site.time_zone = "America/New_York"
    site.full_clean()
