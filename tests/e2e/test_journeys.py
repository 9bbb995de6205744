"""The main journeys of each role, clicked through in headless chromium against the live server (issue 7).

Each journey saves its screenshots under var/screenshots/<journey>/ (ignored by git).
"""

import io
import re
import zipfile

import pytest
from celery.contrib.testing.worker import start_worker
from playwright.sync_api import expect
from pypdf import PdfReader

from cohorts.eligibility import get_rule_set
from cohorts.models import Patient, Screening, Study
from config.celery import app
from ecrf.models import VitalSigns
from tests.analysis import release_data
from tests.cohorts.screening_data import MILAN_ELIGIBLE

# The lock's worker writes every file of the release (tables, codebook, outcomes) while its status page polls.
LOCK_TIMEOUT_MS = 90_000

pytestmark = [
    pytest.mark.e2e,
    # serialized_rollback: the flush after each journey restores the role groups for the tests that follow.
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


def fill_screening(page, study: Study, values: dict) -> None:
    """Type a candidate's data into the screening form, finding every input by its label in the rule set."""
    for field in get_rule_set(study.protocol).fields:
        value = values.get(field.name)
        if value is None:
            continue
        if field.kind == "bool":
            page.get_by_role("group", name=field.label).get_by_label(value.capitalize(), exact=True).check()
        elif field.name == "age_years":
            page.get_by_label(f"{field.label} (years)", exact=True).fill(value)
        else:
            page.get_by_label(field.label, exact=True).fill(value)


def field_box(page, form: str, name: str):
    """The block of one input of a daily form: its label, input, message and confirm box (crispy's wrapper)."""
    return page.locator(f"#div_id_{form}-{name}")


def test_investigator_screens_and_enrols(journey, study, site_a, arms, users):
    page = journey.login("investigator")
    page.get_by_role("link", name="Screen a candidate").click()
    expect(page.get_by_role("heading", name=re.compile("screen a candidate"))).to_be_visible()
    page.get_by_label("Date and time of assessment").fill("2020-03-16T09:30")

    # An ineligible candidate: CRP and ferritin below the hyperinflammation thresholds, and a bacterial infection.
    ineligible = {**MILAN_ELIGIBLE, "crp_mg_l": "80", "ferritin_ng_ml": "500", "bacterial_infection": "yes"}
    fill_screening(page, study, ineligible)
    verdict = page.get_by_test_id("verdict")
    expect(verdict).to_contain_text("Not eligible")  # evaluated as typed (htmx), before anything is saved
    journey.shot(page, "ineligible-evaluated-as-typed")
    page.get_by_role("button", name="Evaluate and save screening").click()
    expect(page.get_by_role("alert")).to_contain_text("saved to the screening log: not eligible")
    expect(page.get_by_test_id("result")).to_have_text("not eligible")
    criteria = page.get_by_test_id("criteria")
    for failing in ("Hyperinflammation (CRP or ferritin)", "Evidence of bacterial infection"):
        expect(criteria.get_by_role("row").filter(has_text=failing)).to_have_class(re.compile("table-danger"))
    expect(page.get_by_test_id("enrolment")).to_contain_text("Hyperinflammation")
    expect(page.get_by_role("link", name="Enrol this patient")).to_have_count(0)
    journey.shot(page, "ineligible-screening-with-reasons")

    # An eligible candidate, then enrolment with arm and baseline.
    page.get_by_role("link", name="Screening log").first.click()
    page.get_by_role("link", name="Screen a candidate").click()
    page.get_by_label("Date and time of assessment").fill("2020-03-16T11:00")
    fill_screening(page, study, MILAN_ELIGIBLE)
    expect(page.get_by_test_id("verdict")).to_contain_text("Eligible so far")
    page.get_by_role("button", name="Evaluate and save screening").click()
    expect(page.get_by_test_id("result")).to_have_text("eligible")
    journey.shot(page, "eligible-screening")
    page.get_by_role("link", name="Enrol this patient").click()
    page.get_by_role("group", name="Arm").get_by_label("High-dose anakinra").check()
    page.get_by_role("group", name="Sex").get_by_label("Female").check()
    page.get_by_label("Weight", exact=True).fill("72")
    page.get_by_role("group", name="Hypertension").get_by_label("Yes", exact=True).check()
    journey.shot(page, "enrolment-form")
    page.get_by_role("button", name="Enrol", exact=True).click()

    patient = Patient.objects.get()
    assert (patient.arm.code, patient.sex, patient.age_years, patient.weight_kg) == ("high_dose", "F", 62, 72)
    expect(page.get_by_test_id("enrolment")).to_contain_text(f"Enrolled as {patient.participant_id} in High-dose")
    assert re.fullmatch(r"MI-\d{4}", patient.participant_id)
    journey.shot(page, "enrolled")
    assert Screening.objects.count() == 2


def test_nurse_enters_a_day_and_corrects_it(journey, study, site_a, arms, users, patient_a):
    page = journey.login("nurse")
    page.get_by_role("link", name="Patients and today's forms").click()
    page.get_by_role("link", name=patient_a.participant_id).first.click()
    page.goto(f"/patients/{patient_a.pk}/day/3/")
    expect(page.get_by_role("heading", name=re.compile("Study day 3"))).to_be_visible()
    vitals = {
        "Temperature": "45",
        "Heart rate": "190",
        "Respiratory rate": "24",
        "Systolic BP": "130",
        "Diastolic BP": "80",
        "SpO2": "92",
    }
    for label, value in vitals.items():
        page.get_by_label(label, exact=True).fill(value)
    page.get_by_role("button", name="Save day 3").click()

    # Hard limit: refused, the message next to the field; soft limit: asks for confirmation.
    expect(page.get_by_test_id("not-saved")).to_be_visible()
    temperature = field_box(page, "vital_signs", "temperature_c")
    expect(temperature).to_contain_text("Temperature 45 degC is above the plausible maximum of 44 degC.")
    expect(page.get_by_label("Temperature", exact=True)).to_have_class(re.compile("is-invalid"))
    journey.shot(page, "hard-and-soft-limits")
    assert not VitalSigns.objects.exists()

    page.get_by_label("Temperature", exact=True).fill("37.8")
    heart_rate = field_box(page, "vital_signs", "heart_rate_bpm")
    page.get_by_role("button", name="Save day 3").click()
    confirm = page.get_by_label("Confirm: the value is correct")
    expect(confirm).to_have_count(1)
    expect(page.locator(".confirm-box").filter(has=confirm)).to_be_visible()
    expect(heart_rate).to_contain_text("180")
    assert not VitalSigns.objects.exists()
    journey.shot(page, "soft-limit-confirm")
    confirm.check()
    page.get_by_role("button", name="Save day 3").click()
    expect(page.get_by_role("alert")).to_contain_text(f"Study day 3 of {patient_a.participant_id} saved.")
    vitals_row = VitalSigns.objects.get()
    assert (str(vitals_row.temperature_c), vitals_row.heart_rate_bpm) == ("37.8", 190)
    assert vitals_row.confirmed_checks == ["heart_rate_bpm.soft_high"]
    journey.shot(page, "casebook-after-save")

    # Correction with a reason for change; the history shows old -> new with the reason.
    page.goto(f"/patients/{patient_a.pk}/day/3/")
    page.get_by_label("Heart rate", exact=True).fill("110")
    page.get_by_role("button", name="Save day 3").click()
    expect(page.get_by_test_id("not-saved")).to_be_visible()  # a change of saved data needs a reason
    expect(page.get_by_label("Reason for change")).to_have_class(re.compile("is-invalid"))
    journey.shot(page, "reason-required")
    page.get_by_label("Reason for change").fill("transcription error, checked against chart")
    page.get_by_role("button", name="Save day 3").click()
    expect(page.get_by_role("alert")).to_contain_text("saved")
    page.goto(f"/patients/{patient_a.pk}/day/3/")
    page.get_by_role("region", name="Vital signs").get_by_role("link", name="history").click()
    changed = page.get_by_role("row").filter(has_text="transcription error, checked against chart")
    expect(changed).to_have_count(1)
    expect(changed).to_contain_text("190")
    expect(changed).to_contain_text("110")
    expect(changed).to_contain_text("nurse")
    journey.shot(page, "history-old-new-with-reason")


def test_data_manager_locks_the_study(
    journey, study, site_a, site_b, arms, users, patient_a, patient_b, settings, tmp_path, monkeypatch
):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)

    # The nurse has a day open when the data manager locks.
    nurse = journey.login("nurse")
    nurse.goto(f"/patients/{patient_a.pk}/day/5/")
    nurse.get_by_label("Temperature", exact=True).fill("37.1")

    manager = journey.login("data_manager")
    manager.get_by_role("link", name="Lock and releases").click()
    expect(manager.get_by_test_id("lock-state")).to_contain_text("Open")
    manager.get_by_role("button", name="Lock and release").click()  # no reason yet, the checklist not settled
    form = manager.get_by_test_id("lock-form")
    expect(form).to_contain_text("Give a reason for locking the study.")
    expect(manager.get_by_test_id("check-missing_forms")).to_contain_text("Resolve them, or give a reason")
    assert not Study.objects.get(pk=study.pk).is_locked
    for box in form.get_by_placeholder("reason to lock with them").all():
        box.fill("test cohort: locked as it is")
    manager.get_by_label("Reason", exact=True).fill("database lock for the day-21 analysis")
    journey.shot(manager, "lock-form")
    manager.get_by_role("button", name="Lock and release").click()  # queues the lock: the answer is its status page
    expect(manager.get_by_test_id("lock-status")).to_have_text("Queued")
    manager.goto(f"/studies/{study.code}/releases/")
    expect(manager.get_by_test_id("pending-lock")).to_contain_text("Locking requested by data_manager")
    expect(manager.get_by_role("button", name="Lock and release")).to_have_count(0)
    journey.shot(manager, "lock-pending")
    manager.get_by_role("link", name="Follow the lock").click()
    cancel = manager.get_by_role("button", name="Cancel this lock")
    expect(cancel).to_be_visible()  # queued, no worker yet: the lock can still be cancelled
    journey.shot(manager, "lock-queued-cancel-offered")
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        release_link = manager.get_by_test_id("release-link")
        expect(release_link).to_be_visible(timeout=LOCK_TIMEOUT_MS)  # the page polls until the worker is done
    expect(manager.get_by_role("alert")).to_contain_text("Locked: release v1 is frozen")
    expect(cancel).to_have_count(0)  # the poll took the void offer away, without a reload (issue 13)
    expect(manager.get_by_test_id("lock-cancel")).to_have_count(0)
    journey.shot(manager, "lock-done")
    manager.get_by_role("link", name="All releases").click()
    expect(manager.get_by_test_id("lock-state")).to_contain_text("Locked")
    expect(manager.get_by_test_id("releases")).to_contain_text("database lock for the day-21 analysis")
    journey.shot(manager, "locked")

    nurse.get_by_role("button", name="Save day 5").click()
    expect(nurse.get_by_role("alert").filter(has_text="is locked")).to_be_visible()
    assert not VitalSigns.objects.filter(patient=patient_a, study_day=5).exists()
    journey.shot(nurse, "nurse-save-refused")
    nurse.reload()
    expect(nurse.get_by_text("The study is locked for a data release: nothing can be changed.")).to_be_visible()
    expect(nurse.get_by_role("button", name="Save day 5")).to_have_count(0)


