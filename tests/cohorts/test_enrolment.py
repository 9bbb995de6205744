"""Enrolment from a screening: only eligible ones, once, with a generated id, audited, day-0 data from the screening."""

import datetime

import pytest
from django.core.exceptions import ValidationError

from cohorts import services
from cohorts.models import Patient, Screening, StudyIdCounter
from ecrf.models import LabResult, RespiratorySupport
from tests.cohorts.screening_data import milan_post


@pytest.fixture
def investigator(users):
    return users["investigator"]


def screen(client, study, site, **changes) -> Screening:
    response = client.post(f"/studies/{study.code}/screenings/new/", milan_post(site, **changes))
    assert response.status_code == 302, response.context["form"].errors
    return Screening.objects.latest("pk")


def enrol_url(screening):
    return f"/studies/{screening.study.code}/screenings/{screening.pk}/enrol/"


def enrol_post(arm, **changes):
    data = {
        "arm": str(arm.pk),
        "enrolment_date": "2020-03-16",
        "sex": "M",
        "weight_kg": "82.5",
        "smoking": "no",
        "hypertension": "yes",
        "coronary_artery_disease": "unknown",
        "diabetes": "no",
        "copd": "no",
        "chronic_kidney_disease": "no",
    }
    data.update(changes)
    return {k: v for k, v in data.items() if v is not None}


def test_eligible_candidate_is_enrolled_audited_and_counted(client, study, site_a, arms, investigator):
    client.force_login(investigator)
    screening = screen(client, study, site_a)
    response = client.post(enrol_url(screening), enrol_post(arms["high_dose"]))
    assert response.status_code == 302
    patient = Patient.objects.get(screening=screening)
    assert patient.participant_id == "MI-0001"
    assert patient.arm == arms["high_dose"] and patient.site == site_a
    assert patient.enrolment_date == datetime.date(2020, 3, 16)
    assert patient.age_years == 62  # from the screening, not typed twice
    assert patient.hypertension is True and patient.coronary_artery_disease is None
    record = patient.history.get()
    assert record.history_change_reason == "enrolment" and record.history_user == investigator
    log = client.get(f"/studies/{study.code}/screenings/")
    assert log.context["counts"]["enrolled"] == 1
    assert log.context["counts"]["per_arm"] == [
        {"patient__arm__code": "high_dose", "patient__arm__name": "High-dose anakinra", "n": 1}
    ]
    assert "MI-0001" in log.content.decode()


def test_ineligible_candidate_cannot_be_enrolled_through_the_page(client, study, site_a, arms, investigator):
    client.force_login(investigator)
    screening = screen(client, study, site_a, crp_mg_l="80", ferritin_ng_ml="500", bacterial_infection="yes")
    page = client.get(enrol_url(screening)).content.decode()
    assert "cannot be enrolled" in page and "Hyperinflammation (CRP or ferritin) (not met)" in page
    assert 'type="submit">Enrol<' not in page
    response = client.post(enrol_url(screening), enrol_post(arms["standard"]))
    assert response.status_code == 200
    form = response.context["form"]
    assert form.has_error("__all__", "not_eligible")
    message = " ".join(form.non_field_errors())
    assert "Hyperinflammation (CRP or ferritin) (not met)" in message
    assert "Evidence of bacterial infection (exclusion applies)" in message
    assert not Patient.objects.exists()


def test_screen_failure_with_missing_data_cannot_be_enrolled(study, site_a, arms, investigator):
    screening = services.screening_create(
        study=study,
        site=site_a,
        assessed_at=datetime.datetime(2020, 3, 16, 9, tzinfo=datetime.UTC),
        values={"age_years": 70},
        entered_units={},
        user=investigator,
        as_screen_failure=True,
    )
    with pytest.raises(ValidationError) as refused:
        services.patient_enrol(
            screening=screening,
            arm=arms["standard"],
            enrolment_date=datetime.date(2020, 3, 16),
            sex="F",
            age_years=None,
            weight_kg=None,
            user=investigator,
        )
    assert refused.value.code == "not_eligible" and "(missing data)" in refused.value.message


