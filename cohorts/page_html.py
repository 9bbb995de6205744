"""Pieces of HTML for pages written in Python, row by row (the patient list, the casebook, the query list): a
translated sentence with values, and addresses reversed once per page."""

from __future__ import annotations

from collections.abc import Callable

from django.urls import reverse
from django.utils.html import conditional_escape
from django.utils.safestring import SafeString, mark_safe


def translated(text: str, **values) -> SafeString:
    """A translated sentence with values, as {% blocktranslate %} writes it: the values escaped, not the text."""
    return mark_safe(text % {name: conditional_escape(value) for name, value in values.items()})


def address(name: str, arguments: int) -> Callable[..., str]:
    """The address of the URL ``name`` with its ``arguments`` filled in per row: reversed once with stand-ins, which
    a row replaces (reverse() for each of a page's hundreds of links cost more than the rest of the page)."""
    stand_ins = [str(900_000_001 + position) for position in range(arguments)]
    pattern = reverse(name, args=[int(stand_in) for stand_in in stand_ins])

    def fill(*values) -> str:
        url = pattern
        for stand_in, value in zip(stand_ins, values, strict=True):
            url = url.replace(stand_in, str(value))
        return url

    return fill
