"""Writing daily records through the API: the same services as the pages (ecrf/services.py), so the same checks
(clinical definitions §2.1), reasons, optimistic locking and audit trail (docs/architecture.md §3), with the API as
the source of the history rows."""

import pytest

from cohorts.models import Study
from ecrf.models import AdverseEvent, VitalSigns

VITALS = {"temperature_c": "37.2", "heart_rate_bpm": 88, "respiratory_rate_bpm": 22, "spo2_pct": 94}


@pytest.fixture
def nurse_api(api_as, users):
    return api_as(users["nurse"])


def records(patient, form="vital_signs"):
    return f"/api/v1/patients/{patient.pk}/records/{form}/"


def create_vitals(api, patient, day=3, **values):
    return api.post(records(patient), {"study_day": day, "values": {**VITALS, **values}})


def test_create_then_read_with_etag_and_api_history(nurse_api, patient_a):
    response = create_vitals(nurse_api, patient_a)
    assert response.status_code == 201, response.content
    body = response.json()
    assert response["ETag"] == '"1"' and body["version"] == 1
    assert response["Location"] == records(patient_a) + f"{body['id']}/"
    assert body["values"]["temperature_c"] == 37.2 and body["values"]["systolic_mmhg"] is None
    record = VitalSigns.objects.get()
    history = record.history.get()
    assert history.history_change_reason == "api: initial entry"
    assert history.history_user.username == "nurse"
    read = nurse_api.get(response["Location"])
    assert read.status_code == 200 and read["ETag"] == '"1"' and read.json() == body
    listed = nurse_api.get(records(patient_a), study_day=3).json()
    assert listed["count"] == 1 and listed["results"][0]["id"] == body["id"]


def test_hard_limit_is_422_with_the_clinical_message(nurse_api, patient_a):
    response = create_vitals(nurse_api, patient_a, temperature_c="45.0")
    assert response.status_code == 422
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert problem["type"].endswith("#problem-validation") and problem["status"] == 422
    [error] = problem["errors"]["temperature_c"]
    assert error["code"] == "temperature_c.hard_max" and error["level"] == "hard"
    assert "44" in error["message"]  # the limit of the limits table (clinical definitions §2.1)
    assert not VitalSigns.objects.exists()


def test_soft_check_needs_its_code_in_confirm(nurse_api, patient_a):
    refused = create_vitals(nurse_api, patient_a, temperature_c="41.5")
    assert refused.status_code == 422
    [error] = refused.json()["errors"]["temperature_c"]
    assert error == {"code": "temperature_c.soft_high", "message": error["message"], "level": "soft"}
    response = nurse_api.post(
        records(patient_a),
        {"study_day": 3, "values": {**VITALS, "temperature_c": "41.5"}, "confirm": ["temperature_c.soft_high"]},
    )
    assert response.status_code == 201, response.content
    assert response.json()["confirmed_checks"] == ["temperature_c.soft_high"]


def test_update_needs_if_match_and_a_reason(nurse_api, patient_a):
    created = create_vitals(nurse_api, patient_a).json()
    url = records(patient_a) + f"{created['id']}/"
    change = {"values": {**VITALS, "heart_rate_bpm": 96}}
    missing = nurse_api.put(url, change)
    assert missing.status_code == 428 and missing.json()["type"].endswith("#problem-precondition-required")
    no_reason = nurse_api.put(url, change, headers={"If-Match": '"1"'})
    assert no_reason.status_code == 422
    assert no_reason.json()["type"].endswith("#problem-reason-required")
    assert no_reason.json()["errors"]["reason"][0]["code"] == "reason_required"
    blank_reason = nurse_api.put(url, {**change, "reason": "  "}, headers={"If-Match": '"1"'})
    assert blank_reason.status_code == 422  # "api: " alone is no reason
    saved = nurse_api.put(url, {**change, "reason": "transcription error"}, headers={"If-Match": '"1"'})
    assert saved.status_code == 200, saved.content
    assert saved["ETag"] == '"2"' and saved.json()["values"]["heart_rate_bpm"] == 96
    latest = VitalSigns.objects.get().history.first()
    assert latest.history_change_reason == "api: transcription error" and latest.history_user.username == "nurse"


