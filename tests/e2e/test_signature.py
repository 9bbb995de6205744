"""Signing a casebook in the browser (issue 16 item 2): the investigator signs, a nurse's later edit breaks the
signature (the casebook says so), the investigator signs again."""

import re

import pytest
from playwright.sync_api import expect

from cleaning import services
from cleaning.models import Signature
from ecrf.models import DispositionEvent, LabResult, RespiratorySupport, VitalSigns
from tests.e2e.conftest import PASSWORD

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
