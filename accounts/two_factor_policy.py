"""The two-factor policy (settings.ECRF_REQUIRE_2FA): when it is on, a logged-in user reaches study pages only in a
session verified with a second factor (TOTP app or backup token, django-otp).

The rule is `missing_second_factor`, on plain values; the middleware applies it to every page except logging in
and out and the two-factor pages themselves (static files are served before it, by whitenoise).
"""

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect
from two_factor.utils import default_device

SETUP = "setup"  # no device yet: set one up
VERIFY = "verify"  # a device, but this session was not verified with it (e.g. set up in another session): log in again

# Reachable without a second factor: the login and logout pages, the two-factor pages (namespace two_factor), and
# the API tokens page, which says itself that a token needs a second factor (and refuses to create one without).
OPEN_URL_NAMES = frozenset({"login", "logout", "api_tokens", "api_token_revoke"})
OPEN_NAMESPACE = "two_factor"


def missing_second_factor(*, required: bool, verified: bool, has_device: bool) -> str | None:
    """What a logged-in user must still do before a study page: nothing (None), SETUP or VERIFY."""
    if not required or verified:
        return None
    return VERIFY if has_device else SETUP


class RequireTwoFactorMiddleware:
    """Sends a logged-in user without a verified second factor to the setup page (or back to the login page when
    the user has a device), while settings.ECRF_REQUIRE_2FA is on. Read per request, so tests can turn it on."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_view(self, request, view_func, view_args, view_kwargs):
        if not settings.ECRF_REQUIRE_2FA or not request.user.is_authenticated:
            return None
        match = request.resolver_match
        if match.namespace == OPEN_NAMESPACE or match.url_name in OPEN_URL_NAMES:
            return None
        user = request.user
        verified = user.is_verified()
        step = missing_second_factor(
            required=True, verified=verified, has_device=not verified and default_device(user) is not None
        )
        if step is None:
            return None
        if step == SETUP:
            target = reverse("two_factor:setup")
        else:
            target = redirect_to_login(request.get_full_path())["Location"]
        # An htmx request would swap the setup page into a fragment: make the browser navigate instead.
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
