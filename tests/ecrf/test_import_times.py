"""Times in the CSV import (issue 17, docs/import-format.md): a local date and time is the clock time at the patient's
site (its IANA zone), one with an offset is exact; a time of day (``22:30``, ``22:30-04:00``: what a release writes) is
that clock time on the study day of its row, its offset being the site's; a local time a daylight-saving change skips
or repeats is refused with its row and column; every refusal of the validators and services (clinical definitions
§2.3) comes out in the report next to its row and column, and nothing at all is stored."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from cohorts.models import Patient
from ecrf import importing, services
from ecrf.importing import Source
from ecrf.models import DispositionEvent, DrugAdministration, VentilationEpisode
from ecrf.services import RecordInput
from tests import factories

NEW_YORK = ZoneInfo("America/New_York")
UTC = datetime.UTC
DRUG_HEADER = "participant_id,study_day,started_at,drug,drug_detail,dose,dose_unit,route,frequency,stop_day,stopped_at"
EPISODE_HEADER = "participant_id,study_day,intubated_at,end_day,ended_at,end_reason"


@pytest.fixture
def new_york(study):
    return factories.SiteFactory(code="NY", name="New York", time_zone="America/New_York", studies=[study])


@pytest.fixture
def patient(study, new_york, arms):
    """Day 0 is 1 Apr 2020 in New York (UTC-4)."""
    return factories.PatientFactory(
        study=study, site=new_york, arm=arms["standard"], participant_id="NY-0001",
        enrolment_date=datetime.date(2020, 4, 1),
    )  # fmt: skip


@pytest.fixture
def user(users):
    return users["data_manager"]


def run(study, user, files: dict[str, str]) -> importing.ImportReport:
    sources = [Source(name, text.encode()) for name, text in files.items()]
    return importing.crf_import(study=study, sources=sources, user=user)


def drugs(*rows: str) -> dict[str, str]:
    return {"drug_administration.csv": "\n".join([DRUG_HEADER, *rows]) + "\n"}


def episodes(*rows: str) -> dict[str, str]:
    return {"ventilation_episodes.csv": "\n".join([EPISODE_HEADER, *rows]) + "\n"}


def problems(report) -> list[tuple[str, int | None, str]]:
    return [(p.file, p.row, p.column) for p in report.problems]


def stored() -> dict[str, int]:
    models = (DrugAdministration, VentilationEpisode, DispositionEvent)
    return {model.__name__: model.objects.count() for model in models}


def refused_alone(report, file: str, row: int, column: str, words: str, before: dict[str, int]) -> None:
    """One problem, on that row and column, saying ``words``; nothing stored."""
    assert not report.ok
    assert problems(report) == [(file, row, column)], [str(p) for p in report.problems]
    assert words in report.problems[0].message, report.problems[0].message
    assert stored() == before


# ------------------------------------------------------------------------------------------------ local and exact


def test_a_local_time_is_the_clock_time_at_the_patient_s_site(study, patient, user):
    report = run(study, user, drugs("NY-0001,0,2020-04-01 22:00,anakinra,,100,mg,sc,q6h,1,2020-04-02T21:30"))
    assert report.ok, [str(p) for p in report.problems]
    drug = DrugAdministration.objects.get(patient=patient)
    assert drug.started_at == datetime.datetime(2020, 4, 2, 2, 0, tzinfo=UTC)  # 22:00 EDT = 02:00 UTC next day
    assert drug.stopped_at == datetime.datetime(2020, 4, 3, 1, 30, tzinfo=UTC)
    assert drug.history.get().history_change_reason == "import: drug_administration.csv"


def test_a_time_with_an_offset_is_exact(study, patient, user):
    report = run(study, user, drugs("NY-0001,0,2020-04-01T22:00+02:00,anakinra,,100,mg,sc,q6h,,"))
    assert report.ok, [str(p) for p in report.problems]
    assert DrugAdministration.objects.get(patient=patient).started_at == datetime.datetime(
        2020, 4, 1, 20, 0, tzinfo=UTC
    )


def test_the_same_moment_written_locally_or_with_its_offset_is_one_record(study, patient, user):
    assert run(study, user, drugs("NY-0001,0,2020-04-01 22:00,anakinra,,100,mg,sc,q6h,,")).ok
    again = run(study, user, drugs("NY-0001,0,2020-04-02T02:00Z,anakinra,,100,mg,sc,q6h,,"))
    assert again.ok and again.files[0].unchanged == 1
    assert DrugAdministration.objects.count() == 1


@pytest.mark.parametrize(
    ("enrolment", "cell", "words"),
    [
        # 8 Mar 2020: New York's clocks jump from 02:00 to 03:00.
        (datetime.date(2020, 3, 8), "2020-03-08 02:30", "2020-03-08 02:30 does not exist in America/New_York"),
        # 1 Nov 2020: they go back from 02:00 to 01:00, so 01:30 happens twice.
        (datetime.date(2020, 11, 1), "2020-11-01T01:30", "2020-11-01 01:30 occurs twice in America/New_York"),
    ],
)
def test_a_local_time_a_daylight_saving_change_skips_or_repeats_is_refused(
    study, patient, user, enrolment, cell, words
):
    Patient.objects.filter(pk=patient.pk).update(enrolment_date=enrolment)
    before = stored()
    report = run(study, user, drugs(f"NY-0001,0,{cell},anakinra,,100,mg,sc,q6h,,"))
    refused_alone(report, "drug_administration.csv", 2, "started_at", words, before)
    assert "offset" in report.problems[0].message


def test_the_repeated_hour_with_its_offset_is_accepted(study, patient, user):
    Patient.objects.filter(pk=patient.pk).update(enrolment_date=datetime.date(2020, 11, 1))
    report = run(study, user, drugs("NY-0001,0,2020-11-01T01:30-05:00,anakinra,,100,mg,sc,q6h,,"))
    assert report.ok, [str(p) for p in report.problems]
    assert DrugAdministration.objects.get().started_at == datetime.datetime(2020, 11, 1, 6, 30, tzinfo=UTC)


@pytest.mark.parametrize("cell", ["25:00", "22h00", "2020-04-01", "10 pm"])
def test_a_cell_that_is_not_a_time_is_refused(study, patient, user, cell):
    before = stored()
    report = run(study, user, drugs(f"NY-0001,0,{cell},anakinra,,100,mg,sc,q6h,,"))
    refused_alone(report, "drug_administration.csv", 2, "started_at", f"'{cell}' is not a time", before)


def test_a_time_takes_a_missing_data_code(study, patient, user):
    report = run(study, user, drugs("NY-0001,0,UNK,anakinra,,100,mg,sc,q6h,,"))
    assert report.ok, [str(p) for p in report.problems]
    drug = DrugAdministration.objects.get()
    assert drug.started_at is None and drug.missing_codes == {"started_at": "unknown"}


# ---------------------------------------------------------------------------------- the refusals of the validators


def test_a_time_on_another_day_than_its_row_is_refused(study, patient, user):
    before = stored()
    report = run(study, user, drugs("NY-0001,1,2020-04-01 22:00,anakinra,,100,mg,sc,q6h,,"))
    refused_alone(report, "drug_administration.csv", 2, "started_at", "is on study day 0, not on day 1", before)


def test_a_time_in_the_future_is_refused(study, patient, user):
    today = timezone.now().astimezone(NEW_YORK)
    Patient.objects.filter(pk=patient.pk).update(enrolment_date=today.date())
    later = (today + datetime.timedelta(hours=2)).strftime("%Y-%m-%d %H:%M")
    before = stored()
    report = run(study, user, drugs(f"NY-0001,0,{later},anakinra,,100,mg,sc,q6h,,"))
    refused_alone(report, "drug_administration.csv", 2, "started_at", "is in the future", before)


def test_a_dose_after_a_recorded_death_is_refused(study, patient, user):
    death = {"study_day": 2, "kind": "death", "cause_of_death": "ARDS", "occurred_at": datetime.datetime(
        2020, 4, 3, 8, 0, tzinfo=NEW_YORK
    )}  # fmt: skip
    services.event_save(form="disposition_events", patient=patient, entry=RecordInput(death), user=user)
    before = stored()
    report = run(study, user, drugs("NY-0001,2,2020-04-03 09:00,anakinra,,100,mg,sc,q6h,,"))
    refused_alone(report, "drug_administration.csv", 2, "started_at", "is after the death (3 Apr 2020 08:00)", before)


def test_a_dose_after_a_death_of_the_same_import_is_refused_and_the_death_is_not_stored(study, patient, user):
    files = {
        "disposition_events.csv": "participant_id,study_day,occurred_at,kind,cause_of_death\n"
        "NY-0001,2,2020-04-03 08:00,death,ARDS\n",
        **drugs("NY-0001,2,2020-04-03 09:00,anakinra,,100,mg,sc,q6h,,"),
    }
    before = stored()
    report = run(study, user, files)
    refused_alone(report, "drug_administration.csv", 2, "started_at", "is after the death", before)


def test_an_extubation_before_the_intubation_is_refused(study, patient, user):
    before = stored()
    report = run(study, user, episodes("NY-0001,3,,2,,extubated"))
    refused_alone(
        report, "ventilation_episodes.csv", 2, "end_day", "cannot end before the intubation (study day 3)", before
    )


def test_an_end_time_before_the_intubation_time_is_refused(study, patient, user):
    before = stored()
    report = run(study, user, episodes("NY-0001,1,2020-04-02 10:00,1,2020-04-02 09:00,extubated"))
    refused_alone(report, "ventilation_episodes.csv", 2, "ended_at", "is not after the start", before)


def test_overlapping_episodes_are_refused_and_neither_is_stored(study, patient, user):
    before = stored()
    report = run(study, user, episodes("NY-0001,1,,4,,extubated", "NY-0001,3,,5,,extubated"))
    refused_alone(
        report, "ventilation_episodes.csv", 3, "study_day", "overlaps the episode of study days 1 to 4", before
    )


def test_a_re_intubation_after_the_extubation_and_the_end_of_an_ongoing_episode(study, patient, user):
    """Two episodes on one day told apart by their times; a row with a stored episode's intubation corrects it."""
    first = run(
        study,
        user,
        episodes("NY-0001,1,2020-04-02 09:00,2,2020-04-03 08:00,extubated", "NY-0001,2,2020-04-03 20:00,,,"),
    )
    assert first.ok, [str(p) for p in first.problems]
    ended = run(study, user, episodes("NY-0001,2,2020-04-03 20:00,4,2020-04-05 11:00,extubated"))
    assert ended.ok, [str(p) for p in ended.problems]
    assert (ended.files[0].created, ended.files[0].changed) == (0, 1)
    second = VentilationEpisode.objects.get(study_day=2)
    assert (second.end_day, second.ended_at, second.end_reason) == (
        4,
        datetime.datetime(2020, 4, 5, 15, tzinfo=UTC),
        "extubated",
    )
    assert second.history.latest().history_change_reason == "import: ventilation_episodes.csv"


