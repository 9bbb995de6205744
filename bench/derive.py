"""Benchmark of the derivation job (issue 5), measured in one run on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ecrf .venv/bin/python bench/derive.py

Builds its own test database (dropped at the end) and loads BENCH_PATIENTS patients (default 48,000) x BENCH_DAYS
days (default 21) of source data with COPY (the loader of bench/export.py: vital signs, respiratory support,
laboratory results, discharges, deaths, day-21 contacts, and an old derived row per patient-day to overwrite).
The tables are vacuumed and analysed after the load and after the first full recompute (what autovacuum does
between a bulk write and the next night's run; otherwise it wakes up during the timed runs, at random).
The floor of the job is reading its input columns of the whole study, one query per source table. Then, timed
against that floor in the same run:

1. the first full recompute (derive_study): every patient-day computed, and every row rewritten because none
   was derived by this algorithm yet (also what an algorithm version bump or ``derive --force`` costs);
2. the nightly full recompute over unchanged sources: every patient-day computed and compared, nothing
   rewritten - target <= 2.0 x the floor;
3. the nightly full recompute after 5% of the patients had a vital sign corrected (their rows rewritten);
4. the ratio of a naive per-row ORM loop (per patient-day: query each form, compute in Python, save) to the job
   writing every row, on the same sample of ~10,000 patient-days - target >= 50;
5. p95 of the recompute of one patient whose rows changed (what the task does after a save) - target <= 50 ms;
6. memory: tracemalloc peak of one batch at two batch sizes, and the process's peak RSS after the full runs.
"""

from __future__ import annotations

import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/export.py: the shared loader
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")

import export
from _db import own_test_database
from django.db import connection

TARGET_READ_RATIO = 2.0
TARGET_NAIVE_RATIO = 50.0
TARGET_P95_MS = 50.0
SAMPLE_ROWS = 10_000


def read_floor(study) -> float:
    """Fetch the job's input columns of the whole study: one query per source table, no processing.

    The same reader as the job's (derivation_job.read_rows: the ORM's SQL on a plain cursor, tuples fetched).
    """
    from ecrf import derivation_job
    from ecrf.models import Patient

    ids = Patient.objects.filter(study=study).values("pk")
    start = time.perf_counter()
    for model, casts, columns, _ in derivation_job._SOURCES.values():
        derivation_job.read_rows(model.objects.filter(patient_id__in=ids).annotate(**casts), columns)
    return time.perf_counter() - start


def settle() -> None:
    """VACUUM ANALYZE the job's tables, as autovacuum does between a bulk write and the next night's run.

    Without it, autovacuum wakes up during the timed runs (after the bulk load, after a million rows rewritten)
    and shares this machine's two cores with them at random: a cost of the previous write, not of the run.
    """
    from cohorts.models import Patient
    from ecrf import derivation_job
    from ecrf.models import DerivedDay, PatientDerivation

    models = [Patient, DerivedDay, PatientDerivation, *(model for model, *_ in derivation_job._SOURCES.values())]
    with connection.cursor() as cursor:
        for model in models:
            cursor.execute(f"VACUUM ANALYZE {model._meta.db_table}")


