"""Locust users of the pages people use all day; run by bench/load.py, which builds the study and the sessions.

By hand, against a server whose accounts are listed as bench/load.py's make_accounts writes them:

    LOAD_ACCOUNTS=accounts.json locust -f bench/locustfile.py --headless --host http://127.0.0.1:8000 \\
        -u 50 -r 10 -t 30s NurseUser InvestigatorUser MonitorUser StatisticianUser

- NurseUser (weight 6): the patient list of her site, a patient's day entry page, saving the day's vital signs,
  respiratory support and laboratory results as the browser posts the form (every field of the page, CSRF token
  and record versions as rendered, the typed values and a reason for change), then the casebook the save
  redirects to; also the casebook alone. Each nurse edits only her own patients, so no save meets a version
  conflict (a conflict would be a refused save: an error here).
- InvestigatorUser (weight 3): the study dashboard, casebooks and day pages (read) of the site's patients.
- MonitorUser (weight 2): the query list and the record status dashboard (its first page, or filtered to the
  patients with missing forms or open queries) of the site, and casebooks.
- StatisticianUser (weight 1): the releases page.
- SoloUser: one virtual user playing the four roles in turn, with the same weights: the one-user baseline.
  Name the classes to run on the command line (as above, or SoloUser alone): otherwise locust mixes all five.

No login page: bench/load.py logs each account in server-side (Django's test client) and writes its session
cookie into LOAD_ACCOUNTS, so the run does not depend on how people log in (password form, two-factor).
Every request is sent without following redirects: a redirect to the login page is an error, not a login page.
Static files are not requested (a browser has them cached after the first page).

Think time between tasks: LOAD_THINK="min,max" seconds (default "1,3"; "0,0" for a closed loop). Each request's
time and error go to LOAD_TIMES (JSON) when locust quits, for bench/load.py to compute percentiles exactly.
"""

from __future__ import annotations

import itertools
import json
import os
import random
from collections import defaultdict
from html.parser import HTMLParser
from pathlib import Path

from locust import HttpUser, between, events, task

THINK = tuple(float(s) for s in os.environ.get("LOAD_THINK", "1,3").split(","))
REASON = "transcription error, checked against the chart"
# Page types: the name under which each request is recorded and reported.
PATIENT_LIST, DAY_GET, DAY_POST, CASEBOOK, DASHBOARD, QUERY_LIST, RECORD_STATUS, RELEASES = (
    "patient list",
    "day entry GET",
    "day entry POST",
    "casebook",
    "dashboard",
    "query list",
    "record status",
    "releases",
)

_accounts: dict | None = None
_next_account: dict[str, itertools.count] = defaultdict(itertools.count)
_records: list[tuple[str, float, str | None]] = []


def accounts() -> dict:
    global _accounts
    if _accounts is None:
        path = os.environ.get("LOAD_ACCOUNTS")
        if not path:
            raise RuntimeError("LOAD_ACCOUNTS is not set: run the load test through bench/load.py")
        _accounts = json.loads(Path(path).read_text())
    return _accounts


def take_account(role: str) -> dict:
    """The next account of a role: each virtual user gets its own (cycling if there are more users than accounts)."""
    pool = accounts()[role]
    return pool[next(_next_account[role]) % len(pool)]


@events.request.add_listener
def _record(name, response_time, exception=None, **kwargs):
    _records.append((name, response_time, None if exception is None else f"{type(exception).__name__}: {exception}"))


@events.user_error.add_listener
def _task_error(user_instance, exception, tb, **kwargs):
    # An exception in a task (not a failed request) is an error of the run too, not just a line in locust's log.
    _records.append(("task error", 0.0, f"{type(exception).__name__}: {exception}"))


@events.quitting.add_listener
def _dump(**kwargs):
    path = os.environ.get("LOAD_TIMES")
    if path:
        Path(path).write_text(json.dumps(_records))


# ------------------------------------------------------------------------------------------------ the form


