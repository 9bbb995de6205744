"""Times of the New York protocol (clinical definitions §2.3): doses, ventilation episodes and events entered in the
site's time zone, stored in UTC, and refused when they cannot be true: a time on another day than its row, in the
future, after the death; an extubation before its intubation; two episodes at once."""

import datetime
import re
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from cohorts import roles
from cohorts.models import Patient, Site
from ecrf import services
from ecrf.models import DispositionEvent, DrugAdministration, VentilationEpisode
from ecrf.services import RecordInput
from tests import factories
from tests.conftest import make_user

NEW_YORK = ZoneInfo("America/New_York")
ENROLLED = datetime.date(2020, 4, 1)  # day 0; New York is on daylight time (UTC-4) from 8 March 2020


def local(day: int, hour: int, minute: int = 0) -> datetime.datetime:
    """The moment at ``hour`` New York time on study day ``day``."""
    date = ENROLLED + datetime.timedelta(days=day)
    return datetime.datetime(date.year, date.month, date.day, hour, minute, tzinfo=NEW_YORK)


@pytest.fixture
def new_york(study):
    site = Site.objects.create(code="NY", name="New York", time_zone="America/New_York")
    site.studies.add(study)
    return site


@pytest.fixture
def patient(study, new_york, arms):
    return factories.PatientFactory(
        study=study, site=new_york, arm=arms["standard"], participant_id="NY-0001", enrolment_date=ENROLLED
    )


@pytest.fixture
def nurse_ny(new_york):
    return make_user("nurse_ny", roles.NURSE, [new_york])


@pytest.fixture
def page(client, nurse_ny):
    client.force_login(nurse_ny)
    return client


ANAKINRA = {"drug": "anakinra", "dose": Decimal(100), "dose_unit": "mg", "route": "sc", "frequency": "q6h"}


def save(form, patient, user, record=None, reason=None, **values):
    entry = RecordInput(values, expected_version=record.version if record is not None else None)
    return services.event_save(form=form, patient=patient, entry=entry, user=user, record=record, reason=reason)


def refusal(form, patient, user, **values) -> dict[str, list[str]]:
    with pytest.raises(ValidationError) as refused:
        save(form, patient, user, **values)
    return {name: [e.code for e in errors] for name, errors in refused.value.error_dict.items()}


def test_a_dose_time_is_stored_in_utc_and_lies_on_its_study_day_in_new_york(patient, nurse_ny):
    # 22:30 on day 2 in New York is already day 3 in UTC: the day is the site's.
    saved = save("drug_administration", patient, nurse_ny, study_day=2, started_at=local(2, 22, 30), **ANAKINRA)
    saved.refresh_from_db()
    assert saved.started_at == datetime.datetime(2020, 4, 4, 2, 30, tzinfo=datetime.UTC)


def test_a_time_on_another_day_than_its_row_is_refused_with_both_days(patient, nurse_ny):
    with pytest.raises(ValidationError) as refused:
        save("drug_administration", patient, nurse_ny, study_day=3, started_at=local(2, 22, 30), **ANAKINRA)
    (message,) = refused.value.error_dict["started_at"][0].messages
    assert message == "3 Apr 2020 22:30 is on study day 2, not on day 3: correct the day or the time."
    assert not DrugAdministration.objects.exists()


def test_a_time_in_the_future_is_refused(patient, nurse_ny, monkeypatch):
    monkeypatch.setattr("django.utils.timezone.now", lambda: local(2, 9).astimezone(datetime.UTC))
    assert refusal("drug_administration", patient, nurse_ny, study_day=2, started_at=local(2, 10), **ANAKINRA) == {
        "started_at": ["started_at.future"]
    }
    assert save("drug_administration", patient, nurse_ny, study_day=2, started_at=local(2, 8), **ANAKINRA)


