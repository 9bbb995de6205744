"""Load test of the pages people use all day: locust against gunicorn, one user then many, measured in one run.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/ecrf .venv/bin/python bench/load.py   # or SQLite: unset

Builds its own test database (test_ecrf_bench_load on PostgreSQL, a temporary file on SQLite; dropped at the end) with
a study at three sites and BENCH_PATIENTS patients (default 300) followed for 21 days: the loader of
bench/export.py (vital signs, respiratory support, laboratory results and derived rows per day in hospital,
discharges, deaths, day-21 contacts), the patients then spread over the sites with enrolment dates 3-5 weeks
ago, the real derivation job run once, and a release locked and unlocked (the statistician's page lists it).
LOAD_USERS accounts per role (default 50) get site memberships and a session made server-side (no login page).

Then it serves the app with gunicorn (LOAD_WORKERS sync workers, default 4; test settings, plain HTTP, the
in-memory broker so saves enqueue nothing real) on a free port, and runs locust headless (bench/locustfile.py):

1. warm-up: 2 users for a few seconds, not measured (imports, template loading in each worker);
2. one user (SoloUser: nurse, investigator, monitor and statistician tasks in turn, weighted 6:3:2:1) for
   LOAD_SECONDS (default 30) with no think time: each page's latency with nothing else running;
3. LOAD_USERS users (at 50: about 25 nurses, 12 investigators, 8 monitors, 4 statisticians) spawned at
   LOAD_SPAWN_RATE per second (default 10) for LOAD_SECONDS, thinking LOAD_THINK seconds between tasks (default
   "1,3": compressed, real people spend minutes on a page, so 50 virtual users are a heavier load than 50 people).
   The monitors open the query list (the data-quality rules' queries, run once after the load) and the record
   status dashboard (counted once after the load).

It prints p50/p95 per page type in both runs and the ratio p95 under load / p95 with one user, per page type and
for all pages together (the same mix of pages in both runs). Targets:

- all pages' p95 ratio <= 3.0. Measured on the 2-core project machine (locust and PostgreSQL on the same cores):
  with 20 users and 2 workers, 1.3-1.4 when the machine was otherwise quiet, about 3 when it was busy; with 50 users
  and 4 workers (2026-12-04) 14x, FAIL: the 50 users ask for about 25 requests per second and the two cores serve
  24 at most (one user alone: 13.6 per second on one worker), so requests queue. After the pages were written
  with fewer templates (2026-12-06): one user 34-36 requests per second, and with 50 users 2.35x and 2.15x in two
  runs, 0 errors, PASS. The
  ratio per page type is printed, not judged: the rarer pages have 20-90 requests per run, so their p95 is one
  or two slow requests (a request queued behind another at a busy worker);
- 0 errors: any status other than 200 (a redirect to the login page included), a save not answered by its
  redirect to the casebook (a refused form), or an exception in a locust task. The end of the server's log
  (a traceback) is printed with the errors.
"""

from __future__ import annotations

import datetime
import http.client
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench/export.py: the shared loader
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.test_settings")
# Each save enqueues a derivation job after its commit: an in-memory broker keeps the jobs of this throw-away
# database out of any real queue (a worker of another database would read it). Same for the gunicorn workers.
os.environ["CELERY_BROKER_URL"] = "memory://"

import export
from _db import own_test_database
from _stats import percentile
from django.conf import settings
from django.db import connection

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PATIENTS = int(os.environ.get("BENCH_PATIENTS", "300"))
DAYS = 21
USERS = int(os.environ.get("LOAD_USERS", "50"))
SPAWN_RATE = float(os.environ.get("LOAD_SPAWN_RATE", "10"))
SECONDS = int(os.environ.get("LOAD_SECONDS", "30"))
WORKERS = int(os.environ.get("LOAD_WORKERS", "4"))
THINK = os.environ.get("LOAD_THINK", "1,3")
WARMUP_SECONDS = 8
TARGET_RATIO = 3.0
STUDY = "load-ward"
SITES = [("MI", "Milan"), ("BG", "Bergamo"), ("BS", "Brescia")]
LOAD_CLASSES = ["NurseUser", "InvestigatorUser", "MonitorUser", "StatisticianUser"]
ALL = "all pages"


