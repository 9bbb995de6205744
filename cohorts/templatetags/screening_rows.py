"""The rows of the screening log (templates/cohorts/screening_log.html), written in Python from strings translated
and addresses reversed once per page, as the patient list's and the query list's rows are: a page holds 100
screenings, and a template loop with its translations, dates and links per row was most of the page's time."""

from __future__ import annotations

import datetime

from django import template
from django.template.defaultfilters import date as date_filter
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from cohorts.clock import site_zone
from cohorts.models import Screening, Study
from cohorts.page_html import address, translated

register = template.Library()


class _Page:
    """What every row of one page reads: addresses with stand-ins, and words translated once."""

    def __init__(self, study: Study, can_enrol: bool):
        self.study, self.can_enrol = study.code, can_enrol
        self.detail = address("screening_detail", 2)
        # The month abbreviations of the reader's language ("M" of the date filter), looked up once.
        self.months = [date_filter(datetime.date(2020, month, 1), "M") for month in range(1, 13)]
        self.enrol = address("patient_enrol", 2)
        self.words = {
            "eligible": format_html('<span class="badge text-bg-success">{}</span>', _("eligible")),
            "not_eligible": format_html('<span class="badge text-bg-danger">{}</span>', _("not eligible")),
            "exclusion": _("%(label)s: exclusion applies"),
            "not_met": _("%(label)s: not met"),
            "missing": _("Missing data: %(labels)s"),
            "enrol": _("Enrol"),
        }

    def when(self, screening: Screening) -> str:
        """When the screening was assessed, at its site: the date filter's "d M Y H:i" (16 Mar 2020 10:00)."""
        local = screening.assessed_at.astimezone(site_zone(screening.site))
        return f"{local:%d} {self.months[local.month - 1]} {local:%Y %H:%M}"

    def link(self, screening: Screening) -> str:
        return format_html('<a href="{}">{}</a>', self.detail(self.study, screening.pk), screening.number)


@register.simple_tag
def screening_rows(screenings, study: Study, can_screen: bool) -> SafeString:
    """One row per screening of ``cohorts.selectors.screening_log_page``: number, site, when assessed (at the site),
    by whom, result, reasons (those not met, the criteria undecided for missing data), the screening it re-screens
    and the enrolment (the patient, or a button to enrol an eligible candidate)."""
    page = _Page(study, can_screen and not study.is_locked)
    return mark_safe("".join(_row(screening, page) for screening in screenings))


def _row(s: Screening, page: _Page) -> str:
    words = page.words
    reasons = format_html_join(
        "",
        '<div class="verdict-not_met">{}</div>',
        (
            (translated(words["exclusion" if r.kind == "exclusion" else "not_met"], label=_(r.label)),)
            for r in s.failing_reasons
        ),
    )
    if s.missing_labels:
        missing = translated(words["missing"], labels=", ".join(s.missing_labels))
        reasons += format_html('<div class="verdict-missing">{}</div>', missing)
    patient = getattr(s, "patient", None)  # the patient enrolled from it (a reverse one-to-one: may have none)
    if patient is not None:
        enrolment = f"{patient.participant_id} · {patient.arm.name}"
    elif s.eligible and page.can_enrol:
        enrolment = format_html(
            '<a class="btn btn-outline-primary btn-sm" href="{}">{}</a>', page.enrol(page.study, s.pk), words["enrol"]
        )
    else:
        enrolment = ""
    by = s.screened_by
    return format_html(
        '<tr><td>{}</td><td>{}</td><td class="text-nowrap">{}</td><td>{}</td><td>{}</td><td class="small">{}</td>'
        "<td>{}</td><td>{}</td></tr>\n",
        page.link(s),
        s.site.code,
        page.when(s),
        by.get_full_name() or by.username,
        words["eligible"] if s.eligible else words["not_eligible"],
        reasons,
        page.link(s.rescreen_of) if s.rescreen_of is not None else "",
        enrolment,
    )
