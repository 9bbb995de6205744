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
        #: Each field with its kept results: the key of a value -> the value its check gave back.
        self.fields: list[tuple[models.Field, dict[tuple, Any]]] = [(field, {}) for field in fields]

    def full_clean(self, instance: models.Model) -> None:
        """Raise full_clean's ValidationError (field errors, then the model's clean()) for ``instance``."""
        errors: dict[str, list] = {}
        for field, kept in self.fields:
            raw = getattr(instance, field.attname)
            # The key tells two values apart for the check: class and value, and a decimal's digits too (37.5 and
            # 37.50 are equal, but the second has two decimal places). Not hashable: checked every time.
            key = (raw.__class__, raw, str(raw)) if isinstance(raw, Decimal) else (raw.__class__, raw)
            try:
                cleaned = kept.get(key, _UNSEEN)
            except TypeError:
                key, cleaned = None, _UNSEEN
            if cleaned is not _UNSEEN:  # checked before (a blank value skipped below is never kept)
                setattr(instance, field.attname, cleaned)
                continue
            if field.blank and raw in field.empty_values:
                continue
            if isinstance(raw, DatabaseDefault):
                continue
            try:
                cleaned = field.clean(raw, instance)
            except ValidationError as exc:
                errors[field.name] = exc.error_list
                continue
            if key is not None:
                kept[key] = cleaned
            setattr(instance, field.attname, cleaned)
        try:
            instance.clean()
        except ValidationError as exc:
            errors = exc.update_error_dict(errors)
        if errors:
            raise ValidationError(errors)


_UNSEEN = object()

