"""The casebook grid, the patient list with today's missing forms first, and the query counts of the pages.

Query counts leave out transaction control (BEGIN, COMMIT, SAVEPOINT, RELEASE): SQLite's backend logs its
BEGIN, and inside a test's transaction every atomic block adds a SAVEPOINT pair that production never sends;
PostgreSQL through psycopg logs neither. What is counted is every statement that reads or writes a table.
"""

import datetime
import re
from contextlib import contextmanager

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from ecrf import derivation_job
from ecrf.models import (
    DerivedDay,
    DispositionEvent,
    DrugAdministration,
    LabResult,
    RespiratorySupport,
    VitalSigns,
)
from tests import factories
from tests.ecrf.test_entry_helpers import day_post, day_url

MAX_QUERIES = 15
TRANSACTION_CONTROL = re.compile(
    r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT|ROLLBACK TO SAVEPOINT)\b", re.I
)


@contextmanager
def max_queries(limit: int):
    with CaptureQueriesContext(connection) as context:
        yield context
    statements = [q["sql"] for q in context.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])]
    assert len(statements) <= limit, f"{len(statements)} queries (limit {limit}):\n" + "\n".join(statements)


def fill_days(patient, days, *, derived=False):
    for day in days:
        VitalSigns.objects.create(patient=patient, study_day=day, temperature_c=37, spo2_pct=93)
        RespiratorySupport.objects.create(patient=patient, study_day=day, support="cpap", fio2="0.5", peep_cmh2o=10)
        LabResult.objects.create(patient=patient, study_day=day, crp_mg_l=100)
        DrugAdministration.objects.create(
            patient=patient, study_day=day, drug="anakinra", dose=5, dose_unit="mg/kg", route="iv", frequency="bid"
        )
        if derived:
            DerivedDay.objects.create(
                patient=patient,
                study_day=day,
                state="cpap",
                ordinal_7=5,
                fio2=0.5,
                pf=142.857,
                pf_source="derived",
                algorithm_version="t",
                computed_at=timezone.now(),
            )


def cell_states(page: str) -> dict[tuple[int, str], str]:
    states = {}
    for day, body in re.findall(r'<tr id="day-(\d+)"[^>]*>(.*?)</tr>', page, flags=re.S):
        for state, form in re.findall(r'data-state="(\w+)" data-form="(\w+)"', body):
            states[(int(day), form)] = state
    return states


@pytest.fixture
def nurse(client, users):
    client.force_login(users["nurse"])
    return client


def test_casebook_grid_states(nurse, patient_a):
    patient_a.enrolment_date = timezone.localdate() - datetime.timedelta(days=10)
    patient_a.save()
    fill_days(patient_a, [0, 1, 2], derived=True)
    VitalSigns.objects.create(patient=patient_a, study_day=3)
    DispositionEvent.objects.create(patient=patient_a, study_day=8, kind="discharged", normal_activities=True)
    page = nurse.get(f"/patients/{patient_a.pk}/").content.decode()
    states = cell_states(page)
    assert states[(0, "vital_signs")] == states[(2, "laboratory")] == "entered"
    assert states[(3, "vital_signs")] == "entered" and states[(3, "respiratory_support")] == "missing"
    assert states[(8, "vital_signs")] == "missing"  # the day of discharge itself
    assert states[(9, "vital_signs")] == states[(21, "laboratory")] == "not_required"  # after discharge
    vitals = VitalSigns.objects.get(study_day=0)
    assert f'href="/history/ecrf.vitalsigns/{vitals.pk}/"' in page
    assert f'href="/patients/{patient_a.pk}/day/4/">enter</a>' in page
    drug = DrugAdministration.objects.first()
    assert f'href="/patients/{patient_a.pk}/drugs/{drug.pk}/"' in page and "Anakinra 5 mg/kg IV bid" in page
    assert "Discharged, normal activities" in page
    # Derived values of the Celery job: the ordinal status with its state, P/F with its source.
    assert "<strong>5</strong>" in page and "143 <span" in page and "derived" in page
    assert "17 missing forms" in page  # day 3 (2), days 4-8 (3 each; 8 is the day of discharge)


def test_casebook_after_death(nurse, patient_a):
    patient_a.enrolment_date = timezone.localdate() - datetime.timedelta(days=30)
    patient_a.save()
    fill_days(patient_a, [0, 1])
    DispositionEvent.objects.create(patient=patient_a, study_day=1, kind="death", cause_of_death="ARDS")
    VitalSigns.objects.create(patient=patient_a, study_day=4)  # e.g. imported before the death was known
    page = nurse.get(f"/patients/{patient_a.pk}/").content.decode()
    states = cell_states(page)
    assert states[(2, "laboratory")] == "not_required" and states[(4, "vital_signs")] == "after_death"
    assert "died on study day 1" in page and "Death: ARDS" in page


