"""The lock's checklist (analysis/checklist.py): each item counted on the data, a lock refused while an item is
not zero unless overridden with a reason, and the manifest keeping the checklist as it was (issue 16 item 3)."""

import datetime

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from analysis import checklist, releases, services
from analysis.models import LockJob, Release
from cleaning import services as query_services
from ecrf import derivation_job
from ecrf.models import DispositionEvent, LabResult, RespiratorySupport, VitalSigns
from tests import factories
from tests.analysis import release_data


@pytest.fixture
def clean(study, arms, site_a, users, settings, tmp_path, monkeypatch):
    """A patient whose 3-day follow-up ended, every form entered every day, derived: a clean checklist."""
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    study.follow_up_days = 3
    study.save()
    patient = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], enrolment_date=timezone.localdate() - datetime.timedelta(10)
    )
    for day in range(4):
        VitalSigns.objects.create(patient=patient, study_day=day, heart_rate_bpm=80)
        RespiratorySupport.objects.create(patient=patient, study_day=day, support="room_air")
        LabResult.objects.create(patient=patient, study_day=day, crp_mg_l=10)
    derivation_job.derive_study(study)
    factories.signed_casebook(patient, users["investigator"])
    return patient


def counts(study) -> dict[str, int]:
    return {item.key: item.count for item in checklist.lock_checklist(study)}


def test_a_clean_study_locks_without_overrides_and_the_manifest_says_so(clean, study, users):
    assert counts(study) == dict.fromkeys(checklist.KEYS, 0)
    release = releases.release_lock(study=study, user=users["data_manager"], reason="day-21 lock")
    assert [(row["item"], row["count"], row["override_reason"]) for row in release.manifest["checklist"]] == [
        (key, 0, "") for key in checklist.KEYS
    ]


def test_each_item_counts_its_cases(clean, study, arms, site_a, users):
    query_services.query_open(patient=clean, study_day=1, form="", text="Consent?", user=users["monitor"])
    recent = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], enrolment_date=timezone.localdate(), participant_id="MI-0099"
    )  # enrolled today: in follow-up, day 0 not missing yet
    VitalSigns.objects.create(patient=recent, study_day=2, heart_rate_bpm=90)  # dated two days ahead
    LabResult.objects.filter(patient=clean, study_day=2).delete()  # a missing form; and the derivation is stale
    found = {item.key: item for item in checklist.lock_checklist(study)}
    assert (found["open_queries"].count, found["open_queries"].cases) == (1, [clean.participant_id])
    assert (found["follow_up_not_ended"].count, found["follow_up_not_ended"].cases) == (1, ["MI-0099"])
    assert (found["missing_forms"].count, found["missing_forms"].cases) == (1, [clean.participant_id])
    assert (found["future_data"].count, found["future_data"].cases) == (1, ["MI-0099"])
    # MI-0099 never derived; the clean patient's deleted laboratory record is a change since its derivation.
    assert found["derived_stale"].cases == sorted(["MI-0099", clean.participant_id])
    assert found["unsigned_casebooks"].cases == ["MI-0099"]


def test_a_death_ends_the_follow_up(clean, study, arms, site_a):
    recent = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], enrolment_date=timezone.localdate()
    )
    assert counts(study)["follow_up_not_ended"] == 1
    DispositionEvent.objects.create(patient=recent, study_day=0, kind="death")
    assert counts(study)["follow_up_not_ended"] == 0


def test_the_lock_is_refused_next_to_each_item_until_overridden_with_a_reason(clean, study, users):
    query_services.query_open(patient=clean, study_day=1, form="", text="Consent?", user=users["monitor"])
    with pytest.raises(ValidationError) as refused:
        services.lock_request(study=study, user=users["data_manager"], reason="")
    assert set(refused.value.error_dict) == {"reason", "override_open_queries"}
    assert "Open queries: 1. Resolve them, or give a reason" in refused.value.messages[1]
    assert not LockJob.objects.exists()
    job = services.lock_request(
        study=study,
        user=users["data_manager"],
        reason="day-21 lock",
        overrides={"open_queries": "consent verified by phone, query closed after the lock", "future_data": "  "},
    )
    assert job.overrides == {"open_queries": "consent verified by phone, query closed after the lock"}
    job = services.lock_run(job_id=job.pk)
    checked = {row["item"]: row for row in job.release.manifest["checklist"]}
    assert checked["open_queries"]["count"] == 1
    assert checked["open_queries"]["override_reason"] == "consent verified by phone, query closed after the lock"
    assert checked["open_queries"]["cases"] == [clean.participant_id]
    readme = (releases.release_folder(job.release) / "README.md").read_text()
    assert "| Open queries | 1 | consent verified by phone, query closed after the lock |" in readme


def test_the_job_checks_again_on_the_data_it_freezes(clean, study, users):
    job = services.lock_request(study=study, user=users["data_manager"], reason="day-21 lock")
    query_services.query_open(patient=clean, study_day=1, form="", text="Raised meanwhile", user=users["monitor"])
    job = services.lock_run(job_id=job.pk)
    assert job.status == "failed" and "Open queries: 1" in job.error
    assert not Release.objects.exists()


def test_the_lock_page_shows_the_checklist_with_links(client, clean, study, users):
    query_services.query_open(patient=clean, study_day=1, form="", text="Consent?", user=users["monitor"])
    client.force_login(users["data_manager"])
    page = client.get(f"/studies/{study.code}/releases/").content.decode()
    assert 'data-testid="check-open_queries"' in page and f"/studies/{study.code}/queries/?status=waiting" in page
    assert 'name="override_open_queries"' in page and 'name="override_missing_forms"' not in page  # zero: no box
    response = client.post(f"/studies/{study.code}/releases/lock/", {"reason": "day-21 lock"})
    assert response.status_code == 200
    assert response.context["lock_form"].errors == {
        "override_open_queries": ["Open queries: 1. Resolve them, or give a reason to lock with them."]
    }
