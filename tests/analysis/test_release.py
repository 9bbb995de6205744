"""Locked releases (clinical definitions §5): lock freezes files with a manifest, unlock + relock makes a new
version."""

import json
import os
import stat

import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from analysis import releases, services
from analysis.models import JobStatus, Release
from cohorts.models import Study
from tests.analysis import release_data
from tests.analysis.release_data import populate


@pytest.fixture
def release_root(settings, tmp_path):
    return release_data.use_release_root(settings, tmp_path)


@pytest.fixture
def quick_figures(monkeypatch):
    release_data.quick_figures(monkeypatch)


@pytest.fixture
def cohort(study, site_a, site_b, arms, patient_a, patient_b, users, release_root, quick_figures):
    return populate(study, site_a, site_b, arms, patient_a, patient_b)


def lock(study, users, reason="database lock for the day-21 analysis"):
    return release_data.lock(study, users["data_manager"], reason)


def lock_through_job(study, users, reason="database lock for the day-21 analysis"):
    """What the lock page does (queue a lock job), then what the worker does (run it)."""
    job = services.lock_request(
        study=study, user=users["data_manager"], reason=reason, overrides=release_data.AS_THEY_ARE
    )
    job = services.lock_run(job_id=job.pk)
    assert job.status == JobStatus.DONE, job.error
    return job.release


LOCK_ROUTES = pytest.mark.parametrize("lock_with", [lock, lock_through_job], ids=["release_lock", "lock_job"])


@LOCK_ROUTES
def test_lock_writes_every_file_with_its_hash_and_locks_the_study(study, users, cohort, lock_with):
    release = lock_with(study, users)
    assert release.version == 1
    assert Study.objects.get(pk=study.pk).is_locked
    folder = releases.release_folder(release)
    paths = {item["path"] for item in release.manifest["files"]}
    for table in releases.EXPORT_TABLES:
        assert releases.table_path(table) in paths
    assert {"results/display.json", "figures/km_os.png", "figures/km_os.svg", "figures/trajectory_pf.svg"} <= paths
    on_disk = json.loads((folder / "manifest.json").read_text())
    assert on_disk == release.manifest
    assert on_disk["locked_by"] == "data_manager" and on_disk["reason"] == "database lock for the day-21 analysis"
    assert releases.release_verify(release).ok
    # written once and read-only
    mode = os.stat(folder / "data/patients.parquet").st_mode
    assert not mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)
    assert "README.md" in os.listdir(folder)


def test_a_changed_file_fails_verification(study, users, cohort):
    release = lock(study, users)
    path = releases.release_folder(release) / "data/vital_signs.parquet"
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    path.write_bytes(path.read_bytes() + b"x")
    result = releases.release_verify(release)
    assert not result.ok
    assert result.problems == ["data/vital_signs.parquet does not match its SHA-256"]


@LOCK_ROUTES
def test_frozen_tables_are_pseudonymised_and_keep_missing_values_missing(study, users, cohort, patient_a, lock_with):
    release = lock_with(study, users)
    folder = releases.release_folder(release)
    for table in releases.EXPORT_TABLES:
        frame = releases.read_table(folder, table)
        assert "id" not in frame.columns and "patient_id" not in frame.columns, table
        assert not any(column.endswith("_date") or column == "updated_at" for column in frame.columns), table
    patients = releases.read_table(folder, "patients")
    assert sorted(patients["participant_id"]) == ["BG-0001", "BG-0002", "MI-0001", "MI-0002"]
    assert str(patient_a.pk) not in set(patients["participant_id"])
    vitals = releases.read_table(folder, "vital_signs")
    assert vitals["heart_rate_bpm"].isna().all()  # never entered: missing, not 0
    assert vitals["temperature_c"].eq(37.2).all()
    checks = vitals.set_index(["participant_id", "study_day"])["confirmed_checks"]
    assert checks[("MI-0001", 0)] == "temperature_c.soft_high;heart_rate_bpm.soft_low"
    assert pd.isna(checks[("MI-0001", 1)])
    weight = patients.set_index("participant_id")["weight_kg"]
    assert pd.isna(weight["MI-0002"]) and weight["MI-0001"] == 80.0
    labs = releases.read_table(folder, "laboratory")
    assert labs["crp_mg_l"].notna().sum() == 4