def correct_vitals(study, every: int) -> int:
    """A nurse's correction of the day-3 SpO2 of one patient in ``every`` (set straight in SQL: no signal fires)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ecrf_vitalsigns v SET spo2_pct = v.spo2_pct - 2 FROM cohorts_patient p "
            "WHERE p.id = v.patient_id AND p.study_id = %s AND v.study_day = 3 AND v.spo2_pct > 80 "
            "AND p.id %% %s = 0",
            [study.pk, every],
        )
        return cursor.rowcount


def naive_loop(study, patient_ids) -> int:
    """The straightforward way: one query per form per patient-day, Python arithmetic, one save per row."""
    from django.utils import timezone

    from ecrf.models import DerivedDay, DispositionEvent, LabResult, RespiratorySupport, VitalSigns

    level = {"room_air": 3, "nasal_cannula": 4, "simple_mask": 4, "venturi": 4, "non_rebreather": 4}
    rows = 0
    for patient_id in patient_ids:
        death_day = None
        for day in range(study.follow_up_days + 1):
            support = RespiratorySupport.objects.filter(patient_id=patient_id, study_day=day).first()
            vitals = VitalSigns.objects.filter(patient_id=patient_id, study_day=day).first()
            labs = LabResult.objects.filter(patient_id=patient_id, study_day=day).first()
            events = list(DispositionEvent.objects.filter(patient_id=patient_id, study_day=day))
            if any(e.kind == "death" for e in events) and death_day is None:
                death_day = day
            fio2 = float(support.fio2) if support and support.fio2 is not None else None
            if fio2 is None and support and support.support == "nasal_cannula" and support.flow_l_min is not None:
                fio2 = round(0.20 + 0.04 * min(float(support.flow_l_min), 6), 2)
            pf_derived = None
            if vitals and vitals.spo2_pct is not None and fio2 and vitals.spo2_pct <= 97:
                sf = vitals.spo2_pct / fio2
                pf_derived = (sf - 64) / 0.84 if sf > 64 else None
            pf_measured = float(labs.pao2_mmhg) / fio2 if labs and labs.pao2_mmhg is not None and fio2 else None
            pf = min((v for v in (pf_measured, pf_derived) if v is not None), default=None)
            ordinal = 7 if death_day is not None else (level.get(support.support, 5) if support else None)
            DerivedDay.objects.update_or_create(
                patient_id=patient_id,
                study_day=day,
                defaults={
                    "ordinal_7": ordinal,
                    "fio2": fio2,
                    "pf_measured": pf_measured,
                    "pf_derived": pf_derived,
                    "pf": pf,
                    "algorithm_version": "naive",
                    "computed_at": timezone.now(),
                },
            )
            rows += 1
    return rows


def batch_peak_mb(study, patient_ids) -> float:
    from ecrf import derivation_job

    tracemalloc.start()
    derivation_job.derive_batch(study, patient_ids)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 1e6


def run() -> int:
    from ecrf import derivation_job
    from ecrf.models import Patient

    print(f"Derivation benchmark: {export.PATIENTS:,} patients x {export.DAYS} days on PostgreSQL (one run)")
    study, site, arms, _ = export.make_study()
    study.follow_up_days = export.DAYS - 1  # grid days 0..DAYS-1: one derived row per loaded patient-day
    study.save()
    patient_days, _ = export.timed("bulk load (COPY FROM)", export.populate, study, site, arms)
    print(f"  patient-days: {patient_days:,}")
    export.timed("VACUUM ANALYZE after the load", settle)

    read_s = min(export.timed("read floor: input columns, one query per table", read_floor, study)[1] for _ in "ab")
    first, first_s = export.timed("first full recompute: every row rewritten", derivation_job.derive_study, study)
    export.timed("VACUUM ANALYZE after the rewrite", settle)
    nightly, nightly_s = export.timed("nightly full recompute, sources unchanged", derivation_job.derive_study, study)
    nightly_s = min(
        nightly_s, export.timed("nightly full recompute, sources unchanged", derivation_job.derive_study, study)[1]
    )
    corrected = correct_vitals(study, every=20)
    changed, changed_s = export.timed(
        f"nightly full recompute after {corrected:,} corrections", derivation_job.derive_study, study
    )
    read_s = min(read_s, export.timed("read floor again", read_floor, study)[1])
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    ids = list(Patient.objects.filter(study=study).order_by("pk").values_list("pk", flat=True))
    sample = ids[: max(1, SAMPLE_ROWS // export.DAYS)]
    _, sample_job_s = export.timed(
        f"job on the sample ({len(sample) * export.DAYS:,} rows, all rewritten)",
        derivation_job.derive_batch,
        study,
        sample,
        force=True,
    )
    _, naive_s = export.timed("naive per-row ORM loop on the same sample", naive_loop, study, sample)
    derivation_job.derive_batch(study, sample, force=True)  # restore the real derived rows

    rng = np.random.default_rng(5)
    times = []
    for patient_id in rng.choice(ids, size=300):
        start = time.perf_counter()
        derivation_job.derive_patient(int(patient_id), force=True)  # its rows rewritten, as after a change
        times.append(time.perf_counter() - start)
    p50, p95 = np.percentile(times, [50, 95]) * 1000

    small_mb = batch_peak_mb(study, ids[: derivation_job.BATCH_PATIENTS // 4])
    batch_mb = batch_peak_mb(study, ids[: derivation_job.BATCH_PATIENTS])

    read_ratio, naive_ratio = nightly_s / read_s, naive_s / sample_job_s
    print()
    for label, summary, seconds in (
        ("first full recompute (every row rewritten)", first, first_s),
        ("nightly full recompute, sources unchanged", nightly, nightly_s),
        (f"nightly full recompute, {corrected:,} corrections", changed, changed_s),
    ):
        print(
            f"RESULT {label}: {summary.rows:,} patient-days ({summary.written:,} rewritten) in {seconds:.2f} s = "
            f"{summary.rows / seconds:,.0f} patient-days/s, {seconds / read_s:.2f} x the read floor"
        )
    print(
        f"RESULT ratio nightly job / read floor {read_ratio:.2f} ({nightly_s:.2f} s / {read_s:.2f} s; "
        f"target <= {TARGET_READ_RATIO})"
    )
    print(
        f"RESULT naive ORM loop / job on {len(sample) * export.DAYS:,} rows: {naive_ratio:.0f}x "
        f"({naive_s:.1f} s / {sample_job_s:.3f} s; target >= {TARGET_NAIVE_RATIO:.0f}x)"
    )
    print(
        f"RESULT incremental one-patient recompute p50 {p50:.1f} ms, p95 {p95:.1f} ms "
        f"(target <= {TARGET_P95_MS:.0f} ms)"
    )
    print(
        f"RESULT memory: tracemalloc peak {small_mb:.0f} MB per batch of {derivation_job.BATCH_PATIENTS // 4} "
        f"patients, {batch_mb:.0f} MB per batch of {derivation_job.BATCH_PATIENTS} (grows with the batch, not the "
        f"study); process peak RSS {rss_mb:.0f} MB after the full run"
    )
    ok = read_ratio <= TARGET_READ_RATIO and naive_ratio >= TARGET_NAIVE_RATIO and p95 <= TARGET_P95_MS
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    if connection.vendor != "postgresql":
        print("bench/derive.py needs PostgreSQL: set DATABASE_URL to a PostgreSQL database")
        return 2
    with own_test_database("derive"):
        return run()


if __name__ == "__main__":
    sys.exit(main())
