"""A data manager freezes one patient's casebook before the lock (issue 16 item 4): no data of the patient change
through any path, its queries can still be answered in words, and unfreezing needs a reason."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from analysis import releases
from cleaning import services as query_services
from cohorts import services
from cohorts.audit import PatientFrozen
from cohorts.models import PatientFreeze
from ecrf import services as ecrf_services
from ecrf.models import VitalSigns
from ecrf.services import RecordInput
from tests.analysis import release_data
from tests.api.conftest import Api, make_token
from tests.ecrf.test_entry_helpers import day_post, day_url


@pytest.fixture
def vitals(patient_a):
    return VitalSigns.objects.create(patient=patient_a, study_day=1, heart_rate_bpm=90)


@pytest.fixture
def frozen(patient_a, users, vitals):
    return services.patient_freeze(patient=patient_a, user=users["data_manager"], reason="day-21 data verified")


def test_a_frozen_casebook_refuses_every_write_path(client, frozen, patient_a, users, vitals):
    with pytest.raises(PatientFrozen, match="The casebook of MI-0001 is frozen"):
        ecrf_services.day_record_save(
            form="vital_signs",
            patient=patient_a,
            study_day=2,
            entry=RecordInput({"heart_rate_bpm": 80}),
            user=users["nurse"],
        )
    with pytest.raises(PatientFrozen):
        ecrf_services.record_delete(record=vitals, expected_version=1, user=users["nurse"], reason="wrong day")
    with pytest.raises(PatientFrozen):
        services.patient_update(
            patient=patient_a, changes={"weight_kg": 81}, expected_version=1, user=users["nurse"], reason="scale"
        )
    client.force_login(users["nurse"])
    page = client.get(day_url(patient_a, 2))
    assert 'data-testid="frozen"' in page.content.decode()
    response = client.post(day_url(patient_a, 2), day_post(vitals={"heart_rate_bpm": "80"}))
    assert response.status_code == 200 and "is frozen" in " ".join(response.context["page_errors"])
    api = Api(client, make_token(users["nurse"]))
    answer = api.put(
        f"/api/v1/patients/{patient_a.pk}/records/vital_signs/{vitals.pk}/",
        {"values": {"heart_rate_bpm": 91}, "reason": "typo"},
        headers={"If-Match": '"1"'},
    )
    assert answer.status_code == 409 and answer.json()["type"].endswith("patient-frozen")
    assert VitalSigns.objects.get().heart_rate_bpm == 90 and VitalSigns.objects.count() == 1


def test_queries_are_still_answered_in_words(frozen, patient_a, users):
    query = query_services.query_open(
        patient=patient_a, study_day=1, form="vital_signs", field="heart_rate_bpm", text="90?", user=users["monitor"]
    )
    query_services.query_answer(query=query, answer_code="confirmed_source", text="chart: 90", user=users["nurse"])
    query.refresh_from_db()
    assert query.status == "answered"


def test_only_data_managers_freeze_and_each_step_has_a_reason(patient_a, users):
    for role in ("nurse", "investigator", "monitor"):
        with pytest.raises(PermissionDenied):
            services.patient_freeze(patient=patient_a, user=users[role], reason="x")
    with pytest.raises(ValidationError) as refused:
        services.patient_freeze(patient=patient_a, user=users["data_manager"], reason="  ")
    assert refused.value.error_dict["reason"][0].code == "reason_required"
    freeze = services.patient_freeze(patient=patient_a, user=users["data_manager"], reason="verified")
    with pytest.raises(ValidationError, match="frozen already"):
        services.patient_freeze(patient=patient_a, user=users["data_manager"], reason="again")
    with pytest.raises(ValidationError) as refused:
        services.patient_unfreeze(patient=patient_a, user=users["data_manager"], reason="")
    assert refused.value.error_dict["reason"][0].code == "reason_required"
    services.patient_unfreeze(patient=patient_a, user=users["data_manager"], reason="late lab result")
    freeze.refresh_from_db()
    assert (freeze.reason, freeze.unfreeze_reason, freeze.unfrozen_by) == (
        "verified", "late lab result", users["data_manager"],
    )  # fmt: skip
    assert list(freeze.history.order_by("history_id").values_list("history_change_reason", flat=True)) == [
        "frozen: verified",
        "unfrozen: late lab result",
    ]
    with pytest.raises(ValidationError, match="not frozen"):
        services.patient_unfreeze(patient=patient_a, user=users["data_manager"], reason="again")


def test_the_casebook_page_freezes_and_unfreezes(client, patient_a, users):
    client.force_login(users["data_manager"])
    url = f"/patients/{patient_a.pk}/freeze/"
    response = client.post(url, {"freeze-reason": "", "action": "freeze"})
    assert response.status_code == 200
    assert response.context["freeze_form"].errors == {"reason": ["Give a reason for freezing the casebook."]}
    response = client.post(url, {"freeze-reason": "verified against source", "action": "freeze"}, follow=True)
    assert "is frozen: no data of it can change" in response.content.decode()
    assert response.context["patient"].frozen_since is not None and not response.context["can_edit"]
    response = client.post(url, {"freeze-reason": "correction needed", "action": "unfreeze"}, follow=True)
    assert response.context["patient"].frozen_since is None
    client.force_login(users["nurse"])
    assert client.post(url, {"freeze-reason": "x", "action": "freeze"}).status_code == 403
    assert not PatientFreeze.objects.filter(unfrozen_at__isnull=True).exists()


def test_the_release_lists_the_freezes(
    frozen, study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch
):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release = release_data.lock(study, users["data_manager"])
    table = releases.read_table(releases.release_folder(release), "freezes")
    assert table.to_dict("records") == [
        {
            "participant_id": "MI-0001",
            "frozen_at": frozen.frozen_at.isoformat(),
            "freeze_reason": "day-21 data verified",
            "unfrozen_at": None,
            "unfreeze_reason": None,
        }
    ]