# -------------------------------------------------------------------------------------------------- the data


def make_study():
    from django.contrib.auth import get_user_model

    from cohorts.models import Arm, Site, Study
    from cohorts.team import grant

    study = Study.objects.create(code=STUDY, title="Load test ward", protocol="milan_2020", follow_up_days=DAYS)
    sites = []
    for code, name in SITES:
        site = Site.objects.create(code=code, name=name)
        site.studies.add(study)
        sites.append(site)
    arms = [
        Arm.objects.create(study=study, code="standard", name="Standard treatment", order=1),
        Arm.objects.create(study=study, code="high_dose", name="High-dose anakinra", order=2),
    ]
    manager = get_user_model().objects.create_user("load_data_manager")
    grant(manager, study, "data_manager", reason="load test")
    return study, sites, arms, manager


def populate(study, sites, arms) -> int:
    """bench/export.py's loader at the first site, then the patients spread over the sites, enrolled 21-34 days ago.

    Raw SQL like the loader's COPY (no audit history: a benchmark's throw-away data).
    """
    from django.utils import timezone

    export.PATIENTS, export.DAYS = PATIENTS, DAYS
    patient_days = export.populate(study, sites[0], arms)
    today = timezone.localdate()
    with connection.cursor() as cursor:
        for k, site in enumerate(sites):
            cursor.execute(
                "UPDATE cohorts_patient SET site_id = %s WHERE study_id = %s AND id %% %s = %s",
                [site.pk, study.pk, len(sites), k],
            )
        for k in range(14):
            cursor.execute(
                "UPDATE cohorts_patient SET enrolment_date = %s WHERE study_id = %s AND id %% 14 = %s",
                [today - datetime.timedelta(days=DAYS + k), study.pk, k],
            )
    return patient_days