# ------------------------------------------------------------------------------------------- the oxygen criterion


PATIENT_HEADER = "participant_id,site,arm,enrolment_date,sex,age_years,weight_kg,oxygen_criterion_at"


def test_the_oxygen_criterion_is_stored_on_create_and_changed_with_the_import_s_reason(study, new_york, arms, user):
    created = run(
        study, user, {"patients.csv": f"{PATIENT_HEADER}\nNY-0002,NY,standard,2020-04-01,F,64,70,2020-03-31 23:15\n"}
    )
    assert created.ok, [str(p) for p in created.problems]
    patient = Patient.objects.get(participant_id="NY-0002")
    assert patient.oxygen_criterion_at == datetime.datetime(2020, 4, 1, 3, 15, tzinfo=UTC)
    changed = run(
        study, user, {"patients.csv": f"{PATIENT_HEADER}\nNY-0002,NY,standard,2020-04-01,F,64,70,2020-03-31 21:15\n"}
    )
    assert changed.ok and changed.files[0].changed == 1
    patient.refresh_from_db()
    assert patient.oxygen_criterion_at == datetime.datetime(2020, 4, 1, 1, 15, tzinfo=UTC)
    assert patient.history.latest().history_change_reason == "import: patients.csv"


def test_an_oxygen_criterion_in_the_future_is_refused(study, new_york, arms, user):
    later = (timezone.now() + datetime.timedelta(days=2)).astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M")
    report = run(study, user, {"patients.csv": f"{PATIENT_HEADER}\nNY-0002,NY,standard,2020-04-01,F,64,70,{later}\n"})
    assert problems(report) == [("patients.csv", 2, "oxygen_criterion_at")]
    assert report.problems[0].message == "The oxygen criterion cannot be met in the future."
    assert not Patient.objects.filter(participant_id="NY-0002").exists()


