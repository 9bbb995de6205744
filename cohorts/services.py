"""Every write to cohort data: keyword-only, atomic, full_clean()ed and audited (docs/architecture.md)."""

import datetime
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from cohorts import consort, enrolment, roles
from cohorts.audit import (
    check_new_audited,
    ensure_unlocked,
    ensure_writable,
    history_reason,
    insert_audited,
    save_audited,
    update_versioned,
)
from cohorts.clock import site_today, site_zone
from cohorts.eligibility.engine import evaluate, get_rule_set
from cohorts.field_checks import FieldChecks
from cohorts.languages import STORED_LANGUAGE
from cohorts.models import (
    COMORBIDITIES,
    Arm,
    Patient,
    PatientFreeze,
    PatientStatus,
    Screening,
    ScreeningReason,
    Site,
    Study,
    StudyIdCounter,
)
from cohorts.signals import patient_enrolled

PATIENT_EDITABLE = frozenset(
    {
        "oxygen_criterion_at",
        "sex",
        "age_years",
        "weight_kg",
        "weight_confirmed",
        "status",
        "smoking",
        "hypertension",
        "coronary_artery_disease",
        "diabetes",
        "copd",
        "chronic_kidney_disease",
    }
)


def _criterion_problem(moment: datetime.datetime | None) -> ValidationError | None:
    """Why an oxygen criterion time is implausible (in the future, or before 2000: a slip of the year), or None."""
    code = None if moment is None else enrolment.time_problem(moment, timezone.now(), tolerance=datetime.timedelta(0))
    if code == "future":
        return ValidationError(_("The oxygen criterion cannot be met in the future."), code=code)
    if code == "too_early":
        return ValidationError(_("Check the year: an oxygen criterion met before 2000 is not plausible."), code=code)
    return None


def patient_update(
    *, patient: Patient, changes: Mapping[str, Any], expected_version: int, user, reason: str | None
) -> Patient:
    """Correct a patient's baseline data; refused while the study is locked or if someone saved meanwhile."""
    unknown = set(changes) - PATIENT_EDITABLE
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    if problem := _criterion_problem(changes.get("oxygen_criterion_at")):
        raise ValidationError({"oxygen_criterion_at": problem})
    with transaction.atomic():
        ensure_writable(patient)
        return update_versioned(patient, changes=changes, expected_version=expected_version, user=user, reason=reason)


def _freeze_reason(reason: str | None, unfreeze: bool) -> str:
    text = (reason or "").strip()
    if not text:
        if unfreeze:
            message = _("Give a reason for unfreezing the casebook.")
        else:
            message = _("Give a reason for freezing the casebook.")
        raise ValidationError({"reason": ValidationError(message, code="reason_required")})
    if len(text) > 500:
        raise ValidationError(
            {"reason": ValidationError(_("The reason has more than 500 characters."), code="reason_too_long")}
        )
    return text


def _require_locker(user, patient: Patient, refusal: str) -> None:
    if not roles.has_study_role(user, patient.study, roles.LOCKERS, site=patient.site):
        raise PermissionDenied(refusal)


def patient_freeze(*, patient: Patient, user, reason: str) -> PatientFreeze:
    """Freeze one patient's casebook before the lock (data managers): no data of the patient change until it is
    unfrozen; queries can still be answered in words."""
    _require_locker(user, patient, _("Only the study's data managers freeze a casebook."))
    reason = _freeze_reason(reason, unfreeze=False)
    with transaction.atomic():
        ensure_unlocked(patient.study)
        if PatientFreeze.objects.select_for_update().filter(patient=patient, unfrozen_at__isnull=True).exists():
            raise ValidationError({"reason": ValidationError(_("The casebook is frozen already."), code="frozen")})
        freeze = PatientFreeze(patient=patient, frozen_at=timezone.now(), frozen_by=user, reason=reason)
        return save_audited(freeze, user=user, reason=history_reason(f"frozen: {reason}"))


