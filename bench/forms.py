"""Benchmark of the study's pages (issues 4, 15 and 18) at two study sizes in one run: the entry page GET and POST,
the casebook, the patient list, the query list, the record status dashboard, the screening log, the signatures
list and the analysis page (live data, its results kept by an earlier request), at 1,000 and 20,000 patients.

Standalone: `python bench/forms.py` (DATABASE_URL selects PostgreSQL; SQLite otherwise). It creates its own test
database (bench/_db.py, destroyed afterwards), loads the smaller study with bulk_create - for the benchmark only:
bulk_create writes no audit history - and measures each page through Django's test client together with a trivial
login-required view; then it grows the same study to the larger size and measures again. It prints, per page, the
p95 at each size, its growth (target <= 1.25x: a page must not slow down as the study grows; beside it the growth of
its ratio to the trivial view, which differs when the machine was busier during one size's measurements than the
other's), its ratio to the trivial view (target <= 10x) and the largest number of queries (the same at both sizes).

    BENCH_SIZES=1000,20000 BENCH_REQUESTS=200 [BENCH_LOADER=bulk_create|copy] python bench/forms.py

The study: 21 follow-up days; patient i enrolled i % 40 days ago (about half still in follow-up, with days not yet due),
its vital signs, respiratory support and laboratory entered up to yesterday or day 20 (day 21 is missing for those past
it); every 15th has a confirmed soft check on day 2, every 25th died on day 12 (no form required after); every 10th has
an open query, every 30th an answered one and every 45th a closed one. Each patient has its eligible screening; every
3rd was screened once before and failed, and every 6th is that failure's re-screen (the screening log and the signatures
list are read by an investigator: a nurse may not see them). The record status counts are then rebuilt
(cleaning/status_job.py; its time is printed), as `manage.py record_status` does after a bulk load, and every
patient-day derived (ecrf/derivation_job.py derive_study, timed too), which the analysis page reads.
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

SIZES = [int(size) for size in os.environ.get("BENCH_SIZES", "1000,20000").split(",")]
DAYS = 21
ENROLLED_OVER = 40  # patient i was enrolled i % 40 days ago
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "200"))
BATCH = 5000
# bulk_create everywhere, or (default on PostgreSQL) bulk_create for the study and patients and COPY for the
# day rows, which makes the load minutes shorter (see copy_rows).
LOADER = os.environ.get("BENCH_LOADER") or (
    "copy" if os.environ.get("DATABASE_URL", "").startswith("postgres") else "bulk_create"
)
# BEGIN/COMMIT (logged by SQLite's backend only) are not statements that read or write a table.
TRANSACTION_CONTROL = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE SAVEPOINT)\b", re.I)
GROWTH_TARGET, TRIVIAL_TARGET = 1.25, 10.0
#: The version each patient-day's forms are at after the POSTs so far (a day edited at the smaller size is edited
#: again at the larger one: its next POST carries the version it has reached).
EDITED: dict[tuple[int, int], int] = {}


@login_required
def trivial(request):
    return HttpResponse("ok")


urlpatterns = [path("bench/trivial/", trivial), path("", include("config.urls"))]


def entered_days(i: int) -> range:
    """The days with daily forms of patient i: up to yesterday (it was enrolled i % 40 days ago), at most day 20."""
    return range(min(DAYS, i % ENROLLED_OVER))


def copy_rows(model, prototype, days_of) -> None:
    """PostgreSQL COPY of one row per patient-day, all as `prototype` but for the patient and the day.

    The values are the ones bulk_create would send (each field's get_db_prep_save), without building hundreds of
    thousands of model instances per table: on a two-core machine bulk_create of the 840,000 day rows of 10,000
    patients took 474 s, COPY takes seconds, and the pages measured are the same.
    """
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    base = [f.get_db_prep_save(f.pre_save(prototype, True), connection) for f in fields]
    columns = [f.column for f in fields]
    patient, day = columns.index("patient_id"), columns.index("study_day")
    sql = f"COPY {model._meta.db_table} ({', '.join(columns)}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for pk, days in days_of:
            for study_day in days:
                row = list(base)
                row[patient], row[day] = pk, study_day
                copy.write_row(row)


def make_study():
    """The study, its site and arm, one nurse of the site and one investigator (who reads the screening log)."""
    from django.contrib.auth import get_user_model

    from cohorts.models import Arm, Site, Study
    from cohorts.team import grant

    study = Study.objects.create(code="bench", title="Bench", protocol="milan_2020", follow_up_days=DAYS)
    site = Site.objects.create(code="MI", name="Milan")
    site.studies.add(study)
    arm = Arm.objects.create(
        study=study,
        code="high_dose",
        name="High-dose anakinra",
        regimen=[{"drug": "anakinra", "dose": 5, "unit": "mg/kg", "route": "iv", "frequency": "bid"}],
    )
    nurse = get_user_model().objects.create_user("bench-nurse", password="bench-password-long")
    grant(nurse, study, "nurse", [site], reason="bench")
    investigator = get_user_model().objects.create_user("bench-investigator", password="bench-password-long")
    grant(investigator, study, "investigator", [site], reason="bench")
    return study, site, arm, nurse, investigator


def add_patients(study, site, arm, numbers: range) -> list[int]:
    """Patients ``numbers`` (participant MI-<i>) with their daily forms, derived rows, drug, deaths and queries."""
    from cleaning.models import Query, QueryStatus
    from cohorts.models import Patient
    from ecrf.models import DerivedDay, DispositionEvent, DrugAdministration, LabResult, RespiratorySupport, VitalSigns

    today = timezone.localdate()
    Patient.objects.bulk_create(
        [
            Patient(
                study=study,
                site=site,
                arm=arm,
                participant_id=f"MI-{i:05d}",
                enrolment_date=today - datetime.timedelta(days=i % ENROLLED_OVER),
                sex="MF"[i % 2],
                age_years=40 + i % 50,
                weight_kg=60 + i % 40,
            )
            for i in numbers
        ],
        batch_size=BATCH,
    )
    number_of = dict(
        Patient.objects.filter(study=study, participant_id__gte=f"MI-{numbers.start:05d}").values_list(
            "pk", "participant_id"
        )
    )
    number_of = {pk: int(participant[3:]) for pk, participant in number_of.items()}
    days_of = [(pk, entered_days(i)) for pk, i in sorted(number_of.items())]
    now = timezone.now()

    def insert(model, make):
        if LOADER == "copy":
            copy_rows(model, make(0, 0), days_of)
            return
        batch = []
        for pk, days in days_of:
            for day in days:
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
            for pk, _ in days_of
        ],
        batch_size=BATCH,
    )
    # Not audited data in a real study: set here without history, for the benchmark only.
    confirmed = [pk for pk, i in number_of.items() if i % 15 == 0]
    VitalSigns.objects.filter(patient_id__in=confirmed, study_day=2).update(confirmed_checks=["temperature_c.soft"])
    DispositionEvent.objects.bulk_create(
        [
            DispositionEvent(patient_id=pk, study_day=12, kind="death", cause_of_death="ARDS")
            for pk, i in number_of.items()
            if i % 25 == 0 and i % ENROLLED_OVER > 12
        ],
        batch_size=BATCH,
    )
    queries = []
    for pk, i in number_of.items():
        for every, status, day, form in ((10, "open", 1, "vital_signs"), (30, "answered", 0, "respiratory_support")):
            if i % every == 0:
                queries.append(
                    Query(
                        study=study,
                        patient_id=pk,
                        site=site,
                        study_day=day,
                        form=form,
                        status=status,
                        text="?",
                        opened_at=now,
                    )
                )
        if i % 45 == 0:
            queries.append(
                Query(
                    study=study,
                    patient_id=pk,
                    site=site,
                    study_day=0,
                    form="laboratory",
                    status=QueryStatus.CLOSED,
                    text="?",
                    opened_at=now - datetime.timedelta(days=3),
                    closed_at=now,
                )
            )
    Query.objects.bulk_create(queries, batch_size=BATCH)
    add_screenings(study, site, number_of)
    if connection.vendor == "postgresql":  # as autovacuum would: the planner's statistics of the grown tables
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    return sorted(number_of)


def add_screenings(study, site, number_of: dict[int, int]) -> None:
    """Each patient's screening (eligible, enrolled as the patient); every 3rd patient was screened before and
    failed (CRP below the threshold, consent missing), and every 6th is the re-screen of that failure."""
    from django.contrib.auth import get_user_model

    from cohorts import consort
    from cohorts.models import Patient, Screening, ScreeningReason

    by = get_user_model().objects.get(username="bench-investigator")
    now = timezone.now()
    failed = Screening.objects.bulk_create(
        [
            Screening(
                study=study,
                site=site,
                number=f"MI-F{i:05d}",
                assessed_at=now - datetime.timedelta(days=i % ENROLLED_OVER + 2),
                screened_by=by,
                eligible=False,
            )
            for i in sorted(number_of.values())
            if i % 3 == 0
        ],
        batch_size=BATCH,
    )
    ScreeningReason.objects.bulk_create(
        [
            ScreeningReason(screening=screening, code=code, kind="inclusion", verdict=verdict, label=label)
            for screening in failed
            for code, verdict, label in (
                ("hyperinflammation", "not_met", "Hyperinflammation"),
                ("written_consent", "missing", "Written informed consent"),
            )
        ],
        batch_size=BATCH,
    )
    failed_of = {int(screening.number[4:]): screening for screening in failed}
    patients = Patient.objects.filter(pk__in=number_of).only("pk")
    eligible = Screening.objects.bulk_create(
        [
            Screening(
                study=study,
                site=site,
                number=f"MI-S{number_of[patient.pk]:05d}",
                rescreen_of=failed_of.get(number_of[patient.pk]) if number_of[patient.pk] % 6 == 0 else None,
                assessed_at=now - datetime.timedelta(days=number_of[patient.pk] % ENROLLED_OVER, hours=1),
                screened_by=by,
                eligible=True,
            )
            for patient in patients
        ],
        batch_size=BATCH,
    )
    for patient, screening in zip(patients, eligible, strict=True):
        patient.screening = screening
    Patient.objects.bulk_update(patients, ["screening"], batch_size=BATCH)
    consort.recount(study)  # loaded without the services, which keep the log's counts


def timed(client, method, urls, data=None, expect=200):
    times, queries = [], []
    for i, url in enumerate(urls):
        payload = data(i) if callable(data) else data
        connection.queries_log.clear()  # it keeps 9,000 queries: beyond them a capture would count none
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            response = getattr(client, method)(url, payload) if method == "post" else client.get(url)
            times.append(time.perf_counter() - start)
        queries.append(sum(1 for q in ctx.captured_queries if not TRANSACTION_CONTROL.match(q["sql"])))
        assert response.status_code == expect, (url, response.status_code, response.content[:500])
    return times, max(queries)


def measure(client, investigator, study, pks: list[int], rng: random.Random) -> dict:
    """Every page at the study's current size: {label: (times, most queries)}."""
    from cohorts.models import Patient

    today = timezone.localdate()
    # Patients with a day of forms entered, alive (the POST edits that day; after a death it would be refused).
    entered = {
        pk: min(DAYS, (today - enrolled).days)
        for pk, enrolled, participant in Patient.objects.filter(pk__in=pks).values_list(
            "pk", "enrolment_date", "participant_id"
        )
        if (today - enrolled).days >= 1 and int(participant[3:]) % 25
    }
    candidates = sorted(entered)
    sample = [rng.choice(candidates) for _ in range(REQUESTS)]
    days = [rng.randrange(entered[p]) for p in sample]
    # Warm up (first-request imports, template loading) outside the measurement.
    lists = [f"/studies/{study.code}/{page}/" for page in ("patients", "queries", "status")]
    for address in ("/bench/trivial/", f"/patients/{sample[0]}/day/0/", f"/patients/{sample[0]}/", *lists):
        client.get(address)
    results = {TRIVIAL: timed(client, "get", ["/bench/trivial/"] * REQUESTS)}
    entry_urls = [f"/patients/{p}/day/{d}/" for p, d in zip(sample, days, strict=True)]
    results["entry page GET"] = timed(client, "get", entry_urls)

    def post_data(i):
        key = (sample[i], days[i])
        version = EDITED.get(key, 1)
        EDITED[key] = version + 1
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

    # The POST includes what its commit runs in the request: the patient's record status (cleaning).
    results["entry page POST (3 forms edited)"] = timed(client, "post", entry_urls, data=post_data, expect=302)
    results["casebook GET"] = timed(client, "get", [f"/patients/{p}/" for p in sample])
    results["patient list GET (page 1 of 100)"] = timed(client, "get", [f"/studies/{study.code}/patients/"] * REQUESTS)
    results["query list GET (page 1 of 50)"] = timed(client, "get", [f"/studies/{study.code}/queries/"] * REQUESTS)
    status = f"/studies/{study.code}/status/"
    middle = f"MI-{len(pks) // 2:05d}"
    for label, query in (
        ("record status (page 1 of 20)", ""),
        ("record status, a middle page", f"?after={middle}"),
        ("record status, patients missing", "?status=missing"),
        ("record status, queries open", "?status=query_open"),
    ):
        results[label] = timed(client, "get", [status + query] * REQUESTS)
    log = f"/studies/{study.code}/screenings/"
    investigator.get(log)  # warm up
    results["screening log GET (page 1)"] = timed(investigator, "get", [log] * REQUESTS)
    signatures = f"/studies/{study.code}/signatures/"
    investigator.get(signatures)  # warm up
    results["signature list GET (page 1)"] = timed(investigator, "get", [signatures] * REQUESTS)
    # The analysis page on the live data: its results (outcomes of the whole study, a pandas run that follows the
    # study's size) are computed by the first request and kept LIVE_CACHE_SECONDS for the page and its figures; the
    # page's own cost is measured on the requests that find them.
    analysis = f"/studies/{study.code}/analysis/?data=live"
    started = time.perf_counter()
    investigator.get(analysis)
    print(f"  the live analysis results computed by the page's first request in {time.perf_counter() - started:.1f} s")
    results["analysis page GET (live, results kept)"] = timed(investigator, "get", [analysis] * REQUESTS)
    return results


def derive(study) -> float:
    """Every patient-day's derived state (the Celery job's full recompute), which the analysis page reads."""
    from ecrf import derivation_job

    started = time.perf_counter()
    derivation_job.derive_study(study)
    return time.perf_counter() - started


def rebuild_status(study) -> float:
    from cleaning import status_job

    started = time.perf_counter()
    status_job.rebuild_study(study)
    return time.perf_counter() - started


TRIVIAL = "trivial login-required view"


def report(size: int, results: dict) -> None:
    base_times, _ = results[TRIVIAL]
    base50, base95 = percentile(base_times, 0.5), percentile(base_times, 0.95)
    print(f"\n{size} patients: {REQUESTS} requests per page; times in ms")
    print(f"{'page':<38}{'p50':>8}{'p95':>8}{'p50 ratio':>11}{'p95 ratio':>11}{'queries':>9}")
    for label, (times, queries) in results.items():
        p50, p95 = percentile(times, 0.5), percentile(times, 0.95)
        print(
            f"{label:<38}{p50 * 1000:>8.1f}{p95 * 1000:>8.1f}{p50 / base50:>10.1f}x{p95 / base95:>10.1f}x{queries:>9}"
        )


def compare(small: int, large: int, by_size: dict) -> bool:
    """Per page: p95 at both sizes, its growth (the verdict), the growth of its ratio to the trivial view (a check:
    when the two disagree, the machine was busier during one size's measurements than the other's: run again), its
    ratio to the trivial view at the larger size, and its queries at both sizes."""
    trivial_small, trivial_large = (percentile(by_size[size][TRIVIAL][0], 0.95) for size in (small, large))
    print(
        f"\nFrom {small} to {large} patients (targets: growth <= {GROWTH_TARGET}x, p95 <= {TRIVIAL_TARGET:g}x the "
        "trivial view, the same number of queries). 'vs trivial': the growth of the p95's ratio to the trivial "
        "view's, a check of the machine's load"
    )
    print(
        f"{'page':<38}{'p95 small':>10}{'p95 large':>10}{'growth':>8}{'vs trivial':>11}{'x trivial':>10}"
        f"{'queries':>10}  verdict"
    )
    ok = True
    for label, (times, queries) in by_size[large].items():
        if label == TRIVIAL:
            continue
        before, before_queries = by_size[small][label]
        p95_small, p95_large = percentile(before, 0.95), percentile(times, 0.95)
        ratio = p95_large / trivial_large
        growth = p95_large / p95_small
        misses = [
            name
            for name, missed in (
                ("grows", growth > GROWTH_TARGET),
                ("slow", ratio > TRIVIAL_TARGET),
                ("queries grow", queries > before_queries),
            )
            if missed
        ]
        ok = ok and not misses
        print(
            f"{label:<38}{p95_small * 1000:>9.1f} {p95_large * 1000:>9.1f} {growth:>6.2f}x"
            f"{ratio / (p95_small / trivial_small):>10.2f}x{ratio:>9.1f}x{before_queries:>5} ->{queries:>3}"
            f"  {', '.join(misses) or 'ok'}"
        )
    return ok


def main():
    with own_test_database("forms", test_environment=False):
        study, site, arm, nurse, investigator = make_study()
        rng = random.Random(4)
        by_size, pks = {}, []
        for size in SIZES:
            started = time.perf_counter()
            pks += add_patients(study, site, arm, range(len(pks), size))
            load_s = time.perf_counter() - started
            status_s = rebuild_status(study)
            derive_s = derive(study)
            print(
                f"database: {connection.vendor}; {size} patients x {DAYS} days loaded ({LOADER}, {load_s:.1f} s); "
                f"record status rebuilt in {status_s:.1f} s; derived in {derive_s:.1f} s"
            )
            with override_settings(ROOT_URLCONF=__name__, DEBUG=False):
                client = Client()
                client.force_login(nurse)
                screener = Client()
                screener.force_login(investigator)
                by_size[size] = measure(client, screener, study, pks, rng)
            report(size, by_size[size])
        if len(SIZES) > 1:
            print("PASS" if compare(SIZES[0], SIZES[-1], by_size) else "FAIL")


if __name__ == "__main__":
    main()
