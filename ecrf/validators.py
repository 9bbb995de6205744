"""The rules of each case report form on its values, called by its form (``clean()``) and by the services.

A form's checks are: its study day (within follow-up, not after death) for the repeating forms, the range of
every field that has a limit (the catalogue's ``limits``, ranges of cohorts' one limits table through
ecrf/checks.py), then the form's own cross-field rules, the validator function named in its catalogue entry
(ecrf/crfs.py). A field out of range gets no further issue: its first problem is the one the user sees.
The rules are those of clinical definitions §2.1; `Issue.code` is stable ("<field>.<rule>").
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cohorts.clock import site_today, site_zone
from ecrf import checks
from ecrf.checks import Issue
from ecrf.models import AdverseEventKind, DispositionKind, Drug, EpisodeEnd, MissingCode

if TYPE_CHECKING:
    from cohorts.models import Patient

# Disposition events after which no daily form is due (the follow-up of that patient has ended).
ENDS_DAILY_FORMS = frozenset(
    {DispositionKind.DEATH, DispositionKind.DISCHARGED, DispositionKind.WITHDRAWAL, DispositionKind.LOST}
)
# Drug classes whose record must name the actual drug.
NAMED_DRUGS = frozenset({Drug.ANTIBIOTIC, Drug.GLUCOCORTICOID, Drug.OTHER_IL6})


@dataclass(frozen=True)
class PatientFacts:
    """What the checks of one form need to know about the patient and the other forms."""

    follow_up_days: int
    death_day: int | None = None
    weight_kg: Decimal | None = None
    regimen: tuple[Mapping[str, Any], ...] = ()
    #: The study day that today is at the patient's site: the last day data may be entered for (clinical
    #: definitions §2.1). None: not known to the caller, and the rule is not applied.
    today_day: int | None = None
    #: Day 0 and the site's name, for the dates and the place the future-day message names.
    enrolment_date: datetime.date | None = None
    site_name: str = ""
    #: The site's time zone, in which times are entered and fall on their study day (clinical definitions §2.3),
    #: the current moment (no time after it) and the moment of death when recorded. None: rule not applied.
    zone: datetime.tzinfo | None = None
    now: datetime.datetime | None = None
    death_at: datetime.datetime | None = None

    @classmethod
    def of(
        cls,
        patient: Patient,
        death_day: int | None,
        *,
        today: datetime.date | None = None,
        death_at: datetime.datetime | None = None,
    ) -> PatientFacts:
        """The facts of ``patient``; ``today`` defaults to the date at the patient's site now (cohorts/clock.py)."""
        now = timezone.now()
        today = today if today is not None else site_today(patient.site, now)
        return cls(
            zone=site_zone(patient.site),
            now=now,
            death_at=death_at,
            follow_up_days=patient.study.follow_up_days,
            death_day=death_day,
            weight_kg=patient.weight_kg,
            regimen=tuple(patient.arm.regimen or ()),
            today_day=(today - patient.enrolment_date).days,
            enrolment_date=patient.enrolment_date,
            site_name=patient.site.name,
        )

    def time_issues(self, name: str, moment: datetime.datetime | None, study_day: int | None) -> list[Issue]:
        """The rules of a time on field ``name`` of a record of ``study_day`` (ecrf/checks.py check_time)."""
        return checks.check_time(
            name,
            moment,
            study_day,
            zone=self.zone,
            enrolment_date=self.enrolment_date,
            now=self.now,
            death_at=self.death_at,
        )

    def not_future(self, study_day: int | None) -> list[Issue]:
        """The future-day rule for ``study_day`` with these facts (ecrf/checks.py check_not_future)."""
        return checks.check_not_future(study_day, self.today_day, self.enrolment_date, self.site_name)


def is_blank(value: Any) -> bool:
    # `is`, not `in (None, "", False)`: a measured 0 (CRP 0 mg/L) equals False but is a value.
    return value is None or value is False or (isinstance(value, str) and not value.strip())


def on_field(field_name: str, issues: Iterable[Issue]) -> list[Issue]:
    """Issues of a cross-form rule, attached to the field of this form they are about."""
    return [Issue(field_name, i.level, i.code, i.message) for i in issues]


def _required(field_name: str, message: str) -> Issue:
    return Issue(field_name, checks.HARD, f"{field_name}.required", message)


def day_issues(study_day: int, facts: PatientFacts) -> list[Issue]:
    """Cross-form checks of any record of a study day (clinical definitions §2.1), not tied to one field."""
    return (
        checks.check_within_follow_up(study_day, facts.follow_up_days)
        + checks.check_after_death(study_day, facts.death_day)
        + facts.not_future(study_day)
    )