def patient_unfreeze(*, patient: Patient, user, reason: str) -> PatientFreeze:
    """End the active freeze of the casebook (data managers), with a reason."""
    _require_locker(user, patient, _("Only the study's data managers unfreeze a casebook."))
    reason = _freeze_reason(reason, unfreeze=True)
    with transaction.atomic():
        ensure_unlocked(patient.study)
        freeze = PatientFreeze.objects.select_for_update().filter(patient=patient, unfrozen_at__isnull=True).first()
        if freeze is None:
            raise ValidationError({"reason": ValidationError(_("The casebook is not frozen."), code="not_frozen")})
        freeze.unfrozen_at, freeze.unfrozen_by, freeze.unfreeze_reason = timezone.now(), user, reason
        return save_audited(freeze, user=user, reason=history_reason(f"unfrozen: {reason}"))


def _baseline_weight_error(*, arm: Arm, weight_kg, weight_confirmed: bool) -> ValidationError | None:
    """The baseline weight's limits (clinical definitions §2.1), and a weight is needed when the arm is dosed per kg."""
    problem = enrolment.weight_problem(weight_kg, weight_confirmed)
    if problem:
        return ValidationError(problem[1], code=problem[0])
    if weight_kg is None and any(dose.get("unit") == "mg/kg" for dose in arm.regimen or []):
        return ValidationError(
            _("The %(arm)s arm is dosed per kg: give the weight.") % {"arm": arm.name}, code="weight_needed_for_dose"
        )
    return None


def _check_comorbidities(comorbidities: Mapping[str, bool | None] | None) -> None:
    unknown = set(comorbidities or {}) - set(COMORBIDITIES)
    if unknown:
        raise ValueError(f"Not comorbidities: {', '.join(sorted(unknown))}")


def _baseline_errors(patient: Patient) -> dict[str, ValidationError]:
    """What refuses a new patient's arm, day 0, age and weight, by field, whether enrolled here or imported (an
    enrolment's age was checked on its screening already)."""
    errors = {}
    if patient.arm.study_id != patient.study.pk:
        errors["arm"] = ValidationError(_("The arm belongs to another study."), code="arm_study")
    if patient.enrolment_date > site_today(patient.site):  # today at the site (cohorts/clock.py)
        errors["enrolment_date"] = ValidationError(_("Day 0 cannot be in the future."), code="future")
    elif patient.enrolment_date < enrolment.EARLIEST_TIME.date():  # a slip of the year, as for the other times
        errors["enrolment_date"] = ValidationError(
            _("Check the year: a day 0 before 2000 is not plausible."), code="too_early"
        )
    if patient.age_years is not None and (problem := enrolment.limit_problem("age_years", patient.age_years, "years")):
        errors["age_years"] = ValidationError(problem, code="age_years.hard")
    weight_error = _baseline_weight_error(
        arm=patient.arm, weight_kg=patient.weight_kg, weight_confirmed=patient.weight_confirmed
    )
    if weight_error:
        errors["weight_kg"] = weight_error
    return errors


def _new_patient(
    *,
    study: Study,
    site: Site,
    arm: Arm,
    enrolment_date: datetime.date,
    baseline: Mapping[str, Any],
    weight_confirmed: bool,
    comorbidities: Mapping[str, bool | None] | None,
) -> Patient:
    """The unsaved patient, for _baseline_errors to check before it gets its participant id; a weight confirmation
    is kept only for a weight that needs one."""
    return Patient(
        study=study,
        site=site,
        arm=arm,
        enrolment_date=enrolment_date,
        weight_confirmed=weight_confirmed and enrolment.needs_weight_confirmation(baseline.get("weight_kg")),
        **baseline,
        **dict(comorbidities or {}),
    )


