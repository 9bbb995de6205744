"""The rule job on the database: a hit opens one automatic query naming the value, a rerun writes nothing, a cleared
condition is closed by the system in the thread, a returning one reopens it, a query a monitor closed stays closed;
locked studies are skipped; a run that dies in a batch leaves every batch whole and a rerun completes it."""

import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from cleaning import rule_job, services
from cleaning.models import MessageKind, Query, QueryMessage, QueryStatus
from cohorts.audit import StudyLocked
from cohorts.models import Site
from cohorts.services import study_set_locked
from ecrf.models import DispositionEvent, DrugAdministration, RespiratorySupport, VentilationEpisode, VitalSigns
from tests import factories


def vitals(patient, day, **values):
    return VitalSigns.objects.create(patient=patient, study_day=day, **values)


def withdrawn(patient, day):
    """The follow-up ends on ``day``: daily forms are required for days 0 to ``day`` only."""
    return DispositionEvent.objects.create(patient=patient, study_day=day, kind="withdrawal")


def rule_queries(rule, **filters):
    return Query.objects.filter(origin="rule", rule=rule, **filters)


def thread(query):
    return [(m.kind, m.author_id) for m in query.messages.order_by("created_at", "pk")]


@pytest.fixture
def hot(patient_a):
    """Patient A: a temperature of 41.9 degC on day 3, unconfirmed (stored before the soft limit applied)."""
    withdrawn(patient_a, 5)
    return vitals(patient_a, 3, temperature_c=Decimal("41.9"), heart_rate_bpm=96, spo2_pct=95)


def test_a_soft_value_opens_one_query_naming_it(hot, patient_a, study):
    summary = rule_job.run_study(study)
    query = rule_queries("check.temperature_c.soft_high").get()
    assert (query.patient, query.study_day, query.form, query.field) == (patient_a, 3, "vital_signs", "temperature_c")
    assert (query.status, query.value_at_open, query.opened_by) == ("open", "41.9", None)
    assert "Temperature 41.9 degC is above 41 degC" in query.text and query.text.startswith("Vital signs, study day 3")
    assert thread(query) == [(MessageKind.OPENED, None)]
    assert query.history.get().history_change_reason == "raised by a data-quality rule"
    assert summary.opened == Query.objects.count() and summary.hits == summary.opened


def test_a_rerun_over_unchanged_data_writes_nothing(hot, study):
    rule_job.run_study(study)
    before = (Query.objects.count(), Query.history.count(), QueryMessage.objects.count())
    again = rule_job.run_study(study)
    assert (again.opened, again.reopened, again.closed) == (0, 0, 0) and again.hits == before[0]
    assert (Query.objects.count(), Query.history.count(), QueryMessage.objects.count()) == before


def test_a_confirmed_soft_value_is_no_hit(patient_a, study):
    withdrawn(patient_a, 5)
    vitals(patient_a, 3, temperature_c=Decimal("41.9"), confirmed_checks=["temperature_c.soft_high"])
    rule_job.run_study(study)
    assert not rule_queries("check.temperature_c.soft_high").exists()


def test_a_cleared_condition_is_closed_by_the_system_in_the_thread_and_reopens_when_back(hot, study):
    rule_job.run_study(study)
    hot.temperature_c = Decimal("37.2")
    hot.save()
    closed = rule_job.run_study(study)
    query = rule_queries("check.temperature_c.soft_high").get()
    assert closed.closed == 1
    assert (query.status, query.closed_by, query.closed_at is not None) == ("closed", None, True)
    last = query.messages.order_by("-pk").first()
    assert (last.kind, last.author) == (MessageKind.CLOSED_BY_SYSTEM, None)
    assert last.text.startswith("The condition cleared")
    assert query.history.first().history_change_reason == "closed by the system: the condition cleared"

    hot.temperature_c = Decimal("41.6")
    hot.save()
    assert rule_job.run_study(study).reopened == 1
    query.refresh_from_db()
    assert (query.status, query.closed_at) == ("open", None)
    last = query.messages.order_by("-pk").first()
    assert last.kind == MessageKind.REOPENED_BY_SYSTEM and "41.6 degC" in last.text
    assert rule_queries("check.temperature_c.soft_high").count() == 1  # never a second query for the same hit


def test_an_answered_query_whose_condition_cleared_is_closed_by_the_system(hot, study, users):
    rule_job.run_study(study)
    query = rule_queries("check.temperature_c.soft_high").get()
    services.query_answer(query=query, answer_code="other", text="Will check the chart.", user=users["nurse"])
    hot.temperature_c = Decimal("38.0")
    hot.save()
    rule_job.run_study(study)
    query.refresh_from_db()
    assert (query.status, query.closed_by) == (QueryStatus.CLOSED, None)