def test_casebook_future_days_are_not_due(nurse, patient_a):
    patient_a.enrolment_date = timezone.localdate() - datetime.timedelta(days=2)
    patient_a.save()
    states = cell_states(nurse.get(f"/patients/{patient_a.pk}/").content.decode())
    assert states[(2, "vital_signs")] == "missing" and states[(3, "vital_signs")] == "not_due"


def test_patient_list_today_missing_first(nurse, study, site_a, arms, patient_a):
    today = timezone.localdate()
    complete = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], participant_id="MI-0000", enrolment_date=today
    )
    fill_days(complete, [0])
    partial = factories.PatientFactory(
        study=study, site=site_a, arm=arms["standard"], participant_id="MI-0009", enrolment_date=today
    )
    VitalSigns.objects.create(patient=partial, study_day=0)
    empty = factories.PatientFactory(
        study=study,
        site=site_a,
        arm=arms["standard"],
        participant_id="MI-0005",
        enrolment_date=today - datetime.timedelta(days=3),
    )
    dead = factories.PatientFactory(
        study=study,
        site=site_a,
        arm=arms["standard"],
        participant_id="MI-0002",
        enrolment_date=today - datetime.timedelta(days=3),
    )
    DispositionEvent.objects.create(patient=dead, study_day=2, kind="death", cause_of_death="x")
    response = nurse.get(f"/studies/{study.code}/patients/")
    rows = [(p.participant_id, p.missing_today) for p in response.context["patients"]]
    assert rows == [("MI-0005", 3), ("MI-0009", 2), ("MI-0000", 0), ("MI-0001", 0), ("MI-0002", 0)]
    page = response.content.decode()
    assert f'href="/patients/{empty.pk}/day/3/">3 missing: enter day 3</a>' in page
    assert "Died (day 2)" in page


@pytest.mark.parametrize(
    ("kind", "listed", "header"),
    [
        ("discharged", "Discharged (day 4)", "discharged on study day 4"),
        ("withdrawal", "Withdrawn (day 4)", "withdrawn on study day 4"),
        ("lost_to_follow_up", "Lost to follow-up (day 4)", "lost to follow-up on study day 4"),
    ],
)
def test_the_list_and_the_casebook_name_what_ended_the_follow_up(nurse, study, patient_a, kind, listed, header):
    """A nurse reads why no form is due any more: discharged, withdrawn or lost, not an unexplained "follow-up
    ended"; a death after it is what the list shows."""
    patient_a.enrolment_date = timezone.localdate() - datetime.timedelta(days=10)
    patient_a.save()
    DispositionEvent.objects.create(patient=patient_a, study_day=6, kind="icu_admission")
    DispositionEvent.objects.create(
        patient=patient_a, study_day=4, kind=kind, normal_activities=False if kind == "discharged" else None
    )
    DispositionEvent.objects.create(patient=patient_a, study_day=5, kind="withdrawal")  # later: not the one named
    rows = nurse.get(f"/studies/{study.code}/patients/").content.decode()
    assert listed in rows and "ollow-up ended" not in rows
    casebook = nurse.get(f"/patients/{patient_a.pk}/").content.decode()
    assert header in casebook and "follow-up ended" not in casebook
    DispositionEvent.objects.create(patient=patient_a, study_day=8, kind="death", cause_of_death="ARDS")
    assert "Died (day 8)" in nurse.get(f"/studies/{study.code}/patients/").content.decode()


def test_patient_list_site_filter(client, users, study, patient_a, patient_b):
    client.force_login(users["data_manager"])
    page = client.get(f"/studies/{study.code}/patients/?site=BG").content.decode()
    assert "BG-0001" in page and "MI-0001" not in page


# ------------------------------------------------------------------------------------------ query counts


def many_patients(study, site, arm, n):
    for i in range(n):
        patient = factories.PatientFactory(study=study, site=site, arm=arm, participant_id=f"MI-1{i:03d}")
        fill_days(patient, range(6))


