"""The rows of a casebook (templates/ecrf/casebook.html): one per study day, with a cell per one-per-day form, the
records of the repeating forms that start that day and the day's derived state. Written in Python from strings
translated and addresses reversed once per page: the grid has some 200 cells, and a template loop per cell was most
of the page's time."""

from __future__ import annotations

from django import template
from django.template.defaultfilters import date as date_filter
from django.template.defaultfilters import floatformat
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from cohorts.page_html import address, translated
from ecrf.page_notes import badges_html
from ecrf.selectors import AFTER_DEATH, MISSING, NOT_DONE, NOT_REQUIRED, Casebook, CasebookDay, Cell, EventRow

register = template.Library()


class _Page:
    """What every row of one casebook reads: its addresses with stand-ins, and its words, translated once."""

    def __init__(self, book: Casebook):
        self.patient = book.patient.pk
        self.today_day = book.today_day
        self.day_entry = address("day_entry", 2)
        self.history = address("record_history", 2)
        self.event = address("event_edit", 3)
        self.words = {
            "not_done": _("not done"),
            "not_done_reason": _("Not done: %(reason)s"),
            "audit": _("audit trail"),
            "history": _("history"),
            "edit": _("open / edit"),
            "after_death": _("after death"),
            "enter": _("enter"),
            "not_required": _("not required"),
            "not_due": _("not yet due"),
            "estimated": _("estimated from the device and flow"),
            "est": _("est."),
        }
        self.pf_sources = {"measured": pgettext("P/F source", "measured"), "derived": pgettext("P/F source", "derived")}

    def day_url(self, study_day: int) -> str:
        return self.day_entry(self.patient, study_day)

    def history_link(self, history_name: str, pk: int, css: str) -> SafeString:
        return format_html(
            '<a class="{}" href="{}" title="{}">{}</a>',
            css,
            self.history(history_name, pk),
            self.words["audit"],
            self.words["history"],
        )


@register.simple_tag
def casebook_rows(book: Casebook) -> SafeString:
    page = _Page(book)
    return mark_safe("".join(_row(day, page) for day in book.days))


def _row(day: CasebookDay, page: _Page) -> str:
    return format_html(
        '<tr id="day-{}" class="{}"><th scope="row"><a href="{}">{}</a></th><td class="small">{}</td>{}{}{}</tr>\n',
        day.study_day,
        "table-info" if day.study_day == page.today_day else "",
        page.day_url(day.study_day),
        day.study_day,
        date_filter(day.date, "d M"),
        mark_safe("".join(_form_cell(key, cell, notes, day.study_day, page) for key, cell, notes in day.form_cells)),
        mark_safe("".join(_event_cell(rows, notes, page) for _key, rows, notes in day.event_cells)),
        _derived_cells(day, page),
    )


def _form_cell(key: str, cell: Cell, notes: list, study_day: int, page: _Page) -> str:
    words = page.words
    if cell.state == NOT_DONE:
        content = format_html(
            '<a href="{}" title="{}">{}</a> {}',
            page.day_url(study_day),
            translated(words["not_done_reason"], reason=cell.record.not_done_reason),
            words["not_done"],
            page.history_link(cell.history_name, cell.record.pk, "small text-muted ms-1"),
        )
    elif cell.record:
        content = format_html(
            '<a href="{}" title="{}">✓{}</a>{} {}',
            page.day_url(study_day),
            words["edit"],
            format_html(" {}", words["after_death"]) if cell.state == AFTER_DEATH else "",
            format_html_join(
                "",
                ' <abbr class="mc small" title="{}" data-code="{}">{}</abbr>',
                ((code.title, code.code, code.abbreviation) for code in cell.codes),
            ),
            page.history_link(cell.history_name, cell.record.pk, "small text-muted ms-1"),
        )
    elif cell.state == MISSING:
        content = format_html('<a href="{}">{}</a>', page.day_url(study_day), words["enter"])
    elif cell.state == NOT_REQUIRED:
        content = format_html('<span class="text-muted small">{}</span>', words["not_required"])
    else:
        content = mark_safe('<span class="text-muted small">—</span>')
    return format_html(
        '<td class="cell-{}" data-state="{}" data-form="{}">{} {}</td>',
        cell.state,
        cell.state,
        key,
        content,
        badges_html(notes),
    )


def _event_cell(rows: list[EventRow], notes: list, page: _Page) -> str:
    return format_html(
        '<td class="text-start small events">{}{}</td>',
        badges_html(notes),
        format_html_join(
            "",
            '<div><a href="{}">{}</a> {}</div>',
            (
                (
                    page.event(page.patient, row.slug, row.record.pk),
                    row.label,
                    page.history_link(row.history_name, row.record.pk, "text-muted ms-1"),
                )
                for row in rows
            ),
        ),
    )


def _derived_cells(day: CasebookDay, page: _Page) -> SafeString:
    """The day's ordinal state, P/F with its source and FiO2 (estimated or not), from the derivation."""
    d, words = day.derived, page.words
    status = pf = fio2 = ""
    if d:
        if d.ordinal_7 is not None:
            status = format_html(
                '<strong>{}</strong> <span class="small text-muted">{}</span>', d.ordinal_7, day.state_label
            )
        elif day.study_day > page.today_day:
            status = format_html('<span class="small text-muted">{}</span>', words["not_due"])
        else:
            status = format_html('<span class="small text-muted">{}</span>', _(d.status_note) if d.status_note else "—")
        if d.pf is not None:
            source = page.pf_sources.get(d.pf_source, d.pf_source)
            pf = format_html('{} <span class="small text-muted">{}</span>', floatformat(d.pf, 0), source)
        else:
            note = _(d.pf_derived_note) if d.pf_derived_note else ""
            pf = format_html('<span class="small text-muted" title="{}">—</span>', note)
        if d.fio2 is not None:
            estimated = (
                format_html(
                    ' <em class="small text-warning-emphasis" title="{}">{}</em>', words["estimated"], words["est"]
                )
                if d.fio2_estimated
                else ""
            )
            fio2 = format_html("{}{}", floatformat(d.fio2, 2), estimated)
    return format_html('<td class="status">{}</td><td class="pf">{}</td><td>{}</td>', status, pf, fio2)
