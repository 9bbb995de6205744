"""Benchmark of the data-quality rule job (issue 15 item 3), against the nightly derivation of the same data, in one
run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ecrf_bench_rules .venv/bin/python bench/rules.py

Builds its own test database (PostgreSQL when DATABASE_URL is set, else SQLite; dropped at the end) and loads
BENCH_PATIENTS patients (default 48,000) x BENCH_DAYS days (default 21: days 0-20), about a million patient-days,
in bulk (COPY on PostgreSQL; audited forms loaded without history rows, as the other benchmarks do): vital signs,
respiratory support and laboratory results on every hospital day, discharges, deaths and day-21 contacts, with a
small fraction of what the rules look for: unconfirmed soft values (and confirmed ones, which are no hit), a
nasal cannula without its flow (a hard check, and SpO2 without FiO2), days left out (gaps and trailing missing
days), jumps of temperature, data after death. Then, timed in the same run:

1. the nightly derivation over unchanged sources (derive_study after a first full derivation): the baseline;
2. the first rule run (every hit opens its query, with its history row and message);
3. the nightly rule run over unchanged data: every rule re-run, nothing written - target <= 3.0 x the baseline.

It prints the ratios, the queries the first run opened, and that the second run wrote nothing (queries, history
rows and messages counted before and after).
"""

from __future__ import annotations

import datetime
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")

import django

django.setup()

from _db import bulk_load, own_test_database  # noqa: E402
from django.db import connection  # noqa: E402
from export import timed  # noqa: E402

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "48000"))
DAYS = int(os.environ.get("BENCH_DAYS", "21"))
TARGET_RATIO = 3.0
SEED = 20201515
NOW = datetime.datetime.now(datetime.UTC)


def make_study():
    from cohorts.models import Arm, Site, Study

    study = Study.objects.create(
        code="bench-rules", title="Rules benchmark", protocol="milan_2020", follow_up_days=DAYS - 1
    )
    site = Site.objects.create(code="BR", name="Benchmark site")
    site.studies.add(study)
    arms = [
        Arm.objects.create(study=study, code="standard", name="Standard treatment", order=1),
        Arm.objects.create(
            study=study,
            code="high_dose",
            name="High-dose anakinra",
            order=2,
            regimen=[{"drug": "anakinra", "dose": 5, "unit": "mg/kg", "route": "iv", "frequency": "bid"}],
        ),
    ]
    return study, site, arms


def _cell(value, kind=float):
    return None if value is None or value != value else kind(value)


PATIENT_COLUMNS = [
    *("study_id", "site_id", "arm_id", "participant_id", "enrolment_date", "sex", "age_years", "weight_kg"),
    *("weight_confirmed", "status", "version"),
]
FIXED = (False, "active", 1)


def populate(study, site, arms) -> int:
    """The patients and their patient-days; returns the number of patient-days of the follow-up."""
    from cohorts.models import Patient

    rng = np.random.default_rng(SEED)
    n = PATIENTS
    arm_ids = np.where(rng.random(n) < 0.5, arms[0].pk, arms[1].pk)
    bulk_load(
        "cohorts_patient",
        PATIENT_COLUMNS,
        (
            (study.pk, site.pk, int(arm), f"BR-{i + 1:06d}", datetime.date(2020, 3, 17), "MF"[i % 2], 60, 80.0, *FIXED)
            for i, arm in enumerate(arm_ids)
        ),
    )
    ids = np.array(Patient.objects.filter(study=study).order_by("participant_id").values_list("pk", flat=True))
    outcome = rng.random(n)
    death_day = np.where(outcome < 0.12, rng.integers(2, DAYS, n), 10_000)
    discharge_day = np.where((outcome >= 0.12) & (outcome < 0.55), rng.integers(5, DAYS, n), 10_000)
    pid, day = np.repeat(ids, DAYS), np.tile(np.arange(DAYS), n)
    in_hospital = (day < np.repeat(death_day, DAYS)) & (day <= np.repeat(discharge_day, DAYS))
    # Data after death: a day of vital signs the day after the death, for 1 in 200 of the deaths.
    after_death = (day == np.repeat(death_day, DAYS) + 1) & (np.repeat(rng.random(n), DAYS) < 0.005)
    m = len(pid)
    base = ["patient_id", "study_day", "confirmed_checks", "version", "updated_at"]

    # Each patient's values drift from day to day around their own level (a real course, not independent draws).
    temperature = np.round((np.repeat(rng.normal(37.4, 0.5, n), DAYS) + rng.normal(0, 0.4, m)).clip(35.2, 40.4), 1)
    hot = rng.random(m) < 0.002  # soft: above 41 degC; half of them confirmed on the form
    temperature[hot] = 41.4
    jump = (rng.random(m) < 0.001) & (day > 0)  # 4 degC more than the day before
    temperature[jump] = np.minimum(temperature[np.maximum(np.flatnonzero(jump) - 1, 0)] + 4.0, 43.5)
    heart = np.round(np.repeat(rng.normal(88, 12, n), DAYS) + rng.normal(0, 8, m)).clip(45, 170)
    heart[rng.random(m) < 0.15] = np.nan
    heart[rng.random(m) < 0.002] = 190  # soft: above 180/min
    spo2 = rng.integers(86, 99, m)
    confirmed = np.where(hot & (rng.random(m) < 0.5), '["temperature_c.soft_high"]', "[]")
    left_out = rng.random(m) < 0.005  # a day of vital signs not entered (a gap, or a trailing missing day)
    vital_rows = np.flatnonzero((in_hospital & ~left_out) | after_death)
    bulk_load(
        "ecrf_vitalsigns",
        [
            *base,
            "temperature_c",
            "heart_rate_bpm",
            "spo2_pct",
            "respiratory_rate_bpm",
            "systolic_mmhg",
            "diastolic_mmhg",
        ],
        (
            (
                int(pid[i]),
                int(day[i]),
                str(confirmed[i]),
                1,
                NOW,
                float(temperature[i]),
                _cell(heart[i], int),
                int(spo2[i]),
                20,
                120,
                75,
            )
            for i in vital_rows
        ),
    )
    cpap = rng.random(m) < 0.6
    no_flow = ~cpap & (rng.random(m) < 0.002)  # nasal cannula without its flow: hard, and no FiO2 for the P/F
    support_rows = np.flatnonzero(in_hospital)
    bulk_load(
        "ecrf_respiratorysupport",
        [*base, "support", "flow_l_min", "fio2", "peep_cmh2o", "ecmo", "prone", "vasopressors", "rrt"],
        (
            (int(pid[i]), int(day[i]), "[]", 1, NOW)
            + (("cpap", None, 0.5, 10.0) if cpap[i] else ("nasal_cannula", None if no_flow[i] else 3.0, None, None))
            + (False, False, False, False)
            for i in support_rows
        ),
    )
    pao2 = np.round(rng.normal(75, 15, m).clip(30, 200), 1)
    steps = rng.normal(-0.05, 0.3, (n, DAYS))
    steps[:, 0] = np.log(rng.gamma(2.0, 60.0, n).clip(5, 400))
    crp = np.round(np.exp(np.cumsum(steps, axis=1)).ravel().clip(1, 480), 1)
    crp[rng.random(m) < 0.002] = 620.0  # soft: above 500 mg/L
    crp[rng.random(m) < 0.4] = np.nan
    lab_rows = np.flatnonzero(in_hospital & (rng.random(m) >= 0.005))
    bulk_load(
        "ecrf_labresult",
        [*base, "pao2_mmhg", "pao2_entered_unit", "crp_mg_l", "crp_entered_unit", "ferritin_ng_ml", "ddimer_basis"],
        (
            (int(pid[i]), int(day[i]), "[]", 1, NOW, float(pao2[i]), "mmHg", _cell(crp[i]), "mg/L", 900.0, "")
            for i in lab_rows
        ),
    )
    events = []
    for i in range(n):
        if death_day[i] < DAYS:
            events.append((int(ids[i]), int(death_day[i]), "[]", 1, NOW, "death", None, None, "ARDS"))
        elif discharge_day[i] < DAYS:
            events.append((int(ids[i]), int(discharge_day[i]), "[]", 1, NOW, "discharged", True, None, ""))
            events.append((int(ids[i]), DAYS - 1, "[]", 1, NOW, "vital_status_contact", True, True, ""))
    bulk_load("ecrf_dispositionevent", [*base, "kind", "normal_activities", "alive", "cause_of_death"], events)
    return m