def test_a_query_a_monitor_closed_stays_closed(hot, study, users):
    rule_job.run_study(study)
    query = rule_queries("check.temperature_c.soft_high").get()
    services.query_close(query=query, text="Value confirmed in the chart.", user=users["monitor"])
    messages = query.messages.count()
    again = rule_job.run_study(study)
    query.refresh_from_db()
    assert (query.status, query.closed_by, query.messages.count()) == ("closed", users["monitor"], messages)
    assert (again.opened, again.reopened) == (0, 0)


def test_a_query_a_monitor_reopened_is_not_closed_again_by_the_system(hot, study, users):
    rule_job.run_study(study)
    query = rule_queries("check.temperature_c.soft_high").get()
    hot.temperature_c = Decimal("37.2")
    hot.save()
    assert rule_job.run_study(study).closed == 1  # the condition cleared: closed by the system
    query.refresh_from_db()
    services.query_reopen(query=query, text="37.2 is not in the chart either: please check.", user=users["monitor"])
    again = rule_job.run_study(study)
    query.refresh_from_db()
    assert (again.closed, query.status) == (0, QueryStatus.OPEN)  # the monitor decides, not the nightly run
    services.query_close(query=query, text="Chart corrected: 37.2.", user=users["monitor"])
    assert (rule_job.run_study(study).reopened, rule_queries("check.temperature_c.soft_high").count()) == (0, 1)


def test_missing_forms_gaps_and_data_after_death(patient_a, study):
    for day in (0, 1, 3):
        vitals(patient_a, day, spo2_pct=95)
    DispositionEvent.objects.create(patient=patient_a, study_day=4, kind="death", cause_of_death="ARDS")
    vitals(patient_a, 6, spo2_pct=90)  # after the death on day 4
    rule_job.run_study(study)
    days = lambda rule, form: sorted(rule_queries(rule, form=form).values_list("study_day", flat=True))  # noqa: E731
    assert days("series_gap", "vital_signs") == [2]
    assert days("missing_past_due", "vital_signs") == []  # required days 0-3: day 2 is the gap, the rest entered
    assert days("missing_past_due", "laboratory") == [0, 1, 2, 3]
    assert days("after_death", "vital_signs") == [6]
    gap = rule_queries("series_gap").get()
    assert gap.field == "" and "although study days 1 and 3 are" in gap.text


def test_spo2_without_fio2_is_not_derivable(patient_a, study):
    withdrawn(patient_a, 2)
    vitals(patient_a, 2, spo2_pct=92)
    RespiratorySupport.objects.create(patient=patient_a, study_day=2, support="nasal_cannula")
    rule_job.run_study(study)
    query = rule_queries("not_derivable.pf").get()
    assert (query.study_day, query.form, query.field) == (2, "respiratory_support", "fio2")
    assert "SpO2 92% on study day 2" in query.text and "oxygen flow" in query.text
    assert rule_queries("check.flow_l_min.required", study_day=2).exists()


def test_an_implausible_jump_names_both_values(patient_a, study):
    withdrawn(patient_a, 3)
    vitals(patient_a, 2, temperature_c=Decimal("36.5"))
    vitals(patient_a, 3, temperature_c=Decimal("40.1"))
    rule_job.run_study(study)
    query = rule_queries("jump.temperature_c").get()
    assert (query.study_day, query.value_at_open) == (3, "40.1")
    assert "from 36.5 degC on study day 2 to 40.1 degC on study day 3, a change of 3.6 degC" in query.text


def test_times_are_read_in_utc_and_checked_on_the_study_day_at_the_site(study, arms):
    site = Site.objects.create(code="NY", name="New York", time_zone="America/New_York")
    site.studies.add(study)
    patient = factories.PatientFactory(
        study=study, site=site, arm=arms["standard"], participant_id="NY-0001", enrolment_date=datetime.date(2020, 4, 1)
    )
    at = lambda day, hour: datetime.datetime(2020, 4, 1 + day, hour, 30, tzinfo=ZoneInfo("America/New_York"))  # noqa: E731
    dose = {"drug": "anakinra", "dose": Decimal(100), "dose_unit": "mg", "route": "sc", "frequency": "q6h"}
    # 22:30 on day 2 in New York is 02:30 UTC on day 3: right on the row of day 2, on another day on the row of day 3.
    DrugAdministration.objects.create(patient=patient, study_day=2, started_at=at(2, 22), **dose)
    DrugAdministration.objects.create(patient=patient, study_day=3, started_at=at(2, 22), **dose)
    DispositionEvent.objects.create(
        patient=patient, study_day=5, kind="death", cause_of_death="ARDS", occurred_at=at(5, 8)
    )
    episode = {"end_reason": "died", "end_day": 5}
    VentilationEpisode.objects.create(patient=patient, study_day=1, intubated_at=at(1, 10), **episode)
    VentilationEpisode.objects.create(patient=patient, study_day=4, intubated_at=at(4, 9), **episode)
    DrugAdministration.objects.create(patient=patient, study_day=5, started_at=at(5, 9), **dose)  # after the death
    rule_job.run_study(study)
    query = rule_queries("check.started_at.other_day").get()
    assert (query.study_day, query.form, query.field) == (3, "drug_administration", "started_at")
    assert query.value_at_open == "3 Apr 2020 22:30"  # the time at the site
    assert "3 Apr 2020 22:30 is on study day 2, not on day 3: correct the day or the time." in query.text
    late = rule_queries("check.started_at.after_death").get()
    assert (late.study_day, late.form, late.value_at_open) == (5, "drug_administration", "6 Apr 2020 09:30")
    assert "after the death (6 Apr 2020 08:30)" in late.text
    # Days 1 to 5 and an intubation on day 4: the episodes overlap, one query on each.
    assert sorted(rule_queries("episode_overlap").values_list("study_day", flat=True)) == [1, 4]
    assert not rule_queries("check.occurred_at.after_death").exists()  # the death is not after itself
    assert rule_job.run_study(study).written == 0


