"""The record status dashboard: each cell's state from the stored data, the counts kept per patient and per site
equal to a count from scratch after every kind of change (a save, a delete, a query raised and answered, a new
day), site scoping, filters, links, keyset pages, and a fixed number of queries whatever the size of the study."""

import datetime
import re
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cleaning import services, signature_state, status_grid, status_job, status_tasks
from cleaning.models import PatientRecordStatus, SiteRecordStatus
from cleaning.status import (
    CODES,
    CONFIRMED,
    ENTERED,
    MISSING,
    NOT_DONE,
    NOT_DUE,
    NOT_REQUIRED,
    QUERY_ANSWERED,
    QUERY_OPEN,
    STATES,
    cell_state,
)
from cleaning.status_job import SIGNATURE_FIELDS
from cohorts import on_commit
from cohorts.clock import site_today
from cohorts.models import ConsortCount, Patient
from ecrf.crfs import DAY_FORMS
from ecrf.models import DispositionEvent, LabResult, RespiratorySupport, VitalSigns
from ecrf.selectors import with_follow_up_end
from tests import factories

TRANSACTION_CONTROL = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I
)


def url(study, query: str = "") -> str:
    return f"/studies/{study.code}/status/" + (f"?{query}" if query else "")


def vitals(patient, day: int, **values):
    return VitalSigns.objects.create(patient=patient, study_day=day, temperature_c=37, **values)


def full_day(patient, day: int) -> None:
    vitals(patient, day)
    RespiratorySupport.objects.create(patient=patient, study_day=day, support="room_air")
    LabResult.objects.create(patient=patient, study_day=day, crp_mg_l=40)


def raise_query(patient, users, day, form="vital_signs", field="temperature_c"):
    return services.query_open(
        patient=patient, study_day=day, form=form, field=field, text="Please check.", user=users["monitor"]
    )


def grid_of(patient, now=None):
    fresh = with_follow_up_end(Patient.objects.filter(pk=patient.pk)).select_related("site", "study")
    return status_grid.grids(list(fresh), now=now)[0]


def states_of(patient, now=None) -> dict[tuple[int, str], str]:
    grid = grid_of(patient, now)
    return {(cell.study_day, cell.form): cell.state for cells in grid.days for cell in cells}


# ------------------------------------------------------------------------------------------ the rule of a cell


@pytest.mark.parametrize(
    ("facts", "state"),
    [
        ({"without_record": NOT_DUE}, NOT_DUE),
        ({"without_record": NOT_REQUIRED}, NOT_REQUIRED),
        ({"without_record": MISSING}, MISSING),
        ({"stored": True}, ENTERED),
        ({"stored": True, "confirmed": True}, CONFIRMED),
        ({"stored": True, "not_done": True}, NOT_DONE),
        ({"without_record": MISSING, "answered_queries": 1}, QUERY_ANSWERED),
        ({"stored": True, "open_queries": 1, "answered_queries": 2}, QUERY_OPEN),
        ({"without_record": NOT_DUE, "open_queries": 1}, QUERY_OPEN),
        ({"answered_queries": 1}, QUERY_ANSWERED),  # a repeating form's cell
        ({}, None),  # a repeating form without a waiting query: no cell
    ],
)
def test_a_cell_takes_the_first_state_that_applies(facts, state):
    assert cell_state(**facts) == state


def test_the_states_are_listed_in_the_priority_of_the_dashboard():
    assert CODES == (
        "query_open",
        "query_answered",
        "missing",
        "confirmed",
        "entered",
        "not_done",
        "not_required",
        "not_due",
    )
    assert len({state.symbol for state in STATES}) == len(STATES)  # each readable without colour


def test_every_state_has_its_counts():
    for code in CODES:
        PatientRecordStatus._meta.get_field(f"n_{code}")
        SiteRecordStatus._meta.get_field(f"n_{code}")
        SiteRecordStatus._meta.get_field(f"p_{code}")