def test_statistician_downloads_the_release(
    journey, study, site_a, site_b, arms, users, patient_a, patient_b, settings, tmp_path, monkeypatch
):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    release_data.lock(study, users["data_manager"])

    page = journey.login("statistician")
    page.get_by_role("link", name="Releases and downloads").click()
    page.get_by_role("link", name="Manifest and downloads").click()
    expect(page.get_by_test_id("verified")).to_contain_text("every SHA-256 matches")
    journey.shot(page, "release-manifest")
    page.get_by_label("Format").select_option(label="CSV")
    journey.shot(page, "release-page-without-archive")
    # The archival formats name people: they are the data manager's, not offered here.
    expect(page.get_by_label("Format").locator("option", has_text="archival")).to_have_count(0)
    expect(page.get_by_label("Format").locator("option", has_text="SDTM")).to_have_count(1)
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        page.get_by_role("button", name="Export", exact=True).click()
        download_link = page.get_by_test_id("download")
        expect(download_link).to_be_visible(timeout=60_000)  # the page polls until the worker is done
    journey.shot(page, "export-done")
    with page.expect_download() as info:
        download_link.click()
    download = info.value
    assert download.suggested_filename.endswith(".zip")
    content = download.path().read_bytes()
    with zipfile.ZipFile(io.BytesIO(content)) as archive:
        names = archive.namelist()
    assert any(name.endswith("manifest.json") for name in names)
    assert any(name.endswith(".csv") for name in names)


