from cohorts.roles import ROLES, may_set_up_studies, user_roles


def roles(request) -> dict:
    """The current user's roles (in any study) for the base template, and whether to link the set-up pages. A link
    into one study asks for the roles in that study (cohorts/templatetags/study_roles.py), so no link answers 403."""
    user = getattr(request, "user", None)
    current = user_roles(user) if user is not None else frozenset()
    return {
        "user_roles": current,
        "role_labels": [ROLES[r] for r in sorted(current)],
        "may_set_up_studies": bool(current) and may_set_up_studies(user),
    }