# ------------------------------------------------------------------------------------------ states from stored data


def test_each_state_of_a_cell_from_the_stored_data(patient_a, users):
    vitals(patient_a, 0)
    vitals(patient_a, 1, confirmed_checks=["temperature_c.soft_high"])
    vitals(patient_a, 3)
    raise_query(patient_a, users, 3)
    vitals(patient_a, 4)
    services.query_answer(
        query=raise_query(patient_a, users, 4), answer_code="confirmed_source", text="as charted", user=users["nurse"]
    )
    DispositionEvent.objects.create(patient=patient_a, study_day=10, kind="death", cause_of_death="ARDS")
    states = states_of(patient_a)
    assert [states[day, "vital_signs"] for day in (0, 1, 2, 3, 4, 9, 10, 21)] == [
        ENTERED,
        CONFIRMED,
        MISSING,
        QUERY_OPEN,
        QUERY_ANSWERED,
        MISSING,
        NOT_REQUIRED,  # from the day of death
        NOT_REQUIRED,
    ]
    assert states[0, "laboratory"] == MISSING


def test_today_and_later_days_at_the_site_are_not_yet_due(study, site_a, arms):
    today = site_today(site_a)
    patient = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], enrolment_date=today - datetime.timedelta(days=2)
    )
    states = states_of(patient)
    # Today's forms are not late yet (as the protocol signals' "missing forms for past days").
    assert [states[day, "respiratory_support"] for day in (0, 1, 2, 3, 21)] == [
        MISSING,
        MISSING,
        NOT_DUE,
        NOT_DUE,
        NOT_DUE,
    ]


def test_a_discharge_ends_the_required_days(patient_a):
    DispositionEvent.objects.create(patient=patient_a, study_day=5, kind="discharged", normal_activities=True)
    states = states_of(patient_a)
    assert (states[5, "laboratory"], states[6, "laboratory"]) == (MISSING, NOT_REQUIRED)


def test_a_form_marked_not_done_is_its_own_state_and_not_missing(patient_a):
    vitals(patient_a, 2)
    LabResult.objects.create(patient=patient_a, study_day=2, not_done_reason="no blood sample taken")
    states = states_of(patient_a)
    assert (states[2, "vital_signs"], states[2, "laboratory"], states[2, "respiratory_support"]) == (
        ENTERED, NOT_DONE, MISSING,
    )  # fmt: skip


def test_queries_on_a_repeating_form_on_the_day_and_on_the_patient_have_cells(patient_a, users):
    drug = factories_drug(patient_a, day=2)
    services.query_open(
        patient=patient_a,
        study_day=2,
        form="drug_administration",
        record_id=drug.pk,
        text="Dose?",
        user=users["monitor"],
    )
    services.query_open(patient=patient_a, study_day=None, form="", text="Consent?", user=users["monitor"])
    grid = grid_of(patient_a)
    assert [(cell.form, cell.state) for cell in grid.days[2]] == [
        ("vital_signs", MISSING),
        ("respiratory_support", MISSING),
        ("laboratory", MISSING),
        ("drug_administration", QUERY_OPEN),
    ]
    assert [(cell.study_day, cell.state) for cell in grid.general] == [(None, QUERY_OPEN)]
    assert len(grid.days[3]) == len(DAY_FORMS)  # no waiting query: the daily forms only


def factories_drug(patient, day):
    from ecrf.models import DrugAdministration

    return DrugAdministration.objects.create(
        patient=patient, study_day=day, drug="anakinra", dose=5, dose_unit="mg/kg", route="iv", frequency="bid"
    )


# ------------------------------------------------------------------------------------------ counts kept up to date


