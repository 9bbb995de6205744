"""Every write of daily case report data (clinical definitions §2): keyword-only, atomic, checked and audited.

The edit checks of clinical definitions §2.1 (each form's checks in ecrf/validators.py, found through the
catalogue ecrf/crfs.py) run here on canonical-unit values, for every caller: the entry pages and any importer.
The forms run the same checks in clean() so that each message appears next to its field before anything is
sent here; the service runs them again because it is the only way into
the tables. Hard issues refuse the save; soft issues refuse it unless their code is in `confirmed_checks`,
and the confirmed codes that applied are stored on the record.

Because these checks mirror every CHECK constraint of ecrf/models.py, records are saved with
`validate_db=False`: full_clean() would otherwise run one SELECT per constraint, and the database enforces
them anyway (an IntegrityError becomes a clear refusal, never a server error).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from functools import partial
from operator import itemgetter
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Value
from django.utils.translation import gettext as _

from cohorts.audit import (
    ENTRY_REASON,
    ConcurrentEdit,
    check_new_audited,
    ensure_unlocked,
    ensure_writable,
    insert_audited,
    record_factory,
    require_reason,
    update_versioned,
)
from cohorts.audit import save_audited as _save_audited
from cohorts.clock import site_zone
from cohorts.field_checks import FieldChecks
from cohorts.models import Patient, PatientFreeze
from ecrf import checks
from ecrf.checks import Issue
from ecrf.crfs import CATALOGUE, DAY_FORMS, EVENT_FORMS, Crf, Record
from ecrf.models import DispositionEvent, DispositionKind, DrugAdministration, VentilationEpisode
from ecrf.validators import PatientFacts, day_issues, day_issues_each, is_blank, issues_error, listed, refusals

# ------------------------------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class RecordInput:
    """One form as submitted: canonical-unit values, confirmed soft-check codes, the version it was opened at, and
    what is missing and why (clinical definitions §2.2).

    expected_version None means "this form was empty when opened": if a record exists meanwhile, somebody
    else entered it and the save is refused.
    missing_codes: field -> MissingCode value given instead of that field's value: the record's codes as a whole
    (a stored code left out is removed). not_done_reason: non-empty when the whole one-per-day form is marked not
    done that day (then there is no value and no code); a reason of spaces only is a mark without a reason, refused.
    """

    values: Mapping[str, Any]
    confirmed_checks: frozenset[str] = field(default_factory=frozenset)
    expected_version: int | None = None
    missing_codes: Mapping[str, str] = field(default_factory=dict)
    not_done_reason: str = ""

    @property
    def not_done(self) -> str | None:
        """The reason the form is marked not done, or None when it is not marked (the checks' convention)."""
        return None if self.not_done_reason == "" else self.not_done_reason

    def is_empty(self, crf: Crf) -> bool:
        """Nothing to store: no value, no code, not marked not done."""
        return crf.is_empty(self.values, self.missing_codes, self.not_done)

    def state(self) -> dict[str, Any]:
        """The record's fields as this entry sets them: its values, its codes, its mark "not done"."""
        return {
            **self.values,
            "missing_codes": dict(self.missing_codes),
            "not_done_reason": (self.not_done_reason or "").strip(),
        }


class PatientDayInvalid(ValidationError):
    """Some forms of a patient-day were refused; nothing of the day was saved. `errors` maps form key -> error.

    `reason`: the one refusal for a missing reason for change, naming every form that changes saved data
    (ValidationError on "reason"), or None; each of those forms' errors says so too.
    """

    def __init__(self, errors: Mapping[str, ValidationError], reason: ValidationError | None = None):
        self.errors = dict(errors)
        self.reason = reason
        super().__init__([m for e in self.errors.values() for m in e.messages], code="patient_day_invalid")


def _reason_missing(error: ValidationError) -> bool:
    return any(e.code == "reason_required" for e in getattr(error, "error_dict", {}).get("reason", []))


def _day_invalid(errors: dict[str, ValidationError]) -> PatientDayInvalid:
    """The refusal of a day, with one message naming (by their catalogue labels) the forms that need a reason."""
    missing = [key for key in DAY_FORMS if key in errors and _reason_missing(errors[key])]  # in page order
    if not missing:
        return PatientDayInvalid(errors)
    names = listed([str(DAY_FORMS[key].label) for key in missing])
    reason = ValidationError(
        _("Give a reason for changing saved data: %(forms)s.") % {"forms": names}, code="reason_required"
    )
    note = ValidationError(
        _("This form changes saved data: give the reason for change below the forms."), code="reason_required"
    )
    for key in missing:
        errors[key] = ValidationError({NON_FIELD_ERRORS: [note], "reason": [reason]})
    return PatientDayInvalid(errors, reason=ValidationError({"reason": [reason]}))


def _show(value: Any) -> str:
    if value in (None, "", {}):
        return _("empty")
    if isinstance(value, dict):  # missing-data codes
        return ", ".join(f"{name} {code}" for name, code in sorted(value.items()))
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Decimal):
        return checks.format_number(value)
    return str(value)


