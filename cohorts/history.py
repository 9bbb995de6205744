"""The audit trail as rows a person can read: who, when, why, and each field's old and new value."""

from dataclasses import dataclass, field
from typing import Any

HIDDEN_FIELDS = {"version", "updated_at", "confirmed_checks"}


@dataclass
class HistoryRow:
    when: Any
    user: Any
    reason: str
    kind: str  # created / changed / deleted
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


def history_rows(records: list) -> list[HistoryRow]:
    """Side-by-side changes of consecutive history records (django-simple-history's diff_against)."""
    kinds = {"+": "created", "~": "changed", "-": "deleted"}
    rows = []
    previous = None
    for record in records:
        changes = []
        if previous is not None:
            delta = record.diff_against(previous)
            changes = [
                (record.instance._meta.get_field(c.field).verbose_name, c.old, c.new)
                for c in delta.changes
                if c.field not in HIDDEN_FIELDS
            ]
        else:
            changes = [
                (f.verbose_name, None, getattr(record, f.attname))
                for f in record.instance._meta.concrete_fields
                if f.attname not in HIDDEN_FIELDS and f.name != "id" and getattr(record, f.attname) not in (None, "")
            ]
        rows.append(
            HistoryRow(
                when=record.history_date,
                user=record.history_user,
                reason=record.history_change_reason or "",
                kind=kinds.get(record.history_type, record.history_type),
                changes=changes,
            )
        )
        previous = record
    return list(reversed(rows))