def settle() -> None:
    """VACUUM ANALYZE (PostgreSQL) / ANALYZE (SQLite) after a bulk write, as autovacuum does before the next night."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def counts() -> tuple[int, int, int]:
    from cleaning.models import Query, QueryMessage

    return Query.objects.count(), Query.history.count(), QueryMessage.objects.count()


def run() -> int:
    from cleaning import rule_job
    from ecrf import derivation_job

    print(f"Rules benchmark: {PATIENTS:,} patients x {DAYS} days on {connection.vendor} (one run)")
    study, site, arms = make_study()
    patient_days, _ = timed("bulk load", populate, study, site, arms)
    print(f"  patient-days: {patient_days:,}")
    timed("first derivation: every row written", derivation_job.derive_study, study)
    timed("VACUUM ANALYZE", settle)
    derive_s = min(
        timed("nightly derivation, sources unchanged (baseline)", derivation_job.derive_study, study)[1] for _ in "ab"
    )
    first, first_s = timed("first rule run: every hit opens its query", rule_job.run_study, study)
    timed("VACUUM ANALYZE", settle)
    before = counts()
    nightly, nightly_s = timed("nightly rule run, data unchanged", rule_job.run_study, study)
    nightly_s = min(nightly_s, timed("nightly rule run, data unchanged", rule_job.run_study, study)[1])
    after = counts()
    derive_s = min(derive_s, timed("nightly derivation again", derivation_job.derive_study, study)[1])

    by_rule = {}
    from cleaning.models import Query

    for rule in Query.objects.values_list("rule", flat=True):
        family = rule if not rule.startswith("check.") else "check.*"
        by_rule[family] = by_rule.get(family, 0) + 1
    ratio, first_ratio = nightly_s / derive_s, first_s / derive_s
    print()
    print(f"RESULT patient-days {patient_days:,} ({PATIENTS:,} patients x {DAYS} days), database {connection.vendor}")
    print(
        f"RESULT first rule run: {first.patients:,} patients, {first.hits:,} hits, {first.opened:,} queries opened "
        f"in {first_s:.2f} s = {first_ratio:.2f} x the nightly derivation"
    )
    print(f"RESULT queries by rule: {', '.join(f'{k} {v:,}' for k, v in sorted(by_rule.items()))}")
    print(
        f"RESULT nightly rule run {nightly_s:.2f} s / nightly derivation {derive_s:.2f} s = {ratio:.2f} "
        f"(target <= {TARGET_RATIO})"
    )
    unchanged = after == before and nightly.written == 0
    print(
        f"RESULT second run over unchanged data: {nightly.opened} opened, {nightly.reopened} reopened, "
        f"{nightly.closed} closed; queries / history rows / messages {before} -> {after}: "
        f"{'nothing written' if unchanged else 'WROTE SOMETHING'}"
    )
    ok = ratio <= TARGET_RATIO and unchanged
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    with own_test_database("rules"):
        return run()


if __name__ == "__main__":
    sys.exit(main())
