"""Source data verification at the lock (issue 16 items 3 and 5): the checklist's item "SDV incomplete" counts the
records of the planned forms without a mark in force, the lock is refused with it unless overridden with a reason,
and every release carries the marks (table ``source_verifications``, no monitor's name) with their codebook."""

import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from analysis import checklist, datasets, releases, services
from analysis.models import LockJob
from cleaning import sdv
from cleaning.models import SourceVerification
from ecrf.models import DrugAdministration, VitalSigns
from tests.analysis import release_data

COLUMNS = [
    "participant_id", "form", "record_id", "study_day", "scope", "fields", "data_sha256", "verified_at",
    "changed_at",
]  # fmt: skip
NOT_SDV = {key: reason for key, reason in release_data.AS_THEY_ARE.items() if key != "sdv_incomplete"}


def incomplete(study) -> checklist.Item:
    return next(item for item in checklist.lock_checklist(study) if item.key == "sdv_incomplete")


def audited(record, user, reason="initial entry"):
    record._history_user, record._change_reason = user, reason
    record.save()
    return record


def vitals_key(record) -> tuple[str, int, None]:
    return ("vital_signs", record.pk, None)


@pytest.fixture
def vitals(patient_a, users, django_capture_on_commit_callbacks):
    """Two vital-signs records of patient A, saved as a request would (the after-commit work runs)."""
    with django_capture_on_commit_callbacks(execute=True):
        day0 = audited(VitalSigns(patient=patient_a, study_day=0, spo2_pct=91, respiratory_rate_bpm=28), users["nurse"])
        day1 = audited(VitalSigns(patient=patient_a, study_day=1, spo2_pct=93, temperature_c="37.5"), users["nurse"])
    return day0, day1


@pytest.fixture
def planned(study, users):
    sdv.plan_save(study=study, levels={"vital_signs": "critical"}, user=users["data_manager"])
    return study


# ------------------------------------------------------------------------------------------------ the checklist


def test_an_item_after_unsigned_casebooks_linking_to_the_sdv_page(study):
    assert checklist.KEYS.index("sdv_incomplete") == checklist.KEYS.index("unsigned_casebooks") + 1
    assert len(checklist.CHECKS) == len(checklist.KEYS)
    item = incomplete(study)
    assert (item.label, item.url) == ("SDV incomplete", f"/studies/{study.code}/sdv/")


def test_no_form_planned_counts_nothing(study, vitals):
    item = incomplete(study)
    assert (item.count, item.cases) == (0, [])


def test_the_checklist_counts_the_records_not_verified(planned, patient_a, patient_b, users, vitals):
    day0, _ = vitals
    assert (incomplete(planned).count, incomplete(planned).cases) == (2, ["MI-0001"])
    sdv.sdv_verify(user=users["monitor"], patient=patient_a, items=[vitals_key(day0)])
    item = incomplete(planned)
    assert (item.count, item.cases) == (1, ["MI-0001"])
    VitalSigns.objects.create(patient=patient_b, study_day=0, spo2_pct=90)  # another site's patient counts too
    item = incomplete(planned)
    assert (item.count, item.cases) == (2, ["BG-0001", "MI-0001"])
    DrugAdministration.objects.create(
        patient=patient_b, study_day=0, drug="anakinra", dose=100, dose_unit="mg", route="sc", frequency="q6h"
    )  # a form outside the plan
    assert incomplete(planned).count == 2


def test_a_mark_changed_by_a_later_edit_counts_again(
    planned, patient_a, users, vitals, django_capture_on_commit_callbacks
):
    day0, day1 = vitals
    sdv.sdv_verify(user=users["monitor"], patient=patient_a, items=[vitals_key(day0), vitals_key(day1)])
    assert incomplete(planned).count == 0
    with django_capture_on_commit_callbacks(execute=True):
        day1.temperature_c = "38.5"  # not a critical field: the mark holds
        audited(day1, users["nurse"], "fever charted late")
    assert incomplete(planned).count == 0
    with django_capture_on_commit_callbacks(execute=True):
        day1.spo2_pct = 88
        audited(day1, users["nurse"], "transcription error")
    assert SourceVerification.objects.get(record_id=day1.pk).is_changed
    item = incomplete(planned)
    assert (item.count, item.cases) == (1, ["MI-0001"])
    sdv.sdv_verify(user=users["monitor"], patient=patient_a, items=[vitals_key(day1)])  # verified again
    assert incomplete(planned).count == 0


def test_a_mark_under_a_lighter_plan_is_not_in_force(planned, patient_a, users, vitals):
    day0, day1 = vitals
    sdv.sdv_verify(user=users["monitor"], patient=patient_a, items=[vitals_key(day0), vitals_key(day1)])
    assert incomplete(planned).count == 0
    sdv.plan_save(study=planned, levels={"vital_signs": "all"}, user=users["data_manager"])
    assert (incomplete(planned).count, incomplete(planned).cases) == (2, ["MI-0001"])
    sdv.sdv_verify(user=users["monitor"], patient=patient_a, items=[vitals_key(day0)])  # now in full
    assert incomplete(planned).count == 1
    sdv.plan_save(study=planned, levels={"vital_signs": "critical"}, user=users["data_manager"])
    assert incomplete(planned).count == 0  # a mark of all fields covers the critical ones


