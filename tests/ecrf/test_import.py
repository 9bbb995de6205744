"""CSV import (issue 7): a good set of files loads through the forms' checks, audited "import: <file name>";
every kind of bad input is refused with its file, row, column and a precise message, and nothing is stored;
importing the same files twice stores them once; a locked study refuses."""

import csv
import io
import zipfile
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analysis import releases
from cohorts.models import Patient
from ecrf import importing
from ecrf.crfs import CATALOGUE
from ecrf.importing import Source
from ecrf.models import (
    AdverseEvent,
    DispositionEvent,
    DrugAdministration,
    LabResult,
    RespiratorySupport,
    VitalSigns,
)

AUDITED = (Patient, VitalSigns, RespiratorySupport, LabResult, DrugAdministration, DispositionEvent, AdverseEvent)

GOOD = {
    "patients.csv": """participant_id,site,arm,arm_label,enrolment_date,sex,age_years,weight_kg,smoking,hypertension,\
coronary_artery_disease,diabetes,copd,chronic_kidney_disease,status,follow_up_days,confirm
MI-0101,MI,high_dose,High-dose anakinra,2020-03-20,M,58,82.5,false,true,false,false,false,false,active,21,
BG-0102,BG,standard,,2020-03-21,F,71,,,,,,,,completed,,
""",
    "vital_signs.csv": """participant_id,study_day,temperature_c,heart_rate_bpm,respiratory_rate_bpm,systolic_mmhg,\
diastolic_mmhg,spo2_pct,confirm
MI-0101,0,38.4,104,28,128,76,93,
MI-0101,1,41.6,110,30,120,70,92,temperature_c.soft_high
BG-0102,0,37.1,88,22,135,80,95,
MI-0001,2,37.0,,,,,94,
""",
    "respiratory_support.csv": """participant_id,study_day,support,flow_l_min,fio2,peep_cmh2o,niv_hours,ecmo,prone,\
vasopressors,rrt
MI-0101,0,cpap,,0.60,10,24,false,false,false,false
MI-0101,1,cpap,,0.5,10,22,false,true,false,false
BG-0102,0,nasal_cannula,4,,,,false,false,false,false
""",
    "laboratory.csv": """participant_id,study_day,pao2_mmhg,pao2_entered_unit,abg_fio2,crp_mg_l,crp_entered_unit,\
ferritin_ng_ml,ast_u_l,ast_uln_u_l,ddimer_ng_ml,ddimer_basis,confirm
MI-0101,0,67.5,kPa,0.6,182,mg/dL,2300,48,40,1800,FEU,
BG-0102,0,,,,620,mg/L,,,,,,crp_mg_l.soft_high
""",
    "drug_administration.csv": """participant_id,study_day,drug,drug_detail,dose,dose_unit,route,frequency,stop_day,\
confirm
MI-0101,0,anakinra,,5,mg/kg,iv,bid,6,
MI-0101,7,anakinra,,100,mg,sc,bid,9,dose.regimen;route.regimen
BG-0102,0,hydroxychloroquine,,200,mg,oral,bid,9,
""",
    "disposition_events.csv": """participant_id,study_day,kind,normal_activities,alive,cause_of_death
BG-0102,10,discharged,true,,
BG-0102,21,vital_status_contact,true,true,
""",
    "adverse_events.csv": """participant_id,study_day,kind,organism,description,serious
MI-0101,5,bacteraemia,Escherichia coli,,true
""",
}


def sources(files: dict[str, str | bytes]) -> list[Source]:
    return [Source(name, text.encode() if isinstance(text, str) else text) for name, text in files.items()]


def run(study, user, files, **options):
    return importing.crf_import(study=study, sources=sources(files), user=user, **options)


def history_rows() -> dict:
    return {model.__name__: model.history.count() for model in AUDITED}


def records() -> dict:
    return {model.__name__: model.objects.count() for model in AUDITED}


@pytest.fixture
def setup(study, users, patient_a, patient_b):
    return study, users["data_manager"]


# ------------------------------------------------------------------------------------------------------ good files