def _conflict(model: type[models.Model], changes: Iterable[tuple[str, Any, Any]]) -> ValidationError:
    """The refusal of a stale save, naming what the other person changed (verbose names, plain values)."""
    meta = model._meta
    what = "; ".join(
        _("%(field)s is now %(new)s (you started from %(old)s)")
        % {"field": meta.get_field(name).verbose_name, "new": _show(new), "old": _show(old)}
        for name, old, new in changes
        if name not in ("confirmed_checks",)
    )
    if what:
        message = _(
            "Someone else saved this %(form)s record after you opened it: %(changes)s. Nothing of yours was saved. "
            "Reload the page to see their values, then enter your change again."
        ) % {"form": meta.verbose_name, "changes": what}
    else:
        message = _(
            "Someone else saved this %(form)s record after you opened it. Nothing of yours was saved. Reload the "
            "page to see their values, then enter your change again."
        ) % {"form": meta.verbose_name}
    return ValidationError({NON_FIELD_ERRORS: [ValidationError(message, code="concurrent_edit")]})


def _audit(instance: models.Model, *, user, reason: str | None) -> models.Model:
    return _save_audited(instance, user=user, reason=reason, validate_db=False)


def _gone(model: type[models.Model]) -> ValidationError:
    message = _(
        "Someone else deleted this %(form)s record after you opened it; nothing of yours was saved. Reload the page."
    ) % {"form": model._meta.verbose_name}
    return ValidationError({NON_FIELD_ERRORS: [ValidationError(message, code="concurrent_edit")]})


def _stale(model: type[models.Model], pk: int, entry: RecordInput) -> ValidationError | None:
    """The refusal of a save started from an older version, naming the fields changed since then.

    None when the submitted values are those of the version the page was opened at: the user changed
    nothing in this form, so someone else's newer values are kept and nothing is refused.
    """
    stored = model.objects.get(pk=pk)
    opened = model.history.filter(id=pk, version=entry.expected_version).first()
    if opened is None:
        return _conflict(model, [])
    submitted = entry.state()
    if all(getattr(opened, n) == v for n, v in submitted.items()):
        return None
    return _conflict(
        model,
        [(n, getattr(opened, n), getattr(stored, n)) for n in submitted if getattr(opened, n) != getattr(stored, n)],
    )


def _fills_blanks(crf: Crf, codes: Mapping[str, str], stored: models.Model, changed: Iterable[str]) -> bool:
    """Whether a save only completes a record: every field that changes was blank (a unit counts as blank while
    its value is; a confirmation of a soft check changes no value), and every missing-data code stays as it was
    (``codes``: the codes after the save; a code given to a field left blank completes it too). Completing the
    day-0 values carried from the screening (clinical definitions §1.3) is entry, not a change of saved data
    (docs/architecture.md §3); changing or removing a code, or the mark "not done", is a change."""
    for name in changed:
        if name == "missing_codes":
            if all(codes.get(field) == code for field, code in stored.missing_codes.items()):
                continue
            return False
        if name == "confirmed_checks" or is_blank(getattr(stored, name)):
            continue
        value_field = _value_of_unit(crf, name)
        if value_field is not None and is_blank(getattr(stored, value_field)):
            continue
        return False
    return True


