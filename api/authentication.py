"""``Authorization: Bearer <token>`` (docs/api.md): the request acts as the token's user, with the user's roles and
sites. A missing header, a malformed, unknown, wrong, expired or revoked token, or an inactive user: 401."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from api import tokens
from api.models import ApiToken

# last_used_at is written at most once a minute per token, not on every request.
LAST_USED_RESOLUTION = datetime.timedelta(minutes=1)
INVALID = gettext_lazy("The API token is not valid (check that it was copied whole).")


class BearerTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _space, credentials = header.partition(" ")
        if scheme.lower() != self.keyword.lower():
            return None
        parsed = tokens.parse(credentials.strip())
        if parsed is None:
            raise exceptions.AuthenticationFailed(INVALID, code="token_invalid")
        prefix, secret = parsed
        token = ApiToken.objects.select_related("user").filter(prefix=prefix).first()
        if token is None or not tokens.matches(secret, token.secret_sha256):
            raise exceptions.AuthenticationFailed(INVALID, code="token_invalid")
        now = timezone.now()
        if token.revoked_at is not None:
            raise exceptions.AuthenticationFailed(_("This API token was revoked."), code="token_revoked")
        if token.expires_at <= now:
            raise exceptions.AuthenticationFailed(
                _("This API token has expired; create a new one on the API tokens page."), code="token_expired"
            )
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("The account of this API token is disabled."), code="user_inactive")
        if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
            # Not audited data (docs/architecture.md §3): a plain update, no history row.
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """The security scheme of the OpenAPI document (drf-spectacular)."""

    target_class = "api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "ecrf_<prefix>_<secret>"}
