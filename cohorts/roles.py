"""Roles of docs/architecture.md as Django groups, and the questions pages ask about them.

A role is a group; what a role may do is decided here and in the `rules` predicates of cohorts/rules.py,
never by scattered group-name checks in views.
"""

from collections.abc import Iterable
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied

NURSE = "nurse"
INVESTIGATOR = "investigator"
MONITOR = "monitor"
DATA_MANAGER = "data_manager"
STATISTICIAN = "statistician"
ADMIN = "admin"

ROLES = {
    NURSE: "Study nurse",
    INVESTIGATOR: "Investigator",
    MONITOR: "Monitor",
    DATA_MANAGER: "Data manager",
    STATISTICIAN: "Statistician",
    ADMIN: "Administrator",
}

# Who sees patient-level data, and at which sites. Statisticians see locked releases only (clinical definitions §5).
PATIENT_READERS = frozenset({NURSE, INVESTIGATOR, MONITOR, DATA_MANAGER, ADMIN})
DATA_ENTRY = frozenset({NURSE, INVESTIGATOR, DATA_MANAGER})
# Screening and enrolment (investigators at their sites, data managers everywhere); the screening log is read
# by them and by monitors (read-only, source data verification), not by nurses (clinical definitions §1.3).
SCREENERS = frozenset({INVESTIGATOR, DATA_MANAGER})
SCREENING_READERS = frozenset({INVESTIGATOR, DATA_MANAGER, MONITOR, ADMIN})
# The dashboard of protocol signals (clinical definitions §3.3): the investigator's review, read by data managers
# and monitors too; not by nurses (they enter data) nor by the administrator (study set-up).
SIGNAL_READERS = frozenset({INVESTIGATOR, DATA_MANAGER, MONITOR})
ALL_SITES = frozenset({DATA_MANAGER, ADMIN})
ANALYSIS_READERS = frozenset({INVESTIGATOR, DATA_MANAGER, STATISTICIAN})
RELEASE_DOWNLOADERS = frozenset({DATA_MANAGER, STATISTICIAN})
LOCKERS = frozenset({DATA_MANAGER})
IMPORTERS = frozenset({DATA_MANAGER})
# Study set-up (cohorts/setup.py: studies, arms and regimens, sites, study settings): data managers, and
# administrators (a superuser has the admin role). Global today; ``may_set_up_studies`` is the one question the
# set-up pages and the navigation ask, so per-study roles will replace its body and nothing else.
STUDY_SETUP = frozenset({DATA_MANAGER, ADMIN})


def user_roles(user) -> frozenset[str]:
    """The user's roles, cached on the user object for the request."""
    if not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_ecrf_roles", None)
    if cached is None:
        cached = frozenset(user.groups.values_list("name", flat=True)) & ROLES.keys()
        if user.is_superuser:
            cached |= {ADMIN}
        user._ecrf_roles = cached
    return cached


def has_role(user, roles: Iterable[str]) -> bool:
    return bool(user_roles(user) & set(roles))


def may_set_up_studies(user, study_code: str | None = None) -> bool:
    """May ``user`` use the study set-up pages (of the study ``study_code``, or a new study when None)?"""
    return has_role(user, STUDY_SETUP)


def study_setup_required(view):
    """View decorator of the set-up pages: anonymous -> login page; ``may_set_up_studies`` false -> 403."""

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if not may_set_up_studies(request.user, kwargs.get("study_code")):
            raise PermissionDenied("Your role does not give access to the study set-up.")
        return view(request, *args, **kwargs)

    wrapper.allowed_roles = STUDY_SETUP
    return wrapper


def role_required(roles: Iterable[str]):
    """View decorator: anonymous -> login page; logged in without one of `roles` -> 403."""
    allowed = frozenset(roles)

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            if not has_role(request.user, allowed):
                raise PermissionDenied("Your role does not give access to this page.")
            return view(request, *args, **kwargs)

        wrapper.allowed_roles = allowed
        return wrapper

    return decorator
