"""Missing-data codes and a form marked not done (issue 15, item 4), clicked through in headless chromium: the nurse
codes a value and marks a form not done; the casebook shows both. Screenshots go to var/screenshots/<journey>/."""

import datetime

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from ecrf.models import LabResult, VitalSigns
from tests import factories

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def test_nurse_codes_a_value_and_marks_the_laboratory_not_done(journey, study, site_a, arms, users):
    patient = factories.PatientFactory(
        study=study,
        site=site_a,
        arm=arms["high_dose"],
        participant_id="MI-0003",
        enrolment_date=timezone.localdate() - datetime.timedelta(days=3),
    )
    page = journey.login("nurse")
    page.goto(f"/patients/{patient.pk}/day/1/")
    vitals = page.get_by_role("region", name="Vital signs")
    vitals.get_by_label("Temperature", exact=True).fill("37.6")
    vitals.get_by_title("SpO2: missing-data code").select_option(label="ND")
    labs = page.get_by_role("region", name="Laboratory")
    labs.get_by_label("Not done this day").check()
    labs.get_by_label("Reason not done").fill("no blood sample taken")
    journey.shot(page, "day-1-spo2-not-done-laboratory-not-done")
    page.get_by_role("button", name="Save day 1").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Study day 1 of {patient.participant_id} saved.")
    assert VitalSigns.objects.get().missing_codes == {"spo2_pct": "not_done"}
    assert LabResult.objects.get().not_done_reason == "no blood sample taken"

    laboratory = page.locator('#day-1 td[data-form="laboratory"]')
    expect(laboratory).to_contain_text("not done")
    expect(laboratory.get_by_role("link", name="not done")).to_have_attribute(
        "title", "Not done: no blood sample taken"
    )
    expect(page.locator('#day-1 td[data-form="vital_signs"] abbr')).to_have_attribute("title", "Not done: SpO2")
    journey.shot(page, "casebook-not-done-and-code")
