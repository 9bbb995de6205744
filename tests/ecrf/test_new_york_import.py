"""A New York case series written by hand in the documented CSV format (docs/import-format.md), imported with
``import_crf``, derived, and tabulated (clinical definitions §2.3, §3.4, §4.10): the timing groups, the ventilation
counts and durations and the outcomes come out as the narrative says. Its drug, episode and event rows give their
local date and time and leave the study day empty: the import computes it."""

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from analysis import datasets, tables
from cohorts import roles
from cohorts.models import Site
from cohorts.team import grant
from ecrf import derivation_job
from ecrf.models import DerivedCourse, DrugAdministration, VentilationEpisode
from tests import factories

PATIENTS = """participant_id,site,arm,enrolment_date,sex,age_years,oxygen_criterion_at
NY-01,NY,anakinra,2020-04-01,M,58,2020-04-01 06:00
NY-02,NY,anakinra,2020-04-02,F,64,2020-04-01 22:00
NY-03,NY,anakinra,2020-04-03,M,49,2020-04-03 01:30
NY-04,NY,anakinra,2020-04-03,M,71,2020-03-30 09:00
NY-05,NY,anakinra,2020-04-04,F,66,2020-03-31 08:00
NY-06,NY,anakinra,2020-04-05,M,60,2020-04-05 07:00
"""
# Anakinra 100 mg SC q6h, tapered: NY-01 starts 6 h after the criterion, NY-02 36 h (early, the limit), NY-03 20 h;
# NY-04 96 h after (late, the limit), NY-05 5 days after; NY-06 gets tocilizumab only.
DRUGS = """participant_id,study_day,started_at,drug,drug_detail,dose,dose_unit,route,frequency,stop_day,stopped_at
NY-01,,2020-04-01 12:00,anakinra,,100,mg,sc,q6h,,2020-04-05 12:00
NY-01,,2020-04-05 18:00,anakinra,,100,mg,sc,q8h,,2020-04-09 18:00
NY-02,,2020-04-03 10:00,anakinra,,100,mg,sc,q6h,,2020-04-08 10:00
NY-03,,2020-04-03 21:30,anakinra,,100,mg,sc,q6h,,2020-04-10 21:30
NY-04,,2020-04-03 09:00,anakinra,,100,mg,sc,q6h,,2020-04-15 09:00
NY-05,,2020-04-05 08:00,anakinra,,100,mg,sc,q6h,,2020-04-18 08:00
NY-06,,2020-04-05 12:00,tocilizumab,,400,mg,iv,once,,
"""
# NY-04 on the ventilator 7 days; NY-05 extubated after 6 days, re-intubated the next day (a failed extubation) for
# 12 more days; NY-06 intubated 9 days.
EPISODES = """participant_id,study_day,intubated_at,end_day,ended_at,end_reason
NY-04,,2020-04-04 10:00,,2020-04-11 10:00,extubated
NY-05,,2020-04-05 14:00,,2020-04-11 14:00,extubated
NY-05,,2020-04-12 14:00,,2020-04-24 14:00,extubated
NY-06,,2020-04-06 03:00,,2020-04-15 03:00,extubated
"""
EVENTS = """participant_id,study_day,occurred_at,kind,normal_activities,alive,cause_of_death
NY-01,,2020-04-10 11:00,discharged,true,,
NY-02,,2020-04-12 15:00,discharged,true,,
NY-03,,2020-04-13 10:00,discharged,false,,
NY-04,,2020-04-03 20:00,icu_admission,,,
NY-04,,2020-04-13 09:00,icu_discharge,,,
NY-04,,2020-04-20 12:00,discharged,false,,
NY-05,,2020-04-05 12:00,icu_admission,,,
NY-06,,2020-04-20 16:00,discharged,true,,
"""
SUPPORT = """participant_id,study_day,support,flow_l_min,fio2,peep_cmh2o
NY-01,3,nasal_cannula,2,,
NY-02,4,room_air,,,
NY-03,5,nasal_cannula,4,,
"""


