"""The record status of one cell of the status dashboard (a patient, a study day, a form): pure rules, no Django
(but for the translation of the states' words).

A cell holds one state, the first of ``STATES`` that applies (the priority of the dashboard): a waiting query
first (open, then answered), then what the stored data say. For a one-per-day form the data say one of: missing
(required and past: a day before today at the patient's site, within the follow-up, up to its end and before the
day of death, by ecrf.selectors.day_state; the "missing forms for past days" of clinical definitions §3.3),
entered with a confirmed soft check (the record's ``confirmed_checks`` is not empty), entered, marked not done (the
record's ``not_done_reason``), not required (after the end of follow-up or from
the day of death), not yet due (today or later: today's forms are not late yet). A repeating form (drugs,
dispositions, adverse events) and the patient as a whole have a cell only while a query on them waits.

Future states, not computed yet: **verified** (source data verified by a monitor) and **signed** (the
investigator's signature). They will rank after "missing" and before "entered with a confirmed soft check"
(signed before verified): a waiting query and a missing form still come first.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

QUERY_OPEN = "query_open"
QUERY_ANSWERED = "query_answered"
MISSING = "missing"
CONFIRMED = "confirmed"
ENTERED = "entered"
NOT_DONE = "not_done"
NOT_REQUIRED = "not_required"
NOT_DUE = "not_due"


@dataclass(frozen=True)
class State:
    """A state of a cell: its code, its words, the symbol that shows it without colour, what to do about it
    (``label`` and ``meaning``: in the active language, from the translatable ``words`` and ``explanation``)."""

    code: str
    words: str
    symbol: str
    explanation: str

    @property
    def label(self) -> str:
        return str(self.words)

    @property
    def meaning(self) -> str:
        return str(self.explanation)


#: Every state, in the dashboard's priority order (a cell takes the first that applies).
STATES: tuple[State, ...] = (
    State(
        QUERY_OPEN,
        pgettext_lazy("record status", "Query open"),
        "?",
        _("A query waits for the site's answer: open it and answer."),
    ),
    State(
        QUERY_ANSWERED,
        pgettext_lazy("record status", "Query answered"),
        "↩",
        _("The site answered: the monitor or data manager closes it."),
    ),
    State(
        MISSING,
        pgettext_lazy("record status", "Missing"),
        "✗",
        _("Required and past, not entered: enter it, or mark it not done."),
    ),
    State(
        CONFIRMED,
        pgettext_lazy("record status", "Entered, soft check confirmed"),
        "!",
        _("Entered with an unusual value confirmed against the source."),
    ),
    State(ENTERED, pgettext_lazy("record status", "Entered"), "✓", _("Entered.")),
    State(NOT_DONE, pgettext_lazy("record status", "Marked not done"), "∅", _("Stored as not done, with its reason.")),
    State(
        NOT_REQUIRED,
        pgettext_lazy("record status", "Not required"),
        "–",
        _("After the end of follow-up, or from the day of death."),
    ),
    State(
        NOT_DUE,
        pgettext_lazy("record status", "Not yet due"),
        "·",
        _("Today or a later day at the patient's site: not late yet."),
    ),
)
BY_CODE: dict[str, State] = {state.code: state for state in STATES}
CODES: tuple[str, ...] = tuple(BY_CODE)

#: What the day's rule (ecrf.selectors.day_state) says of a one-per-day form without a stored record.
WITHOUT_RECORD = frozenset({MISSING, NOT_REQUIRED, NOT_DUE})


def cell_state(
    without_record: str | None = None,
    *,
    stored: bool = False,
    confirmed: bool = False,
    not_done: bool = False,
    open_queries: int = 0,
    answered_queries: int = 0,
) -> str | None:
    """The state of one cell.

    ``stored``: a record of the form is stored for that day (``confirmed``: with a confirmed soft check;
    ``not_done``: marked not done). ``without_record``: otherwise, the day's rule for a one-per-day form (missing,
    not required or not yet due); None for a cell that has no record of its own (a repeating form, the patient).
    ``open_queries`` / ``answered_queries``: the queries waiting on the cell. None: the cell shows nothing.
    """
    # The states of a stored record exclude each other and those of a day without its record: after the waiting
    # queries, the first that applies is the only one (STATES' order, asserted by the tests).
    if open_queries:
        return QUERY_OPEN
    if answered_queries:
        return QUERY_ANSWERED
    if stored:
        return NOT_DONE if not_done else CONFIRMED if confirmed else ENTERED
    if without_record is not None and without_record not in WITHOUT_RECORD:
        raise ValueError(f"{without_record!r} is not a state of a day without its record")
    return without_record