def test_a_good_set_of_files_loads_through_the_services_with_the_import_reason(setup):
    study, user = setup
    report = run(study, user, GOOD)
    assert report.ok and report.stored, [str(p) for p in report.problems]
    created = {f.table: f.created for f in report.files}
    assert created == {
        "patients": 2,
        "vital_signs": 4,
        "respiratory_support": 3,
        "laboratory": 2,
        "drug_administration": 3,
        "disposition_events": 2,
        "adverse_events": 1,
    }
    new = Patient.objects.get(participant_id="MI-0101")
    assert (new.site.code, new.arm.code, str(new.enrolment_date), new.weight_kg) == (
        "MI",
        "high_dose",
        "2020-03-20",
        Decimal("82.5"),
    )
    assert new.hypertension is True and new.smoking is False
    other = Patient.objects.get(participant_id="BG-0102")
    assert other.weight_kg is None and other.diabetes is None and other.status == "completed"

    fever = VitalSigns.objects.get(patient=new, study_day=1)
    assert fever.temperature_c == Decimal("41.6") and fever.confirmed_checks == ["temperature_c.soft_high"]
    labs = LabResult.objects.get(patient=new, study_day=0)
    assert (labs.pao2_mmhg, labs.pao2_entered_unit, labs.crp_entered_unit, labs.ddimer_basis) == (
        Decimal("67.5"),
        "kPa",
        "mg/dL",
        "FEU",
    )
    taper = DrugAdministration.objects.get(patient=new, study_day=7)
    assert taper.confirmed_checks == ["dose.regimen", "route.regimen"]
    assert VitalSigns.objects.filter(patient__participant_id="MI-0001", study_day=2).exists()

    for model, name in ((VitalSigns, "vital_signs.csv"), (DrugAdministration, "drug_administration.csv")):
        history = model.history.all()
        assert set(history.values_list("history_change_reason", flat=True)) == {f"import: {name}"}
        assert set(history.values_list("history_user__username", flat=True)) == {"data_manager"}
    assert new.history.get().history_change_reason == "import: patients.csv"


def test_importing_the_same_files_again_changes_nothing(setup):
    study, user = setup
    assert run(study, user, GOOD).ok
    before = history_rows()
    report = run(study, user, GOOD)
    assert report.ok
    assert history_rows() == before  # no new history row: nothing was saved again
    assert all(f.created == f.changed == 0 and f.unchanged == f.rows for f in report.files)
    assert report.summary() == "Imported 17 rows: 0 new, 0 changed, 17 unchanged."


def test_a_changed_value_is_an_audited_edit_and_the_rest_stays_unchanged(setup):
    study, user = setup
    run(study, user, GOOD)
    changed = GOOD["vital_signs.csv"].replace("MI-0101,0,38.4,104", "MI-0101,0,38.4,99")
    report = run(study, user, {"vital_signs.csv": changed})
    assert report.ok
    assert (report.files[0].changed, report.files[0].unchanged) == (1, 3)
    record = VitalSigns.objects.get(patient__participant_id="MI-0101", study_day=0)
    assert record.heart_rate_bpm == 99 and record.version == 2
    latest = record.history.order_by("-history_id").first()
    assert latest.history_change_reason == "import: vital_signs.csv"


def test_columns_left_out_are_not_touched(setup, patient_a):
    study, user = setup
    VitalSigns.objects.create(patient=patient_a, study_day=3, temperature_c=Decimal("37.5"), heart_rate_bpm=80)
    report = run(study, user, {"vital_signs.csv": "participant_id,study_day,heart_rate_bpm\nMI-0001,3,84\n"})
    assert report.ok
    record = VitalSigns.objects.get(patient=patient_a, study_day=3)
    assert (record.temperature_c, record.heart_rate_bpm) == (Decimal("37.5"), 84)


def test_a_release_table_with_the_confirmed_checks_column_imports(setup):
    study, user = setup
    run(study, user, {"patients.csv": GOOD["patients.csv"]})
    text = "participant_id,study_day,temperature_c,confirmed_checks\nMI-0101,1,41.6,temperature_c.soft_high\n"
    assert run(study, user, {"vital_signs.csv": text}).ok


def test_numbers_are_read_as_the_forms_read_them(setup):
    """A decimal comma and spaces between thousands, as the entry page accepts them (ecrf/numbers.py)."""
    study, user = setup
    files = {
        "vital_signs.csv": VITALS + 'MI-0001,1,"37,5",95\n',
        "laboratory.csv": "participant_id,study_day,ferritin_ng_ml\nMI-0001,1,1 200\n",
    }
    assert run(study, user, files).ok
    assert str(VitalSigns.objects.get(patient__participant_id="MI-0001", study_day=1).temperature_c) == "37.5"
    assert LabResult.objects.get(patient__participant_id="MI-0001", study_day=1).ferritin_ng_ml == 1200