def patient_create(
    *,
    study: Study,
    site: Site,
    arm: Arm,
    participant_id: str,
    enrolment_date: datetime.date,
    sex: str,
    age_years: int,
    weight_kg: Decimal | None = None,
    weight_confirmed: bool = False,
    comorbidities: Mapping[str, bool | None] | None = None,
    status: str = PatientStatus.ACTIVE,
    oxygen_criterion_at: datetime.datetime | None = None,
    user,
    reason: str,
) -> Patient:
    """A patient enrolled outside this system (a CSV import of chart abstraction or another system's data).

    No screening: the participant id comes with the data (and is skipped by the id counter). Refused like an
    enrolment when the site or arm is not the study's, the id is taken, the baseline is implausible, or the
    baseline fails a criterion of the protocol (an age below the minimum: not eligible).
    """
    with transaction.atomic():
        ensure_unlocked(study)
        patient = _imported_patient(
            study=study,
            site=site,
            arm=arm,
            participant_id=participant_id,
            enrolment_date=enrolment_date,
            baseline={
                "sex": sex,
                "age_years": age_years,
                "weight_kg": weight_kg,
                "status": status,
                "oxygen_criterion_at": oxygen_criterion_at,
            },
            weight_confirmed=weight_confirmed,
            comorbidities=comorbidities,
            site_in_study=site.studies.filter(pk=study.pk).exists(),
            taken=Patient.objects.filter(study=study, participant_id=participant_id).exists(),
        )
        return save_audited(patient, user=user, reason=reason)


def patients_create(*, study: Study, patients: Sequence[Mapping[str, Any]], user) -> list[Patient | ValidationError]:
    """Many patients of ``patient_create`` at once, for an import of a whole study: ``patients`` holds each one's
    keyword arguments of patient_create but the study and the user. Each is refused, stored and audited as
    patient_create would; the reads are one query per step for all of them and the writes a few bulk inserts.
    Returns, in order, each stored patient or its refusal. Callers hold transaction.atomic."""
    ensure_unlocked(study)
    sites = set(Site.objects.filter(studies=study).values_list("pk", flat=True))
    given = [patient["participant_id"] for patient in patients]
    if len(set(given)) != len(given):
        raise ValueError("a participant id is given twice")
    taken = set(Patient.objects.filter(study=study, participant_id__in=given).values_list("participant_id", flat=True))
    results: list[Patient | ValidationError] = []
    reasons: list[str] = []  # of the patients built
    for fields in patients:
        fields = dict(fields)
        reason = fields.pop("reason")
        site, arm, participant_id = fields.pop("site"), fields.pop("arm"), fields.pop("participant_id")
        enrolment_date, weight_confirmed = fields.pop("enrolment_date"), fields.pop("weight_confirmed", False)
        comorbidities = fields.pop("comorbidities", None)
        try:
            patient = _imported_patient(
                study=study,
                site=site,
                arm=arm,
                participant_id=participant_id,
                enrolment_date=enrolment_date,
                baseline={"weight_kg": None, "status": PatientStatus.ACTIVE, "oxygen_criterion_at": None, **fields},
                weight_confirmed=weight_confirmed,
                comorbidities=comorbidities,
                site_in_study=site.pk in sites,
                taken=participant_id in taken,
            )
        except ValidationError as exc:
            results.append(exc)
            continue
        results.append(patient)
        reasons.append(reason)
    # As save_audited, without the queries: the site, arm and participant id were checked above.
    built = [position for position, result in enumerate(results) if isinstance(result, Patient)]
    passed = check_new_audited(results, built, user=user, reasons=reasons, checks=FieldChecks(Patient))
    new = [results[position] for position in passed]
    if new:
        try:
            insert_audited(Patient, new, user)
        except IntegrityError:  # a database rule the checks above do not run: each one on its own, with its message
            return [
                result if not isinstance(result, Patient) else _one_patient(study, fields, user)
                for result, fields in zip(results, patients, strict=True)
            ]
    return results


def _one_patient(study: Study, fields: Mapping[str, Any], user) -> Patient | ValidationError:
    try:
        with transaction.atomic():
            return patient_create(study=study, user=user, **fields)
    except ValidationError as exc:
        return exc


