from cohorts.roles import ROLES, user_roles


def roles(request) -> dict:
    """The current user's roles for the navigation of the base template."""
    user = getattr(request, "user", None)
    current = user_roles(user) if user is not None else frozenset()
    return {"user_roles": current, "role_labels": [ROLES[r] for r in sorted(current)]}