def test_check_only_runs_every_check_and_stores_nothing(setup):
    study, user = setup
    before = history_rows()
    report = run(study, user, GOOD, check_only=True)
    assert report.ok and not report.stored
    assert "nothing was stored" in report.summary()
    assert history_rows() == before


def test_a_zip_of_the_files_imports_and_files_that_are_not_tables_are_skipped(setup):
    study, user = setup
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in GOOD.items():
            archive.writestr(f"milan_v1/{name}", text)
        archive.writestr("milan_v1/README.md", "read me")
        archive.writestr("milan_v1/outcomes.csv", "participant_id\nMI-0101\n")
    report = run(study, user, {"export.zip": buffer.getvalue()})
    assert report.ok, [str(p) for p in report.problems]
    assert sum(f.created for f in report.files) == 17
    assert sorted(report.skipped) == ["export.zip: milan_v1/README.md", "outcomes.csv"]


# ------------------------------------------------------------------------------------------------ bad input


VITALS = "participant_id,study_day,temperature_c,spo2_pct\n"
DRUGS = "participant_id,study_day,drug,dose,dose_unit,route,frequency\n"


def case(name: str, files: dict, where: tuple, message: str):
    return pytest.param(files, where, message, id=name)


BAD = [
    case(
        "unknown patient",
        {"vital_signs.csv": VITALS + "MI-0999,1,37,95\n"},
        ("vital_signs.csv", 2, "participant_id"),
        "Unknown participant MI-0999: not in the study milan-anakinra",
    ),
    case(
        "day not a number",
        {"vital_signs.csv": VITALS + "MI-0001,day 1,37,95\n"},
        ("vital_signs.csv", 2, "study_day"),
        "'day 1' is not a whole number.",
    ),
    case(
        "day with decimals",
        {"vital_signs.csv": VITALS + "MI-0001,1.5,37,95\n"},
        ("vital_signs.csv", 2, "study_day"),
        "'1.5' is not a whole number.",
    ),
    case(
        "day after follow-up",
        {"vital_signs.csv": VITALS + "MI-0001,22,37,95\n"},
        ("vital_signs.csv", 2, "study_day"),
        "Study day 22 is after the end of follow-up (study day 21).",
    ),
    case(
        "day before enrolment",
        {"vital_signs.csv": VITALS + "MI-0001,-1,37,95\n"},
        ("vital_signs.csv", 2, "study_day"),
        "Study day -1 is before enrolment (study day 0).",
    ),
    case(
        "day missing",
        {"vital_signs.csv": VITALS + "MI-0001,,37,95\n"},
        ("vital_signs.csv", 2, "study_day"),
        "A value is required here.",
    ),
    case(
        "above the hard limit",
        {"vital_signs.csv": VITALS + "MI-0001,1,45,95\n"},
        ("vital_signs.csv", 2, "temperature_c"),
        "Temperature 45 degC is above the plausible maximum of 44 degC.",
    ),
    case(
        "below the hard limit",
        {"vital_signs.csv": VITALS + "MI-0001,1,37,45\n"},
        ("vital_signs.csv", 2, "spo2_pct"),
        "SpO2 45% is below the plausible minimum of 50%.",
    ),
    case(
        "FiO2 as a percentage",
        {"respiratory_support.csv": "participant_id,study_day,support,fio2,peep_cmh2o\nMI-0001,1,cpap,60,10\n"},
        ("respiratory_support.csv", 2, "fio2"),
        "FiO2 60 is above the plausible maximum of 1.",
    ),
    case(
        "soft limit not confirmed",
        {"vital_signs.csv": VITALS + "MI-0001,1,41.5,95\n"},
        ("vital_signs.csv", 2, "temperature_c"),
        "Temperature 41.5 degC is above 41 degC: add temperature_c.soft_high to the confirm column if it is correct.",
    ),
    case(
        "confirm code of another form",
        {"vital_signs.csv": "participant_id,study_day,temperature_c,confirm\nMI-0001,1,37,crp_mg_l.soft_high\n"},
        ("vital_signs.csv", 2, "confirm"),
        "crp_mg_l.soft_high: not a soft check of vital_signs",
    ),
    case(
        "dose unit missing",
        {"drug_administration.csv": DRUGS + "MI-0001,1,anakinra,5,,iv,bid\n"},
        ("drug_administration.csv", 2, "dose_unit"),
        "A value is required here: one of mg, mg/kg.",
    ),
    case(
        "dose unit column missing",
        {"drug_administration.csv": DRUGS.replace("dose_unit,", "") + "MI-0001,1,anakinra,5,iv,bid\n"},
        ("drug_administration.csv", 1, "dose_unit"),
        "The column dose_unit is missing.",
    ),
    case(
        "D-dimer basis missing",
        {"laboratory.csv": "participant_id,study_day,ddimer_ng_ml,ddimer_basis\nMI-0001,1,1500,\n"},
        ("laboratory.csv", 2, "ddimer_basis"),
        "Give the D-dimer's unit basis (FEU or DDU) as the report states.",
    ),
    case(
        "unknown unit",
        {"laboratory.csv": "participant_id,study_day,crp_mg_l,crp_entered_unit\nMI-0001,1,150,mg/dl/h\n"},
        ("laboratory.csv", 2, "crp_entered_unit"),
        "'mg/dl/h' is not one of the codes of crp_entered_unit: mg/L, mg/dL.",
    ),
    case(
        "duplicate row",
        {"vital_signs.csv": VITALS + "MI-0001,1,37,95\nMI-0001,1,37.2,96\n"},
        ("vital_signs.csv", 3, ""),
        "Duplicate row: participant_id MI-0001, study_day 1 is already on row 2 of this file.",
    ),
    case(
        "duplicate event row",
        {"adverse_events.csv": "participant_id,study_day,kind,serious\n" + "MI-0001,2,thromboembolism,true\n" * 2},
        ("adverse_events.csv", 3, ""),
        "Duplicate row",
    ),
    case(
        "row with a cell too many",
        {"vital_signs.csv": VITALS + "MI-0001,1,37,5,95\n"},
        ("vital_signs.csv", 2, ""),
        "The row has 5 cells but the header has 4 columns",
    ),
    case(
        "unterminated quote",
        {"vital_signs.csv": VITALS + 'MI-0001,1,"37,95\n'},
        ("vital_signs.csv", 2, ""),
        "The file is not valid CSV here: unexpected end of data.",
    ),
    case(
        "semicolons",
        {"vital_signs.csv": "participant_id;study_day;temperature_c\nMI-0001;1;37\n"},
        ("vital_signs.csv", 1, ""),
        "The columns are separated by semicolons: separate them with commas.",
    ),
    case(
        "thousands comma",
        {"laboratory.csv": 'participant_id,study_day,ferritin_ng_ml\nMI-0001,1,"1,000"\n'},
        ("laboratory.csv", 2, "ferritin_ng_ml"),
        "'1,000' is ambiguous: the comma may separate thousands (1000) or decimals (1.000). Write 1000 or 1.000.",
    ),
    case(
        "space inside a number",
        {"vital_signs.csv": VITALS + "MI-0001,1,37 5,95\n"},
        ("vital_signs.csv", 2, "temperature_c"),
        "'37 5' is not a number: a space may only separate groups of three digits (1 000).",
    ),
    case(
        "too many decimals",
        {"vital_signs.csv": VITALS + "MI-0001,1,37.25,95\n"},
        ("vital_signs.csv", 2, "temperature_c"),
        "37.25 has more decimals than temperature_c keeps (1).",
    ),
    case(
        "not yes or no",
        {"respiratory_support.csv": "participant_id,study_day,support,prone\nMI-0001,1,room_air,maybe\n"},
        ("respiratory_support.csv", 2, "prone"),
        "'maybe' is not yes or no",
    ),
    case(
        "wrong encoding",
        {"vital_signs.csv": (VITALS + "MI-0001,1,37,95\nMI-0001,2,37,95 r\xe9sum\xe9\n").encode("latin-1")},
        ("vital_signs.csv", 3, ""),
        "The file is not UTF-8 text: byte 0xe9 on row 3 cannot be read.",
    ),
    case(
        "empty file",
        {"vital_signs.csv": b""},
        ("vital_signs.csv", None, ""),
        "The file is empty: it needs at least the header row.",
    ),
    case(
        "unknown column",
        {"vital_signs.csv": "participant_id,study_day,temprature_c\nMI-0001,1,37\n"},
        ("vital_signs.csv", 1, "temprature_c"),
        "Unknown column temprature_c: vital_signs.csv has the columns participant_id, study_day, temperature_c,",
    ),
    case(
        "unknown file",
        {"vitals.csv": VITALS},
        ("vitals.csv", None, ""),
        "Unknown file name: name each file after its table",
    ),
    case(
        "not a zip",
        {"export.zip": b"PK not really"},
        ("export.zip", None, ""),
        "The file is not a readable zip archive",
    ),
    case(
        "empty row",
        {"vital_signs.csv": VITALS + "MI-0001,1,,\n"},
        ("vital_signs.csv", 2, ""),
        "The row has no values: nothing to import.",
    ),
    case(
        "data after death",
        {
            "disposition_events.csv": "participant_id,study_day,kind,cause_of_death\nMI-0001,3,death,ARDS\n",
            "vital_signs.csv": VITALS + "MI-0001,4,37,95\n",
        },
        ("vital_signs.csv", 2, "study_day"),
        "Study day 4 is after the patient's death on study day 3.",
    ),
    case(
        "new patient in an unknown arm",
        {"patients.csv": "participant_id,site,arm,sex,age_years\nMI-0200,MI,placebo,M,60\n"},
        ("patients.csv", 2, "arm"),
        "The study has no arm placebo (its arms: high_dose, standard).",
    ),
    case(
        "day 0 in the future",
        {"patients.csv": "participant_id,site,arm,sex,age_years,enrolment_date\nMI-0200,MI,standard,M,60,2999-01-01\n"},
        ("patients.csv", 2, "enrolment_date"),
        "Day 0 cannot be in the future.",
    ),
    case(
        "day 0 before 2000",
        {"patients.csv": "participant_id,site,arm,sex,age_years,enrolment_date\nMI-0200,MI,standard,M,60,0202-04-01\n"},
        ("patients.csv", 2, "enrolment_date"),
        "Check the year: a day 0 before 2000 is not plausible.",
    ),
    case(
        "NUL character",
        {"adverse_events.csv": "participant_id,study_day,kind,description\nMI-0001,1,other,bad\x00text\n"},
        ("adverse_events.csv", 2, "description"),
        "The cell contains a NUL character",
    ),
    case(
        "new patient too young",
        {"patients.csv": "participant_id,site,arm,sex,age_years\nMI-0200,MI,standard,M,17\n"},
        ("patients.csv", 2, "age_years"),
        "Not eligible: the protocol's inclusion criterion is age >= 18 years (Age: 17).",
    ),
    case(
        "weight above 200 kg not confirmed",
        {"patients.csv": "participant_id,site,arm,sex,age_years,weight_kg\nMI-0200,MI,standard,M,60,215\n"},
        ("patients.csv", 2, "weight_kg"),
        "Weight 215 kg is above 200 kg: add weight_kg.soft_high to the confirm column if it is correct.",
    ),
    case(
        "high-dose patient without weight",
        {"patients.csv": "participant_id,site,arm,sex,age_years\nMI-0200,MI,high_dose,M,60\n"},
        ("patients.csv", 2, "weight_kg"),
        "The High-dose anakinra arm is dosed per kg: give the weight.",
    ),
    case(
        "patient moved to another arm",
        {"patients.csv": "participant_id,site,arm,sex,age_years\nMI-0001,MI,standard,M,62\n"},
        ("patients.csv", 2, "arm"),
        "Participant MI-0001 is stored with arm high_dose, not standard",
    ),
    case(
        "rows of a refused patient",
        {
            "patients.csv": "participant_id,site,arm,sex,age_years\nMI-0200,XX,standard,M,60\n",
            "vital_signs.csv": VITALS + "MI-0200,0,37,95\n",
        },
        ("vital_signs.csv", 2, "participant_id"),
        "Participant MI-0200 was refused in patients.csv row 2.",
    ),
]


