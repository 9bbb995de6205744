from cohorts.roles import ROLES, SIGNAL_READERS, may_set_up_studies, user_roles


def roles(request) -> dict:
    """The current user's roles for the navigation of the base template, and the links it may offer (the same
    role sets as the views' role_required, so no link answers 403)."""
    user = getattr(request, "user", None)
    current = user_roles(user) if user is not None else frozenset()
    return {
        "user_roles": current,
        "role_labels": [ROLES[r] for r in sorted(current)],
        "may_read_signals": bool(current & SIGNAL_READERS),
        "may_set_up_studies": bool(current) and may_set_up_studies(user),
    }
