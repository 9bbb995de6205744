"""Pages of the ecrf app in the access table."""

from cohorts import roles  # noqa: F401
from tests.access_pages import Page  # noqa: F401

PAGES: list = []
