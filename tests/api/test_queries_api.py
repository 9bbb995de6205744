"""Queries through the API: the same loop as on the pages, with the API as the source of the audit trail."""

import pytest
from django.utils import timezone

from cleaning.models import Query
from ecrf.models import VitalSigns


@pytest.fixture
def vitals(patient_a):
    return VitalSigns.objects.create(patient=patient_a, study_day=3, temperature_c="41.9")


def _raise(api, patient, **body):
    return api.post(f"/api/v1/patients/{patient.pk}/queries/", {"study_day": 3, "form": "vital_signs", **body})


def test_monitor_raises_nurse_answers_monitor_closes(api_as, users, patient_a, vitals):
    monitor, nurse = api_as(users["monitor"]), api_as(users["nurse"])
    response = _raise(monitor, patient_a, field="temperature_c", text="41.9 °C?", assignee="nurse")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["status"], body["value_at_open"], body["assignee"], body["opened_by"]) == (
        "open", "41.9", "nurse", "monitor",
    )  # fmt: skip
    assert [m["kind"] for m in body["messages"]] == ["opened"]
    pk = body["id"]
    assert Query.history.get(id=pk).history_change_reason == "api: query raised"

    refused = nurse.post(f"/api/v1/queries/{pk}/answer/", {"answer_code": "corrected", "text": "fixed"})
    assert refused.status_code == 422
    assert refused.json()["errors"]["answer_code"][0]["code"] == "correction_not_saved"
    answered = nurse.post(f"/api/v1/queries/{pk}/answer/", {"answer_code": "confirmed_source", "text": "chart 41.9"})
    assert answered.status_code == 200 and answered.json()["status"] == "answered"

    assert nurse.post(f"/api/v1/queries/{pk}/close/", {"text": "done"}).status_code == 403
    assert monitor.post(f"/api/v1/queries/{pk}/close/", {}).status_code == 400  # no message
    closed = monitor.post(f"/api/v1/queries/{pk}/close/", {"text": "Source verified."})
    assert closed.status_code == 200
    assert [m["kind"] for m in closed.json()["messages"]] == ["opened", "answered", "closed"]
    late = nurse.post(f"/api/v1/queries/{pk}/answer/", {"answer_code": "other", "text": "more"})
    assert late.status_code == 422 and late.json()["errors"]["answer_code"][0]["code"] == "query_closed"


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"field": "weight", "text": "?"}, "field", "unknown_field"),
        ({"form": "blood_gas", "text": "?"}, "form", "unknown_form"),
        ({"assignee": "nobody", "text": "?"}, "assignee", "unknown_user"),
        ({"assignee": "nurse_b", "text": "?"}, "assignee", "assignee_not_site_staff"),
    ],
)
def test_refusals_name_their_field(api_as, users, patient_a, body, field, code):
    response = _raise(api_as(users["monitor"]), patient_a, **body)
    assert response.status_code == 422
    assert response.json()["errors"][field][0]["code"] == code
    assert not Query.objects.exists()


def test_list_filters_and_updated_since(api_as, users, patient_a, patient_b):
    dm = api_as(users["data_manager"])
    first = _raise(dm, patient_a, text="one").json()["id"]
    since = timezone.now()
    second = _raise(dm, patient_b, text="two").json()["id"]
    url = f"/api/v1/studies/{patient_a.study.code}/queries/"
    assert [q["id"] for q in dm.get(url).json()["results"]] == [first, second]
    assert [q["id"] for q in dm.get(url, updated_since=since.isoformat()).json()["results"]] == [second]
    dm.post(f"/api/v1/queries/{first}/comment/", {"text": "any news?"})
    assert [q["id"] for q in dm.get(url, updated_since=since.isoformat()).json()["results"]] == [first, second]
    assert [q["id"] for q in dm.get(url, participant_id=patient_b.participant_id).json()["results"]] == [second]
    # a nurse of site B sees only B's query
    assert [q["id"] for q in api_as(users["nurse_b"]).get(url).json()["results"]] == [second]
    assert dm.post(f"/api/v1/queries/{first}/shred/", {"text": "x"}).status_code == 404
