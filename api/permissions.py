"""The one permission of the API: the role sets of cohorts/roles.py, read from the view (no new policy).

A view names ``read_roles`` (GET, HEAD, OPTIONS) and ``write_roles`` (anything else); a user with none of them gets
403. Site scoping is the selectors' (another site's patient is a 404), as on the pages (docs/architecture.md §7).
"""

from rest_framework.permissions import SAFE_METHODS, BasePermission

from cohorts import roles

ROLE_DENIED = "Your role does not give access to this endpoint."


class HasRole(BasePermission):
    message = ROLE_DENIED

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        allowed = view.read_roles if request.method in SAFE_METHODS else getattr(view, "write_roles", frozenset())
        return roles.has_role(request.user, allowed)