@pytest.mark.parametrize(("files", "where", "message"), BAD)
def test_bad_input_is_refused_with_file_row_column_and_a_precise_message(setup, files, where, message):
    study, user = setup
    before_records, before_history = records(), history_rows()
    report = run(study, user, files)
    assert not report.ok and not report.stored
    found = [p for p in report.problems if (p.file, p.row, p.column) == where]
    assert found, [str(p) for p in report.problems]
    assert any(message in p.message for p in found), [p.message for p in found]
    assert records() == before_records and history_rows() == before_history
    assert report.summary().startswith("Nothing was imported")


CELL = st.one_of(
    st.text(alphabet=st.sampled_from(list('0123456789.,-+ eE;"\nabcxyzé\x00'))),
    st.sampled_from(["MI-0001", "true", "cpap", "37.5", "0", "-1", "1e9"]),
)


@st.composite
def csv_like(draw):
    """A header of a table's columns (sometimes one unknown) and rows of arbitrary cells, or arbitrary bytes."""
    table = draw(st.sampled_from(importing.TABLES))
    if draw(st.booleans()):
        return table, draw(st.binary(max_size=200))
    names = draw(st.lists(st.sampled_from([*importing.COLUMNS[table], "other"]), min_size=1, max_size=6, unique=True))
    rows = draw(st.lists(st.lists(CELL, min_size=len(names), max_size=len(names) + 1), max_size=4))
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["participant_id", "study_day", *names] if draw(st.booleans()) else names)
    writer.writerows(rows)
    return table, buffer.getvalue().encode("utf-8")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=csv_like())
