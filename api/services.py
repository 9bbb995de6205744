"""Writes of the api app: creating and revoking personal API tokens (keyword-only, atomic).

Creating a token asks for the second factor again when the user has one (a code of the authenticator app or a
backup token, verified by django-otp), and is refused when two-factor authentication is required
(settings.ECRF_REQUIRE_2FA) but the user has not set it up: a token must not be weaker than the login it replaces.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from accounts.reauth import second_factor_error
from api import tokens
from api.models import ApiToken

MAX_DAYS = 365
DEFAULT_DAYS = 90
NO_SECOND_FACTOR = gettext_lazy(
    "This study requires two-factor authentication: set up an authenticator app (Two-factor authentication, top "
    "right) before creating an API token."
)


@dataclass(frozen=True)
class NewToken:
    token: ApiToken
    secret: str  # the full token, shown once and never stored


def token_create(*, user, name: str, days: int, otp_token: str | None = None) -> NewToken:
    """A new token of ``user`` valid ``days`` days (1 to 365); ValidationError naming the field otherwise."""
    name = (name or "").strip()
    errors = {}
    if not name:
        errors["name"] = ValidationError(_("Name the token (what it is for)."), code="required")
    if not isinstance(days, int) or not 1 <= days <= MAX_DAYS:
        errors["days"] = ValidationError(
            _("A token is valid for 1 to %(max)s days.") % {"max": MAX_DAYS}, code="expiry_range"
        )
    if error := second_factor_error(user, otp_token, doing="create a token", missing=NO_SECOND_FACTOR):
        errors["otp_token"] = error
    if errors:
        raise ValidationError(errors)
    full, prefix, digest = tokens.generate()
    now = timezone.now()
    with transaction.atomic():
        token = ApiToken.objects.create(
            user=user,
            name=name[:100],
            prefix=prefix,
            secret_sha256=digest,
            expires_at=now + datetime.timedelta(days=days),
        )
    return NewToken(token=token, secret=full)


def token_revoke(*, user, pk) -> ApiToken:
    """Revoke one of the user's own tokens (another user's token: DoesNotExist). Revoking twice changes nothing."""
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(user=user, pk=pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
    return token
