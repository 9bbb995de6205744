"""Signing a casebook in the browser (issue 16 item 2): the investigator signs, a nurse's later edit breaks the
signature (the casebook says so), the investigator signs again. And the whole cleaning loop (issue 16): the monitor
verifies the records against source, the investigator signs, a nurse edits a value that is not a critical one (the
signature breaks, the verification stands and no query opens), the investigator signs again, and the data manager
sees a clean checklist and locks."""

import re

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect

from cleaning import sdv, services
from cleaning.models import SDV_CHANGED_RULE, Query, Signature, SourceVerification
from cohorts.models import Study
from config.celery import app
from ecrf import derivation_job
from ecrf.models import DispositionEvent, LabResult, RespiratorySupport, VitalSigns
from tests.analysis import release_data
from tests.e2e.conftest import PASSWORD
from tests.e2e.test_journeys import LOCK_TIMEOUT_MS

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


def _entered(record, user):
    record._history_user, record._change_reason = user, "initial entry"
    record.save()


@pytest.fixture
def complete(patient_a, users):
    """Patient A discharged on day 2, every daily form of days 0 to 2 entered."""
    for day in range(3):
        _entered(VitalSigns(patient=patient_a, study_day=day, temperature_c="37.1", heart_rate_bpm=90), users["nurse"])
        _entered(
            RespiratorySupport(patient=patient_a, study_day=day, support="nasal_cannula", flow_l_min=2), users["nurse"]
        )
        _entered(LabResult(patient=patient_a, study_day=day, crp_mg_l="35.0"), users["nurse"])
    _entered(
        DispositionEvent(patient=patient_a, study_day=2, kind="discharged", normal_activities=True), users["nurse"]
    )
    return patient_a


@pytest.fixture
def investigator(users):
    user = users["investigator"]
    user.first_name, user.last_name = "Anna", "Bianchi"
    user.save()
    return user


def _sign(journey, page, step: str):
    page.get_by_test_id("sign-link").click()
    expect(page.get_by_test_id("sign-meaning")).to_have_text(
        "I confirm that the data in this casebook are accurate and complete."
    )
    page.get_by_label("Your password").fill(PASSWORD)
    journey.shot(page, step)
    page.get_by_role("button", name=re.compile(r"^Sign days 0")).click()
    expect(page.get_by_test_id("signature-panel")).to_have_attribute("data-state", "signed")


def test_investigator_signs_nurse_edits_investigator_signs_again(journey, study, users, investigator, complete):
    query = services.query_open(patient=complete, study_day=1, form="", text="Consent date?", user=users["monitor"])
    doctor = journey.login("investigator")
    doctor.goto(f"/patients/{complete.pk}/")
    expect(doctor.get_by_test_id("signature-state")).to_have_text("Not signed")
    doctor.get_by_test_id("sign-link").click()
    expect(doctor.get_by_test_id("blockers")).to_contain_text("1 query open or answered but not closed")
    expect(doctor.get_by_label("Your password")).to_have_count(0)
    journey.shot(doctor, "blocked-by-a-query")
    services.query_close(query=query, text="Consent checked on site.", user=users["monitor"])
    doctor.reload()
    doctor.get_by_label("Your password").fill("not-my-password")
    doctor.get_by_role("button", name=re.compile(r"^Sign days 0")).click()
    expect(doctor.locator("#id_password").locator("..")).to_contain_text("This password is not correct.")
    journey.shot(doctor, "wrong-password")
    doctor.goto(f"/patients/{complete.pk}/")
    _sign(journey, doctor, "sign-page")
    panel = doctor.get_by_test_id("signature-panel")
    expect(panel.get_by_test_id("printed-name")).to_have_text("Anna Bianchi")
    expect(panel.get_by_test_id("signed-utc")).to_contain_text("UTC")
    expect(panel.get_by_test_id("signed-local")).to_contain_text("Europe/Rome")
    journey.shot(doctor, "signed")

    nurse = journey.login("nurse")
    nurse.goto(f"/patients/{complete.pk}/day/1/")
    expect(nurse.get_by_test_id("signed-notice")).to_contain_text("Saving a change of these data breaks the signature")
    nurse.get_by_label("Heart rate", exact=True).fill("76")
    nurse.get_by_label("Reason for change").fill("transcription error, chart says 76")
    journey.shot(nurse, "nurse-edits-a-signed-day")
    nurse.get_by_role("button", name="Save day 1").click()
    expect(nurse.get_by_role("alert")).to_contain_text("saved")
    expect(nurse.get_by_test_id("signature-state")).to_have_text("Changed after signing: sign again")
    expect(nurse.get_by_test_id("broken-by")).to_contain_text("heart rate (/min): 90 -> 76")
    expect(nurse.get_by_test_id("sign-link")).to_have_count(0)  # a nurse does not sign
    journey.shot(nurse, "broken")

    doctor.goto(f"/studies/{study.code}/signatures/")
    expect(doctor.get_by_test_id(f"row-{complete.participant_id}")).to_have_attribute("data-state", "broken")
    journey.shot(doctor, "signature-list")
    doctor.goto(f"/patients/{complete.pk}/")
    expect(doctor.get_by_test_id("signature-state")).to_have_text("Changed after signing: sign again")
    _sign(journey, doctor, "sign-again")
    expect(doctor.get_by_text("Earlier signatures (1)")).to_be_visible()
    journey.shot(doctor, "signed-again")
    assert [s.is_broken for s in Signature.objects.order_by("signed_at")] == [True, False]