def range_issues(limits: Mapping[str, str], values: Mapping[str, Any]) -> list[Issue]:
    """The hard and soft range findings of the fields that have a limit (field -> limit name)."""
    issues = []
    for name, limit in limits.items():
        issue = checks.check_value(limit, values.get(name))
        if issue is not None:
            issues.append(Issue(name, issue.level, issue.code, issue.message))
    return issues


def range_issues_each(limits: Mapping[str, str], rows: Sequence[Mapping[str, Any]]) -> list[list[Issue]]:
    """``range_issues`` of each of many records, in their order: each field checked over all of them at once
    (ecrf/checks.py check_column)."""
    found: list[list[Issue]] = [[] for _ in rows]
    for name, limit in limits.items():
        for position, issue in checks.check_column(limit, [values.get(name) for values in rows]).items():
            found[position].append(Issue(name, issue.level, issue.code, issue.message))
    return found


def day_issues_each(days: Sequence[int], facts: Sequence[PatientFacts]) -> list[list[Issue]]:
    """``day_issues`` of each of many records (their study days and their patients' facts, in the same order): the
    days compared with day 0, the end of follow-up, the death and today as arrays; only a day outside one of them
    goes through ``day_issues``, which writes the message."""
    try:
        day = np.array(days, dtype=np.int64)
        last = np.array([f.follow_up_days for f in facts], dtype=np.int64)
        death = np.array([_NO_DAY if f.death_day is None else f.death_day for f in facts], dtype=np.int64)
        today = np.array([_NO_DAY if f.today_day is None else f.today_day for f in facts], dtype=np.int64)
    except OverflowError:  # a day beyond 64 bits: one by one
        return [day_issues(study_day, patient) for study_day, patient in zip(days, facts, strict=True)]
    found: list[list[Issue]] = [[] for _ in days]
    broken = np.logical_or.reduce(list(checks.day_masks(day, last, death, today).values()))
    for position in np.flatnonzero(broken).tolist():
        found[position] = day_issues(days[position], facts[position])
    return found


#: A death or a today that is not known: later than any study day.
_NO_DAY = np.iinfo(np.int64).max


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


# ------------------------------------------------------------------------------------ missing-data codes


def listed(names: list[str]) -> str:
    """["a", "b", "c"] -> "a, b and c"."""
    if len(names) == 1:
        return str(names[0])
    return _("%(items)s and %(last)s") % {"items": ", ".join(str(name) for name in names[:-1]), "last": names[-1]}


def untick_not_done() -> str:
    """How a form's mark "not done" is taken away on the page (the import says how in a file instead)."""
    return _("untick 'Not done this day'")


_CODES_TEXT = ", ".join(MissingCode.values)


def missing_data_issues(
    values: Mapping[str, Any],
    missing_codes: Mapping[str, Any],
    not_done_reason: str | None,
    *,
    value_fields: Iterable[str],
    code_fields: Iterable[str],
    per_day: bool,
    labels: Mapping[str, str] | None = None,
) -> list[Issue]:
    """The rules of missing-data codes and of a form marked not done (clinical definitions §2.2).

    ``missing_codes``: field -> code given instead of its value; ``not_done_reason``: None when the form is not
    marked not done, else the reason given (refused when blank). ``value_fields`` are the form's observations,
    ``code_fields`` those of them that may hold a code (a record may leave them empty); ``labels`` name the fields
    in messages.
    """
    if not missing_codes and not_done_reason is None:
        return []  # most records: nothing to check
    labels = labels or {}
    value_fields, code_fields = tuple(value_fields), frozenset(code_fields)
    issues = []
    for name, code in missing_codes.items():
        label = labels.get(name, name)
        named = name if label == name else f"{label} ({name})"
        if name not in code_fields:
            if name not in value_fields:
                message = _("%(field)s takes no missing-data code: it is not a value of this form.")
            elif per_day:
                message = _("%(field)s takes no missing-data code: give its value, or mark the whole form not done.")
            else:
                message = _("%(field)s takes no missing-data code: give its value.")
            issues.append(Issue("missing_codes", checks.HARD, "missing_codes.not_allowed", message % {"field": named}))
        elif code not in MissingCode.values:
            issues.append(
                Issue(
                    name,
                    checks.HARD,
                    "missing_codes.invalid",
                    _("'%(code)s' is not a missing-data code of %(field)s: use %(codes)s.")
                    % {"code": code, "field": label, "codes": _CODES_TEXT},
                )
            )
        elif not is_blank(values.get(name)):
            issues.append(
                Issue(name, checks.HARD, f"{name}.value_and_code", _("Give a value or a missing-data code, not both."))
            )
    if not_done_reason is None:
        return issues
    if not per_day:
        return [
            *issues,
            Issue(
                "not_done_reason",
                checks.HARD,
                "not_done_reason.not_daily",
                _("Only a one-per-day form can be marked not done; delete a record entered by mistake instead."),
            ),
        ]
    filled = [labels.get(name, name) for name in value_fields if not is_blank(values.get(name))]
    coded = [labels.get(name, name) for name in missing_codes]
    if filled or coded:
        parts = {"values": listed(filled) if filled else "", "codes": listed(coded) if coded else ""}
        parts["undo"] = untick_not_done()
        if filled and coded:
            message = _(
                "A form marked not done holds no value and no code: clear the value of %(values)s and the "
                "missing-data code of %(codes)s, or %(undo)s."
            )
        elif filled:
            message = _(
                "A form marked not done holds no value and no code: clear the value of %(values)s, or %(undo)s."
            )
        else:
            message = _(
                "A form marked not done holds no value and no code: clear the missing-data code of %(codes)s, or "
                "%(undo)s."
            )
        issues.append(Issue("not_done_reason", checks.HARD, "not_done_reason.with_values", message % parts))
    if not not_done_reason.strip():
        issues.append(
            Issue(
                "not_done_reason",
                checks.HARD,
                "not_done_reason.required",
                _("Give the reason the form was not done this day (e.g. 'no blood sample taken')."),
            )
        )
    return issues