def test_a_locked_study_is_skipped(hot, study, users):
    study_set_locked(study=study, locked=True, user=users["data_manager"], reason="release 1")
    with pytest.raises(StudyLocked):
        rule_job.run_study(study)
    assert services.rules_nightly() == []
    with pytest.raises(ValidationError, match="locked"):
        services.rules_request(study=study, user=users["monitor"])
    assert not Query.objects.exists()


def test_a_run_that_dies_in_a_batch_leaves_every_batch_whole(hot, patient_a, patient_b, study, monkeypatch):
    withdrawn(patient_b, 5)
    vitals(patient_b, 2, heart_rate_bpm=190)
    calls = []
    real = QueryMessage.objects.bulk_create

    def dies_in_the_second_batch(messages, *args, **kwargs):
        calls.append(len(messages))
        if len(calls) == 2:
            raise RuntimeError("worker killed")
        return real(messages, *args, **kwargs)

    monkeypatch.setattr(QueryMessage.objects, "bulk_create", dies_in_the_second_batch)
    with pytest.raises(RuntimeError):
        rule_job.run_study(study, batch_patients=1)
    # The second batch's queries were inserted before its messages failed: rolled back with them.
    assert set(Query.objects.values_list("patient_id", flat=True)) == {patient_a.pk}
    assert not Query.objects.filter(messages__isnull=True).exists()
    monkeypatch.undo()

    rerun = rule_job.run_study(study, batch_patients=1)
    assert rule_queries("check.heart_rate_bpm.soft_high", patient=patient_b).count() == 1
    assert rule_queries("check.temperature_c.soft_high", patient=patient_a).count() == 1
    assert rerun.opened == Query.objects.filter(patient=patient_b).count()


def test_one_patient_is_a_fixed_number_of_queries(hot, patient_a, django_assert_max_num_queries):
    # One query per form of the catalogue among them (seven forms since the ventilation episodes).
    with django_assert_max_num_queries(22):
        first = rule_job.run_patient(patient_a.pk)
    assert first.opened >= 1
    with django_assert_max_num_queries(17):  # 16 on SQLite; PostgreSQL takes the rule lock
        assert rule_job.run_patient(patient_a.pk).written == 0


def test_a_form_marked_not_done_is_neither_missing_nor_checked(patient_a, study):
    withdrawn(patient_a, 2)
    for day in range(3):
        vitals(patient_a, day, heart_rate_bpm=80)
        RespiratorySupport.objects.create(patient=patient_a, study_day=day, support="room_air")
    from ecrf.models import LabResult

    for day in range(3):
        LabResult.objects.create(patient=patient_a, study_day=day, not_done_reason="no blood sample taken")
    RespiratorySupport.objects.filter(patient=patient_a, study_day=1).update(support="", not_done_reason="off ward")
    rule_job.run_study(study)
    assert not Query.objects.filter(form__in=["laboratory", "respiratory_support"]).exists()


def test_the_queries_a_run_opens_and_closes_are_counted_at_once_in_the_record_status(hot, patient_a, study, committed):
    """The rule job writes its queries in bulk (no signal): the dashboard's counts still follow after its commit."""
    from cleaning.models import PatientRecordStatus, SiteRecordStatus
    from cleaning.status_job import rebuild_study

    def counted():
        row = PatientRecordStatus.objects.get(patient=patient_a)
        return row.n_query_open, SiteRecordStatus.objects.get(study=study, site=patient_a.site).p_query_open

    rebuild_study(study)
    assert counted() == (0, 0)
    with committed():
        rule_job.run_study(study)
    assert rule_queries("check.temperature_c.soft_high", status="open").count() == 1

    def open_cells():
        return Query.objects.filter(patient=patient_a, status="open").values("study_day", "form").distinct().count()

    cells = open_cells()
    assert counted() == (cells, 1)
    VitalSigns.objects.filter(pk=hot.pk).update(temperature_c=Decimal("37.2"))  # corrected: the condition clears
    with committed():
        summary = rule_job.run_study(study)
    assert summary.closed == 1
    assert counted() == (cells - 1, 1) and open_cells() == cells - 1  # the day 3 vital signs' cell