def _value_of_unit(crf: Crf, name: str) -> str | None:
    """The value field of an entered-unit field (pao2_entered_unit -> pao2_mmhg), None for other fields."""
    if not name.endswith("_entered_unit"):
        return None
    prefix = name.removesuffix("entered_unit")
    return next((field for field in crf.value_fields if field.startswith(prefix)), None)


def _check_fields(crf: Crf, values: Mapping[str, Any]) -> None:
    unknown = set(values) - set(crf.fields)
    if unknown:
        raise ValueError(f"{crf.model.__name__} has no form field {', '.join(sorted(unknown))}")


def _write(
    crf: Crf,
    *,
    patient: Patient,
    current: tuple[int, int | None] | None,
    entry: RecordInput,
    fixed: Mapping[str, Any],
    facts: PatientFacts,
    user,
    reason: str | None,
    extra_issues: Iterable[Issue] = (),
    entry_reason: str | None = None,
) -> models.Model | None:
    """Create, update or (all values cleared) delete one record. Callers hold transaction.atomic.

    current: (pk, version as just read or None if not read) of the stored record the entry is about, or None.
    entry_reason: when given, the history reason of a created record and of a completion (only blank fields
    filled), which need no reason; `reason` is then only for changes of saved data. When None, `reason` is
    recorded on every write.
    """
    model = crf.model
    _check_fields(crf, entry.values)
    values = dict(entry.values)
    state = entry.state()
    empty = entry.is_empty(crf)
    if current is None:
        if empty:
            return None  # nothing entered (or deleted by someone else and cleared here too)
        if entry.expected_version is not None:
            raise _gone(model)
    else:
        pk, version = current
        if entry.expected_version is None:  # the form was blank when opened: someone entered it meanwhile
            if empty:
                return None
            stored = model.objects.get(pk=pk)
            raise _conflict(model, [(n, None, getattr(stored, n)) for n in state if getattr(stored, n) != state[n]])
        if version is not None and version != entry.expected_version:
            conflict = _stale(model, pk, entry)
            if conflict is None:
                return None
            raise conflict
        if empty:
            return _delete(model, pk=pk, expected_version=entry.expected_version, user=user, reason=reason)

    issues = crf.issues(values, facts, missing_codes=entry.missing_codes, not_done_reason=entry.not_done)
    refused, confirmed = refusals([*extra_issues, *issues], entry.confirmed_checks)
    if refused:
        raise issues_error(refused)
    if current is None:
        record = model(patient=patient, **fixed, **state, confirmed_checks=confirmed)
        return _audit(record, user=user, reason=reason if entry_reason is None else entry_reason)
    completion = (
        {}
        if entry_reason is None
        else {"is_entry": partial(_fills_blanks, crf, state["missing_codes"]), "entry_reason": entry_reason}
    )
    try:
        return update_versioned(
            model(pk=current[0]),
            changes={**state, "confirmed_checks": confirmed},
            expected_version=entry.expected_version,
            user=user,
            reason=reason,
            validate_db=False,
            **completion,
        )
    except ConcurrentEdit as exc:  # saved by someone else since the page was opened
        raise _conflict(model, exc.changes) from exc


def _delete(model: type[models.Model], *, pk: int, expected_version: int, user, reason: str | None) -> None:
    """Delete an audited record: same version check as an edit, a reason, and a history row saying who."""
    try:
        current = update_versioned(
            model(pk=pk), changes={}, expected_version=expected_version, user=user, reason=reason
        )
    except ConcurrentEdit as exc:
        raise _conflict(model, exc.changes) from exc
    current._change_reason = require_reason(current, reason)
    current._history_user = user
    current.delete()
    return None


