"""The derivation job against the database: rows written, idempotent, per patient, bounded queries, locks."""

from decimal import Decimal

import pytest

from cohorts.audit import StudyLocked
from cohorts.services import study_set_locked
from ecrf import derivation_job, derivations, services
from ecrf.models import AdverseEvent, DerivedDay, PatientDerivation, VitalSigns
from ecrf.services import RecordInput
from tests import factories

VALUE_FIELDS = [f.name for f in DerivedDay._meta.concrete_fields if f.name not in ("id", "computed_at")]


def rows(patient) -> dict[int, dict]:
    return {r["study_day"]: r for r in DerivedDay.objects.filter(patient=patient).values(*VALUE_FIELDS)}


def document(patient, user, *, death_day: int | None = 5) -> None:
    """CPAP on FiO2 0.50 with SpO2 92% on day 0; a blood gas (PaO2 75 mmHg) on day 1; death on day 5."""
    services.day_record_save(
        form="respiratory_support",
        patient=patient,
        study_day=0,
        entry=RecordInput({"support": "cpap", "fio2": Decimal("0.50"), "peep_cmh2o": Decimal(10)}),
        user=user,
    )
    services.day_record_save(
        form="vital_signs", patient=patient, study_day=0, entry=RecordInput({"spo2_pct": 92}), user=user
    )
    services.day_record_save(
        form="respiratory_support",
        patient=patient,
        study_day=1,
        entry=RecordInput({"support": "cpap", "fio2": Decimal("0.60"), "peep_cmh2o": Decimal(10)}),
        user=user,
    )
    services.day_record_save(
        form="laboratory",
        patient=patient,
        study_day=1,
        entry=RecordInput({"pao2_mmhg": Decimal(75), "crp_mg_l": Decimal(120)}),
        user=user,
    )
    if death_day is not None:
        services.event_save(
            form="disposition_events",
            patient=patient,
            entry=RecordInput({"study_day": death_day, "kind": "death", "cause_of_death": "ARDS"}),
            user=user,
        )


def test_job_writes_the_derived_days(patient_a, users):
    document(patient_a, users["nurse"])
    summary = derivation_job.derive_patient(patient_a.pk)
    assert (summary.patients, summary.rows) == (1, 22)
    got = rows(patient_a)
    assert sorted(got) == list(range(22))  # days 0..follow_up_days
    day0 = got[0]
    assert day0["state"] == "hfnc_cpap_niv"
    assert (day0["ordinal_7"], day0["who_osci"], day0["who_cps"]) == (5, 5, 6)
    assert day0["fio2"] == 0.5 and not day0["fio2_estimated"]
    assert day0["pf_derived"] == pytest.approx((92 / 0.5 - 64) / 0.84)  # 142.857...
    assert day0["pf"] == pytest.approx(142.857142857)
    assert (day0["pf_source"], day0["ards_severity"]) == ("derived", "moderate")
    assert day0["pf_measured"] is None
    day1 = got[1]
    assert day1["pf_measured"] == pytest.approx(125.0)  # 75 / 0.60
    assert (day1["pf_source"], day1["pf_derived_note"]) == ("measured", derivations.NOTE_NO_SPO2)
    for day in range(5, 22):
        assert (got[day]["state"], got[day]["ordinal_7"], got[day]["who_cps"]) == ("death", 7, 10)
    assert got[4]["state"] == "" and got[4]["ordinal_7"] is None  # nothing recorded: unknown, with a note
    assert got[4]["status_note"] == "no respiratory support recorded"
    assert {r["algorithm_version"] for r in got.values()} == {derivations.ALGORITHM_VERSION}


def test_rerun_gives_identical_rows(patient_a, users):
    document(patient_a, users["nurse"])
    derivation_job.derive_patient(patient_a.pk)
    first = rows(patient_a)
    ids = set(DerivedDay.objects.values_list("pk", flat=True))
    derivation_job.derive_patient(patient_a.pk)
    assert rows(patient_a) == first
    assert set(DerivedDay.objects.values_list("pk", flat=True)) == ids  # updated in place, not re-inserted


