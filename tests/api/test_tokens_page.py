"""The API tokens page: create (shown once), list, revoke; the second factor asked again on creation, and a clear
refusal when two-factor authentication is required but not set up."""

import pytest
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from api.models import ApiToken
from tests.api.conftest import Api
from tests.test_two_factor import device_code, wrong

URL = "/accounts/api-tokens/"


@pytest.fixture
def nurse(users, client):
    client.force_login(users["nurse"])
    return users["nurse"]


def create(client, **data):
    return client.post(URL, {"name": "ward script", "days": 30, "otp_token": "", **data})


def test_create_shows_the_token_once_and_it_works(client, nurse, study):
    response = create(client)
    assert response.status_code == 200
    secret = response.context["created"].secret
    assert secret.encode() in response.content
    token = ApiToken.objects.get()
    assert token.user == nurse and token.name == "ward script" and secret.split("_")[1] == token.prefix
    assert secret.encode() not in client.get(URL).content  # shown once: the list shows the prefix only
    assert Api(client, secret).get("/api/v1/studies/").status_code == 200


def test_expiry_is_required_and_at_most_365_days(client, nurse):
    for days in ("", "0", "366"):
        response = create(client, days=days)
        assert response.status_code == 200 and response.context["created"] is None
        assert "days" in response.context["form"].errors
    assert not ApiToken.objects.exists()


def test_revoke_stops_the_token(client, nurse, users):
    secret = create(client).context["created"].secret
    token = ApiToken.objects.get()
    other = users["investigator"]
    client.force_login(other)
    assert client.post(f"{URL}{token.pk}/revoke/").status_code == 404  # not another user's token
    client.force_login(nurse)
    assert client.post(f"{URL}{token.pk}/revoke/").status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert b"revoked" in client.get(URL).content
    response = Api(client, secret).get("/api/v1/studies/")
    assert response.status_code == 401 and response.json()["type"].endswith("#problem-token-revoked")


def test_with_a_device_creation_asks_the_code_again(client, nurse):
    device = TOTPDevice.objects.create(user=nurse, name="default", confirmed=True)
    assert "otp_token" in create(client).context["form"].errors
    assert "otp_token" in create(client, otp_token=wrong(device_code(device))).context["form"].errors
    assert not ApiToken.objects.exists()
    device.refresh_from_db()
    device.throttle_reset()
    response = create(client, otp_token=device_code(device))
    assert response.context["created"] is not None, response.context["form"].errors


def test_a_backup_token_verifies_too(client, nurse):
    TOTPDevice.objects.create(user=nurse, name="default", confirmed=True)
    backup = StaticDevice.objects.create(user=nurse, name="backup")
    backup.token_set.create(token="abcd2345")
    assert create(client, otp_token="abcd2345").context["created"] is not None
    assert create(client, otp_token="abcd2345").context["created"] is None  # used once


def test_required_second_factor_not_set_up_is_refused_with_a_message(client, nurse, settings):
    settings.ECRF_REQUIRE_2FA = True
    page = client.get(URL)
    assert page.status_code == 200  # open under the policy, to say why
    assert b"requires two-factor authentication" in page.content and b"token-form" not in page.content
    response = create(client)
    assert response.context["created"] is None
    assert "requires two-factor authentication" in str(response.context["form"].errors)
    assert not ApiToken.objects.exists()


def test_the_tokens_page_links_the_documentation(client, nurse):
    content = client.get(URL).content.decode()
    assert 'href="/api/v1/docs/"' in content and 'href="/api/v1/schema/"' in content
    docs = client.get("/api/v1/docs/").content.decode()
    assert "GET /api/v1/studies/{study_code}/patients/" in docs
    assert "PUT /api/v1/patients/{patient_pk}/records/{form}/{pk}/" in docs
    assert "If-Match" in docs and "problem-precondition-failed" in docs
    assert "http" not in docs.split("<body")[0].replace("http-equiv", "")  # no asset from elsewhere in the head


def test_without_a_second_factor_the_form_has_no_code_field_to_fill(client, nurse):
    page = client.get(URL)
    assert "otp_token" not in page.context["form"].fields
    assert b"Code of your authenticator app" not in page.content
    assert b"no code is asked" in page.content
