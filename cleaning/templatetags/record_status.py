"""The cells of the record status dashboard (templates/cleaning/record_status.html): one icon per cell, its state
as a symbol (readable without colour) with its words in the title and the accessible name, and its link.

A click on a cell opens its query when one waits there, the list of its waiting queries when several do, else the
day's entry page (a day not yet due has no link). A page holds some 1,500 cells: they are written here in Python,
each from strings prepared once, rather than by a template loop per cell.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django import template
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from cleaning.status import BY_CODE, NOT_DUE
from cleaning.status_grid import Cell, Grid
from ecrf.crfs import CATALOGUE

register = template.Library()


def _place(form: str) -> str:
    return CATALOGUE[form].label if form else "Day"


def cell_href(grid: Grid, cell: Cell, query_list: str) -> str:
    """Where a click on ``cell`` goes ("" for none); ``query_list`` is the study's query list address."""
    if len(cell.queries) == 1:
        return reverse("query_detail", args=[cell.queries[0]])
    if cell.queries:
        place = {"patient": grid.patient.participant_id}
        if cell.study_day is not None:
            place["day"] = cell.study_day
        if cell.form:
            place["form"] = cell.form
        return f"{query_list}?{urlencode({**place, 'status': 'waiting'})}"
    if cell.state == NOT_DUE or cell.study_day is None:
        return ""
    return reverse("day_entry", args=[grid.patient.pk, cell.study_day])


def _title(cell: Cell) -> str:
    where = f"{_place(cell.form)}, day {cell.study_day}" if cell.study_day is not None else "Patient"
    several = f" ({len(cell.queries)} queries)" if len(cell.queries) > 1 else ""
    return escape(f"{where}: {BY_CODE[cell.state].label}{several}")


def _icon(grid: Grid, cell: Cell, query_list: str) -> str:
    title, symbol, href = _title(cell), BY_CODE[cell.state].symbol, cell_href(grid, cell, query_list)
    attributes = f'class="rs rs-{cell.state}" title="{title}" aria-label="{title}"'
    if not href:
        return f'<span {attributes} role="img">{symbol}</span>'
    return f'<a {attributes} href="{escape(href)}">{symbol}</a>'


@register.simple_tag
def status_cells(grid: Grid, query_list: str) -> SafeString:
    """The row's cells: the patient's own (queries about the patient as a whole), then one per study day."""
    parts = [f'<td class="rs-patient">{"".join(_icon(grid, cell, query_list) for cell in grid.general)}</td>']
    for day, cells in enumerate(grid.days):
        today = ' class="rs-today"' if day == grid.today_day else ""
        parts.append(f"<td{today}>{''.join(_icon(grid, cell, query_list) for cell in cells)}</td>")
    return mark_safe("".join(parts))  # every text written here is escaped above


@register.simple_tag
def status_icon(code: str) -> SafeString:
    """The legend's icon of a state."""
    state = BY_CODE[code]
    return mark_safe(f'<span class="rs rs-{code}" aria-hidden="true">{state.symbol}</span>')
