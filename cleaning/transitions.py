"""The state changes of a query that both a person's actions (cleaning/services.py) and the rule job
(cleaning/rule_job.py) make; the callers save the query and write its message."""

from __future__ import annotations

from cleaning.models import Query, QueryStatus


def reopened(query: Query) -> Query:
    """The query open again (its answer and closing cleared; ``opened_at`` stays the first opening)."""
    query.status = QueryStatus.OPEN
    query.answer_code = ""
    query.answered_at = None
    query.closed_at = None
    query.closed_by = None
    query.changed_after_close = False
    return query


def closed(query: Query, *, at, by=None) -> Query:
    """The query closed at ``at`` by ``by`` (None: the system, when a rule's condition cleared)."""
    query.status = QueryStatus.CLOSED
    query.closed_at = at
    query.closed_by = by
    query.changed_after_close = False
    return query
