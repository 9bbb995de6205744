"""Roles per study and site (docs/architecture.md §7): what a user may do is asked here, never by scattered
checks in views.

A user holds roles through ``RoleAssignment`` rows (user, study, role, every site of the study or some of them).
Global groups remain only for system administrators: a superuser, or a member of the ``admin`` group, has the
ADMIN role in every study. Every page, selector, endpoint, task and command decides by (study, site, role) with
the functions below; the user's assignments are read once per request (one query) and kept on the user object.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import Http404
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

NURSE = "nurse"
INVESTIGATOR = "investigator"
MONITOR = "monitor"
DATA_MANAGER = "data_manager"
STATISTICIAN = "statistician"
ADMIN = "admin"

#: Role code -> the name users read (lazy: in the reader's language; str() it before storing or exporting it).
ROLES = {
    NURSE: gettext_lazy("Study nurse"),
    INVESTIGATOR: gettext_lazy("Investigator"),
    MONITOR: gettext_lazy("Monitor"),
    DATA_MANAGER: gettext_lazy("Data manager"),
    STATISTICIAN: gettext_lazy("Statistician"),
    ADMIN: gettext_lazy("Administrator"),
}
#: The roles given per study (the administrator is a system role: a group, or a superuser).
STUDY_ROLES = {role: label for role, label in ROLES.items() if role != ADMIN}
#: The system administrators' group (the only global group left).
ADMIN_GROUP = ADMIN
#: Roles whose work is the whole study (lock, import, releases, set-up, team): they hold every site of it.
STUDY_WIDE = frozenset({DATA_MANAGER, STATISTICIAN})

# Who sees patient-level data, at the sites of their assignment. Statisticians see locked releases only
# (clinical definitions §5).
PATIENT_READERS = frozenset({NURSE, INVESTIGATOR, MONITOR, DATA_MANAGER, ADMIN})
DATA_ENTRY = frozenset({NURSE, INVESTIGATOR, DATA_MANAGER})
# Screening and enrolment (investigators at their sites, data managers at every site of their study); the
# screening log is read by them and by monitors (read-only, source data verification), not by nurses
# (clinical definitions §1.3).
SCREENERS = frozenset({INVESTIGATOR, DATA_MANAGER})
SCREENING_READERS = frozenset({INVESTIGATOR, DATA_MANAGER, MONITOR, ADMIN})
# The dashboard of protocol signals (clinical definitions §3.3): the investigator's review, read by data managers
# and monitors too; not by nurses (they enter data) nor by the administrator (study set-up).
SIGNAL_READERS = frozenset({INVESTIGATOR, DATA_MANAGER, MONITOR})
ANALYSIS_READERS = frozenset({INVESTIGATOR, DATA_MANAGER, STATISTICIAN})
RELEASE_DOWNLOADERS = frozenset({DATA_MANAGER, STATISTICIAN})
# The archive of a release (its audit trail with names and reasons for change, who signed) and the archival exports
# made from it (ODM, PDF casebooks) are for the trial master file: the data managers only.
ARCHIVE_DOWNLOADERS = frozenset({DATA_MANAGER})
LOCKERS = frozenset({DATA_MANAGER})
IMPORTERS = frozenset({DATA_MANAGER})
# Study set-up (cohorts/setup.py) and the study team page (cohorts/team.py): the study's data managers, and the
# system administrators. A new study or a new site is the administrators' (may_create_studies).
# Queries on the data (the cleaning app): raised by monitors, data managers and investigators, answered by the
# site's staff (the data-entry roles), closed or reopened by monitors and data managers only; read by every patient
# reader of the site.
QUERY_RAISERS = frozenset({INVESTIGATOR, MONITOR, DATA_MANAGER})
QUERY_ANSWERERS = DATA_ENTRY
QUERY_CLOSERS = frozenset({MONITOR, DATA_MANAGER})
# Electronic signature of a casebook (the cleaning app): the investigators of the patient's site sign; the
# signatures list is read by them, the monitors and the data managers (21 CFR Part 11 §11.50).
SIGNERS = frozenset({INVESTIGATOR})
SIGNATURE_READERS = frozenset({INVESTIGATOR, MONITOR, DATA_MANAGER})
# Source data verification (the cleaning app): monitors verify records at the sites of their assignment (never
# edit them); the progress is read by them, the data managers and the investigators; the plan is part of the
# study set-up.
SDV_VERIFIERS = frozenset({MONITOR})
SDV_READERS = frozenset({MONITOR, DATA_MANAGER, INVESTIGATOR})
STUDY_SETUP = frozenset({DATA_MANAGER, ADMIN})
TEAM_MANAGERS = frozenset({DATA_MANAGER, ADMIN})


@dataclass(frozen=True)
class Grant:
    """One active assignment: a role in a study, at every site of it (site_ids None) or at some."""

    study_id: int
    study_code: str
    role: str
    site_ids: frozenset[int] | None

    def covers(self, site_id: int | None) -> bool:
        return site_id is None or self.site_ids is None or site_id in self.site_ids


def is_system_admin(user) -> bool:
    if not user.is_authenticated:
        return False
    _read(user)
    return user._ecrf_admin


def grants(user) -> tuple[Grant, ...]:
    """The user's active assignments (read with ``is_system_admin`` in one query, kept on the user object)."""
    if not user.is_authenticated:
        return ()
    _read(user)
    return user._ecrf_grants


