"""Every write of daily case report data (SPEC 2): keyword-only, atomic, checked and audited (DESIGN.md).

The edit checks of SPEC 2.1 (ecrf/checks.py) run here on canonical-unit values, for every caller: the entry
pages and any importer. The forms run the same `*_issues` functions in clean() so that each message appears
next to its field before anything is sent here; the service runs them again because it is the only way into
the tables. Hard issues refuse the save; soft issues refuse it unless their code is in `confirmed_checks`,
and the confirmed codes that applied are stored on the record.

Because these checks mirror every CHECK constraint of ecrf/models.py, records are saved with
`validate_db=False`: full_clean() would otherwise run one SELECT per constraint, and the database enforces
them anyway (an IntegrityError becomes a clear refusal, never a server error).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, models, transaction
from django.db.models import Value

from cohorts.audit import ConcurrentEdit, ensure_unlocked, require_reason, update_versioned
from cohorts.audit import save_audited as _save_audited
from cohorts.models import Patient
from ecrf import checks
from ecrf.checks import Issue
from ecrf.models import (
    AdverseEvent,
    AdverseEventKind,
    DispositionEvent,
    DispositionKind,
    Drug,
    DrugAdministration,
    LabResult,
    RespiratorySupport,
    VitalSigns,
)

# ------------------------------------------------------------------------------------------------- fields

# The fields each form writes, in the order of the page. `VALUE_FIELDS` are the observations: a form whose
# values are all empty stores nothing (units, the site's ULN and the D-dimer basis alone are not data).
FIELDS: dict[type[models.Model], tuple[str, ...]] = {
    VitalSigns: (
        "temperature_c",
        "heart_rate_bpm",
        "respiratory_rate_bpm",
        "systolic_mmhg",
        "diastolic_mmhg",
        "spo2_pct",
    ),
    RespiratorySupport: (
        "support",
        "flow_l_min",
        "fio2",
        "peep_cmh2o",
        "niv_hours",
        "ecmo",
        "prone",
        "vasopressors",
        "rrt",
    ),
    LabResult: (
        "pao2_mmhg",
        "pao2_entered_unit",
        "abg_fio2",
        "crp_mg_l",
        "crp_entered_unit",
        "ferritin_ng_ml",
        "ldh_u_l",
        "ast_u_l",
        "ast_uln_u_l",
        "alt_u_l",
        "alt_uln_u_l",
        "lymphocytes_10e9_l",
        "ddimer_ng_ml",
        "ddimer_basis",
        "procalcitonin_ng_ml",
    ),
    DrugAdministration: ("study_day", "drug", "drug_detail", "dose", "dose_unit", "route", "frequency", "stop_day"),
    DispositionEvent: ("study_day", "kind", "normal_activities", "alive", "cause_of_death"),
    AdverseEvent: ("study_day", "kind", "organism", "description", "serious"),
}
NOT_VALUES = frozenset({"pao2_entered_unit", "crp_entered_unit", "ast_uln_u_l", "alt_uln_u_l", "ddimer_basis"})
VALUE_FIELDS = {model: tuple(f for f in names if f not in NOT_VALUES) for model, names in FIELDS.items()}

# The one-per-day forms of the entry page, by the key the page and the importer use.
DAY_FORMS: dict[str, type[models.Model]] = {"vitals": VitalSigns, "support": RespiratorySupport, "labs": LabResult}

# Fields whose limits are named differently in ecrf/checks.py LIMITS.
LIMIT_NAMES = {"niv_hours": "hours_on_niv", "abg_fio2": "fio2"}
RANGE_FIELDS: dict[type[models.Model], tuple[str, ...]] = {
    VitalSigns: FIELDS[VitalSigns],
    RespiratorySupport: ("flow_l_min", "fio2", "peep_cmh2o", "niv_hours"),
    LabResult: (
        "pao2_mmhg",
        "abg_fio2",
        "crp_mg_l",
        "ferritin_ng_ml",
        "ldh_u_l",
        "ast_u_l",
        "alt_u_l",
        "lymphocytes_10e9_l",
        "procalcitonin_ng_ml",
    ),
    DrugAdministration: ("dose",),
}

# Disposition events after which no daily form is due (the follow-up of that patient has ended).
ENDS_DAILY_FORMS = frozenset(
    {DispositionKind.DEATH, DispositionKind.DISCHARGED, DispositionKind.WITHDRAWAL, DispositionKind.LOST}
)
NAMED_DRUGS = frozenset({Drug.ANTIBIOTIC, Drug.GLUCOCORTICOID, Drug.OTHER_IL6})


def is_empty(model: type[models.Model], values: Mapping[str, Any]) -> bool:
    # `is`, not `in (None, "", False)`: a measured 0 (CRP 0 mg/L) equals False but is a value.
    return all(_blank(values.get(name)) for name in VALUE_FIELDS[model])


def _blank(value: Any) -> bool:
    return value is None or value is False or (isinstance(value, str) and not value.strip())


# ------------------------------------------------------------------------------------------------- checks


@dataclass(frozen=True)
class PatientFacts:
    """What the checks of one form need to know about the patient and the other forms."""

    follow_up_days: int
    death_day: int | None = None
    weight_kg: Decimal | None = None
    regimen: tuple[Mapping[str, Any], ...] = ()

    @classmethod
    def of(cls, patient: Patient, death_day: int | None) -> PatientFacts:
        return cls(
            follow_up_days=patient.study.follow_up_days,
            death_day=death_day,
            weight_kg=patient.weight_kg,
            regimen=tuple(patient.arm.regimen or ()),
        )


def _ranges(model: type[models.Model], values: Mapping[str, Any]) -> list[Issue]:
    issues = []
    for name in RANGE_FIELDS.get(model, ()):
        issue = checks.check_value(LIMIT_NAMES.get(name, name), values.get(name))
        if issue is not None:
            issues.append(Issue(name, issue.level, issue.code, issue.message))
    return issues


def _on(field_name: str, issues: Iterable[Issue]) -> list[Issue]:
    """Issues of a cross-form rule, attached to the field of this form they are about."""
    return [Issue(field_name, i.level, i.code, i.message) for i in issues]


def _required(field_name: str, message: str) -> Issue:
    return Issue(field_name, checks.HARD, f"{field_name}.required", message)


def day_issues(study_day: int, facts: PatientFacts) -> list[Issue]:
    """Cross-form checks of any record of a study day (SPEC 2.1), not tied to one field of a daily form."""
    return checks.check_within_follow_up(study_day, facts.follow_up_days) + checks.check_after_death(
        study_day, facts.death_day
    )


def vital_signs_issues(values: Mapping[str, Any], facts: PatientFacts | None = None) -> list[Issue]:
    return _ranges(VitalSigns, values) + checks.check_blood_pressure(
        values.get("systolic_mmhg"), values.get("diastolic_mmhg")
    )


def respiratory_support_issues(values: Mapping[str, Any], facts: PatientFacts | None = None) -> list[Issue]:
    issues = _ranges(RespiratorySupport, values)
    support = values.get("support") or None
    if support is None:
        if not is_empty(RespiratorySupport, {**values, "support": None}):
            issues.append(_required("support", "Choose the highest level of respiratory support of the day."))
        return issues
    bad_range = {i.field for i in issues}
    issues += [
        i
        for i in checks.check_respiratory_support(
            support, values.get("fio2"), values.get("flow_l_min"), values.get("peep_cmh2o")
        )
        if i.field not in bad_range
    ]
    return issues


def lab_result_issues(values: Mapping[str, Any], facts: PatientFacts | None = None) -> list[Issue]:
    issues = _ranges(LabResult, values)
    if values.get("ddimer_ng_ml") is not None and not values.get("ddimer_basis"):
        issues.append(_required("ddimer_basis", "Give the D-dimer's unit basis (FEU or DDU) as the report states."))
    return issues


def drug_administration_issues(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    issues = _ranges(DrugAdministration, values)
    drug, unit, stop_day, day = (
        values.get("drug"),
        values.get("dose_unit"),
        values.get("stop_day"),
        values.get("study_day"),
    )
    if drug in NAMED_DRUGS and not (values.get("drug_detail") or "").strip():
        issues.append(_required("drug_detail", "Name the drug (e.g. ceftriaxone, dexamethasone)."))
    issues += _on("dose_unit", checks.check_weight_based_dose(unit, facts.weight_kg))
    if stop_day is not None and day is not None and stop_day < day:
        issues.append(
            Issue("stop_day", checks.HARD, "stop_day.before_start", "The stop day cannot be before the start day.")
        )
    elif stop_day is not None:
        issues += _on("stop_day", checks.check_within_follow_up(stop_day, facts.follow_up_days))
        issues += _on("stop_day", checks.check_after_death(stop_day, facts.death_day))
    if not any(i.field == "dose" for i in issues):
        for regimen in facts.regimen:
            issues += checks.check_regimen(drug, values.get("dose"), unit, values.get("route"), regimen)
    return issues


def disposition_event_issues(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    kind, issues = values.get("kind"), []
    if kind == DispositionKind.DEATH and not (values.get("cause_of_death") or "").strip():
        issues.append(_required("cause_of_death", "Give the cause of death (or 'unknown')."))
    if kind == DispositionKind.DISCHARGED and values.get("normal_activities") is None:
        issues.append(_required("normal_activities", "Say whether the patient resumed normal activities at discharge."))
    if kind == DispositionKind.CONTACT and values.get("alive") is None:
        issues.append(_required("alive", "Say whether the patient was alive at the contact."))
    if kind != DispositionKind.DEATH and (values.get("cause_of_death") or "").strip():
        issues.append(
            Issue("cause_of_death", checks.HARD, "cause_of_death.not_death", "A cause of death only goes with a death.")
        )
    return issues


def adverse_event_issues(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    kind, issues = values.get("kind"), []
    if kind == AdverseEventKind.BACTERAEMIA and not (values.get("organism") or "").strip():
        issues.append(_required("organism", "Give the organism grown in the blood culture (or 'pending')."))
    if kind == AdverseEventKind.OTHER and not (values.get("description") or "").strip():
        issues.append(_required("description", "Describe the adverse event."))
    return issues


ISSUES = {
    VitalSigns: vital_signs_issues,
    RespiratorySupport: respiratory_support_issues,
    LabResult: lab_result_issues,
    DrugAdministration: drug_administration_issues,
    DispositionEvent: disposition_event_issues,
    AdverseEvent: adverse_event_issues,
}


def record_issues(model: type[models.Model], values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    """Every issue of one record: its own checks and, for the event forms, the study-day checks."""
    issues = ISSUES[model](values, facts)
    if "study_day" in FIELDS[model] and values.get("study_day") is not None:
        issues = _on("study_day", day_issues(values["study_day"], facts)) + issues
    return issues


def refusals(issues: Iterable[Issue], confirmed: Iterable[str]) -> tuple[list[Issue], list[str]]:
    """Split issues into those that refuse the save and the sorted codes of the confirmed soft ones."""
    confirmed = set(confirmed)
    refused, accepted = [], set()
    for issue in issues:
        if issue.needs_confirmation and issue.code in confirmed:
            accepted.add(issue.code)
        else:
            refused.append(issue)
    return refused, sorted(accepted)


def issues_error(issues: Iterable[Issue]) -> ValidationError:
    errors: dict[str, list[ValidationError]] = {}
    for issue in issues:
        errors.setdefault(issue.field or NON_FIELD_ERRORS, []).append(ValidationError(issue.message, code=issue.code))
    return ValidationError(errors)


# ------------------------------------------------------------------------------------------------- writes


@dataclass(frozen=True)
class RecordInput:
    """One form as submitted: canonical-unit values, confirmed soft-check codes, the version it was opened at.

    expected_version None means "this form was empty when opened": if a record exists meanwhile, somebody
    else entered it and the save is refused.
    """

    values: Mapping[str, Any]
    confirmed_checks: frozenset[str] = field(default_factory=frozenset)
    expected_version: int | None = None


class PatientDayInvalid(ValidationError):
    """Some forms of a patient-day were refused; nothing of the day was saved. `errors` maps form key -> error."""

    def __init__(self, errors: Mapping[str, ValidationError]):
        self.errors = dict(errors)
        super().__init__([m for e in self.errors.values() for m in e.messages], code="patient_day_invalid")


def _show(value: Any) -> str:
    if value in (None, ""):
        return "empty"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return str(value)


def _conflict(model: type[models.Model], changes: Iterable[tuple[str, Any, Any]]) -> ValidationError:
    """The refusal of a stale save, naming what the other person changed (verbose names, plain values)."""
    meta = model._meta
    what = "; ".join(
        f"{meta.get_field(name).verbose_name} is now {_show(new)} (you started from {_show(old)})"
        for name, old, new in changes
        if name not in ("confirmed_checks",)
    )
    message = (
        f"Someone else saved this {meta.verbose_name} record after you opened it"
        + (f": {what}." if what else ".")
        + " Nothing of yours was saved. Reload the page to see their values, then enter your change again."
    )
    return ValidationError({NON_FIELD_ERRORS: [ValidationError(message, code="concurrent_edit")]})


def _audit(instance: models.Model, *, user, reason: str | None) -> models.Model:
    return _save_audited(instance, user=user, reason=reason, validate_db=False)


def _gone(model: type[models.Model]) -> ValidationError:
    message = (
        f"Someone else deleted this {model._meta.verbose_name} record after you opened it; nothing of yours was "
        "saved. Reload the page."
    )
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
    if all(getattr(opened, n) == v for n, v in entry.values.items()):
        return None
    names = entry.values
    return _conflict(
        model, [(n, getattr(opened, n), getattr(stored, n)) for n in names if getattr(opened, n) != getattr(stored, n)]
    )


def _check_fields(model: type[models.Model], values: Mapping[str, Any]) -> None:
    unknown = set(values) - set(FIELDS[model])
    if unknown:
        raise ValueError(f"{model.__name__} has no form field {', '.join(sorted(unknown))}")


def _write(
    model: type[models.Model],
    *,
    patient: Patient,
    current: tuple[int, int | None] | None,
    entry: RecordInput,
    fixed: Mapping[str, Any],
    facts: PatientFacts,
    user,
    reason: str | None,
    extra_issues: Iterable[Issue] = (),
) -> models.Model | None:
    """Create, update or (all values cleared) delete one record. Callers hold transaction.atomic.

    current: (pk, version as just read or None if not read) of the stored record the entry is about, or None.
    """
    _check_fields(model, entry.values)
    values = dict(entry.values)
    empty = is_empty(model, values)
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
            raise _conflict(model, [(n, None, getattr(stored, n)) for n in values if getattr(stored, n) != values[n]])
        if version is not None and version != entry.expected_version:
            conflict = _stale(model, pk, entry)
            if conflict is None:
                return None
            raise conflict
        if empty:
            return _delete(model, pk=pk, expected_version=entry.expected_version, user=user, reason=reason)

    refused, confirmed = refusals([*extra_issues, *record_issues(model, values, facts)], entry.confirmed_checks)
    if refused:
        raise issues_error(refused)
    if current is None:
        return _audit(model(patient=patient, **fixed, **values, confirmed_checks=confirmed), user=user, reason=reason)
    try:
        return update_versioned(
            model(pk=current[0]),
            changes={**values, "confirmed_checks": confirmed},
            expected_version=entry.expected_version,
            user=user,
            reason=reason,
            validate_db=False,
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
        "Someone else saved the same record at the same moment, or a value broke a database rule; nothing of "
        "yours was saved. Reload the page and check the values.",
        code="integrity",
    )


def _death_day_query(patient: Patient):
    return DispositionEvent.objects.filter(patient=patient, kind=DispositionKind.DEATH).values_list(
        "study_day", flat=True
    )


def _day_state(patient: Patient, study_day: int) -> tuple[dict[str, tuple[int, int]], int | None]:
    """The (pk, version) of each stored one-per-day form and the day of death, in one query."""
    parts = [
        model.objects.filter(patient=patient, study_day=study_day).values_list(Value(key), "pk", "version")
        for key, model in DAY_FORMS.items()
    ]
    death = DispositionEvent.objects.filter(patient=patient, kind=DispositionKind.DEATH).values_list(
        Value("death"), "pk", "study_day"
    )
    rows = list(parts[0].union(*parts[1:], death, all=True))
    current = {key: (pk, version) for key, pk, version in rows if key != "death"}
    death_days = [day for key, _, day in rows if key == "death"]
    return current, min(death_days) if death_days else None


def patient_day_save(
    *, patient: Patient, study_day: int, entries: Mapping[str, RecordInput], user, reason: str | None = None
) -> dict[str, models.Model | None]:
    """Save the one-per-day forms of one patient-day together: all of them, or none (PatientDayInvalid).

    entries: form key ("vitals", "support", "labs") -> RecordInput; a key left out is not touched.
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
            ensure_unlocked(patient.study)
            current, death_day = _day_state(patient, study_day)
            facts = PatientFacts.of(patient, death_day)
            writes = {
                key: entry
                for key, entry in entries.items()
                if key in current or not is_empty(DAY_FORMS[key], entry.values) or entry.expected_version is not None
            }
            refused = day_issues(study_day, facts)
            # Clearing a record (a deletion) stays possible on any day, e.g. data entered after a death.
            if refused and any(not is_empty(DAY_FORMS[key], entry.values) for key, entry in writes.items()):
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
                    )
                except ValidationError as exc:
                    errors[key] = exc
            if errors:
                raise PatientDayInvalid(errors)
    except IntegrityError as exc:
        raise _refuse_integrity(exc) from exc
    return saved


