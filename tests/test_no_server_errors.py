"""No page answers 500 to bad input: junk query strings, htmx requests, garbage form posts, unknown objects.

Every page of the access table (tests/test_access.py) is opened by users who may open it, with junk query
parameters and as an htmx request; every page that takes a POST gets an empty body and every field (the names
are read from the form the page itself shows) set to one garbage string after another. A data-entry form given
garbage stores nothing. The data-entry forms also get one garbage field at a time among valid values, so the
garbage reaches their checks and services; the CSV import gets garbage files. URLs naming objects that do not
exist answer 404. Bad input gets a message or a 4xx, never a server error.

The defects found this way have their own regression tests at the end of the file.
"""

import csv
import io
import re
from urllib.parse import urlencode

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from analysis.models import ExportJob, Release
from cleaning.models import Signature
from cohorts.models import Patient, Screening
from ecrf import importing
from ecrf.models import AdverseEvent, DispositionEvent, DrugAdministration, LabResult, RespiratorySupport, VitalSigns
from tests.access_pages.analysis import export_job, lock_job, release_v1
from tests.access_pages.cohorts import screening_a
from tests.access_pages.ecrf import ADVERSE, DISPOSITION, DRUG
from tests.test_access import PAGES

LONG = "x" * 10_000
LONG_DIGITS = "9" * 10_000  # beyond Python's 4300-digit limit of int(str)
HUGE = "9" * 25  # a number no integer column holds

GARBAGE = ["abc", "1e999", "NaN", "-0", "９", "²", "2020-02-30", LONG, LONG_DIGITS, HUGE, "\x00", "<script>x</script>"]

JUNK_QUERIES = [
    "page=abc&day=-1&site=999999&sort=%00&q=%3Cscript%3Ealert(1)%3C/script%3E&version=abc&data=live&rescreen=abc",
    "page=-1&day=999&site=&version=0&rescreen=0&data=%00",
    f"page={HUGE}&day=1e999&site=%00&version={HUGE}&rescreen={HUGE}",
    "page=%EF%BC%99&day=%C2%B2&version=%C2%B2&rescreen=%C2%B2&site=%EF%BC%99",  # "９" and "²": digits to isdigit()
    urlencode(dict.fromkeys(("page", "day", "site", "sort", "q", "version", "rescreen", "data"), LONG)),
    urlencode(dict.fromkeys(("page", "day", "version", "rescreen"), LONG_DIGITS)),
]

# What a garbage POST must not change: these rows and their audit trail (an edit adds a history row). Lock jobs
# are not counted: a lock with the reason "abc" is a valid request (its task never runs in these tests).
STORED_MODELS = [
    Patient,
    Screening,
    VitalSigns,
    RespiratorySupport,
    LabResult,
    DrugAdministration,
    DispositionEvent,
    AdverseEvent,
    Release,
    ExportJob,
    Signature,
]
GET_PAGES = [p for p in PAGES if p.method == "get"]
POST_PAGES = [p for p in PAGES if p.method == "post"]
# The GET page showing the form a POST page receives (by default the GET page of the same path).
FORM_SOURCE = {
    "screening live evaluation": "screening form",
    "enrolment post": "enrolment form",
    "lock": "releases",
    "unlock": "releases",
    "export request": "release manifest",
    "fhir pull": "fhir review",  # its "Pull again" button
    "casebook freeze post": "casebook",
    "query rules run": "query list",  # its "Run the rules now" button
    "csv import cancel": "csv import",  # a button without fields: the upload form's fields as garbage
}
PAGES_BY_NAME = {p.name: p for p in PAGES}


def users_for(page) -> list[str]:
    """A data manager (every page of the study, every site; the administrator where only they may, the
    investigator where only investigators may) and, where allowed, a role that sees its own site only."""
    first = next((role for role in ("data_manager", "admin", "investigator") if role in page.allowed), "data_manager")
    others = [role for role in ("nurse", "investigator", "statistician", "monitor") if role in page.allowed]
    return [first, *others[:1]]


def cases(pages):
    return [pytest.param(page, user, id=f"{page.name}-{user}") for page in pages for user in users_for(page)]


def form_source(page):
    if page.name in FORM_SOURCE:
        return PAGES_BY_NAME[FORM_SOURCE[page.name]]
    stems = {page.name.removesuffix(suffix) for suffix in (" save", " post", " upload")}
    return next(p for p in GET_PAGES if p.name in stems)