def _refuse_integrity(exc: IntegrityError) -> ValidationError:
    return ValidationError(
        _(
            "Someone else saved the same record at the same moment, or a value broke a database rule; nothing of "
            "yours was saved. Reload the page and check the values."
        ),
        code="integrity",
    )


def _day_state(patient: Patient, study_day: int) -> tuple[dict[str, tuple[int, int]], int | None]:
    """The (pk, version) of each stored one-per-day form and the day of death, in one query."""
    parts = [
        model.objects.filter(patient=patient, study_day=study_day).values_list(Value(key), "pk", "version")
        for key, model in ((key, crf.model) for key, crf in DAY_FORMS.items())
    ]
    death = DispositionEvent.objects.filter(patient=patient, kind=DispositionKind.DEATH).values_list(
        Value("death"), "pk", "study_day"
    )
    rows = list(parts[0].union(*parts[1:], death, all=True))
    current = {key: (pk, version) for key, pk, version in rows if key != "death"}
    death_days = [day for key, _, day in rows if key == "death"]
    return current, min(death_days) if death_days else None


def patient_day_save(
    *,
    patient: Patient,
    study_day: int,
    entries: Mapping[str, RecordInput],
    user,
    reason: str | None = None,
    entry_reason: str = ENTRY_REASON,
) -> dict[str, models.Model | None]:
    """Save the one-per-day forms of one patient-day together: all of them, or none (PatientDayInvalid).

    entries: form key (of crfs.DAY_FORMS) -> RecordInput; a key left out is not touched.
    reason: the reason for change, required for (and recorded on) the forms that change or clear saved values.
    entry_reason: recorded on the records created and on those only completed (blank fields filled, e.g. the
    day-0 values carried from the screening): no reason is asked for entry ("initial entry"; an import names
    its file). A reason typed for one form is never stamped on another form's new record.
    Returns form key -> the saved record (None: empty form, nothing stored, or record deleted).
    """
    unknown = set(entries) - set(DAY_FORMS)
    if unknown:
        raise ValueError(f"unknown daily forms: {', '.join(sorted(unknown))}")
    for key, entry in entries.items():
        _check_fields(DAY_FORMS[key], entry.values)
    errors: dict[str, ValidationError] = {}
    saved: dict[str, models.Model | None] = {}
    try:
        with transaction.atomic():
            ensure_writable(patient)
            current, death_day = _day_state(patient, study_day)
            facts = PatientFacts.of(patient, death_day)
            writes = {
                key: entry
                for key, entry in entries.items()
                if key in current or not entry.is_empty(DAY_FORMS[key]) or entry.expected_version is not None
            }
            refused = day_issues(study_day, facts)
            # Clearing a record (a deletion) stays possible on any day, e.g. data entered after a death.
            if refused and any(not entry.is_empty(DAY_FORMS[key]) for key, entry in writes.items()):
                raise issues_error([Issue(None, i.level, i.code, i.message) for i in refused])
            for key, entry in writes.items():
                try:
                    saved[key] = _write(
                        DAY_FORMS[key],
                        patient=patient,
                        current=current.get(key),
                        entry=entry,
                        fixed={"study_day": study_day},
                        facts=facts,
                        user=user,
                        reason=reason,
                        entry_reason=entry_reason,
                    )
                except ValidationError as exc:
                    errors[key] = exc
            if errors:
                raise _day_invalid(errors)
    except IntegrityError as exc:
        raise _refuse_integrity(exc) from exc
    return saved


def day_record_save(
    *,
    form: str,
    patient: Patient,
    study_day: int,
    entry: RecordInput,
    user,
    reason: str | None = None,
    entry_reason: str = ENTRY_REASON,
) -> models.Model | None:
    """Save one one-per-day form (a key of crfs.DAY_FORMS) of a patient-day; its refusal is a ValidationError."""
    try:
        saved = patient_day_save(
            patient=patient,
            study_day=study_day,
            entries={form: entry},
            user=user,
            reason=reason,
            entry_reason=entry_reason,
        )
    except PatientDayInvalid as exc:
        raise exc.errors[form] from exc
    return saved.get(form)