def from_scratch(study, now=None) -> tuple[dict[int, Counter], dict[tuple[int, int], Counter]]:
    """Every patient's counts and the per-site sums, computed now from the stored data."""
    patients = list(with_follow_up_end(Patient.objects.filter(study=study)).select_related("site", "study"))
    per_patient = {grid.patient.pk: grid.counts() for grid in status_grid.grids(patients, now=now)}
    signatures = signature_state.signature_states(per_patient)
    sums: dict[tuple[int, int], Counter] = {}
    for patient in patients:
        counts = per_patient[patient.pk]
        group = sums.setdefault((patient.site_id, patient.arm_id), Counter())
        group["patients"] += 1
        group[f"s_{signatures[patient.pk]}"] += 1
        for code in CODES:
            group[f"n_{code}"] += counts[code]
            group[f"p_{code}"] += counts[code] > 0
    return per_patient, sums


def stored(study) -> tuple[dict[int, Counter], dict[tuple[int, int], Counter]]:
    per_patient = {
        row.patient_id: Counter({code: getattr(row, f"n_{code}") for code in CODES if getattr(row, f"n_{code}")})
        for row in PatientRecordStatus.objects.filter(study=study)
    }
    sums = {
        (row.site_id, row.arm_id): Counter(
            {
                name: getattr(row, name)
                for name in ("patients", *(f"{kind}_{code}" for kind in "np" for code in CODES), *SIGNATURE_FIELDS)
                if getattr(row, name)
            }
        )
        for row in SiteRecordStatus.objects.filter(study=study)
    }
    return per_patient, sums


def assert_counts_are_fresh(study, now=None):
    expected_patients, expected_sums = from_scratch(study, now)
    stored_patients, stored_sums = stored(study)
    assert stored_patients == {pk: +counts for pk, counts in expected_patients.items()}
    # A group left without patients (the last one moved away) stays as a row of zeros until the next recount.
    assert {group: counts for group, counts in stored_sums.items() if counts} == {
        group: +counts for group, counts in expected_sums.items()
    }
    kept = dict(PatientRecordStatus.objects.filter(study=study).values_list("patient_id", "signature"))
    assert kept == signature_state.signature_states(expected_patients)


def test_the_counts_follow_every_committed_change(study, patient_a, patient_b, users, committed):
    status_job.rebuild_study(study)
    assert_counts_are_fresh(study)
    assert PatientRecordStatus.objects.get(patient=patient_a).n_missing == 22 * 3

    with committed():
        full_day(patient_a, 0)
        record = vitals(patient_a, 1, confirmed_checks=["temperature_c.soft_high"])
    assert_counts_are_fresh(study)
    assert PatientRecordStatus.objects.get(patient=patient_a).n_confirmed == 1

    with committed():  # a delete
        record.delete()
    assert_counts_are_fresh(study)

    with committed():  # a query raised, then answered
        query = raise_query(patient_a, users, 0)
    assert_counts_are_fresh(study)
    with committed():
        services.query_answer(query=query, answer_code="confirmed_source", text="ok", user=users["nurse"])
    assert_counts_are_fresh(study)
    row = PatientRecordStatus.objects.get(patient=patient_a)
    assert (row.n_query_open, row.n_query_answered) == (0, 1)
    with committed():
        services.query_close(query=query, text="fine", user=users["monitor"])
    assert_counts_are_fresh(study)

    with committed():  # a death ends the required days
        DispositionEvent.objects.create(patient=patient_b, study_day=4, kind="death", cause_of_death="ARDS")
    assert_counts_are_fresh(study)

    with committed():  # the patient moves to the other arm
        patient_a.arm = patient_b.arm
        patient_a.save()
    assert_counts_are_fresh(study)
    status_job.recount(study)  # the hourly run's recount drops the empty group
    assert SiteRecordStatus.objects.filter(study=study).count() == 2
    assert_counts_are_fresh(study)


