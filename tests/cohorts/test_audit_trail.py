"""Edits of saved data need a reason, leave a history row with user and reason, and never overwrite silently."""

import re
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError

from cohorts.audit import ConcurrentEdit, StudyLocked
from cohorts.services import patient_update, study_set_locked
from ecrf.models import AdverseEvent, RespiratorySupport, VitalSigns


def test_edit_without_reason_is_refused_and_nothing_changes(patient_a, users):
    with pytest.raises(ValidationError) as excinfo:
        patient_update(
            patient=patient_a, changes={"age_years": 63}, expected_version=1, user=users["nurse"], reason=" "
        )
    assert excinfo.value.message_dict["reason"] == ["Give a reason for changing saved data."]
    patient_a.refresh_from_db()
    assert patient_a.age_years == 62
    assert patient_a.history.count() == 1


def test_edit_with_reason_leaves_history_with_user_and_reason(patient_a, users):
    patient_update(
        patient=patient_a,
        changes={"age_years": 63},
        expected_version=1,
        user=users["nurse"],
        reason="transcription error, checked against chart",
    )
    latest = patient_a.history.latest()
    assert latest.age_years == 63
    assert latest.history_user == users["nurse"]
    assert latest.history_change_reason == "transcription error, checked against chart"
    delta = latest.diff_against(latest.prev_record)
    assert [(c.field, c.old, c.new) for c in delta.changes if c.field == "age_years"] == [("age_years", 62, 63)]


def test_second_concurrent_edit_is_refused_and_first_value_kept(patient_a, users):
    patient_update(patient=patient_a, changes={"age_years": 64}, expected_version=1, user=users["nurse"], reason="r1")
    with pytest.raises(ConcurrentEdit) as excinfo:
        patient_update(
            patient=patient_a, changes={"age_years": 70}, expected_version=1, user=users["investigator"], reason="r2"
        )
    assert "age_years: now 64 (you started from 62)" in excinfo.value.message
    patient_a.refresh_from_db()
    assert (patient_a.age_years, patient_a.version) == (64, 2)


def test_locked_study_refuses_edits(patient_a, users):
    study_set_locked(study=patient_a.study, locked=True, user=users["data_manager"], reason="interim analysis")
    with pytest.raises(StudyLocked):
        patient_update(
            patient=patient_a, changes={"age_years": 63}, expected_version=1, user=users["nurse"], reason="x"
        )
    patient_a.refresh_from_db()
    assert patient_a.age_years == 62


def test_history_page_shows_old_and_new_side_by_side(client, patient_a, users):
    patient_update(patient=patient_a, changes={"age_years": 63}, expected_version=1, user=users["nurse"], reason="typo")
    client.force_login(users["monitor"])
    page = client.get(f"/history/cohorts.patient/{patient_a.pk}/").content.decode()
    assert "typo" in page and "nurse" in page
    assert '<span class="history-old">62</span>' in page and "63" in page


def changes_cell(page: str, name: str) -> str:
    """The old and new value cells of one field in the history table."""
    match = re.search(rf'<th class="fw-normal text-muted">{re.escape(name)}</th>(<td>.*?</td><td>.*?</td>)', page)
    assert match, name
    return match.group(1)


def test_history_page_names_people_and_records_and_leads_back(client, patient_a, users):
    """Who changed it is a person's name; a participant, site or arm is named as everywhere else, a coded answer by
    its label; and the page links back to the casebook."""
    nurse = users["nurse"]
    nurse.first_name, nurse.last_name = "Nora", "Nightingale"
    nurse.save()
    patient_update(patient=patient_a, changes={"sex": "F"}, expected_version=1, user=nurse, reason="typo")
    client.force_login(users["monitor"])
    page = client.get(f"/history/cohorts.patient/{patient_a.pk}/").content.decode()
    assert "<td>Nora Nightingale</td>" in page
    assert changes_cell(page, "sex") == '<td><span class="history-old">Male</span></td><td>Female</td>'
    assert changes_cell(page, "site") == "<td></td><td>MI Milan San Raffaele</td>"
    assert changes_cell(page, "arm") == "<td></td><td>High-dose anakinra</td>"
    assert "Audit trail: baseline of MI-0001" in page and "#" not in page.split("<h1")[1].split("</h1>")[0]
    assert f'href="/patients/{patient_a.pk}/">Back to the casebook</a>' in page