@dataclass(frozen=True)
class NewDayRecord:
    """One record of a one-per-day form to create (``day_records_create``), with the history reason of its entry."""

    patient: Patient
    study_day: int
    entry: RecordInput
    reason: str = ENTRY_REASON


def day_records_create(
    *, form: str, records: Sequence[NewDayRecord], user
) -> list[models.Model | ValidationError | None]:
    """Create many records of one one-per-day form (a key of crfs.DAY_FORMS) at once, for an import of a whole study.

    Each record gets exactly what ``day_record_save`` gives it: the same checks and refusals, a history row with its
    user and reason, the derivation and the record status after the commit. The reads are one query per step for all
    records, the writes a few bulk inserts, instead of about ten statements a record. A record that is not a plain
    new entry (its patient-day already has one of the form, its patient's casebook is frozen, it is empty) goes
    through ``day_record_save`` itself, and so do all of them when the bulk insert breaks a database rule that the
    checks do not run (each then gets its own refusal). Returns, in order, the saved record, its refusal, or None
    (empty).
    Callers hold transaction.atomic; the study must be unlocked (StudyLocked is raised for the call).
    """
    crf = DAY_FORMS[form]
    keys = [(record.patient.pk, record.study_day) for record in records]  # (patient pk, study day)
    patients = {pk: record.patient for (pk, _day), record in zip(keys, records, strict=True)}
    frozen, deaths = _bulk_state(patients)
    days = set(keys)
    if len(days) != len(records):
        raise ValueError("a patient-day is given twice")
    stored = set(crf.model.objects.filter(patient__in=patients).values_list("patient", "study_day").iterator()) & days
    facts = {pk: PatientFacts.of(patient, deaths.get(pk, (None, None))[0]) for pk, patient in patients.items()}
    results: list[models.Model | ValidationError | None] = [None] * len(records)
    plain: list[int] = []  # positions of the plain new entries, checked together
    for position, (new, key) in enumerate(zip(records, keys, strict=True)):
        _check_fields(crf, new.entry.values)
        if key[0] in frozen or key in stored or new.entry.is_empty(crf):
            results[position] = _one_day_record(form, new, user=user)
        else:
            plain.append(position)
    # A day refused (before day 0, after follow-up, death or today) is the record's refusal; the others' forms are
    # checked together.
    days_found = day_issues_each([records[p].study_day for p in plain], [facts[keys[p][0]] for p in plain])
    for position, day_refused in zip(plain, days_found, strict=True):
        if day_refused:
            results[position] = issues_error([Issue(None, i.level, i.code, i.message) for i in day_refused])
    dated = [position for position, day_refused in zip(plain, days_found, strict=True) if not day_refused]
    built = _check_and_build(crf, dated, records, [facts[keys[p][0]] for p in dated], results)
    _insert_built(crf, results, built, records, partial(_one_day_record, form, user=user), user)
    return results


def _check_and_build(
    crf: Crf, positions: list[int], records: Sequence, facts: list[PatientFacts], results: list
) -> list[int]:
    """The plain new records at ``positions`` (their patients' ``facts`` in the same order), checked together
    (Crf.issues_each): a refused one gets its refusal in ``results``, an accepted one its unsaved record, built as
    its one-by-one save builds it. Returns the positions built, to insert in bulk once their fields pass full_clean."""
    found = crf.issues_each(
        [
            Record(records[p].entry.values, f, records[p].entry.missing_codes, records[p].entry.not_done)
            for p, f in zip(positions, facts, strict=True)
        ]
    )
    build = record_factory(crf.model)
    built = []
    for position, issues in zip(positions, found, strict=True):
        new = records[position]
        refused, confirmed = refusals(issues, new.entry.confirmed_checks)
        if refused:
            results[position] = issues_error(refused)
            continue
        dated = {"study_day": new.study_day} if crf.per_day else {}  # a repeating form's day is in its entry
        results[position] = build(patient=new.patient, **dated, **new.entry.state(), confirmed_checks=confirmed)
        built.append(position)
    return built


