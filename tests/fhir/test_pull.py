"""The pull: a nurse presses the day page's button, the values of the hospital record are proposed (units
converted, hard limits shown), and a server's failure is a message with nothing saved."""

import pytest

from ecrf.models import LabResult, VitalSigns
from fhir_pull.models import Proposal, ProposalStatus, Pull
from tests.fhir.conftest import DAY, IN_DAY, pull_url, review_url
from tests.fhir.server import medication, observation, quantity


def proposals() -> dict[str, Proposal]:
    return {p.field: p for p in Proposal.objects.filter(status=ProposalStatus.PROPOSED)}


def day_of_values(server):
    server.observations += [
        observation("temp-1", "8310-5", 100.4, "[degF]", when=IN_DAY),
        observation("hr-1", "8867-4", 88, "/min", when=IN_DAY),
        observation(
            "bp-1",
            "85354-9",
            when=IN_DAY,
            components=[("8480-6", 124, "mm[Hg]"), ("8462-4", 78, "mm[Hg]")],
        ),
        observation("spo2-1", "59408-5", 94, "%", when=IN_DAY, codes=("2708-6",)),
        observation("crp-1", "1988-5", 5.2, "mg/dL", when=IN_DAY, category="laboratory"),
        observation("pao2-1", "2703-7", 10, "kPa", when=IN_DAY, category="laboratory"),
        observation("lym-1", "731-0", 1200, "/uL", when=IN_DAY, category="laboratory"),
        observation("dd-1", "48065-7", 0.8, "ug/mL{FEU}", when=IN_DAY, category="laboratory"),
        # the next day (after local midnight at the site): not searched for
        observation("hr-2", "8867-4", 120, "/min", when="2020-03-21T00:30:00+01:00"),
    ]
    server.medications.append(medication("ma-1", "Anakinra", 100, "mg", when=IN_DAY))


def test_pulled_values_are_proposed_in_canonical_units_and_nothing_is_saved(nurse, connected, patient_a):
    day_of_values(connected)
    response = nurse.post(pull_url(patient_a))
    assert response.status_code == 302 and response["Location"] == review_url(patient_a)
    found = proposals()
    shown = {name: (format(p.value.normalize(), "f"), p.original_value, p.original_unit) for name, p in found.items()}
    assert shown == {
        "temperature_c": ("38", "100.4", "[degF]"),
        "heart_rate_bpm": ("88", "88", "/min"),
        "systolic_mmhg": ("124", "124", "mm[Hg]"),
        "diastolic_mmhg": ("78", "78", "mm[Hg]"),
        "spo2_pct": ("94", "94", "%"),
        "crp_mg_l": ("52", "5.2", "mg/dL"),
        "pao2_mmhg": ("75", "10", "kPa"),  # 75.0062 at the field's one decimal
        "lymphocytes_10e9_l": ("1.2", "1200", "/uL"),
        "ddimer_ng_ml": ("800", "0.8", "ug/mL{FEU}"),
    }
    assert found["ddimer_ng_ml"].implies == {"ddimer_basis": "FEU"}
    assert found["systolic_mmhg"].source == found["diastolic_mmhg"].source == "Observation/bp-1"
    assert not VitalSigns.objects.exists() and not LabResult.objects.exists()
    page = nurse.get(review_url(patient_a)).content.decode()
    assert "Pulled from the hospital" in page and "9 value(s) proposed" in page
    assert "Anakinra" in page and "MedicationAdministration/ma-1" in page  # listed read-only
    assert page.count('data-testid="proposal"') == 9


def test_the_search_is_the_study_day_at_the_site_by_loinc_code_and_follows_next_links(nurse, connected, patient_a):
    day_of_values(connected)
    nurse.post(pull_url(patient_a))
    searches = [query for path, query, _ in connected.requests if path.endswith("/Observation")]
    assert len(searches) == 1
    query = searches[0]
    assert query["date"] == ["ge2020-03-19T23:00:00Z", "lt2020-03-20T23:00:00Z"]  # Europe/Rome, UTC+1 in March
    assert query["category"] == ["vital-signs,laboratory"]
    codes = query["code"][0].split(",")
    assert "http://loinc.org|59408-5" in codes and "http://loinc.org|85354-9" in codes
    # 8 observations in pages of 2: the first search and three next links
    assert sum(1 for _, query, _ in connected.requests if "_getpages" in query) >= 3
    assert "heart_rate_bpm" in proposals() and not Proposal.objects.filter(resource_id="hr-2").exists()