def make_accounts(study, sites, manager) -> dict:
    """USERS accounts per role with a session each; each nurse gets her own patients (no two edit the same day)."""
    from django.contrib.auth import get_user_model
    from django.test import Client

    from analysis import checklist, releases
    from cleaning import rule_job, status_job
    from cohorts.models import Patient
    from cohorts.team import grant
    from ecrf import derivation_job
    from ecrf.models import VitalSigns

    derivation_job.derive_study(study)
    # The data-quality rules raise their queries (the monitors' query list) and the record status is counted (the
    # monitors' dashboard), as the nightly jobs would have done.
    rule_job.run_study(study)
    status_job.rebuild_study(study)
    releases.release_lock(
        study=study,
        user=manager,
        reason="load test: a release for the statistician's page",
        overrides=dict.fromkeys(checklist.KEYS, "load test data"),
    )
    releases.release_unlock(study=study, user=manager, reason="load test: data entry goes on")

    User = get_user_model()
    by_site = {
        site.pk: list(Patient.objects.filter(study=study, site=site).order_by("pk").values_list("pk", flat=True))
        for site in sites
    }
    in_hospital: dict[int, list[int]] = {}
    for patient, day in VitalSigns.objects.filter(patient__study=study).values_list("patient_id", "study_day"):
        in_hospital.setdefault(patient, []).append(day)

    def session(user) -> str:
        client = Client()
        client.force_login(user)
        return client.cookies[settings.SESSION_COOKIE_NAME].value

    made = {
        "study": study.code,
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "nurse": [],
        "investigator": [],
        "monitor": [],
        "statistician": [],
    }
    for role in ("nurse", "investigator", "monitor", "statistician"):
        for i in range(USERS):
            user = User.objects.create_user(f"load_{role}_{i:02d}")
            account = {"username": user.username}
            if role == "statistician":
                grant(user, study, role, reason="load test")
            else:
                site = sites[i % len(sites)]
                grant(user, study, role, [site], reason="load test")
                patients = by_site[site.pk]
                if role == "nurse":
                    # The nurses of a site share its patients out: slot i // n_sites of those at the site.
                    at_site = len(range(i % len(sites), USERS, len(sites)))
                    patients = patients[i // len(sites) :: at_site]
                    account["days"] = [[p, d] for p in patients for d in in_hospital.get(p, [])]
                account["patients"] = patients
            account["session"] = session(user)
            made[role].append(account)
    return made


# ------------------------------------------------------------------------------------------- server and load


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def database_url() -> str:
    """The test database's URL, for the gunicorn workers."""
    name = connection.settings_dict["NAME"]
    if connection.vendor == "postgresql":
        return urlsplit(os.environ["DATABASE_URL"])._replace(path=f"/{name}").geturl()
    return f"sqlite:///{name}"


def start_gunicorn(port: int, releases_root: Path, log: Path) -> subprocess.Popen:
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.test_settings",
        "DATABASE_URL": database_url(),
        "CELERY_BROKER_URL": "memory://",
        "TEST_RELEASES_ROOT": str(releases_root),
        "DEBUG": "false",
        "ECRF_HTTPS": "false",  # plain HTTP on the loopback: no secure-only cookies, no redirect to https
        "ECRF_REQUIRE_2FA": "false",
    }
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    command += ["--workers", str(WORKERS), "--timeout", "60", "--log-level", "warning"]
    # Django's log (a server error's traceback) goes to the workers' stderr: into the same file.
    with open(log, "a") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.returncode}:\n{log.read_text()[-3000:]}")
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            probe.request("GET", "/")
            probe.getresponse()  # any answer (the home page redirects to the login page): it is up
            probe.close()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    raise RuntimeError("gunicorn did not answer within 60 s")


def run_locust(work: Path, label: str, host: str, classes: list[str], users: int, seconds: int, think: str) -> list:
    """One headless locust run; returns [(page type, ms, error or None)] of every request."""
    times = work / f"{label}.json"
    env = {**os.environ, "LOAD_ACCOUNTS": str(work / "accounts.json"), "LOAD_TIMES": str(times), "LOAD_THINK": think}
    command = [sys.executable, "-m", "locust", "-f", str(BENCH / "locustfile.py"), "--headless", "--host", host]
    command += ["-u", str(users), "-r", str(SPAWN_RATE), "-t", f"{seconds}s", "--only-summary"]
    command += ["--loglevel", "WARNING", *classes]
    with open(work / f"{label}.log", "w") as out:
        subprocess.run(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, check=False)
    if not times.exists():
        raise RuntimeError(f"locust wrote no timings:\n{(work / f'{label}.log').read_text()[-3000:]}")
    return json.loads(times.read_text())


def summarise(records: list) -> tuple[dict[str, list[float]], list[tuple[str, str]]]:
    times: dict[str, list[float]] = {}
    errors = []
    for name, ms, error in records:
        if error is None:
            times.setdefault(name, []).append(ms)
        else:
            errors.append((name, error))
    return times, errors