def _imported_patient(
    *,
    study: Study,
    site: Site,
    arm: Arm,
    participant_id: str,
    enrolment_date: datetime.date,
    baseline: Mapping[str, Any],
    weight_confirmed: bool,
    comorbidities: Mapping[str, bool | None] | None,
    site_in_study: bool,
    taken: bool,
) -> Patient:
    """The unsaved patient of patient_create, or its refusal (ValidationError by field). ``site_in_study``: the site
    takes part in the study; ``taken``: the study has a patient with this participant id."""
    _check_comorbidities(comorbidities)
    patient = _new_patient(
        study=study,
        site=site,
        arm=arm,
        enrolment_date=enrolment_date,
        baseline=baseline,
        weight_confirmed=weight_confirmed,
        comorbidities=comorbidities,
    )
    errors = _baseline_errors(patient)
    if problem := _criterion_problem(baseline.get("oxygen_criterion_at")):
        errors["oxygen_criterion_at"] = problem
    if not site_in_study:
        errors["site"] = ValidationError(
            _("Site %(site)s does not take part in the study.") % {"site": site.code}, code="site"
        )
    if taken:
        errors["participant_id"] = ValidationError(
            _("Participant %(participant)s is already in the study.") % {"participant": participant_id},
            code="participant_id_taken",
        )
    refusals = "age_years" not in errors and enrolment.baseline_refusals(  # an implausible age is refused as such
        get_rule_set(study.protocol), {"age_years": baseline["age_years"]}, study.eligibility_settings()
    )
    if refusals:
        errors["age_years"] = [ValidationError(message, code="not_eligible") for message in refusals]
    if errors:
        raise ValidationError(errors)
    patient.participant_id = participant_id
    return patient


def study_set_locked(*, study: Study, locked: bool, user, reason: str) -> Study:
    """Flip the lock flag; only analysis.releases calls this, inside its own lock/unlock transaction."""
    study.is_locked = locked
    study._change_reason = history_reason(reason)  # the release keeps the whole reason
    study._history_user = user
    study.save(update_fields=["is_locked"])
    return study


# --------------------------------------------------------------------------------------------
# Screening and enrolment (clinical definitions §1.3)
# --------------------------------------------------------------------------------------------


def next_study_number(*, study: Study, site: Site, kind: str) -> int:
    """The next number of the study and site's counter (callers hold transaction.atomic).

    The counter row is locked (SELECT ... FOR UPDATE), so two concurrent enrolments at one site get two
    numbers, and it only ever grows, so a number is never handed out twice, even after a deletion.
    """
    counter, _ = StudyIdCounter.objects.select_for_update().get_or_create(study=study, site=site, kind=kind)
    counter.last_number += 1
    counter.save(update_fields=["last_number"])
    return counter.last_number


def next_participant_id(*, study: Study, site: Site) -> str:
    """Pseudonymised participant id, site prefix + number: "MI-0001". Ids taken outside the counter (an
    import) are skipped, never reused."""
    while True:
        candidate = f"{site.code}-{next_study_number(study=study, site=site, kind='patient'):04d}"
        if not Patient.objects.filter(study=study, participant_id=candidate).exists():
            return candidate


def next_screening_number(*, study: Study, site: Site) -> str:
    while True:
        candidate = f"{site.code}-S{next_study_number(study=study, site=site, kind='screening'):04d}"
        if not Screening.objects.filter(study=study, number=candidate).exists():
            return candidate