def test_spo2_of_150_is_proposed_with_its_hard_limit_error_and_cannot_be_accepted(nurse, connected, patient_a):
    connected.observations.append(observation("spo2-9", "59408-5", 150, "%", when=IN_DAY))
    nurse.post(pull_url(patient_a))
    spo2 = proposals()["spo2_pct"]
    assert spo2.value == 150 and "SpO2" in spo2.error and "100" in spo2.error
    page = nurse.get(review_url(patient_a)).content.decode()
    assert spo2.error in page
    assert f'name="p{spo2.pk}-decision" value="accept"' not in page  # no accept choice on its row
    response = nurse.post(review_url(patient_a), {f"p{spo2.pk}-decision": "accept"})
    assert response.status_code == 200 and "Nothing was saved" in response.content.decode()
    assert not VitalSigns.objects.exists()
    assert Proposal.objects.get(pk=spo2.pk).status == ProposalStatus.PROPOSED


def test_an_unknown_unit_is_shown_with_a_message_and_cannot_be_accepted(nurse, connected, patient_a):
    connected.observations.append(observation("crp-9", "1988-5", 3, "mmol/L", when=IN_DAY, category="laboratory"))
    nurse.post(pull_url(patient_a))
    crp = proposals()["crp_mg_l"]
    assert crp.value is None and "'mmol/L'" in crp.error and "mg/L" in crp.error
    page = nurse.get(review_url(patient_a)).content.decode()
    assert "does not convert to mg/L" in page
    nurse.post(review_url(patient_a), {f"p{crp.pk}-decision": "accept"})
    assert not LabResult.objects.exists()


def test_results_not_usable_are_noted_not_proposed(nurse, connected, patient_a):
    connected.observations += [
        observation("hr-p", "8867-4", 90, "/min", when=IN_DAY, status="preliminary"),
        observation(
            "crp-lt", "1988-5", when=IN_DAY, category="laboratory", value_quantity=quantity(5, "mg/L", comparator="<")
        ),
    ]
    nurse.post(pull_url(patient_a))
    notes = Pull.objects.get().notes
    assert notes == ["Observation/hr-p has the status preliminary: not proposed."]
    assert "given as <5" in proposals()["crp_mg_l"].error


@pytest.mark.parametrize(
    ("mode", "message"),
    [
        ("slow", "did not answer the Patient search within 0.5 s"),
        ("500", "answered the Patient search with HTTP 500"),
        ("malformed", "not a valid FHIR R4 Bundle"),
        ("not_json", "is not JSON"),
    ],
)
def test_a_failing_server_is_a_message_and_nothing_is_saved(nurse, connected, patient_a, settings, mode, message):
    settings.FHIR_TIMEOUT_SECONDS = 0.5
    connected.slow_seconds = 1.5
    connected.mode = mode
    if mode == "malformed":  # the Patient search answers; the Observation search's bundle is malformed
        connected.mode = None
        original = connected.answer

        def answer(path, query, headers):
            connected.mode = "malformed" if path.endswith("/Observation") else None
            return original(path, query, headers)

        connected.answer = answer
        message = "answer to the Observation search is not a valid FHIR R4 Bundle (entry.0.resource.code"
    response = nurse.post(pull_url(patient_a), follow=True)
    assert response.status_code == 200
    page = response.content.decode()
    assert message in page and "nothing was saved" in page
    assert not Proposal.objects.exists() and not VitalSigns.objects.exists()
    assert message in Pull.objects.get().failure


def test_a_failed_pull_keeps_the_proposals_waiting(nurse, connected, patient_a):
    connected.observations.append(observation("hr-1", "8867-4", 88, "/min", when=IN_DAY))
    nurse.post(pull_url(patient_a))
    connected.mode = "500"
    nurse.post(pull_url(patient_a))
    assert list(proposals()) == ["heart_rate_bpm"]


