"""Missing-data codes in the release tables and every export (clinical definitions §2.2, §5): NA in the value with a
code column <field>_mc (CSV, Parquet, XLSX, SAS), SPSS user-missing values -97/-98/-99, Stata extended missing
values .a/.b/.c, all with labels and described in the codebook; read back with each format's reader."""

import io
import time
import zipfile
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pyreadstat
import pytest

from analysis import exports
from ecrf import services
from ecrf.services import RecordInput
from tests.analysis import release_data


@pytest.fixture
def release(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    """patient_a: day 1 SpO2 not done, heart rate unknown; day 2 respiratory support marked not done; a drug whose
    stop day is unknown. patient_b: plain values."""
    nurse = users["nurse"]
    services.patient_day_save(
        patient=patient_a,
        study_day=1,
        entries={
            "vital_signs": RecordInput(
                {"temperature_c": Decimal("37.5")},
                missing_codes={"spo2_pct": "not_done", "heart_rate_bpm": "unknown"},
            ),
            "respiratory_support": RecordInput({"support": "room_air"}),
        },
        user=nurse,
    )
    services.patient_day_save(
        patient=patient_a,
        study_day=2,
        entries={
            "vital_signs": RecordInput({"temperature_c": Decimal("37.0"), "spo2_pct": 95}),
            "respiratory_support": RecordInput({}, not_done_reason="in theatre all day"),
        },
        user=nurse,
    )
    services.patient_day_save(
        patient=patient_b,
        study_day=1,
        entries={"vital_signs": RecordInput({"temperature_c": Decimal("36.8"), "heart_rate_bpm": 80, "spo2_pct": 97})},
        user=nurse,
    )
    drug = {"study_day": 0, "drug": "hydroxychloroquine", "dose": Decimal(200), "dose_unit": "mg", "route": "oral"}
    services.event_save(
        form="drug_administration",
        patient=patient_a,
        entry=RecordInput({**drug, "frequency": "bid"}, missing_codes={"stop_day": "unknown"}),
        user=nurse,
    )
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    return release_data.lock(study, users["data_manager"])


def files(release, fmt: str, tmp_path) -> dict[str, str]:
    """The export unpacked under tmp_path/fmt: table file name -> path."""
    archive = zipfile.ZipFile(io.BytesIO(exports.export_bytes(release, fmt)))
    found = {}
    for info in archive.infolist():
        name = info.filename.split("/", 1)[1]
        path = tmp_path / fmt / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(archive.read(info))
        found[name] = str(path)
    return found


def by_day(frame: pd.DataFrame, participant: str = "MI-0001") -> pd.DataFrame:
    return frame.loc[frame["participant_id"].eq(participant)].set_index("study_day")


def test_csv_has_the_value_empty_and_its_code_in_a_column_of_its_own(release, tmp_path):
    paths = files(release, "csv", tmp_path)
    vitals = by_day(pd.read_csv(paths["vital_signs.csv"]))
    assert pd.isna(vitals.loc[1, "spo2_pct"]) and vitals.loc[1, "spo2_pct_mc"] == "not_done"
    assert pd.isna(vitals.loc[1, "heart_rate_bpm"]) and vitals.loc[1, "heart_rate_bpm_mc"] == "unknown"
    assert vitals.loc[2, "spo2_pct"] == 95 and pd.isna(vitals.loc[2, "spo2_pct_mc"])
    support = by_day(pd.read_csv(paths["respiratory_support.csv"]))
    assert support.loc[2, "not_done_reason"] == "in theatre all day"
    assert (support.loc[2, ["support_mc", "fio2_mc", "ecmo_mc"]] == "not_done").all()
    assert support.loc[2, ["support", "fio2", "ecmo"]].isna().all()  # no "False" for a box of a form not done
    assert support.loc[1, "support"] == "room_air" and pd.isna(support.loc[1, "not_done_reason"])
    drugs = pd.read_csv(paths["drug_administration.csv"])
    assert drugs["stop_day_mc"].tolist() == ["unknown"] and "not_done_reason" not in drugs
    readme = Path(paths["README.md"]).read_text(encoding="utf-8")
    assert "a code column `<field>_mc` per value" in readme and "-97 not done" in readme


def test_parquet_and_xlsx_carry_the_code_columns(release, tmp_path):
    paths = files(release, "parquet", tmp_path)
    vitals = by_day(pd.read_parquet(paths["vital_signs.parquet"]))
    assert str(vitals["spo2_pct_mc"].dtype) == "string" and vitals.loc[1, "spo2_pct_mc"] == "not_done"
    assert pd.isna(vitals.loc[1, "spo2_pct"])
    (workbook,) = [path for name, path in files(release, "xlsx", tmp_path).items() if name.endswith(".xlsx")]
    sheet = by_day(pd.read_excel(workbook, sheet_name="vital_signs"))
    assert sheet.loc[1, "heart_rate_bpm_mc"] == "unknown" and pd.isna(sheet.loc[1, "heart_rate_bpm"])


def test_spss_carries_the_codes_as_labelled_user_missing_values(release, tmp_path):
    paths = files(release, "sav", tmp_path)
    vitals, meta = pyreadstat.read_sav(paths["vital_signs.sav"], user_missing=True)
    vitals = by_day(vitals)
    assert (vitals.loc[1, "spo2_pct"], vitals.loc[1, "heart_rate_bpm"]) == (-97, -98)
    assert vitals.loc[2, "spo2_pct"] == 95
    assert meta.missing_ranges["spo2_pct"] == [{"lo": v, "hi": v} for v in (-97.0, -98.0, -99.0)]
    assert meta.variable_value_labels["spo2_pct"] == {-97: "not done", -98: "unknown", -99: "not applicable"}
    # Read as SPSS users read them by default: missing.
    plain, _ = pyreadstat.read_sav(paths["vital_signs.sav"])
    assert by_day(plain).loc[1, ["spo2_pct", "heart_rate_bpm"]].isna().all()
    support, meta = pyreadstat.read_sav(paths["respiratory_support.sav"], user_missing=True)
    day2 = by_day(support).loc[2]
    assert (day2["support"], day2["ecmo"], day2["fio2"]) == (-97, -97, -97)  # a form marked not done
    assert meta.variable_value_labels["support"][-97] == "not done"
    drugs, _ = pyreadstat.read_sav(paths["drug_administration.sav"], user_missing=True)
    assert drugs["stop_day"].tolist() == [-98]


def test_stata_carries_the_codes_as_labelled_extended_missing_values(release, tmp_path):
    paths = files(release, "dta", tmp_path)
    vitals, meta = pyreadstat.read_dta(paths["vital_signs.dta"], user_missing=True)
    vitals = by_day(vitals)
    assert (vitals.loc[1, "spo2_pct"], vitals.loc[1, "heart_rate_bpm"]) == ("a", "b")
    assert vitals.loc[2, "spo2_pct"] == 95
    assert meta.variable_value_labels["spo2_pct"] == {"a": "not done", "b": "unknown", "c": "not applicable"}
    plain, _ = pyreadstat.read_dta(paths["vital_signs.dta"])
    assert by_day(plain).loc[1, ["spo2_pct", "heart_rate_bpm"]].isna().all()
    # The code column itself is coded text, as every other: 1..3 with the codes' labels.
    _, meta = pyreadstat.read_dta(paths["vital_signs.dta"])
    assert meta.variable_value_labels["spo2_pct_mc"] == {1: "Not done", 2: "Unknown", 3: "Not applicable"}


def test_sas_xport_has_the_value_missing_and_the_code_column_under_its_short_name(release, tmp_path):
    paths = files(release, "xpt", tmp_path)
    frozen = exports.FrozenRelease(release)
    short = frozen.columns("vital_signs")["xpt_name"]
    assert all(len(name) <= 8 for name in short)
    vitals, _ = pyreadstat.read_xport(paths["vital_signs.xpt"])
    day1 = vitals.loc[vitals[short["participant_id"]].eq("MI-0001") & vitals[short["study_day"]].eq(1)].iloc[0]
    assert pd.isna(day1[short["spo2_pct"]]) and day1[short["spo2_pct_mc"]] == "not_done"


def test_the_codebook_describes_the_code_columns_and_the_reason(release):
    book = exports.FrozenRelease(release).columns("vital_signs")
    code = book.loc["spo2_pct_mc"]
    assert code["label"] == "Missing-data code of spo2_pct"
    assert code["value_labels"] == "not_done = Not done | unknown = Unknown | not_applicable = Not applicable"
    assert "Why spo2_pct is empty" in code["derivation"]
    assert "SPSS files: -97 not done, -98 unknown, -99 not applicable" in book.loc["spo2_pct", "derivation"]
    assert "Stata files: .a not done, .b unknown, .c not applicable" in book.loc["spo2_pct", "derivation"]
    support = exports.FrozenRelease(release).columns("respiratory_support")
    assert support.loc["not_done_reason", "label"] == "Reason the whole form was not done that day"


def test_exports_with_codes_are_deterministic(release):
    first = {fmt: exports.export_bytes(release, fmt) for fmt in ("sav", "dta", "xpt", "csv")}
    time.sleep(1.1)  # the writers stamp the current time into their headers
    for fmt, content in first.items():
        assert exports.export_bytes(release, fmt) == content, fmt