def test_history_of_a_day_form_leads_back_to_its_day(client, patient_a, users):
    vitals = VitalSigns(patient=patient_a, study_day=2, spo2_pct=93)
    vitals._history_user = users["nurse"]  # as the services record it; the user has no full name: the username
    vitals.save()
    support = RespiratorySupport.objects.create(
        patient=patient_a, study_day=2, support="cpap", fio2="0.5", peep_cmh2o=10
    )
    client.force_login(users["investigator"])
    page = client.get(f"/history/ecrf.vitalsigns/{vitals.pk}/").content.decode()
    assert changes_cell(page, "patient") == "<td></td><td>MI-0001</td>"
    assert "<td>nurse</td>" in page and "Audit trail: vital signs of MI-0001, study day 2" in page
    assert f'href="/patients/{patient_a.pk}/#day-2">Back to the casebook</a>' in page
    assert f'href="/patients/{patient_a.pk}/day/2/">Back to study day 2</a>' in page
    page = client.get(f"/history/ecrf.respiratorysupport/{support.pk}/").content.decode()
    assert changes_cell(page, "support") == "<td></td><td>CPAP</td>" and "<td>system</td>" in page
    event = AdverseEvent.objects.create(patient=patient_a, study_day=3, kind="bacteraemia", serious=True)
    page = client.get(f"/history/ecrf.adverseevent/{event.pk}/").content.decode()
    assert changes_cell(page, "kind") == "<td></td><td>Bacteraemia</td>" and changes_cell(page, "serious") == (
        "<td></td><td>yes</td>"
    )
    assert (
        f'href="/patients/{patient_a.pk}/#day-3">Back to the casebook</a>' in page and "Back to study day" not in page
    )


def test_only_patients_and_their_records_have_a_history_page(client, patient_a, users):
    """The page is found from the models themselves: an audited model that is not about a patient (a site, a user)
    or a name that is no model has no history page."""
    client.force_login(users["nurse"])
    assert client.get(f"/history/cohorts.patient/{patient_a.pk}/").status_code == 200
    for label, pk in (("cohorts.site", patient_a.site.pk), ("auth.user", users["nurse"].pk), ("no.such", 1)):
        assert client.get(f"/history/{label}/{pk}/").status_code == 404, label


def test_a_reason_longer_than_the_audit_trail_keeps_is_refused_not_cut_and_nothing_changes(patient_a, users):
    # The history's reason column holds 100 characters: PostgreSQL would refuse the row with a server error.
    with pytest.raises(ValidationError) as excinfo:
        patient_update(
            patient=patient_a, changes={"age_years": 63}, expected_version=1, user=users["nurse"], reason="x" * 101
        )
    assert excinfo.value.message_dict["reason"] == [
        "The reason has 101 characters; the audit trail keeps at most 100: shorten it."
    ]
    patient_a.refresh_from_db()
    assert patient_a.age_years == 62
    patient_update(
        patient=patient_a, changes={"age_years": 63}, expected_version=1, user=users["nurse"], reason="y" * 100
    )
    assert patient_a.history.latest().history_change_reason == "y" * 100


def test_a_long_lock_reason_is_shortened_in_the_study_history_only(study, users):
    reason = "locked for release v1: " + "database lock for the day-21 analysis, " * 5
    study_set_locked(study=study, locked=True, user=users["data_manager"], reason=reason)
    latest = study.history.latest()
    assert len(latest.history_change_reason) == 100
    assert latest.history_change_reason.endswith("\u2026") and reason.startswith(latest.history_change_reason[:-1])


@pytest.mark.parametrize(
    ("old", "new", "shown"),
    [
        (Decimal("40.0"), Decimal("45.0"), "now 45 (you started from 40)"),
        (False, True, "now yes (you started from no)"),
        ({}, {"eligibility": {"min_age": 21}}, 'now {"eligibility": {"min_age": 21}} (you started from {})'),
        ("", "NCT04318366", "now NCT04318366 (you started from empty)"),
    ],
)
def test_a_conflict_names_the_other_change_with_plain_values(old, new, shown):
    """Not Python's spelling (Decimal('45.0'), True, {'eligibility': ...}): what the page's user typed and reads."""
    assert f"field: {shown}" in ConcurrentEdit(None, [("field", old, new)]).messages[0]
