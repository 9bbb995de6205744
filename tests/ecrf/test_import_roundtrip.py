"""An export of a locked release, re-imported into an empty study, reproduces the same source tables (issue 7), their
times included (issue 17: the clock time at the site with its UTC offset on the row's study day, read back on the same
day; the release holds no calendar date, so day 0 of the copy is the import's and the moments shift with it); and the
import's column names are those of the release's tables (analysis/datasets.py)."""

import datetime
import re
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from analysis import datasets, exports
from cohorts import services as cohort_services
from cohorts.models import Arm, Patient, Study
from ecrf import importing, services
from ecrf.crfs import CATALOGUE
from ecrf.importing import writer
from ecrf.models import DispositionEvent, DrugAdministration, VentilationEpisode, VitalSigns
from ecrf.services import RecordInput
from tests import factories
from tests.analysis import release_data

TEMPLATES = Path(__file__).resolve().parents[2] / "docs" / "import-templates"
ROME, NEW_YORK = ZoneInfo("Europe/Rome"), ZoneInfo("America/New_York")


def at(zone, month: int, day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """A moment of 2020 as the clock showed it in ``zone``."""
    return datetime.datetime(2020, month, day, hour, minute, tzinfo=zone)


def test_the_form_tables_have_the_columns_of_the_release_tables():
    assert set(CATALOGUE) == set(datasets.SOURCE_FORMS)
    for table, model in datasets.SOURCE_FORMS.items():
        released = [("confirm" if c == "confirmed_checks" else c) for c in datasets.table_columns(model)]
        assert sorted(released) == sorted(importing.COLUMNS[table]), table
    assert set(datasets.PATIENT_COLUMNS) <= set(importing.COLUMNS["patients"])


@pytest.mark.parametrize("table", importing.TABLES)
def test_each_table_has_a_template_file_with_its_header(table):
    lines = (TEMPLATES / f"{table}.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == importing.template_header(table)


def study_copy(source: Study, code: str) -> Study:
    """An empty study with the source's protocol, arms and sites (what a new database would be set up with)."""
    copy = factories.StudyFactory(code=code, title=f"{source.title} (copy)")
    for arm in Arm.objects.filter(study=source):
        Arm.objects.create(
            study=copy,
            code=arm.code,
            name=arm.name,
            order=arm.order,
            regimen=arm.regimen,
            regimen_description=arm.regimen_description,
        )
    for site in source.sites.all():
        site.studies.add(copy)
    return copy


@pytest.fixture
def day_zero_in_spring(monkeypatch):
    """Day 0 of a patient imported without an enrolment date is the follow-up (21 days) before today at the site:
    today is 6 Apr 2021 here, so day 0 is 16 Mar 2021 (the release's clock times carry no offset, so any date
    would do; a fixed one keeps the expected instants exact)."""
    monkeypatch.setattr(writer, "site_today", lambda site: datetime.date(2021, 4, 6))
    return datetime.date(2021, 3, 16)


def export_and_reimport(
    source: Study, user, settings, tmp_path, monkeypatch, release=None
) -> tuple[Study, importing.ImportReport]:
    """Export ``release`` of the study as CSV (none given: lock the study as a new release first) and import the zip
    into an empty copy of the study."""
    if release is None:
        release_data.use_release_root(settings, tmp_path)
        release_data.quick_figures(monkeypatch)
        release = release_data.lock(source, user)
    archive = exports.export_bytes(release, "csv")
    copy = study_copy(source, f"{source.code}-copy")
    report = importing.crf_import(study=copy, sources=[importing.Source("release_csv.zip", archive)], user=user)
    return copy, report


def assert_same_source_tables(source: Study, copy: Study) -> None:
    before, after = datasets.study_frames(source), datasets.study_frames(copy)
    for table in ("patients", *datasets.SOURCE_FORMS):
        pd.testing.assert_frame_equal(before[table], after[table], obj=table)


@pytest.fixture
def source_study(study, site_a, site_b, arms, users):
    """Every form through the services, with soft confirmations, a kPa blood gas, a death, a discharge; times of
    drugs, events and two ventilation episodes at a site in Rome (day 0: 17 Mar 2020, UTC+1) and one in New York
    (UTC-4 that day)."""
    nurse = users["nurse"]
    site_a.time_zone, site_b.time_zone = "Europe/Rome", "America/New_York"
    site_a.save(update_fields=["time_zone"])
    site_b.save(update_fields=["time_zone"])
    high = factories.PatientFactory(
        study=study, site=site_a, arm=arms["high_dose"], participant_id="MI-0001", weight_kg=Decimal("120.5"),
        hypertension=True, diabetes=False,
    )  # fmt: skip
    dying = factories.PatientFactory(study=study, site=site_b, arm=arms["standard"], participant_id="BG-0001", sex="F")
    discharged = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], participant_id="MI-0002", weight_kg=None
    )
    for patient in (high, dying, discharged):
        for day in range(3):
            services.patient_day_save(
                patient=patient,
                study_day=day,
                entries={
                    "vital_signs": RecordInput(
                        {"temperature_c": Decimal("41.3") if day == 0 else Decimal("37.9"), "spo2_pct": 91 + day},
                        frozenset({"temperature_c.soft_high"}),
                    ),
                    "respiratory_support": RecordInput(
                        {"support": "imv", "fio2": Decimal("0.65"), "peep_cmh2o": Decimal("12"), "vasopressors": True}
                        if patient is dying
                        else {"support": "nasal_cannula", "flow_l_min": Decimal("3")}
                    ),
                    "laboratory": RecordInput(
                        {
                            "pao2_mmhg": Decimal("150.0"),
                            "pao2_entered_unit": "kPa",
                            "crp_mg_l": Decimal("540.0") if day == 0 else None,
                            "ddimer_ng_ml": Decimal("1200"),
                            "ddimer_basis": "DDU",
                            "ast_u_l": Decimal("35"),
                            "ast_uln_u_l": Decimal("40"),
                        },
                        frozenset({"crp_mg_l.soft_high"}),
                    ),
                },
                user=nurse,
            )
    cohort_services.patient_update(
        patient=high,
        changes={"oxygen_criterion_at": at(ROME, 3, 16, 22, 40)},
        expected_version=high.version,
        user=nurse,
        reason="screening",
    )
    drug = {"study_day": 0, "drug": "anakinra", "dose": Decimal(5), "dose_unit": "mg/kg", "route": "iv"}
    first = {
        **drug,
        "frequency": "bid",
        "started_at": at(ROME, 3, 17, 9, 30),
        "stop_day": 1,
        "stopped_at": at(ROME, 3, 18, 21),
    }
    services.event_save(form="drug_administration", patient=high, entry=RecordInput(first), user=nurse)
    taper = {**drug, "study_day": 2, "dose": Decimal(100), "dose_unit": "mg", "route": "sc", "frequency": "bid"}
    services.event_save(
        form="drug_administration",
        patient=high,
        entry=RecordInput(taper, frozenset({"dose.regimen", "route.regimen"})),
        user=nurse,
    )
    antibiotic = {**drug, "drug": "antibiotic", "drug_detail": "ceftriaxone, 2 g", "dose": Decimal(2000)}
    services.event_save(
        form="drug_administration",
        patient=dying,
        entry=RecordInput(
            {**antibiotic, "dose_unit": "mg", "frequency": "q24h", "started_at": at(NEW_YORK, 3, 17, 12)}
        ),
        user=nurse,
    )
    for episode in (  # extubated on day 1, re-intubated the same evening, died on the ventilator on day 2
        {
            "study_day": 0,
            "intubated_at": at(NEW_YORK, 3, 17, 23, 30),
            "end_day": 1,
            "ended_at": at(NEW_YORK, 3, 18, 10),
        },
        {"study_day": 1, "intubated_at": at(NEW_YORK, 3, 18, 18), "end_day": 2, "ended_at": at(NEW_YORK, 3, 19, 14)},
    ):
        reason = "extubated" if episode["study_day"] == 0 else "died"
        entry = RecordInput({**episode, "end_reason": reason})
        services.event_save(form="ventilation_episodes", patient=dying, entry=entry, user=nurse)
    services.event_save(
        form="adverse_events",
        patient=dying,
        entry=RecordInput({"study_day": 1, "kind": "bacteraemia", "organism": "E. coli", "serious": True}),
        user=nurse,
    )
    death = {
        "study_day": 2,
        "kind": "death",
        "cause_of_death": 'ARDS, "refractory"',
        "occurred_at": at(NEW_YORK, 3, 19, 14),
    }
    services.event_save(form="disposition_events", patient=dying, entry=RecordInput(death), user=nurse)
    for values in (
        {"study_day": 1, "kind": "icu_admission", "occurred_at": at(ROME, 3, 18, 2, 5)},
        {"study_day": 2, "kind": "icu_discharge", "occurred_at": at(ROME, 3, 19, 16, 45)},
        {"study_day": 3, "kind": "discharged", "normal_activities": False},
        {"study_day": 21, "kind": "vital_status_contact", "alive": True, "normal_activities": True},
    ):
        services.event_save(form="disposition_events", patient=discharged, entry=RecordInput(values), user=nurse)
    return study


