"""The one permission of the API: the role sets of cohorts/roles.py, read from the view (no new policy).

A view names ``read_roles`` (GET, HEAD, OPTIONS) and ``write_roles`` (anything else), asked in the study of the
address like the pages' ``role_required``. Site scoping is the selectors' (another site's patient is a 404), as on
the pages (docs/architecture.md §7).
"""

from django.http import Http404
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from rest_framework.permissions import SAFE_METHODS, BasePermission

from cohorts import roles

ROLE_DENIED = _("Your role does not give access to this endpoint.")


class HasRole(BasePermission):
    """With a study in the address: no role in that study is a 404 (never a hint that it exists), a role not
    named by the view a 403. Without one (a patient, an export): 403 unless the user holds one of the view's roles
    in some study; the selectors then scope to where they hold it, and a write on a patient asks again at the
    patient's study and site (api/views.py ``_patient``)."""

    message = ROLE_DENIED

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False
        allowed = view.read_roles if request.method in SAFE_METHODS else getattr(view, "write_roles", frozenset())
        code = view.kwargs.get("study_code")
        if code is None:
            return roles.has_role(request.user, allowed)
        held = roles.study_roles(request.user, code)
        if not held:
            raise Http404(gettext("No such study."))
        return bool(held & allowed)
