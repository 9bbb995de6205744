"""The same screening page runs the New York protocol with no code change: its fields, units and day-0 data."""

import datetime
from decimal import Decimal

import pytest

from cohorts import roles
from cohorts.models import Patient, Screening
from cohorts.team import grant
from ecrf.models import LabResult, RespiratorySupport
from tests.factories import ArmFactory, SiteFactory, StudyFactory

NY_ELIGIBLE = {
    "covid_molecular_confirmed": "yes",
    "fever": "yes",
    "ferritin_ng_ml": "1500",
    "ferritin_ng_ml_unit": "ng/mL",
    "crp_mg_l": "4",
    "crp_mg_l_unit": "mg/dL",
    "lymphocytes_10e9_l": "800",
    "lymphocytes_10e9_l_unit": "/uL",
    "ddimer_ng_ml": "",
    "ddimer_basis": "",
    "hfnc_fio2": "0.95",
    "hfnc_fio2_unit": "fraction",
    "on_invasive_ventilation": "no",
    "positive_cultures": "no",
    "procalcitonin_ng_ml": "0.2",
    "high_clinical_suspicion_bacterial": "no",
    "cancer_on_chemo_or_immunotherapy": "no",
    "other_immunosuppressive_biologics": "no",
    "respiratory_failure_onset": "2020-04-01T22:00",
}


@pytest.fixture
def ny(db, users):
    study = StudyFactory(code="ny-anakinra", title="Anakinra case series (New York)", protocol="new_york_2020")
    site = SiteFactory(code="NY", name="New York", studies=[study])
    arm = ArmFactory(study=study, code="anakinra", name="Anakinra 100 mg SC q6h")
    grant(users["data_manager"], study, roles.DATA_MANAGER, reason="test: the New York study's data manager")
    return study, site, arm


def post(client, study, site, **changes):
    data = {"site": str(site.pk), "assessed_at": "2020-04-02T10:00", "action": "save", **NY_ELIGIBLE, **changes}
    return client.post(f"/studies/{study.code}/screenings/new/", data)


def test_new_york_screening_and_enrolment(client, ny, users):
    study, site, arm = ny
    client.force_login(users["data_manager"])
    page = client.get(f"/studies/{study.code}/screenings/new/").content.decode()
    assert "Fever (documented or reported)" in page and "PaO2" not in page
    response = post(client, study, site)
    assert response.status_code == 302, response.context["form"].errors
    screening = Screening.objects.get()
    assert screening.eligible
    assert screening.values["crp_mg_l"] == 40.0  # 4 mg/dL; not above 50, but lymphocytes 0.8 < 1.2 decide
    assert screening.values["lymphocytes_10e9_l"] == 0.8
    assert screening.values["respiratory_failure_onset"].startswith("2020-04-01T22:00")
    response = client.post(
        f"/studies/{study.code}/screenings/{screening.pk}/enrol/",
        {"arm": str(arm.pk), "enrolment_date": "2020-04-02", "sex": "F", "age_years": "58"},
    )
    assert response.status_code == 302, response.context["form"].errors
    patient = Patient.objects.get()
    assert patient.participant_id == "NY-0001" and patient.age_years == 58
    labs = LabResult.objects.get(patient=patient, study_day=0)
    assert (labs.ferritin_ng_ml, labs.crp_mg_l, labs.lymphocytes_10e9_l) == (1500, 40, Decimal("0.8"))
    assert labs.procalcitonin_ng_ml == Decimal("0.2") and labs.pao2_mmhg is None
    support = RespiratorySupport.objects.get(patient=patient, study_day=0)
    assert (support.support, support.fio2) == ("hfnc", Decimal("0.95"))


def test_new_york_age_is_asked_at_enrolment(client, ny, users):
    study, site, arm = ny
    client.force_login(users["data_manager"])
    post(client, study, site)
    screening = Screening.objects.get()
    response = client.post(
        f"/studies/{study.code}/screenings/{screening.pk}/enrol/",
        {"arm": str(arm.pk), "enrolment_date": "2020-04-02", "sex": "F"},
    )
    assert response.context["form"].has_error("age_years", "required")


def test_ddimer_needs_its_basis(client, ny, users):
    study, site, _ = ny
    client.force_login(users["data_manager"])
    response = post(client, study, site, ddimer_ng_ml="2", ddimer_ng_ml_unit="ug/mL")
    assert response.context["form"].has_error("ddimer_basis", "ddimer_basis_required")
    response = post(client, study, site, ddimer_ng_ml="2", ddimer_ng_ml_unit="ug/mL", ddimer_basis="DDU")
    assert response.status_code == 302
    assert Screening.objects.get().values["ddimer_ng_ml"] == 2000.0


def test_no_oxygen_device_is_an_error_on_each_device_field(client, ny, users):
    study, site, _ = ny
    client.force_login(users["data_manager"])
    form = post(client, study, site, hfnc_fio2="").context["form"]
    for name in ("nrb_flow_l_min", "nasal_cannula_flow_l_min", "hfnc_fio2"):
        assert form.has_error(name, "required_for_criterion")
    assert not Screening.objects.exists()