def test_unlock_then_relock_makes_version_2_and_keeps_version_1_byte_for_byte(study, users, cohort, patient_a):
    first = lock(study, users)
    folder_1 = releases.release_folder(first)
    before = {p: p.read_bytes() for p in folder_1.rglob("*") if p.is_file()}
    releases.release_unlock(study=study, user=users["data_manager"], reason="query resolved at site MI")
    assert not Study.objects.get(pk=study.pk).is_locked
    first.refresh_from_db()
    assert first.unlock_reason == "query resolved at site MI" and first.unlocked_by == users["data_manager"]

    from ecrf.models import VitalSigns

    VitalSigns.objects.filter(patient=patient_a, study_day=0).delete()
    second = lock(study, users, reason="relock after correction")
    assert second.version == 2
    assert releases.release_folder(second) != folder_1
    after = {p: p.read_bytes() for p in folder_1.rglob("*") if p.is_file()}
    assert after == before
    assert releases.release_verify(first).ok and releases.release_verify(second).ok
    rows = {r.version: r for r in Release.objects.filter(study=study)}
    assert set(rows) == {1, 2}
    vitals_1 = releases.read_table(folder_1, "vital_signs")
    vitals_2 = releases.read_table(releases.release_folder(second), "vital_signs")
    assert len(vitals_1) == len(vitals_2) + 1


def test_lock_and_unlock_need_a_reason_and_the_right_state(study, users, cohort):
    with pytest.raises(ValidationError) as error:
        lock(study, users, reason="   ")
    assert error.value.error_dict["reason"][0].code == "reason_required"
    assert not Release.objects.exists()
    with pytest.raises(ValidationError) as error:
        releases.release_unlock(study=study, user=users["data_manager"], reason="x")
    assert error.value.code == "not_locked"
    lock(study, users)
    with pytest.raises(ValidationError) as error:
        lock(study, users)
    assert error.value.code == "already_locked"
    with pytest.raises(ValidationError) as error:
        releases.release_unlock(study=study, user=users["data_manager"], reason="")
    assert error.value.error_dict["reason"][0].code == "reason_required"


