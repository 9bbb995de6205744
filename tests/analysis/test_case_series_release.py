"""The New York case series in the analysis page and the locked release (clinical definitions §3.4, §4.10): the
patients' courses as a data table, the table by timing group, the swimmer plot; a Milan study shows none of them."""

import datetime
import json
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from analysis import releases
from cohorts import roles
from cohorts.models import Site, Study
from cohorts.team import grant
from ecrf import derivation_job, services
from ecrf.services import RecordInput
from tests import factories
from tests.analysis import release_data

NEW_YORK = ZoneInfo("America/New_York")
ENROLLED = datetime.date(2020, 4, 1)
ANAKINRA = {"drug": "anakinra", "dose": Decimal(100), "dose_unit": "mg", "route": "sc", "frequency": "q6h"}


def local(day: int, hour: int) -> datetime.datetime:
    date = ENROLLED + datetime.timedelta(days=day)
    return datetime.datetime(date.year, date.month, date.day, hour, tzinfo=NEW_YORK)


@pytest.fixture
def series(db, users, settings, tmp_path):
    """Three patients: early (12 h) and never intubated; late (98 h) intubated days 4-11 and discharged; not
    treated with anakinra."""
    release_data.use_release_root(settings, tmp_path)
    study = factories.StudyFactory(code="ny-series", title="NY series", protocol="new_york_2020", follow_up_days=28)
    site = Site.objects.create(code="NY", name="New York", time_zone="America/New_York")
    site.studies.add(study)
    arm = factories.ArmFactory(study=study, code="anakinra", name="Anakinra")
    for role in (roles.DATA_MANAGER, roles.INVESTIGATOR):
        grant(users[role], study, role, [site], reason="test")
    nurse = users["admin"]
    patients = [
        factories.PatientFactory(
            study=study,
            site=site,
            arm=arm,
            participant_id=f"NY-000{n}",
            enrolment_date=ENROLLED,
            oxygen_criterion_at=local(0, 6),
        )
        for n in (1, 2, 3)
    ]

    def save(form, patient, **values):
        services.event_save(form=form, patient=patient, entry=RecordInput(values), user=nurse)

    save("drug_administration", patients[0], study_day=0, started_at=local(0, 18), **ANAKINRA)
    save("disposition_events", patients[0], study_day=9, kind="discharged", normal_activities=True)
    save("drug_administration", patients[1], study_day=4, started_at=local(4, 8), **ANAKINRA)
    save(
        "ventilation_episodes",
        patients[1],
        study_day=4,
        intubated_at=local(4, 2),
        end_day=11,
        ended_at=local(11, 2),
        end_reason="extubated",
    )
    save("disposition_events", patients[1], study_day=20, kind="discharged", normal_activities=False)
    save(
        "drug_administration",
        patients[2],
        study_day=1,
        **{**ANAKINRA, "drug": "tocilizumab", "dose": Decimal(400), "route": "iv", "frequency": "once"},
    )
    derivation_job.derive_study(study)
    return study


def test_the_release_freezes_the_courses_the_case_series_table_and_the_swimmer_plot(series, users):
    release = release_data.lock(series, users["data_manager"])
    folder = releases.release_folder(release)
    courses = releases.read_table(folder, "patient_courses").set_index("participant_id")
    assert courses.loc["NY-0001", "timing_group"] == "early" and courses.loc["NY-0001", "hours_to_anakinra"] == 12.0
    assert courses.loc["NY-0002", "timing_group"] == "late" and courses.loc["NY-0002", "hours_to_anakinra"] == 98.0
    assert courses.loc["NY-0002", "imv_days"] == 7.0 and courses.loc["NY-0002", "ventilator_free_days"] == 21.0
    assert courses.loc["NY-0003", "timing_group"] == "not_treated"
    table = releases.read_table(folder, "case_series_table")
    intubated = table.loc[table["row"].eq("intubated")].set_index("group")["text"].to_dict()
    assert intubated == {"early": "0 (0%)", "late": "1 (100%)", "not_treated": "0 (0%)"}
    paths = {item["path"] for item in release.manifest["files"]}
    assert {"figures/swimmer.png", "figures/swimmer.svg"} <= paths
    svg = (folder / "figures/swimmer.svg").read_text()
    assert all(participant in svg for participant in ("NY-0001", "NY-0002", "NY-0003"))
    display = json.loads((folder / "results/display.json").read_text())
    assert display["case_series"]["columns"] == ["Early (<= 36 h) (n=1)", "Late (>= 96 h) (n=1)", "Not treated (n=1)"]
    codebook = releases.read_table(folder, "codebook")
    documented = set(codebook.loc[codebook["table"].eq("patient_courses"), "variable"])
    assert {"hours_to_anakinra", "timing_group", "ventilator_free_days"} <= documented


def test_the_analysis_page_shows_the_case_series_of_live_data(series, client, users):
    client.force_login(users["investigator"])
    page = client.get(f"/studies/{series.code}/analysis/?data=live").content.decode()
    assert "Case series by time from the oxygen criterion to the first anakinra dose" in page
    assert f"/studies/{series.code}/analysis/figures/swimmer.png" in page
    figure = client.get(f"/studies/{series.code}/analysis/figures/swimmer.png")
    assert figure.status_code == 200 and figure.content.startswith(b"\x89PNG")


def test_a_milan_study_has_no_case_series(study, users, client, patient_a):
    client.force_login(users["investigator"])
    page = client.get(f"/studies/{study.code}/analysis/?data=live").content.decode()
    assert "Case series" not in page and "swimmer" not in page
    assert client.get(f"/studies/{study.code}/analysis/figures/swimmer.png").status_code == 404
    assert Study.objects.get(pk=study.pk).protocol == "milan_2020"