class _Forms(HTMLParser):
    """The <form>s of a page as a browser would submit them: {name: value} of successful controls."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms: list[dict[str, str]] = []
        self._form: dict[str, str] | None = None
        self._select: str | None = None
        self._select_first: str | None = None
        self._option: dict | None = None
        self._textarea: str | None = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self._form = {}
            self.forms.append(self._form)
        if self._form is None:
            return
        name = a.get("name")
        if tag == "input" and name and "disabled" not in a:
            kind = (a.get("type") or "text").lower()
            if kind in {"submit", "button", "image", "reset", "file"}:
                return
            if kind in {"checkbox", "radio"}:
                if "checked" in a:
                    self._form[name] = a.get("value") or "on"
                return
            self._form[name] = a.get("value") or ""
        elif tag == "select" and name and "disabled" not in a:
            self._select, self._select_first = name, None
        elif tag == "option" and self._select is not None:
            self._option = {"value": a.get("value"), "text": "", "selected": "selected" in a}
        elif tag == "textarea" and name:
            self._textarea = name
            self._form[name] = ""

    def handle_data(self, data):
        if self._option is not None:
            self._option["text"] += data
        elif self._textarea is not None and self._form is not None:
            self._form[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "option" and self._option is not None:
            value = self._option["value"] if self._option["value"] is not None else self._option["text"].strip()
            if self._select_first is None:
                self._select_first = value
                self._form.setdefault(self._select, value)  # no option selected: the first one is sent
            if self._option["selected"]:
                self._form[self._select] = value
            self._option = None
        elif tag == "select":
            self._select = None
        elif tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self._form = None


def day_form(html: str) -> dict[str, str] | None:
    parser = _Forms()
    parser.feed(html)
    return next((form for form in parser.forms if "vital_signs-version" in form), None)


def typed_day(rng: random.Random) -> dict[str, str]:
    """What a nurse types for a patient on CPAP: plausible values inside the soft limits (no confirmation)."""
    fio2 = f"{rng.choice([0.4, 0.45, 0.5, 0.6])}"
    return {
        "vital_signs-temperature_c": f"{rng.uniform(36.0, 38.5):.1f}",
        "vital_signs-heart_rate_bpm": str(rng.randint(60, 110)),
        "vital_signs-respiratory_rate_bpm": str(rng.randint(14, 28)),
        "vital_signs-systolic_mmhg": str(rng.randint(100, 150)),
        "vital_signs-diastolic_mmhg": str(rng.randint(60, 90)),
        "vital_signs-spo2_pct": str(rng.randint(90, 98)),
        "respiratory_support-support": "cpap",
        "respiratory_support-flow_l_min": "",
        "respiratory_support-fio2": fio2,
        "respiratory_support-peep_cmh2o": str(rng.randint(8, 12)),
        "laboratory-pao2_mmhg": str(rng.randint(60, 120)),
        "laboratory-pao2_entered_unit": "mmHg",
        "laboratory-abg_fio2": fio2,
        "laboratory-crp_mg_l": f"{rng.uniform(5, 300):.1f}",
        "laboratory-crp_entered_unit": "mg/L",
        "page-reason": REASON,
    }


# ------------------------------------------------------------------------------------------------ the roles


class Role:
    """One account's behaviour, used by its own user class and by SoloUser (who switches the session cookie)."""

    role = ""
    weights: dict[str, int] = {}

    def __init__(self, user: HttpUser):
        self.user = user
        self.client = user.client
        self.account = take_account(self.role)
        self.study = accounts()["study"]
        self.rng = random.Random()

    def log_in(self) -> None:
        self.client.cookies.set(accounts()["session_cookie"], self.account["session"])

    def step(self) -> None:
        """One task, chosen by weight (what a locust @task(weight) does)."""
        name = self.rng.choices(list(self.weights), weights=list(self.weights.values()))[0]
        getattr(self, name)()

    def get(self, url: str, name: str, expect=(200,)):
        """GET without following redirects; anything but `expect` (a login redirect included) is an error."""
        with self.client.get(url, name=name, allow_redirects=False, catch_response=True) as response:
            if response.status_code not in expect:
                where = response.headers.get("Location", "")
                response.failure(f"HTTP {response.status_code} {where}".strip())
            return response

    def casebook(self, patient: int | None = None) -> None:
        patient = patient or self.rng.choice(self.account["patients"])
        self.get(f"/patients/{patient}/", CASEBOOK)

    def patient_list(self) -> None:
        self.get(f"/studies/{self.study}/patients/", PATIENT_LIST)


