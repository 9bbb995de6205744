"""Notes that later apps put on ecrf's pages (an open query on a field, on a casebook cell), asked for through
signals so that ecrf never imports those apps (docs/architecture.md §1).

Each signal is sent once per page and each receiver answers with a mapping; ``collect`` merges the answers.
A receiver must read what it needs in a fixed number of queries, whatever the size of the page.

- ``day_page``: sent with ``patient``, ``study_day`` and ``user``; answers {(form key, field name or "", record
  id or None): [Note]} for the day page and the repeating forms' pages.
- ``casebook``: sent with ``patient`` and ``user``; answers {(study day, form key): [Note]}.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from django.dispatch import Signal
from django.utils.html import format_html_join
from django.utils.safestring import SafeString

day_page = Signal()
casebook = Signal()


@dataclass(frozen=True)
class Note:
    """A small badge with a link: ``label`` is shown, ``title`` is its tooltip, ``kind`` its style (a CSS class
    suffix: ``open``, ``answered``, ``changed``)."""

    label: str
    title: str
    url: str
    kind: str = "open"


def collect(signal: Signal, **kwargs) -> dict:
    """The notes of every receiver of ``signal``, merged by key."""
    merged: dict = defaultdict(list)
    for _receiver, answer in signal.send(sender=None, **kwargs):
        for key, notes in (answer or {}).items():
            merged[key].extend(notes)
    return dict(merged)


def badges_html(notes) -> SafeString:
    """The notes of a place as badges, each followed by a space: on the pages ({% note_badges %}, the casebook and
    patient list rows) and under a field of a daily form (its help text)."""
    return format_html_join(
        "",
        '<a class="badge note note-{}" href="{}" title="{}" data-testid="note">{}</a> ',
        ((note.kind, note.url, note.title, note.label) for note in notes),
    )