def screening_create(
    *,
    study: Study,
    site: Site,
    assessed_at: datetime.datetime,
    values: Mapping[str, Any],
    entered_units: Mapping[str, str],
    user,
    rescreen_of: Screening | None = None,
    as_screen_failure: bool = False,
) -> Screening:
    """Evaluate a candidate against the study's rule set and keep the screening in the log, eligible or not.

    ``values`` are in canonical units. A criterion that cannot be decided for missing data refuses the save
    (an error on each missing field) unless the investigator records the screening as a screen failure: then
    it is kept as not eligible with those criteria as "missing" reasons. A candidate who meets every criterion
    is not a screen failure.
    """
    rule_set = get_rule_set(study.protocol)
    inputs = {f.name: values.get(f.name) for f in rule_set.fields}
    # The criteria are stored in the stored language (English), whoever screens (cohorts.languages).
    with translation.override(STORED_LANGUAGE):
        evaluation = evaluate(study.protocol, inputs, study.eligibility_settings())
        criteria = enrolment.criteria_rows(evaluation)
    recorded = {field.name: inputs.get(field.name) for field in rule_set.fields if field.kind == "datetime"}
    errors = {
        name: [ValidationError(message, code=code)]
        for name, (message, code) in enrolment.screening_time_problems(assessed_at, recorded, timezone.now()).items()
    }
    if evaluation.missing and not as_screen_failure:
        shown = evaluate(study.protocol, inputs, study.eligibility_settings())  # the messages: the user's language
        for name, errs in enrolment.missing_field_errors(shown).items():
            errors.setdefault(name, []).extend(ValidationError(msg, code=code) for msg, code in errs)
    if errors:
        raise ValidationError(errors)
    if as_screen_failure and evaluation.eligible:
        raise ValidationError(
            _("Every criterion is met: this candidate is not a screen failure. Save the screening to enrol."),
            code="not_a_screen_failure",
        )
    if not site.studies.filter(pk=study.pk).exists():
        raise ValidationError({"site": ValidationError(_("This site does not take part in the study."), code="site")})
    if rescreen_of is not None:
        _check_rescreen(study=study, site=site, rescreen_of=rescreen_of)
    with transaction.atomic():
        ensure_unlocked(study)
        screening = Screening(
            study=study,
            site=site,
            number=next_screening_number(study=study, site=site),
            rescreen_of=rescreen_of,
            assessed_at=assessed_at,
            screened_by=user,
            values={name: enrolment.json_value(value) for name, value in inputs.items()},
            # The unit each number was typed in, canonical where not given (never empty: the model field
            # is not blank=True).
            entered_units={f.name: entered_units.get(f.name, f.unit) for f in rule_set.fields if f.quantity},
            criteria=criteria,
            eligible=evaluation.eligible,
        )
        reason = f"screening (re-screen of {rescreen_of.number})" if rescreen_of else "screening"
        save_audited(screening, user=user, reason=reason)
        ScreeningReason.objects.bulk_create(
            ScreeningReason(screening=screening, code=c.code, kind=c.kind, verdict=c.verdict, label=c.label[:200])
            for c in evaluation.criteria
            if not c.passes
        )
        consort.screening_added(screening)
    return screening


def _check_rescreen(*, study: Study, site: Site, rescreen_of: Screening) -> None:
    def refuse(message: str, code: str):
        raise ValidationError({"rescreen_of": ValidationError(message, code=code)})

    words = {"number": rescreen_of.number}
    if rescreen_of.study_id != study.pk:
        refuse(_("That screening belongs to another study."), "rescreen_study")
    if rescreen_of.site_id != site.pk:
        refuse(_("Screening %(number)s was done at another site; re-screen at the same site.") % words, "rescreen_site")
    if Patient.objects.filter(screening=rescreen_of).exists():
        refuse(
            _("Screening %(number)s is already enrolled; an enrolled patient is not re-screened.") % words,
            "rescreen_enrolled",
        )
    if Screening.objects.filter(rescreen_of=rescreen_of).exists():
        refuse(
            _("Screening %(number)s was already re-screened; link to the latest screening.") % words,
            "rescreen_twice",
        )


