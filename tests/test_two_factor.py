"""Two-factor authentication: setting up a TOTP device, logging in with its code or a backup token, and the
ECRF_REQUIRE_2FA policy (off in the test settings; these tests turn it on).

Codes are computed from the device's key with django_otp.oath.totp, as the authenticator app would.
"""

import base64

import pytest
from django.conf import settings as django_settings
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.two_factor_policy import SETUP, VERIFY, missing_second_factor
from tests.factories import UserFactory
from tests.test_access import PAGES

LOGIN = "/accounts/login/"
SETUP_URL = "/accounts/two-factor/setup/"
PASSWORD = "a-long-test-password"  # tests/factories.py UserFactory


def code(key: bytes, *, step: int = 30, t0: int = 0, digits: int = 6, drift: int = 0) -> str:
    return f"{totp(key, step=step, t0=t0, digits=digits, drift=drift):0{digits}d}"


def device_code(device: TOTPDevice) -> str:
    return code(device.bin_key, step=device.step, t0=device.t0, digits=device.digits, drift=device.drift)


def wrong(token: str) -> str:
    return f"{(int(token) + 1) % 1_000_000:06d}"


def password_step(client, username: str, password: str = PASSWORD, url: str = LOGIN, **extra):
    data = {"login_view-current_step": "auth", "auth-username": username, "auth-password": password}
    return client.post(url, data, **extra)


def token_step(client, token: str, step: str = "token", url: str = LOGIN, **extra):
    return client.post(url, {"login_view-current_step": step, f"{step}-otp_token": token}, **extra)


@pytest.fixture
def nurse(users):
    return users["nurse"]


@pytest.fixture
def nurse_device(nurse):
    """The nurse's authenticator app, as the setup page leaves it (two_factor's default device is named so)."""
    return TOTPDevice.objects.create(user=nurse, name="default", confirmed=True)


@pytest.fixture
def nurse_backup_tokens(nurse):
    device = StaticDevice.objects.create(user=nurse, name="backup")
    for token in ("abcd2345", "efgh6789"):
        device.token_set.create(token=token)
    return device


def logged_in(client) -> bool:
    return "_auth_user_id" in client.session


@pytest.mark.parametrize(
    ("required", "verified", "has_device", "expected"),
    [
        (False, False, False, None),
        (False, False, True, None),
        (True, True, True, None),
        (True, False, False, SETUP),
        (True, False, True, VERIFY),
    ],
)
def test_missing_second_factor(required, verified, has_device, expected):
    assert missing_second_factor(required=required, verified=verified, has_device=has_device) == expected


def test_policy_is_off_in_test_settings_and_demo():
    assert django_settings.ECRF_REQUIRE_2FA is False


# --- Logging in without a device ---