def durations(study: Study) -> list[float]:
    """Hours from each stored start to its end (drugs and ventilation episodes), then from the oxygen criterion to
    each time of the patient, in a stable order."""
    hours = []
    for model, start, end in (
        (DrugAdministration, "started_at", "stopped_at"),
        (VentilationEpisode, "intubated_at", "ended_at"),
    ):
        for record in model.objects.filter(patient__study=study).order_by("patient__participant_id", "study_day"):
            if getattr(record, start) and getattr(record, end):
                hours.append((getattr(record, end) - getattr(record, start)) / datetime.timedelta(hours=1))
    for patient in Patient.objects.filter(study=study, oxygen_criterion_at__isnull=False).order_by("participant_id"):
        for drug in DrugAdministration.objects.filter(patient=patient).exclude(started_at=None).order_by("study_day"):
            hours.append((drug.started_at - patient.oxygen_criterion_at) / datetime.timedelta(hours=1))
    return hours


def moments(study: Study) -> dict[tuple, datetime.datetime]:
    """Every stored time of the study, keyed by participant, table, day and column."""
    found = {}
    for model, names in (
        (DrugAdministration, ("started_at", "stopped_at")),
        (VentilationEpisode, ("intubated_at", "ended_at")),
        (DispositionEvent, ("occurred_at",)),
    ):
        for record in model.objects.filter(patient__study=study).select_related("patient"):
            for name in names:
                if getattr(record, name) is not None:
                    key = (record.patient.participant_id, model.__name__, record.study_day, name)
                    found[key] = getattr(record, name)
    for patient in Patient.objects.filter(study=study, oxygen_criterion_at__isnull=False):
        found[(patient.participant_id, "Patient", None, "oxygen_criterion_at")] = patient.oxygen_criterion_at
    return found