def test_a_change_of_most_of_a_study_is_recounted_by_a_study_job(study, patient_a, patient_b, committed, monkeypatch):
    """An import of a whole study: one status_rebuild_study job instead of each patient recounted after the commit
    (here from 2 patients instead of 1,000)."""
    with committed():  # the fixtures' own callbacks
        pass
    status_job.rebuild_study(study)
    jobs = []
    monkeypatch.setattr(on_commit, "STUDY_JOB_FROM", 2)
    monkeypatch.setattr(status_tasks.status_rebuild_study, "delay", jobs.append)
    with committed():
        full_day(patient_a, 0)
        full_day(patient_b, 0)
    assert jobs == [study.pk]
    assert PatientRecordStatus.objects.get(patient=patient_a).n_missing == 22 * 3  # not counted yet
    status_tasks.status_rebuild_study(jobs[0])  # the worker's run
    assert_counts_are_fresh(study)
    assert PatientRecordStatus.objects.get(patient=patient_a).n_missing == 21 * 3


def test_a_new_day_falls_due_with_the_hourly_run(study, site_a, arms):
    now = timezone.now()
    patient = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], enrolment_date=site_today(site_a, now) - datetime.timedelta(2)
    )
    status_job.rebuild_study(study, now=now)
    assert PatientRecordStatus.objects.get(patient=patient).n_missing == 2 * 3  # days 0 and 1; 2 is today
    assert status_job.refresh_due(now=now).patients == 0  # nothing changed: nothing to do

    tomorrow = now + datetime.timedelta(days=1)
    summary = status_job.refresh_due(now=tomorrow)
    assert (summary.patients, summary.studies) == (1, [study.code])
    assert PatientRecordStatus.objects.get(patient=patient).n_missing == 3 * 3
    assert_counts_are_fresh(study, tomorrow)


def test_the_hourly_run_counts_patients_never_counted_and_a_changed_follow_up(study, patient_a):
    assert status_job.refresh_due().patients == 1  # loaded without signals, e.g. by bulk_create
    assert_counts_are_fresh(study)
    study.follow_up_days = 28
    study.save()
    assert status_job.refresh_due().patients == 1
    assert PatientRecordStatus.objects.get(patient=patient_a).n_missing == 29 * 3
    assert_counts_are_fresh(study)


def test_a_recount_corrects_the_sums(study, patient_a, patient_b):
    status_job.rebuild_study(study)
    SiteRecordStatus.objects.filter(study=study).update(n_missing=1, patients=7)
    status_job.recount(study)
    assert_counts_are_fresh(study)


def test_the_command_rebuilds_a_study(study, patient_a, patient_b, capsys):
    ConsortCount.objects.create(study=study, site=patient_a.site, figure="screened", n=5)  # drift: nobody screened
    call_command("record_status", "--study", study.code)
    out = capsys.readouterr().out
    assert "Recomputed the record status of 2 patients and the screening log's counts in 1 study" in out
    assert_counts_are_fresh(study)
    assert not ConsortCount.objects.filter(study=study).exists()


def test_the_tasks_are_registered_and_the_hourly_run_is_scheduled(settings):
    from config.celery import app

    assert {"cleaning.status_refresh_due", "cleaning.status_rebuild_study"} <= set(app.tasks)
    tasks = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "cleaning.status_refresh_due" in tasks


# ------------------------------------------------------------------------------------------ the page


def page_of(client, user, study, query=""):
    client.force_login(user)
    response = client.get(url(study, query))
    assert response.status_code == 200
    return response.content.decode()


def rows_of(page: str) -> list[str]:
    return re.findall(r'<tr data-patient="([^"]+)"', page)


def count_of(page: str, kind: str, code: str) -> int:
    match = re.search(rf'data-testid="{kind}-{code}"[^>]*>(\d+)', page)
    return int(match.group(1))


