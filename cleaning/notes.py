"""The query badges of the pages (ecrf's, as receivers of ecrf.page_notes, and the patient list's): one query per
page each.

A badge stands for the queries still waiting (open or answered) and for closed ones whose data changed after they
were closed; it links to the query, or to the list of the patient's queries of that place when there are several.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from urllib.parse import urlencode

from django.db.models import Count, Q
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from cleaning.models import Query, QueryStatus
from ecrf.page_notes import Note

#: The queries a badge counts: waiting for the site or the monitor, or closed and then changed.
PENDING = Q(status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED]) | Q(changed_after_close=True)


def _list_url(patient, **filters) -> str:
    url = reverse("query_list", args=[patient.study.code])
    return f"{url}?{urlencode({'patient': patient.participant_id, **filters})}"


def _note(queries: list, list_url: str) -> Note:
    """One badge for the queries of one place."""
    statuses = Counter("changed" if q.status == QueryStatus.CLOSED else q.status for q in queries)
    kind = "open" if statuses["open"] else "answered" if statuses["answered"] else "changed"
    if len(queries) == 1:
        query = queries[0]
        labels = {"open": _("query open"), "answered": _("query answered"), "changed": _("query changed after close")}
        title = _("Query #%(pk)s: %(text)s") % {"pk": query.pk, "text": query.text[:120]}
        return Note(labels[statuses.most_common(1)[0][0]], title, reverse("query_detail", args=[query.pk]), kind)
    words = {
        "open": _("%(count)s open"),
        "answered": _("%(count)s answered"),
        "changed": _("%(count)s changed after close"),
    }
    title = ", ".join(words[s] % {"count": n} for s, n in sorted(statuses.items()))
    label = ngettext("%(count)s query", "%(count)s queries", len(queries)) % {"count": len(queries)}
    return Note(label, title, list_url, kind)


def day_page(sender, *, patient, study_day: int, user, **kwargs) -> dict:
    places: dict[tuple, list] = defaultdict(list)
    for query in Query.objects.filter(PENDING, patient=patient, study_day=study_day).only(
        "pk", "form", "field", "record_id", "status", "text"
    ):
        places[(query.form, query.field, query.record_id)].append(query)
    return {
        place: [_note(queries, _list_url(patient, day=study_day, form=place[0]))] for place, queries in places.items()
    }


def casebook(sender, *, patient, user, **kwargs) -> dict:
    places: dict[tuple, list] = defaultdict(list)
    for query in Query.objects.filter(PENDING, patient=patient, study_day__isnull=False).only(
        "pk", "study_day", "form", "status", "text"
    ):
        places[(query.study_day, query.form)].append(query)
    return {
        place: [_note(queries, _list_url(patient, day=place[0], form=place[1]))] for place, queries in places.items()
    }


def patient_list(*, patients, user) -> dict:
    """{patient pk: [Note]}: the waiting queries of each patient of the list's page (one query)."""
    counts = (
        Query.objects.filter(patient__in=[p.pk for p in patients])
        .values("patient")
        .annotate(
            waiting=Count("pk", filter=Q(status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED])),
            open=Count("pk", filter=Q(status=QueryStatus.OPEN)),
        )
        .filter(waiting__gt=0)
        .order_by()
    )
    by_pk = {p.pk: p for p in patients}
    notes = {}
    for row in counts:
        patient = by_pk[row["patient"]]
        label = ngettext("%(count)s query", "%(count)s queries", row["waiting"]) % {"count": row["waiting"]}
        title = _("%(open)s open, %(answered)s answered") % {
            "open": row["open"],
            "answered": row["waiting"] - row["open"],
        }
        notes[patient.pk] = [Note(label, title, _list_url(patient), "open" if row["open"] else "answered")]
    return notes