def test_stale_if_match_is_412_and_nothing_is_saved(nurse_api, api_as, users, patient_a):
    created = create_vitals(nurse_api, patient_a).json()
    url = records(patient_a) + f"{created['id']}/"
    other = api_as(users["investigator"])
    first = other.put(url, {"values": {**VITALS, "spo2_pct": 90}, "reason": "re-measured"}, headers={"If-Match": '"1"'})
    assert first.status_code == 200
    stale = nurse_api.put(url, {"values": {**VITALS, "spo2_pct": 99}, "reason": "typo"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json()["type"].endswith("#problem-precondition-failed")
    assert VitalSigns.objects.get().spo2_pct == 90


def test_second_create_of_a_day_is_409(nurse_api, patient_a):
    assert create_vitals(nurse_api, patient_a).status_code == 201
    again = create_vitals(nurse_api, patient_a, heart_rate_bpm=70)
    assert again.status_code == 409 and again.json()["type"].endswith("#problem-record-exists")


def test_bad_types_and_unknown_fields_are_400(nurse_api, patient_a):
    bad = nurse_api.post(records(patient_a), {"study_day": 3, "values": {"heart_rate_bpm": "fast"}})
    assert bad.status_code == 400 and "values.heart_rate_bpm" in bad.json()["errors"]
    unknown = nurse_api.post(records(patient_a), {"study_day": 3, "values": {"pulse": 80}})
    assert unknown.status_code == 400 and "values.pulse" in unknown.json()["errors"]
    no_day = nurse_api.post(records(patient_a), {"values": VITALS})
    assert no_day.status_code == 400 and "study_day" in no_day.json()["errors"]
    assert nurse_api.post(records(patient_a, "no_such_form"), {"values": {}}).status_code == 404


def test_locked_study_refuses_writes_with_409(nurse_api, patient_a):
    created = create_vitals(nurse_api, patient_a).json()
    Study.objects.filter(pk=patient_a.study_id).update(is_locked=True)
    response = create_vitals(nurse_api, patient_a, day=4)
    assert response.status_code == 409 and response.json()["type"].endswith("#problem-study-locked")
    url = records(patient_a) + f"{created['id']}/"
    update = nurse_api.put(url, {"values": VITALS, "reason": "x"}, headers={"If-Match": '"1"'})
    assert update.status_code == 409
    assert nurse_api.get(url).status_code == 200  # reading stays possible


def test_events_create_and_update_through_event_save(nurse_api, patient_a):
    url = records(patient_a, "adverse_events")
    refused = nurse_api.post(url, {"values": {"study_day": 2, "kind": "bacteraemia"}})
    assert refused.status_code == 422 and refused.json()["errors"]["organism"][0]["code"] == "organism.required"
    created = nurse_api.post(url, {"values": {"study_day": 2, "kind": "bacteraemia", "organism": "S. aureus"}})
    assert created.status_code == 201, created.content
    detail = url + f"{created.json()['id']}/"
    updated = nurse_api.put(
        detail,
        {"values": {"study_day": 2, "kind": "bacteraemia", "organism": "S. aureus", "serious": True}, "reason": "SAE"},
        headers={"If-Match": created["ETag"]},
    )
    assert updated.status_code == 200 and updated.json()["values"]["serious"] is True
    reasons = list(AdverseEvent.history.order_by("history_id").values_list("history_change_reason", flat=True))
    assert reasons == ["api: initial entry", "api: SAE"]


def test_other_sites_patient_is_404_and_statistician_cannot_write(api_as, users, patient_a):
    assert create_vitals(api_as(users["nurse_b"]), patient_a).status_code == 404
    assert api_as(users["nurse_b"]).get(records(patient_a)).status_code == 404
    response = create_vitals(api_as(users["statistician"]), patient_a)
    assert response.status_code == 403 and response.json()["type"].endswith("#problem-forbidden")
    assert create_vitals(api_as(users["monitor"]), patient_a).status_code == 403
    assert not VitalSigns.objects.exists()


def test_a_ventilation_episode_takes_times_with_their_offset_and_refuses_one_before_intubation(nurse_api, patient_a):
    url = records(patient_a, "ventilation_episodes")
    naive = nurse_api.post(url, {"values": {"study_day": 2, "intubated_at": "2020-03-19T08:00"}})
    assert naive.status_code == 400 and "UTC offset" in str(naive.json())
    backwards = {"study_day": 2, "intubated_at": "2020-03-19T08:00+01:00", "end_day": 2}
    refused = nurse_api.post(
        url, {"values": {**backwards, "ended_at": "2020-03-19T07:00+01:00", "end_reason": "extubated"}}
    )
    assert refused.status_code == 422 and "ended_at" in str(refused.json())
    created = nurse_api.post(url, {"values": {"study_day": 2, "intubated_at": "2020-03-19T08:00+01:00"}})
    assert created.status_code == 201, created.content
    # Milan (the site's zone) is UTC+1 on 19 March: the stored instant is 07:00 UTC, read back with its offset
    assert created.json()["values"]["intubated_at"].startswith("2020-03-19T08:00:00+01:00")
