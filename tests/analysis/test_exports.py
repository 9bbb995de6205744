"""Exports of a locked release: every format opens with its reader, with labels, missing values empty and only
pseudonymised ids; the same release exported twice gives the same bytes (clinical definitions §5)."""

import io
import time
import zipfile

import pandas as pd
import pyreadstat
import pytest

from analysis import exports, releases
from analysis.models import ExportFormat

FORMATS = list(ExportFormat.values)


def unzip(content: bytes, tmp_path, name: str) -> dict[str, bytes]:
    archive = zipfile.ZipFile(io.BytesIO(content))
    assert archive.testzip() is None
    files = {info.filename.split("/", 1)[1]: archive.read(info) for info in archive.infolist()}
    for relative, data in files.items():
        path = tmp_path / name / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
    return files


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_same_release_exported_twice_gives_the_same_bytes(release, fmt):
    first = exports.export_bytes(release, fmt)
    time.sleep(1.1)  # the SPSS, Stata and SAS writers stamp the current time into their headers
    assert exports.export_bytes(release, fmt) == first


def test_every_zip_holds_every_table_readme_manifest_and_figures(release, tmp_path):
    files = unzip(exports.export_bytes(release, "csv"), tmp_path, "csv")
    for table in releases.EXPORT_TABLES:
        assert f"{table}.csv" in files
    assert {"README.md", "manifest.json", "figures/km_os.png", "figures/km_os.svg"} <= set(files)
    archive = zipfile.ZipFile(io.BytesIO(exports.export_bytes(release, "csv")))
    when = release.locked_at.utctimetuple()[:6]
    assert {info.date_time for info in archive.infolist()} == {(*when[:5], when[5] - when[5] % 2)}  # DOS time


def test_csv_opens_with_pandas_with_missing_values_empty(release, tmp_path):
    files = unzip(exports.export_bytes(release, "csv"), tmp_path, "csv")
    text = files["vital_signs.csv"].decode()
    header, first = text.splitlines()[:2]
    assert header.startswith("participant_id,study_day,temperature_c,heart_rate_bpm,")
    assert first.startswith('"BG-0001",0,37.2,,')  # heart rate never entered: an empty cell, not 0
    vitals = pd.read_csv(tmp_path / "csv/vital_signs.csv")
    assert vitals["heart_rate_bpm"].isna().all() and vitals["spo2_pct"].eq(92).all()
    support = pd.read_csv(tmp_path / "csv/respiratory_support.csv")
    assert set(support["ecmo"]) == {False}
    patients = pd.read_csv(tmp_path / "csv/patients.csv")
    assert sorted(patients["participant_id"]) == ["BG-0001", "BG-0002", "MI-0001", "MI-0002"]
    assert patients.loc[patients["participant_id"].eq("MI-0002"), "weight_kg"].isna().all()
    codebook = pd.read_csv(tmp_path / "csv/codebook.csv")
    assert {"variable", "label", "type", "unit", "allowed_range", "value_labels", "derivation"} <= set(codebook)


def test_xlsx_opens_with_pandas(release, tmp_path):
    files = unzip(exports.export_bytes(release, "xlsx"), tmp_path, "xlsx")
    (workbook,) = [name for name in files if name.endswith(".xlsx")]
    sheets = pd.read_excel(tmp_path / "xlsx" / workbook, sheet_name=None)
    assert list(sheets) == list(releases.EXPORT_TABLES)
    vitals = sheets["vital_signs"]
    assert vitals["heart_rate_bpm"].isna().all() and vitals["temperature_c"].eq(37.2).all()
    assert sheets["outcomes"]["participant_id"].str.match(r"^(MI|BG)-\d{4}$").all()


def test_parquet_opens_with_pandas_with_types(release, tmp_path):
    unzip(exports.export_bytes(release, "parquet"), tmp_path, "parquet")
    labs = pd.read_parquet(tmp_path / "parquet/laboratory.parquet")
    assert str(labs["crp_mg_l"].dtype) == "float64" and labs["crp_mg_l"].notna().sum() == 4
    derived = pd.read_parquet(tmp_path / "parquet/derived_days.parquet")
    assert str(derived["ordinal_7"].dtype) == "Int64"


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_spss_and_stata_keep_value_labels(release, tmp_path, fmt):
    unzip(exports.export_bytes(release, fmt), tmp_path, fmt)
    read = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    support, meta = read(str(tmp_path / fmt / f"respiratory_support.{fmt}"))
    labels = meta.variable_value_labels
    assert labels["support"][7] == "CPAP" and set(support["support"]) == {7.0}
    codes = (  # a yes/no box of a form marked not done is "not done" (clinical definitions §2.2)
        {-97: "not done", -98: "unknown", -99: "not applicable"}
        if fmt == "sav"
        else {"a": "not done", "b": "unknown", "c": "not applicable"}
    )
    assert labels["ecmo"] == {0: "no", 1: "yes", **codes}
    derived, meta = read(str(tmp_path / fmt / f"derived_days.{fmt}"), apply_value_formats=True)
    assert set(derived["ordinal_7"].dropna()) <= {
        "Hospitalised, high-flow nasal cannula, CPAP or non-invasive ventilation",
        "Death",
        "Discharged, normal activities resumed",
    }
    vitals, meta = read(str(tmp_path / fmt / f"vital_signs.{fmt}"))
    assert vitals["heart_rate_bpm"].isna().all()  # system missing, not 0
    assert meta.column_names_to_labels["temperature_c"] == "temperature (°C)"
    patients, _ = read(str(tmp_path / fmt / f"patients.{fmt}"))
    assert sorted(patients["participant_id"]) == ["BG-0001", "BG-0002", "MI-0001", "MI-0002"]