def enrolment_refusal(screening: Screening, *, enrolled: Patient | None) -> ValidationError | None:
    """Why this screening cannot be enrolled (already enrolled, or not eligible, naming the criteria)."""
    if enrolled is not None:
        return ValidationError(
            _("Screening %(number)s is already enrolled as %(participant)s; a candidate is enrolled once.")
            % {"number": screening.number, "participant": enrolled.participant_id},
            code="already_enrolled",
        )
    if not screening.eligible or enrolment.blocking_rows(screening.criteria):
        return ValidationError(
            _("Screening %(number)s is not eligible and cannot be enrolled: %(reasons)s.")
            % {
                "number": screening.number,
                "reasons": enrolment.blocking_sentence(screening.criteria) or _("not eligible"),
            },
            code="not_eligible",
        )
    return None


#: The screening's input that says when the protocol's oxygen criterion was met (New York: the onset of acute
#: hypoxaemic respiratory failure, clinical definitions §1.2).
ONSET_FIELD = "respiratory_failure_onset"


def oxygen_criterion_at(screening: Screening) -> datetime.datetime | None:
    """When the screening says the oxygen criterion was met, or None: the patient's ``oxygen_criterion_at`` at
    enrolment."""
    onset = screening.values.get(ONSET_FIELD)
    return datetime.datetime.fromisoformat(onset) if onset else None


def records_oxygen_criterion(study: Study) -> bool:
    """Whether the study's protocol records when the oxygen criterion was met (its screening asks for it)."""
    return any(field.name == ONSET_FIELD for field in get_rule_set(study.protocol).fields)


def patient_enrol(
    *,
    screening: Screening,
    arm: Arm,
    enrolment_date: datetime.date,
    sex: str,
    age_years: int | None,
    weight_kg: Decimal | None,
    weight_confirmed: bool = False,
    comorbidities: Mapping[str, bool | None] | None = None,
    user,
) -> Patient:
    """Enrol the candidate of an eligible screening (clinical definitions §1.3): arm, participant id, day 0, baseline.

    Refused, with the reason on the form, when the screening is not eligible (naming its criteria), already
    enrolled, or the baseline data is implausible. The screening's values become the day-0 source data through
    the ``patient_enrolled`` signal (ecrf/enrolment.py), in the same transaction: enrolled with them, or not at all.
    """
    study = screening.study
    _check_comorbidities(comorbidities)
    with transaction.atomic():
        ensure_unlocked(study)
        # Serialise enrolments of one screening: the second one waits here and then sees the first patient. Only the
        # screening's row (of=self): locking its study and site rows too (the join) made every enrolment of the
        # site wait on one another, and deadlock with the foreign-key checks of rows written after a commit (the
        # record status counts) on PostgreSQL.
        screening = (
            Screening.objects.select_for_update(of=("self",)).select_related("study", "site").get(pk=screening.pk)
        )
        enrolled = Patient.objects.filter(screening=screening).only("participant_id").first()
        refusal = enrolment_refusal(screening, enrolled=enrolled)
        if refusal is not None:
            raise refusal
        screened_age = screening.values.get("age_years")
        if screened_age is not None:
            age_years = int(screened_age)
        patient = _new_patient(
            study=study,
            site=screening.site,
            arm=arm,
            enrolment_date=enrolment_date,
            baseline={
                "sex": sex,
                "age_years": age_years,
                "weight_kg": weight_kg,
                "screening": screening,
                "oxygen_criterion_at": oxygen_criterion_at(screening),
            },
            weight_confirmed=weight_confirmed,
            comorbidities=comorbidities,
        )
        errors = _baseline_errors(patient)
        if age_years is None:
            errors["age_years"] = ValidationError(_("Give the age."), code="required")
        screened_on = timezone.localdate(screening.assessed_at, site_zone(screening.site))  # the site's date
        if enrolment_date < screened_on:
            errors["enrolment_date"] = ValidationError(
                _("Day 0 cannot be before the screening (%(date)s).") % {"date": screened_on},
                code="before_screening",
            )
        if errors:
            raise ValidationError(errors)
        patient.participant_id = next_participant_id(study=study, site=screening.site)
        save_audited(patient, user=user, reason="enrolment")
        consort.screening_enrolled(screening, arm)
        patient_enrolled.send(sender=Patient, patient=patient, screening=screening, user=user)
    return patient