@pytest.mark.parametrize("size", [1, 8])
def test_query_counts_do_not_grow(client, users, study, site_a, arms, patient_a, size):
    many_patients(study, site_a, arms["standard"], size)
    fill_days(patient_a, range(2 + 2 * size), derived=True)
    client.force_login(users["nurse"])
    with max_queries(MAX_QUERIES):
        assert client.get(day_url(patient_a, 2)).status_code == 200
    with max_queries(MAX_QUERIES):
        assert client.get(f"/patients/{patient_a.pk}/").status_code == 200
    # The patients were made in this test's transaction: no commit computed their record status, so the list's
    # first view computes it (in a running system the commit after their creation did).
    client.get(f"/studies/{study.code}/patients/")
    with max_queries(MAX_QUERIES):
        assert client.get(f"/studies/{study.code}/patients/").status_code == 200
    # The heaviest POST: all three forms of the day edited.
    data = day_post(
        vitals={"temperature_c": "38"},
        support={"support": "cpap", "fio2": "0.6", "peep_cmh2o": "12"},
        labs={"crp_mg_l": "90"},
        versions={"vitals": 1, "support": 1, "labs": 1},
        reason="correction",
    )
    with max_queries(MAX_QUERIES):
        assert client.post(day_url(patient_a, 2), data).status_code == 302
    assert VitalSigns.objects.get(patient=patient_a, study_day=2).version == 2
    # A POST refused (hard limit) and shown again.
    with max_queries(MAX_QUERIES):
        assert client.post(day_url(patient_a, 1), day_post(vitals={"temperature_c": "50"})).status_code == 200
    # A new day, all three forms created.
    data = day_post(vitals={"temperature_c": "38"}, support={"support": "room_air"}, labs={"crp_mg_l": "9"})
    day = 2 + 2 * size
    with max_queries(MAX_QUERIES):
        assert client.post(day_url(patient_a, day), data).status_code == 302


def day_row(page: str, day: int) -> str:
    return re.search(rf'<tr id="day-{day}"[^>]*>(.*?)</tr>', page, flags=re.S).group(1)


def test_casebook_ordinal_column_reads_as_words(nurse, patient_a):
    """The ordinal status shows its state as a person says it, not the code stored for the exports."""
    patient_a.enrolment_date = timezone.localdate() - datetime.timedelta(days=10)
    patient_a.save()
    fill_days(patient_a, [0])
    DispositionEvent.objects.create(patient=patient_a, study_day=1, kind="discharged", normal_activities=True)
    derivation_job.derive_study(patient_a.study)
    page = nurse.get(f"/patients/{patient_a.pk}/").content.decode()
    assert "High-flow nasal cannula, CPAP or NIV" in day_row(page, 0)
    assert "Discharged, normal activities resumed" in day_row(page, 2)
    assert "hfnc_cpap_niv" not in page and "discharged_normal" not in page


def test_casebook_future_days_read_not_yet_due(nurse, patient_a):
    """A day still to come has no respiratory support recorded because it has not happened: the ordinal column
    says so, while a past day without the form keeps the reason its status is unknown."""
    patient_a.enrolment_date = timezone.localdate() - datetime.timedelta(days=2)
    patient_a.save()
    fill_days(patient_a, [0])
    derivation_job.derive_study(patient_a.study)
    assert DerivedDay.objects.filter(patient=patient_a, study_day=5, status_note__contains="no respiratory").exists()
    page = nurse.get(f"/patients/{patient_a.pk}/").content.decode()
    assert "no respiratory support recorded" in day_row(page, 1)  # yesterday: the form is missing
    for day in (3, 21):
        row = day_row(page, day)
        assert "not yet due" in row and "no respiratory support recorded" not in row


def test_casebook_legend_explains_itself(nurse, patient_a):
    """The legend says what an estimated FiO2 is instead of citing a document the user does not have."""
    page = nurse.get(f"/patients/{patient_a.pk}/").content.decode()
    legend = page.split('data-testid="casebook"')[0]
    assert "clinical definitions" not in legend.lower() and "§" not in legend
    assert "estimated" in legend and "not set on the device" in legend


def test_casebook_cells_are_coloured_by_state(nurse, patient_a):
    """Each state of the legend colours its cells. Bootstrap paints every table cell with var(--bs-table-bg), over a
    plain background: a state's colour shows only through that variable (checked on a screenshot; the test client
    sees the stylesheet, not the cascade)."""
    page = nurse.get(f"/patients/{patient_a.pk}/").content.decode()
    for state in ("entered", "missing", "after_death", "not_required"):
        rule = re.search(rf"\.cell-{state} {{([^}}]*)}}", page)
        background = re.search(r"background: (#\w+)", rule.group(1)).group(1)
        assert f"--bs-table-bg: {background}" in rule.group(1), state
