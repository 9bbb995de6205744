"""The rows of the patient list (templates/cleaning/patient_list.html), written in Python from strings translated
and addresses reversed once per page: a page holds 100 patients, and a template loop with its translations, links
and badges per row was most of the page's time."""

from __future__ import annotations

from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from cohorts.models import PatientStatus
from cohorts.page_html import address, translated
from ecrf.crfs import DAY_FORMS
from ecrf.models import DispositionKind
from ecrf.page_notes import badges_html

register = template.Library()


class _Page:
    """What every row of one page reads: addresses, words and labels translated once (a lazy label is translated
    again at each use)."""

    def __init__(self):
        self.casebook = address("casebook", 1)
        self.day_entry = address("day_entry", 2)
        self.words = {
            "day": _("day %(day)s"),
            "after": _("after follow-up"),
            "missing": _("%(missing)s missing: enter day %(day)s"),
            "complete": _("complete"),
            "none": _("none due"),
            "died": _("Died (day %(day)s)"),
        }
        # What ended the follow-up of a patient alive (ecrf.selectors.with_follow_up_end's end_kind); capitalised as
        # the statuses they stand beside ("Follow-up completed").
        self.ends = {
            DispositionKind.DISCHARGED: _("Discharged (day %(day)s)"),
            DispositionKind.WITHDRAWAL: _("Withdrawn (day %(day)s)"),
            DispositionKind.LOST: _("Lost to follow-up (day %(day)s)"),
        }
        self.ended = _("Follow-up ended (day %(day)s)")
        self.forms = {key: str(crf.label) for key, crf in DAY_FORMS.items()}
        self.statuses = {value: str(label) for value, label in PatientStatus.choices}


@register.simple_tag
def patient_rows(patients) -> SafeString:
    """One row per patient of ``ecrf.selectors.patient_list`` (with the ``notes`` set by the view): the
    participant with its badges, site, arm, day 0, today's study day, today's forms and the status."""
    page = _Page()
    return mark_safe("".join(_row(p, page) for p in patients))


def _row(p, page: _Page) -> str:
    words = page.words
    if p.today_day is not None:
        today = translated(words["day"], day=p.today_day)
    else:
        today = format_html('<span class="text-muted">{}</span>', words["after"])
    if p.missing_today:
        forms = format_html(
            '<a class="btn btn-sm btn-warning py-0" href="{}">{}</a> <span class="small text-muted">{}</span>',
            page.day_entry(p.pk, p.today_day),
            translated(words["missing"], missing=p.missing_today, day=p.today_day),
            ", ".join(label for key, label in page.forms.items() if not getattr(p, f"has_{key}")),
        )
    elif p.today_day is not None and p.death_day is None and p.end_day is None:
        forms = format_html('<span class="text-success small">{}</span>', words["complete"])
    else:
        forms = format_html('<span class="text-muted small">{}</span>', words["none"])
    if p.death_day is not None:
        status = translated(words["died"], day=p.death_day)
    elif p.end_day is not None:
        status = translated(page.ends.get(p.end_kind, page.ended), day=p.end_day)
    else:
        status = page.statuses.get(p.status, p.status)
    return format_html(
        '<tr{}><td><a href="{}">{}</a> {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
        '<td data-missing="{}">{}</td><td>{}</td></tr>\n',
        mark_safe(' class="table-warning"') if p.missing_today else "",
        page.casebook(p.pk),
        p.participant_id,
        badges_html(p.notes),
        p.site.code,
        p.arm.name,
        p.enrolment_date.isoformat(),
        today,
        p.missing_today,
        forms,
        status,
    )
