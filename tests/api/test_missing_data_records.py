"""Missing-data codes and forms marked not done through the API (clinical definitions §2.2): read and written with
the same services as the pages, so the same refusals, reasons and audit trail."""

import pytest

from ecrf.models import RespiratorySupport, VitalSigns


@pytest.fixture
def nurse_api(api_as, users):
    return api_as(users["nurse"])


def records(patient, form="vital_signs"):
    return f"/api/v1/patients/{patient.pk}/records/{form}/"


def test_codes_are_written_and_read_back(nurse_api, patient_a):
    body = {"study_day": 2, "values": {"temperature_c": "37.2"}, "missing_codes": {"spo2_pct": "not_done"}}
    response = nurse_api.post(records(patient_a), body)
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["missing_codes"] == {"spo2_pct": "not_done"} and created["not_done_reason"] == ""
    assert created["values"]["spo2_pct"] is None
    assert nurse_api.get(response["Location"]).json()["missing_codes"] == {"spo2_pct": "not_done"}
    assert VitalSigns.objects.get().history.get().history_change_reason == "api: initial entry"


def test_a_form_is_marked_not_done_with_no_values(nurse_api, patient_a):
    body = {"study_day": 2, "values": {}, "not_done_reason": "patient in theatre"}
    response = nurse_api.post(records(patient_a, "respiratory_support"), body)
    assert response.status_code == 201, response.content
    assert response.json()["not_done_reason"] == "patient in theatre"
    assert response.json()["values"]["support"] == ""
    assert RespiratorySupport.objects.get().marked_not_done


def test_a_code_that_is_not_one_is_a_bad_request(nurse_api, patient_a):
    body = {"study_day": 2, "values": {}, "missing_codes": {"spo2_pct": "maybe"}}
    response = nurse_api.post(records(patient_a), body)
    assert response.status_code == 400
    [error] = response.json()["errors"]["missing_codes.spo2_pct"]
    assert error["code"] == "invalid_choice"
    assert not VitalSigns.objects.exists()


def test_the_rules_refuse_as_on_the_pages(nurse_api, patient_a):
    both = {"study_day": 2, "values": {"spo2_pct": 95}, "missing_codes": {"spo2_pct": "unknown"}}
    response = nurse_api.post(records(patient_a), both)
    assert response.status_code == 422
    [error] = response.json()["errors"]["spo2_pct"]
    assert error["code"] == "spo2_pct.value_and_code" and error["level"] == "hard"
    assert error["message"] == "Give a value or a missing-data code, not both."
    marked = {"study_day": 2, "values": {"spo2_pct": 95}, "not_done_reason": "no time"}
    response = nurse_api.post(records(patient_a), marked)
    assert [e["code"] for e in response.json()["errors"]["not_done_reason"]] == ["not_done_reason.with_values"]
    level = {"study_day": 2, "values": {}, "missing_codes": {"support": "unknown"}}
    response = nurse_api.post(records(patient_a, "respiratory_support"), level)
    assert [e["code"] for e in response.json()["errors"]["missing_codes"]] == ["missing_codes.not_allowed"]
    assert not VitalSigns.objects.exists() and not RespiratorySupport.objects.exists()


def test_removing_a_code_needs_a_reason(nurse_api, patient_a):
    body = {"study_day": 2, "values": {"temperature_c": "37.2"}, "missing_codes": {"spo2_pct": "not_done"}}
    url = nurse_api.post(records(patient_a), body)["Location"]
    change = {"values": {"temperature_c": "37.2"}}  # a PUT replaces the record: no code
    refused = nurse_api.put(url, change, headers={"If-Match": '"1"'})
    assert refused.status_code == 422 and refused.json()["type"].endswith("#problem-reason-required")
    saved = nurse_api.put(url, {**change, "reason": "measured after all"}, headers={"If-Match": '"1"'})
    assert saved.status_code == 200 and saved.json()["missing_codes"] == {}
    assert VitalSigns.objects.get().history.first().history_change_reason == "api: measured after all"


def test_the_forms_say_which_fields_take_a_code(api_as, users):
    forms = {form["key"]: form for form in api_as(users["nurse"]).get("/api/v1/forms/").json()}
    support = {field["name"]: field["takes_missing_code"] for field in forms["respiratory_support"]["fields"]}
    assert support["fio2"] is True and support["support"] is False and support["ecmo"] is False
