"""The rows of the patient list (templates/cleaning/patient_list.html), written in Python from strings translated
and addresses reversed once per page: a page holds 100 patients, and a template loop with its translations, links
and badges per row was most of the page's time."""

from __future__ import annotations

from django import template
from django.urls import reverse
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _

from cohorts.models import PatientStatus
from ecrf.crfs import DAY_FORMS
from ecrf.page_notes import badges_html

register = template.Library()

#: A stand-in reversed once per page and replaced per row (as in record_status.py).
_PATIENT, _DAY = "900000001", "900000002"


@register.simple_tag
def patient_rows(patients) -> SafeString:
    """One row per patient of ``ecrf.selectors.patient_list`` (with the ``notes`` set by the view): the
    participant with its badges, site, arm, day 0, today's study day, today's forms and the status."""
    casebook = reverse("casebook", args=[int(_PATIENT)])
    day_entry = reverse("day_entry", args=[int(_PATIENT), int(_DAY)])
    words = {
        "day": _("day %(day)s"),
        "after": _("after follow-up"),
        "missing": _("%(missing)s missing: enter day %(day)s"),
        "complete": _("complete"),
        "none": _("none due"),
        "died": _("died (day %(day)s)"),
        "ended": _("follow-up ended (day %(day)s)"),
        # Labels of today's forms and of the statuses, translated once (a lazy label is translated at each use).
        **{f"has_{key}": str(crf.label) for key, crf in DAY_FORMS.items()},
        **{f"status_{value}": str(label) for value, label in PatientStatus.choices},
    }
    return mark_safe("".join(_row(p, casebook, day_entry, words) for p in patients))


def _blocktranslated(text: str, **values) -> SafeString:
    """A translated sentence with values, as {% blocktranslate %} writes it: the values escaped, not the text."""
    return mark_safe(text % {name: conditional_escape(value) for name, value in values.items()})


def _row(p, casebook: str, day_entry: str, words: dict[str, str]) -> str:
    pk = str(p.pk)
    if p.today_day is not None:
        today = _blocktranslated(words["day"], day=p.today_day)
    else:
        today = format_html('<span class="text-muted">{}</span>', words["after"])
    if p.missing_today:
        forms = format_html(
            '<a class="btn btn-sm btn-warning py-0" href="{}">{}</a> <span class="small text-muted">{}</span>',
            day_entry.replace(_PATIENT, pk).replace(_DAY, str(p.today_day)),
            _blocktranslated(words["missing"], missing=p.missing_today, day=p.today_day),
            ", ".join(words[f"has_{key}"] for key in DAY_FORMS if not getattr(p, f"has_{key}")),
        )
    elif p.today_day is not None and p.death_day is None and p.end_day is None:
        forms = format_html('<span class="text-success small">{}</span>', words["complete"])
    else:
        forms = format_html('<span class="text-muted small">{}</span>', words["none"])
    if p.death_day is not None:
        status = _blocktranslated(words["died"], day=p.death_day)
    elif p.end_day is not None:
        status = _blocktranslated(words["ended"], day=p.end_day)
    else:
        status = words.get(f"status_{p.status}", p.status)
    return format_html(
        '<tr{}><td><a href="{}">{}</a> {}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>'
        '<td data-missing="{}">{}</td><td>{}</td></tr>\n',
        mark_safe(' class="table-warning"') if p.missing_today else "",
        casebook.replace(_PATIENT, pk),
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