def test_without_device_and_policy_off_password_logs_in(client, nurse):
    response = password_step(client, "nurse", follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"Study nurse" in response.content
    assert b"Two-factor authentication" in response.content  # the navbar link to the setup


def test_navbar_links_to_two_factor_page(client, nurse):
    client.force_login(nurse)
    response = client.get("/")
    assert f'href="{reverse("two_factor:profile")}"'.encode() in response.content
    page = client.get(reverse("two_factor:profile"))
    assert page.status_code == 200
    assert b"Off: your account is protected by your password only." in page.content


# --- The policy ---


GUARDED = [p for p in PAGES if not p.open_without_second_factor]


@pytest.mark.parametrize("page", GUARDED, ids=[p.name for p in GUARDED])
def test_policy_sends_user_without_device_to_setup_from_every_page(
    client, settings, page, study, users, patient_a, patient_b
):
    settings.ECRF_REQUIRE_2FA = True
    client.force_login(users["data_manager"])
    fixtures = {"study": study, "users": users, "patient_a": patient_a, "patient_b": patient_b}
    response = getattr(client, page.method)(page.url(fixtures))
    assert response.status_code == 302
    assert response["Location"] == SETUP_URL


def test_policy_setup_page_says_why_and_logout_stays_reachable(client, settings, nurse):
    settings.ECRF_REQUIRE_2FA = True
    client.force_login(nurse)
    response = client.get("/", follow=True)
    assert response.redirect_chain == [(SETUP_URL, 302)]
    assert b"This study requires two-factor authentication" in response.content
    assert client.get(reverse("two_factor:profile")).status_code == 200
    assert client.get(LOGIN).status_code == 200
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert not logged_in(client)


def test_policy_off_setup_page_has_no_policy_message(client, nurse):
    client.force_login(nurse)
    response = client.get(SETUP_URL)
    assert response.status_code == 200
    assert b"This study requires two-factor authentication" not in response.content


def test_policy_htmx_request_navigates_the_browser_to_setup(client, settings, nurse, study):
    settings.ECRF_REQUIRE_2FA = True
    client.force_login(nurse)
    response = client.get(f"/studies/{study.code}/patients/", headers={"HX-Request": "true"})
    assert response["HX-Redirect"] == SETUP_URL


def test_policy_device_without_verified_session_goes_back_to_login(client, settings, nurse, nurse_device, study):
    """A device set up in another session: this one was not verified with it, so log in again with the code."""
    settings.ECRF_REQUIRE_2FA = True
    client.force_login(nurse)
    url = f"/studies/{study.code}/patients/"
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"] == f"{LOGIN}?next={url}"
    password_step(client, "nurse", url=response["Location"])
    response = token_step(client, device_code(nurse_device), url=response["Location"])
    assert response["Location"] == url
    assert client.get(url).status_code == 200


def test_policy_anonymous_still_goes_to_login(client, settings, users):
    settings.ECRF_REQUIRE_2FA = True
    response = client.get("/")
    assert response["Location"] == f"{LOGIN}?next=/"


# --- Setting up a device ---


def start_setup(client):
    """The welcome step, then the QR code step; returns the secret key the page shows (base32) as bytes."""
    assert client.get(SETUP_URL).status_code == 200
    response = client.post(SETUP_URL, {"setup_view-current_step": "welcome"})
    assert response.status_code == 200
    secret = response.context["secret_key"]
    assert f'data-testid="totp-secret">{secret}<'.encode() in response.content
    assert client.get(reverse("two_factor:qr"))["Content-Type"].startswith("image/svg+xml")
    return base64.b32decode(secret)


def test_the_qr_code_names_the_account_after_the_ecrf_not_the_host(client, nurse, monkeypatch):
    from two_factor.views import core

    urls = []
    monkeypatch.setattr(core, "get_otpauth_url", lambda *args, **kwargs: urls.append(kwargs) or "otpauth://totp/x")
    client.force_login(nurse)
    start_setup(client)
    assert urls[-1]["issuer"] == "Study eCRF" and urls[-1]["accountname"] == nurse.username


def test_setup_with_valid_code_creates_device_and_opens_study_pages(client, settings, nurse):
    settings.ECRF_REQUIRE_2FA = True
    client.force_login(nurse)
    key = start_setup(client)
    response = client.post(SETUP_URL, {"setup_view-current_step": "generator", "generator-token": code(key)})
    assert response.status_code == 302
    assert response["Location"] == reverse("two_factor:setup_complete")
    device = TOTPDevice.objects.get(user=nurse)
    assert device.confirmed and device.name == "default" and device.bin_key == key
    complete = client.get(response["Location"])
    assert b"Two-factor authentication is set up" in complete.content
    # The session that set it up is verified: study pages open, with the policy on.
    assert client.get("/").status_code == 200


def test_setup_with_invalid_code_is_refused_with_message(client, nurse):
    client.force_login(nurse)
    key = start_setup(client)
    response = client.post(SETUP_URL, {"setup_view-current_step": "generator", "generator-token": wrong(code(key))})
    assert response.status_code == 200
    assert b"Entered token is not valid." in response.content
    assert not TOTPDevice.objects.filter(user=nurse).exists()


# --- Logging in with a device ---


def test_login_with_device_asks_for_code_and_right_code_logs_in(client, settings, nurse_device):
    settings.ECRF_REQUIRE_2FA = True
    response = password_step(client, "nurse")
    assert response.status_code == 200
    assert b"Enter the 6-digit code shown by the authenticator app" in response.content
    assert not logged_in(client)
    response = token_step(client, device_code(nurse_device), follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert logged_in(client)
    assert b"Study nurse" in response.content  # a study page, with the policy on: the session is verified


def test_login_with_device_refuses_wrong_code_then_throttles(client, nurse_device):
    password_step(client, "nurse")
    response = token_step(client, wrong(device_code(nurse_device)))
    assert response.status_code == 200
    assert b"Invalid token. Please make sure you have entered it correctly." in response.content
    assert not logged_in(client)
    # django-otp's throttling: right after a wrong code, even the right one is refused for a while.
    response = token_step(client, device_code(nurse_device))
    assert b"Verification temporarily disabled because of 1 failed attempt" in response.content
    assert not logged_in(client)


def test_backup_token_logs_in_once_only(client, nurse_device, nurse_backup_tokens):
    password_step(client, "nurse")
    response = client.post(LOGIN, {"wizard_goto_step": "backup"})
    assert b"Enter one of your backup tokens" in response.content
    response = token_step(client, "abcd2345", step="backup")
    assert response.status_code == 302
    assert logged_in(client)
    client.post(reverse("logout"))

    password_step(client, "nurse")
    client.post(LOGIN, {"wizard_goto_step": "backup"})
    response = token_step(client, "abcd2345", step="backup")
    assert response.status_code == 200
    assert b"Invalid token" in response.content
    assert not logged_in(client)
    assert list(nurse_backup_tokens.token_set.values_list("token", flat=True)) == ["efgh6789"]


def test_lockout_counts_password_failures_of_user_with_device(client, nurse_device):
    for _ in range(django_settings.AXES_FAILURE_LIMIT):
        password_step(client, "nurse", "wrong")
    response = password_step(client, "nurse")
    assert response.status_code == 429
    assert b"locked" in response.content
    assert not logged_in(client)


# --- Managing the device ---


def login_with_code(client, device: TOTPDevice) -> None:
    password_step(client, device.user.username)
    assert token_step(client, device_code(device)).status_code == 302


def test_backup_tokens_are_generated_and_regenerated(client, nurse_device):
    login_with_code(client, nurse_device)
    url = reverse("two_factor:backup_tokens")
    assert b"You have no backup tokens yet." in client.get(url).content
    client.post(url)
    first = set(StaticDevice.objects.get(user=nurse_device.user).token_set.values_list("token", flat=True))
    assert len(first) == 10
    assert all(token.encode() in client.get(url).content for token in first)
    client.post(url)
    second = set(StaticDevice.objects.get(user=nurse_device.user).token_set.values_list("token", flat=True))
    assert len(second) == 10
    assert not first & second


def test_disable_removes_devices_and_policy_asks_for_setup_again(client, settings, nurse_device, nurse_backup_tokens):
    settings.ECRF_REQUIRE_2FA = True
    login_with_code(client, nurse_device)
    profile = client.get(reverse("two_factor:profile"))
    assert b"On: after your password" in profile.content
    assert b"2 unused backup tokens" in profile.content
    response = client.post(reverse("two_factor:disable"), {"understand": "on"})
    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=nurse_device.user).exists()
    assert not StaticDevice.objects.filter(user=nurse_device.user).exists()
    assert client.get("/")["Location"] == SETUP_URL


def test_other_user_is_not_asked_for_the_nurse_code(client, nurse_device):
    UserFactory(username="someone")
    response = password_step(client, "someone")
    assert response.status_code == 302
    assert logged_in(client)
