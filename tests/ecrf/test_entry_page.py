"""The entry page of a patient-day: what a nurse sees and what is stored."""

import re

import pytest

from ecrf.models import LabResult, RespiratorySupport, VitalSigns
from tests.ecrf.test_entry_helpers import day_post, day_url, errors_of

VITALS = {
    "temperature_c": "37.8",
    "heart_rate_bpm": "96",
    "respiratory_rate_bpm": "24",
    "systolic_mmhg": "130",
    "diastolic_mmhg": "80",
    "spo2_pct": "92",
}


@pytest.fixture
def nurse(client, users):
    client.force_login(users["nurse"])
    return client


def test_empty_page_stores_nothing(nurse, patient_a):
    response = nurse.post(day_url(patient_a, 3), day_post())
    assert response.status_code == 302
    assert (
        not VitalSigns.objects.exists() and not RespiratorySupport.objects.exists() and not LabResult.objects.exists()
    )


def test_vitals_only_day_is_saved_with_history(nurse, patient_a, users):
    response = nurse.post(day_url(patient_a, 3), day_post(vitals=VITALS))
    assert response.status_code == 302
    assert response["Location"] == f"/patients/{patient_a.pk}/#day-3"
    vitals = VitalSigns.objects.get()
    assert (vitals.study_day, str(vitals.temperature_c), vitals.spo2_pct, vitals.version) == (3, "37.8", 92, 1)
    assert not RespiratorySupport.objects.exists() and not LabResult.objects.exists()
    history = vitals.history.get()
    assert history.history_user == users["nurse"] and history.history_change_reason == "initial entry"


def test_comma_decimal_is_accepted(nurse, patient_a):
    nurse.post(day_url(patient_a, 0), day_post(vitals={"temperature_c": "37,5"}))
    assert str(VitalSigns.objects.get().temperature_c) == "37.5"


def test_ambiguous_thousands_separator_is_refused_next_to_the_field(nurse, patient_a):
    response = nurse.post(day_url(patient_a, 0), day_post(labs={"ferritin_ng_ml": "1,000", "ldh_u_l": "1 000"}))
    assert response.status_code == 200
    assert errors_of(response, "labs") == {"ferritin_ng_ml": ["invalid"]}
    assert "&#x27;1,000&#x27; is ambiguous: the comma may separate thousands (1000) or decimals (1.000)." in (
        response.content.decode()
    )
    assert not LabResult.objects.exists()


def test_hard_limit_refused_next_to_field(nurse, patient_a):
    response = nurse.post(day_url(patient_a, 3), day_post(vitals={**VITALS, "temperature_c": "45"}))
    assert response.status_code == 200
    assert errors_of(response, "vitals") == {"temperature_c": ["temperature_c.hard_max"]}
    assert "Temperature 45 degC is above the plausible maximum of 44 degC." in response.content.decode()
    assert not VitalSigns.objects.exists()
    # Next to it: the input marked invalid in its group with the unit, the message under it (Bootstrap 5's markup).
    field = re.search(
        r'<div id="div_id_vital_signs-temperature_c" class="mb-3 has-danger">.*?</div></div></div>',
        response.content.decode(),
        re.S,
    ).group(0)
    assert 'class="textinput form-control is-invalid"' in field and '<span class="input-group-text">°C</span>' in field
    assert (
        '<div id="id_vital_signs-temperature_c_error" class="invalid-feedback"><span '
        'id="error_1_id_vital_signs-temperature_c"><strong>Temperature 45 degC is above' in field
    )


def test_refused_edit_still_shows_the_day_as_entered(nurse, patient_a):
    nurse.post(day_url(patient_a, 3), day_post(vitals=VITALS))
    vitals = VitalSigns.objects.get()
    response = nurse.post(
        day_url(patient_a, 3), day_post(vitals={**VITALS, "temperature_c": "45"}, versions={"vitals": vitals.version})
    )
    assert response.status_code == 200
    page = response.content.decode()
    assert f"/history/ecrf.vitalsigns/{vitals.pk}/" in page  # the stored record's badge and history link
    assert page.count(">not entered<") == 2  # support and labs only


def test_a_new_drug_administration_starts_from_the_arm_regimen_and_the_day_it_was_opened_from(nurse, patient_a):
    regimen = patient_a.arm.regimen[0]
    day_page = nurse.get(day_url(patient_a, 4)).content.decode()
    assert f"/patients/{patient_a.pk}/drugs/add/?day=4" in day_page
    form = nurse.get(f"/patients/{patient_a.pk}/drugs/add/?day=4").context["form"]
    assert {name: form[name].value() for name in ("study_day", "drug", "dose", "dose_unit", "route", "frequency")} == {
        "study_day": 4,
        "drug": regimen["drug"],
        "dose": regimen["dose"],
        "dose_unit": regimen["unit"],
        "route": regimen["route"],
        "frequency": regimen["frequency"],
    }


def test_an_arm_without_regimen_prefills_nothing_but_the_day(nurse, patient_a):
    patient_a.arm.regimen = []
    patient_a.arm.save()
    form = nurse.get(f"/patients/{patient_a.pk}/drugs/add/?day=2").context["form"]
    assert form["study_day"].value() == 2 and not form["drug"].value() and form["dose"].value() is None
