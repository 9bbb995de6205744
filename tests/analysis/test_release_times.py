"""Times in a locked release (clinical definitions §2.3): the tables of drug administration, disposition events and
ventilation episodes and the patients' table carry their times as the clock time at the site (ISO 8601 ``22:30``;
the UTC offset only on the hour the clocks go back) on the study day of their row, never a calendar date (clinical
definitions §5); the codebook describes them; every export format takes them (ODM as time items, valid against its
schema), and SDTM knows the new disposition kind."""

import datetime
import io
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from pathlib import Path
from zoneinfo import ZoneInfo

import odmlib
import pandas as pd
import pytest
import xmlschema

from analysis import codebook, exports, releases
from analysis.frozen import FrozenRelease
from cohorts.models import Patient
from ecrf.models import DispositionEvent, DrugAdministration, VentilationEpisode
from tests.analysis import release_data
from tests.analysis.test_exports import unzip

ROME, NEW_YORK = ZoneInfo("Europe/Rome"), ZoneInfo("America/New_York")
NS = {"odm": "http://www.cdisc.org/ns/odm/v1.3"}
ODM_SCHEMA = Path(odmlib.__file__).parent / "schemas/odm/1.3.2/ODM1-3-2.xsd"
DEFINE_SCHEMA = Path(odmlib.__file__).parent / "schemas/define/2.1/define2-1-0.xsd"


def at(zone, month: int, day: int, hour: int, minute: int = 0) -> datetime.datetime:
    return datetime.datetime(2020, month, day, hour, minute, tzinfo=zone)