def test_a_source_edit_rederives_only_that_patient(patient_a, patient_b, users):
    document(patient_a, users["nurse"])
    derivation_job.derive_study(patient_a.study)
    before_b = DerivedDay.objects.filter(patient=patient_b).values_list("computed_at", flat=True)
    before_b = set(before_b)
    record = VitalSigns.objects.get(patient=patient_a, study_day=0)
    services.day_record_save(
        form="vital_signs",
        patient=patient_a,
        study_day=0,
        entry=RecordInput({"spo2_pct": 98}, expected_version=record.version),
        user=users["nurse"],
        reason="typo",
    )
    derivation_job.derive_patient(patient_a.pk)
    day0 = rows(patient_a)[0]
    assert day0["pf_derived"] is None and day0["pf_derived_note"] == "SpO2 98% > 97%: Rice not valid"
    assert set(DerivedDay.objects.filter(patient=patient_b).values_list("computed_at", flat=True)) == before_b


def test_study_settings_are_used(patient_a, users):
    study = patient_a.study
    study.settings = {"derivation": {"ards_moderate_pf_max": 150.0, "ards_severe_pf_below": 130.0}}
    study.save()
    document(patient_a, users["nurse"], death_day=None)
    derivation_job.derive_study(study)
    got = rows(patient_a)
    assert got[0]["ards_severity"] == "moderate"  # 142.9 in [130, 150]
    assert got[1]["ards_severity"] == "severe"  # 125 < 130


def test_site_uln_applies_when_the_lab_row_has_none(patient_a, users):
    services.day_record_save(
        form="laboratory",
        patient=patient_a,
        study_day=2,
        entry=RecordInput({"ast_u_l": Decimal(121)}),
        user=users["nurse"],
    )
    derivation_job.derive_patient(patient_a.pk)
    assert rows(patient_a)[2]["liver_enzymes_gt_3uln"]  # site ULN 40: 121 > 120


def test_rows_beyond_the_follow_up_are_deleted(patient_a, users):
    derivation_job.derive_patient(patient_a.pk)
    study = patient_a.study
    study.follow_up_days = 14
    study.save()
    summary = derivation_job.derive_patient(patient_a.pk)
    assert summary.deleted == 7
    assert sorted(rows(patient_a)) == list(range(15))


def test_query_count_is_constant_in_days(patient_a, users, django_assert_max_num_queries):
    document(patient_a, users["nurse"])
    # patient, batch patients, 4 day sources, 2 course sources (drugs, episodes), SAVEPOINT, lock check, derivation
    # lock (PostgreSQL), stamps re-read, upsert of days, delete, upsert of courses, stamps, RELEASE SAVEPOINT
    with django_assert_max_num_queries(17):
        derivation_job.derive_patient(patient_a.pk)
    study = patient_a.study
    study.follow_up_days = 40
    study.save()
    with django_assert_max_num_queries(17):
        derivation_job.derive_patient(patient_a.pk)
    assert DerivedDay.objects.filter(patient=patient_a).count() == 41


def test_batches_give_the_same_rows_as_one_patient_at_a_time(study, site_a, arms, users):
    patients = [factories.PatientFactory(study=study, site=site_a, arm=arms["standard"]) for _ in range(5)]
    for patient in patients[::2]:
        document(patient, users["nurse"])
    derivation_job.derive_study(study, batch_patients=2)
    by_batches = {p.pk: rows(p) for p in patients}
    for patient in patients:
        derivation_job.derive_patient(patient.pk)
    assert {p.pk: rows(p) for p in patients} == by_batches


def test_locked_study_is_refused_and_skipped_by_the_nightly_run(patient_a, users):
    other = factories.PatientFactory(study=factories.StudyFactory(code="other-study"))
    study_set_locked(study=patient_a.study, locked=True, user=users["data_manager"], reason="release 1")
    with pytest.raises(StudyLocked):
        derivation_job.derive_patient(patient_a.pk)
    summary = derivation_job.derive_all()
    assert summary.skipped_locked == [patient_a.study.code]
    assert not DerivedDay.objects.filter(patient=patient_a).exists()
    assert DerivedDay.objects.filter(patient=other).count() == other.study.follow_up_days + 1


def test_unknown_patient_is_nothing_to_do(db):
    assert derivation_job.derive_patient(987654).rows == 0


