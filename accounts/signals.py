"""At login, the session learns the user's language (accounts.middleware applies it to every page)."""

from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from accounts.selectors import SESSION_KEY, user_language


@receiver(user_logged_in, dispatch_uid="accounts.remember_language")
def remember_language(sender, request, user, **kwargs):
    if request is not None and hasattr(request, "session"):
        request.session[SESSION_KEY] = user_language(user=user)
