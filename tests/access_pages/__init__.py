"""Rows of the access table (tests/test_access.py), one module per app so each app adds its own pages."""

import re
from collections.abc import Callable
from dataclasses import dataclass

from cohorts import roles

EVERY_ROLE = frozenset(roles.ROLES)
#: A page of one study: its address names the study (a user without a role in it gets 404, not 403).
STUDY_URL = re.compile(r"^(/api/v1)?/studies/[\w-]+/")


@dataclass(frozen=True)
class Page:
    """A page: its URL built from the fixtures dict (study, users, patient_a, patient_b), who may open it.

    patient_scoped: the page shows patient A (site A), so nurse_b of site B must get 404.
    method: "get" or "post" (a POST page is checked with an empty body; allowed roles must not get 403/404/302
    to login - they get 200, or a redirect/400 of the form itself: list those in ok_statuses).
    """

    name: str
    url: Callable[[dict], str]
    allowed: frozenset
    patient_scoped: bool = False
    method: str = "get"
    ok_statuses: tuple = (200,)
    #: Reachable in a session without a verified second factor (accounts/two_factor_policy.py OPEN_URL_NAMES).
    open_without_second_factor: bool = False
