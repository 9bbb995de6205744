"""Benchmark of locked-release exports and of the analysis (issue 6), measured in one run on PostgreSQL.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ecrf .venv/bin/python bench/export.py

Builds its own test database (Django's setup_databases; dropped at the end) with BENCH_PATIENTS patients
(default 48,000) followed for BENCH_DAYS study days (default 21: days 0-20), i.e. about a million patient-days,
each with vital signs, respiratory support, laboratory results and a derived row, plus discharges, deaths, day-21
contacts and adverse events, and one "created" history row per record (so that the lock's archive has an audit
trail of the study's size). Then, timed:

1. the lock (release v1: every table frozen to Parquet, outcomes, arm tables, figures, codebook, the archive with
   the audit trail, manifest);
2. the CSV and the Parquet export of the release (zips built from the frozen files) and, in the same run,
   PostgreSQL ``COPY (SELECT ...) TO STDOUT`` of the same tables (same rows, columns and order): the ratio
   export / COPY is printed, target <= 3.0; the CDISC ODM export (every value as XML with the audit record of
   its last change, then the whole trail), target <= 25 times the COPY;
3. the outcome tables and Kaplan-Meier (with log-rank, Cox and the arm tables) for all patients from the frozen
   frames: target < 10 s.
"""

from __future__ import annotations

import datetime
import os
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")

import django

django.setup()

from _db import bulk_load, own_test_database  # noqa: E402
from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "48000"))
DAYS = int(os.environ.get("BENCH_DAYS", "21"))
TARGET_RATIO = 3.0
TARGET_ANALYSIS_S = 10.0
#: The ODM document writes every value as XML with the audit record of its last change, then the whole trail (about
#: 25 times the bytes of COPY's CSV output, see the sizes printed): it stays within this multiple of COPY's time.
TARGET_ODM_RATIO = 25.0
SEED = 20200317


