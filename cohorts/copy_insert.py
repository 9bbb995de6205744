"""New records and their "created" history rows written with PostgreSQL's COPY (cohorts.audit.insert_audited).

An INSERT of thousands of rows through the ORM spends most of its time composing SQL and converting each value
(bulk_create); COPY streams the rows as they are. The ids come from the tables' own sequences, reserved before the
copy, so the records and the history rows know them as bulk_create would have told them. Values are written as
the ORM would write them: each field's ``pre_save`` (``auto_now`` times), then its ``get_db_prep_save`` for every
field whose Python value PostgreSQL does not take as it is (JSON, anything unusual).
"""

from collections.abc import Callable, Sequence
from typing import Any

from django.db import connections, models
from simple_history.utils import get_change_reason_from_object

#: Field classes whose Python value (after full_clean) psycopg writes to PostgreSQL as it is: Django's PostgreSQL
#: operations return these values unchanged. Exact classes, so that a subclass with its own conversion is converted.
_AS_IS = frozenset(
    {
        models.AutoField,
        models.BigAutoField,
        models.SmallAutoField,
        models.IntegerField,
        models.SmallIntegerField,
        models.BigIntegerField,
        models.PositiveIntegerField,
        models.PositiveSmallIntegerField,
        models.PositiveBigIntegerField,
        models.CharField,
        models.TextField,
        models.BooleanField,
        models.DateField,
        models.DateTimeField,
        models.DecimalField,
        models.FloatField,
        models.ForeignKey,
        models.OneToOneField,
    }
)

#: The columns django-simple-history adds to a historical table, besides the tracked fields.
_HISTORY_COLUMNS = ("history_id", "history_date", "history_change_reason", "history_type", "history_user_id")


def _reader(field: models.Field, connection) -> Callable[[models.Model], Any]:
    """How to read the value of ``field`` from a new record, ready for COPY."""
    if type(field) in _AS_IS:
        return lambda record: field.pre_save(record, True)
    return lambda record: field.get_db_prep_save(field.pre_save(record, True), connection)


def _next_ids(cursor, model: type[models.Model], count: int) -> list[int]:
    """``count`` ids reserved from the sequence of ``model``'s primary key (PostgreSQL)."""
    cursor.execute(
        "SELECT nextval(pg_get_serial_sequence(%s, %s)) FROM generate_series(1, %s)",
        [model._meta.db_table, model._meta.pk.column, count],
    )
    return [row[0] for row in cursor.fetchall()]


def _copy(cursor, model: type[models.Model], columns: Sequence[str], rows) -> None:
    quote = cursor.db.ops.quote_name
    names = ", ".join(quote(column) for column in columns)
    # Django's cursor has no COPY: psycopg's own, its errors turned into Django's (an IntegrityError for a broken
    # rule, which the bulk services answer by saving one record at a time).
    with (
        cursor.db.wrap_database_errors,
        cursor.cursor.copy(f"COPY {quote(model._meta.db_table)} ({names}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def copy_audited(model: type[models.Model], records: list[models.Model], user, using: str, now) -> list[int]:
    """Write new ``records`` (checked, not saved) and their "created" history rows with COPY, in the caller's
    transaction; give each record its id and return the history rows' ids, in the records' order.

    The history rows hold what django-simple-history's bulk_history_create would: the tracked values, the record's
    ``_history_user`` (else ``user``) and ``_change_reason``, type "+", and the record's ``_history_date``, else
    ``now`` (one time for the batch)."""
    if model._meta.parents:
        raise TypeError(f"{model.__name__}: COPY writes one table; a model with parent tables is not supported")
    connection = connections[using]
    history = model.history.model
    fields = list(model._meta.local_concrete_fields)
    tracked = {field.attname for field in history.tracked_fields}
    extra = {field.attname for field in history._meta.concrete_fields} - tracked - set(_HISTORY_COLUMNS)
    if extra:
        raise TypeError(f"{history.__name__}: COPY does not know how to fill {sorted(extra)}")
    readers = [_reader(field, connection) for field in fields]
    with connection.cursor() as cursor:
        ids = _next_ids(cursor, model, len(records))
        history_ids = _next_ids(cursor, history, len(records))
        rows = []
        for record, pk in zip(records, ids, strict=True):
            record.pk = pk
            rows.append([read(record) for read in readers])
            record._state.adding, record._state.db = False, using
        _copy(cursor, model, [field.column for field in fields], rows)
        tracked_at = [i for i, field in enumerate(fields) if field.attname in tracked]
        history_columns = [
            *(history._meta.get_field(fields[i].name).column for i in tracked_at),
            *_HISTORY_COLUMNS,
        ]
        _copy(
            cursor,
            history,
            history_columns,
            (
                [
                    *(row[i] for i in tracked_at),
                    history_id,
                    getattr(record, "_history_date", now),
                    get_change_reason_from_object(record) or "",
                    "+",
                    _user_id(getattr(record, "_history_user", user)),
                ]
                for record, row, history_id in zip(records, rows, history_ids, strict=True)
            ),
        )
    return history_ids


def _user_id(user) -> int | None:
    return None if user is None or not getattr(user, "pk", None) else user.pk