def test_a_taper_is_a_sequence_of_doses_each_stopping_after_it_starts(patient, nurse_ny):
    first = {**ANAKINRA, "study_day": 0, "started_at": local(0, 10), "stop_day": 4, "stopped_at": local(4, 10)}
    save("drug_administration", patient, nurse_ny, **first)
    save(
        "drug_administration",
        patient,
        nurse_ny,
        **{
            **first,
            "frequency": "q8h",
            "study_day": 4,
            "stop_day": 7,
            "started_at": local(4, 16),
            "stopped_at": local(7, 16),
        },
    )
    assert list(DrugAdministration.objects.order_by("study_day").values_list("frequency", flat=True)) == ["q6h", "q8h"]
    backwards = {**first, "study_day": 8, "stop_day": 8, "started_at": local(8, 12), "stopped_at": local(8, 9)}
    assert refusal("drug_administration", patient, nurse_ny, **backwards) == {"stopped_at": ["stopped_at.before_start"]}
    no_day = {**first, "study_day": 8, "stop_day": None, "started_at": local(8, 12), "stopped_at": local(8, 14)}
    assert refusal("drug_administration", patient, nurse_ny, **no_day) == {"stop_day": ["stop_day.required"]}


def test_a_dose_after_the_death_is_refused_on_the_day_and_by_the_time(patient, nurse_ny):
    save(
        "disposition_events",
        patient,
        nurse_ny,
        study_day=5,
        kind="death",
        cause_of_death="ARDS",
        occurred_at=local(5, 14),
    )
    assert refusal("drug_administration", patient, nurse_ny, study_day=6, **ANAKINRA) == {
        "study_day": ["study_day.after_death"]
    }
    assert refusal("drug_administration", patient, nurse_ny, study_day=5, started_at=local(5, 18), **ANAKINRA) == {
        "started_at": ["started_at.after_death"]
    }
    assert save("drug_administration", patient, nurse_ny, study_day=5, started_at=local(5, 8), **ANAKINRA)


def test_a_death_timed_before_a_recorded_dose_is_refused(patient, nurse_ny):
    save("drug_administration", patient, nurse_ny, study_day=5, started_at=local(5, 18), **ANAKINRA)
    refused = refusal(
        "disposition_events",
        patient,
        nurse_ny,
        study_day=5,
        kind="death",
        cause_of_death="ARDS",
        occurred_at=local(5, 14),
    )
    assert refused == {"occurred_at": ["occurred_at.data_after_death"]}
    assert not DispositionEvent.objects.exists()


def test_an_extubation_before_its_intubation_is_refused_by_day_and_by_time(patient, nurse_ny):
    assert refusal("ventilation_episodes", patient, nurse_ny, study_day=5, end_day=4, end_reason="extubated") == {
        "end_day": ["end_day.before_start"]
    }
    same_day = {"study_day": 5, "intubated_at": local(5, 10), "end_day": 5, "ended_at": local(5, 9)}
    assert refusal("ventilation_episodes", patient, nurse_ny, **same_day, end_reason="extubated") == {
        "ended_at": ["ended_at.before_start"]
    }
    assert not VentilationEpisode.objects.exists()


def test_an_end_says_how_the_episode_ended_and_an_end_by_death_is_on_the_day_of_death(patient, nurse_ny):
    assert refusal("ventilation_episodes", patient, nurse_ny, study_day=5, end_day=9) == {
        "end_reason": ["end_reason.required"]
    }
    assert refusal("ventilation_episodes", patient, nurse_ny, study_day=5, end_reason="extubated") == {
        "end_day": ["end_day.required"]
    }
    save("disposition_events", patient, nurse_ny, study_day=12, kind="death", cause_of_death="ARDS")
    assert refusal("ventilation_episodes", patient, nurse_ny, study_day=5, end_day=11, end_reason="died") == {
        "end_day": ["end_day.not_death_day"]
    }
    assert save("ventilation_episodes", patient, nurse_ny, study_day=5, end_day=12, end_reason="died")