@pytest.fixture
def series(db, users, tmp_path):
    study = factories.StudyFactory(code="ny-import", title="NY import", protocol="new_york_2020", follow_up_days=28)
    site = Site.objects.create(code="NY", name="New York", time_zone="America/New_York")
    site.studies.add(study)
    factories.ArmFactory(
        study=study,
        code="anakinra",
        name="Anakinra",
        regimen=[{"drug": "anakinra", "dose": 100, "unit": "mg", "route": "sc", "frequency": "q6h"}],
    )
    grant(users["data_manager"], study, roles.DATA_MANAGER, reason="test")
    files = {
        "patients.csv": PATIENTS,
        "drug_administration.csv": DRUGS,
        "ventilation_episodes.csv": EPISODES,
        "disposition_events.csv": EVENTS,
        "respiratory_support.csv": SUPPORT,
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    call_command("import_crf", str(tmp_path), "--study", study.code, "--user", "data_manager")
    derivation_job.derive_study(study)
    return study


def courses(study) -> dict[str, dict]:
    rows = DerivedCourse.objects.filter(patient__study=study).values(
        "patient__participant_id",
        "hours_to_anakinra",
        "timing_group",
        "imv_episodes",
        "imv_days",
        "failed_extubations",
        "ventilator_free_days",
        "ny_response",
        "ny_failure",
        "discharged",
    )
    return {row.pop("patient__participant_id"): row for row in rows}


def test_the_study_days_come_from_the_local_dates_of_the_times(series):
    first = DrugAdministration.objects.get(patient__participant_id="NY-03", frequency="q6h")
    # 3 April 21:30 in New York is 4 April in UTC, and day 0 of NY-03 is 3 April: day 0, stop on day 7
    assert (first.study_day, first.stop_day) == (0, 7)
    second = VentilationEpisode.objects.get(patient__participant_id="NY-05", study_day=8)
    assert second.end_day == 20


def test_the_timing_groups_and_ventilation_are_as_the_series_tells(series):
    got = courses(series)
    assert {pid: (row["timing_group"], row["hours_to_anakinra"]) for pid, row in got.items()} == {
        "NY-01": ("early", 6.0),
        "NY-02": ("early", 36.0),
        "NY-03": ("early", 20.0),
        "NY-04": ("late", 96.0),
        "NY-05": ("late", 120.0),
        "NY-06": ("not_treated", None),
    }
    assert {pid: (row["imv_episodes"], row["imv_days"], row["failed_extubations"]) for pid, row in got.items()} == {
        "NY-01": (0, 0.0, 0),
        "NY-02": (0, 0.0, 0),
        "NY-03": (0, 0.0, 0),
        "NY-04": (1, 7.0, 0),
        "NY-05": (2, 18.0, 1),
        "NY-06": (1, 9.0, 0),
    }
    assert [got[pid]["ny_response"] for pid in ("NY-01", "NY-02", "NY-03")] == [True, True, False]  # 4 L/min is not
    assert all(got[pid]["ny_failure"] for pid in ("NY-04", "NY-05", "NY-06"))
    assert got["NY-05"]["ventilator_free_days"] == 10.0 and not got["NY-05"]["discharged"]


def test_the_case_series_table_of_the_imported_series(series):
    frames = datasets.study_frames(series)
    table = datasets.compute_results(frames, case_series=datasets.case_series_of(series)).case_series.wide
    assert list(table.columns) == ["Early (<= 36 h) (n=3)", "Late (>= 96 h) (n=2)", "Not treated (n=1)"]
    assert table.loc["Intubated"].tolist() == ["0 (0%)", "2 (100%)", "1 (100%)"]
    assert table.loc["Ventilation days, median (range)"].tolist() == ["-", "12.5 (7.0-18.0)", "9.0 (9.0-9.0)"]
    assert table.loc["Still in hospital"].tolist() == ["0 (0%)", "1 (50%)", "0 (0%)"]
    assert tables.CASE_SERIES_ROWS[0].key == "patients"


def test_an_extubation_before_its_intubation_refuses_the_whole_file(db, users, tmp_path, capsys):
    study = factories.StudyFactory(code="ny-bad", title="NY bad", protocol="new_york_2020", follow_up_days=28)
    site = Site.objects.create(code="NZ", name="New York", time_zone="America/New_York")
    site.studies.add(study)
    factories.ArmFactory(study=study, code="anakinra", name="Anakinra")
    grant(users["data_manager"], study, roles.DATA_MANAGER, reason="test")
    (tmp_path / "patients.csv").write_text(PATIENTS.replace(",NY,", ",NZ,"))
    (tmp_path / "ventilation_episodes.csv").write_text(
        "participant_id,study_day,intubated_at,end_day,ended_at,end_reason\n"
        "NY-04,,2020-04-04 10:00,,2020-04-04 09:00,extubated\n"
    )
    with pytest.raises(CommandError) as refused:
        call_command("import_crf", str(tmp_path), "--study", study.code, "--user", "data_manager")
    captured = capsys.readouterr()
    said = str(refused.value) + captured.out + captured.err
    assert "ventilation_episodes.csv" in said and "4 Apr 2020 09:00 is not after the start (4 Apr 2020 10:00)" in said
    assert not VentilationEpisode.objects.exists() and not study.patients.exists()