def _bulk_state(patients: Mapping[int, Patient]) -> tuple[set[int], dict[int, tuple[int, Any]]]:
    """What a bulk service reads once for all its patients (by pk): the ones whose casebook is frozen, and the
    (study day, time) of each one's death. StudyLocked is raised when a study of theirs is locked."""
    for study in {patient.study for patient in patients.values()}:
        ensure_unlocked(study)
    frozen = set(
        PatientFreeze.objects.filter(patient__in=patients, unfrozen_at__isnull=True).values_list("patient", flat=True)
    )
    deaths: dict[int, tuple[int, Any]] = {}
    rows = DispositionEvent.objects.filter(patient__in=patients, kind=DispositionKind.DEATH).order_by("study_day", "pk")
    for patient, day, at in rows.values_list("patient", "study_day", "occurred_at"):
        deaths.setdefault(patient, (day, at))  # the earliest
    return frozen, deaths


def _insert_built(
    crf: Crf,
    results: list,
    built: list[int],
    records: Sequence[NewDayRecord | NewEventRecord],
    one: Callable[[Any], models.Model | ValidationError | None],
    user,
) -> None:
    """The records built by a bulk service (at positions ``built`` of its ``results``, from ``records``) checked as
    _audit checks them and inserted together with their history rows (with each record's reason). When the insert
    breaks a database rule the checks do not run, each one is saved on its own by ``one`` (the one-record service,
    its result or refusal) and gets its own refusal."""
    created = check_new_audited(  # as _audit
        results,
        built,
        user=user,
        reasons=[records[position].reason for position in built],
        checks=FieldChecks(crf.model),
    )
    if created:
        try:
            insert_audited(crf.model, [results[position] for position in created], user)
        except IntegrityError:  # a database rule the checks do not run: each one on its own, with its refusal
            for position in created:
                results[position] = one(records[position])


def _one_day_record(form: str, new: NewDayRecord, *, user) -> models.Model | ValidationError | None:
    try:
        return day_record_save(
            form=form, patient=new.patient, study_day=new.study_day, entry=new.entry, user=user, entry_reason=new.reason
        )
    except ValidationError as exc:
        return exc


# ------------------------------------------------------------------------------------------- event records


def _death_events(patient: Patient) -> list[tuple[int, int, Any]]:
    """(pk, study day, time or None) of the patient's death records."""
    return list(
        DispositionEvent.objects.filter(patient=patient, kind=DispositionKind.DEATH).values_list(
            "pk", "study_day", "occurred_at"
        )
    )


def _episode_rules(patient: Patient, values: Mapping[str, Any], record_pk: int | None) -> list[Issue]:
    """A patient's ventilation episodes never overlap (clinical definitions §2.3): a re-intubation is a new episode
    after the end of the previous one. Two episodes are compared by their times when both times of the comparison
    are known, else by their days (an extubation and a re-intubation on the same day do not overlap)."""
    day = values.get("study_day")
    if day is None:
        return []
    episode = (day, values.get("intubated_at"), values.get("end_day"), values.get("ended_at"))
    others = (
        VentilationEpisode.objects.filter(patient=patient)
        .exclude(pk=record_pk)
        .order_by("study_day")
        .values_list("study_day", "intubated_at", "end_day", "ended_at")
    )
    for other in others:
        if not (_ends_before(other, episode) or _ends_before(episode, other)):
            if other[2] is None:
                message = _(
                    "The episode from study day %(day)s has no end yet: record its extubation (or how it ended) "
                    "before a new episode."
                ) % {"day": other[0]}
            else:
                message = _(
                    "This episode overlaps the episode of study days %(start)s to %(end)s: a re-intubation starts "
                    "after the end of the previous episode."
                ) % {"start": other[0], "end": other[2]}
            return [Issue("study_day", checks.HARD, "study_day.episode_overlap", message)]
    return []