def test_sas_xport_opens_with_pandas(release, tmp_path):
    unzip(exports.export_bytes(release, "xpt"), tmp_path, "xpt")
    vitals = pd.read_sas(tmp_path / "xpt/vital_signs.xpt", format="xport", encoding="utf-8")
    codebook = pd.read_csv(io.BytesIO(exports.csv_bytes(exports.FrozenRelease(release).arrow("codebook"))))
    short = codebook.loc[codebook["table"].eq("vital_signs")].set_index("variable")["xpt_name"]
    assert list(vitals.columns) == [short[c] for c in short.index]
    assert vitals[short["heart_rate_bpm"]].isna().all()
    assert vitals[short["temperature_c"]].eq(37.2).all()
    assert vitals[short["participant_id"]].str.match(r"^(MI|BG)-\d{4}$").all()


def test_exports_never_read_live_data(release, patient_a):
    from ecrf.models import VitalSigns

    before = exports.export_bytes(release, "csv")
    releases.release_unlock(study=release.study, user=release.locked_by, reason="correction")
    VitalSigns.objects.filter(patient=patient_a).update(temperature_c=39)
    assert exports.export_bytes(release, "csv") == before


def test_header_timestamps_are_replaced_by_the_lock_time(release):
    stamp = release.locked_at
    fake_dta = b"<header><timestamp>\x1101 Jan 2031 10:59</timestamp></header>"
    fixed = exports._fix_dta(fake_dta, stamp)
    assert stamp.strftime("%d %b %Y").encode() in fixed and b"2031" not in fixed


def test_spss_sets_the_measure_level_of_every_variable(release, tmp_path):
    unzip(exports.export_bytes(release, "sav"), tmp_path, "sav")
    for table in releases.EXPORT_TABLES:
        _, meta = pyreadstat.read_sav(str(tmp_path / f"sav/{table}.sav"), metadataonly=True)
        assert "unknown" not in set(meta.variable_measure.values()), table
    _, meta = pyreadstat.read_sav(str(tmp_path / "sav/derived_days.sav"), metadataonly=True)
    measure = meta.variable_measure
    assert {measure[name] for name in ("ordinal_7", "who_osci", "who_cps")} == {"ordinal"}
    assert {measure[name] for name in ("participant_id", "state", "pf_source", "fio2_estimated")} == {"nominal"}
    assert {measure[name] for name in ("study_day", "fio2", "pf")} == {"scale"}
    _, meta = pyreadstat.read_sav(str(tmp_path / "sav/outcomes.sav"), metadataonly=True)
    measure = meta.variable_measure
    assert (measure["ordinal_d21"], measure["os_event"], measure["os_time"], measure["age_years"]) == (
        "ordinal",
        "nominal",
        "scale",
        "scale",
    )


@pytest.mark.parametrize("fmt", ["sav", "dta"])
def test_arm_and_site_are_labelled_integer_codes(release, tmp_path, fmt):
    unzip(exports.export_bytes(release, fmt), tmp_path, fmt)
    read = pyreadstat.read_sav if fmt == "sav" else pyreadstat.read_dta
    arm_labels = {1: "Standard treatment", 2: "High-dose anakinra"}  # in the arms' display order
    site_labels = {1: "Bergamo", 2: "Milan San Raffaele"}  # by site code
    for table in ("patients", "outcomes"):
        frame, meta = read(str(tmp_path / fmt / f"{table}.{fmt}"))
        assert meta.variable_value_labels["arm"] == arm_labels, table
        assert meta.variable_value_labels["site"] == site_labels, table
        codes = frame.set_index("participant_id")[["arm", "site"]]
        assert codes.loc["MI-0001"].tolist() == [2, 2] and codes.loc["BG-0001"].tolist() == [1, 1], table
        if fmt == "sav":
            assert (meta.variable_measure["arm"], meta.variable_measure["site"]) == ("nominal", "nominal")
    arms, meta = read(str(tmp_path / fmt / f"arms.{fmt}"))
    assert meta.variable_value_labels["arm"] == arm_labels and arms["arm"].tolist() == [1, 2]
    book = releases.read_table(releases.release_folder(release), "codebook").set_index(["table", "variable"])
    assert book.loc[("patients", "arm"), "sav_dta_codes"] == "1 = standard | 2 = high_dose"
    assert (
        book.loc[("patients", "arm"), "value_labels"]
        == "standard = Standard treatment | high_dose = High-dose anakinra"
    )
    assert book.loc[("outcomes", "site"), "sav_dta_codes"] == "1 = BG | 2 = MI"


def test_a_coded_text_value_without_a_code_is_refused_not_exported_as_missing():
    class Frozen:
        language = "en-gb"

        def frame(self, table):
            return pd.DataFrame({"kind": pd.array(["death", "transferred"], dtype="string")})

        def columns(self, table):
            book = {"label": "Kind", "type": "string", "value_labels": "death = Death", "sav_dta_codes": "1 = death"}
            return pd.DataFrame([book], index=pd.Index(["kind"], name="variable"))

    with pytest.raises(ValueError, match="transferred"):
        exports.statistical_frame(Frozen(), "disposition_events", numeric_codes=True)


def readme_paths(readme: str) -> list[str]:
    """The paths of the README's file table: its first column after the '## Files' heading."""
    section = readme.split("\n## Files", 1)[1]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]  # header and rule first
    return [row.split("|")[1].strip() for row in rows]


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_readme_of_each_zip_lists_exactly_the_files_of_that_zip(release, tmp_path, fmt):
    files = unzip(exports.export_bytes(release, fmt), tmp_path, fmt)
    listed = readme_paths(files["README.md"].decode())
    assert sorted(listed) == sorted(set(files) - {"README.md"})
