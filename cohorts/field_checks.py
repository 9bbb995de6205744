"""Django's full_clean() of many new records of one model, each distinct value of a field checked once.

An import checks a million records whose fields hold a few hundred distinct values (37.2, "cpap", True). A field's
check (``Field.clean``: conversion, required, choices, validators such as the number of digits) depends on the value
alone, so its result is kept per field and value, and the other records with that value reuse it. What full_clean
does besides is done for every record: the skip of blank optional fields, the model's own ``clean()``.

Relations, unique and check constraints are not checked: they query the database, and the bulk callers leave them
to the database itself (cohorts.audit.check_audited's ``validate_db=False``).
"""

from __future__ import annotations

from decimal import Decimal
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
        #: Each field with its kept results, found by the very object checked (its id, with the object itself, kept
        #: alive so that its id is not reused: records share the values an import typed once), else by its key:
        #: class and value, and a decimal's digits too (37.5 and 37.50 are equal, but the second has two decimal
        #: places).
        self.fields: list[tuple[str, models.Field, dict[int, tuple], dict[tuple, Any]]] = [
            (field.attname, field, {}, {}) for field in fields
        ]

    def full_clean(self, instance: models.Model) -> None:
        """Raise full_clean's ValidationError (field errors, then the model's clean()) for ``instance``."""
        errors: dict[str, list] = {}
        state = instance.__dict__  # the fields' values: no descriptor sets them (see __init__)
        for attname, field, by_object, by_key in self.fields:
            raw = state[attname] if attname in state else getattr(instance, attname)
            seen = by_object.get(id(raw))
            if seen is not None and seen[0] is raw:  # this object was checked before
                if seen[1] is not raw:
                    state[attname] = seen[1]
                continue
            if field.blank and raw in field.empty_values:  # skipped, as full_clean skips it; never kept
                continue
            key = (raw.__class__, raw, str(raw)) if isinstance(raw, Decimal) else (raw.__class__, raw)
            try:
                cleaned = by_key.get(key, _UNSEEN)
            except TypeError:  # not hashable: checked every time
                key, cleaned = None, _UNSEEN
            if cleaned is _UNSEEN:
                if isinstance(raw, DatabaseDefault):
                    continue
                try:
                    cleaned = field.clean(raw, instance)
                except ValidationError as exc:
                    errors[field.name] = exc.error_list
                    continue
                if key is not None:
                    by_key[key] = cleaned
            if key is not None:
                by_object[id(raw)] = (raw, cleaned)
            state[attname] = cleaned
        try:
            instance.clean()
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)


_UNSEEN = object()