def test_non_rebreather_with_cannula(client, ny, users):
    study, site, _arm = ny
    client.force_login(users["data_manager"])
    response = post(client, study, site, hfnc_fio2="", nrb_flow_l_min="15", nasal_cannula_flow_l_min="6")
    assert response.status_code == 302
    assert Screening.objects.get().eligible
    response = post(client, study, site, hfnc_fio2="", nrb_flow_l_min="15", nasal_cannula_flow_l_min="5.5")
    assert not Screening.objects.latest("pk").eligible


def test_times_of_a_new_york_screening_are_the_site_clock_and_the_onset_becomes_the_oxygen_criterion(client, ny, users):
    study, site, arm = ny
    site.time_zone = "America/New_York"
    site.save()
    client.force_login(users["data_manager"])
    assert post(client, study, site).status_code == 302
    screening = Screening.objects.get()
    # typed 10:00 and 22:00 at the site, New York daylight time (UTC-4), whatever the server's zone (Rome)
    assert screening.assessed_at == datetime.datetime(2020, 4, 2, 14, 0, tzinfo=datetime.UTC)
    rescreen = client.get(f"/studies/{study.code}/screenings/new/?rescreen={screening.pk}")
    assert rescreen.context["form"].initial["respiratory_failure_onset"] == datetime.datetime(2020, 4, 1, 22, 0)
    client.post(
        f"/studies/{study.code}/screenings/{screening.pk}/enrol/",
        {"arm": str(arm.pk), "enrolment_date": "2020-04-02", "sex": "F", "age_years": "58"},
    )
    patient = Patient.objects.get()
    assert patient.oxygen_criterion_at == datetime.datetime(2020, 4, 2, 2, 0, tzinfo=datetime.UTC)
    detail = client.get(f"/studies/{study.code}/screenings/{screening.pk}/").content.decode()
    assert "02 Apr 2020 10:00" in detail


def test_the_screening_page_says_its_times_are_the_sites_clock(client, ny, users):
    study, _site, _arm = ny
    client.force_login(users["data_manager"])
    form = client.get(f"/studies/{study.code}/screenings/new/").context["form"]
    assert form["assessed_at"].help_text == "The clock time at the chosen site."
    assert form["respiratory_failure_onset"].help_text == (
        "The clock time at the chosen site; not after the assessment."
    )


@pytest.mark.parametrize(
    ("onset", "code", "message"),
    [
        # the screening records the respiratory failure the candidate had by the assessment (2020-04-02 10:00)
        (
            "2020-04-02T10:30",
            "after_assessment",
            "This time is after the assessment: the screening records what had happened by then.",
        ),
        ("2021-04-01T22:00", "after_assessment", None),  # a slip of the year
        ("1920-04-01T22:00", "too_early", "Check the year: a time before 2000 is not plausible."),
    ],
)
def test_an_onset_of_respiratory_failure_after_the_assessment_is_refused(client, ny, users, onset, code, message):
    """It becomes the patient's oxygen criterion time, which the timed outcomes count from."""
    study, site, _arm = ny
    client.force_login(users["data_manager"])
    response = post(client, study, site, respiratory_failure_onset=onset)
    assert response.context["form"].has_error("respiratory_failure_onset", code)
    if message:
        assert message in response.content.decode()
    assert not Screening.objects.exists()
    # at the assessment's minute it is accepted
    assert post(client, study, site, respiratory_failure_onset="2020-04-02T10:00").status_code == 302


def test_a_future_onset_is_refused_also_beside_an_implausible_assessment(client, ny, users):
    study, site, _arm = ny
    client.force_login(users["data_manager"])
    response = post(client, study, site, assessed_at="2090-04-02T10:00", respiratory_failure_onset="2090-04-01T22:00")
    form = response.context["form"]
    assert form.has_error("assessed_at", "future") and form.has_error("respiratory_failure_onset", "future")
    assert "This time cannot be in the future." in response.content.decode()
    assert not Screening.objects.exists()


def test_the_service_refuses_implausible_screening_times_for_any_caller(ny, users):
    """Any caller of screening_create (the demo, a script): the times are checked there too, each on its field."""
    from django.core.exceptions import ValidationError
    from django.utils import timezone

    from cohorts.services import screening_create

    study, site, _arm = ny
    now = timezone.now()
    for assessed_at, onset, expected in (
        (now, now + datetime.timedelta(hours=2), {"respiratory_failure_onset": ["after_assessment"]}),
        (
            now + datetime.timedelta(days=2),
            now + datetime.timedelta(days=1),
            {"assessed_at": ["future"], "respiratory_failure_onset": ["future"]},
        ),
    ):
        with pytest.raises(ValidationError) as refused:
            screening_create(
                study=study,
                site=site,
                assessed_at=assessed_at,
                values={"respiratory_failure_onset": onset},
                entered_units={},
                user=users["data_manager"],
                as_screen_failure=True,
            )
        codes = {name: [error.code for error in errors] for name, errors in refused.value.error_dict.items()}
        assert codes == expected
    assert not Screening.objects.exists()