@pytest.fixture
def timed(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    """The release data with site B in New York: MI-0001's oxygen criterion the evening before day 0 (17 Mar 2020)
    and first anakinra dose (Rome, UTC+1 in March 2020), BG-0001 (day 0: 18 Mar, New York, UTC-4) intubated on day 0
    and dead on the ventilator on day 2, MI-0002 discharged from the ICU on day 2 at a time with seconds; locked."""
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    site_b.time_zone = "America/New_York"
    site_b.save(update_fields=["time_zone"])
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    Patient.objects.filter(pk=patient_a.pk).update(oxygen_criterion_at=at(ROME, 3, 16, 22, 40))
    DrugAdministration.objects.filter(patient=patient_a).update(
        started_at=at(ROME, 3, 17, 9, 30), stop_day=1, stopped_at=at(ROME, 3, 18, 21)
    )
    DispositionEvent.objects.filter(patient=patient_b, kind="death").update(occurred_at=at(NEW_YORK, 3, 20, 14))
    VentilationEpisode.objects.create(
        patient=patient_b,
        study_day=0,
        intubated_at=at(NEW_YORK, 3, 18, 23, 30),
        end_day=2,
        ended_at=at(NEW_YORK, 3, 20, 14),
        end_reason="died",
    )
    DispositionEvent.objects.create(
        patient=Patient.objects.get(participant_id="MI-0002"),
        study_day=2,
        kind="icu_discharge",
        occurred_at=at(ROME, 3, 19, 16, 45).replace(second=30),
    )
    return release_data.lock(study, users["data_manager"])


def test_the_tables_carry_the_clock_time_at_the_site_with_its_offset_on_the_row_s_day(timed):
    frozen = FrozenRelease(timed)
    drugs = frozen.frame("drug_administration")
    assert drugs[["study_day", "started_at", "stop_day", "stopped_at"]].astype(object).to_numpy().tolist() == [
        [0, "09:30", 1, "21:00"]
    ]
    episodes = frozen.frame("ventilation_episodes")
    assert episodes[["participant_id", "study_day", "intubated_at", "end_day", "ended_at", "end_reason"]].astype(
        object
    ).to_numpy().tolist() == [["BG-0001", 0, "23:30", 2, "14:00", "died"]]
    events = frozen.frame("disposition_events").set_index(["participant_id", "kind"])
    assert events.loc[("BG-0001", "death"), "occurred_at"] == "14:00"
    assert events.loc[("MI-0002", "icu_discharge"), "occurred_at"] == "16:45:30"  # seconds when not zero
    assert pd.isna(events.loc[("MI-0002", "discharged"), "occurred_at"])  # no time: empty, not midnight
    patients = frozen.frame("patients")
    columns = list(patients.columns)
    assert columns.index("oxygen_criterion_at") == columns.index("oxygen_criterion_day") + 1
    patients = patients.set_index("participant_id")
    # 16 Mar 22:40 in Rome: the evening before day 0 (17 Mar).
    assert patients.loc["MI-0001", ["oxygen_criterion_day", "oxygen_criterion_at"]].tolist() == [-1, "22:40"]
    assert patients["oxygen_criterion_at"].isna().sum() == 3
    assert patients["oxygen_criterion_day"].isna().sum() == 3
    # The hours the statistician computes from days and clock times: the ventilation episode lasted 38.5 h.
    intubated, ended = (datetime.time.fromisoformat(episodes[name][0]) for name in ("intubated_at", "ended_at"))
    hours = (episodes["end_day"][0] - episodes["study_day"][0]) * 24 + (
        datetime.datetime.combine(datetime.date.min, ended) - datetime.datetime.combine(datetime.date.min, intubated)
    ) / datetime.timedelta(hours=1)
    assert hours == (at(NEW_YORK, 3, 20, 14) - at(NEW_YORK, 3, 18, 23, 30)) / datetime.timedelta(hours=1) == 38.5


DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def test_no_released_table_holds_a_calendar_date(timed):
    """Only study days leave the system (clinical definitions §5); the signatures' times of signing are the one
    exception."""
    frozen = FrozenRelease(timed)
    for table in releases.EXPORT_TABLES:
        if table == "signatures":
            continue
        frame = frozen.frame(table)
        for column in frame.columns:
            dated = frame[column].dropna().astype(str).str.contains(DATE)
            assert not dated.any(), (table, column, frame[column][dated.to_numpy()].head(3).tolist())


def test_the_codebook_describes_every_time_and_the_new_codes(timed):
    book = FrozenRelease(timed).codebook.set_index(["table", "variable"])
    times = {
        ("drug_administration", "started_at"): "study_day",
        ("drug_administration", "stopped_at"): "stop_day",
        ("disposition_events", "occurred_at"): "study_day",
        ("ventilation_episodes", "intubated_at"): "study_day",
        ("ventilation_episodes", "ended_at"): "end_day",
        ("patients", "oxygen_criterion_at"): "oxygen_criterion_day",
    }
    for key, day in times.items():
        assert (book.loc[key, "type"], book.loc[key, "unit"]) == ("time", codebook.TIME_UNIT), key
        assert codebook.TIME_UNIT == "clock time at the site, ISO 8601 HH:MM"
        assert f"on the row's study day ({day}), e.g. 22:30 (seconds" in book.loc[key, "derivation"], key
    day = book.loc[("patients", "oxygen_criterion_day")]
    assert (day["type"], day["unit"]) == ("integer", "days")
    assert "minus the enrolment date" in day["derivation"]
    assert book.loc[("ventilation_episodes", "intubated_at"), "label"] == "intubation time"
    assert book.loc[("patients", "oxygen_criterion_at"), "label"] == "Oxygen criterion met at"
    assert book.loc[("ventilation_episodes", "end_reason"), "value_labels"] == (
        "extubated = Extubated | died = Died on the ventilator | transferred = Transferred on the ventilator"
    )
    assert "icu_discharge = ICU discharge" in book.loc[("disposition_events", "kind"), "value_labels"]
    assert "intubation" in book.loc[("ventilation_episodes", "study_day"), "derivation"]
    for column in ("study_day", "end_day", "intubated_at_mc", "end_reason_mc"):
        assert ("ventilation_episodes", column) in book.index


@pytest.mark.parametrize("fmt", ["csv", "parquet", "sav", "dta", "xpt"])
def test_every_table_format_carries_the_times_as_text(timed, tmp_path, fmt):
    files = unzip(exports.export_bytes(timed, fmt), tmp_path, fmt)
    assert any(name.startswith("ventilation_episodes.") for name in files), sorted(files)
    if fmt == "csv":
        drugs = pd.read_csv(tmp_path / "csv/drug_administration.csv", dtype=str)
        assert drugs["started_at"].tolist() == ["09:30"]


def test_the_workbook_has_a_sheet_of_ventilation_episodes(timed, tmp_path):
    files = unzip(exports.export_bytes(timed, "xlsx"), tmp_path, "xlsx")
    (workbook,) = (name for name in files if name.endswith(".xlsx"))
    episodes = pd.read_excel(tmp_path / "xlsx" / workbook, sheet_name="ventilation_episodes", dtype=str)
    assert episodes["ended_at"].tolist() == ["14:00"]


def test_the_odm_document_has_time_items_and_stays_valid(timed):
    archive = zipfile.ZipFile(io.BytesIO(exports.export_bytes(timed, "odm")))
    document = archive.read(next(name for name in archive.namelist() if name.endswith("_odm.xml")))
    assert list(xmlschema.XMLSchema(str(ODM_SCHEMA)).iter_errors(document.decode())) == []
    root = ET.fromstring(document)
    item = root.find(".//odm:ItemDef[@OID='IT.VENTILATION_EPISODES.INTUBATED_AT']", NS)
    assert item is not None and item.get("DataType") == "time"
    assert item.find("odm:MeasurementUnitRef", NS) is None  # its format is its data type, not a unit
    values = [
        node.get("Value") for node in root.iterfind(".//odm:ItemData[@ItemOID='IT.VENTILATION_EPISODES.ENDED_AT']", NS)
    ]
    assert values == ["14:00:00"]  # ODM's time has its seconds


def test_sdtm_knows_the_icu_discharge(timed):
    archive = zipfile.ZipFile(io.BytesIO(exports.export_bytes(timed, "sdtm")))
    name = next(name for name in archive.namelist() if name.endswith("sdtm/ds.csv"))
    ds = pd.read_csv(io.BytesIO(archive.read(name)), dtype=str)
    assert ds.loc[ds["DSDECOD"].eq("ICU DISCHARGE"), ["DSTERM", "DSCAT", "DSSTDY"]].to_numpy().tolist() == [
        ["DISCHARGED FROM ICU", "OTHER EVENT", "3"]
    ]
    define = archive.read(next(name for name in archive.namelist() if name.endswith("sdtm/define.xml")))
    assert xmlschema.XMLSchema(str(DEFINE_SCHEMA)).is_valid(define.decode())


def test_r_reads_the_times_as_the_text_of_the_release(timed, tmp_path):
    rscript = shutil.which("Rscript")
    if rscript is None:
        pytest.skip("Rscript is not installed (make r)")
    unzip(exports.export_bytes(timed, "csv"), tmp_path, "csv")
    script = (
        'source("read_csv.R"); cat(release$ventilation_episodes$intubated_at, release$patients$oxygen_criterion_at)'
    )
    done = subprocess.run([rscript, "-e", script], cwd=tmp_path / "csv", capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["23:30", "NA", "NA", "22:40", "NA"]


def test_only_a_clock_time_of_the_hour_the_clocks_go_back_carries_its_offset():
    from analysis.datasets import local_times

    # New York, 1 November 2020: 01:30 happens at 05:30 UTC (EDT) and again at 06:30 UTC (EST).
    stored = pd.Series(["2020-11-01 05:30:00", "2020-11-01 06:30:00", "2020-04-02 02:30:00", None])
    shown = local_times(stored, ["America/New_York"] * 4)
    assert shown["clock"].tolist() == ["01:30-04:00", "01:30-05:00", "22:30", pd.NA]
