"""Edits of saved data need a reason, leave a history row with user and reason, and never overwrite silently."""

import pytest
from django.core.exceptions import ValidationError

from cohorts.audit import ConcurrentEdit, StudyLocked
from cohorts.services import patient_update, study_set_locked


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
