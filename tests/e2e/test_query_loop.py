"""The query loop in the browser: a monitor raises a query on a value, the nurse corrects the value on the day page
with a reason for change and answers, the monitor closes (issue 15)."""

import re

import pytest
from playwright.sync_api import expect

from cleaning.models import Query
from ecrf.models import VitalSigns

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True, serialized_rollback=True)]


@pytest.fixture
def vitals(patient_a, users):
    record = VitalSigns(patient=patient_a, study_day=3, temperature_c="37.4", heart_rate_bpm=96, spo2_pct=93)
    record._history_user, record._change_reason = users["nurse"], "initial entry"
    record.save()
    return record


def test_monitor_raises_nurse_corrects_monitor_closes(journey, study, site_a, arms, users, patient_a, vitals):
    monitor = journey.login("monitor")
    monitor.goto(f"/patients/{patient_a.pk}/day/3/")
    monitor.get_by_test_id("raise-query").click()
    expect(monitor.get_by_label("Study day")).to_have_value("3")
    monitor.get_by_label("Form").select_option(label="Vital signs")
    monitor.get_by_label("Field").select_option(label="Heart rate (/min)")
    monitor.get_by_label("Question to the site").fill("Heart rate 96 on day 3, 69 in the chart: please check.")
    journey.shot(monitor, "monitor-raises")
    monitor.get_by_role("button", name="Raise the query").click()
    expect(monitor.get_by_test_id("query-status")).to_have_text("Open")
    query = Query.objects.get()
    assert (query.form, query.field, query.value_at_open) == ("vital_signs", "heart_rate_bpm", "96")

    nurse = journey.login("nurse")
    nurse.get_by_role("link", name="Patients and today's forms").click()
    expect(nurse.get_by_role("row").filter(has_text=patient_a.participant_id).get_by_test_id("note")).to_have_text(
        "1 query"
    )
    nurse.goto(f"/patients/{patient_a.pk}/day/3/")
    badge = nurse.locator("#div_id_vital_signs-heart_rate_bpm").get_by_test_id("note")
    expect(badge).to_have_text("query open")
    journey.shot(nurse, "nurse-sees-the-badge")
    badge.click()
    expect(nurse.get_by_test_id("thread")).to_contain_text("69 in the chart")
    nurse.get_by_test_id("entry-link").click()
    nurse.get_by_label("Heart rate", exact=True).fill("69")
    nurse.get_by_label("Reason for change").fill("query: transcription error, chart says 69")
    nurse.get_by_role("button", name="Save day 3").click()
    expect(nurse.get_by_role("alert")).to_contain_text("saved")
    nurse.goto(f"/queries/{query.pk}/")
    expect(nurse.get_by_test_id("thread")).to_contain_text("heart rate (/min): 96 -> 69")
    nurse.get_by_label("Answer").select_option(label="Corrected")
    nurse.get_by_test_id("action-answer").get_by_label("Message").fill("Corrected from the chart.")
    nurse.get_by_role("button", name="Send the answer").click()
    expect(nurse.get_by_test_id("query-status")).to_have_text("Answered: Corrected")
    expect(nurse.get_by_test_id("action-close")).to_have_count(0)  # a nurse does not close
    journey.shot(nurse, "nurse-answered")

    monitor.goto(f"/queries/{query.pk}/")
    monitor.get_by_test_id("action-close").get_by_label("Message").fill("Verified against the chart.")
    monitor.get_by_role("button", name=re.compile("^Close$")).click()
    expect(monitor.get_by_test_id("query-status")).to_have_text("Closed: Corrected")
    journey.shot(monitor, "monitor-closed")
    query.refresh_from_db()
    assert query.status == "closed" and VitalSigns.objects.get().heart_rate_bpm == 69
