"""The lock's checklist (clinical definitions §5): what a release should not freeze without a decision.

Each item is counted set-based over the whole study (a fixed number of queries whatever its size) and names its
first cases with a link to them. A lock is refused while an item is not zero, unless the data manager overrides
that item with a reason; the release's manifest records the checklist as it was at the lock, with the overrides.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db.models import Exists, F, Max, OuterRef
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cleaning import sdv, signature_state
from cleaning import selectors as cleaning_selectors
from cohorts.models import Patient, Study
from ecrf.crfs import CATALOGUE, DAY_FORMS
from ecrf.dashboard import past_days_missing
from ecrf.models import DispositionEvent, DispositionKind, PatientDerivation
from ecrf.selectors import DaysSince, Today, sites_today

#: Participants named per item on the page and in the manifest (the count is always the whole one).
MAX_CASES = 20
#: A disposition that ends the follow-up for good (a discharged patient is still followed to the last day).
ENDS_FOLLOW_UP = (DispositionKind.DEATH, DispositionKind.WITHDRAWAL, DispositionKind.LOST)


@dataclass(frozen=True)
class Item:
    key: str
    label: str  # lazy: the page shows it in the reader's language, the manifest keeps it in English
    explanation: str
    count: int
    cases: list[str] = field(default_factory=list)  # participant ids, all of them (the page shows the first)
    url: str = ""  # the page listing the cases

    @property
    def first_cases(self) -> list[str]:
        return self.cases[:MAX_CASES]

    @property
    def more_cases(self) -> int:
        return max(len(self.cases) - MAX_CASES, 0)


def _open_queries(study: Study, today: Today) -> Item:
    waiting = cleaning_selectors.waiting_counts(study=study)
    url = reverse("query_list", args=[study.code]) + "?status=waiting"
    cases = cleaning_selectors.waiting_participants(study=study)
    return Item(
        "open_queries",
        gettext_lazy("Open queries"),
        _("Queries open or answered but not closed: the values they are about may be doubtful."),
        waiting["open"] + waiting["answered"],
        cases,
        url,
    )


def _follow_up_not_ended(study: Study, today: Today) -> Item:
    ended = DispositionEvent.objects.filter(patient=OuterRef("pk"), kind__in=ENDS_FOLLOW_UP)
    patients = (
        Patient.objects.filter(study=study)
        .annotate(today_day=DaysSince("enrolment_date", today))
        .filter(today_day__lt=study.follow_up_days)
        .exclude(Exists(ended))
        .order_by("participant_id")
        .values_list("participant_id", flat=True)
    )
    cases = list(patients)
    return Item(
        "follow_up_not_ended",
        gettext_lazy("Follow-up not ended"),
        _(
            "Patients before day %(day)s of their follow-up, alive and not withdrawn or lost: their outcomes are not "
            "known yet (a survival time is censored today)."
        )
        % {"day": study.follow_up_days},
        len(cases),
        cases,
        reverse("patient_list", args=[study.code]),
    )


def _missing_forms(study: Study, today: Today) -> Item:
    counted = past_days_missing(Patient.objects.filter(study=study), study, today)
    total, cases = 0, []
    for patient in counted.order_by("participant_id"):
        required = max(patient.last_past + 1, 0)
        gap = sum(required - getattr(patient, f"n_{key}") for key in DAY_FORMS)
        if gap:
            total += gap
            cases.append(patient.participant_id)
    return Item(
        "missing_forms",
        gettext_lazy("Missing forms"),
        _(
            "One-per-day forms not entered for required days before today (day 0 to the end of follow-up, before the "
            "day of death)."
        ),
        total,
        cases,
        reverse("study_dashboard", args=[study.code]),
    )


def _future_data(study: Study, today: Today) -> Item:
    """Records dated after today: their study day is later than today's study day of their patient."""
    total, cases = 0, set()
    for crf in CATALOGUE.values():
        rows = (
            crf.model.objects.filter(patient__study=study)
            .annotate(today_day=DaysSince(F("patient__enrolment_date"), today, site_field="patient__site_id"))
            .filter(study_day__gt=F("today_day"))
            .values_list("patient__participant_id", flat=True)
        )
        found = list(rows)
        total += len(found)
        cases.update(found)
    return Item(
        "future_data",
        gettext_lazy("Data dated after today"),
        _("Records whose study day is a date after today: a wrong study day or enrolment date."),
        total,
        sorted(cases),
        reverse("patient_list", args=[study.code]),
    )


