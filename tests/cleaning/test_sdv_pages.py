"""Source data verification pages (issue 16 item 1): the patient's worksheet (a monitor ticks and verifies, a record
changed since the page was shown is refused), the study's SDV page (the plan, set by the data manager and audited;
the progress per site and per monitor), the casebook's panel and the bulk verification from the record status
dashboard; who may see and do what."""

import re

import pytest

from cleaning import sdv, status_job
from cleaning.models import SdvPlan, SourceVerification
from cohorts.models import Study
from ecrf.crfs import CATALOGUE
from ecrf.models import DrugAdministration, VitalSigns

VITALS = CATALOGUE["vital_signs"]


def worksheet_url(patient) -> str:
    return f"/patients/{patient.pk}/sdv/"


def study_url(study) -> str:
    return f"/studies/{study.code}/sdv/"


@pytest.fixture
def records(patient_a, planned):
    day0 = VitalSigns.objects.create(patient=patient_a, study_day=0, spo2_pct=91, respiratory_rate_bpm=28)
    day1 = VitalSigns.objects.create(patient=patient_a, study_day=1, spo2_pct=93, temperature_c="37.5")
    drug = DrugAdministration.objects.create(
        patient=patient_a, study_day=0, drug="anakinra", dose=100, dose_unit="mg", route="sc", frequency="q6h"
    )
    return day0, day1, drug


def test_the_monitor_sees_the_verified_values_and_verifies_the_ticked_records(client, users, patient_a, records):
    day0, _, _ = records
    client.force_login(users["monitor"])
    page = client.get(worksheet_url(patient_a)).content.decode()
    assert 'data-testid="sdv-vital_signs-0" data-state="unverified"' in page
    assert "Oxygen saturation" in page or "SpO2" in page
    assert "91" in page and "Temperature" not in page.split('data-testid="sdv-worksheet"')[1].split("</table>")[0]
    key = sdv.worksheet(patient_a)[0].key
    response = client.post(worksheet_url(patient_a), {"record": [key]}, follow=True)
    assert "1 record verified against source." in response.content.decode()
    mark = SourceVerification.objects.get(form="vital_signs", record_id=day0.pk)
    assert mark.verified_by == users["monitor"] and mark.fields == ["respiratory_rate_bpm", "spo2_pct"]
    states = {(e.crf.key, e.record.study_day): e.state for e in sdv.worksheet(patient_a)}
    assert states == {
        ("vital_signs", 0): "verified",
        ("vital_signs", 1): "unverified",
        ("drug_administration", 0): "unverified",
    }


def test_a_record_changed_since_the_page_was_shown_is_refused_and_nothing_is_verified(
    client, users, patient_a, records
):
    _, day1, _ = records
    client.force_login(users["monitor"])
    keys = [entry.key for entry in sdv.worksheet(patient_a) if entry.crf.key == "vital_signs"]
    VitalSigns.objects.filter(pk=day1.pk).update(spo2_pct=95)  # a nurse saves while the monitor reads
    response = client.post(worksheet_url(patient_a), {"record": keys}, follow=True)
    text = response.content.decode()
    assert "Vital signs, day 1 changed since the page was shown" in text
    assert not SourceVerification.objects.exists()


@pytest.mark.parametrize("role", ["nurse", "investigator", "data_manager"])
def test_only_a_monitor_verifies(client, users, patient_a, records, role):
    client.force_login(users[role])
    page = client.get(worksheet_url(patient_a))
    if role == "nurse":
        assert page.status_code == 403
    else:
        assert page.status_code == 200 and 'name="record"' not in page.content.decode()
    key = sdv.worksheet(patient_a)[0].key
    assert client.post(worksheet_url(patient_a), {"record": [key]}).status_code == 403
    assert not SourceVerification.objects.exists()


def test_a_locked_study_shows_the_worksheet_without_verifying(client, users, patient_a, records):
    Study.objects.filter(pk=patient_a.study_id).update(is_locked=True)
    client.force_login(users["monitor"])
    assert 'name="record"' not in client.get(worksheet_url(patient_a)).content.decode()
    key = sdv.worksheet(patient_a)[0].key
    assert client.post(worksheet_url(patient_a), {"record": [key]}).status_code == 403


def test_nothing_ticked_and_a_forged_key_get_a_message_not_a_server_error(client, users, patient_a, records):
    client.force_login(users["monitor"])
    assert "Tick at least one record" in client.post(worksheet_url(patient_a), {}, follow=True).content.decode()
    forged = client.post(worksheet_url(patient_a), {"record": ["nonsense:x:y"]}, follow=True).content.decode()
    assert "Not a record of the worksheet" in forged
    assert not SourceVerification.objects.exists()


def test_the_data_manager_sets_the_plan_with_a_reason_and_it_is_audited(client, users, study):
    client.force_login(users["data_manager"])
    data = dict.fromkeys(CATALOGUE, "none") | {"laboratory": "all", "reason": "Monitoring plan v2"}
    response = client.post(study_url(study), data, follow=True)
    assert "SDV plan saved." in response.content.decode()
    assert sdv.plan_levels(study)["laboratory"] == "all"
    row = SdvPlan.history.get(form="laboratory")
    assert row.history_user == users["data_manager"] and row.history_change_reason == "Monitoring plan v2"
    bad = client.post(study_url(study), data | {"laboratory": "everything"})
    assert bad.status_code == 200 and "Select a valid choice" in bad.content.decode()
    assert sdv.plan_levels(study)["laboratory"] == "all"


