"""Missing-data codes in the CSV import (docs/import-format.md, clinical definitions §2.2): ND, UNK or NA in a value
cell (any case), a release's code columns (<field>_mc), a not_done_reason column; bad codes are refused on their
row, and a release with codes and forms marked not done imports back as the same data."""

from decimal import Decimal

import pytest

from analysis import datasets, exports
from ecrf import importing, services
from ecrf.importing import Source
from ecrf.models import DrugAdministration, LabResult, RespiratorySupport, VitalSigns
from ecrf.services import RecordInput
from tests.analysis import release_data
from tests.ecrf.test_import_roundtrip import study_copy


def run(study, user, files: dict[str, str], **options):
    sources = [Source(name, text.encode()) for name, text in files.items()]
    return importing.crf_import(study=study, sources=sources, user=user, **options)


@pytest.fixture
def setup(study, users, patient_a, patient_b):
    return study, users["data_manager"]


def test_a_value_cell_may_hold_nd_unk_or_na_in_any_case(setup, patient_a):
    study, user = setup
    vitals = (
        "participant_id,study_day,temperature_c,heart_rate_bpm,respiratory_rate_bpm,spo2_pct\n"
        "MI-0001,1,37.2,nd,Unk,NA\n"
    )
    report = run(study, user, {"vital_signs.csv": vitals})
    assert report.stored, [str(p) for p in report.problems]
    record = VitalSigns.objects.get(patient=patient_a)
    assert record.missing_codes == {
        "heart_rate_bpm": "not_done",
        "respiratory_rate_bpm": "unknown",
        "spo2_pct": "not_applicable",
    }
    assert (record.heart_rate_bpm, record.spo2_pct, record.temperature_c) == (None, None, Decimal("37.2"))
    assert record.history.get().history_change_reason == "import: vital_signs.csv"


def test_a_not_done_reason_column_marks_the_form_not_done(setup, patient_a):
    study, user = setup
    support = "participant_id,study_day,support,not_done_reason\nMI-0001,1,,patient in theatre\nMI-0001,2,room_air,\n"
    report = run(study, user, {"respiratory_support.csv": support})
    assert report.stored, [str(p) for p in report.problems]
    day1, day2 = RespiratorySupport.objects.order_by("study_day")
    assert (day1.support, day1.not_done_reason) == ("", "patient in theatre")
    assert (day2.support, day2.not_done_reason) == ("room_air", "")


def test_a_repeating_form_codes_its_optional_values(setup, patient_a):
    study, user = setup
    drugs = (
        "participant_id,study_day,drug,drug_detail,dose,dose_unit,route,frequency,stop_day\n"
        "MI-0001,0,hydroxychloroquine,,200,mg,oral,bid,UNK\n"
    )
    report = run(study, user, {"drug_administration.csv": drugs})
    assert report.stored, [str(p) for p in report.problems]
    assert DrugAdministration.objects.get().missing_codes == {"stop_day": "unknown"}
    assert run(study, user, {"drug_administration.csv": drugs}).files[0].unchanged == 1  # the same row again