def _ends_before(first: tuple, second: tuple) -> bool:
    """Whether episode ``first`` (start day, start time, end day, end time) ends before ``second`` starts."""
    end_day, end_time = first[2], first[3]
    if end_day is None:
        return False  # ongoing
    if end_time is not None and second[1] is not None:
        return end_time <= second[1]
    return end_day <= second[0]


def _disposition_rules(patient: Patient, values: Mapping[str, Any], record_pk: int | None) -> list[Issue]:
    """Rules of a disposition event that look at the patient's other records."""
    day, kind = values.get("study_day"), values.get("kind")
    if day is None or not kind:
        return []
    issues = []
    others = DispositionEvent.objects.filter(patient=patient).exclude(pk=record_pk)
    if others.filter(study_day=day, kind=kind).exists():
        label = str(DispositionKind(kind).label).lower()
        message = _("A %(kind)s is already recorded on study day %(day)s.") % {"kind": label, "day": day}
        issues.append(Issue("kind", checks.HARD, "kind.duplicate", message))
    if kind == DispositionKind.DEATH:
        earlier = others.filter(kind=DispositionKind.DEATH).values_list("study_day", flat=True).first()
        if earlier is not None:
            message = _("A death is already recorded on study day %(day)s.") % {"day": earlier}
            issues.append(Issue("kind", checks.HARD, "kind.second_death", message))
            return issues
        later = [
            _("%(form)s on day %(day)s") % {"form": model._meta.verbose_name, "day": d}
            for model in (crf.model for crf in CATALOGUE.values())
            for d in model.objects.filter(patient=patient, study_day__gt=day)
            .exclude(pk=record_pk if model is DispositionEvent else None)
            .values_list("study_day", flat=True)[:1]
        ]
        if later:
            issues.append(
                Issue(
                    "study_day",
                    checks.HARD,
                    "study_day.data_after_death",
                    _(
                        "Data are recorded after study day %(day)s (%(records)s): correct those records first, there "
                        "can be no data after the day of death."
                    )
                    % {"day": day, "records": ", ".join(later)},
                )
            )
        elif values.get("occurred_at") is not None:
            issues += _times_after_death(patient, values["occurred_at"])
    return issues


def _times_after_death(patient: Patient, death_at) -> list[Issue]:
    """A death's time is not before a dose or an intubation of the patient recorded at a later time."""
    later = [
        _("%(form)s at %(time)s")
        % {"form": model._meta.verbose_name, "time": checks.time_text(at, site_zone(patient.site))}
        for model, name in ((DrugAdministration, "started_at"), (VentilationEpisode, "intubated_at"))
        for at in model.objects.filter(patient=patient, **{f"{name}__gt": death_at}).values_list(name, flat=True)[:1]
    ]
    if not later:
        return []
    message = _(
        "Data are recorded after this time (%(records)s): correct those records first, there can be no data after "
        "the death."
    ) % {"records": ", ".join(later)}
    return [Issue("occurred_at", checks.HARD, "occurred_at.data_after_death", message)]


def _no_rules(patient: Patient, values: Mapping[str, Any], record_pk: int | None) -> list[Issue]:
    return []


#: The rules of a repeating form that look at the patient's other records.
_CROSS_RECORD_RULES = {DispositionEvent: _disposition_rules, VentilationEpisode: _episode_rules}