def run(work: Path) -> int:
    print(f"Load benchmark: {PATIENTS} patients x {DAYS} days on {connection.vendor}; one run", flush=True)
    study, sites, arms, manager = make_study()
    patient_days, _ = export.timed("load the study (bench/export.py's loader)", populate, study, sites, arms)
    accounts, _ = export.timed(
        f"derive, lock and unlock a release; {USERS} accounts per role", make_accounts, study, sites, manager
    )
    print(f"  patient-days: {patient_days:,}")
    (work / "accounts.json").write_text(json.dumps(accounts))

    port = free_port()
    host = f"http://127.0.0.1:{port}"
    server = start_gunicorn(port, settings.RELEASES_ROOT, work / "gunicorn.log")
    try:
        print(f"  gunicorn: {WORKERS} sync workers on {host}", flush=True)
        export.timed("warm-up (not measured)", run_locust, work, "warmup", host, ["SoloUser"], 2, WARMUP_SECONDS, "0,0")
        single, _ = export.timed(
            f"one user, no think time, {SECONDS} s", run_locust, work, "single", host, ["SoloUser"], 1, SECONDS, "0,0"
        )
        loaded, _ = export.timed(
            f"{USERS} users, think {THINK} s, {SECONDS} s",
            run_locust,
            work,
            "load",
            host,
            LOAD_CLASSES,
            USERS,
            SECONDS,
            THINK,
        )
    finally:
        server.terminate()  # gunicorn's graceful stop: its workers finish their request and close their connections
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    single_times, single_errors = summarise(single)
    load_times, load_errors = summarise(loaded)
    rows = {
        name: (single_times.get(name, []), load_times.get(name, [])) for name in sorted({*single_times, *load_times})
    }
    rows[ALL] = ([t for v in single_times.values() for t in v], [t for v in load_times.values() for t in v])
    print()
    columns = f"{'1 user: n':>10}{'p50':>7}{'p95':>7}{f'{USERS} users: n':>15}{'p50':>7}{'p95':>7}{'ratio':>8}"
    print(f"{'page type':<16}{columns}  (times in ms)")
    ratios = {}
    for name, (one, many) in rows.items():
        if not one or not many:
            print(f"{name:<16} not requested in one of the runs (1 user: {len(one)}, {USERS} users: {len(many)})")
            ratios[name] = float("inf")
            continue
        ratios[name] = percentile(many, 0.95) / percentile(one, 0.95)
        print(
            f"{name:<16}{len(one):>10}{percentile(one, 0.5):>7.0f}{percentile(one, 0.95):>7.0f}"
            f"{len(many):>15}{percentile(many, 0.5):>7.0f}{percentile(many, 0.95):>7.0f}{ratios[name]:>7.2f}x"
        )
    errors = single_errors + load_errors
    for (name, error), count in sorted({e: errors.count(e) for e in set(errors)}.items()):
        print(f"  error x{count}: {name}: {error}")
    server_log = (work / "gunicorn.log").read_text()
    if errors and server_log.strip():
        print("  server log (last lines):\n    " + "\n    ".join(server_log.strip().splitlines()[-25:]))
    print()
    for name, (one, many) in rows.items():
        if one and many:
            print(
                f"RESULT {name}: p50 {percentile(one, 0.5):.0f} -> {percentile(many, 0.5):.0f} ms, "
                f"p95 {percentile(one, 0.95):.0f} -> {percentile(many, 0.95):.0f} ms (1 -> {USERS} users), "
                f"p95 ratio {ratios[name]:.2f}"
            )
    print(
        f"RESULT throughput {len(single) / SECONDS:.1f} req/s with 1 user (no think time), "
        f"{len(loaded) / SECONDS:.1f} req/s with {USERS} users (think {THINK} s); {WORKERS} gunicorn workers"
    )
    print(f"RESULT ratio p95 {USERS} users / p95 1 user, all pages: {ratios[ALL]:.2f} (target <= {TARGET_RATIO})")
    print(
        f"RESULT errors {len(errors)} of {len(single) + len(loaded)} requests "
        f"(1 user: {len(single_errors)}, {USERS} users: {len(load_errors)}; target 0)"
    )
    ok = ratios[ALL] <= TARGET_RATIO and not errors and all(ratio != float("inf") for ratio in ratios.values())
    print("PASS" if ok else "FAIL")
    return 0 if ok else 1


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="bench-load-"))
    settings.RELEASES_ROOT = work / "releases"
    try:
        with own_test_database("load", sqlite_file=work / "test_ecrf_bench_load.sqlite3", test_environment=False):
            return run(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
