"""The study team: who holds which role in a study, at which of its sites, and the account help a data manager
gives a member (unlock after too many wrong passwords, reset a lost second factor).

Rules (docs/data-manager.md "The study team"):
- only the study's data managers and the system administrators change the team (roles.TEAM_MANAGERS);
- every change has a reason, kept in the audit trail (the assignment's history, or an AccountAction row);
- nobody changes their own assignments or their own account here: no one raises their own rights;
- the study keeps at least one data manager;
- a data manager's and a statistician's work is the whole study: their assignment holds every site;
  other roles hold every site or the sites named, which must take part in the study.
An assignment is ended, never deleted.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Min
from django.utils import timezone
from django.utils.translation import gettext as _

from cohorts import roles
from cohorts.audit import ensure_unchanged_since, last_changes, reason_too_long
from cohorts.models import AccountAction, RoleAssignment, Site, Study


def _check_reason(reason: str | None) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": ValidationError(_("Give a reason: team changes are audited."), code="required")}
        )
    if (too_long := reason_too_long(reason)) is not None:
        raise ValidationError({"reason": too_long})
    return reason


def _check_manager(study: Study, acting) -> None:
    if not roles.has_study_role(acting, study, roles.TEAM_MANAGERS):
        raise PermissionDenied(_("Only the study's data managers change its team."))


def _check_not_self(acting, user) -> None:
    if acting.pk == user.pk:
        raise ValidationError(
            _("You cannot change your own rights or account here: ask another data manager of the study."),
            code="own_rights",
        )


def find_user(identifier: str):
    """The user with this user name, or this e-mail address (when one user has it)."""
    identifier = (identifier or "").strip()
    users = get_user_model().objects.filter(is_active=True)
    match = users.filter(username__iexact=identifier).first()
    if match is None and "@" in identifier:
        by_email = list(users.filter(email__iexact=identifier)[:2])
        match = by_email[0] if len(by_email) == 1 else None
    if match is None:
        raise ValidationError(
            {
                "user": ValidationError(
                    _("No active account has the user name or e-mail “%(identifier)s”.") % {"identifier": identifier},
                    code="unknown",
                )
            }
        )
    return match


def _sites(study: Study, role: str, all_sites: bool, sites: Iterable[Site]) -> tuple[bool, list[Site]]:
    if role not in roles.STUDY_ROLES:
        raise ValidationError(
            {"role": ValidationError(_("“%(role)s” is not a role of a study.") % {"role": role}, code="invalid")}
        )
    if role in roles.STUDY_WIDE:
        return True, []
    sites = list(sites)
    outside = [site.code for site in sites if not site.studies.filter(pk=study.pk).exists()]
    if outside:
        raise ValidationError(
            {
                "sites": ValidationError(
                    _("Site %(sites)s does not take part in the study %(study)s.")
                    % {"sites": ", ".join(outside), "study": study.code},
                    code="site_outside",
                )
            }
        )
    if not all_sites and not sites:
        raise ValidationError({"sites": ValidationError(_("Choose the sites, or every site."), code="required")})
    return all_sites, [] if all_sites else sites


def _reason_and_sites(study: Study, role: str, all_sites: bool, sites: Iterable[Site], reason: str | None):
    """The reason and the sites of an assignment (``(reason, every, chosen)``), or both their refusals at once, each
    next to its field: a page that named only the first would send its user back a second time."""
    found: dict[str, list[ValidationError]] = {}
    checked = {}
    for name, check in (
        ("reason", lambda: _check_reason(reason)),
        ("sites", lambda: _sites(study, role, all_sites, sites)),
    ):
        try:
            checked[name] = check()
        except ValidationError as error:
            for field, errors in error.error_dict.items():
                found.setdefault(field, []).extend(errors)
    if found:
        raise ValidationError(found)
    return checked["reason"], *checked["sites"]


def _save(assignment: RoleAssignment, sites: list[Site], *, acting, reason: str) -> RoleAssignment:
    """Save with the history row carrying the sites (history is written after the sites are set)."""
    assignment.full_clean(validate_constraints=False)
    assignment.skip_history_when_saving = True  # the row and its sites first, then one history row with both
    try:
        assignment.save()
        assignment.sites.set(sites)
    finally:
        del assignment.skip_history_when_saving
    assignment._change_reason = reason
    assignment._history_user = acting
    assignment.save()
    return assignment


def grant(user, study: Study, role: str, sites: Iterable[Site] | None = None, *, by=None, reason: str):
    """Give a role as the system does (the demo, ``create_study --data-manager``, a migration's tests): no team
    manager acting, the same site rule (every site when ``sites`` is None, and always for study-wide roles)."""
    every, chosen = _sites(study, role, sites is None, sites or ())
    assignment = RoleAssignment(user=user, study=study, role=role, all_sites=every)
    _save(assignment, chosen, acting=by, reason=reason)
    roles.forget(user)
    return assignment


def _last_data_manager(assignment: RoleAssignment) -> bool:
    return (
        assignment.role == roles.DATA_MANAGER
        and not RoleAssignment.objects.filter(study=assignment.study, role=roles.DATA_MANAGER, ended_at__isnull=True)
        .exclude(pk=assignment.pk)
        .exists()
    )


def assignment_add(
    *, study: Study, user, role: str, all_sites: bool = False, sites: Iterable[Site] = (), acting, reason: str
) -> RoleAssignment:
    """Give ``user`` ``role`` in ``study`` (at every site, or at ``sites``)."""
    _check_manager(study, acting)
    _check_not_self(acting, user)
    reason, every, chosen = _reason_and_sites(study, role, all_sites, sites, reason)
    with transaction.atomic():
        taken = RoleAssignment.objects.select_for_update().filter(
            user=user, study=study, role=role, ended_at__isnull=True
        )
        if taken.exists():
            raise ValidationError(
                {
                    "role": ValidationError(
                        _("%(user)s is already %(role)s in this study: change that assignment instead.")
                        % {"user": user.username, "role": roles.ROLES[role].lower()},
                        code="duplicate",
                    )
                }
            )
        assignment = _save(
            RoleAssignment(user=user, study=study, role=role, all_sites=every), chosen, acting=acting, reason=reason
        )
    roles.forget(user)
    return assignment


def opened_stamps(assignments: Iterable[RoleAssignment]) -> dict[int, int]:
    """Each assignment's cohorts.audit.last_change, for the team page's rows (one query)."""
    return last_changes(RoleAssignment, [assignment.pk for assignment in assignments])


def assignment_change(
    *,
    assignment: RoleAssignment,
    all_sites: bool,
    sites: Iterable[Site] = (),
    acting,
    reason: str,
    opened: int | None = None,
) -> RoleAssignment:
    """Change the sites of an active assignment (a new role is a new assignment: end this one). ``opened``: its
    cohorts.audit.last_change when the page was opened (a change of its sites made since is refused, not undone)."""
    _check_manager(assignment.study, acting)
    _check_not_self(acting, assignment.user)
    reason, every, chosen = _reason_and_sites(assignment.study, assignment.role, all_sites, sites, reason)
    with transaction.atomic():
        assignment = RoleAssignment.objects.select_for_update().get(pk=assignment.pk, ended_at__isnull=True)
        ensure_unchanged_since(assignment, opened, ("all_sites",))
        assignment.all_sites = every
        _save(assignment, chosen, acting=acting, reason=reason)
    return assignment


def assignment_end(*, assignment: RoleAssignment, acting, reason: str) -> RoleAssignment:
    """End an assignment (kept, with the time it ended). The study's last data manager stays."""
    _check_manager(assignment.study, acting)
    reason = _check_reason(reason)
    _check_not_self(acting, assignment.user)
    with transaction.atomic():
        assignment = RoleAssignment.objects.select_for_update().get(pk=assignment.pk, ended_at__isnull=True)
        # Lock every data manager of the study, so that two data managers ending each other cannot both succeed.
        list(
            RoleAssignment.objects.select_for_update().filter(
                study=assignment.study, role=roles.DATA_MANAGER, ended_at__isnull=True
            )
        )
        if _last_data_manager(assignment):
            raise ValidationError(
                _("This is the study's last data manager: give the role to someone else first."),
                code="last_data_manager",
            )
        assignment.ended_at = timezone.now()
        assignment._change_reason = reason
        assignment._history_user = acting
        assignment.save()
    roles.forget(assignment.user)
    return assignment


def members(study: Study):
    """The active assignments of the study with their users and sites (one row per assignment)."""
    return (
        RoleAssignment.objects.filter(study=study, ended_at__isnull=True)
        .select_related("user")
        .prefetch_related("sites")
        .order_by("user__username", "role")
    )


def is_member(study: Study, user) -> bool:
    return RoleAssignment.objects.filter(study=study, user=user, ended_at__isnull=True).exists()


def _check_account(study: Study, account, acting) -> None:
    _check_manager(study, acting)
    _check_not_self(acting, account)
    if not is_member(study, account):
        raise ValidationError(_("This account is not a member of the study."), code="not_member")
    if roles.is_system_admin(account):
        raise ValidationError(
            _("A system administrator's account is looked after by another administrator."), code="administrator"
        )


def _record(study: Study, account, acting, kind: str, reason: str) -> AccountAction:
    return AccountAction.objects.create(study=study, account=account, done_by=acting, kind=kind, reason=reason)


def account_unlock(*, study: Study, account, acting, reason: str) -> AccountAction:
    """Clear the failed logins that locked the account (django-axes), before its cool-off ends."""
    from axes.utils import reset

    _check_account(study, account, acting)
    reason = _check_reason(reason)
    with transaction.atomic():
        reset(username=account.get_username())
        return _record(study, account, acting, AccountAction.Kind.UNLOCK, reason)


def second_factor_reset(*, study: Study, account, acting, reason: str) -> AccountAction:
    """Remove the account's second-factor devices (lost phone): it sets up a new one at its next login."""
    from django_otp import devices_for_user

    _check_account(study, account, acting)
    reason = _check_reason(reason)
    with transaction.atomic():
        for device in devices_for_user(account, confirmed=None):
            device.delete()
        return _record(study, account, acting, AccountAction.Kind.RESET_SECOND_FACTOR, reason)


def account_states(users) -> dict[int, dict]:
    """For each user id: locked out (django-axes) and has a second factor (django-otp), in two queries."""
    from axes.models import AccessAttempt
    from django.conf import settings
    from django_otp.plugins.otp_static.models import StaticDevice
    from django_otp.plugins.otp_totp.models import TOTPDevice

    users = list(users)
    names = {user.get_username(): user.pk for user in users}
    locked = set(
        AccessAttempt.objects.filter(
            username__in=list(names), failures_since_start__gte=settings.AXES_FAILURE_LIMIT
        ).values_list("username", flat=True)
    )
    ids = [user.pk for user in users]
    second = set(TOTPDevice.objects.filter(user_id__in=ids, confirmed=True).values_list("user_id", flat=True))
    second |= set(StaticDevice.objects.filter(user_id__in=ids, confirmed=True).values_list("user_id", flat=True))
    return {user.pk: {"locked": user.get_username() in locked, "second_factor": user.pk in second} for user in users}


def history(study: Study, limit: int = 50) -> list[dict]:
    """The latest team changes of the study: assignments given, changed, ended, and account help, newest first."""
    changes = RoleAssignment.history.filter(study_id=study.pk)
    # An assignment's first row is its creation (written once its sites are set, so recorded as a change).
    first_rows = set(changes.values("id").annotate(first=Min("history_id")).values_list("first", flat=True))
    rows = [
        {
            "at": h.history_date,
            "by": h.history_user,
            "what": _what(roles.ROLES.get(h.role, h.role), h, h.history_id in first_rows),
            "account": h.user,
            "reason": h.history_change_reason,
        }
        for h in changes.select_related("history_user", "user").order_by("-history_date")[:limit]
    ]
    rows += [
        {"at": a.done_at, "by": a.done_by, "what": a.get_kind_display(), "account": a.account, "reason": a.reason}
        for a in AccountAction.objects.filter(study=study).select_related("done_by", "account")[:limit]
    ]
    return sorted(rows, key=lambda row: row["at"], reverse=True)[:limit]


def _what(role: str, row, first: bool) -> str:
    """ "Investigator given", "Monitor sites changed", "Data manager ended": what a history row of an assignment
    did, in the active language."""
    if row.ended_at:
        return _("%(role)s ended") % {"role": role}
    if first or row.history_type == "+":
        return _("%(role)s given") % {"role": role}
    return _("%(role)s sites changed") % {"role": role}