def test_a_release_exported_as_csv_imports_into_an_empty_study_as_the_same_data(
    source_study, users, settings, tmp_path, monkeypatch, day_zero_in_spring
):
    user = users["data_manager"]
    copy, report = export_and_reimport(source_study, user, settings, tmp_path, monkeypatch)
    assert report.ok, [str(p) for p in report.problems[:10]]
    assert {f.table for f in report.files} == set(importing.TABLES)
    assert "arms.csv" in report.skipped and "derived_days.csv" in report.skipped
    # The same study days and clock times (with their offsets): the tables of the release.
    assert_same_source_tables(source_study, copy)
    assert VitalSigns.objects.get(patient__study=copy, patient__participant_id="MI-0001", study_day=0).confirmed_checks
    taper = DrugAdministration.objects.get(patient__study=copy, study_day=2)
    assert taper.confirmed_checks == ["dose.regimen", "route.regimen"]

    # The release has no calendar date: day 0 of the copy is the import's (the follow-up before today), and every
    # moment moves with it, keeping its study day, its clock time at the site and so every duration.
    assert {p.enrolment_date for p in Patient.objects.filter(study=copy)} == {day_zero_in_spring}
    enrolled = {p.participant_id: p.enrolment_date for p in Patient.objects.filter(study=source_study)}
    before, after = moments(source_study), moments(copy)
    assert set(after) == set(before) and len(after) == 11
    for key, moment in before.items():
        assert after[key] - moment == day_zero_in_spring - enrolled[key[0]], key
    assert durations(copy) == durations(source_study) == [35.5, 10.5, 20.0, 10 + 50 / 60]
    first = DrugAdministration.objects.get(patient__study=copy, study_day=0, drug="anakinra")
    assert first.started_at == datetime.datetime(2021, 3, 16, 9, 30, tzinfo=ROME)

    # What the statistician reads: the clock time at the site, on the row's day; never a date.
    released = datasets.study_frames(source_study)
    drugs = released["drug_administration"]
    assert drugs[["participant_id", "study_day", "started_at", "stop_day", "stopped_at"]].dropna(
        subset=["started_at"]
    ).astype(object).to_numpy().tolist() == [
        ["BG-0001", 0, "12:00", pd.NA, pd.NA],
        ["MI-0001", 0, "09:30", 1, "21:00"],
    ]
    patients = released["patients"].set_index("participant_id")
    assert patients.loc["MI-0001", ["oxygen_criterion_day", "oxygen_criterion_at"]].tolist() == [-1, "22:40"]
    for table in ("patients", *datasets.SOURCE_FORMS):
        for column, values in released[table].astype(str).items():
            assert not values.str.contains(re.compile(r"\d{4}-\d{2}-\d{2}")).any(), (table, column)

    archive = exports.export_bytes(source_study.releases.get(), "csv")
    again = importing.crf_import(study=copy, sources=[importing.Source("release_csv.zip", archive)], user=user)
    assert again.ok and all(f.created == f.changed == 0 for f in again.files)


def test_the_documented_format_written_by_its_writer_imports_back(source_study, users, day_zero_in_spring):
    """The format without a release: write_table (the inverse of the import) of the source tables."""
    frames = datasets.study_frames(source_study)
    files = []
    for table in importing.TABLES:
        frame = frames[table].rename(columns={"confirmed_checks": "confirm"})
        rows = [
            {k: (None if pd.isna(v) else v) for k, v in row.items()} for row in frame.astype(object).to_dict("records")
        ]
        files.append(importing.Source(f"{table}.csv", importing.write_table(table, rows, list(frame.columns))))
    copy = study_copy(source_study, "written-copy")
    report = importing.crf_import(study=copy, sources=files, user=users["data_manager"])
    assert report.ok, [str(p) for p in report.problems[:10]]
    assert_same_source_tables(source_study, copy)
