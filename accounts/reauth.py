"""Asking a logged-in user for their credentials again, at the moment of an act that needs them: an electronic
signature (its two components, 21 CFR Part 11 §11.200) and a new API token.

The password goes through ``django.contrib.auth.authenticate`` with the request, so that django-axes counts a wrong
one toward the lockout exactly as on the login page (and refuses it while the account is locked); the second
factor is a code of the user's authenticator app or a backup token, verified by django-otp (which slows repeated
wrong codes). Each check answers None when it passes, else the ValidationError to show next to its field.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import authenticate
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django_otp import devices_for_user, match_token

#: The code of a refusal because the account is locked (django-axes): the page then ends the session.
LOCKED_OUT = "locked_out"

#: The whole sentence asking for a code, for each act of the callers (``doing``): a sentence is translated whole.
ENTER_CODE_TO = {
    "sign": gettext_lazy("Enter a code of your authenticator app (or a backup token) to sign."),
    "create a token": gettext_lazy("Enter a code of your authenticator app (or a backup token) to create a token."),
}


def has_second_factor(user) -> bool:
    """Has the user a confirmed device (an authenticator app or backup tokens)?"""
    return any(True for _ in devices_for_user(user, confirmed=True))


def asks_second_factor(user) -> bool:
    """Is a code asked again: the user has a device, or the study requires two-factor authentication."""
    return settings.ECRF_REQUIRE_2FA or has_second_factor(user)


def password_error(request, user, password: str | None) -> ValidationError | None:
    """The user's own password, checked as the login page checks it (a wrong one counts toward the lockout)."""
    if not password:
        return ValidationError(_("Enter your password."), code="password_required")
    checked = authenticate(request=request, username=user.get_username(), password=password)
    if getattr(request, "axes_locked_out", False):  # set by django-axes: locked now, or already
        return ValidationError(
            _("Too many wrong passwords: the account is locked for an hour; ask a data manager to unlock it sooner."),
            code=LOCKED_OUT,
        )
    if checked is None or checked.pk != user.pk:
        return ValidationError(_("This password is not correct."), code="password_invalid")
    return None


def second_factor_error(user, code: str | None, *, doing: str, missing: str) -> ValidationError | None:
    """A valid code of the user's authenticator app or a backup token, when the user has a device; ``missing``:
    the refusal when the study requires a second factor the user has not set up. ``doing`` ends the sentence
    "Enter a code of your authenticator app (or a backup token) to ..." (a known ``doing``: its whole sentence of
    ENTER_CODE_TO, translated as one)."""
    if has_second_factor(user):
        code = (code or "").strip()
        if not code:
            sentence = ENTER_CODE_TO.get(str(doing))
            if sentence is None:
                sentence = _("Enter a code of your authenticator app (or a backup token) to %(doing)s.") % {
                    "doing": doing
                }
            return ValidationError(str(sentence), code="otp_required")
        if match_token(user, code) is None:
            return ValidationError(_("This code is not valid; try the current one."), code="otp_invalid")
        return None
    if settings.ECRF_REQUIRE_2FA:
        return ValidationError(missing, code="second_factor_missing")
    return None