def test_any_file_gives_a_report_never_a_server_error_and_a_refused_one_stores_nothing(setup, case):
    study, user = setup
    table, content = case
    before = history_rows()
    report = importing.crf_import(study=study, sources=[Source(f"{table}.csv", content)], user=user)
    assert all(p.message for p in report.problems)
    if not report.ok:
        assert history_rows() == before


def test_one_bad_row_stores_nothing_of_any_file(setup):
    study, user = setup
    before_records, before_history = records(), history_rows()
    files = dict(GOOD)
    files["adverse_events.csv"] += "MI-0101,6,bacteraemia,,,true\n"  # bacteraemia without its organism
    report = run(study, user, files)
    assert [str(p) for p in report.problems] == [
        "adverse_events.csv, row 3, column organism: Give the organism grown in the blood culture (or 'pending')."
    ]
    assert records() == before_records and history_rows() == before_history
    assert not Patient.objects.filter(participant_id="MI-0101").exists()


def test_every_problem_of_every_file_is_reported_at_once_in_file_and_row_order(setup):
    study, user = setup
    report = run(
        study,
        user,
        {
            "vital_signs.csv": VITALS + "MI-0001,1,45,95\nMI-0001,2,37,101\nMI-0999,3,37,95\n",
            "laboratory.csv": "participant_id,study_day,crp_mg_l\nMI-0001,1,-4\n",
            "unknown.csv": "a,b\n",
        },
    )
    assert [p.where() for p in report.problems] == [
        "vital_signs.csv, row 2, column temperature_c",
        "vital_signs.csv, row 3, column spo2_pct",
        "vital_signs.csv, row 4, column participant_id",
        "laboratory.csv, row 2, column crp_mg_l",
        "unknown.csv",
    ]