def test_the_page_shows_the_legend_the_counts_and_the_grid(client, study, patient_a, users):
    full_day(patient_a, 0)
    raise_query(patient_a, users, 0)
    status_job.rebuild_study(study)
    page = page_of(client, users["nurse"], study)
    for state in STATES:  # the legend: each state's symbol and words
        assert f'data-state="{state.code}"' in page and state.label in page
    assert rows_of(page) == ["MI-0001"]
    assert count_of(page, "cells", "query_open") == 1
    assert count_of(page, "cells", "entered") == 2
    assert count_of(page, "cells", "missing") == 22 * 3 - 3
    assert count_of(page, "patients", "missing") == 1
    # Each cell: a symbol, its state in words for the pointer and the screen reader.
    words = "Vital signs, day 0: Query open"
    assert re.search(rf'title="{words}" aria-label="{words}"[^>]*>\?</a>', page)


def test_another_sites_patients_and_queries_never_appear(client, study, patient_a, patient_b, users):
    raise_query(patient_a, users, 2)
    status_job.rebuild_study(study)
    page = page_of(client, users["nurse_b"], study)
    assert rows_of(page) == ["BG-0001"]
    assert "MI-0001" not in page
    assert count_of(page, "cells", "query_open") == 0
    assert count_of(page, "patients", "missing") == 1
    page = page_of(client, users["data_manager"], study)
    assert rows_of(page) == ["BG-0001", "MI-0001"]
    assert count_of(page, "cells", "query_open") == 1
    # Asking for site A's rows by the filter gives a nurse of B nothing of A either.
    assert rows_of(page_of(client, users["nurse_b"], study, "site=MI")) == ["BG-0001"]


def test_filters_by_site_arm_and_status(client, study, patient_a, patient_b, users):
    raise_query(patient_a, users, 2)
    status_job.rebuild_study(study)
    manager = users["data_manager"]
    assert rows_of(page_of(client, manager, study, "site=BG")) == ["BG-0001"]
    assert rows_of(page_of(client, manager, study, "arm=high_dose")) == ["MI-0001"]
    page = page_of(client, manager, study, "status=query_open")
    assert rows_of(page) == ["MI-0001"]
    assert 'data-testid="matching">1 patient with a cell “query open”' in page
    assert 'href="?status=missing" title=' in page  # another state's button
    assert 'href="?" title=' in page  # the pressed one lists every patient again
    assert rows_of(page_of(client, manager, study, "status=entered")) == []
    page = page_of(client, manager, study, "site=BG")  # the counts follow the site filter
    assert count_of(page, "cells", "query_open") == 0


@pytest.mark.parametrize(
    "junk", ["site=XX", "arm=%00", "status=deleted", "after=" + "9" * 30, "before=%00", "site=&arm=&status="]
)
def test_a_junk_filter_is_no_filter(client, study, patient_a, patient_b, users, junk):
    status_job.rebuild_study(study)
    assert rows_of(page_of(client, users["data_manager"], study, junk)) in (["BG-0001", "MI-0001"], [])


def links_of(page: str, participant: str) -> list[tuple[str, str]]:
    row = re.search(rf'<tr data-patient="{participant}">(.*?)</tr>', page, flags=re.S).group(1)
    return re.findall(r'<(?:a|span) class="rs rs-\w+" title="([^"]+)"[^>]*?(?:href="([^"]*)")?>', row)


def test_a_click_opens_the_day_the_query_or_the_list_of_its_queries(client, study, site_a, arms, users):
    patient = factories.PatientFactory(
        study=study,
        site=site_a,
        arm=arms["standard"],
        participant_id="MI-0009",
        enrolment_date=site_today(site_a) - datetime.timedelta(days=3),
    )
    one = raise_query(patient, users, 1)
    raise_query(patient, users, 2)
    raise_query(patient, users, 2, field="spo2_pct")
    status_job.rebuild_study(study)
    links = dict(links_of(page_of(client, users["monitor"], study), "MI-0009"))
    assert links["Vital signs, day 0: Missing"] == f"/patients/{patient.pk}/day/0/"
    assert links["Vital signs, day 1: Query open"] == f"/queries/{one.pk}/"
    assert links["Vital signs, day 2: Query open (2 queries)"] == (
        f"/studies/{study.code}/queries/?patient=MI-0009&amp;day=2&amp;form=vital_signs&amp;status=waiting"
    )
    assert links["Laboratory, day 3: Not yet due"] == f"/patients/{patient.pk}/day/3/"  # today: to be entered
    assert links["Laboratory, day 4: Not yet due"] == ""  # nothing to open yet