def timed(label: str, function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    elapsed = time.perf_counter() - start
    print(f"  {label:<58} {elapsed:8.2f} s", flush=True)
    return result, elapsed


def make_study():
    from django.contrib.auth import get_user_model

    from cohorts.models import Arm, Site, Study

    study = Study.objects.create(code="bench-export", title="Export benchmark", protocol="milan_2020")
    site = Site.objects.create(code="BE", name="Benchmark site")
    site.studies.add(study)
    arms = [
        Arm.objects.create(study=study, code="standard", name="Standard treatment", order=1),
        Arm.objects.create(study=study, code="high_dose", name="High-dose anakinra", order=2),
    ]
    user = get_user_model().objects.create(username="bench_data_manager")
    return study, site, arms, user


def populate(study, site, arms) -> int:
    """Bulk-load the patients and their patient-days with COPY; returns the number of patient-days."""
    from cohorts.models import Patient

    rng = np.random.default_rng(SEED)
    n = PATIENTS
    arm_ids = np.where(rng.random(n) < 0.5, arms[0].pk, arms[1].pk)
    ages = rng.integers(30, 90, n)
    weights = np.round(rng.normal(80, 15, n).clip(40, 200), 1)
    bulk_load(
        "cohorts_patient",
        [
            "study_id",
            "site_id",
            "arm_id",
            "participant_id",
            "enrolment_date",
            "sex",
            "age_years",
            "weight_kg",
            "weight_confirmed",
            "diabetes",
            "hypertension",
            "status",
            "version",
        ],
        (
            (
                study.pk,
                site.pk,
                int(arm_ids[i]),
                f"BE-{i + 1:06d}",
                datetime.date(2020, 3, 17),
                "MF"[i % 2],
                int(ages[i]),
                float(weights[i]),
                False,
                bool(i % 4 == 0),
                bool(i % 2),
                "active",
                1,
            )
            for i in range(n)
        ),
    )
    ids = np.array(Patient.objects.filter(study=study).order_by("participant_id").values_list("pk", flat=True))
    # Course: death on a random day for 15% (more in the standard arm), discharge for 45%, others in hospital.
    death_p = np.where(arm_ids == arms[0].pk, 0.25, 0.10)
    outcome = rng.random(n)
    death_day = np.where(outcome < death_p, rng.integers(1, DAYS, n), 10_000)
    discharge_day = np.where((outcome >= death_p) & (outcome < death_p + 0.45), rng.integers(5, DAYS, n), 10_000)
    pid = np.repeat(ids, DAYS)
    day = np.tile(np.arange(DAYS), n)
    dead = day >= np.repeat(death_day, DAYS)
    home = (day >= np.repeat(discharge_day, DAYS)) & ~dead
    in_hospital = ~dead & ~home
    m = len(pid)
    now = datetime.datetime.now(datetime.UTC)
    cpap = rng.random(m) < 0.6
    temperature = np.round(rng.normal(37.5, 0.8, m).clip(34, 42), 1)
    heart = rng.integers(60, 130, m).astype(float)
    heart[rng.random(m) < 0.2] = np.nan  # missing values stay missing
    spo2 = rng.integers(85, 99, m)
    pao2 = np.round(rng.normal(75, 15, m).clip(30, 200), 1)
    crp = np.round(rng.gamma(2.0, 60.0, m).clip(0, 900), 1)
    crp[rng.random(m) < 0.5] = np.nan
    pf = np.round(rng.normal(160, 60, m).clip(40, 450), 1)

    def nan(value, kind=float):
        return None if value != value else kind(value)

    base = ["patient_id", "study_day", "confirmed_checks", "version", "updated_at"]
    rows = np.flatnonzero(in_hospital)
    bulk_load(
        "ecrf_vitalsigns",
        [*base, "temperature_c", "heart_rate_bpm", "spo2_pct"],
        (
            (int(pid[i]), int(day[i]), "[]", 1, now, float(temperature[i]), nan(heart[i], int), int(spo2[i]))
            for i in rows
        ),
    )
    bulk_load(
        "ecrf_respiratorysupport",
        [*base, "support", "flow_l_min", "fio2", "peep_cmh2o", "ecmo", "prone", "vasopressors", "rrt"],
        (
            (int(pid[i]), int(day[i]), "[]", 1, now, "cpap", None, 0.5, 10.0, False, False, False, False)
            if cpap[i]
            else (int(pid[i]), int(day[i]), "[]", 1, now, "nasal_cannula", 3.0, None, None, False, False, False, False)
            for i in rows
        ),
    )
    bulk_load(
        "ecrf_labresult",
        [*base, "pao2_mmhg", "pao2_entered_unit", "crp_mg_l", "crp_entered_unit", "ddimer_basis"],
        ((int(pid[i]), int(day[i]), "[]", 1, now, float(pao2[i]), "mmHg", nan(crp[i]), "mg/L", "") for i in rows),
    )
    state = np.where(dead, "death", np.where(home, "discharged_normal", np.where(cpap, "hfnc_cpap_niv", "low_flow")))
    ordinal = np.select([dead, home, cpap], [7, 1, 5], 4)
    bulk_load(
        "ecrf_derivedday",
        [
            "patient_id",
            "study_day",
            "state",
            "ordinal_7",
            "status_note",
            "fio2",
            "fio2_estimated",
            "pf",
            "pf_source",
            "pf_derived_note",
            "ards_severity",
            "sustained_benefit",
            "liver_enzymes_gt_3uln",
            "data_after_death",
            "algorithm_version",
            "computed_at",
        ],
        (
            (
                int(pid[i]),
                int(day[i]),
                str(state[i]),
                int(ordinal[i]),
                "",
                0.5 if in_hospital[i] else None,
                False,
                float(pf[i]) if in_hospital[i] else None,
                "measured" if in_hospital[i] else "",
                "",
                "",
                False,
                False,
                False,
                "1.0.0",
                now,
            )
            for i in range(m)
        ),
    )
    events = []
    for i in range(n):
        if death_day[i] < DAYS:
            events.append((int(ids[i]), int(death_day[i]), "[]", 1, now, "death", None, None, "ARDS"))
        elif discharge_day[i] < DAYS:
            events.append((int(ids[i]), int(discharge_day[i]), "[]", 1, now, "discharged", True, None, ""))
            events.append((int(ids[i]), 21, "[]", 1, now, "vital_status_contact", True, True, ""))
    bulk_load(
        "ecrf_dispositionevent",
        [*base, "kind", "normal_activities", "alive", "cause_of_death"],
        events,
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return m


def created_history(study) -> int:
    """One "created" history row per stored record of the study (INSERT ... SELECT per table, as an entry would have
    left), so that the lock's archive has an audit trail of the study's size; returns the rows written."""
    from cohorts.models import Patient
    from ecrf.crfs import CATALOGUE

    total = 0
    with connection.cursor() as cursor:
        for model in (Patient, *(crf.model for crf in CATALOGUE.values())):
            columns = ", ".join(field.column for field in model._meta.concrete_fields)
            where = (
                "study_id = %s"
                if model is Patient
                else "patient_id IN (SELECT id FROM cohorts_patient WHERE study_id = %s)"
            )
            cursor.execute(
                f"INSERT INTO {model.history.model._meta.db_table} ({columns}, history_date, history_type, "
                f"history_change_reason) SELECT {columns}, now(), '+', 'benchmark entry' FROM {model._meta.db_table} "
                f"WHERE {where}",
                [study.pk],
            )
            total += cursor.rowcount
        cursor.execute("ANALYZE")
    return total


def copy_out_seconds(study) -> tuple[float, int]:
    """COPY (SELECT ...) TO STDOUT of the tables the CSV export holds: same rows, columns and order."""
    from analysis import datasets
    from ecrf.models import DerivedDay

    queries = []
    for model in [*datasets.SOURCE_FORMS.values(), DerivedDay]:
        columns = []
        for field in datasets.exported_fields(model):
            column = f"t.{field.column}"
            if field.get_internal_type() == "DecimalField":
                column = f"{column}::double precision"
            columns.append(column)
        queries.append(
            f"SELECT p.participant_id, {', '.join(columns)} FROM {model._meta.db_table} t "
            f"JOIN cohorts_patient p ON p.id = t.patient_id WHERE p.study_id = {int(study.pk)} "
            "ORDER BY p.participant_id, t.study_day"
        )
    queries.append(
        "SELECT p.participant_id, s.code, a.code, a.name, p.sex, p.age_years, p.weight_kg::double precision, "
        "p.smoking, p.hypertension, p.coronary_artery_disease, p.diabetes, p.copd, p.chronic_kidney_disease, "
        "p.status FROM cohorts_patient p JOIN cohorts_site s ON s.id = p.site_id "
        "JOIN cohorts_arm a ON a.id = p.arm_id "
        f"WHERE p.study_id = {int(study.pk)} ORDER BY p.participant_id"
    )
    total = 0
    start = time.perf_counter()
    with connection.cursor() as cursor:
        for query in queries:
            with cursor.cursor.copy(f"COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
                for block in copy:
                    total += len(block)
    return time.perf_counter() - start, total


def run() -> int:
    from analysis import checklist, datasets, exports, releases

    print(f"Export benchmark: {PATIENTS:,} patients x {DAYS} days on {connection.vendor} (one run)", flush=True)
    study, site, arms, user = make_study()
    patient_days, _ = timed("bulk load (COPY FROM)", populate, study, site, arms)
    print(f"  patient-days: {patient_days:,}")
    history_rows, _ = timed("history rows: one 'created' per record (INSERT SELECT)", created_history, study)
    print(f"  history rows: {history_rows:,}")
    release, lock_s = timed(
        "lock: freeze tables, results, figures, codebook",
        releases.release_lock,
        study=study,
        user=user,
        reason="benchmark",
        # The benchmark's data are not a study ready for a lock (no signatures, ...): every item of the
        # lock checklist is overridden, as a data manager may with a reason.
        overrides=dict.fromkeys(checklist.KEYS, "benchmark data: locked as they are"),
    )
    rows = {item["table"]: item["rows"] for item in release.manifest["files"] if "table" in item}
    print(f"  release rows: {sum(rows.values()):,} in {len(rows)} tables")

    out = Path(tempfile.mkdtemp(prefix="bench-export-"))
    _, csv_s = timed("export CSV zip (from the frozen files)", exports.write_export, release, "csv", out / "e.csv.zip")
    _, parquet_s = timed("export Parquet zip", exports.write_export, release, "parquet", out / "e.parquet.zip")
    _, odm_s = timed(
        "export ODM 1.3.2 zip (every value with its audit record)",
        exports.write_export,
        release,
        "odm",
        out / "e.odm.zip",
    )
    (copy_s, copy_bytes), _ = timed("PostgreSQL COPY (SELECT ...) TO STDOUT, same tables", copy_out_seconds, study)
    odm_bytes = sum(info.file_size for info in zipfile.ZipFile(out / "e.odm.zip").infolist())
    print(
        f"  COPY output: {copy_bytes / 1e6:.1f} MB; CSV zip: {(out / 'e.csv.zip').stat().st_size / 1e6:.1f} MB; "
        f"ODM zip: {(out / 'e.odm.zip').stat().st_size / 1e6:.1f} MB ({odm_bytes / 1e6:.1f} MB unzipped)"
    )

    frozen = exports.FrozenRelease(release)
    frames = {name: frozen.frame(name) for name in ("arms", "patients", *datasets.SOURCE_FORMS, "derived_days")}
    results, analysis_s = timed(
        f"outcomes + Kaplan-Meier + arm tables, {len(frames['patients']):,} patients", datasets.compute_results, frames
    )
    km = results.km_summary.loc[results.km_summary["endpoint"].eq("os"), ["arm_label", "n", "survival"]]
    print("  day-21 survival: " + "; ".join(f"{r.arm_label} n={r.n} {r.survival:.3f}" for r in km.itertuples()))

    csv_ratio, parquet_ratio, odm_ratio = csv_s / copy_s, parquet_s / copy_s, odm_s / copy_s
    print()
    print(
        f"RESULT lock {lock_s:.1f} s; CSV export {csv_s:.2f} s, Parquet export {parquet_s:.2f} s, COPY {copy_s:.2f} s"
    )
    print(f"RESULT ratio CSV/COPY {csv_ratio:.2f}, Parquet/COPY {parquet_ratio:.2f} (target <= {TARGET_RATIO})")
    print(
        f"RESULT analysis {analysis_s:.2f} s for {len(frames['patients']):,} patients (target < {TARGET_ANALYSIS_S} s)"
    )
    print(f"RESULT ratio ODM/COPY {odm_ratio:.2f} (target <= {TARGET_ODM_RATIO}; ODM {odm_s:.2f} s)")
    ok = csv_ratio <= TARGET_RATIO and parquet_ratio <= TARGET_RATIO and analysis_s < TARGET_ANALYSIS_S
    ok = ok and odm_ratio <= TARGET_ODM_RATIO
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    if connection.vendor != "postgresql":
        print("bench/export.py compares with PostgreSQL COPY: set DATABASE_URL to a PostgreSQL database")
        return 2
    settings.RELEASES_ROOT = Path(tempfile.mkdtemp(prefix="bench-releases-"))
    with own_test_database("export"):
        return run()


if __name__ == "__main__":
    sys.exit(main())