def test_an_oxygen_criterion_before_2000_is_refused(study, new_york, arms, user):
    report = run(
        study, user, {"patients.csv": f"{PATIENT_HEADER}\nNY-0002,NY,standard,2020-04-01,F,64,70,1920-03-31 21:15\n"}
    )
    assert problems(report) == [("patients.csv", 2, "oxygen_criterion_at")]
    assert report.problems[0].message == "Check the year: an oxygen criterion met before 2000 is not plausible."
    assert not Patient.objects.filter(participant_id="NY-0002").exists()


def test_without_an_enrolment_date_day_0_is_the_follow_up_before_today_whatever_the_times(
    study, new_york, arms, user, monkeypatch
):
    """A release carries no calendar date, so its times do not place day 0: it is the follow-up's length before today
    at the site (21 days before 12 Dec 2026), and a time of day lies on its row's study day from there."""
    monkeypatch.setattr(
        timezone, "now", lambda: datetime.datetime(2026, 12, 12, 23, 30, tzinfo=UTC)
    )  # 18:30 in New York
    header = "participant_id,site,arm,sex,age_years,weight_kg"
    files = {
        "patients.csv": f"{header}\nNY-0003,NY,standard,M,55,{Decimal('81.5')}\n",
        **drugs("NY-0003,3,06:00-05:00,anakinra,,100,mg,sc,q6h,,"),
    }
    report = run(study, user, files)
    assert report.ok, [str(p) for p in report.problems]
    assert Patient.objects.get(participant_id="NY-0003").enrolment_date == datetime.date(2026, 11, 21)
    assert DrugAdministration.objects.get().started_at == datetime.datetime(2026, 11, 24, 11, tzinfo=UTC)


