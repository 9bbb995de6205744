"""Reading a user's preferences."""

from accounts.models import UserPreference

# The language of the logged-in user, read at login (accounts/signals.py) and kept in the session, so that pages
# cost no query for it.
SESSION_KEY = "ecrf_language"


def user_language(*, user) -> str:
    """The language the user chose, or "" (follow the browser) for anonymous users and users who chose none."""
    if not user.is_authenticated:
        return ""
    return UserPreference.objects.filter(user=user).values_list("language", flat=True).first() or ""


def session_language(request) -> str:
    """The language of the session's user as read at login ("": the browser's)."""
    if not request.user.is_authenticated:
        return ""
    return request.session.get(SESSION_KEY, "")
