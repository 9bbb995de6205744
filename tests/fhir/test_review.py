"""The review screen: each proposal beside the saved value; accepted values saved through the services with the
reason "FHIR pull: <resource>", their provenance in the release tables; a value typed by hand is kept unless the
nurse chooses to replace it; soft checks need a confirmation as on the day page."""

import datetime

from analysis import datasets, releases
from ecrf import services as ecrf_services
from ecrf.models import LabResult, VitalSigns
from fhir_pull import pull, tasks
from fhir_pull.models import Proposal, ProposalStatus
from tests.analysis.release_data import lock, quick_figures, use_release_root
from tests.fhir.conftest import DAY, IN_DAY, pull_url, review_url
from tests.fhir.server import observation


def pulled(nurse, server, patient, *resources) -> dict[str, Proposal]:
    server.observations += resources
    nurse.post(pull_url(patient))
    return {p.field: p for p in Proposal.objects.filter(status=ProposalStatus.PROPOSED)}


def test_accepted_values_are_saved_with_the_reason_and_rejected_ones_are_not(nurse, connected, patient_a, users):
    found = pulled(
        nurse,
        connected,
        patient_a,
        observation("temp-1", "8310-5", 37.9, "Cel", when=IN_DAY),
        observation("bp-1", "85354-9", when=IN_DAY, components=[("8480-6", 124, "mm[Hg]"), ("8462-4", 78, "mm[Hg]")]),
        observation("crp-1", "1988-5", 48, "mg/L", when=IN_DAY, category="laboratory"),
    )
    response = nurse.post(
        review_url(patient_a),
        {
            f"p{found['systolic_mmhg'].pk}-decision": "accept",
            f"p{found['diastolic_mmhg'].pk}-decision": "accept",
            f"p{found['crp_mg_l'].pk}-decision": "reject",
        },
        follow=True,
    )
    assert "2 value(s) accepted and saved, 1 rejected" in response.content.decode()
    vitals = VitalSigns.objects.get(patient=patient_a, study_day=DAY)
    assert (vitals.systolic_mmhg, vitals.diastolic_mmhg, vitals.temperature_c) == (124, 78, None)
    entry = vitals.history.get()
    assert entry.history_change_reason == "FHIR pull: Observation/bp-1" and entry.history_user == users["nurse"]
    assert not LabResult.objects.exists()
    statuses = dict(Proposal.objects.values_list("field", "status"))
    assert statuses == {
        "systolic_mmhg": "accepted",
        "diastolic_mmhg": "accepted",
        "crp_mg_l": "rejected",
        "temperature_c": "proposed",  # left for later
    }
    # the temperature later: completing the record is entry, recorded with its own source
    response = nurse.post(
        review_url(patient_a),
        {f"p{found['temperature_c'].pk}-decision": "accept", "version-vital_signs": vitals.version},
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    vitals.refresh_from_db()
    assert str(vitals.temperature_c) == "37.9"
    assert vitals.history.first().history_change_reason == "FHIR pull: Observation/temp-1"


def test_provenance_of_accepted_values_is_in_the_release_tables(
    nurse, connected, patient_a, users, settings, tmp_path, monkeypatch
):
    found = pulled(
        nurse,
        connected,
        patient_a,
        observation(
            "dd-1", "48066-5", 350, "ng/mL", when=IN_DAY, category="laboratory", updated="2020-03-20T09:15:00Z"
        ),
    )
    nurse.post(review_url(patient_a), {f"p{found['ddimer_ng_ml'].pk}-decision": "accept"})
    labs = LabResult.objects.get()
    assert (str(labs.ddimer_ng_ml), labs.ddimer_basis) == ("350.0", "DDU")
    frame = datasets.study_frames(patient_a.study)["fhir_provenance"]
    assert frame.to_dict("records") == [
        {
            "participant_id": "MI-0001",
            "study_day": DAY,
            "form": "laboratory",
            "field": "ddimer_ng_ml",
            "value": 350.0,
            "resource_type": "Observation",
            "resource_id": "dd-1",
            "last_updated": "2020-03-20T09:15:00+00:00",
        }
    ]
    use_release_root(settings, tmp_path)
    quick_figures(monkeypatch)
    release = lock(patient_a.study, users["data_manager"])
    folder = releases.release_folder(release)
    assert releases.read_table(folder, "fhir_provenance").to_dict("records") == frame.to_dict("records")
    codebook = releases.read_table(folder, "codebook")
    assert "resource_id" in set(codebook[codebook["table"] == "fhir_provenance"]["variable"])


def test_a_value_typed_by_hand_is_kept_unless_the_nurse_chooses_to_replace_it(nurse, connected, patient_a, users):
    typed = ecrf_services.day_record_save(
        form="vital_signs",
        patient=patient_a,
        study_day=DAY,
        entry=ecrf_services.RecordInput({"heart_rate_bpm": 72}),
        user=users["nurse"],
    )
    found = pulled(nurse, connected, patient_a, observation("hr-1", "8867-4", 88, "/min", when=IN_DAY))
    page = nurse.get(review_url(patient_a)).content.decode()
    assert "differs" in page and "Replace the saved value (72)" in page
    hr = found["heart_rate_bpm"]
    response = nurse.post(review_url(patient_a), {f"p{hr.pk}-decision": "accept", "version-vital_signs": typed.version})
    assert "The saved value is 72: tick &#x27;Replace the saved value&#x27;" in response.content.decode()
    typed.refresh_from_db()
    assert typed.heart_rate_bpm == 72 and typed.version == 1
    nurse.post(
        review_url(patient_a),
        {f"p{hr.pk}-decision": "accept", f"p{hr.pk}-replace": "on", "version-vital_signs": typed.version},
    )
    typed.refresh_from_db()
    assert typed.heart_rate_bpm == 88 and typed.version == 2
    assert typed.history.first().history_change_reason == "FHIR pull: Observation/hr-1"


def test_a_record_saved_meanwhile_is_not_overwritten(nurse, connected, patient_a, users):
    found = pulled(nurse, connected, patient_a, observation("hr-1", "8867-4", 88, "/min", when=IN_DAY))
    ecrf_services.day_record_save(  # typed on the day page after the review screen was opened
        form="vital_signs",
        patient=patient_a,
        study_day=DAY,
        entry=ecrf_services.RecordInput({"temperature_c": 37}),
        user=users["investigator"],
    )
    response = nurse.post(review_url(patient_a), {f"p{found['heart_rate_bpm'].pk}-decision": "accept"})
    assert "Nothing was saved" in response.content.decode()
    assert VitalSigns.objects.get().heart_rate_bpm is None


def test_a_soft_check_needs_its_confirmation(nurse, connected, patient_a):
    found = pulled(nurse, connected, patient_a, observation("hr-1", "8867-4", 190, "/min", when=IN_DAY))
    hr = found["heart_rate_bpm"]
    assert not hr.error  # plausible, but unusual
    response = nurse.post(review_url(patient_a), {f"p{hr.pk}-decision": "accept"})
    assert response.status_code == 200 and "Nothing was saved" in response.content.decode()
    assert not VitalSigns.objects.exists()
    nurse.post(review_url(patient_a), {f"p{hr.pk}-decision": "accept", f"p{hr.pk}-confirm": "on"})
    vitals = VitalSigns.objects.get()
    assert vitals.heart_rate_bpm == 190 and vitals.confirmed_checks == ["heart_rate_bpm.soft_high"]


def test_one_value_per_field(nurse, connected, patient_a):
    found = pulled(
        nurse,
        connected,
        patient_a,
        observation("hr-1", "8867-4", 88, "/min", when=IN_DAY),
        observation("hr-2", "8867-4", 92, "/min", when="2020-03-20T18:00:00+01:00"),
    )
    assert len(found) == 1  # by field; both rows are on the screen
    rows = Proposal.objects.filter(field="heart_rate_bpm")
    response = nurse.post(review_url(patient_a), {f"p{p.pk}-decision": "accept" for p in rows})
    assert "Accept one value per field" in response.content.decode() and not VitalSigns.objects.exists()


def test_the_nightly_task_proposes_the_previous_day(connected, patient_a, monkeypatch, study):
    connected.observations.append(observation("hr-1", "8867-4", 88, "/min", when=IN_DAY))
    # 2020-03-21 at 01:30 in Milan: yesterday was study day 3
    night = datetime.datetime(2020, 3, 21, 0, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr("cohorts.clock.timezone.now", lambda: night)
    assert tasks.pull_study.apply(args=[study.pk]).get() == {"patients": 1, "failed": 0, "proposals": 1}
    proposal = Proposal.objects.get()
    assert (proposal.study_day, proposal.field, proposal.status, proposal.pull.requested_by) == (
        DAY,
        "heart_rate_bpm",
        "proposed",
        None,
    )
    assert not VitalSigns.objects.exists()  # proposals only
    queued = []
    monkeypatch.setattr(tasks.pull_study, "delay", queued.append)
    assert tasks.pull_all_studies.apply().get() == {"studies": 1} and queued == [study.pk]


def test_the_nightly_pull_skips_a_locked_study(connected, patient_a, study):
    study.is_locked = True
    study.save()
    night = datetime.datetime(2020, 3, 21, 0, 30, tzinfo=datetime.UTC)
    assert pull.pull_study_previous_day(study, now=night) == {"patients": 0, "failed": 0, "proposals": 0}
    assert not connected.requests


def test_an_accepted_value_keeps_the_other_fields_codes_and_replaces_its_own(nurse, connected, patient_a, users):
    """Missing-data codes (clinical definitions §2.2): a code is not lost when a pulled value is saved; the value of
    a coded field replaces its code, a change of saved data recorded with the pull's reason."""
    coded = ecrf_services.day_record_save(
        form="vital_signs",
        patient=patient_a,
        study_day=DAY,
        entry=ecrf_services.RecordInput({}, missing_codes={"heart_rate_bpm": "unknown", "spo2_pct": "not_done"}),
        user=users["nurse"],
    )
    found = pulled(nurse, connected, patient_a, observation("hr-2", "8867-4", 90, "/min", when=IN_DAY))
    response = nurse.post(
        review_url(patient_a),
        {f"p{found['heart_rate_bpm'].pk}-decision": "accept", "version-vital_signs": coded.version},
    )
    assert response.status_code == 302, response.content.decode()[-3000:]
    coded.refresh_from_db()
    assert (coded.heart_rate_bpm, coded.missing_codes) == (90, {"spo2_pct": "not_done"})
    assert coded.history.first().history_change_reason == "FHIR pull: Observation/hr-2"
