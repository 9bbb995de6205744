"""Django's full_clean() of many new records of one model, each distinct value of a field checked once.

An import checks a million records whose fields hold a few hundred distinct values (37.2, "cpap", True). A field's
check (``Field.clean``: conversion, required, choices, validators such as the number of digits) depends on the value
alone, so its result is kept per field and value, and the other records with that value reuse it. The records are
checked a field at a time: the values of a field in a batch of records share a few objects (an import types a value
once and gives every record that object), so each object is looked at once. What full_clean does besides is done for
every record: the skip of blank optional fields, the model's own ``clean()``.

Relations, unique and check constraints are not checked: they query the database, and the bulk callers leave them
to the database itself (cohorts.audit.check_new_audited).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from operator import itemgetter
from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.expressions import DatabaseDefault


class FieldChecks:
    """``full_clean(exclude=<relations>, validate_unique=False, validate_constraints=False)`` for records of
    ``model``, with the fields' results kept (see the module docstring). One object per batch: the kept values are
    its memory."""

    def __init__(self, model: type[models.Model]):
        fields = [field for field in model._meta.fields if not field.is_relation and not field.generated]
        if any(hasattr(getattr(model, field.attname, None), "__set__") for field in fields):
            raise TypeError(f"{model.__name__}: FieldChecks reads and sets the values of plain fields only")
        #: Each field with its kept results, by key: class and value, and a decimal's digits too (37.5 and 37.50 are
        #: equal, but the second has two decimal places).
        self.fields: list[tuple[str, models.Field, dict[tuple, Any]]] = [(field.attname, field, {}) for field in fields]
        self.own_clean = model.clean is not models.Model.clean

    def full_clean_all(self, instances: Sequence[models.Model]) -> list[ValidationError | None]:
        """full_clean's ValidationError of each instance, or None when it passes; the values of those that pass
        (and the valid values of the others) set to their cleaned values, as full_clean sets them."""
        states = [instance.__dict__ for instance in instances]  # the fields' values: no descriptor sets them
        errors: dict[int, dict[str, list]] = {}  # position -> field -> its errors
        for attname, field, kept in self.fields:
            try:
                column = list(map(itemgetter(attname), states))
            except KeyError:  # a deferred field (not a new record's): read as the model reads it
                column = [getattr(instance, attname) for instance in instances]
            cleaned: dict[int, Any] = {}  # id of a value -> its cleaned value, where it is another object
            refused: dict[int, list] = {}  # id of a value -> its errors
            positions = dict(zip(map(id, column), range(len(column)), strict=True))  # each distinct object once
            for position in positions.values():
                raw = column[position]
                if (field.blank and raw in field.empty_values) or isinstance(raw, DatabaseDefault):
                    continue  # skipped, as full_clean skips them
                key = (raw.__class__, raw, str(raw)) if isinstance(raw, Decimal) else (raw.__class__, raw)
                try:
                    value = kept.get(key, _UNSEEN)
                except TypeError:  # not hashable: checked every time
                    key, value = None, _UNSEEN
                if value is _UNSEEN:
                    try:
                        value = field.clean(raw, instances[position])
                    except ValidationError as exc:
                        refused[id(raw)] = exc.error_list
                        continue
                    if key is not None:
                        kept[key] = value
                if value is not raw:
                    cleaned[id(raw)] = value
            if refused:
                for position, raw in enumerate(column):
                    if (error_list := refused.get(id(raw))) is not None:
                        errors.setdefault(position, {})[field.name] = error_list
            if cleaned:
                for state, raw in zip(states, column, strict=True):
                    if (value := cleaned.get(id(raw), _UNSEEN)) is not _UNSEEN:
                        state[attname] = value
        if self.own_clean:
            for position, instance in enumerate(instances):
                try:
                    instance.clean()
                except ValidationError as exc:
                    errors[position] = exc.update_error_dict(errors.get(position, {}))
        return [ValidationError(errors[position]) if position in errors else None for position in range(len(states))]


_UNSEEN = object()
