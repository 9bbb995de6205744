"""The rows of the query list (templates/cleaning/query_list.html), written in Python from strings translated and
addresses reversed once per page, as the patient list's rows are (patient_rows.py)."""

from __future__ import annotations

from django import template
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.text import Truncator
from django.utils.translation import gettext as _

from cleaning import selectors
from cleaning.models import QueryStatus
from cleaning.values import field_label
from cohorts.page_html import address, translated
from ecrf.crfs import CATALOGUE

register = template.Library()


class _Page:
    """What every row of one page reads: addresses with stand-ins, words and labels translated once."""

    def __init__(self):
        self.query = address("query_detail", 1)
        self.casebook = address("casebook", 1)
        self.now = timezone.now()
        self.statuses = {value: str(label) for value, label in QueryStatus.choices}
        self.forms = {key: str(crf.label) for key, crf in CATALOGUE.items()}
        self.fields: dict[tuple[str, str], str] = {}
        self.words = {
            "patient": _("Patient"),
            "rule": _("rule <code>%(rule)s</code>"),
            "changed": _("%(status)s, changed after close"),
            "site": _("site"),
        }

    def field(self, form: str, name: str) -> str:
        if (form, name) not in self.fields:
            self.fields[form, name] = field_label(form, name)
        return self.fields[form, name]


@register.simple_tag
def query_rows(queries) -> SafeString:
    """One row per query of ``cleaning.selectors.query_list``: number, participant and site, day, form and field,
    question, origin, status, assignee and days open."""
    page = _Page()
    return mark_safe("".join(_row(query, page) for query in queries))


def _row(q, page: _Page) -> str:
    status = page.statuses.get(q.status, q.status)
    field = format_html(' · <span title="{}">{}</span>', q.field, page.field(q.form, q.field)) if q.field else ""
    if q.origin == "rule":
        origin = translated(page.words["rule"], rule=q.rule)
    else:
        origin = q.opened_by.username if q.opened_by else ""
    badge = "changed" if q.changed_after_close else "closed" if q.status == QueryStatus.CLOSED else q.status
    return format_html(
        '<tr data-testid="query-{}"><td><a href="{}">#{}</a></td><td><a href="{}">{}</a> <span class="small '
        'text-muted">{}</span></td><td>{}</td><td>{}{}</td><td class="small">{}</td><td class="small">{}</td><td>'
        '<span class="badge note note-{}">{}</span></td><td class="small">{}</td><td class="text-end">{}</td></tr>\n',
        q.pk,
        page.query(q.pk),
        q.pk,
        page.casebook(q.patient_id),
        q.patient.participant_id,
        q.site.code,
        q.study_day if q.study_day is not None else "—",
        page.forms[q.form] if q.form else page.words["patient"],
        field,
        Truncator(q.text).chars(90),
        origin,
        badge,
        translated(page.words["changed"], status=status) if q.changed_after_close else status,
        q.assignee.username if q.assignee else page.words["site"],
        selectors.days_open(q, page.now),
    )