def test_a_screening_is_enrolled_once(client, study, site_a, arms, investigator):
    client.force_login(investigator)
    screening = screen(client, study, site_a)
    client.post(enrol_url(screening), enrol_post(arms["standard"]))
    response = client.post(enrol_url(screening), enrol_post(arms["high_dose"]))
    assert response.status_code == 200
    assert "already enrolled as MI-0001" in response.content.decode()
    assert Patient.objects.count() == 1
    with pytest.raises(ValidationError) as refused:
        services.patient_enrol(
            screening=screening,
            arm=arms["standard"],
            enrolment_date=datetime.date(2020, 3, 16),
            sex="F",
            age_years=None,
            weight_kg=None,
            user=investigator,
        )
    assert refused.value.code == "already_enrolled"


def test_participant_ids_are_never_reused(client, study, site_a, arms, investigator, patient_a):
    # patient_a already holds MI-0001 (imported, no counter): the counter skips it.
    client.force_login(investigator)
    first = screen(client, study, site_a)
    client.post(enrol_url(first), enrol_post(arms["standard"]))
    assert Patient.objects.get(screening=first).participant_id == "MI-0002"
    deleted = Patient.objects.get(screening=first)
    LabResult.objects.filter(patient=deleted).delete()
    RespiratorySupport.objects.filter(patient=deleted).delete()
    deleted.delete()
    second = screen(client, study, site_a)
    client.post(enrol_url(second), enrol_post(arms["standard"]))
    assert Patient.objects.get(screening=second).participant_id == "MI-0003"
    assert StudyIdCounter.objects.get(study=study, site=site_a, kind="patient").last_number == 3


def test_weight_limits(client, study, site_a, arms, investigator):
    client.force_login(investigator)
    screening = screen(client, study, site_a)
    form = client.post(enrol_url(screening), enrol_post(arms["standard"], weight_kg="310")).context["form"]
    assert form.has_error("weight_kg", "weight_kg.hard")
    form = client.post(enrol_url(screening), enrol_post(arms["standard"], weight_kg="210")).context["form"]
    assert form.has_error("weight_kg", "weight_kg.soft_high")
    form = client.post(enrol_url(screening), enrol_post(arms["high_dose"], weight_kg=None)).context["form"]
    assert form.has_error("weight_kg", "weight_needed_for_dose")
    response = client.post(enrol_url(screening), enrol_post(arms["standard"], weight_kg="210", weight_confirmed="on"))
    assert response.status_code == 302
    patient = Patient.objects.get()
    assert patient.weight_kg == 210 and patient.weight_confirmed


def test_enrolment_date_not_before_the_screening(client, study, site_a, arms, investigator):
    client.force_login(investigator)
    screening = screen(client, study, site_a)
    form = client.post(enrol_url(screening), enrol_post(arms["standard"], enrolment_date="2020-03-15")).context["form"]
    assert form.has_error("enrolment_date", "before_screening")


def test_screening_values_become_day0_source_data(client, study, site_a, arms, investigator):
    client.force_login(investigator)
    screening = screen(client, study, site_a, crp_mg_l="15", crp_mg_l_unit="mg/dL", pao2_mmhg="8", pao2_mmhg_unit="kPa")
    client.post(enrol_url(screening), enrol_post(arms["standard"]))
    patient = Patient.objects.get()
    labs = LabResult.objects.get(patient=patient, study_day=0)
    assert labs.crp_mg_l == 150 and labs.crp_entered_unit == "mg/dL"
    assert labs.pao2_mmhg == pytest.approx(60.0) and labs.pao2_entered_unit == "kPa"
    assert labs.abg_fio2 == pytest.approx(0.5)
    assert labs.ferritin_ng_ml == 1200
    assert labs.ldh_u_l is None  # only values present
    support = RespiratorySupport.objects.get(patient=patient, study_day=0)
    assert (support.support, support.fio2, support.peep_cmh2o) == ("cpap", pytest.approx(0.5), 10)
    for record in (labs, support):
        history = record.history.get()
        assert history.history_change_reason == f"enrolment: from screening {screening.number}"
        assert history.history_user == investigator


def test_enrolment_refused_while_study_locked(client, study, site_a, arms, investigator):
    client.force_login(investigator)
    screening = screen(client, study, site_a)
    study.is_locked = True
    study.save()
    response = client.post(enrol_url(screening), enrol_post(arms["standard"]))
    assert response.context["form"].has_error("__all__", "study_locked")
    assert not Patient.objects.exists()