def test_a_failed_lock_leaves_no_release_no_lock_and_no_files(study, users, cohort, release_root, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(releases, "_readme", broken)
    with pytest.raises(RuntimeError):
        lock(study, users)
    assert not Release.objects.exists()
    assert not Study.objects.get(pk=study.pk).is_locked
    assert list((release_root / study.code).iterdir()) == []


def test_an_empty_study_can_be_locked(study, arms, users, release_root, quick_figures):
    release = lock(study, users)
    assert release.manifest["patients"] == 0
    assert releases.release_verify(release).ok


def test_codebook_documents_every_column_with_study_settings(study, users, cohort):
    study.settings = {"derivation": {"ards_moderate_pf_max": 180.0}}
    study.save()
    release = lock(study, users)
    folder = releases.release_folder(release)
    book = releases.read_table(folder, "codebook")
    for table in releases.EXPORT_TABLES:
        if table == "codebook":
            continue
        columns = list(releases.read_table(folder, table).columns)
        assert book.loc[book["table"].eq(table), "variable"].tolist() == columns, table
    row = book.set_index(["table", "variable"])
    assert row.loc[("derived_days", "fio2_estimated"), "label"] == "FiO2 was estimated, not set on the device"
    assert "180" in row.loc[("derived_days", "ards_severity"), "derivation"]
    assert row.loc[("vital_signs", "temperature_c"), "unit"] == "degC"
    assert row.loc[("vital_signs", "temperature_c"), "allowed_range"] == "32 to 44"
    # A text's label may end with an example in parentheses: that is not a unit.
    assert row.loc[("drug_administration", "drug_detail"), "label"] == "name (antibiotic, glucocorticoid, ...)"
    assert pd.isna(row.loc[("drug_administration", "drug_detail"), "unit"])
    assert row.loc[("respiratory_support", "niv_hours"), "unit"] == "h"
    assert "room_air = Room air" in row.loc[("respiratory_support", "support"), "value_labels"]
    assert row.loc[("derived_days", "ordinal_7"), "value_labels"].startswith("1 = Discharged")
    assert book["xpt_name"].str.len().max() <= 8
    settings_table = releases.read_table(folder, "study_settings").set_index("setting")
    assert settings_table.loc["derivation.ards_moderate_pf_max", "value"] == "180.0"
    assert settings_table.loc["derivation.ards_moderate_pf_max", "source"] == "study"
    assert settings_table.loc["derivation.rice_max_spo2", "source"] == "default"
    assert "eligibility.crp_min_mg_l" in settings_table.index or any(
        s.startswith("eligibility.") for s in settings_table.index
    )


def test_results_in_the_release_match_the_data(study, users, cohort):
    release = lock(study, users)
    folder = releases.release_folder(release)
    outcomes = releases.read_table(folder, "outcomes").set_index("participant_id")
    assert bool(outcomes.loc["BG-0001", "os_event"]) is True and outcomes.loc["BG-0001", "os_time"] == 2
    assert bool(outcomes.loc["BG-0002", "ae_bacteraemia"]) is True
    km = releases.read_table(folder, "km_summary")
    assert set(km["endpoint"]) == {"os", "mvfs"}
    display = json.loads((folder / "results/display.json").read_text())
    assert {"baseline", "adverse_events", "ordinal_d0", "ordinal_d7", "ordinal_d21"} <= set(display)


def test_real_figures_are_frozen_as_png_and_svg(study, site_a, site_b, arms, patient_a, patient_b, users, release_root):
    populate(study, site_a, site_b, arms, patient_a, patient_b)
    release = lock(study, users)
    folder = releases.release_folder(release)
    assert (folder / "figures/km_os.png").read_bytes().startswith(b"\x89PNG")
    assert b"<svg" in (folder / "figures/km_mvfs.svg").read_bytes()[:500]
    assert b"<svg" in (folder / "figures/trajectory_crp_mg_l.svg").read_bytes()[:500]


def test_a_study_with_its_own_ards_bands_splits_the_ordinal_tables_by_them(study, users, cohort, patient_a):
    """The derived ards_severity follows the study's bands; the release tables and the codebook must agree."""
    from ecrf import derivation_job
    from ecrf.models import LabResult, VitalSigns

    study.settings = {"derivation": {"ards_severe_pf_below": 130.0, "ards_moderate_pf_max": 150.0}}
    study.save()
    # Day 0 on CPAP, FiO2 0.50, SpO2 98% (no derived P/F): P/F = PaO2 / 0.5, so 180 (none with the study's bands,
    # moderate with Milan's), 140 (moderate with both) and 120 (severe with the study's, moderate with Milan's).
    VitalSigns.objects.filter(study_day=0).update(spo2_pct=98)
    pao2 = {"MI-0001": "90.0", "BG-0001": "70.0", "MI-0002": "70.0", "BG-0002": "60.0"}
    for participant, value in pao2.items():
        LabResult.objects.filter(patient__participant_id=participant, study_day=0).update(pao2_mmhg=value)
    derivation_job.derive_study(study, force=True)

    folder = releases.release_folder(lock(study, users))
    derived = releases.read_table(folder, "derived_days")
    day0 = derived.loc[derived["study_day"].eq(0)].set_index("participant_id")
    assert day0["ards_severity"].to_dict() == {
        "BG-0001": "moderate",
        "BG-0002": "severe",
        "MI-0001": "none",
        "MI-0002": "moderate",
    }
    ordinal = releases.read_table(folder, "ordinal_table")
    bands = ordinal.loc[ordinal["day"].eq(0) & ordinal["parent"].eq("hfnc_cpap_niv")]
    counts = bands.pivot_table(index="label", columns="arm", values="n", aggfunc="sum")
    assert counts.to_dict() == {
        "High-dose anakinra": {"P/F > 150": 1, "P/F 130-150": 0, "P/F < 130": 1},
        "Standard treatment": {"P/F > 150": 0, "P/F 130-150": 2, "P/F < 130": 0},
    }
    outcomes = releases.read_table(folder, "outcomes").set_index("participant_id")
    assert outcomes["pf_band_d0"].to_dict() == {
        "BG-0001": "130-150",
        "BG-0002": "< 130",
        "MI-0001": "> 150",
        "MI-0002": "130-150",
    }
    book = releases.read_table(folder, "codebook").set_index(["table", "variable"])
    assert book.loc[("outcomes", "pf_band_d0"), "value_labels"] == (
        "> 150 = P/F > 150 | 130-150 = P/F 130-150 | < 130 = P/F < 130"
    )
    assert book.loc[("derived_days", "ards_severity"), "value_labels"] == (
        "none = P/F > 150 | moderate = 130 <= P/F <= 150 | severe = P/F < 130"
    )