def test_a_locked_study_refuses_the_import_with_a_clear_message(setup):
    study, user = setup
    study.is_locked = True
    study.save(update_fields=["is_locked"])
    before_history = history_rows()
    report = run(study, user, GOOD)
    assert [str(p) for p in report.problems] == [
        "The study milan-anakinra is locked for a data release; unlock it (with a reason) to change data."
    ]
    assert history_rows() == before_history


def test_nothing_to_import_is_a_problem(setup):
    study, user = setup
    assert [p.code for p in importing.crf_import(study=study, sources=[], user=user).problems] == ["no_files"]


# --------------------------------------------------------------------------------------------------- command


def test_import_crf_command_imports_a_folder_and_exits_with_the_problems(setup, tmp_path, capsys):
    study, _ = setup
    for name, text in GOOD.items():
        (tmp_path / name).write_text(text)
    call_command("import_crf", str(tmp_path), "--study", study.code, "--user", "data_manager")
    out = capsys.readouterr().out
    assert "vital_signs.csv: 4 rows, 4 new, 0 changed, 0 unchanged" in out
    assert "Imported 17 rows: 17 new" in out
    assert VitalSigns.history.filter(history_user__username="data_manager").count() == 4

    bad = tmp_path / "bad" / "vital_signs.csv"
    bad.parent.mkdir()
    bad.write_text(VITALS + "MI-0001,1,45,95\n")
    with pytest.raises(CommandError, match=r"Nothing was imported: 1 problem\."):
        call_command("import_crf", str(bad))  # the only study is found without --study
    assert "vital_signs.csv, row 2, column temperature_c: Temperature 45 degC" in capsys.readouterr().err


