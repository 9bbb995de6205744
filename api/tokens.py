"""The format of a personal API token and its check, on plain values (no database).

A token reads ``ecrf_<prefix>_<secret>``: ``prefix`` (8 lowercase hex characters) is stored in clear to find the
token's row, ``secret`` (43 URL-safe characters, 256 bits) only as its SHA-256. A token that does not parse is
no token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

SCHEME = "ecrf"
_TOKEN = re.compile(rf"^{SCHEME}_([0-9a-f]{{8}})_([A-Za-z0-9_-]{{43}})$")


def sha256(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def generate() -> tuple[str, str, str]:
    """A new token: (the full token shown once, its prefix, the SHA-256 of its secret)."""
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    return f"{SCHEME}_{prefix}_{secret}", prefix, sha256(secret)


def parse(token: str) -> tuple[str, str] | None:
    """(prefix, secret) of a well-formed token, None otherwise."""
    match = _TOKEN.match(token or "")
    return (match[1], match[2]) if match else None


def matches(secret: str, stored_sha256: str) -> bool:
    """Whether ``secret`` is the one whose SHA-256 is stored (constant-time comparison)."""
    return hmac.compare_digest(sha256(secret), stored_sha256)
