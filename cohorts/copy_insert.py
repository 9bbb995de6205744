"""New records written with PostgreSQL's COPY, and their "created" history rows copied from them by the server
(cohorts.audit.insert_audited).

An INSERT of thousands of rows through the ORM spends most of its time composing SQL and converting each value
(bulk_create); COPY streams the rows as they are. The records' ids come from the table's own sequence, reserved
before the copy, so the records know them as bulk_create would have told them. Values are written as the ORM would
write them: each field's ``pre_save`` (``auto_now`` times: the batch's time), then its ``get_db_prep_save`` for
every field whose Python value PostgreSQL does not take as it is (JSON, anything unusual). The history rows are one
``INSERT ... SELECT`` from the rows just written: their tracked values are what the table holds.
"""

import json
from collections import defaultdict
from collections.abc import Callable, Sequence
from functools import partial
from operator import attrgetter
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

_EMPTY_JSON = {dict: "{}", list: "[]"}  # json.dumps of the most common values, without the encoder

#: The columns django-simple-history adds to a historical table, besides the tracked fields.
_HISTORY_COLUMNS = ("history_id", "history_date", "history_change_reason", "history_type", "history_user_id")


def _reader(field: models.Field, connection, now) -> Callable[[models.Model], Any]:
    """How to read the value of ``field`` from a new record, ready for COPY (``now``: the time of the batch)."""
    if isinstance(field, models.DateTimeField) and (field.auto_now or field.auto_now_add):

        def saved_now(record: models.Model) -> Any:
            setattr(record, field.attname, now)  # as pre_save does, with the one time of the batch
            return now

        return saved_now
    if isinstance(field, models.DateField) and (field.auto_now or field.auto_now_add):
        return lambda record: field.pre_save(record, True)  # today
    if type(field) in _AS_IS:
        return attrgetter(field.attname)  # what Field.pre_save returns
    if type(field) is models.JSONField:
        dumps = partial(json.dumps, cls=field.encoder)  # the text Django's Jsonb adapter would send
        convert = partial(field.get_db_prep_save, connection=connection)

        def json_text(record: models.Model) -> Any:
            value = getattr(record, field.attname)
            if isinstance(value, dict | list):
                return dumps(value) if value else _EMPTY_JSON[type(value)]
            return convert(value)  # None, expressions

        return json_text
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
    readers = [_reader(field, connection, now) for field in fields]
    with connection.cursor() as cursor:
        ids = _next_ids(cursor, model, len(records))

        def rows():
            for record, pk in zip(records, ids, strict=True):
                record.pk = pk
                yield [read(record) for read in readers]
                record._state.adding, record._state.db = False, using

        _copy(cursor, model, [field.column for field in fields], rows())
        user_ids = {id(user): _user_id(user)}  # the batch's user, read once (a lazy object in a request)
        history_ids = _copy_history(
            cursor,
            model,
            [field for field in fields if field.attname in tracked],
            ids,
            dates=[getattr(record, "_history_date", now) for record in records],
            reasons=[get_change_reason_from_object(record) or "" for record in records],
            users=[
                user_ids.get(id(record_user := getattr(record, "_history_user", user))) or _user_id(record_user)
                for record in records
            ],
        )
    return history_ids


def _copy_history(cursor, model, tracked: list[models.Field], ids: list[int], *, dates, reasons, users) -> list[int]:
    """The "created" history rows of the records ``ids``, copied by the server from the rows just written: one
    statement per history time, reason and user (an import has one), nothing to convert or send but the ids. Returns
    their ids in the order of ``ids``."""
    history = model.history.model
    quote = cursor.db.ops.quote_name
    source = ", ".join(f"record.{quote(field.column)}" for field in tracked)
    target = ", ".join(quote(history._meta.get_field(field.name).column) for field in tracked)
    statement = (
        f"INSERT INTO {quote(history._meta.db_table)} ({target}, history_date, history_change_reason, history_type,"
        f" history_user_id) SELECT {source}, %s, %s, '+', %s FROM {quote(model._meta.db_table)} AS record"
        f" WHERE record.{quote(model._meta.pk.column)} = ANY(%b)"
        f" RETURNING {quote(history._meta.pk.column)}, {quote(history._meta.get_field(model._meta.pk.name).column)}"
    )
    groups: dict[tuple, list[int]] = defaultdict(list)
    for pk, date, reason, user in zip(ids, dates, reasons, users, strict=True):
        groups[date, reason, user].append(pk)
    history_of = {}
    for (date, reason, user), pks in groups.items():
        cursor.execute(statement, [date, reason, user, pks])
        history_of.update((record_id, history_id) for history_id, record_id in cursor.fetchall())
    return [history_of[pk] for pk in ids]


def _user_id(user) -> int | None:
    return None if user is None or not getattr(user, "pk", None) else user.pk
