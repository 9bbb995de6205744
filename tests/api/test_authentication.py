"""Bearer tokens: valid, expired, revoked, wrong secret, malformed, no header; problem details on 401; the token
format and its storage (never the secret)."""

import pytest

from api import tokens
from api.models import ApiToken
from tests.api.conftest import Api, make_token

URL = "/api/v1/studies/"


@pytest.fixture
def nurse(users):
    return users["nurse"]


def test_valid_token_acts_as_its_user_and_records_last_use(client, nurse, study):
    token = make_token(nurse)
    response = Api(client, token).get(URL)
    assert response.status_code == 200
    assert [s["code"] for s in response.json()["results"]] == [study.code]
    assert ApiToken.objects.get().last_used_at is not None


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (lambda u: make_token(u, days=-1), "token-expired"),
        (lambda u: make_token(u, revoked=True), "token-revoked"),
        (lambda u: make_token(u)[:-4] + "AAAA", "token-invalid"),  # the right prefix, a wrong secret
        (lambda u: "ecrf_00000000_" + "A" * 43, "token-invalid"),  # no such prefix
        (lambda u: "not-a-token", "token-invalid"),
    ],
    ids=["expired", "revoked", "wrong secret", "unknown prefix", "malformed"],
)
def test_refused_tokens_are_401_problems(client, nurse, token, problem):
    response = Api(client, token(nurse)).get(URL)
    assert response.status_code == 401
    assert response["Content-Type"] == "application/problem+json"
    assert response["WWW-Authenticate"] == 'Bearer realm="api"'
    body = response.json()
    assert body["type"].endswith(f"#problem-{problem}")
    assert body["status"] == 401 and body["title"] == "Unauthorized" and body["detail"]


def test_no_header_is_401(client, nurse):
    response = Api(client, None).get(URL)
    assert response.status_code == 401
    assert response.json()["type"].endswith("#problem-not-authenticated")


def test_inactive_user_is_401(client, nurse):
    token = make_token(nurse)
    nurse.is_active = False
    nurse.save()
    assert Api(client, token).get(URL).status_code == 401


def test_a_session_does_not_authenticate_the_data_endpoints(client, nurse):
    client.force_login(nurse)
    assert client.get(URL).status_code == 401


def test_only_the_hash_of_the_secret_is_stored(nurse):
    full, prefix, digest = tokens.generate()
    prefix_parsed, secret = tokens.parse(full)
    assert prefix_parsed == prefix and full == f"ecrf_{prefix}_{secret}"
    assert tokens.sha256(secret) == digest and secret not in digest
    assert tokens.matches(secret, digest) and not tokens.matches(secret + "x", digest)
    token = make_token(nurse)
    stored = ApiToken.objects.get()
    assert token.split("_", 2)[2] not in {stored.prefix, stored.secret_sha256, stored.name}


def test_throttled_per_token(client, nurse, settings):
    settings.API_THROTTLE_RATE = "2/minute"
    first, second = Api(client, make_token(nurse)), Api(client, make_token(nurse))
    assert [first.get(URL).status_code for _ in range(3)] == [200, 200, 429]
    response = first.get(URL)
    assert response["Content-Type"] == "application/problem+json" and "Retry-After" in response
    assert response.json()["type"].endswith("#problem-throttled")
    assert second.get(URL).status_code == 200  # another token has its own count