def test_keyset_pages_in_participant_order(client, study, site_a, arms, users):
    for i in range(45):
        factories.PatientFactory(study=study, site=site_a, arm=arms["standard"], participant_id=f"MI-{i:04d}")
    status_job.rebuild_study(study)
    first = page_of(client, users["nurse"], study)
    assert rows_of(first) == [f"MI-{i:04d}" for i in range(20)]
    second = page_of(client, users["nurse"], study, "after=MI-0019")
    assert rows_of(second) == [f"MI-{i:04d}" for i in range(20, 40)]
    assert 'href="?after=MI-0039" rel="next"' in second and 'href="?before=MI-0020" rel="prev"' in second
    last = page_of(client, users["nurse"], study, "after=MI-0039")
    assert rows_of(last) == [f"MI-{i:04d}" for i in range(40, 45)] and 'rel="next"' not in last
    back = page_of(client, users["nurse"], study, "before=MI-0020")
    assert rows_of(back) == rows_of(first) and 'rel="prev"' not in back
    assert "20 of 45 patients" in first


def test_the_study_actions_and_the_query_list_link_to_the_page(client, study, users, patient_a):
    client.force_login(users["nurse"])
    assert url(study) in client.get("/").content.decode()
    assert url(study) in client.get(f"/studies/{study.code}/queries/").content.decode()


# ------------------------------------------------------------------------------------------ queries per page


def statements(client, address: str) -> int:
    """The statements reading or writing a table that a page runs (not transaction control)."""
    with CaptureQueriesContext(connection) as context:
        assert client.get(address).status_code == 200
    return sum(1 for q in context.captured_queries if not TRANSACTION_CONTROL.match(q["sql"]))


MAX_QUERIES = 14
PAGES = ("", "status=query_open", "status=missing&site=MI&arm=standard", "after=MI-0001")


def grow(study, site, arm, users, numbers: range) -> None:
    for i in numbers:
        patient = factories.PatientFactory(study=study, site=site, arm=arm, participant_id=f"MI-{i:04d}")
        full_day(patient, 0)
        vitals(patient, 1, confirmed_checks=["temperature_c.soft_high"])
        raise_query(patient, users, 2)
    status_job.rebuild_study(study)


@pytest.mark.parametrize("size", [3, 30])
def test_a_fixed_number_of_queries_whatever_the_size_of_the_study(
    client, study, site_a, arms, users, size, django_assert_max_num_queries
):
    grow(study, site_a, arms["standard"], users, range(size))
    client.force_login(users["monitor"])
    for query in PAGES:
        with django_assert_max_num_queries(MAX_QUERIES):
            assert client.get(url(study, query)).status_code == 200


def test_the_same_queries_at_two_sizes(client, study, site_a, arms, users):
    client.force_login(users["monitor"])
    grow(study, site_a, arms["standard"], users, range(3))
    small = [statements(client, url(study, query)) for query in PAGES]
    grow(study, site_a, arms["standard"], users, range(3, 30))
    assert [statements(client, url(study, query)) for query in PAGES] == small


def test_a_row_shows_the_casebook_signature(client, study, patient_a, patient_b, users):
    signature = factories.signed_casebook(patient_a, users["investigator"])
    status_job.rebuild_study(study)
    page = page_of(client, users["data_manager"], study)
    assert page.count('data-testid="signature-signed"') == 1 and "signature-broken" not in page
    type(signature).objects.filter(pk=signature.pk).update(broken_at=timezone.now(), broken_by_change="HR 80 -> 90")
    page = page_of(client, users["data_manager"], study)
    assert 'data-testid="signature-broken"' in page and "signature-signed" not in page


