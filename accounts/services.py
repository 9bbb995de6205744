"""Changing a user's preferences."""

from accounts.models import UserPreference


def language_set(*, user, language: str) -> UserPreference:
    """Store the user's language ("" follows the browser's Accept-Language)."""
    preference, _created = UserPreference.objects.update_or_create(user=user, defaults={"language": language})
    return preference
