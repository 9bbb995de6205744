"""The audit trail as rows a person can read: who, when, why, and each field's old and new value."""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth import get_user_model
from django.utils.translation import gettext as _

HIDDEN_FIELDS = {"version", "updated_at", "confirmed_checks"}


@dataclass
class HistoryRow:
    when: Any
    user: Any
    reason: str
    kind: str  # created / changed / deleted, in the active language
    changes: list[tuple[str, Any, Any]] = field(default_factory=list)


def history_rows(records: list) -> list[HistoryRow]:
    """Side-by-side changes of consecutive history records (django-simple-history's diff_against), each value as
    the pages show it: a patient by participant id, a site or arm by name, a choice by its label, yes / no."""
    kinds = {"+": _("created"), "~": _("changed"), "-": _("deleted")}
    names = _related_names(records)
    rows = []
    previous = None
    for record in records:
        meta = record.instance._meta
        changes = []
        if previous is not None:
            delta = record.diff_against(previous)
            for c in delta.changes:
                if c.field not in HIDDEN_FIELDS:
                    f = meta.get_field(c.field)
                    changes.append((f.verbose_name, _shown(f, c.old, names), _shown(f, c.new, names)))
        else:
            changes = [
                (f.verbose_name, None, _shown(f, getattr(record, f.attname), names))
                for f in meta.concrete_fields
                if f.attname not in HIDDEN_FIELDS
                and f.name != "id"
                and getattr(record, f.attname) not in (None, "", {}, [])
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


def _related_names(records: list) -> dict[tuple[type, Any], str]:
    """What each related object the records point to is called: one query per related model."""
    wanted: dict[type, set] = defaultdict(set)
    for record in records:
        for f in record.instance._meta.concrete_fields:
            if f.is_relation and getattr(record, f.attname) is not None:
                wanted[f.related_model].add(getattr(record, f.attname))
    user_model = get_user_model()
    names = {}
    for model, pks in wanted.items():
        for pk, obj in model._default_manager.in_bulk(pks).items():
            names[model, pk] = (obj.get_full_name() or obj.get_username()) if model is user_model else str(obj)
    return names


def _shown(f, value, names: dict[tuple[type, Any], str]):
    if value is None or value == {}:
        return None
    if isinstance(value, dict):  # e.g. a daily record's missing-data codes: "spo2_pct: not_done"
        return "; ".join(f"{key}: {item}" for key, item in sorted(value.items()))
    if f.is_relation:
        return names.get((f.related_model, value), value)  # a deleted object keeps its id
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if f.choices:
        return dict(f.flatchoices).get(value, value)
    return value
