"""The read endpoints: metadata from the form catalogue and the limits table, patients (updated_since, pagination
with a maximum), screenings with their evaluation, releases and their files; problem details of a refusal."""

import datetime

from django.utils import timezone

from cohorts.limits import LIMITS
from ecrf.models import VitalSigns
from tests import factories
from tests.access_pages.analysis import release_v1
from tests.access_pages.cohorts import screening_a


def test_forms_metadata_comes_from_the_catalogue_and_the_limits_table(api_as, users):
    forms = api_as(users["statistician"]).get("/api/v1/forms/").json()
    assert [f["key"] for f in forms] == [
        "vital_signs",
        "respiratory_support",
        "laboratory",
        "drug_administration",
        "disposition_events",
        "ventilation_episodes",
        "adverse_events",
    ]
    vitals = {f["name"]: f for f in forms[0]["fields"]}
    temperature = vitals["temperature_c"]
    assert temperature["type"] == "decimal" and temperature["unit"] == "degC"
    assert temperature["limit"]["hard_min"] == LIMITS["temperature_c"].hard_min == 32
    assert temperature["limit"]["soft_high"] == 41
    support = {f["name"]: f for f in forms[1]["fields"]}["support"]
    assert support["type"] == "choice" and {"code": "cpap", "label": "CPAP"} in support["choices"]
    lab = {f["name"]: f for f in forms[2]["fields"]}
    assert lab["abg_fio2"]["limit"]["name"] == "fio2" and lab["crp_entered_unit"]["is_value"] is False


def test_patients_scoped_filtered_by_update_and_paginated(api_as, users, study, patient_a, patient_b):
    url = f"/api/v1/studies/{study.code}/patients/"
    nurse_b = api_as(users["nurse_b"]).get(url).json()
    assert [p["participant_id"] for p in nurse_b["results"]] == ["BG-0001"]
    manager = api_as(users["data_manager"])
    assert manager.get(url).json()["count"] == 2
    since = timezone.now() + datetime.timedelta(seconds=1)
    assert manager.get(url, updated_since=since.isoformat()).json()["count"] == 0
    VitalSigns.history.filter(patient_id=patient_a.pk).delete()
    record = VitalSigns(patient=patient_a, study_day=1, heart_rate_bpm=80)
    record._change_reason = "test"
    record.save()
    VitalSigns.history.update(history_date=since + datetime.timedelta(seconds=5))
    changed = manager.get(url, updated_since=since.isoformat()).json()
    assert [p["participant_id"] for p in changed["results"]] == ["MI-0001"]
    bad = manager.get(url, updated_since="yesterday")
    assert bad.status_code == 400 and "updated_since" in bad.json()["errors"]
    assert manager.get(url, site="BG").json()["count"] == 1
    assert api_as(users["nurse_b"]).get(url, site="MI").status_code == 404


def test_page_size_has_a_maximum(api_as, users, study, site_a, arms):
    for n in range(3):
        factories.PatientFactory(study=study, site=site_a, arm=arms["standard"], participant_id=f"MI-01{n:02d}")
    api = api_as(users["data_manager"])
    page = api.get(f"/api/v1/studies/{study.code}/patients/", page_size=2).json()
    assert page["count"] == 3 and len(page["results"]) == 2 and page["next"]
    page = api.get(f"/api/v1/studies/{study.code}/patients/", page_size=100000).json()
    assert len(page["results"]) == 3  # capped at 500, not refused


def test_screening_detail_has_its_eligibility_evaluation(api_as, users, study, patient_a, patient_b):
    f = {"study": study, "users": users, "patient_a": patient_a, "patient_b": patient_b}
    screening = screening_a(f)
    body = api_as(users["monitor"]).get(f"/api/v1/studies/{study.code}/screenings/{screening.pk}/").json()
    assert body["eligible"] is True and body["criteria"][0]["verdict"] == "met" and body["site"] == "MI"
    listed = api_as(users["investigator"]).get(f"/api/v1/studies/{study.code}/screenings/").json()
    assert [s["number"] for s in listed["results"]] == ["MI-S0001"]


def test_releases_for_statisticians_with_files(api_as, users, study, patient_a, patient_b):
    f = {"study": study, "users": users, "patient_a": patient_a, "patient_b": patient_b}
    release = release_v1(f)
    api = api_as(users["statistician"])
    assert api.get(f"/api/v1/studies/{study.code}/releases/").json()["results"][0]["version"] == release.version
    detail = api.get(f"/api/v1/studies/{study.code}/releases/1/").json()
    file = next(item for item in detail["files"] if item["path"] == "figures/km_os.png")
    download = api.get(file["url"])
    assert download.status_code == 200 and b"".join(download.streaming_content) == b"\x89PNG stand-in"
    assert api.get(f"/api/v1/studies/{study.code}/releases/1/files/../../etc/passwd").status_code == 404
    refused = api_as(users["nurse"]).get(f"/api/v1/studies/{study.code}/releases/")
    assert refused.status_code == 403


def test_problem_details_shape(api_as, users, patient_a):
    response = api_as(users["statistician"]).get(f"/api/v1/patients/{patient_a.pk}/")
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    problem = response.json()
    assert set(problem) == {"type", "title", "status", "detail", "instance"}
    assert problem["type"] == "http://testserver/api/v1/docs/#problem-forbidden"
    assert problem["title"] == "Forbidden" and problem["status"] == 403
    assert problem["instance"] == f"/api/v1/patients/{patient_a.pk}/"
    missing = api_as(users["nurse"]).get("/api/v1/patients/999999/")
    assert missing.status_code == 404 and missing.json()["type"].endswith("#problem-not-found")