def test_import_crf_command_refuses_missing_paths_and_unknown_studies(setup, tmp_path):
    with pytest.raises(CommandError, match="No such file or folder"):
        call_command("import_crf", str(tmp_path / "nothing.csv"))
    with pytest.raises(CommandError, match="No study nope"):
        call_command("import_crf", str(tmp_path), "--study", "nope")


# ------------------------------------------------------------------------------------------------------ page


def upload(name: str, text: str | bytes):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode() if isinstance(text, str) else text, content_type="text/csv")


def test_the_upload_page_lists_the_files_and_columns(client, setup, django_assert_max_num_queries):
    study, user = setup
    client.force_login(user)
    with django_assert_max_num_queries(6):
        page = client.get(f"/studies/{study.code}/import/")
    text = page.content.decode()
    assert page.status_code == 200
    assert "patients.csv" in text and "<strong>dose_unit</strong>" in text and "Check only" in text


def run_uploaded(client, response):
    """The job an upload queued, run as the worker runs it; its page afterwards."""
    from ecrf import import_jobs

    assert response.status_code == 302, response.content.decode()[:2000]
    job_page = response["Location"]
    queued = client.get(job_page).content.decode()
    assert "Waiting for the background worker" in queued
    import_jobs.import_run(job_id=int(job_page.strip("/").split("/")[-1]))
    return client.get(job_page)


def test_the_upload_page_imports_the_files_and_shows_the_counts(client, setup):
    study, user = setup
    client.force_login(user)
    files = [upload(name, text) for name, text in GOOD.items()]
    page = run_uploaded(client, client.post(f"/studies/{study.code}/import/", {"files": files}))
    text = page.content.decode()
    assert "Imported 17 rows: 17 new, 0 changed, 0 unchanged." in text
    assert Patient.objects.filter(participant_id="MI-0101").exists()
    assert VitalSigns.history.filter(history_change_reason="import: vital_signs.csv").count() == 4


def test_the_upload_page_shows_every_problem_and_stores_nothing(client, setup):
    study, user = setup
    client.force_login(user)
    before = history_rows()
    response = client.post(
        f"/studies/{study.code}/import/",
        {"files": [upload("vital_signs.csv", VITALS + "MI-0001,1,45,95\n"), upload("laboratory.csv", b"")]},
    )
    page = run_uploaded(client, response)
    text = page.content.decode()
    assert page.status_code == 200
    assert "Nothing was imported: 2 problems." in text
    assert "Temperature 45 degC is above the plausible maximum of 44 degC." in text
    assert "The file is empty" in text
    assert history_rows() == before


def test_the_upload_page_says_a_locked_study_refuses(client, setup):
    study, user = setup
    study.is_locked = True
    study.save(update_fields=["is_locked"])
    client.force_login(user)
    page = client.get(f"/studies/{study.code}/import/")
    assert "is locked for a data release" in page.content.decode()
    page = client.post(f"/studies/{study.code}/import/", {"files": [upload("vital_signs.csv", VITALS)]})
    assert "is locked for a data release; unlock it" in page.content.decode()


def test_the_home_page_offers_the_import_to_data_managers_only(client, setup, users):
    study, user = setup
    client.force_login(user)
    assert f"/studies/{study.code}/import/" in client.get("/").content.decode()
    client.force_login(users["nurse"])
    assert f"/studies/{study.code}/import/" not in client.get("/").content.decode()


def test_the_release_tables_are_the_import_tables():
    assert set(CATALOGUE) <= set(releases.DATA_TABLES)


def test_an_archive_too_large_is_refused(setup, monkeypatch):
    study, user = setup
    monkeypatch.setattr(importing.files, "MAX_ARCHIVE_FILES", 1)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("vital_signs.csv", VITALS)
        archive.writestr("laboratory.csv", "participant_id,study_day\n")
    report = run(study, user, {"big.zip": buffer.getvalue()})
    assert [(p.file, p.code) for p in report.problems] == [("big.zip", "archive_too_large")]