def test_copy_and_orm_writes_give_the_same_rows(patient_a, users, monkeypatch):
    """PostgreSQL writes large batches with COPY + INSERT ... ON CONFLICT: same rows as bulk_create."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL only")
    document(patient_a, users["nurse"])
    derivation_job.derive_patient(patient_a.pk)
    by_orm = rows(patient_a)
    monkeypatch.setattr(derivation_job, "COPY_MIN_ROWS", 1)
    DerivedDay.objects.filter(patient=patient_a, study_day__gt=10).delete()  # inserts and updates
    derivation_job.derive_patient(patient_a.pk, force=True)
    derivation_job.derive_patient(patient_a.pk, force=True)  # twice in one connection: the temp table is reused
    assert rows(patient_a) == by_orm


def computed_times(patient) -> set:
    return set(DerivedDay.objects.filter(patient=patient).values_list("computed_at", flat=True))


def test_a_rerun_over_unchanged_data_rewrites_nothing_but_the_stamp(patient_a, users):
    document(patient_a, users["nurse"])
    derivation_job.derive_patient(patient_a.pk)
    first, written_at = rows(patient_a), computed_times(patient_a)
    stamp = PatientDerivation.objects.get(patient=patient_a)
    summary = derivation_job.derive_patient(patient_a.pk)
    assert (summary.rows, summary.written) == (22, 0)
    assert rows(patient_a) == first and computed_times(patient_a) == written_at
    rerun = PatientDerivation.objects.get(patient=patient_a)
    assert rerun.derived_at > stamp.derived_at and rerun.digest == stamp.digest


def test_a_change_rewrites_the_patient_and_force_rewrites_everything(patient_a, users):
    document(patient_a, users["nurse"])
    derivation_job.derive_patient(patient_a.pk)
    written_at = computed_times(patient_a)
    services.day_record_save(
        form="vital_signs", patient=patient_a, study_day=3, entry=RecordInput({"spo2_pct": 90}), user=users["nurse"]
    )
    summary = derivation_job.derive_patient(patient_a.pk)
    assert summary.written == 22
    assert rows(patient_a)[3]["pf_derived_note"] == derivations.NOTE_NO_FIO2  # SpO2 without support that day
    assert len(computed_times(patient_a)) == 1 and computed_times(patient_a) != written_at
    assert derivation_job.derive_patient(patient_a.pk, force=True).written == 22


def test_an_old_algorithm_version_is_rewritten_and_force_restores_rows_deleted_by_hand(patient_a, users, monkeypatch):
    document(patient_a, users["nurse"])
    derivation_job.derive_patient(patient_a.pk)
    expected = rows(patient_a)
    DerivedDay.objects.filter(patient=patient_a, study_day__in=[0, 7]).delete()  # raw SQL: the admin cannot
    assert derivation_job.derive_patient(patient_a.pk, force=True).written == 22
    assert rows(patient_a) == expected
    monkeypatch.setattr(derivations, "ALGORITHM_VERSION", "9.9.9")
    assert derivation_job.derive_patient(patient_a.pk).written == 22
    assert {r["algorithm_version"] for r in rows(patient_a).values()} == {"9.9.9"}


def test_digest_depends_on_the_values_not_on_the_category_order():
    import pandas as pd

    def frame(notes, pf):
        derived = pd.DataFrame({name: [None, None] for name in derivations.OUTPUT_COLUMNS})
        derived["patient_id"], derived["study_day"], derived["pf"] = [1, 1], [0, 1], pf
        derived["status_note"] = pd.Categorical(notes, categories=sorted(set(notes)))
        return derived

    one = derivation_job.patient_digests(frame(["a", "b"], [150.0, 90.0]))
    assert one.index.tolist() == [1]
    reordered = frame(["a", "b"], [150.0, 90.0])
    reordered["status_note"] = reordered["status_note"].cat.reorder_categories(["b", "a"])
    assert derivation_job.patient_digests(reordered).tolist() == one.tolist()
    assert derivation_job.patient_digests(frame(["a", "b"], [150.0, 90.5])).tolist() != one.tolist()
    assert derivation_job.patient_digests(frame(["b", "a"], [150.0, 90.0])).tolist() != one.tolist()


def test_a_patient_is_out_of_date_until_rederived_even_when_its_rows_stay_the_same(patient_a, users):
    """The release manifest's staleness check compares source changes with the last derivation, not row times."""
    from analysis.checklist import stale_derived

    participant = patient_a.participant_id
    document(patient_a, users["nurse"])
    assert participant in stale_derived(patient_a.study)  # never derived
    derivation_job.derive_patient(patient_a.pk)
    assert participant not in stale_derived(patient_a.study)
    # An adverse event changes no derived value; after the rederive the patient is current all the same.
    services.event_save(
        form="adverse_events",
        patient=patient_a,
        entry=RecordInput({"study_day": 2, "kind": "thromboembolism"}),
        user=users["nurse"],
    )
    assert participant in stale_derived(patient_a.study)
    assert derivation_job.derive_patient(patient_a.pk).written == 0
    assert participant not in stale_derived(patient_a.study)
    # A deleted record is a change of the source too, though no row is left to carry its time.
    event = AdverseEvent.objects.get(patient=patient_a, kind="thromboembolism")
    event._history_user, event._change_reason = users["nurse"], "entered on the wrong patient"
    event.delete()
    assert participant in stale_derived(patient_a.study)
    derivation_job.derive_patient(patient_a.pk)
    assert participant not in stale_derived(patient_a.study)