def test_episodes_do_not_overlap_but_a_reintubation_may_follow_an_extubation_the_same_day(patient, nurse_ny):
    first = save(
        "ventilation_episodes",
        patient,
        nurse_ny,
        study_day=5,
        intubated_at=local(5, 8),
        end_day=12,
        ended_at=local(12, 8),
        end_reason="extubated",
    )
    assert refusal("ventilation_episodes", patient, nurse_ny, study_day=10, end_day=14, end_reason="extubated") == {
        "study_day": ["study_day.episode_overlap"]
    }
    # Same day, by the times: re-intubated at 20:00 after the extubation at 08:00 is a new episode.
    assert save("ventilation_episodes", patient, nurse_ny, study_day=12, intubated_at=local(12, 20))
    # The second one is ongoing: no third episode until it has ended.
    refused = refusal("ventilation_episodes", patient, nurse_ny, study_day=16)
    assert refused == {"study_day": ["study_day.episode_overlap"]}
    # Changing the first episode is compared with the others, not with itself.
    assert save(
        "ventilation_episodes",
        patient,
        nurse_ny,
        record=first,
        reason="extubation time corrected",
        study_day=5,
        intubated_at=local(5, 8),
        end_day=12,
        ended_at=local(12, 7),
        end_reason="extubated",
    )


def test_the_drug_page_takes_and_shows_the_local_time_of_the_site(page, patient):
    data = {
        "event-study_day": "2",
        "event-started_at": "2020-04-03T22:30",
        "event-drug": "anakinra",
        "event-dose": "100",
        "event-dose_unit": "mg",
        "event-route": "sc",
        "event-frequency": "q6h",
    }
    response = page.post(f"/patients/{patient.pk}/drugs/add/", data)
    assert response.status_code == 302, response.context["form"].errors
    record = DrugAdministration.objects.get()
    assert record.started_at == datetime.datetime(2020, 4, 4, 2, 30, tzinfo=datetime.UTC)
    shown = page.get(f"/patients/{patient.pk}/drugs/{record.pk}/").content.decode()
    assert re.search(r'name="event-started_at" value="2020-04-03T22:30"', shown)
    assert "Local time at the site (America/New_York)" in shown


def test_the_ventilation_page_refuses_an_extubation_before_the_intubation_next_to_the_field(page, patient):
    data = {
        "event-study_day": "5",
        "event-intubated_at": "2020-04-06T10:00",
        "event-end_day": "5",
        "event-ended_at": "2020-04-06T09:00",
        "event-end_reason": "extubated",
    }
    response = page.post(f"/patients/{patient.pk}/ventilation/add/", data)
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["ended_at"] == ["6 Apr 2020 09:00 is not after the start (6 Apr 2020 10:00)."]
    assert not VentilationEpisode.objects.exists()


def test_a_local_time_that_does_not_exist_is_refused_on_the_page(page, study, new_york, arms):
    # 8 March 2020 02:30 does not exist in New York (clocks went from 02:00 to 03:00).
    patient = factories.PatientFactory(
        study=study,
        site=new_york,
        arm=arms["standard"],
        participant_id="NY-0002",
        enrolment_date=datetime.date(2020, 3, 7),
    )
    data = {"event-study_day": "1", "event-intubated_at": "2020-03-08T02:30"}
    response = page.post(f"/patients/{patient.pk}/ventilation/add/", data)
    assert response.status_code == 200
    assert "2020-03-08 02:30:00" in " ".join(response.context["form"].errors["intubated_at"])
    assert not VentilationEpisode.objects.exists()


def test_the_casebook_shows_the_oxygen_criterion_at_the_site_and_a_correction_needs_a_reason(page, patient):
    patient.oxygen_criterion_at = local(-1, 22)
    patient.save()
    book = page.get(f"/patients/{patient.pk}/").content.decode()
    assert "Oxygen criterion met at <strong>31 Mar 2020 22:00</strong> (America/New_York)." in book
    url = f"/patients/{patient.pk}/oxygen-criterion/"
    form = page.get(url).content.decode()
    assert 'value="2020-03-31T22:00"' in form
    data = {"oxygen_criterion_at": "2020-03-31T20:30", "version": patient.version}
    refused = page.post(url, data)
    assert refused.status_code == 200 and "reason" in refused.context["form"].errors
    patient.refresh_from_db()
    assert patient.oxygen_criterion_at == local(-1, 22)
    assert page.post(url, {**data, "reason": "checked against the chart"}).status_code == 302
    patient.refresh_from_db()
    assert patient.oxygen_criterion_at == local(-1, 20, 30)
    assert patient.history.first().history_change_reason == "checked against the chart"