def _day_record_save(model, *, patient, study_day, entry, user, reason):
    key = next(k for k, m in DAY_FORMS.items() if m is model)
    try:
        saved = patient_day_save(patient=patient, study_day=study_day, entries={key: entry}, user=user, reason=reason)
    except PatientDayInvalid as exc:
        raise exc.errors[key] from exc
    return saved.get(key)


def vital_signs_save(*, patient: Patient, study_day: int, entry: RecordInput, user, reason: str | None = None):
    return _day_record_save(VitalSigns, patient=patient, study_day=study_day, entry=entry, user=user, reason=reason)


def respiratory_support_save(*, patient: Patient, study_day: int, entry: RecordInput, user, reason: str | None = None):
    return _day_record_save(
        RespiratorySupport, patient=patient, study_day=study_day, entry=entry, user=user, reason=reason
    )


def lab_result_save(*, patient: Patient, study_day: int, entry: RecordInput, user, reason: str | None = None):
    return _day_record_save(LabResult, patient=patient, study_day=study_day, entry=entry, user=user, reason=reason)


# ------------------------------------------------------------------------------------------- event records


def _death_events(patient: Patient) -> list[tuple[int, int]]:
    return list(
        DispositionEvent.objects.filter(patient=patient, kind=DispositionKind.DEATH).values_list("pk", "study_day")
    )