# ------------------------------------------------------------------------------------------------ the lock


def test_the_lock_is_refused_until_sdv_incomplete_is_overridden_with_a_reason(
    planned, patient_a, users, vitals, settings, tmp_path, monkeypatch
):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    data_manager = users["data_manager"]
    with pytest.raises(ValidationError) as refused:
        services.lock_request(study=planned, user=data_manager, reason="day-21 lock", overrides=NOT_SDV)
    assert set(refused.value.error_dict) == {"override_sdv_incomplete"}
    assert refused.value.messages == ["SDV incomplete: 2. Resolve them, or give a reason to lock with them."]
    with pytest.raises(ValidationError) as refused:
        releases.release_lock(
            study=planned, user=data_manager, reason="day-21 lock", overrides={**NOT_SDV, "sdv_incomplete": "  "}
        )
    assert set(refused.value.error_dict) == {"override_sdv_incomplete"}
    assert not LockJob.objects.exists()
    reason = "monitoring visit after the lock: sponsor's decision"
    job = services.lock_request(
        study=planned, user=data_manager, reason="day-21 lock", overrides={**NOT_SDV, "sdv_incomplete": reason}
    )
    job = services.lock_run(job_id=job.pk)
    checked = {row["item"]: row for row in job.release.manifest["checklist"]}["sdv_incomplete"]
    assert (checked["count"], checked["cases"], checked["override_reason"]) == (2, ["MI-0001"], reason)
    readme = (releases.release_folder(job.release) / "README.md").read_text()
    assert f"| SDV incomplete | 2 | {reason} |" in readme


def test_the_lock_page_offers_an_override_for_sdv_incomplete(client, planned, users, vitals):
    client.force_login(users["data_manager"])
    page = client.get(f"/studies/{planned.code}/releases/").content.decode()
    assert 'data-testid="check-sdv_incomplete"' in page and f"/studies/{planned.code}/sdv/" in page
    assert 'name="override_sdv_incomplete"' in page


# ------------------------------------------------------------------------------------------------ the release


def test_the_release_holds_every_mark_without_the_monitors_and_with_its_codebook(
    study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch,
    django_capture_on_commit_callbacks,
):  # fmt: skip
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    with django_capture_on_commit_callbacks(execute=True):  # their after-commit work done now, not at the end
        release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    sdv.plan_save(
        study=study, levels={"vital_signs": "critical", "drug_administration": "all"}, user=users["data_manager"]
    )
    day0, day1 = VitalSigns.objects.filter(patient=patient_a).order_by("study_day")[:2]
    drug = DrugAdministration.objects.get(patient=patient_a)
    sdv.sdv_verify(
        user=users["monitor"],
        patient=patient_a,
        items=[vitals_key(day0), vitals_key(day1), ("drug_administration", drug.pk, None)],
    )
    with django_capture_on_commit_callbacks(execute=True):
        day1.spo2_pct = 89
        audited(day1, users["nurse"], "transcription error")
    marks = {(m.form, m.record_id): m for m in SourceVerification.objects.all()}
    changed = marks[("vital_signs", day1.pk)]
    assert changed.is_changed

    release = release_data.lock(study, users["data_manager"])
    folder = releases.release_folder(release)
    table = releases.read_table(folder, "source_verifications")
    assert list(table.columns) == COLUMNS == list(datasets.SDV_COLUMNS)
    assert not {"verified_by", "changed_by", "monitor", "printed_name"} & set(table.columns)
    rows = table.to_dict("records")
    assert [(r["participant_id"], r["form"], r["study_day"]) for r in rows] == [
        ("MI-0001", "drug_administration", 0),
        ("MI-0001", "vital_signs", 0),
        ("MI-0001", "vital_signs", 1),
    ]
    drug_row, first, second = rows
    assert (drug_row["record_id"], drug_row["scope"]) == (drug.pk, "all")
    assert drug_row["fields"] == ";".join(marks[("drug_administration", drug.pk)].fields)
    mark = marks[("vital_signs", day0.pk)]
    assert (first["record_id"], first["scope"], first["fields"]) == (
        day0.pk,
        "critical",
        "respiratory_rate_bpm;spo2_pct",
    )
    assert (first["data_sha256"], first["verified_at"]) == (mark.data_sha256, mark.verified_at.isoformat())
    assert pd.isna(first["changed_at"])
    assert second["changed_at"] == changed.changed_at.isoformat()
    assert "transcription error" not in table.astype(str).to_string()  # no free text: the reason stays inside
    text = table.astype(str).to_string()
    for user in users.values():  # no monitor's (nor anyone's) name or username in the table
        assert user.get_username() not in text.split() and (not user.last_name or user.last_name not in text)

    codebook = releases.read_table(folder, "codebook")
    described = codebook.loc[codebook["table"] == "source_verifications"]
    assert set(described["variable"]) == set(table.columns)
    assert described["label"].notna().all()
    scope = described.loc[described["variable"] == "scope", "value_labels"].item()
    assert scope == "critical = Critical fields | all = All fields"