def test_monitor_verifies_investigator_signs_nurse_edits_signs_again_manager_locks(
    journey, study, users, investigator, complete, settings, tmp_path, monkeypatch
):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    Study.objects.filter(pk=study.pk).update(follow_up_days=2)  # discharged on day 2: the follow-up has ended
    sdv.plan_save(
        study=study,
        levels={"vital_signs": "critical", "respiratory_support": "critical", "disposition_events": "all"},
        user=users["data_manager"],
    )
    derivation_job.derive_study(study)

    monitor = journey.login("monitor")
    monitor.goto(f"/patients/{complete.pk}/")
    expect(monitor.get_by_test_id("sdv-unverified")).to_have_text("Not verified: 7")
    monitor.get_by_test_id("sdv-link").click()
    expect(monitor.get_by_test_id("sdv-vital_signs-1")).to_contain_text("Respiratory rate")
    monitor.get_by_test_id("tick-all").check()
    journey.shot(monitor, "worksheet-ticked")
    monitor.get_by_test_id("verify").click()
    expect(monitor.get_by_role("alert")).to_contain_text("7 records verified against source.")
    expect(monitor.get_by_test_id("count-verified")).to_have_text("Verified: 7")
    journey.shot(monitor, "verified")

    doctor = journey.login("investigator")
    doctor.goto(f"/patients/{complete.pk}/")
    _sign(journey, doctor, "sign")

    nurse = journey.login("nurse")
    nurse.goto(f"/patients/{complete.pk}/day/1/")
    nurse.get_by_label("Heart rate", exact=True).fill("76")  # not a critical field of the plan
    nurse.get_by_label("Reason for change").fill("transcription error, chart says 76")
    nurse.get_by_role("button", name="Save day 1").click()
    expect(nurse.get_by_role("alert")).to_contain_text("saved")
    expect(nurse.get_by_test_id("signature-state")).to_have_text("Changed after signing: sign again")
    assert not Query.objects.filter(rule=SDV_CHANGED_RULE).exists()
    assert not SourceVerification.objects.filter(changed_at__isnull=False).exists()

    monitor.goto(f"/patients/{complete.pk}/")
    expect(monitor.get_by_test_id("sdv-verified")).to_have_text("Verified: 7")
    doctor.goto(f"/patients/{complete.pk}/")
    expect(doctor.get_by_test_id("signature-state")).to_have_text("Changed after signing: sign again")
    _sign(journey, doctor, "sign-again")
    assert [s.is_broken for s in Signature.objects.order_by("signed_at")] == [True, False]

    derivation_job.derive_study(study)  # the derivation worker catches up with the nurse's change
    manager = journey.login("data_manager")
    manager.goto(f"/studies/{study.code}/releases/")
    for key in ("open_queries", "follow_up_not_ended", "missing_forms", "unsigned_casebooks", "sdv_incomplete"):
        expect(manager.get_by_test_id(f"check-{key}")).to_contain_text("0 ✓")
    expect(manager.get_by_test_id("lock-checklist").get_by_placeholder("reason to lock with them")).to_have_count(0)
    manager.get_by_label("Reason", exact=True).fill("database lock: monitored, verified and signed")
    journey.shot(manager, "clean-checklist")
    manager.get_by_role("button", name="Lock and release").click()
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        expect(manager.get_by_test_id("release-link")).to_be_visible(timeout=LOCK_TIMEOUT_MS)
    expect(manager.get_by_role("alert")).to_contain_text("Locked: release v1 is frozen")
    journey.shot(manager, "locked")
    assert Study.objects.get(pk=study.pk).is_locked
