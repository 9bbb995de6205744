"""What a new user saw fixed in their first week (issue 13), clicked through in headless chromium.

Each journey asserts what the user sees on the page, and the database where that is the point. The lock page's
cancel offer is checked in the lock journey of test_journeys.py (one real worker run is enough).
Screenshots go to var/screenshots/<journey>/ (ignored by git).
"""

import datetime
import re
from decimal import Decimal

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from cohorts.models import Patient
from ecrf import derivation_job
from ecrf.models import DrugAdministration, LabResult, VitalSigns
from tests import factories
from tests.cohorts.screening_data import MILAN_ELIGIBLE
from tests.e2e.test_journeys import fill_screening

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]

# PaO2 70 mmHg on FiO2 0.6: a P/F of 116.666..., which reads 116.7.
PF_CANDIDATE = {**MILAN_ELIGIBLE, "pao2_mmhg": "70", "fio2": "0.6"}
PF_CRITERION = "PaO2:FiO2 by arterial blood gas"


def screen(page, study, values: dict) -> None:
    """From the home page: screen a candidate with ``values`` and save the screening."""
    page.get_by_role("link", name="Screen a candidate").click()
    page.get_by_label("Date and time of assessment").fill("2020-03-16T11:00")
    fill_screening(page, study, values)
    expect(page.get_by_test_id("verdict")).to_contain_text("Eligible so far")
    page.get_by_role("button", name="Evaluate and save screening").click()
    expect(page.get_by_test_id("result")).to_have_text("eligible")


def day_status(page, day: int):
    """The ordinal column (the derived status) of one study day of the casebook."""
    return page.locator(f"#day-{day} td.status")