# ------------------------------------------------------------------------------- each form's own rules

SUPPORT_REQUIRED = gettext_lazy("Choose the highest level of respiratory support of the day.")


def vital_signs(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    return checks.check_blood_pressure(values.get("systolic_mmhg"), values.get("diastolic_mmhg"))


def respiratory_support(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    support = values.get("support") or None
    if support is None:
        if any(not is_blank(value) for name, value in values.items() if name != "support"):
            return [_required("support", str(SUPPORT_REQUIRED))]
        return []
    return checks.check_respiratory_support(
        support, values.get("fio2"), values.get("flow_l_min"), values.get("peep_cmh2o")
    )


def laboratory(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    if values.get("ddimer_ng_ml") is not None and not values.get("ddimer_basis"):
        return [_required("ddimer_basis", _("Give the D-dimer's unit basis (FEU or DDU) as the report states."))]
    return []


def drug_administration(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    issues = []
    drug, unit, stop_day, day = (
        values.get("drug"),
        values.get("dose_unit"),
        values.get("stop_day"),
        values.get("study_day"),
    )
    if drug in NAMED_DRUGS and not (values.get("drug_detail") or "").strip():
        issues.append(_required("drug_detail", _("Name the drug (e.g. ceftriaxone, dexamethasone).")))
    dose = checks.check_dose(drug, unit, values.get("dose"))  # the maximum of the drug in its unit
    if dose is not None:
        issues.append(dose)
    issues += on_field("dose_unit", checks.check_weight_based_dose(unit, facts.weight_kg))
    if stop_day is not None and day is not None and stop_day < day:
        issues.append(
            Issue("stop_day", checks.HARD, "stop_day.before_start", _("The stop day cannot be before the start day."))
        )
    elif stop_day is not None:
        issues += on_field("stop_day", checks.check_within_follow_up(stop_day, facts.follow_up_days))
        issues += on_field("stop_day", checks.check_after_death(stop_day, facts.death_day))
        issues += on_field("stop_day", facts.not_future(stop_day))
    issues += _times(
        values, facts, ("started_at", "study_day"), ("stopped_at", "stop_day"), _("Give the stop day of the stop time.")
    )
    for regimen in facts.regimen:  # a dose already refused is not compared with the regimen as well
        issues += checks.check_regimen(drug, None if dose else values.get("dose"), unit, values.get("route"), regimen)
    return issues


#: Answers that belong to some kinds of a repeating form's records only (clinical definitions §2): given with another
#: kind (an ICU admission "alive at contact: no", a thromboembolism with an organism), the record is refused, as the
#: derivation and the analyses would pass over them without a word. Per form: (field, the kinds it goes with, the
#: rule of its issue code, the message).
KIND_ONLY_ANSWERS = {
    "disposition_events": (
        (
            "cause_of_death",
            (DispositionKind.DEATH,),
            "not_death",
            gettext_lazy("A cause of death only goes with a death."),
        ),
        (
            "alive",
            (DispositionKind.CONTACT,),
            "not_contact",
            gettext_lazy("'Alive at contact' only goes with a vital status contact."),
        ),
        (
            "normal_activities",
            (DispositionKind.DISCHARGED, DispositionKind.CONTACT),
            "not_discharge",
            gettext_lazy("'Resumed normal activities' only goes with a discharge or a vital status contact."),
        ),
    ),
    "adverse_events": (
        (
            "organism",
            (AdverseEventKind.BACTERAEMIA,),
            "not_bacteraemia",
            gettext_lazy("An organism only goes with a bacteraemia."),
        ),
    ),
}


def answered(value: Any) -> bool:
    """A value given: a yes or no, a number, a text that is not blank."""
    return value is not None and not (isinstance(value, str) and not value.strip())


def disposition_event(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    kind, issues = values.get("kind"), []
    if kind == DispositionKind.DEATH and not (values.get("cause_of_death") or "").strip():
        issues.append(_required("cause_of_death", _("Give the cause of death (or 'unknown').")))
    if kind == DispositionKind.DISCHARGED and values.get("normal_activities") is None:
        issues.append(
            _required("normal_activities", _("Say whether the patient resumed normal activities at discharge."))
        )
    if kind == DispositionKind.CONTACT and values.get("alive") is None:
        issues.append(_required("alive", _("Say whether the patient was alive at the contact.")))
    issues += facts.time_issues("occurred_at", values.get("occurred_at"), values.get("study_day"))
    issues += _kind_only_issues("disposition_events", values)
    if kind == DispositionKind.CONTACT and values.get("alive") is False and values.get("normal_activities") is True:
        issues.append(
            Issue(
                "normal_activities",
                checks.HARD,
                "normal_activities.not_alive",
                _("A patient not alive at the contact has not resumed normal activities."),
            )
        )
    return issues


def ventilation_episode(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    """An episode of invasive ventilation (clinical definitions §2.3): it ends after it starts, an end has a day and
    says how it ended, an end by death is on the day of death; its times follow the rules of every time."""
    day, end_day, reason = values.get("study_day"), values.get("end_day"), values.get("end_reason") or ""
    issues = []
    if end_day is not None and day is not None and end_day < day:
        message = _("The episode cannot end before the intubation (study day %(day)s).") % {"day": day}
        issues.append(Issue("end_day", checks.HARD, "end_day.before_start", message))
    elif end_day is not None:
        issues += on_field("end_day", checks.check_after_death(end_day, facts.death_day))
        issues += on_field("end_day", facts.not_future(end_day))
        if reason == EpisodeEnd.DIED and facts.death_day is not None and end_day != facts.death_day:
            message = _("The death is recorded on study day %(day)s: an episode ended by death ends that day.") % {
                "day": facts.death_day
            }
            issues.append(Issue("end_day", checks.HARD, "end_day.not_death_day", message))
    if end_day is not None and not reason:
        issues.append(_required("end_reason", _("Say how the episode ended (extubated, died, transferred).")))
    if reason and end_day is None:
        issues.append(_required("end_day", _("Give the day the episode ended, or leave how it ended empty.")))
    issues += _times(
        values, facts, ("intubated_at", "study_day"), ("ended_at", "end_day"), _("Give the end day of the end time.")
    )
    return issues


def _times(
    values: Mapping[str, Any],
    facts: PatientFacts,
    start: tuple[str, str],
    end: tuple[str, str],
    end_day_required: str,
) -> list[Issue]:
    """The rules of a record's start and end times: each on its day, not in the future, not after the death; the
    end after the start, and an end time only with its end day."""
    (start_name, start_day), (end_name, end_day) = start, end
    started, ended = values.get(start_name), values.get(end_name)
    issues = facts.time_issues(start_name, started, values.get(start_day))
    if ended is not None and values.get(end_day) is None:
        return [*issues, _required(end_day, str(end_day_required))]
    issues += facts.time_issues(end_name, ended, values.get(end_day))
    if not any(issue.field == end_name for issue in issues):
        issues += checks.check_time_order(end_name, started, ended, zone=facts.zone)
    return issues


def adverse_event(values: Mapping[str, Any], facts: PatientFacts) -> list[Issue]:
    kind, issues = values.get("kind"), []
    if kind == AdverseEventKind.BACTERAEMIA and not (values.get("organism") or "").strip():
        issues.append(_required("organism", _("Give the organism grown in the blood culture (or 'pending').")))
    if kind == AdverseEventKind.OTHER and not (values.get("description") or "").strip():
        issues.append(_required("description", _("Describe the adverse event.")))
    return issues + _kind_only_issues("adverse_events", values)


def _kind_only_issues(form: str, values: Mapping[str, Any]) -> list[Issue]:
    """The answers of :data:`KIND_ONLY_ANSWERS` given with a kind they do not go with."""
    kind = values.get("kind")
    return [
        Issue(name, checks.HARD, f"{name}.{rule}", str(message))
        for name, kinds, rule, message in KIND_ONLY_ANSWERS[form]
        if kind not in kinds and answered(values.get(name))
    ]
