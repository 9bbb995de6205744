"""Fixtures of the API tests: a token per user, a client that sends it, and a clean throttle cache per test."""

import datetime
import json

import pytest
from django.core.cache import cache
from django.utils import timezone

from api import tokens
from api.models import ApiToken


@pytest.fixture(autouse=True)
def clean_cache():
    """Throttle counts live in the cache, keyed by token id: ids repeat between tests."""
    cache.clear()
    yield
    cache.clear()


def make_token(user, *, days: float = 30, revoked: bool = False, name: str = "test") -> str:
    full, prefix, digest = tokens.generate()
    now = timezone.now()
    token = ApiToken.objects.create(
        user=user, name=name, prefix=prefix, secret_sha256=digest, expires_at=now + datetime.timedelta(days=1)
    )
    # created_at is set on save: move the expiry afterwards (an expired token: days < 0)
    expires = now + datetime.timedelta(days=days)
    ApiToken.objects.filter(pk=token.pk).update(
        created_at=min(now, expires - datetime.timedelta(days=30)),
        expires_at=expires,
        revoked_at=now if revoked else None,
    )
    return full


class Api:
    """The test client speaking JSON with a bearer token."""

    def __init__(self, client, token: str | None):
        self.client, self.token = client, token

    def _headers(self, headers):
        out = dict(headers or {})
        if self.token is not None:
            out.setdefault("Authorization", f"Bearer {self.token}")
        return out

    def get(self, url, headers=None, **query):
        return self.client.get(url, query or None, headers=self._headers(headers))

    def post(self, url, body=None, headers=None):
        return self.client.post(
            url, json.dumps(body or {}), content_type="application/json", headers=self._headers(headers)
        )

    def put(self, url, body=None, headers=None):
        return self.client.put(
            url, json.dumps(body or {}), content_type="application/json", headers=self._headers(headers)
        )


@pytest.fixture
def api_as(client):
    """api_as(user) -> an Api client with a fresh token of that user."""

    def build(user):
        return Api(client, make_token(user))

    return build