def test_investigator_finds_the_protocol_signals_in_the_navigation(journey, study, site_a, arms, users, patient_a):
    page = journey.login("investigator")
    page.get_by_role("link", name="Patients and today's forms").click()
    expect(page.get_by_role("link", name=patient_a.participant_id).first).to_be_visible()
    signals = page.get_by_test_id("nav-signals")
    expect(signals).to_have_text("Protocol signals")
    journey.shot(page, "patient-list-with-signals-in-the-navigation")
    signals.click()
    expect(page).to_have_url(re.compile(rf"/studies/{study.code}/dashboard/$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{study.title}: protocol signals")
    expect(page.get_by_test_id("signal-counts")).to_be_visible()
    expect(page.get_by_test_id("nav-signals")).to_have_attribute("aria-current", "page")
    journey.shot(page, "signals-dashboard")

    # The casebook of a patient is a study page too.
    page.goto(f"/patients/{patient_a.pk}/")
    page.get_by_test_id("nav-signals").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(f"{study.title}: protocol signals")


def test_nurse_reads_the_casebook_of_a_recent_patient(journey, study, site_a, arms, users):
    patient = factories.PatientFactory(
        study=study,
        site=site_a,
        arm=arms["high_dose"],
        participant_id="MI-0002",
        enrolment_date=timezone.localdate() - datetime.timedelta(days=2),
    )
    page = journey.login("nurse")
    page.goto(f"/patients/{patient.pk}/day/0/")
    support = page.get_by_role("region", name="Respiratory support")
    support.get_by_label("Highest support of the day").select_option(label="CPAP")
    support.get_by_label("FiO2 set on the device").fill("0.5")
    support.get_by_label("PEEP", exact=True).fill("10")
    journey.shot(page, "day-0-on-cpap")
    page.get_by_role("button", name="Save day 0").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Study day 0 of {patient.participant_id} saved.")
    # The derivation runs in the background after each save; here it runs now, in the test.
    derivation_job.derive_study(study)
    page.reload()

    casebook = page.get_by_test_id("casebook")
    expect(day_status(page, 0)).to_contain_text("5")
    expect(day_status(page, 0)).to_contain_text("High-flow nasal cannula, CPAP or NIV")
    expect(casebook).not_to_contain_text("hfnc_cpap_niv")
    expect(day_status(page, 1)).to_contain_text("no respiratory support recorded")  # yesterday: the form is missing
    for day in (3, 10, 21):  # days still to come
        expect(day_status(page, day)).to_have_text("not yet due")
    legend = page.locator("p", has_text="Ordinal: the patient's worst state")
    expect(legend).to_contain_text("not yet due")
    expect(legend).to_contain_text("estimated from the oxygen device and its flow")
    # no citation of a document the nurse does not have
    expect(page.locator("body")).not_to_contain_text(re.compile(r"clinical definitions|§"))
    journey.shot(page, "casebook-states-in-words-future-days-not-due")


def test_history_of_a_corrected_record_names_people_and_the_patient(journey, study, site_a, arms, users, patient_a):
    nurse = users["nurse"]
    nurse.first_name, nurse.last_name = "Giulia", "Rossi"
    nurse.save()
    page = journey.login("nurse")
    page.goto(f"/patients/{patient_a.pk}/day/2/")
    page.get_by_label("Heart rate", exact=True).fill("96")
    page.get_by_role("button", name="Save day 2").click()
    expect(page.get_by_role("alert")).to_contain_text("saved")
    page.goto(f"/patients/{patient_a.pk}/day/2/")
    page.get_by_label("Heart rate", exact=True).fill("86")
    page.get_by_label("Reason for change").fill("typed from the wrong bed")
    page.get_by_role("button", name="Save day 2").click()
    expect(page.get_by_role("alert")).to_contain_text("saved")
    vitals = VitalSigns.objects.get(patient=patient_a, study_day=2)
    assert (vitals.heart_rate_bpm, vitals.version) == (86, 2)

    page.goto(f"/patients/{patient_a.pk}/day/2/")
    page.get_by_role("region", name="Vital signs").get_by_role("link", name="history").click()
    expect(page).to_have_url(re.compile(rf"/history/ecrf\.vitalsigns/{vitals.pk}/$"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(f"Audit trail: vital signs of {patient_a.participant_id}, study day 2")
    rows = page.locator("table > tbody > tr")
    changed = rows.filter(has_text="typed from the wrong bed")
    expect(changed).to_contain_text("Giulia Rossi")
    expect(changed).to_contain_text("96")
    created = rows.filter(has_text="created")
    expect(created).to_contain_text("Giulia Rossi")
    expect(created.get_by_role("row").filter(has_text="patient")).to_contain_text(patient_a.participant_id)
    expect(page.locator("main table").first).not_to_contain_text(re.compile(rf"patient {patient_a.pk}\b|\bnurse\b"))
    journey.shot(page, "history-with-participant-and-full-name")

    page.get_by_role("link", name="Back to the casebook").click()
    expect(page).to_have_url(re.compile(rf"/patients/{patient_a.pk}/#day-2$"))
    expect(page.get_by_role("heading", name=f"Casebook of {patient_a.participant_id}")).to_be_visible()
    journey.shot(page, "back-in-the-casebook")


def test_screening_shows_the_pf_ratio_with_one_decimal(journey, study, site_a, arms, users):
    page = journey.login("investigator")
    page.get_by_role("link", name="Screen a candidate").click()
    page.get_by_label("Date and time of assessment").fill("2020-03-16T11:00")
    fill_screening(page, study, PF_CANDIDATE)
    live = page.get_by_test_id("criteria").get_by_role("row").filter(has_text=PF_CRITERION)
    expect(live.get_by_role("cell").nth(2)).to_have_text("116.7")  # evaluated as typed
    expect(live).not_to_contain_text("116.6")
    journey.shot(page, "live-pf-one-decimal")
    page.get_by_role("button", name="Evaluate and save screening").click()
    expect(page.get_by_test_id("result")).to_have_text("eligible")
    saved = page.get_by_test_id("criteria").get_by_role("row").filter(has_text=PF_CRITERION)
    expect(saved.get_by_role("cell").nth(2)).to_have_text("116.7")
    expect(saved).to_contain_text("PaO2:FiO2 116.7 mmHg")
    expect(page.get_by_test_id("criteria")).not_to_contain_text("116.6")
    journey.shot(page, "saved-pf-one-decimal")


def test_nurse_completes_day_0_of_a_screened_patient(journey, study, site_a, arms, users):
    investigator = journey.login("investigator")
    screen(investigator, study, PF_CANDIDATE)
    investigator.get_by_role("link", name="Enrol this patient").click()
    investigator.get_by_role("group", name="Arm").get_by_label("High-dose anakinra").check()
    investigator.get_by_role("group", name="Sex").get_by_label("Male", exact=True).check()
    investigator.get_by_label("Weight", exact=True).fill("80")
    investigator.get_by_role("button", name="Enrol", exact=True).click()
    expect(investigator.get_by_test_id("enrolment")).to_contain_text("Enrolled as")
    patient = Patient.objects.get()
    carried = LabResult.objects.get(patient=patient, study_day=0)
    assert (carried.pao2_mmhg, carried.abg_fio2, carried.ldh_u_l) == (70, Decimal("0.6"), None)

    page = journey.login("nurse")
    page.goto(f"/patients/{patient.pk}/day/0/")
    labs = page.get_by_role("region", name="Laboratory")
    expect(labs.get_by_label("CRP", exact=True)).to_have_value(re.compile(r"^150(\.0)?$"))  # carried from the screening
    journey.shot(page, "day-0-carried-from-the-screening")
    labs.get_by_label("LDH", exact=True).fill("420")
    page.get_by_role("button", name="Save day 0").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Study day 0 of {patient.participant_id} saved.")
    completed = LabResult.objects.get(pk=carried.pk)
    assert (completed.ldh_u_l, completed.crp_mg_l) == (420, 150)
    assert completed.history.order_by("history_id").last().history_change_reason == "initial entry"
    journey.shot(page, "completed-without-a-reason")

    # Changing a saved value is a change: it asks for the reason, naming the form.
    page.goto(f"/patients/{patient.pk}/day/0/")
    labs = page.get_by_role("region", name="Laboratory")
    expect(labs.get_by_label("LDH", exact=True)).to_have_value(re.compile(r"^420(\.0)?$"))
    labs.get_by_label("LDH", exact=True).fill("380")
    page.get_by_role("button", name="Save day 0").click()
    expect(page.get_by_test_id("not-saved")).to_be_visible()
    reason = page.get_by_label("Reason for change")
    expect(reason).to_have_class(re.compile("is-invalid"))
    expect(page.locator("#div_id_page-reason")).to_contain_text("Give a reason for changing saved data: Laboratory.")
    assert LabResult.objects.get(pk=carried.pk).ldh_u_l == 420
    journey.shot(page, "change-asks-the-reason-naming-the-form")
    reason.fill("lab report corrected")
    page.get_by_role("button", name="Save day 0").click()
    expect(page.get_by_role("alert")).to_contain_text("saved")
    changed = LabResult.objects.get(pk=carried.pk)
    assert changed.ldh_u_l == 380
    assert changed.history.order_by("history_id").last().history_change_reason == "lab report corrected"


def test_drug_form_from_the_regimen_is_saved_once(journey, study, site_a, arms, users, patient_a):
    page = journey.login("nurse")
    page.goto(f"/patients/{patient_a.pk}/")
    page.get_by_role("link", name="Add drug administration").click()
    expect(page.get_by_role("heading", name="New drug administration")).to_be_visible()
    # A new record starts from the arm's regimen: anakinra 5 mg/kg IV twice a day.
    expect(page.get_by_label("Drug")).to_have_value("anakinra")
    expect(page.get_by_label("Dose")).to_have_value("5")
    expect(page.get_by_label("Unit")).to_have_value("mg/kg")
    expect(page.get_by_label("Route")).to_have_value("iv")
    expect(page.get_by_label("Frequency")).to_have_value("bid")
    page.get_by_label("Start (study day)").fill("1")
    token = page.locator("input[name=submission_token]").input_value()
    journey.shot(page, "drug-form-from-the-regimen")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text(
        f"Drug administration of {patient_a.participant_id} saved (study day 1)."
    )
    drug = DrugAdministration.objects.get()
    assert (drug.drug, drug.dose, drug.dose_unit, drug.route, drug.study_day) == ("anakinra", 5, "mg/kg", "iv", 1)

    # Back to the form as it was rendered, and sent again: nothing is saved twice.
    page.go_back(wait_until="commit")  # from the back-forward cache: no new load event
    expect(page.get_by_role("heading", name="New drug administration")).to_be_visible()
    # The page as it was rendered (chromium's back-forward cache, as in users' browsers): its token, its values.
    expect(page.locator("input[name=submission_token]")).to_have_value(token)
    expect(page.get_by_label("Start (study day)")).to_have_value("1")
    journey.shot(page, "the-same-form-again")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("This form was already submitted; nothing was saved twice.")
    assert DrugAdministration.objects.count() == 1
    expect(page.get_by_role("heading", name=f"Casebook of {patient_a.participant_id}")).to_be_visible()
    journey.shot(page, "already-submitted")


def test_data_manager_opens_the_import_format(journey, study, site_a, arms, users):
    page = journey.login("data_manager")
    page.get_by_role("link", name="Import CSV").click()
    link = page.get_by_test_id("import-format-link")
    expect(link).to_have_text("the import format")
    journey.shot(page, "import-page")
    link.click()
    expect(page).to_have_url(f"{journey.base_url}/help/import-format/")
    expect(page.get_by_test_id("help-page")).to_be_visible()
    expect(page.get_by_role("heading", name="CSV import format", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="Home")).to_be_visible()  # inside the application, with its navigation
    journey.shot(page, "import-format-page")