@pytest.mark.parametrize(
    ("typed", "message"),
    [
        ("2999-01-01T10:00", "The oxygen criterion cannot be met in the future."),
        ("0202-03-31T22:00", "Check the year: an oxygen criterion met before 2000 is not plausible."),
    ],
)
def test_an_oxygen_criterion_in_the_future_or_before_2000_is_refused(page, patient, typed, message):
    data = {"oxygen_criterion_at": typed, "version": patient.version, "reason": "typo"}
    response = page.post(f"/patients/{patient.pk}/oxygen-criterion/", data)
    assert response.context["form"].errors["oxygen_criterion_at"] == [message]
    assert Patient.objects.get(pk=patient.pk).oxygen_criterion_at == patient.oxygen_criterion_at


def test_a_monitor_reads_the_oxygen_criterion_but_cannot_change_it(client, users, patient, new_york):
    monitor = make_user("monitor_ny", roles.MONITOR, [new_york])
    client.force_login(monitor)
    url = f"/patients/{patient.pk}/oxygen-criterion/"
    assert "disabled" in client.get(url).content.decode()
    assert client.post(url, {"oxygen_criterion_at": "2020-03-31T20:30", "version": 1, "reason": "x"}).status_code == 403


def test_the_casebook_lists_episodes_and_event_times_at_the_site(page, patient, nurse_ny):
    save(
        "ventilation_episodes",
        patient,
        nurse_ny,
        study_day=5,
        intubated_at=local(5, 8),
        end_day=12,
        ended_at=local(12, 9, 30),
        end_reason="extubated",
    )
    save("ventilation_episodes", patient, nurse_ny, study_day=13)
    save("disposition_events", patient, nurse_ny, study_day=4, kind="icu_admission", occurred_at=local(4, 23))
    book = page.get(f"/patients/{patient.pk}/")
    assert book.status_code == 200
    text = book.content.decode()
    assert "Intubated at 08:00; extubated on day 12 at 09:30" in text
    assert "Intubated, on the ventilator" in text
    assert "ICU admission at 23:00" in text


def test_each_repeating_form_has_its_own_casebook_column(page, patient, nurse_ny):
    save("ventilation_episodes", patient, nurse_ny, study_day=1)
    html = page.get(f"/patients/{patient.pk}/").content.decode()
    headings = re.findall(r'<th scope="col"[^>]*>([^<]*)</th>', html)
    assert headings[5:9] == ["Drugs", "Disposition", "Invasive ventilation", "Adverse events"]
    row = re.search(r'<tr id="day-1".*?</tr>', html, flags=re.S).group(0)
    cells = re.findall(r'<td class="text-start small events">(.*?)</td>', row, flags=re.S)
    assert "Intubated, on the ventilator" in cells[2] and "Intubated" not in cells[3]


def test_a_study_day_left_empty_is_the_date_of_its_time_at_the_site(page, patient):
    data = {
        "event-started_at": "2020-04-03T22:30",
        "event-stopped_at": "2020-04-05T08:00",
        "event-drug": "anakinra",
        "event-dose": "100",
        "event-dose_unit": "mg",
        "event-route": "sc",
        "event-frequency": "q6h",
    }
    response = page.post(f"/patients/{patient.pk}/drugs/add/", data)
    assert response.status_code == 302, response.context["form"].errors
    record = DrugAdministration.objects.get()
    assert (record.study_day, record.stop_day) == (2, 4)  # 3 and 5 April in New York, day 0 on 1 April
    no_day = page.post(f"/patients/{patient.pk}/drugs/add/", {**data, "event-started_at": ""})
    assert no_day.context["form"].errors["study_day"] == ["Give the study day, or the time it lies on."]


def test_a_stored_time_is_shown_as_the_clock_time_at_the_site_or_says_utc(patient, nurse_ny):
    from ecrf.crfs import display_value

    record = save("ventilation_episodes", patient, nurse_ny, study_day=5, intubated_at=local(5, 8))
    assert display_value(record, "intubated_at", NEW_YORK) == "6 Apr 2020 08:00"
    assert display_value(record, "intubated_at") == "2020-04-06 12:00 UTC"