def _disposition_rules(patient: Patient, values: Mapping[str, Any], record_pk: int | None) -> list[Issue]:
    """Rules of a disposition event that look at the patient's other records."""
    day, kind = values.get("study_day"), values.get("kind")
    if day is None or not kind:
        return []
    issues = []
    others = DispositionEvent.objects.filter(patient=patient).exclude(pk=record_pk)
    if others.filter(study_day=day, kind=kind).exists():
        label = DispositionKind(kind).label.lower()
        issues.append(
            Issue("kind", checks.HARD, "kind.duplicate", f"A {label} is already recorded on study day {day}.")
        )
    if kind == DispositionKind.DEATH:
        earlier = others.filter(kind=DispositionKind.DEATH).values_list("study_day", flat=True).first()
        if earlier is not None:
            issues.append(
                Issue("kind", checks.HARD, "kind.second_death", f"A death is already recorded on study day {earlier}.")
            )
            return issues
        later = [
            f"{model._meta.verbose_name} on day {d}"
            for model in (*DAY_FORMS.values(), DrugAdministration, AdverseEvent, DispositionEvent)
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
                    f"Data are recorded after study day {day} ({', '.join(later)}): correct those records first, "
                    "there can be no data after the day of death.",
                )
            )
    return issues


def _event_save(
    model: type[models.Model],
    *,
    patient: Patient,
    record: models.Model | None,
    entry: RecordInput,
    user,
    reason: str | None,
) -> models.Model:
    if record is not None and record.patient_id != patient.pk:
        raise ValueError("the record belongs to another patient")
    if is_empty(model, entry.values):
        raise ValidationError("Fill in the form: an empty record cannot be saved.", code="empty")
    record_pk = record.pk if record is not None else None
    try:
        with transaction.atomic():
            ensure_unlocked(patient.study)
            deaths = [day for pk, day in _death_events(patient) if pk != record_pk]
            facts = PatientFacts.of(patient, min(deaths) if deaths else None)
            extra = _disposition_rules(patient, entry.values, record_pk) if model is DispositionEvent else []
            saved = _write(
                model,
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


def drug_administration_save(
    *, patient: Patient, entry: RecordInput, user, record: DrugAdministration | None = None, reason: str | None = None
) -> DrugAdministration:
    return _event_save(DrugAdministration, patient=patient, record=record, entry=entry, user=user, reason=reason)


def disposition_event_save(
    *, patient: Patient, entry: RecordInput, user, record: DispositionEvent | None = None, reason: str | None = None
) -> DispositionEvent:
    return _event_save(DispositionEvent, patient=patient, record=record, entry=entry, user=user, reason=reason)


def adverse_event_save(
    *, patient: Patient, entry: RecordInput, user, record: AdverseEvent | None = None, reason: str | None = None
) -> AdverseEvent:
    return _event_save(AdverseEvent, patient=patient, record=record, entry=entry, user=user, reason=reason)


def record_delete(*, record: models.Model, expected_version: int, user, reason: str | None) -> None:
    """Delete one daily record (wrong patient or day): version-checked, with a reason, audited."""
    model = type(record)
    if model not in ISSUES:
        raise ValueError(f"{model.__name__} is not a daily case report form")
    with transaction.atomic():
        ensure_unlocked(record.patient.study)
        _delete(model, pk=record.pk, expected_version=expected_version, user=user, reason=reason)