@pytest.mark.parametrize(
    ("table", "text", "column", "message"),
    [
        (
            "vital_signs",
            "participant_id,study_day,spo2_pct,spo2_pct_mc\nMI-0001,1,,maybe\n",
            "spo2_pct_mc",
            "'maybe' is not a missing-data code: write ND (not done), UNK (unknown) or NA (not applicable), or leave "
            "the cell empty.",
        ),
        (
            "vital_signs",
            "participant_id,study_day,spo2_pct,spo2_pct_mc\nMI-0001,1,ND,unknown\n",
            "spo2_pct_mc",
            "The cell of spo2_pct says not done but spo2_pct_mc says unknown: give one code.",
        ),
        (
            "respiratory_support",
            "participant_id,study_day,support\nMI-0001,1,NA\n",
            "",
            "support takes no missing-data code: give its value, or mark the whole form not done.",
        ),
        (
            "vital_signs",
            "participant_id,study_day,spo2_pct,not_done_reason\nMI-0001,1,95,no time\n",
            "not_done_reason",
            "A form marked not done holds no value and no code: clear the value of SpO2, or empty its not_done_reason "
            "cell.",
        ),
        (
            "laboratory",
            "participant_id,study_day,ast_uln_u_l,crp_mg_l\nMI-0001,1,ND,5\n",
            "ast_uln_u_l",
            "'ND' is not a number.",
        ),
    ],
)
def test_a_bad_code_is_refused_on_its_row_and_nothing_is_stored(setup, table, text, column, message):
    study, user = setup
    report = run(study, user, {f"{table}.csv": text})
    assert [(p.file, p.row, p.column) for p in report.problems] == [(f"{table}.csv", 2, column)]
    assert report.problems[0].message.startswith(message), report.problems[0].message
    assert not report.stored and not VitalSigns.objects.exists() and not LabResult.objects.exists()


def test_a_file_without_the_columns_keeps_the_codes_and_the_mark_of_other_fields(setup, patient_a, users):
    study, user = setup
    services.day_record_save(
        form="laboratory",
        patient=patient_a,
        study_day=1,
        entry=RecordInput({"crp_mg_l": Decimal(30)}, missing_codes={"ldh_u_l": "unknown"}),
        user=users["nurse"],
    )
    report = run(study, user, {"laboratory.csv": "participant_id,study_day,crp_mg_l\nMI-0001,1,35\n"})
    assert report.stored and report.files[0].changed == 1, [str(p) for p in report.problems]
    labs = LabResult.objects.get()
    assert (labs.crp_mg_l, labs.missing_codes) == (Decimal(35), {"ldh_u_l": "unknown"})


def test_a_release_with_codes_and_forms_not_done_imports_back_as_the_same_data(
    study, site_a, site_b, arms, patient_a, users, settings, tmp_path, monkeypatch
):
    nurse = users["nurse"]
    services.patient_day_save(
        patient=patient_a,
        study_day=1,
        entries={
            "vital_signs": RecordInput({"temperature_c": Decimal("37.5")}, missing_codes={"spo2_pct": "unknown"}),
            "respiratory_support": RecordInput({}, not_done_reason="in theatre, 'all day'"),
            "laboratory": RecordInput({"crp_mg_l": Decimal(12)}, missing_codes={"ldh_u_l": "not_applicable"}),
        },
        user=nurse,
    )
    services.patient_day_save(
        patient=patient_a,
        study_day=2,
        entries={
            "respiratory_support": RecordInput({"support": "room_air"}),
            "laboratory": RecordInput({}, not_done_reason="no sample"),
        },
        user=nurse,
    )
    services.event_save(
        form="adverse_events",
        patient=patient_a,
        entry=RecordInput(
            {"study_day": 3, "kind": "other", "description": "rash"}, {}, None, {"organism": "not_applicable"}
        ),
        user=nurse,
    )
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release = release_data.lock(study, users["data_manager"])
    copy = study_copy(study, f"{study.code}-copy")
    archive = exports.export_bytes(release, "csv")
    report = importing.crf_import(study=copy, sources=[Source("release_csv.zip", archive)], user=users["data_manager"])
    assert report.stored, [str(p) for p in report.problems]
    before, after = datasets.study_frames(study), datasets.study_frames(copy)
    for table in datasets.SOURCE_FORMS:
        assert before[table].equals(after[table]), table
    support = before["respiratory_support"]
    not_done = support.loc[support["study_day"].eq(1)].iloc[0]
    assert not_done["not_done_reason"] == "in theatre, 'all day'" and not_done["support_mc"] == "not_done"
    assert support["ecmo"].isna().tolist() == [True, False]  # a yes/no box of a form not done is not a "no"
