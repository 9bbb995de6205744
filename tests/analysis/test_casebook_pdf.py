"""PDF casebooks of a locked release (issue 19 item 3): one PDF per participant in one zip per site, every page
naming the study, site and participant, the daily forms with their labels and units, the events, the queries, SDV
marks, signatures and freezes, and the audit trail with names and reasons; the same release gives the same bytes."""

import io
import re
import zipfile

import pytest
from django.test import RequestFactory
from pypdf import PdfReader

from analysis import exports
from cleaning import sdv, signatures
from cleaning import services as query_services
from cleaning.models import SIGNATURE_MEANING
from cohorts.audit import save_audited
from cohorts.services import patient_freeze, patient_unfreeze
from ecrf.models import LabResult, VitalSigns
from tests.analysis import release_data

PASSWORD = "a-long-test-password"  # tests/factories.py UserFactory
EDIT_REASON = "transcription error, checked against the chart"
FREEZE_REASON = "casebook reviewed for the interim analysis"
#: Edits of one value, enough for an audit trail longer than a page.
LONG_TRAIL_EDITS = 45


def casebook_zips(release) -> dict[str, zipfile.ZipFile]:
    """The export's inner zips by name (casebooks_MI.zip, ...)."""
    outer = zipfile.ZipFile(io.BytesIO(exports.export_bytes(release, "pdf")))
    prefix = f"{release.study.code}_v{release.version}/"
    return {
        name.removeprefix(prefix): zipfile.ZipFile(io.BytesIO(outer.read(name)))
        for name in outer.namelist()
        if name.endswith(".zip")
    }


def pages(release, participant: str) -> list[str]:
    """The text of each page of the participant's casebook, white space collapsed (wrapped cells join again)."""
    site = participant.split("-")[0]
    content = casebook_zips(release)[f"casebooks_{site}.zip"].read(f"{participant}.pdf")
    return [" ".join(page.extract_text().split()) for page in PdfReader(io.BytesIO(content)).pages]


def named(user, first: str, last: str):
    user.first_name, user.last_name = first, last
    user.save()
    return user


@pytest.fixture
def history(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    """The four patients of release_data, then before the lock: an edit of MI-0001's temperature with a reason, a
    long run of edits of its respiratory rate, a signature of its days 0-2, a query, an SDV mark, a freeze and
    unfreeze; MI-0002 with a value of unknown value and a laboratory form not done."""
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    settings.ECRF_REQUIRE_2FA = False
    mi_0002 = release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)[2]
    nurse = named(users["nurse"], "Nora", "Neri")
    investigator = named(users["investigator"], "Anna", "Bianchi")
    monitor = named(users["monitor"], "Marco", "Monti")
    data_manager = named(users["data_manager"], "Dario", "Mancini")

    vitals = VitalSigns.objects.get(patient=patient_a, study_day=1)
    vitals.temperature_c = "38.4"
    save_audited(vitals, user=nurse, reason=EDIT_REASON)
    day_two = VitalSigns.objects.get(patient=patient_a, study_day=2)
    for number in range(LONG_TRAIL_EDITS):
        day_two.respiratory_rate_bpm = 20 + number % 10
        save_audited(day_two, user=nurse, reason=f"correction {number + 1}")

    signatures.casebook_sign(
        patient=patient_a,
        first_day=0,
        last_day=2,
        user=investigator,
        password=PASSWORD,
        otp_token=None,
        request=RequestFactory().post("/sign/"),
    )
    query_services.query_open(
        patient=patient_a, study_day=1, form="vital_signs", field="spo2_pct", text="Please check.", user=monitor
    )
    sdv.plan_save(study=study, levels={"vital_signs": "all"}, user=data_manager)
    sdv.sdv_verify(user=monitor, patient=patient_a, items=[("vital_signs", vitals.pk, None)])
    patient_freeze(patient=patient_a, user=data_manager, reason=FREEZE_REASON)
    patient_unfreeze(patient=patient_a, user=data_manager, reason="query to answer")

    VitalSigns.objects.filter(patient=mi_0002, study_day=2).update(missing_codes={"heart_rate_bpm": "unknown"})
    LabResult.objects.filter(patient=mi_0002, study_day=1).update(
        pao2_mmhg=None, crp_mg_l=None, not_done_reason="sample haemolysed"
    )
    return release_data.lock(study, data_manager)


# ------------------------------------------------------------------------------------------------ the zips


def test_one_zip_per_site_holds_exactly_its_participants(release):
    zips = casebook_zips(release)
    assert sorted(zips) == ["casebooks_BG.zip", "casebooks_MI.zip"]
    assert zips["casebooks_BG.zip"].namelist() == ["BG-0001.pdf", "BG-0002.pdf"]
    assert zips["casebooks_MI.zip"].namelist() == ["MI-0001.pdf", "MI-0002.pdf"]
    for archive in zips.values():
        assert all(info.date_time[:3] == release.locked_at.timetuple()[:3] for info in archive.infolist())


def test_the_readme_says_what_the_casebooks_are(release):
    outer = zipfile.ZipFile(io.BytesIO(exports.export_bytes(release, "pdf")))
    readme = outer.read(f"{release.study.code}_v{release.version}/README.md").decode()
    assert "casebooks_BG.zip" in readme and "casebooks_MI.zip" in readme
    assert "trial master file" in readme
    assert "audit trail" in readme


