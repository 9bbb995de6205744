"""The rows of the signatures list (templates/cleaning/signature_list.html), written in Python from strings
translated and addresses reversed once per page, as the patient list's and the query list's rows are: a page holds
100 patients, and a template loop with its translations and links per row was most of the page's time."""

from __future__ import annotations

import datetime

from django import template
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from cleaning.selectors import SignatureRow
from cleaning.signature_state import BROKEN, SIGNED
from cohorts.page_html import address, translated

register = template.Library()


class _Page:
    """What every row of one page reads: addresses with stand-ins, and words translated once."""

    def __init__(self, signable: set[int]):
        self.signable = signable
        self.casebook = address("casebook", 1)
        self.sign = address("casebook_sign", 1)
        self.states = {
            SIGNED: format_html(
                '<span class="badge text-bg-success">{}</span>', pgettext("casebook signature", "Signed")
            ),
            BROKEN: format_html('<span class="badge text-bg-danger">{}</span>', _("Changed after signing")),
        }
        self.unsigned = format_html(
            '<span class="badge text-bg-secondary">{}</span>', pgettext("casebook signature", "Not signed")
        )
        self.words = {
            "signature": _("days %(first)s–%(last)s, %(printed_name)s, %(signed)s UTC"),
            "changed": _("changed %(broken)s UTC"),
            "sign": _("Sign"),
        }


@register.simple_tag
def signature_rows(rows: list[SignatureRow], signable: set[int]) -> SafeString:
    """One row per patient of ``cleaning.status_selectors.signature_list_page``: participant (a link to the casebook's
    signatures), site, signature state, the signatures in force (days, printed name, when, and when changed), and a
    Sign button for a patient in ``signable``."""
    page = _Page(signable)
    return mark_safe("".join(_row(row, page) for row in rows))


def _utc(moment: datetime.datetime) -> str:
    """A moment in UTC as the list writes it: 2020-04-02 14:05 (the date filter's "Y-m-d H:i")."""
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M")


def _signature(s, page: _Page) -> SafeString:
    line = translated(
        page.words["signature"],
        first=s.first_day,
        last=s.last_day,
        printed_name=s.printed_name,
        signed=_utc(s.signed_at),
    )
    if s.broken_at:
        changed = translated(page.words["changed"], broken=_utc(s.broken_at))
        line = format_html('{} · <span class="text-danger">{}</span>', line, changed)
    return line


def _row(row: SignatureRow, page: _Page) -> str:
    patient = row.patient
    signatures = format_html_join("", "<div>{}</div>", ((_signature(s, page),) for s in row.current)) or "—"
    sign = ""
    if patient.pk in page.signable:
        button = '<a class="btn btn-sm btn-outline-primary" href="{}">{}</a>'
        sign = format_html(button, page.sign(patient.pk), page.words["sign"])
    return format_html(
        '<tr data-testid="row-{}" data-state="{}"><td><a href="{}#signatures">{}</a></td><td>{}</td><td>{}</td>'
        '<td class="small">{}</td><td>{}</td></tr>\n',
        patient.participant_id,
        row.state,
        page.casebook(patient.pk),
        patient.participant_id,
        patient.site.code,
        page.states.get(row.state, page.unsigned),
        signatures,
        sign,
    )
