"""Audited writes shared by every app: reason for change, history user, optimistic locking.

django-simple-history records a history row on every save(); these helpers make sure each row carries the
user and the reason, that an edit of already-saved data has a reason (ICH GCP audit trail; docs/architecture.md), and
that
two people editing the same record cannot silently overwrite each other (the `version` column).
"""

import json
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, models, router, transaction
from django.db.models import Exists, OuterRef
from django.db.models.base import ModelState
from django.db.models.signals import post_init, pre_init
from django.utils import timezone
from django.utils.translation import gettext as _

from cohorts.copy_insert import copy_audited
from cohorts.field_checks import FieldChecks
from cohorts.limits import number_text
from cohorts.models import Patient, PatientFreeze, Study
from cohorts.signals import records_created


class StudyLocked(ValidationError):
    """Raised by every write path while the study is locked (clinical definitions §5)."""

    def __init__(self, study: Study):
        super().__init__(
            _("The study %(study)s is locked for a data release; unlock it (with a reason) to change data.")
            % {"study": study.code},
            code="study_locked",
        )


def _shown(value: Any) -> str:
    """A stored value as a message writes it: 45, not Decimal('45.0'); yes or no, not True; settings as JSON; text
    without quotes; "empty"."""
    if value is None or value == "":
        return _("empty")
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Decimal):
        return number_text(value)
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, sort_keys=True)
    return str(value)


class ConcurrentEdit(ValidationError):
    """The record changed since the form was opened: the save is refused and nothing is overwritten."""

    def __init__(self, instance: models.Model, changes: list[tuple[str, Any, Any]]):
        self.changes = changes
        what = "; ".join(
            _("%(field)s: now %(new)s (you started from %(old)s)")
            % {"field": field, "new": _shown(new), "old": _shown(old)}
            for field, old, new in changes
        )
        if what:
            message = _(
                "This record was changed by someone else after you opened it (%(changes)s). Reload the page, review "
                "their change, and enter yours again."
            ) % {"changes": what}
        else:
            message = _(
                "This record was changed by someone else after you opened it. Reload the page, review their change, "
                "and enter yours again."
            )
        super().__init__(message, code="concurrent_edit")


def last_change(instance: models.Model | None) -> int:
    """The id of the latest history row of an audited record (0 for a new one). A page that posts a whole record
    back (the set-up pages, a team member's sites) sends it with its form as ``opened``: ensure_unchanged_since then
    refuses a save over a change someone else saved meanwhile, which the posted form would undo."""
    if instance is None or instance.pk is None:
        return 0
    return instance.history.order_by("-history_id").values_list("history_id", flat=True).first() or 0


def last_changes(model: type[models.Model], pks) -> dict[int, int]:
    """last_change of many records of ``model`` in one query (a page with a form per row)."""
    rows = model.history.filter(id__in=list(pks)).values("id").annotate(last=models.Max("history_id"))
    return {row["id"]: row["last"] for row in rows}


def ensure_unchanged_since(instance: models.Model, opened: int | None, names) -> None:
    """ConcurrentEdit when ``instance`` (as stored, locked by the caller) was saved after ``opened`` (its last_change
    when the page was opened; None: no page, e.g. a study file), naming the fields of ``names`` that changed."""
    if opened is None or last_change(instance) == opened:
        return
    then = instance.history.filter(history_id=opened).first()
    changes = [
        (str(instance._meta.get_field(name).verbose_name), getattr(then, name), getattr(instance, name))
        for name in names
        if then is not None and getattr(then, name) != getattr(instance, name)
    ]
    raise ConcurrentEdit(instance, changes)


def ensure_unlocked(study: Study) -> None:
    # Read the flag from the database, not from a possibly stale instance.
    if Study.objects.filter(pk=study.pk, is_locked=True).exists():
        raise StudyLocked(study)


class PatientFrozen(ValidationError):
    """Raised by every write of a patient's data while a data manager has frozen the casebook."""

    def __init__(self, patient: Patient):
        super().__init__(
            _(
                "The casebook of %(participant)s is frozen by the data manager before the lock: nothing of it can "
                "change. Its queries can still be answered in words; ask the data manager to unfreeze it to correct a "
                "value."
            )
            % {"participant": patient.participant_id},
            code="patient_frozen",
        )