def test_every_page_names_the_study_site_participant_and_release(release):
    for participant in ("MI-0001", "MI-0002", "BG-0001", "BG-0002"):
        texts = pages(release, participant)
        assert len(texts) > 1
        for number, text in enumerate(texts, start=1):
            assert release.study.code in text
            assert f"Site {participant[:2]}" in text
            assert f"Participant {participant}" in text
            assert f"Release v{release.version}" in text
            assert f"page {number} of {len(texts)}" in text
            assert f"Locked {release.locked_at:%Y-%m-%d %H:%M:%S} UTC" in text


def test_the_participant_comes_first_with_codebook_labels(release):
    first = pages(release, "MI-0002")[0]
    assert "Casebook of participant MI-0002" in first
    assert "Standard treatment" in first
    assert "Female" in first
    assert "Age at enrolment 62 years" in first
    assert "Comorbidities Diabetes" in first
    assert "In follow-up" in first


# ------------------------------------------------------------------------------------------------ the forms


def days_text(release, participant: str) -> dict[int, str]:
    """The text of each study day's part of the daily forms."""
    text = " ".join(pages(release, participant))
    daily = text.split("Daily forms", 1)[1].split("Drugs and events", 1)[0]
    parts = re.split(r"Study day (\d+)", daily)[1:]
    return {int(day): body for day, body in zip(parts[::2], parts[1::2], strict=True)}


def test_each_day_shows_the_spo2_with_its_unit(release):
    days = days_text(release, "MI-0001")
    assert sorted(days) == [0, 1, 2]
    for body in days.values():
        assert re.search(r"SpO2 92 %", body)
        assert "Temperature 37.2 °C" in body
        assert "Support CPAP" in body  # the coded value by its label


def test_the_confirmed_soft_checks_are_listed_under_their_form(release):
    days = days_text(release, "MI-0001")
    assert "Soft checks confirmed at entry" in days[0]
    assert "Temperature (°C) above its soft upper limit" in days[0]
    assert "Heart rate (/min) below its soft lower limit" in days[0]
    assert "Soft checks confirmed" not in days[1]


def test_the_death_and_the_adverse_event_appear(release):
    death = " ".join(pages(release, "BG-0001"))
    assert "Day 2 · Disposition event" in death
    assert "Kind Death" in death and "Cause of death ARDS" in death
    event = " ".join(pages(release, "BG-0002"))
    assert "Day 1 · Adverse event" in event
    assert "Bacteraemia" in event and "E. coli" in event
    drug = " ".join(pages(release, "MI-0001"))
    assert "Day 0 · Drug administration" in drug and "Twice daily (every 12 h)" in drug


def test_missing_codes_and_a_form_not_done(history):
    days = days_text(history, "MI-0002")
    assert re.search(r"Heart rate /min unknown", days[2])
    assert "not done: sample haemolysed" in days[1]


# ------------------------------------------------------------------------------------------------ cleaning


def test_an_edited_value_shows_in_the_audit_trail_with_name_and_reason(history):
    text = " ".join(pages(history, "MI-0001"))
    appendix = text.split("Appendix: audit trail", 1)[1]
    assert "37.2 -> 38.4" in appendix
    assert "Nora Neri" in appendix
    assert EDIT_REASON in appendix
    row = re.search(r"Nora Neri Vital signs 1 Temperature \(°C\) 37\.2 -> 38\.4 (.+?) 20\d\d-", appendix)
    assert row is not None and EDIT_REASON in row.group(1)


def test_a_signature_shows_the_printed_name_and_meaning(history):
    text = " ".join(pages(history, "MI-0001"))
    signed = text.split("Signatures", 1)[1].split("Freezes", 1)[0]
    assert "Anna Bianchi" in signed
    assert SIGNATURE_MEANING in signed
    assert "0 to 2" in signed
    assert "intact" in signed


def test_a_patient_without_signatures_says_not_signed(history):
    assert "The casebook is not signed." in " ".join(pages(history, "MI-0002"))


def test_queries_verifications_and_freezes(history):
    text = " ".join(pages(history, "MI-0001"))
    queries = text.split("Queries", 1)[1].split("Source data verification", 1)[0]
    assert "Vital signs" in queries and "SpO2" in queries and "Open" in queries and "Manual" in queries
    verified = text.split("Source data verification", 1)[1].split("Signatures", 1)[0]
    assert "All fields" in verified and "unchanged" in verified
    frozen = text.split("Freezes", 1)[1].split("Appendix", 1)[0]
    assert FREEZE_REASON in frozen and "query to answer" in frozen


def test_a_long_audit_trail_continues_on_the_next_page_with_its_header(history):
    texts = pages(history, "MI-0001")
    start = next(n for n, text in enumerate(texts) if "Appendix: audit trail" in text)
    trail = texts[start:]
    assert len(trail) >= 2
    header = "When (UTC) User Form Day Field Change (old -> new) Reason"
    assert all(header in text for text in trail)
    first = next(n for n, text in enumerate(trail) if re.search(r"correction 1\b", text))
    assert first < len(trail) - 1  # in the order of time, over more than one page
    assert f"correction {LONG_TRAIL_EDITS}" in trail[-1]
    assert all("Appendix: audit trail" not in text for text in trail[1:])  # continued, not started again


def test_the_same_release_exported_twice_gives_the_same_bytes(release):
    assert exports.export_bytes(release, "pdf") == exports.export_bytes(release, "pdf")
