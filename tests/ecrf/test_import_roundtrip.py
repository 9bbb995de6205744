"""An export of a locked release, re-imported into an empty study, reproduces the same source tables (issue 7);
and the import's column names are those of the release's tables (analysis/datasets.py)."""

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from analysis import datasets, exports
from cohorts.models import Arm, Study
from ecrf import importing, services
from ecrf.crfs import CATALOGUE
from ecrf.models import DrugAdministration, VitalSigns
from ecrf.services import RecordInput
from tests import factories
from tests.analysis import release_data

TEMPLATES = Path(__file__).resolve().parents[2] / "docs" / "import-templates"


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


def export_and_reimport(source: Study, user, settings, tmp_path, monkeypatch) -> tuple[Study, importing.ImportReport]:
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
    """Every form through the services, with soft confirmations, a kPa blood gas, a death, a discharge."""
    nurse = users["nurse"]
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
    drug = {"study_day": 0, "drug": "anakinra", "dose": Decimal(5), "dose_unit": "mg/kg", "route": "iv"}
    services.event_save(
        form="drug_administration", patient=high, entry=RecordInput({**drug, "frequency": "bid"}), user=nurse
    )
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
        entry=RecordInput({**antibiotic, "dose_unit": "mg", "frequency": "q24h"}),
        user=nurse,
    )
    services.event_save(
        form="adverse_events",
        patient=dying,
        entry=RecordInput({"study_day": 1, "kind": "bacteraemia", "organism": "E. coli", "serious": True}),
        user=nurse,
    )
    services.event_save(
        form="disposition_events",
        patient=dying,
        entry=RecordInput({"study_day": 2, "kind": "death", "cause_of_death": 'ARDS, "refractory"'}),
        user=nurse,
    )
    for values in (
        {"study_day": 3, "kind": "discharged", "normal_activities": False},
        {"study_day": 21, "kind": "vital_status_contact", "alive": True, "normal_activities": True},
    ):
        services.event_save(form="disposition_events", patient=discharged, entry=RecordInput(values), user=nurse)
    return study


def test_a_release_exported_as_csv_imports_into_an_empty_study_as_the_same_data(
    source_study, users, settings, tmp_path, monkeypatch
):
    user = users["data_manager"]
    copy, report = export_and_reimport(source_study, user, settings, tmp_path, monkeypatch)
    assert report.ok, [str(p) for p in report.problems[:10]]
    assert {f.table for f in report.files} == set(importing.TABLES)
    assert "arms.csv" in report.skipped and "derived_days.csv" in report.skipped
    assert_same_source_tables(source_study, copy)
    assert VitalSigns.objects.get(patient__study=copy, patient__participant_id="MI-0001", study_day=0).confirmed_checks
    taper = DrugAdministration.objects.get(patient__study=copy, study_day=2)
    assert taper.confirmed_checks == ["dose.regimen", "route.regimen"]

    archive = exports.export_bytes(source_study.releases.get(), "csv")
    again = importing.crf_import(study=copy, sources=[importing.Source("release_csv.zip", archive)], user=user)
    assert again.ok and all(f.created == f.changed == 0 for f in again.files)


def test_the_documented_format_written_by_its_writer_imports_back(source_study, users):
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