def test_the_plan_s_reason_is_typed_by_the_data_manager_in_any_language(client, users, study):
    """No reason is prefilled (a prefilled one was saved unread, and in English on the Italian page): the box is
    empty with an example in the page's language, and a change without a reason is refused next to the box."""
    client.force_login(users["data_manager"])
    page = client.get(study_url(study), HTTP_ACCEPT_LANGUAGE="it").content.decode()
    reason_input = re.search(r'<input[^>]*name="reason"[^>]*>', page).group(0)
    assert "value=" not in reason_input and 'placeholder="es.' in reason_input
    data = dict.fromkeys(CATALOGUE, "none") | {"laboratory": "all"}
    refused = client.post(study_url(study), data).content.decode()
    assert "This field is required." in refused
    assert sdv.plan_levels(study)["laboratory"] != "all"


def test_a_plan_page_opened_before_another_change_does_not_undo_it(client, users, study):
    """Two data managers open the plan; one asks for all of the laboratory. The other's page, posting every form at
    the level it was opened with (laboratory: none) to add the vital signs, is refused, naming the change."""
    client.force_login(users["data_manager"])
    opened = client.get(study_url(study)).context["form"]["opened"].value()
    data = dict.fromkeys(CATALOGUE, "none") | {"reason": "Monitoring plan v2", "opened": opened}
    assert client.post(study_url(study), data | {"laboratory": "all"}).status_code == 302
    response = client.post(study_url(study), data | {"vital_signs": "critical"})
    assert response.context["form"].non_field_errors() == [
        "This record was changed by someone else after you opened it (Laboratory: now All fields (you started from "
        "None)). Reload the page, review their change, and enter yours again."
    ]
    assert sdv.plan_levels(study)["laboratory"] == "all" and sdv.plan_levels(study)["vital_signs"] == "none"
    reopened = client.get(study_url(study)).context["form"]["opened"].value()
    data = data | {"laboratory": "all", "vital_signs": "critical", "opened": reopened}
    assert client.post(study_url(study), data).status_code == 302
    assert sdv.plan_levels(study)["vital_signs"] == "critical"


def test_a_monitor_reads_the_plan_but_cannot_change_it(client, users, planned):
    client.force_login(users["monitor"])
    page = client.get(study_url(planned)).content.decode()
    assert "Critical fields" in page and 'name="reason"' not in page
    data = dict.fromkeys(CATALOGUE, "all") | {"reason": "mine"}
    assert client.post(study_url(planned), data).status_code == 403
    assert sdv.plan_levels(planned)["laboratory"] == "none"


def test_progress_per_site_and_per_monitor(client, users, patient_a, records, site_a):
    monitor = users["monitor"]
    monitor.first_name, monitor.last_name = "Marco", "Rossi"
    monitor.save()
    sdv.sdv_verify(user=monitor, patient=patient_a, items=[("vital_signs", records[0].pk, None)])
    client.force_login(users["data_manager"])
    page = client.get(study_url(patient_a.study)).content.decode()
    site_row = page.split(f'data-testid="site-{site_a.name}"')[1].split("</tr>")[0]
    assert [cell.split("<")[0] for cell in site_row.split('class="text-end">')[1:]] == ["3", "1", "33.3"]
    assert "Marco Rossi" in page.split('data-testid="sdv-by-monitor"')[1]


def test_the_casebook_shows_the_verification_and_links_to_the_worksheet(client, users, patient_a, records):
    client.force_login(users["monitor"])
    page = client.get(f"/patients/{patient_a.pk}/").content.decode()
    assert 'data-testid="sdv-unverified">Not verified: 3' in page
    assert f'href="/patients/{patient_a.pk}/sdv/" data-testid="sdv-link">Verify against source' in page
    client.force_login(users["nurse"])
    assert 'data-testid="sdv-panel"' not in client.get(f"/patients/{patient_a.pk}/").content.decode()


def test_no_plan_no_panel(client, users, patient_a):
    client.force_login(users["monitor"])
    assert 'data-testid="sdv-panel"' not in client.get(f"/patients/{patient_a.pk}/").content.decode()
    assert 'data-testid="sdv-no-plan"' in client.get(worksheet_url(patient_a)).content.decode()


def test_bulk_verification_from_the_record_status_dashboard(client, users, study, patient_a, patient_b, records):
    status_job.rebuild_study(study)
    client.force_login(users["monitor"])
    dashboard = client.get(f"/studies/{study.code}/status/").content.decode()
    assert f'name="patient" value="{patient_a.pk}"' in dashboard
    response = client.post(
        f"/studies/{study.code}/sdv/verify/", {"patient": [patient_a.pk], "next": f"/studies/{study.code}/status/"}
    )
    assert response.status_code == 302 and response["Location"] == f"/studies/{study.code}/status/"
    assert SourceVerification.objects.filter(patient=patient_a).count() == 3
    # Patient B is at site B, where this monitor does not work: refused, nothing written.
    VitalSigns.objects.create(patient=patient_b, study_day=0, spo2_pct=90)
    assert client.post(f"/studies/{study.code}/sdv/verify/", {"patient": [patient_b.pk]}).status_code == 403
    assert not SourceVerification.objects.filter(patient=patient_b).exists()
    # An address elsewhere is not followed back.
    away = client.post(
        f"/studies/{study.code}/sdv/verify/", {"patient": [patient_a.pk], "next": "https://evil.example/"}
    )
    assert away["Location"] == f"/studies/{study.code}/status/"


def test_the_dashboard_has_no_bulk_verification_for_other_roles(client, users, study, records):
    client.force_login(users["nurse"])
    assert 'data-testid="sdv-bulk"' not in client.get(f"/studies/{study.code}/status/").content.decode()
    assert client.post(f"/studies/{study.code}/sdv/verify/", {"patient": [records[0].patient_id]}).status_code == 403