def ensure_writable(patient: Patient) -> None:
    """Refuse a change of the patient's data while the study is locked or the casebook frozen (one query)."""
    state = (
        Patient.objects.filter(pk=patient.pk)
        .annotate(frozen=Exists(PatientFreeze.objects.filter(patient=OuterRef("pk"), unfrozen_at__isnull=True)))
        .values_list("study__is_locked", "frozen")
        .first()
    )
    if state is None:
        return  # a patient being created has nothing frozen yet
    locked, frozen = state
    if locked:
        raise StudyLocked(patient.study)
    if frozen:
        raise PatientFrozen(patient)


#: The history reason of a first entry, and of a save that only completes a record (docs/architecture.md §3).
ENTRY_REASON = "initial entry"

#: The history's change-reason column (django-simple-history's CharField(max_length=100)): a typed reason must fit.
REASON_MAX_LENGTH = 100


def reason_too_long(reason: str) -> ValidationError | None:
    """The message for a typed reason that does not fit the history, or None."""
    if len(reason.strip()) <= REASON_MAX_LENGTH:
        return None
    return ValidationError(
        _("The reason has %(length)s characters; the audit trail keeps at most %(maximum)s: shorten it.")
        % {"length": len(reason.strip()), "maximum": REASON_MAX_LENGTH},
        code="reason_too_long",
    )


def history_reason(text: str) -> str:
    """A reason the system composes (an import's file name, a lock's reason, a set-up's site changes) shortened to
    fit the history; the whole text stays where the action keeps it (the release, the import report)."""
    text = text.strip()
    return text if len(text) <= REASON_MAX_LENGTH else text[: REASON_MAX_LENGTH - 1] + "\u2026"


def require_reason(instance: models.Model, reason: str | None) -> str:
    """An edit of saved data needs a reason that fits the history; a first entry gets a standard one."""
    if instance.pk is None or instance._state.adding:
        return history_reason(reason or ENTRY_REASON)
    if not (reason or "").strip():
        raise ValidationError(
            {"reason": ValidationError(_("Give a reason for changing saved data."), code="reason_required")}
        )
    if (too_long := reason_too_long(reason)) is not None:
        raise ValidationError({"reason": too_long})
    return reason.strip()


def save_audited(instance: models.Model, *, user, reason: str | None, validate_db: bool = True) -> models.Model:
    """full_clean() and save with the history user and reason (callers hold transaction.atomic).

    validate_db=False skips the parts of full_clean() that query the database (one SELECT per foreign key,
    unique and check constraint): for callers that ran the same rules in Python (ecrf/checks.py) and keep a
    page at a fixed number of queries. The database still enforces every constraint.
    """
    check_audited(instance, user=user, reason=reason, validate_db=validate_db)
    instance.save()
    return instance


def check_audited(instance: models.Model, *, user, reason: str | None, validate_db: bool = True) -> None:
    """What save_audited does before it saves: the history user and reason set, full_clean() (see save_audited for
    ``validate_db``)."""
    instance._change_reason = require_reason(instance, reason)
    instance._history_user = user
    if validate_db:
        instance.full_clean()
    else:
        relations = [f.name for f in instance._meta.concrete_fields if f.is_relation]
        instance.full_clean(exclude=relations, validate_unique=False, validate_constraints=False)


def check_new_audited(
    results: list, built: Sequence[int], *, user, reasons: Sequence[str | None], checks: FieldChecks
) -> list[int]:
    """check_audited(validate_db=False) of the new records at positions ``built`` of a bulk service's ``results``,
    to be inserted in bulk (insert_audited), with the ``checks`` of their batch: the same verdicts, each distinct
    value of a field checked once. A refused record is replaced in ``results`` by its ValidationError; returns the
    positions of the records that pass."""
    records = [results[position] for position in built]
    for record, reason in zip(records, reasons, strict=True):
        record._change_reason = require_reason(record, reason)
        record._history_user = user
    passed: list[int] = []
    for position, error in zip(built, checks.full_clean_all(records), strict=True):
        if error is None:
            passed.append(position)
        else:
            results[position] = error
    return passed


