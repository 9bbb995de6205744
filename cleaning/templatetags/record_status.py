"""The cells of the record status dashboard (templates/cleaning/record_status.html): one icon per cell, its state
as a symbol (readable without colour) with its words in the title and the accessible name, and its link.

A click on a cell opens its query when one waits there, the list of its waiting queries when several do, else the
day's entry page (a day after today has no link). A page holds some 1,500 cells: they are written here in Python,
each from strings prepared once, rather than by a template loop per cell.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from cleaning.status import BY_CODE, NOT_DUE
from cleaning.status_grid import Cell, Grid
from cohorts.page_html import address
from ecrf.crfs import CATALOGUE, DAY_FORMS

register = template.Library()


@dataclass(frozen=True)
class Links:
    """The addresses a page's cells link to: the day's entry page, a query (each reversed once per page: reverse()
    for each of some 1,500 cells cost more than the rest of the page), the study's query list."""

    day: Callable[..., str]
    query: Callable[..., str]
    query_list: str

    @classmethod
    def of(cls, query_list: str) -> Links:
        return cls(address("day_entry", 2), address("query_detail", 1), query_list)


def _queries_href(grid: Grid, cell: Cell, links: Links) -> str:
    """A cell with waiting queries opens its query, or the list of its queries when several wait."""
    if len(cell.queries) == 1:
        return links.query(cell.queries[0])
    place = {"patient": grid.patient.participant_id}
    if cell.study_day is not None:
        place["day"] = cell.study_day
    if cell.form:
        place["form"] = cell.form
    return f"{links.query_list}?{urlencode({**place, 'status': 'waiting'})}"


def _title(form: str, study_day: int | None, state: str, queries: int) -> str:
    """A cell's state in words, in the active language: "Vital signs, day 2: Query open (2 queries)"."""
    words = {"state": BY_CODE[state].label, "day": study_day}
    if study_day is None:
        title = _("Patient: %(state)s") % words
    elif form:
        title = _("%(form)s, day %(day)s: %(state)s") % {**words, "form": CATALOGUE[form].label}
    else:
        title = _("Day, day %(day)s: %(state)s") % words
    if queries > 1:
        title = _("%(title)s (%(count)s queries)") % {"title": title, "count": queries}
    return title


@functools.lru_cache(maxsize=4096)
def _icon_parts(
    form: str, study_day: int | None, state: str, queries: int, linked: bool, language: str | None
) -> tuple[str, str]:
    """An icon's markup before and after its link: its class, its state in words as its title and accessible name
    (escaped once), its symbol. ``language``: the active one, part of the cache's key (the words depend on it)."""
    title = escape(_title(form, study_day, state, queries))
    attributes = f'class="rs rs-{state}" title="{title}" aria-label="{title}"'
    symbol = BY_CODE[state].symbol
    if not linked:
        return f'<span {attributes} role="img">{symbol}</span>', ""
    return f'<a {attributes} href="', f'">{symbol}</a>'


@register.simple_tag(takes_context=True)
def status_cells(context, grid: Grid, query_list: str) -> SafeString:
    """The row's cells: the patient's own (queries about the patient as a whole), then one per study day.
    ``query_list``: the study's query list address."""
    links = context.render_context.get(Links)
    if links is None:
        links = context.render_context[Links] = Links.of(query_list)
    language = get_language()

    def icon(cell: Cell) -> str:
        if cell.queries:
            href = _queries_href(grid, cell, links).replace("&", "&amp;")  # the rest is URL-encoded
        elif cell.study_day is None or (cell.state == NOT_DUE and cell.study_day > grid.today_day):
            href = ""  # nothing to open (today's forms can be entered: they link to the day)
        else:
            href = links.day(grid.patient.pk, cell.study_day)
        before, after = _icon_parts(cell.form, cell.study_day, cell.state, len(cell.queries), bool(href), language)
        return f"{before}{href}{after}"

    parts = [f'<td class="rs-patient">{"".join(map(icon, grid.general))}</td>']
    for day, cells in enumerate(grid.days):
        today = ' class="rs-today"' if day == grid.today_day else ""
        parts.append(f"<td{today}>{''.join(map(icon, cells))}</td>")
    return mark_safe("".join(parts))  # every text written here is escaped above


@register.simple_tag
def status_forms_header() -> SafeString:
    """The initials of the one-per-day forms, in the order of a day's icons (the second header row)."""
    return mark_safe("".join(f"<span>{escape(crf.label[0])}</span>" for crf in DAY_FORMS.values()))


@register.simple_tag
def status_icon(code: str) -> SafeString:
    """The legend's icon of a state."""
    state = BY_CODE[code]
    return mark_safe(f'<span class="rs rs-{code}" aria-hidden="true">{state.symbol}</span>')
