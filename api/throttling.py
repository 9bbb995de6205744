"""Throttling per API token (DRF's SimpleRateThrottle). The counts live in Django's cache: in production every
web process must share one cache (CACHE_URL, e.g. Redis), or each process counts for itself (docs/api.md)."""

from django.conf import settings
from rest_framework.throttling import SimpleRateThrottle


class TokenRateThrottle(SimpleRateThrottle):
    scope = "api_token"

    def get_rate(self) -> str:
        return settings.API_THROTTLE_RATE  # read per request, so a test can change it

    def get_cache_key(self, request, view):
        token = getattr(request, "auth", None)
        ident = f"token-{token.pk}" if token is not None and hasattr(token, "prefix") else self.get_ident(request)
        return self.cache_format % {"scope": self.scope, "ident": ident}