def test_the_import_page_links_the_format_served_as_a_page(client, setup):
    study, user = setup
    client.force_login(user)
    page = client.get(f"/studies/{study.code}/import/").content.decode()
    assert 'href="/help/import-format/"' in page
    help_page = client.get("/help/import-format/")
    assert help_page.status_code == 200
    html = help_page.content.decode()
    assert "<h2>How an import behaves</h2>" in html and "<th>column</th>" in html.lower()
    assert "<code>1,000</code>" in html  # the numbers section, from the document itself
    assert client.get("/help/no-such-document/").status_code == 404


def test_the_help_renderer_escapes_everything_and_links_only_web_addresses():
    from ecrf.help_pages import render_markdown

    html = render_markdown(
        "# T <script>\n\nA *b* **c** `<i>` [web](https://example.org) [doc](other.md) [js](javascript:alert(1))\n\n"
        "- one\n  - two <b>\n"
    )
    assert "<script>" not in html and "&lt;script&gt;" in html and "<code>&lt;i&gt;</code>" in html
    assert '<a href="https://example.org" rel="noopener noreferrer">web</a>' in html
    assert "doc" in html and "other.md" not in html and "javascript:" not in html
    assert "<ul><li>one<ul><li>two &lt;b&gt;</li></ul></li></ul>" in html


# --------------------------------------------------------------------------------------- days still to come


def test_rows_for_days_that_have_not_happened_yet_are_refused(setup, site_a):
    import datetime

    from cohorts.clock import site_today

    study, user = setup
    today = site_today(site_a)
    patients = f"participant_id,site,arm,enrolment_date,sex,age_years,weight_kg\nMI-0150,MI,high_dose,{today},F,60,70\n"
    files = {
        "patients.csv": patients,
        "vital_signs.csv": "participant_id,study_day,temperature_c\nMI-0150,0,37.2\nMI-0150,3,37.0\n",
        "drug_administration.csv": "participant_id,study_day,drug,dose,dose_unit,route,frequency\n"
        "MI-0150,7,anakinra,5,mg/kg,iv,bid\n",
    }
    report = run(study, user, files)
    assert not report.stored
    assert [(p.file, p.row, p.column, p.code) for p in report.problems] == [
        ("vital_signs.csv", 3, "study_day", "study_day.future"),
        ("drug_administration.csv", 2, "study_day", "study_day.future"),
    ]
    day3 = today + datetime.timedelta(days=3)
    assert f"Study day 3 is {day3.day} {day3:%b %Y}, after today" in report.problems[0].message


def test_a_patient_without_enrolment_date_has_every_follow_up_day_in_the_past_at_the_site(setup, site_a, monkeypatch):
    import datetime

    from django.utils import timezone

    study, user = setup
    site_a.time_zone = "America/New_York"
    site_a.save()
    # 23:30 UTC on 12 Dec 2026: already 13 Dec in Rome (the project's time zone), still 12 Dec in New York.
    monkeypatch.setattr(timezone, "now", lambda: datetime.datetime(2026, 12, 12, 23, 30, tzinfo=datetime.UTC))
    report = run(study, user, {"patients.csv": "participant_id,site,arm,sex,age_years\nMI-0151,MI,standard,F,60\n"})
    assert report.ok, [str(p) for p in report.problems]
    # Releases carry no calendar dates: day 0 is the follow-up (21 days) before today in New York, 12 Dec.
    assert Patient.objects.get(participant_id="MI-0151").enrolment_date == datetime.date(2026, 11, 21)
    # Day 0 on 13 Dec would be a day that has not happened yet in New York: refused.
    header = "participant_id,site,arm,enrolment_date,sex,age_years\n"
    files = {"patients.csv": header + "MI-0152,MI,standard,2026-12-13,F,60\n"}
    assert [p.code for p in run(study, user, files).problems] == ["future"]


def test_a_dose_above_the_drugs_maximum_is_refused_with_its_range_not_a_digit_count(setup):
    study, user = setup
    files = {
        "drug_administration.csv": "participant_id,study_day,drug,dose,dose_unit,route,frequency,confirm\n"
        "MI-0001,1,anakinra,99999999999,mg,iv,bid,dose.regimen\n"
    }
    report = run(study, user, files)
    assert [str(p) for p in report.problems] == [
        "drug_administration.csv, row 2, column dose: Anakinra dose 99999999999 mg is above the plausible maximum of "
        "1000 mg."
    ]
