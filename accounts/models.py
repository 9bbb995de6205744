"""A user's own settings: the language the pages are shown in (docs/architecture.md, "Languages")."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class UserPreference(models.Model):
    """One row per user who has chosen something; a user without one follows the browser's Accept-Language. Read
    at login (accounts/signals.py): a change made in the admin applies from the user's next login."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="preference")
    language = models.CharField(
        _("language"),
        max_length=10,
        choices=settings.LANGUAGES,
        blank=True,
        help_text=_("The language of the pages. Empty: the browser's language."),
    )

    class Meta:
        verbose_name = _("user preference")
        verbose_name_plural = _("user preferences")

    def __str__(self):
        return f"{self.user}: {self.language or 'browser'}"