# ------------------------------------------------------------------------------------------ the patient list


def listed(client, study) -> list[tuple[str, int]]:
    """The patient list's rows: participant and today's forms missing (as shown)."""
    response = client.get(f"/studies/{study.code}/patients/")
    return [(p.participant_id, p.missing_today) for p in response.context["patients"]]


def test_every_patient_has_its_row_from_its_creation(study, site_a, arms):
    patient = factories.PatientFactory(study=study, site=site_a, arm=arms["standard"])
    row = PatientRecordStatus.objects.get(patient=patient)  # in the transaction that created the patient
    assert (row.as_of, row.participant_id, row.site_id) == (None, patient.participant_id, site_a.pk)


def test_the_patient_list_orders_by_the_kept_counts_and_follows_each_commit(
    client, study, site_a, arms, users, committed
):
    today = site_today(site_a)
    made = {
        participant: factories.PatientFactory(
            study=study,
            site=site_a,
            arm=arms["standard"],
            participant_id=participant,
            enrolment_date=today - datetime.timedelta(days=days_ago),
        )
        for participant, days_ago in (("MI-0001", 40), ("MI-0002", 3), ("MI-0003", 5))
    }
    client.force_login(users["nurse"])
    # The first view computes the rows no commit computed (the patients were made in this test's transaction).
    assert listed(client, study) == [("MI-0002", 3), ("MI-0003", 3), ("MI-0001", 0)]
    assert PatientRecordStatus.objects.get(patient=made["MI-0002"]).n_due_today == 3
    with committed():  # today's forms of MI-0002 entered: it moves down at once
        full_day(made["MI-0002"], 3)
    assert PatientRecordStatus.objects.get(patient=made["MI-0002"]).n_due_today == 0
    assert listed(client, study) == [("MI-0003", 3), ("MI-0001", 0), ("MI-0002", 0)]
    with committed():  # a death today: nothing is due any more
        DispositionEvent.objects.create(patient=made["MI-0003"], study_day=5, kind="death", cause_of_death="ARDS")
    assert listed(client, study) == [("MI-0001", 0), ("MI-0002", 0), ("MI-0003", 0)]


def test_a_new_day_puts_its_forms_first_with_the_hourly_run(study, site_a, arms):
    now = timezone.now()
    patient = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], enrolment_date=site_today(site_a, now) - datetime.timedelta(2)
    )
    full_day(patient, 2)
    status_job.rebuild_study(study, now=now)
    assert PatientRecordStatus.objects.get(patient=patient).n_due_today == 0  # today's forms are entered
    status_job.refresh_due(now=now + datetime.timedelta(days=1))
    assert PatientRecordStatus.objects.get(patient=patient).n_due_today == 3  # tomorrow's are not


def test_the_patient_list_reads_one_page_of_rows_whatever_the_size_of_the_study(client, study, site_a, arms, users):
    client.force_login(users["nurse"])
    counts = []
    for size in (3, 40):
        for number in range(len(counts) and 3, size):
            factories.PatientFactory(study=study, site=site_a, arm=arms["standard"], participant_id=f"MI-{number:04d}")
        client.get(f"/studies/{study.code}/patients/")  # computes the new patients' rows
        with CaptureQueriesContext(connection) as context:
            assert client.get(f"/studies/{study.code}/patients/").status_code == 200
        statements = [q["sql"] for q in context.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]
        counts.append(len(statements))
        ordered = next(sql for sql in statements if "n_due_today" in sql and "ORDER BY" in sql)
        limit = re.search(r"LIMIT (\d+)", ordered)
        assert limit and int(limit.group(1)) <= 100  # a page of the kept rows, in the index's order
        assert not any("COUNT(" in sql and "cleaning_patientrecordstatus" in sql for sql in statements)
    assert counts[0] == counts[1]