def test_a_second_pull_supersedes_the_waiting_proposals(nurse, connected, patient_a):
    connected.observations.append(observation("hr-1", "8867-4", 88, "/min", when=IN_DAY))
    nurse.post(pull_url(patient_a))
    nurse.post(pull_url(patient_a))
    assert Proposal.objects.filter(status=ProposalStatus.SUPERSEDED).count() == 1
    assert Proposal.objects.filter(status=ProposalStatus.PROPOSED).count() == 1


def test_bearer_token_comes_from_the_named_environment_variable(nurse, connected, patient_a, monkeypatch):
    endpoint = patient_a.site.fhir_endpoint
    endpoint.auth_kind, endpoint.secret_env = "bearer", "FHIR_SECRET_MILAN"
    endpoint.save()
    connected.bearer = "s3cret-token"
    connected.observations.append(observation("hr-1", "8867-4", 88, "/min", when=IN_DAY))
    monkeypatch.delenv("FHIR_SECRET_MILAN", raising=False)
    page = nurse.post(pull_url(patient_a), follow=True).content.decode()
    assert "no environment variable FHIR_SECRET_MILAN" in page and not Proposal.objects.exists()
    monkeypatch.setenv("FHIR_SECRET_MILAN", "s3cret-token")
    page = nurse.post(pull_url(patient_a), follow=True).content.decode()
    assert "1 value(s) proposed" in page and "s3cret-token" not in page


def test_client_credentials_exchange_the_secret_for_a_token(nurse, connected, patient_a, monkeypatch):
    endpoint = patient_a.site.fhir_endpoint
    endpoint.auth_kind, endpoint.secret_env = "client_credentials", "FHIR_SECRET_MILAN"
    endpoint.token_url, endpoint.client_id = connected.url.replace("/fhir", "/token"), "ecrf"
    endpoint.save()
    connected.bearer, connected.client_secret = "access-1", "client-secret"
    connected.observations.append(observation("hr-1", "8867-4", 88, "/min", when=IN_DAY))
    monkeypatch.setenv("FHIR_SECRET_MILAN", "client-secret")
    nurse.post(pull_url(patient_a))
    assert list(proposals()) == ["heart_rate_bpm"]
    assert connected.requests[0][0] == "token"


def test_no_button_and_no_pull_without_a_link(nurse, server, site_a, patient_a):
    from fhir_pull.models import FhirEndpoint

    FhirEndpoint.objects.create(site=site_a, base_url=server.url)
    page = nurse.get(f"/patients/{patient_a.pk}/day/{DAY}/").content.decode()
    assert 'data-testid="fhir-pull"' not in page
    response = nurse.post(pull_url(patient_a), follow=True)
    assert "Nothing to pull" in response.content.decode() and not Pull.objects.exists()


def test_the_day_page_shows_the_button_to_those_who_enter_data(client, users, connected, patient_a):
    url = f"/patients/{patient_a.pk}/day/{DAY}/"
    client.force_login(users["nurse"])
    assert 'data-testid="fhir-pull"' in client.get(url).content.decode()
    client.force_login(users["monitor"])
    assert 'data-testid="fhir-pull"' not in client.get(url).content.decode()


def test_another_sites_patient_is_a_404(client, users, connected, patient_a):
    client.force_login(users["nurse_b"])
    assert client.post(pull_url(patient_a)).status_code == 404
    assert client.get(review_url(patient_a)).status_code == 404
    assert not connected.requests


def test_a_monitor_cannot_pull_or_decide(client, users, connected, patient_a):
    connected.observations.append(observation("hr-1", "8867-4", 88, "/min", when=IN_DAY))
    client.force_login(users["nurse"])
    client.post(pull_url(patient_a))
    hr = proposals()["heart_rate_bpm"]
    client.force_login(users["monitor"])
    assert client.post(pull_url(patient_a)).status_code == 403
    assert client.post(review_url(patient_a), {f"p{hr.pk}-decision": "accept"}).status_code == 403
    assert not VitalSigns.objects.exists() and Pull.objects.count() == 1
