"""Benchmark of the daily-form pages (issue 4): entry page GET and POST, casebook GET, at 10,000 patients x 21 days.

Standalone: `python bench/forms.py` (DATABASE_URL selects PostgreSQL; SQLite otherwise). It creates its own test
database (test_ecrf_bench_forms, destroyed afterwards), loads the study with bulk_create - for the benchmark
only: bulk_create writes no audit history - and measures each page through Django's test client, together with
a trivial login-required view in the same run, so the printed ratios do not depend on the machine.

    BENCH_PATIENTS=10000 BENCH_REQUESTS=200 [BENCH_LOADER=bulk_create|copy] python bench/forms.py
"""

import datetime
import os
import random
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
# Each POST enqueues a derivation job after its commit (ecrf/signals.py). An in-memory broker keeps the benchmark's
# jobs, about patients of a throw-away database, out of any real queue a worker of another database would read.
os.environ["CELERY_BROKER_URL"] = "memory://"

import django

django.setup()

from _db import own_test_database  # noqa: E402
from _stats import percentile  # noqa: E402
from django.contrib.auth.decorators import login_required  # noqa: E402
from django.db import connection  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, override_settings  # noqa: E402
from django.urls import include, path  # noqa: E402
from django.utils import timezone  # noqa: E402

PATIENTS = int(os.environ.get("BENCH_PATIENTS", "10000"))
DAYS = 21
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
BATCH = 5000
# bulk_create everywhere, or (default on PostgreSQL) bulk_create for the study and patients and COPY for the
# day rows, which makes the load minutes shorter (see copy_rows).
LOADER = os.environ.get("BENCH_LOADER") or (
    "copy" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "bulk_create"
)
# BEGIN/COMMIT (logged by SQLite's backend only) are not statements that read or write a table.
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b", re.I)


@login_required
def trivial(request):
    return HttpResponse("ok")


urlpatterns = [path("bench/trivial/", trivial), path("", include("config.urls"))]