def cpap(patient, user, day: int, fio2: str) -> None:
    services.day_record_save(
        form="respiratory_support",
        patient=patient,
        study_day=day,
        entry=RecordInput({"support": "cpap", "fio2": Decimal(fio2), "peep_cmh2o": Decimal(10)}),
        user=user,
    )


@pytest.mark.parametrize("force", [False, True])
def test_a_batch_read_before_another_derivation_stored_does_not_overwrite_it(patient_a, users, force):
    """A nightly batch read ahead, then an edit and its own recompute store first: the batch keeps their rows."""
    study = patient_a.study
    document(patient_a, users["nurse"])
    derivation_job.derive_patient(patient_a.pk)
    cpap(patient_a, users["nurse"], 2, "0.40")  # an edit whose recompute is still queued
    read_ahead = derivation_job.read_batch(study, [patient_a.pk])
    cpap(patient_a, users["nurse"], 3, "0.70")  # a second edit
    derivation_job.derive_patient(patient_a.pk)  # ... whose recompute reads both edits and stores first
    fresh = rows(patient_a)
    assert fresh[3]["fio2"] == 0.7
    summary = derivation_job._store(study, read_ahead, force=force)
    assert rows(patient_a) == fresh  # not the read-ahead rows, which lack the day-3 edit
    assert summary.written == 0
    assert derivation_job.derive_batch(study, [patient_a.pk], force=force).rows == 22


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_study_run_reads_the_next_batch_ahead_on_postgresql(study, site_a, arms, users, monkeypatch):
    """Outside a transaction, PostgreSQL reads batch k+1 on a connection of its own while batch k is computed and
    stored: same rows as one patient at a time."""
    import threading

    from django.db import connection

    from ecrf import signals

    if connection.vendor != "postgresql":
        pytest.skip("reading ahead is for PostgreSQL")
    monkeypatch.setattr(signals._EnqueueOnCommit, "__call__", lambda self: None)  # no worker here
    patients = [factories.PatientFactory(study=study, site=site_a, arm=arms["standard"]) for _ in range(5)]
    for patient in patients[::2]:
        document(patient, users["nurse"])
    threads = {"read_batch": [], "_store": []}
    for name in threads:
        function = getattr(derivation_job, name)

        def spy(*args, _function=function, _name=name, **kwargs):
            threads[_name].append(threading.current_thread().name)
            return _function(*args, **kwargs)

        monkeypatch.setattr(derivation_job, name, spy)
    summary = derivation_job.derive_study(study, batch_patients=2)
    assert (summary.patients, summary.written) == (5, 5 * 22)
    assert len(threads["read_batch"]) == len(threads["_store"]) == 3
    assert all(name.startswith("derive-read") for name in threads["read_batch"])
    assert all(name == threading.main_thread().name for name in threads["_store"])
    by_batches = {p.pk: rows(p) for p in patients}
    monkeypatch.undo()
    for patient in patients:
        derivation_job.derive_patient(patient.pk, force=True)
    assert {p.pk: rows(p) for p in patients} == by_batches
    assert not any(t.name.startswith("derive-") for t in threading.enumerate())  # the threads are gone