def test_data_manager_exports_the_casebooks_for_the_trial_master_file(
    journey, study, site_a, site_b, arms, users, patient_a, patient_b, settings, tmp_path, monkeypatch
):
    """Issue 19: the archival formats are on the data manager's release page; the PDF casebooks come as one zip per
    site, each PDF headed with the study, the site and the participant."""
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    release_data.lock(study, users["data_manager"])

    page = journey.login("data_manager")
    page.goto(f"/studies/{study.code}/releases/v1/")
    expect(page.get_by_test_id("manifest")).to_contain_text("archive/audit_trail.parquet")
    journey.shot(page, "release-page-with-archive")
    page.get_by_label("Format").select_option(label="PDF casebooks per patient (archival)")
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        page.get_by_role("button", name="Export", exact=True).click()
        download_link = page.get_by_test_id("download")
        expect(download_link).to_be_visible(timeout=60_000)
    journey.shot(page, "casebooks-export-done")
    with page.expect_download() as info:
        download_link.click()
    with zipfile.ZipFile(io.BytesIO(info.value.path().read_bytes())) as archive:
        sites = sorted(name.rsplit("/", 1)[-1] for name in archive.namelist() if name.endswith(".zip"))
        milan = archive.read(next(name for name in archive.namelist() if name.endswith("casebooks_MI.zip")))
    assert sites == ["casebooks_BG.zip", "casebooks_MI.zip"]
    with zipfile.ZipFile(io.BytesIO(milan)) as casebooks:
        assert casebooks.namelist() == ["MI-0001.pdf", "MI-0002.pdf"]
        first_page = PdfReader(io.BytesIO(casebooks.read("MI-0001.pdf"))).pages[0].extract_text()
    assert study.code in first_page and "Participant MI-0001" in first_page and "Site MI" in first_page
