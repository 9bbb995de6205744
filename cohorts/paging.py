"""Pages of long lists whose number of rows is known without counting them."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.utils.functional import cached_property


class CountedPaginator(Paginator):
    """A paginator told its count (kept sums, or figures the page reads anyway) instead of counting the rows: a
    COUNT over a whole study's rows on every page would make the page's cost follow the size of the study."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self._count = count

    @cached_property
    def count(self) -> int:
        return self._count