# -------------------------------------------------------------------------------------------------- times of day


def test_a_time_of_day_is_the_clock_time_on_its_row_s_study_day(study, patient, user):
    """Day 0 is 1 Apr 2020: 22:30 on day 2 is 22:30 on 3 Apr in New York (02:30 UTC on the 4th); the stop time on
    stop_day."""
    report = run(study, user, drugs("NY-0001,2,22:30,anakinra,,100,mg,sc,q6h,4,06:15:30-04:00"))
    assert report.ok, [str(p) for p in report.problems]
    drug = DrugAdministration.objects.get(patient=patient)
    assert drug.started_at == datetime.datetime(2020, 4, 4, 2, 30, tzinfo=UTC)
    assert drug.stopped_at == datetime.datetime(2020, 4, 5, 10, 15, 30, tzinfo=UTC)
    # The same moments as dates and times: the same record.
    again = run(study, user, drugs("NY-0001,2,2020-04-03 22:30,anakinra,,100,mg,sc,q6h,4,2020-04-05T10:15:30Z"))
    assert again.ok and again.files[0].unchanged == 1


def test_a_time_of_day_of_an_episode_ends_on_its_end_day(study, patient, user):
    report = run(study, user, episodes("NY-0001,1,23:40-04:00,4,10:15,extubated"))
    assert report.ok, [str(p) for p in report.problems]
    episode = VentilationEpisode.objects.get()
    assert (episode.intubated_at, episode.ended_at) == (
        datetime.datetime(2020, 4, 3, 3, 40, tzinfo=UTC),
        datetime.datetime(2020, 4, 5, 14, 15, tzinfo=UTC),
    )


def test_a_time_of_day_with_an_offset_the_site_does_not_have_then_is_refused(study, patient, user):
    """New York is at -04:00 in April 2020 (daylight-saving time): -05:00 is not its clock time."""
    before = stored()
    report = run(study, user, drugs("NY-0001,2,22:30-05:00,anakinra,,100,mg,sc,q6h,,"))
    refused_alone(report, "drug_administration.csv", 2, "started_at", "22:30-05:00 is not the clock time", before)
    message = report.problems[0].message
    assert "the offset of America/New_York is -04:00, not -05:00" in message, message
    assert "on 2020-04-03" in message


