"""Personal API tokens (docs/api.md): a token acts exactly as its user, until it expires or is revoked.

The secret is never stored: a token is ``ecrf_<prefix>_<secret>``; the prefix finds the row, and the SHA-256 of the
secret is compared in constant time (api/tokens.py). Not study data, so no history: ``created_at`` and
``revoked_at`` say when, and a revoked token stays listed.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class ApiToken(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100, help_text=_("What the token is for, e.g. 'ward import script'."))
    prefix = models.CharField(max_length=16, unique=True)
    secret_sha256 = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(name=""), name="api_token_name_required"),
            models.CheckConstraint(condition=Q(expires_at__gt=F("created_at")), name="api_token_expires_after_created"),
            models.CheckConstraint(condition=Q(secret_sha256__regex=r"^[0-9a-f]{64}$"), name="api_token_hash_sha256"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix})"