class Nurse(Role):
    role = "nurse"
    weights = {"enter_day": 4, "patient_list": 1, "casebook": 2}

    def enter_day(self) -> None:
        """Open a patient-day she entered before, correct it, save: 302 to the casebook, which the browser opens."""
        patient, day = self.rng.choice(self.account["days"])
        url = f"/patients/{patient}/day/{day}/"
        page = self.get(url, DAY_GET)
        if page.status_code != 200:
            return
        data = day_form(page.text)
        if data is None:
            self.user.environment.events.request.fire(
                request_type="PARSE",
                name=DAY_POST,
                response_time=0,
                response_length=0,
                exception=RuntimeError("no day form with vitals-version on the entry page"),
                context={},
            )
            return
        data.update(typed_day(self.rng))
        with self.client.post(url, data=data, name=DAY_POST, allow_redirects=False, catch_response=True) as response:
            where = response.headers.get("Location", "")
            if response.status_code != 302 or not where.startswith(f"/patients/{patient}/"):
                detail = "refused, the page shown again" if response.status_code == 200 else where
                response.failure(f"HTTP {response.status_code} {detail}".strip())
                return
        self.casebook(patient)


class Investigator(Role):
    role = "investigator"
    weights = {"dashboard": 2, "casebook": 4, "read_day": 1, "patient_list": 1}

    def dashboard(self) -> None:
        self.get(f"/studies/{self.study}/dashboard/", DASHBOARD)

    def read_day(self) -> None:
        self.get(f"/patients/{self.rng.choice(self.account['patients'])}/day/{self.rng.randrange(21)}/", DAY_GET)


class Monitor(Role):
    role = "monitor"
    weights = {"query_list": 2, "record_status": 2, "casebook": 1}

    def query_list(self) -> None:
        self.get(f"/studies/{self.study}/queries/", QUERY_LIST)

    def record_status(self) -> None:
        """The dashboard as a monitor opens it: its first page or the patients with a state (a filter)."""
        state = self.rng.choice(["", "?status=missing", "?status=query_open"])
        self.get(f"/studies/{self.study}/status/{state}", RECORD_STATUS)


class Statistician(Role):
    role = "statistician"
    weights = {"releases": 1}

    def releases(self) -> None:
        self.get(f"/studies/{self.study}/releases/", RELEASES)


class RoleUser(HttpUser):
    abstract = True
    wait_time = between(*THINK)
    role_class: type[Role] = Role

    def on_start(self):
        self.player = self.role_class(self)
        self.player.log_in()
        # People do not all click at the same second: without this, the users spawned in the first seconds fire
        # their first requests together, a burst that sets the p95 of the rarer pages (releases) on its own.
        self.wait()

    @task
    def step(self):
        self.player.step()


class NurseUser(RoleUser):
    weight = 6
    role_class = Nurse


class InvestigatorUser(RoleUser):
    weight = 3
    role_class = Investigator


class MonitorUser(RoleUser):
    weight = 2
    role_class = Monitor


class StatisticianUser(RoleUser):
    weight = 1
    role_class = Statistician


class SoloUser(HttpUser):
    """The one-user baseline: each task played by a nurse, an investigator, a monitor or a statistician, weighted
    6:3:2:1 (the classes' weights)."""

    wait_time = between(*THINK)

    def on_start(self):
        self.players = [Nurse(self), Investigator(self), Monitor(self), Statistician(self)]
        self.rng = random.Random()

    @task
    def step(self):
        player = self.rng.choices(self.players, weights=[6, 3, 2, 1])[0]
        player.log_in()
        player.step()