def _read(user) -> None:
    """One query: the administrators' group, and the active assignments with their study codes and sites."""
    if getattr(user, "_ecrf_grants", None) is not None:
        return
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.db.models import Exists, FilteredRelation, OuterRef

    rows = (
        get_user_model()
        .objects.filter(pk=user.pk)
        .annotate(
            active=FilteredRelation("role_assignments", condition=Q(role_assignments__ended_at__isnull=True)),
            in_admin_group=Exists(Group.objects.filter(user=OuterRef("pk"), name=ADMIN_GROUP)),
        )
        .values_list(
            "in_admin_group",
            "active__pk",
            "active__study_id",
            "active__study__code",
            "active__role",
            "active__all_sites",
            "active__sites",
        )
    )
    in_admin_group = False
    by_pk: dict[int, tuple] = {}
    site_ids: dict[int, set[int]] = {}
    for admin, pk, study_id, code, role, all_sites, site_id in rows:
        in_admin_group = admin
        if pk is None:
            continue
        by_pk[pk] = (study_id, code, role, all_sites)
        if site_id is not None:
            site_ids.setdefault(pk, set()).add(site_id)
    user._ecrf_admin = user.is_superuser or in_admin_group
    user._ecrf_grants = tuple(
        Grant(study_id, code, role, None if all_sites else frozenset(site_ids.get(pk, ())))
        for pk, (study_id, code, role, all_sites) in sorted(by_pk.items())
    )


def forget(user) -> None:
    """Drop what was read of the user's rights (after their assignments changed in the same request)."""
    user._ecrf_grants = None


def _same_study(grant: Grant, study) -> bool:
    return grant.study_code == study if isinstance(study, str) else grant.study_id == study.pk


def _admin_holds(user, allowed: set[str]) -> bool:
    """A system administrator holds ``allowed`` everywhere when the set names the admin role."""
    return ADMIN in allowed and is_system_admin(user)


def user_roles(user) -> frozenset[str]:
    """The roles the user holds in any study (the navigation; a page without a study in its address)."""
    held = frozenset(g.role for g in grants(user))
    return held | {ADMIN} if is_system_admin(user) else held


def has_role(user, allowed: Iterable[str]) -> bool:
    """Does the user hold one of ``allowed`` in some study? The selectors then scope to where they hold it."""
    return bool(user_roles(user) & set(allowed))


def study_roles(user, study, site=None) -> frozenset[str]:
    """The user's roles in ``study`` (a Study or its code), at ``site`` (a Site) when given."""
    site_id = getattr(site, "pk", site)
    held = frozenset(g.role for g in grants(user) if _same_study(g, study) and g.covers(site_id))
    return held | {ADMIN} if is_system_admin(user) else held


