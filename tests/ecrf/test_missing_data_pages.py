"""Missing-data codes and forms marked not done on the pages (clinical definitions §2.2): what the day page and the
repeating forms offer, refuse and show, what the casebook shows, and what the missing counts leave out."""

import datetime
import re

import pytest
from django.utils import timezone

from ecrf import selectors
from ecrf.dashboard import study_signals
from ecrf.models import DrugAdministration, LabResult, RespiratorySupport, VitalSigns
from tests.ecrf.test_casebook_pages import cell_states, day_row
from tests.ecrf.test_entry_helpers import day_post, day_url, errors_of, form_of


@pytest.fixture
def nurse(client, users):
    client.force_login(users["nurse"])
    return client


@pytest.fixture
def recent(patient_a):
    """patient_a enrolled ten days ago: days 0-9 are past, day 10 is today."""
    patient_a.enrolment_date = timezone.localdate() - datetime.timedelta(days=10)
    patient_a.save()
    return patient_a


def test_a_value_is_given_a_code_instead_and_the_page_shows_it_back(nurse, patient_a):
    response = nurse.post(
        day_url(patient_a, 2),
        day_post(vitals={"temperature_c": "37.4", "spo2_pct": "", "mc_spo2_pct": "not_done"}),
    )
    assert response.status_code == 302
    assert VitalSigns.objects.get().missing_codes == {"spo2_pct": "not_done"}
    page = nurse.get(day_url(patient_a, 2)).content.decode()
    select = re.search(r'<select name="vital_signs-mc_spo2_pct".*?</select>', page, flags=re.S).group(0)
    assert 'aria-label="missing-data code" title="SpO2: missing-data code instead of a value' in select
    assert '<option value="not_done" selected title="Not done">ND</option>' in select
    # The day after shows it under the field, as it shows the values of the day before.
    next_day = nurse.get(day_url(patient_a, 3)).content.decode()
    assert 'day 2: <abbr class="mc" title="Not done">ND</abbr>' in next_day


def test_a_value_and_a_code_are_refused_next_to_the_field(nurse, patient_a):
    response = nurse.post(day_url(patient_a, 2), day_post(vitals={"spo2_pct": "94", "mc_spo2_pct": "unknown"}))
    assert response.status_code == 200
    assert errors_of(response, "vitals") == {"spo2_pct": ["spo2_pct.value_and_code"]}
    assert "Give a value or a missing-data code, not both." in response.content.decode()
    assert not VitalSigns.objects.exists()


def test_a_form_is_marked_not_done_with_its_reason(nurse, patient_a):
    data = day_post(
        vitals={"temperature_c": "37.1"},
        labs={"not_done": True, "not_done_reason": "no blood sample taken"},
    )
    assert nurse.post(day_url(patient_a, 2), data).status_code == 302
    labs = LabResult.objects.get()
    assert labs.not_done_reason == "no blood sample taken" and labs.ast_uln_u_l is None
    page = nurse.get(day_url(patient_a, 2)).content.decode()
    assert '<span class="badge text-bg-secondary" title="no blood sample taken">not done</span>' in page
    assert form_of(nurse.get(day_url(patient_a, 2)), "labs").initial["not_done"] is True


def test_not_done_without_a_reason_or_a_reason_without_the_box_is_refused_next_to_the_reason(nurse, patient_a):
    response = nurse.post(day_url(patient_a, 2), day_post(support={"not_done": True, "not_done_reason": " "}))
    assert errors_of(response, "support") == {"not_done_reason": ["not_done_reason.required"]}
    response = nurse.post(day_url(patient_a, 2), day_post(support={"not_done_reason": "in CT"}))
    assert errors_of(response, "support") == {"not_done_reason": ["not_done_reason.unticked"]}
    assert "Tick &#x27;Not done this day&#x27; to record this reason, or clear it." in response.content.decode()
    assert not RespiratorySupport.objects.exists()


def test_a_form_marked_not_done_with_values_is_refused(nurse, patient_a):
    data = day_post(support={"support": "room_air", "not_done": True, "not_done_reason": "in CT"})
    response = nurse.post(day_url(patient_a, 2), data)
    assert errors_of(response, "support") == {"not_done_reason": ["not_done_reason.with_values"]}
    assert not RespiratorySupport.objects.exists()


def test_a_reader_sees_the_codes_and_the_mark_without_changing_them(client, users, patient_a):
    VitalSigns.objects.create(patient=patient_a, study_day=2, missing_codes={"spo2_pct": "unknown"})
    RespiratorySupport.objects.create(patient=patient_a, study_day=2, not_done_reason="transferred for the day")
    client.force_login(users["monitor"])
    response = client.get(day_url(patient_a, 2))
    page = response.content.decode()
    assert '<option value="unknown" selected title="Unknown">UNK</option>' in page
    assert re.search(r'<select name="vital_signs-mc_spo2_pct"[^>]*disabled', page)
    assert form_of(response, "support").initial["not_done_reason"] == "transferred for the day"
    assert 'title="transferred for the day">not done</span>' in page


