"""Logging in: lockout after repeated failures, strong passwords, session cookie settings.

The login page is django-two-factor-auth's wizard: the password step posts `auth-username` and `auth-password`
with the wizard's current step (tests/test_two_factor.py has the code step).
"""

import pytest
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError


def password_step(username: str, password: str) -> dict:
    return {"login_view-current_step": "auth", "auth-username": username, "auth-password": password}


def test_lockout_after_repeated_failures(client, users):
    response = client.post("/accounts/login/", password_step("nurse", "wrong"))
    assert b"Please enter a correct username and password" in response.content
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", password_step("nurse", "wrong"))
    response = client.post("/accounts/login/", password_step("nurse", "a-long-test-password"))
    assert response.status_code == 429
    assert b"locked" in response.content
    assert "_auth_user_id" not in client.session


def test_a_failed_login_keeps_no_password_in_clear(client, users):
    from axes.models import AccessAttempt

    client.post("/accounts/login/", password_step("nurse", "my-secret-typo"))
    attempt = AccessAttempt.objects.get(username="nurse")
    assert "my-secret-typo" not in attempt.post_data and "auth-password=********" in attempt.post_data


def test_login_with_right_password_reaches_home(client, users):
    response = client.post("/accounts/login/", password_step("nurse", "a-long-test-password"), follow=True)
    assert response.redirect_chain[-1][0] == "/"
    assert b"Study nurse" in response.content


@pytest.mark.parametrize("password", ["short", "password1234", "123456789012"])
def test_weak_passwords_are_refused(password):
    with pytest.raises(ValidationError):
        validate_password(password)


def test_session_cookie_is_http_only_and_expires():
    assert settings.SESSION_COOKIE_HTTPONLY
    assert settings.SESSION_EXPIRE_AT_BROWSER_CLOSE