def record_factory(model: type[models.Model]) -> Callable[..., models.Model]:
    """A constructor of new records of ``model`` for a bulk write: ``build(patient=..., study_day=1, ...)`` gives
    what ``model(patient=..., study_day=1, ...)`` gives, built the way a row read from the database is built, less
    the per-field work of the constructor: the instance's state and its fields' values (given, else their defaults)
    set at once. A relation is given by its object, cached on the record as the keyword constructor caches it.
    A model with its own constructor, or with pre_init or post_init receivers, is built by its constructor."""
    fields = model._meta.concrete_fields
    relations = [field for field in fields if field.is_relation]
    if any(field.generated or field.column is None for field in fields):
        raise TypeError(f"{model.__name__}: record_factory does not build generated or virtual fields")
    constructed = (
        model.__init__ is not models.Model.__init__ or pre_init.has_listeners(model) or post_init.has_listeners(model)
    )
    # Each field's default: a callable's result is made for each record, any other default is one value.
    made = [(field.attname, field.get_default) for field in fields if field.has_default() and callable(field.default)]
    constant = {field.attname: field.get_default() for field in fields if field.attname not in dict(made)}
    attnames = [field.attname for field in fields]

    def build(**values: Any) -> models.Model:
        related = {field: values.pop(field.name) for field in relations if field.name in values}
        for field, target in related.items():
            values[field.attname] = None if target is None else getattr(target, field.target_field.attname)
        state = {**constant, **values}
        for name, make in made:
            if name not in values:
                state[name] = make()
        if len(state) != len(attnames):
            raise TypeError(f"{model.__name__}() got unexpected keyword arguments {sorted(set(state) - set(attnames))}")
        if constructed:
            record = model(*(state[name] for name in attnames))
        else:
            record = model.__new__(model)
            record._state = ModelState()
            record.__dict__.update(state)
        for field, target in related.items():
            field.set_cached_value(record, target)
        return record

    return build


#: Rows per INSERT statement of insert_audited.
BULK_BATCH = 1000


def insert_audited(model: type[models.Model], records: list[models.Model], user) -> None:
    """Insert new records, each passed through check_audited, with their "created" history rows, in bulk: COPY on
    PostgreSQL (cohorts/copy_insert.py), bulk_create elsewhere. Then send ``records_created`` with the records and
    the history rows' ids, instead of a post_save and a django-simple-history post_create_historical_record per
    record (cohorts/signals.py). An IntegrityError (a database rule the checks did not foresee, or the same record
    saved at the same moment) leaves nothing."""
    using = router.db_for_write(model)
    now = timezone.now()  # the history time of the batch
    with transaction.atomic(using=using):
        if connections[using].vendor == "postgresql":
            history_ids = copy_audited(model, records, user, using, now)
        else:
            model.objects.bulk_create(records, batch_size=BULK_BATCH)
            history = model.history.bulk_history_create(
                records, batch_size=BULK_BATCH, default_user=user, default_date=now
            )
            history_ids = [row.pk for row in history]
    records_created.send(sender=model, records=records, history_ids=history_ids, using=using)


def update_versioned(
    instance: models.Model,
    *,
    changes: Mapping[str, Any],
    expected_version: int,
    user,
    reason: str | None,
    validate_db: bool = True,
    is_entry: Callable[[models.Model, list[str]], bool] | None = None,
    entry_reason: str = ENTRY_REASON,
) -> models.Model:
    """Apply `changes` to a versioned record if nobody saved it since `expected_version`.

    The row is locked (SELECT ... FOR UPDATE) so that two concurrent saves are serialised and the second one
    sees the first one's version. Callers hold transaction.atomic.

    is_entry(stored record, names of the fields that change): True when the save only completes the record
    (fills fields left blank): that is entry, not a change of saved data, so no reason is asked and
    `entry_reason` is recorded (docs/architecture.md §3).
    """
    model = type(instance)
    current = model.objects.select_for_update().get(pk=instance.pk)
    if current.version != expected_version:
        stale = model.history.filter(id=instance.pk, version=expected_version).first()
        diffs = []
        if stale is not None:
            for name in changes:
                old, new = getattr(stale, name, None), getattr(current, name)
                if old != new:
                    diffs.append((name, old, new))
        raise ConcurrentEdit(current, diffs)
    changed = [name for name, value in changes.items() if getattr(current, name) != value]
    if not changed:
        return current  # nothing to save: no history row, no reason needed
    if is_entry is not None and is_entry(current, changed):
        reason = entry_reason
    for name in changed:
        setattr(current, name, changes[name])
    current.version = expected_version + 1
    return save_audited(current, user=user, reason=reason, validate_db=validate_db)