def test_a_time_of_day_without_its_day_is_refused(study, patient, user):
    before = stored()
    report = run(study, user, drugs("NY-0001,0,22:00,anakinra,,100,mg,sc,q6h,,06:00"))
    refused_alone(report, "drug_administration.csv", 2, "stopped_at", "needs its study day in stop_day", before)


@pytest.mark.parametrize(
    ("enrolment", "cell", "words"),
    [
        (datetime.date(2020, 3, 8), "02:30", "02:30 does not exist in America/New_York on 2020-03-08"),
        (datetime.date(2020, 3, 8), "02:30-05:00", "02:30 does not exist in America/New_York on 2020-03-08"),
        (datetime.date(2020, 11, 1), "01:30", "01:30 occurs twice in America/New_York on 2020-11-01 (the clocks"),
        (datetime.date(2020, 11, 1), "01:30Z", "-04:00 (the first time) and -05:00 (the second), not +00:00"),
    ],
)
def test_a_time_of_day_a_daylight_saving_change_skips_or_repeats_is_refused(
    study, patient, user, enrolment, cell, words
):
    Patient.objects.filter(pk=patient.pk).update(enrolment_date=enrolment)
    before = stored()
    report = run(study, user, drugs(f"NY-0001,0,{cell},anakinra,,100,mg,sc,q6h,,"))
    refused_alone(report, "drug_administration.csv", 2, "started_at", words, before)


@pytest.mark.parametrize(("cell", "utc"), [("01:30-04:00", 5), ("01:30-05:00", 6)])
def test_the_offset_of_a_time_of_day_tells_the_repeated_hour(study, patient, user, cell, utc):
    Patient.objects.filter(pk=patient.pk).update(enrolment_date=datetime.date(2020, 11, 1))
    report = run(study, user, drugs(f"NY-0001,0,{cell},anakinra,,100,mg,sc,q6h,,"))
    assert report.ok, [str(p) for p in report.problems]
    assert DrugAdministration.objects.get().started_at == datetime.datetime(2020, 11, 1, utc, 30, tzinfo=UTC)


CRITERION_HEADER = "participant_id,site,arm,enrolment_date,sex,age_years,oxygen_criterion_day,oxygen_criterion_at"


def test_the_oxygen_criterion_as_a_time_of_day_is_on_oxygen_criterion_day(study, new_york, arms, user):
    report = run(study, user, {"patients.csv": f"{CRITERION_HEADER}\nNY-0002,NY,standard,2020-04-01,F,64,-1,23:15\n"})
    assert report.ok, [str(p) for p in report.problems]
    patient = Patient.objects.get(participant_id="NY-0002")
    assert patient.oxygen_criterion_at == datetime.datetime(2020, 4, 1, 3, 15, tzinfo=UTC)  # 31 Mar 23:15 EDT
    # The release writes it back as its day and clock time.
    again = run(
        study, user, {"patients.csv": f"{CRITERION_HEADER}\nNY-0002,NY,standard,2020-04-01,F,64,-1,23:15-04:00\n"}
    )
    assert again.ok and again.files[0].unchanged == 1


@pytest.mark.parametrize(
    ("day", "time", "column", "words"),
    [
        ("", "23:15", "oxygen_criterion_at", "23:15 is a time of day: it needs its study day in oxygen_criterion_day"),
        ("-1", "", "oxygen_criterion_day", "oxygen_criterion_day is the study day of oxygen_criterion_at"),
        ("0", "2020-03-31 23:15", "oxygen_criterion_at", "is on study day -1, not on day 0"),
        ("-1", "23:15+02:00", "oxygen_criterion_at", "the offset of America/New_York is -04:00, not +02:00"),
    ],
)
def test_a_patient_s_criterion_without_its_day_or_on_another_day_is_refused(
    study, new_york, arms, user, day, time, column, words
):
    report = run(
        study, user, {"patients.csv": f"{CRITERION_HEADER}\nNY-0002,NY,standard,2020-04-01,F,64,{day},{time}\n"}
    )
    assert problems(report) == [("patients.csv", 2, column)], [str(p) for p in report.problems]
    assert words in report.problems[0].message, report.problems[0].message
    assert not Patient.objects.filter(participant_id="NY-0002").exists()