def copy_rows(model, prototype, pks) -> None:
    """PostgreSQL COPY of one row per patient-day, all as `prototype` but for the patient and the day.

    The values are the ones bulk_create would send (each field's get_db_prep_save), without building 210,000
    model instances per table: on a two-core machine bulk_create of the 840,000 day rows took 474 s, COPY
    takes seconds, and the pages measured are the same.
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    base = [f.get_db_prep_save(f.pre_save(prototype, True), connection) for f in fields]
    columns = [f.column for f in fields]
    patient, day = columns.index("patient_id"), columns.index("study_day")
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for pk in pks:
            for study_day in range(DAYS):
                row = list(base)
                row[patient], row[day] = pk, study_day
                copy.write_row(row)


def load():
    """The study, one nurse, PATIENTS patients with DAYS days of vitals, support, labs and derived rows."""
    from cohorts.models import Arm, Patient, Site, Study
    from cohorts.team import grant
    from ecrf.models import DerivedDay, DrugAdministration, LabResult, RespiratorySupport, VitalSigns

    study = Study.objects.create(code="bench", title="Bench", protocol="milan_2020", follow_up_days=DAYS)
    site = Site.objects.create(code="MI", name="Milan")
    site.studies.add(study)
    arm = Arm.objects.create(
        study=study,
        code="high_dose",
        name="High-dose anakinra",
        regimen=[{"drug": "anakinra", "dose": 5, "unit": "mg/kg", "route": "iv", "frequency": "bid"}],
    )
    from django.contrib.auth import get_user_model

    nurse = get_user_model().objects.create_user("bench-nurse", password="bench-password-long")
    grant(nurse, study, "nurse", [site], reason="bench")

    day0 = timezone.localdate() - datetime.timedelta(days=DAYS + 5)
    Patient.objects.bulk_create(
        [
            Patient(
                study=study,
                site=site,
                arm=arm,
                participant_id=f"MI-{i:05d}",
                enrolment_date=day0 + datetime.timedelta(days=i % 30),
                sex="MF"[i % 2],
                age_years=40 + i % 50,
                weight_kg=60 + i % 40,
            )
            for i in range(PATIENTS)
        ],
        batch_size=BATCH,
    )
    pks = list(Patient.objects.filter(study=study).values_list("pk", flat=True))
    now = timezone.now()

    def insert(model, make):
        if LOADER == "copy":
            copy_rows(model, make(0, 0), pks)
            return
        batch = []
        for pk in pks:
            for day in range(DAYS):
                batch.append(make(pk, day))
                if len(batch) >= BATCH:
                    model.objects.bulk_create(batch)
                    batch = []
        model.objects.bulk_create(batch)

    for model, make in (
        (VitalSigns, lambda pk, d: VitalSigns(patient_id=pk, study_day=d, temperature_c=37, heart_rate_bpm=90)),
        (
            RespiratorySupport,
            lambda pk, d: RespiratorySupport(patient_id=pk, study_day=d, support="cpap", fio2="0.5", peep_cmh2o=10),
        ),
        (LabResult, lambda pk, d: LabResult(patient_id=pk, study_day=d, crp_mg_l=120, pao2_mmhg=80, abg_fio2="0.5")),
        (
            DerivedDay,
            lambda pk, d: DerivedDay(
                patient_id=pk,
                study_day=d,
                state="cpap",
                ordinal_7=5,
                fio2=0.5,
                pf=160,
                pf_source="measured",
                algorithm_version="bench",
                computed_at=now,
            ),
        ),
    ):
        insert(model, make)
    DrugAdministration.objects.bulk_create(
        [
            DrugAdministration(
                patient_id=pk, study_day=0, drug="anakinra", dose=5, dose_unit="mg/kg", route="iv", frequency="bid"
            )
            for pk in pks
        ],
        batch_size=BATCH,
    )
    return study, nurse, pks


def timed(client, method, urls, data=None, expect=200):
    times, queries = [], []
    for i, url in enumerate(urls):
        payload = data(i) if callable(data) else data
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = getattr(client, method)(url, payload) if method == "post" else client.get(url)
            times.append(time.perf_counter() - start)
        queries.append(sum(1 for q in ctx.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])))
        assert response.status_code == expect, (url, response.status_code, response.content[:500])
    return times, max(queries)


def main():
    with own_test_database("forms", test_environment=False):
        started = time.perf_counter()
        study, nurse, pks = load()
        load_s = time.perf_counter() - started
        print(f"database: {connection.vendor}; loaded {len(pks)} patients x {DAYS} days ({LOADER}) in {load_s:.1f} s")
        rng = random.Random(4)
        with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
            client = Client()
            client.force_login(nurse)
            sample = [rng.choice(pks) for _ in range(REQUESTS)]
            days = [rng.randrange(DAYS) for _ in range(REQUESTS)]
            # Warm up (first-request imports, template loading) outside the measurement.
            client.get("/bench/trivial/")
            client.get(f"/patients/{sample[0]}/day/1/")
            client.get(f"/patients/{sample[0]}/")
            results = {}
            results["trivial login-required view"] = timed(client, "get", ["/bench/trivial/"] * REQUESTS)
            entry_urls = [f"/patients/{p}/day/{d}/" for p, d in zip(sample, days, strict=True)]
            results["entry page GET"] = timed(client, "get", entry_urls)
            edited = {}

            def post_data(i):
                key = (sample[i], days[i])
                version = edited.get(key, 1)
                edited[key] = version + 1
                return {
                    "vital_signs-temperature_c": f"{37 + (version % 10) / 10:.1f}",
                    "vital_signs-heart_rate_bpm": "90",
                    "vital_signs-version": str(version),
                    "respiratory_support-support": "cpap",
                    "respiratory_support-fio2": "0.5",
                    "respiratory_support-peep_cmh2o": str(10 + version % 5),
                    "respiratory_support-version": str(version),
                    "laboratory-crp_mg_l": str(120 + version),
                    "laboratory-crp_entered_unit": "mg/L",
                    "laboratory-pao2_mmhg": "80",
                    "laboratory-pao2_entered_unit": "mmHg",
                    "laboratory-abg_fio2": "0.5",
                    "laboratory-version": str(version),
                    "page-reason": "bench correction",
                }

            results["entry page POST (3 forms edited)"] = timed(
                client,
                "post",
                entry_urls,
                data=post_data,
                expect=302,
            )
            results["casebook GET"] = timed(client, "get", [f"/patients/{p}/" for p in sample])
            results["patient list GET (page 1 of 100)"] = timed(
                client, "get", [f"/studies/{study.code}/patients/"] * max(10, REQUESTS // 10)
            )
        base_times, _ = results["trivial login-required view"]
        base50, base95 = percentile(base_times, 0.5), percentile(base_times, 0.95)
        print(f"{REQUESTS} requests each (patient list: {max(10, REQUESTS // 10)}); times in ms")
        print(f"{'page':<36}{'p50':>8}{'p95':>8}{'p50 ratio':>11}{'p95 ratio':>11}{'queries':>9}")
        for label, (times, queries) in results.items():
            p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
            print(
                f"{label:<36}{p50 * 1000:>8.1f}{p95 * 1000:>8.1f}{p50 / base50:>10.1f}x{p95 / base95:>10.1f}x"
                f"{queries:>9}"
            )


if __name__ == "__main__":
    main()