def test_the_casebook_shows_not_done_and_codes_and_counts_no_missing_form_for_them(nurse, recent):
    for day in range(11):
        VitalSigns.objects.create(patient=recent, study_day=day, temperature_c=37)
        LabResult.objects.create(patient=recent, study_day=day, crp_mg_l=10)
        if day != 4:
            RespiratorySupport.objects.create(patient=recent, study_day=day, support="room_air")
    RespiratorySupport.objects.create(patient=recent, study_day=4, not_done_reason="in the operating room")
    LabResult.objects.filter(study_day=5).update(
        crp_mg_l=None, missing_codes={"crp_mg_l": "not_done", "ldh_u_l": "not_done", "ferritin_ng_ml": "unknown"}
    )
    page = nurse.get(f"/patients/{recent.pk}/").content.decode()
    assert cell_states(page)[(4, "respiratory_support")] == "not_done"
    assert 'title="Not done: in the operating room">not done</a>' in day_row(page, 4)
    row = day_row(page, 5)
    assert '<abbr class="mc small" title="Not done: CRP, LDH" data-code="not_done">ND</abbr>' in row
    assert '<abbr class="mc small" title="Unknown: ferritin" data-code="unknown">UNK</abbr>' in row
    assert 'class="cell-not_done px-1">not done (with its reason)</span>' in page  # the legend
    assert "no missing forms" in page and ">1 not done</span>" in page
    book = selectors.casebook_get(user=nurse_user(nurse), patient_pk=recent.pk)
    assert book.missing_total == 0 and book.not_done_total == 1


def nurse_user(client):
    from django.contrib.auth import get_user

    return get_user(client)


def test_a_form_marked_not_done_today_is_not_missing_on_the_patient_list_nor_on_the_dashboard(
    nurse, users, study, recent
):
    for day in range(11):
        VitalSigns.objects.create(patient=recent, study_day=day, temperature_c=37)
        LabResult.objects.create(patient=recent, study_day=day, not_done_reason="no sample")
        RespiratorySupport.objects.create(patient=recent, study_day=day, not_done_reason="off the ward")
    (patient,) = selectors.patient_list(user=users["nurse"], study=study)
    assert patient.missing_today == 0
    missing = next(signal for signal in study_signals(users["investigator"], study) if signal.key == "missing")
    assert missing.flags == []


def test_a_repeating_form_takes_codes_on_its_optional_values(nurse, patient_a):
    data = {
        "event-study_day": "1",
        "event-drug": "anakinra",
        "event-dose": "5",
        "event-dose_unit": "mg/kg",
        "event-route": "iv",
        "event-frequency": "bid",
        "event-stop_day": "",
        "event-mc_stop_day": "unknown",
    }
    response = nurse.post(f"/patients/{patient_a.pk}/drugs/add/", data)
    assert response.status_code == 302
    record = DrugAdministration.objects.get()
    assert record.missing_codes == {"stop_day": "unknown"}
    page = nurse.get(f"/patients/{patient_a.pk}/drugs/{record.pk}/").content.decode()
    assert '<option value="unknown" selected title="Unknown">UNK</option>' in page
    assert "Not done this day" not in page  # a repeating record is never marked not done


def test_a_disposition_answer_not_recorded_reads_as_a_dash_beside_the_code_unknown(nurse, patient_a):
    page = nurse.get(f"/patients/{patient_a.pk}/dispositions/add/").content.decode()
    alive = re.search(r'<select name="event-alive".*?</select>', page, flags=re.S).group(0)
    assert '<option value="unknown" selected>—</option>' in alive and "Unknown" not in alive
    assert 'name="event-mc_alive"' in page


def test_the_audit_trail_shows_a_code_changed_and_no_empty_codes_on_creation(nurse, users, patient_a):
    from cohorts.history import history_rows
    from ecrf import services
    from ecrf.services import RecordInput

    entry = {"values": {"temperature_c": 37}, "missing_codes": {"spo2_pct": "not_done"}}
    services.day_record_save(
        form="vital_signs", patient=patient_a, study_day=2, entry=RecordInput(**entry), user=users["nurse"]
    )
    services.day_record_save(
        form="vital_signs",
        patient=patient_a,
        study_day=2,
        entry=RecordInput(**{**entry, "missing_codes": {"spo2_pct": "unknown"}}, expected_version=1),
        user=users["nurse"],
        reason="the nurse measured it, not written down",
    )
    RespiratorySupport.objects.create(patient=patient_a, study_day=2, support="room_air")
    changed, created = history_rows(list(VitalSigns.objects.get().history.order_by("history_id")))
    assert changed.changes == [("missing-data codes", "spo2_pct: not_done", "spo2_pct: unknown")]
    assert ("missing-data codes", None, "spo2_pct: not_done") in created.changes
    (support,) = history_rows(list(RespiratorySupport.objects.get().history.all()))
    shown = [name for name, _, _ in support.changes]
    assert "support" in shown and "missing-data codes" not in shown and "reason the form was not done" not in shown
    page = nurse.get(f"/history/ecrf.vitalsigns/{VitalSigns.objects.get().pk}/").content.decode()
    assert "spo2_pct: unknown" in page
