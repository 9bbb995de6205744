"""A form sent twice (a double click, a network retry) is saved once (cohorts/submissions.py).

Every create page renders a token in a hidden field; the same token sent again is answered with what the first
submission created, and a message, and nothing is stored twice.
"""

import re

import pytest

from cohorts.models import Patient, Screening, Submission
from cohorts.submissions import ALREADY, FIELD
from ecrf.models import AdverseEvent, DispositionEvent, DrugAdministration, VitalSigns
from tests.cohorts.screening_data import milan_post
from tests.cohorts.test_enrolment import enrol_post, enrol_url
from tests.ecrf.test_entry_helpers import day_post, day_url

TOKEN_INPUT = re.compile(rf'name="{FIELD}" value="([A-Za-z0-9_-]+)"')


def token_of(response) -> str:
    """The token the page rendered in its form."""
    match = TOKEN_INPUT.search(response.content.decode())
    assert match, "no submission token on the page"
    return match.group(1)


def messages_of(response) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def twice(client, url, data):
    """Open the page, then send its form twice with the token it rendered."""
    data = {**data, FIELD: token_of(client.get(url))}
    return client.post(url, data), client.post(url, data, follow=True)


@pytest.fixture
def investigator(client, users):
    client.force_login(users["investigator"])
    return client


def test_every_create_page_renders_a_fresh_token(investigator, study, patient_a):
    urls = [
        f"/studies/{study.code}/screenings/new/",
        day_url(patient_a, 3),
        f"/patients/{patient_a.pk}/drugs/add/",
        f"/patients/{patient_a.pk}/dispositions/add/",
        f"/patients/{patient_a.pk}/adverse-events/add/",
    ]
    for url in urls:
        first, second = token_of(investigator.get(url)), token_of(investigator.get(url))
        assert first != second, url


def test_screening_sent_twice_is_saved_once(investigator, study, site_a):
    url = f"/studies/{study.code}/screenings/new/"
    first, second = twice(investigator, url, milan_post(site_a))
    assert first.status_code == 302
    screening = Screening.objects.get()
    assert screening.number == "MI-S0001"
    assert second.redirect_chain[-1][0] == f"/studies/{study.code}/screenings/{screening.pk}/"
    assert ALREADY in messages_of(second)
    log = investigator.get(f"/studies/{study.code}/screenings/")
    assert log.context["counts"]["screened"] == 1


def test_a_refused_screening_keeps_its_token_and_is_saved_when_corrected(investigator, study, site_a):
    url = f"/studies/{study.code}/screenings/new/"
    token = token_of(investigator.get(url))
    refused = investigator.post(url, {**milan_post(site_a, crp_mg_l="", ferritin_ng_ml=""), FIELD: token})
    assert refused.status_code == 200 and not Screening.objects.exists()
    assert token_of(refused) == token  # the page shown again is the same submission
    saved = investigator.post(url, {**milan_post(site_a), FIELD: token})
    assert saved.status_code == 302 and Screening.objects.count() == 1


def test_enrolment_sent_twice_enrols_once_and_says_so(investigator, study, site_a, arms):
    investigator.post(f"/studies/{study.code}/screenings/new/", milan_post(site_a))
    screening = Screening.objects.get()
    first, second = twice(investigator, enrol_url(screening), enrol_post(arms["standard"]))
    assert first.status_code == 302
    assert Patient.objects.filter(screening=screening).count() == 1
    assert second.redirect_chain[-1][0] == f"/studies/{study.code}/screenings/{screening.pk}/"
    assert ALREADY in messages_of(second)
    assert not any("already enrolled" in m for m in messages_of(second))


@pytest.mark.parametrize(
    ("slug", "model", "data"),
    [
        (
            "drugs",
            DrugAdministration,
            {"drug": "tocilizumab", "dose": "400", "dose_unit": "mg", "route": "iv", "frequency": "once"},
        ),
        ("dispositions", DispositionEvent, {"kind": "icu_admission"}),
        ("adverse-events", AdverseEvent, {"kind": "thromboembolism", "serious": "on"}),
    ],
)
def test_event_sent_twice_is_stored_once(investigator, patient_a, slug, model, data):
    url = f"/patients/{patient_a.pk}/{slug}/add/"
    post = {f"event-{k}": v for k, v in {"study_day": "2", **data}.items()}
    first, second = twice(investigator, url, post)
    assert first.status_code == 302, first.context and first.context["form"].errors
    record = model.objects.get()
    assert record.history.count() == 1
    assert second.redirect_chain[-1][0] == f"/patients/{patient_a.pk}/#day-2"
    assert ALREADY in messages_of(second)


def test_first_day_entry_sent_twice_is_saved_and_audited_once(investigator, patient_a):
    url = day_url(patient_a, 3)
    first, second = twice(investigator, url, day_post(vitals={"temperature_c": "37.5", "heart_rate_bpm": "90"}))
    assert first.status_code == 302
    vitals = VitalSigns.objects.get()
    assert vitals.version == 1 and vitals.history.count() == 1
    assert second.redirect_chain[-1][0] == f"/patients/{patient_a.pk}/#day-3"
    assert ALREADY in messages_of(second)


def test_first_day_entry_sent_twice_without_token_is_refused_cleanly(investigator, patient_a):
    """A client that sends no token (a script) is not protected, but never gets a server error or a second row."""
    data = day_post(vitals={"temperature_c": "37.5"})
    assert investigator.post(day_url(patient_a, 3), data).status_code == 302
    again = investigator.post(day_url(patient_a, 3), data)
    assert again.status_code == 200
    assert VitalSigns.objects.get().history.count() == 1


def test_a_token_of_another_user_reveals_nothing(client, users, study, site_a):
    url = f"/studies/{study.code}/screenings/new/"
    client.force_login(users["investigator"])
    token = token_of(client.get(url))
    client.post(url, {**milan_post(site_a), FIELD: token})
    client.force_login(users["data_manager"])
    response = client.post(url, {**milan_post(site_a), FIELD: token}, follow=True)
    assert Screening.objects.count() == 1
    assert response.redirect_chain[-1][0] == f"/studies/{study.code}/screenings/"
    assert Submission.objects.get().user == users["investigator"]