def stale_derived(study: Study) -> list[str]:
    """Participants whose source data changed after they were last derived (or who never were): a record saved
    (its ``updated_at``) or deleted (its history's deletion row) since."""
    computed = dict(PatientDerivation.objects.filter(patient__study=study).values_list("patient_id", "derived_at"))
    participants = dict(Patient.objects.filter(study=study).values_list("pk", "participant_id"))
    stale = set()
    for crf in CATALOGUE.values():
        if not crf.triggers_derivation:
            continue  # drugs do not enter the derivation
        model = crf.model
        saved = model.objects.filter(patient__study=study).values_list("patient_id").annotate(last=Max("updated_at"))
        deleted = (
            model.history.filter(history_type="-", patient_id__in=Patient.objects.filter(study=study).values("pk"))
            .values_list("patient_id")
            .annotate(last=Max("history_date"))
        )
        for rows in (saved, deleted):
            stale.update(pk for pk, last in rows if pk not in computed or computed[pk] < last)
    return sorted(participants[pk] for pk in stale)


def _derived_stale(study: Study, today: Today) -> Item:
    stale = stale_derived(study)
    return Item(
        "derived_stale",
        gettext_lazy("Derived data out of date"),
        _(
            "Patients whose source data changed after their derived days were last computed: the derivation job has "
            "not caught up (is a worker running?)."
        ),
        len(stale),
        stale,
        "",
    )


def _unsigned_casebooks(study: Study, today: Today) -> Item:
    """Patients without an investigator's signature in force, or whose signature a later change broke."""
    patients = dict(Patient.objects.filter(study=study).order_by("participant_id").values_list("pk", "participant_id"))
    states = signature_state.signature_states(patients)
    cases = [pid for pk, pid in patients.items() if states[pk] != signature_state.SIGNED]
    return Item(
        "unsigned_casebooks",
        gettext_lazy("Unsigned casebooks"),
        _("Patients whose casebook no investigator has signed, or whose signature a later change of data broke."),
        len(cases),
        cases,
        reverse("signature_list", args=[study.code]),
    )


def _sdv_incomplete(study: Study, today: Today) -> Item:
    """Records of the planned forms without a monitor's verification in force (cleaning/sdv.py)."""
    count, cases = sdv.unverified_records(study)
    return Item(
        "sdv_incomplete",
        gettext_lazy("SDV incomplete"),
        _(
            "Records of the forms in the study's SDV plan that no monitor has verified against source, or that changed "
            "since verification."
        ),
        count,
        cases,
        reverse("sdv_study", args=[study.code]),
    )


CHECKS = (
    _open_queries,
    _follow_up_not_ended,
    _missing_forms,
    _unsigned_casebooks,
    _sdv_incomplete,
    _future_data,
    _derived_stale,
)
KEYS = (
    "open_queries",
    "follow_up_not_ended",
    "missing_forms",
    "unsigned_casebooks",
    "sdv_incomplete",
    "future_data",
    "derived_stale",
)


def lock_checklist(study: Study, today: Today | None = None) -> list[Item]:
    """Every item of the checklist for the study as it is now ("today": today at each patient's site)."""
    today = today or sites_today(study)
    return [check(study, today) for check in CHECKS]


def overrides_given(data: Mapping[str, str]) -> dict[str, str]:
    """The overrides of a lock request: item key -> its reason (blank reasons are no override)."""
    return {key: str(data[key]).strip() for key in KEYS if str(data.get(key) or "").strip()}


def refusal(items: list[Item], overrides: Mapping[str, str]) -> ValidationError | None:
    """The refusal of a lock while an item is not zero and not overridden with a reason, each next to its item's
    override field (``override_<key>``); None when the lock may go on."""
    errors = {
        f"override_{item.key}": ValidationError(
            _("%(item)s: %(count)s. Resolve them, or give a reason to lock with them.")
            % {"item": item.label, "count": item.count},
            code="checklist_open",
        )
        for item in items
        if item.count and not overrides.get(item.key)
    }
    return ValidationError(errors) if errors else None


def manifest_record(items: list[Item], overrides: Mapping[str, str]) -> list[dict]:
    """The checklist as the manifest keeps it: every item, its count and first cases, and the override reason of
    each item that was not zero. In English whatever the language of the request: releases are language-independent."""
    with translation.override("en-gb"):
        labels = [str(item.label) for item in items]
    return [
        {
            "item": item.key,
            "label": label,
            "count": item.count,
            "cases": item.first_cases,
            "more_cases": item.more_cases,
            "override_reason": overrides.get(item.key, "") if item.count else "",
        }
        for item, label in zip(items, labels, strict=True)
    ]