def event_save(
    *,
    form: str,
    patient: Patient,
    entry: RecordInput,
    user,
    record: models.Model | None = None,
    reason: str | None = None,
) -> models.Model:
    """Create or change one record of a repeating form (a key of crfs.EVENT_FORMS: drugs, dispositions, AEs)."""
    crf = EVENT_FORMS[form]
    if record is not None and record.patient_id != patient.pk:
        raise ValueError("the record belongs to another patient")
    if entry.is_empty(crf):
        raise ValidationError(_("Fill in the form: an empty record cannot be saved."), code="empty")
    record_pk = record.pk if record is not None else None
    try:
        with transaction.atomic():
            ensure_writable(patient)
            deaths = sorted(((day, at) for pk, day, at in _death_events(patient) if pk != record_pk), key=itemgetter(0))
            death_day, death_at = deaths[0] if deaths else (None, None)
            facts = PatientFacts.of(patient, death_day, death_at=death_at)
            extra = _CROSS_RECORD_RULES.get(crf.model, _no_rules)(patient, entry.values, record_pk)
            saved = _write(
                crf,
                patient=patient,
                current=(record_pk, None) if record is not None else None,
                entry=entry,
                fixed={},
                facts=facts,
                user=user,
                reason=reason,
                extra_issues=extra,
            )
    except IntegrityError as exc:
        raise _refuse_integrity(exc) from exc
    return saved


@dataclass(frozen=True)
class NewEventRecord:
    """One record of a repeating form to create (``event_records_create``), with the history reason of its entry."""

    patient: Patient
    entry: RecordInput
    reason: str = ENTRY_REASON


def event_records_create(*, form: str, records: Sequence[NewEventRecord], user) -> list[models.Model | ValidationError]:
    """Create many records of one repeating form (a key of crfs.EVENT_FORMS) at once, for an import of a whole study.

    Each record gets exactly what ``event_save`` gives a new record: the same checks and refusals, a history row
    with its user and reason, the derivation and the record status after the commit; the reads are one query per
    step for all records and the writes a few bulk inserts. Records go through ``event_save`` one by one, in order,
    when their form has rules that look at the patient's other records (dispositions, ventilation episodes: each
    record must see the ones before it), and so does a record that is not a plain new entry (its patient's casebook
    is frozen, it is empty, or it names a version), and every record when the bulk insert breaks a database rule
    that the checks do not run. Returns, in order, the saved record or its refusal.
    Callers hold transaction.atomic; the study must be unlocked (StudyLocked is raised for the call).
    """
    crf = EVENT_FORMS[form]
    if crf.model in _CROSS_RECORD_RULES:
        return [_one_event_record(form, new, user=user) for new in records]
    patients = {record.patient.pk: record.patient for record in records}
    frozen, deaths = _bulk_state(patients)
    facts = {}
    for pk, patient in patients.items():
        death_day, death_at = deaths.get(pk, (None, None))
        facts[pk] = PatientFacts.of(patient, death_day, death_at=death_at)
    results: list = [None] * len(records)
    plain: list[int] = []  # positions of the plain new records, checked together
    for position, new in enumerate(records):
        _check_fields(crf, new.entry.values)
        if new.patient.pk in frozen or new.entry.expected_version is not None or new.entry.is_empty(crf):
            results[position] = _one_event_record(form, new, user=user)
        else:
            plain.append(position)
    built = _check_and_build(crf, plain, records, [facts[records[p].patient.pk] for p in plain], results)
    _insert_built(crf, results, built, records, partial(_one_event_record, form, user=user), user)
    return results


def _one_event_record(form: str, new: NewEventRecord, *, user) -> models.Model | ValidationError:
    try:
        return event_save(form=form, patient=new.patient, entry=new.entry, user=user, reason=new.reason)
    except ValidationError as exc:
        return exc


def record_delete(*, record: models.Model, expected_version: int, user, reason: str | None) -> None:
    """Delete one daily record (wrong patient or day): version-checked, with a reason, audited."""
    model = type(record)
    if model not in (crf.model for crf in CATALOGUE.values()):
        raise ValueError(f"{model.__name__} is not a daily case report form")
    with transaction.atomic():
        ensure_writable(record.patient)
        _delete(model, pk=record.pk, expected_version=expected_version, user=user, reason=reason)