def field_names(html: str) -> set[str]:
    return set(re.findall(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"', html)) - {"csrfmiddlewaretoken"}


def row_counts() -> dict:
    counts = {model.__name__: model.objects.count() for model in STORED_MODELS}
    for model in STORED_MODELS:
        if hasattr(model, "history"):
            counts[f"{model.__name__} history"] = model.history.count()
    return counts


@pytest.fixture
def fixtures(study, users, patient_a, patient_b):
    return {"study": study, "users": users, "patient_a": patient_a, "patient_b": patient_b}


def with_query(url: str, query: str) -> str:
    return f"{url}{'&' if '?' in url else '?'}{query}"


@pytest.mark.parametrize(("page", "username"), cases(GET_PAGES))
def test_get_with_junk_query_and_htmx(client, fixtures, page, username):
    client.force_login(fixtures["users"][username])
    url = page.url(fixtures)
    for query in JUNK_QUERIES:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.get(with_query(url, query), headers=headers)
            assert response.status_code < 500, (url, query[:80], headers)


@pytest.mark.parametrize(("page", "username"), cases(POST_PAGES))
def test_post_garbage_stores_nothing(client, fixtures, page, username):
    client.force_login(fixtures["users"][username])
    url = page.url(fixtures)
    source = form_source(page)
    names = field_names(client.get(source.url(fixtures)).content.decode())
    assert names, f"no form fields found on {source.name}"
    before = row_counts()
    bodies = [{}] + [dict.fromkeys(names, value) for value in GARBAGE]
    if "delete-version" in names:  # the delete button of an event form
        bodies += [{"action": "delete", "delete-version": value, "delete-reason": value} for value in GARBAGE]
    for body in bodies:
        for headers in ({}, {"HX-Request": "true"}):
            response = client.post(url, body, headers=headers)
            assert response.status_code < 500, (url, {k: str(v)[:20] for k, v in body.items()})
    assert row_counts() == before


def valid_body(page_name: str, f) -> dict:
    """A valid submission of a data-entry form, so that one garbage field at a time reaches the checks and the
    service (the day entry: empty, the garbage field alone makes its form non-empty)."""
    events = {"drugs": DRUG, "dispositions": DISPOSITION, "adverse-events": ADVERSE}
    slug = page_name.removesuffix(" add save")
    if slug in events:
        return {f"event-{name}": str(value) for name, value in {"study_day": 2, **events[slug]}.items()}
    if page_name == "screening form post":
        return {"site": f["patient_a"].site.pk, "assessed_at": "2020-03-16T09:00", "age_years": "60"}
    if page_name == "enrolment post":
        return {"arm": f["patient_a"].arm.pk, "enrolment_date": "2020-03-16", "sex": "F", "weight_kg": "70"}
    return {}


ONE_FIELD_PAGES = ["day entry save", "screening form post", "enrolment post", "drugs add save"]
ONE_FIELD_PAGES += ["dispositions add save", "adverse-events add save"]
ONE_FIELD_GARBAGE = ["abc", "1e999", "-0", HUGE, LONG_DIGITS, "\x00"]
EDGES_OF_TIME = ["0001-01-01T00:00", "0001-01-01", "9999-12-31T23:59"]  # for the forms with dates


@pytest.mark.parametrize("page_name", ONE_FIELD_PAGES)
def test_post_one_garbage_field_at_a_time(client, fixtures, page_name):
    """Garbage in one field, the others valid: the form's checks and the service see it (only < 500 is asserted:
    "-0" or "abc" can be a valid value of some field)."""
    page = PAGES_BY_NAME[page_name]
    client.force_login(fixtures["users"]["data_manager"])
    url = page.url(fixtures)
    names = field_names(client.get(form_source(page).url(fixtures)).content.decode())
    valid = valid_body(page_name, fixtures)
    garbage = ONE_FIELD_GARBAGE + (EDGES_OF_TIME if page_name in ("screening form post", "enrolment post") else [])
    for name in sorted(names):
        for value in garbage:
            response = client.post(url, {**valid, name: value})
            assert response.status_code < 500, (url, name, value[:20])


def garbage_csv(table: str) -> bytes:
    """One row per garbage value in every column, and the same with a real participant."""
    out = io.StringIO()
    writer = csv.writer(out)
    columns = list(importing.COLUMNS[table])
    writer.writerow(columns)
    for value in GARBAGE:
        value = value.replace("\x00", "")  # csv cannot write NUL; the raw byte file below has one
        writer.writerow([value] * len(columns))
        writer.writerow(["MI-0001" if c == "participant_id" else value for c in columns])
    return out.getvalue().encode()


@pytest.mark.parametrize("check_only", [False, True])
def test_csv_import_of_garbage_files_stores_nothing(client, fixtures, check_only):
    client.force_login(fixtures["users"]["data_manager"])
    url = f"/studies/{fixtures['study'].code}/import/"
    uploads = [SimpleUploadedFile(f"{table}.csv", garbage_csv(table)) for table in importing.TABLES]
    uploads += [
        SimpleUploadedFile("vital_signs.csv", b"\x00\xff\xfe garbage\n\x00"),
        SimpleUploadedFile("release.zip", b"PK\x03\x04 not a zip"),
        SimpleUploadedFile("nothing.csv", b""),
        SimpleUploadedFile(LONG[:200] + ".csv", LONG.encode()),
    ]
    before = row_counts()
    for files in (uploads, uploads[-4:], uploads[:1]):
        response = client.post(url, {"files": files, "check_only": "on" if check_only else ""})
        assert response.status_code < 500
    assert row_counts() == before


def missing_urls(f) -> list[tuple[str, str]]:
    """(method, URL) of objects that do not exist; a data manager opens them (every page, every site)."""
    s, p = f["study"].code, f["patient_a"].pk
    release_v1(f)
    lock_job(f)
    export_job(f)
    return [
        ("get", "/patients/999999/"),
        ("get", f"/patients/{HUGE}/"),
        ("get", "/patients/MI-0001/"),
        ("get", "/patients/999999/day/3/"),
        ("post", "/patients/999999/day/3/"),
        ("get", f"/patients/{p}/day/999/"),
        ("post", f"/patients/{p}/day/999/"),
        ("get", f"/patients/{p}/day/-1/"),
        ("get", f"/patients/{p}/day/{HUGE}/"),
        ("get", f"/patients/{p}/drugs/999999/"),
        ("post", f"/patients/{p}/drugs/999999/"),
        ("get", f"/patients/{p}/adverse-events/{HUGE}/"),
        ("get", f"/patients/{p}/vaccines/add/"),
        ("post", f"/patients/{p}/vaccines/add/"),
        ("get", "/history/cohorts.patient/999999/"),
        ("get", f"/history/ecrf.vitalsigns/{HUGE}/"),
        ("get", "/history/auth.user/1/"),
        ("get", "/history/no.such/1/"),
        ("get", "/history/nomodel/1/"),
        ("get", "/studies/no-such-study/patients/"),
        ("get", "/studies/no-such-study/dashboard/"),
        ("get", "/studies/no-such-study/import/"),
        ("get", "/studies/no-such-study/screenings/"),
        ("post", "/studies/no-such-study/screenings/new/"),
        ("post", "/studies/no-such-study/screenings/evaluate/"),
        ("get", f"/studies/{s}/screenings/999999/"),
        ("get", f"/studies/{s}/screenings/{HUGE}/"),
        ("get", f"/studies/{s}/screenings/999999/enrol/"),
        ("post", f"/studies/{s}/screenings/999999/enrol/"),
        ("get", "/studies/no-such-study/analysis/"),
        ("get", f"/studies/{s}/analysis/?version=0"),
        ("get", f"/studies/{s}/analysis/?version=999"),
        ("get", f"/studies/{s}/analysis/figures/no_such.png"),
        ("get", f"/studies/{s}/analysis/figures/km_os.gif"),
        ("get", f"/studies/{s}/analysis/figures/km_os.png?version=0"),
        ("get", f"/studies/{s}/analysis/figures/km_os.png?version={HUGE}"),
        ("post", "/studies/no-such-study/releases/lock/"),
        ("post", "/studies/no-such-study/releases/unlock/"),
        ("get", f"/studies/{s}/releases/v0/"),
        ("get", f"/studies/{s}/releases/v999/"),
        ("get", f"/studies/{s}/releases/v{HUGE}/"),
        ("get", f"/studies/{s}/releases/v0/files/manifest.json"),
        ("get", f"/studies/{s}/releases/v1/files/no/such.file"),
        ("get", f"/studies/{s}/releases/v1/files/../../../../etc/passwd"),
        ("get", f"/studies/{s}/releases/v1/files/%2e%2e/%2e%2e/settings.py"),
        ("post", f"/studies/{s}/releases/v0/export/"),
        ("get", "/locks/999999/"),
        ("post", "/locks/999999/cancel/"),
        ("get", f"/locks/{HUGE}/"),
        ("get", "/exports/999999/"),
        ("get", "/exports/999999/download/"),
        ("get", f"/exports/{HUGE}/download/"),
    ]


def test_unknown_objects_are_404(client, fixtures):
    client.force_login(fixtures["users"]["data_manager"])
    answers = {}
    for method, url in missing_urls(fixtures):
        for headers in ({}, {"HX-Request": "true"}):
            answers[(method, url, bool(headers))] = getattr(client, method)(url, headers=headers).status_code
    assert {key: status for key, status in answers.items() if status != 404} == {}


def test_lock_cancel_with_junk(client, fixtures):
    """The cancel button of a lock (not in the access table: its page is the lock status page)."""
    client.force_login(fixtures["users"]["data_manager"])
    job = lock_job(fixtures)
    for body in ({}, *({"reason": value, "action": value} for value in GARBAGE)):
        assert client.post(f"/locks/{job.pk}/cancel/", body).status_code < 500


def test_enrolment_of_a_screening_with_junk(client, fixtures):
    """The enrolment form reached through the screening of patient A's site, with dates at the edges of time."""
    client.force_login(fixtures["users"]["investigator"])
    screening = screening_a(fixtures)
    url = f"/studies/{fixtures['study'].code}/screenings/{screening.pk}/enrol/"
    arm = fixtures["patient_a"].arm
    before = row_counts()
    for date in ("2020-02-30", "0001-01-01", "9999-12-31", "1e999", LONG):
        body = {"arm": arm.pk, "enrolment_date": date, "sex": "M", "weight_kg": "80"}
        assert client.post(url, body).status_code < 500, date
    assert row_counts() == before


# Regression tests of the defects this file found.


@pytest.mark.parametrize("value", ["²", LONG_DIGITS])
def test_query_numbers_that_int_refuses(client, fixtures, value):
    """?day= of an event's add page and ?rescreen= of the screening form were int()ed after str.isdigit(), which
    accepts "²" (int() does not) and 10,000 digits (beyond int()'s 4300): a ValueError, a 500."""
    client.force_login(fixtures["users"]["data_manager"])
    response = client.get(f"/patients/{fixtures['patient_a'].pk}/drugs/add/", {"day": value})
    assert response.status_code == 200
    response = client.get(f"/studies/{fixtures['study'].code}/screenings/new/", {"rescreen": value})
    assert response.status_code == 200
    response = client.get(f"/patients/{fixtures['patient_a'].pk}/drugs/add/", {"day": "９"})
    assert response.context["form"].initial["study_day"] == 9  # a full-width digit is still a number


def test_patient_list_site_with_nul_byte(client, fixtures):
    """?site=%00 was a filter on the site code: PostgreSQL refuses NUL in text ("DataError"), a 500."""
    client.force_login(fixtures["users"]["data_manager"])
    response = client.get(f"/studies/{fixtures['study'].code}/patients/", {"site": "\x00"})
    assert response.status_code == 200
    assert response.context["site"] is None
    response = client.get(f"/studies/{fixtures['study'].code}/patients/", {"site": "BG"})
    assert response.context["site"].code == "BG"
    assert [p.participant_id for p in response.context["patients"]] == ["BG-0001"]


@pytest.mark.parametrize("when", ["0001-01-01T00:00", "1900-01-01T00:00", "9999-12-31T23:59"])
def test_screening_assessed_at_the_edges_of_time(client, fixtures, when):
    """An assessment on 1 January of year 1 (Rome time) was stored as UTC, before year 1: OverflowError, a 500.
    Now any assessment before 2000 (or in the future) is refused with a message next to the field."""
    client.force_login(fixtures["users"]["investigator"])
    body = {"site": fixtures["patient_a"].site.pk, "assessed_at": when, "age_years": "60", "action": "screen_failure"}
    response = client.post(f"/studies/{fixtures['study'].code}/screenings/new/", body)
    assert response.status_code == 200
    assert response.context["form"].errors["assessed_at"]
    assert not Screening.objects.exists()


@pytest.mark.parametrize(("page", "username"), cases(GET_PAGES))
def test_every_page_renders_in_italian(client, fixtures, page, username):
    """The Italian catalogue reaches every page: a translation whose placeholders do not fit its message, or a
    lazy label where text is needed, would be a server error in Italian only."""
    client.force_login(fixtures["users"][username])
    response = client.get(page.url(fixtures), HTTP_ACCEPT_LANGUAGE="it")
    assert response.status_code < 500, page.url(fixtures)
    if response.status_code == 200 and "text/html" in response.get("Content-Type", ""):
        assert response["Content-Language"] == "it"


@pytest.mark.parametrize(("page", "username"), cases(POST_PAGES))
def test_garbage_posts_answer_in_italian_without_a_server_error(client, fixtures, page, username):
    client.force_login(fixtures["users"][username])
    names = field_names(client.get(form_source(page).url(fixtures)).content.decode())
    before = row_counts()
    for body in ({}, dict.fromkeys(names, "abc"), dict.fromkeys(names, "1,5")):
        response = client.post(page.url(fixtures), body, HTTP_ACCEPT_LANGUAGE="it")
        assert response.status_code < 500, (page.url(fixtures), body)
    assert row_counts() == before