def has_study_role(user, study, allowed: Iterable[str], site=None) -> bool:
    return bool(study_roles(user, study, site) & set(allowed))


def sites_held(user, study, allowed: Iterable[str]) -> frozenset[int] | None:
    """The ids of the study's sites where the user holds one of ``allowed``; None when it is every site."""
    allowed = set(allowed)
    if _admin_holds(user, allowed):
        return None
    held: set[int] = set()
    for grant in grants(user):
        if grant.role in allowed and _same_study(grant, study):
            if grant.site_ids is None:
                return None
            held |= grant.site_ids
    return frozenset(held)


def scope(user, allowed: Iterable[str], *, study: str = "study", site: str | None = "site") -> Q:
    """A filter for rows with a study (and a site) where the user holds one of ``allowed``: the one way every
    selector scopes its query. ``study``/``site`` name the rows' fields (e.g. "release__study")."""
    allowed = set(allowed)
    if _admin_holds(user, allowed):
        return Q()
    condition = Q(pk__in=[])
    for grant in grants(user):
        if grant.role not in allowed:
            continue
        here = Q(**{f"{study}_id": grant.study_id})
        if grant.site_ids is not None and site is not None:
            here &= Q(**{f"{site}_id__in": sorted(grant.site_ids)})
        condition |= here
    return condition


def study_scope(user, allowed: Iterable[str]) -> Q:
    """A filter of Study rows: the studies where the user holds one of ``allowed``."""
    allowed = set(allowed)
    if _admin_holds(user, allowed):
        return Q()
    return Q(pk__in=sorted({grant.study_id for grant in grants(user) if grant.role in allowed}))


def may_create_studies(user) -> bool:
    """A new study or a new site: the system administrators'."""
    return is_system_admin(user)


def may_set_up_studies(user, study=None) -> bool:
    """May ``user`` use the set-up pages: of ``study`` (a Study or code), or at all when None (a data manager
    of some study, to set up theirs)."""
    if study is None:
        return is_system_admin(user) or has_role(user, STUDY_SETUP)
    return has_study_role(user, study, STUDY_SETUP)


def _deny_anonymous(view, allowed: frozenset, check):
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        check(request.user, kwargs)
        return view(request, *args, **kwargs)

    wrapper.allowed_roles = allowed
    return wrapper


def study_setup_required(view):
    """View decorator of the set-up pages: anonymous -> login page; ``may_set_up_studies`` false -> 403."""

    def check(user, kwargs):
        if not may_set_up_studies(user, kwargs.get("study_code")):
            raise PermissionDenied(_("Your role does not give access to the set-up of this study."))

    return _deny_anonymous(view, STUDY_SETUP, check)


def admin_required(view):
    """View decorator of what only a system administrator does (a new study, a new site): else 403."""

    def check(user, kwargs):
        if not is_system_admin(user):
            raise PermissionDenied(_("Only a system administrator creates studies and sites."))

    return _deny_anonymous(view, frozenset({ADMIN}), check)


def role_required(roles: Iterable[str]):
    """View decorator: anonymous -> login page. With a study in the address (``study_code``): a study where
    the user holds no role is a 404 (never a hint that it exists), a role not in ``roles`` a 403. Without one
    (a patient's page, a job): 403 unless the user holds one of ``roles`` somewhere; the page's selector then
    scopes to the studies and sites where they hold it (another study's patient is a 404)."""
    allowed = frozenset(roles)

    def check(user, kwargs):
        code = kwargs.get("study_code")
        if code is None:
            if not has_role(user, allowed):
                raise PermissionDenied(_("Your role does not give access to this page."))
            return
        held = study_roles(user, code)
        if not held:
            raise Http404("No such study.")
        if not held & allowed:
            raise PermissionDenied(_("Your role in this study does not give access to this page."))

    def decorator(view):
        return _deny_anonymous(view, allowed, check)

    return decorator
