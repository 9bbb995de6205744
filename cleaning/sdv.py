"""Source data verification (SDV, ICH E6 5.18): a monitor compares stored records with the hospital's source
documents and marks them verified.

- **The plan** (``plan_levels``, ``plan_save``): per form of the catalogue, none, its critical fields
  (``Crf.critical``: the values the outcomes and the derivation rest on) or all its fields. A form without a row
  is not verified.
- **A mark** (``sdv_verify``): one record of a planned form verified by a monitor of the patient's site, with the
  fields the plan asked for and the SHA-256 of their values (``values_sha256``: the canonical JSON of the
  signatures, cleaning/signatures.py). A study that is locked refuses; a frozen casebook may still be verified.
  A page shows the hash of what it showed, and a record changed since is refused rather than verified unseen.
- **Changed since verification** (``changes_mark``): cleaning/receivers.py hands over the history rows of every
  commit; a saved change of a verified value (or the record's deletion) marks the verification changed and opens
  (or reopens) the automatic query ``CHANGED_RULE`` of that form and day. Verifying the record again clears the
  mark and closes the query once no changed mark is left on that form and day. A change of a field outside the
  verified ones (a non-critical value under a critical-fields plan) leaves the mark as it is.
- **Progress** (``sdv_progress``, ``unverified_records``): records of planned forms with a mark in force, per site
  and per monitor, counted set-based.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, pgettext_lazy

from cleaning import transitions
from cleaning.models import (
    SDV_CHANGED_RULE,
    MessageKind,
    Query,
    QueryMessage,
    QueryOrigin,
    QueryStatus,
    SdvLevel,
    SdvPlan,
    SourceVerification,
)
from cleaning.services import change_text
from cleaning.signatures import canonical_value, digest
from cohorts import roles
from cohorts.audit import ConcurrentEdit, ensure_unlocked
from cohorts.languages import STORED_LANGUAGE
from cohorts.models import Patient, Study
from ecrf.crfs import CATALOGUE, Crf

#: The version of the verified values' layout: part of what is hashed.
DOCUMENT_FORMAT = "ecrf-sdv/1"
CHANGED_RULE = SDV_CHANGED_RULE
UNVERIFIED, VERIFIED, CHANGED = "unverified", "verified", "changed"
STATES = {
    UNVERIFIED: pgettext_lazy("SDV state", "Not verified"),
    VERIFIED: pgettext_lazy("SDV state", "Verified"),
    CHANGED: gettext_lazy("Changed since verification"),
}
#: The levels whose marks cover a plan's level (a record verified in full covers its critical fields).
COVERING = {SdvLevel.CRITICAL: (SdvLevel.CRITICAL, SdvLevel.ALL), SdvLevel.ALL: (SdvLevel.ALL,)}


def _refuse(message: str, code: str, field: str | None = None) -> ValidationError:
    error = ValidationError(message, code=code)
    return ValidationError({field: error}) if field else error


# ------------------------------------------------------------------------------------------------ the plan


def plan_levels(study: Study) -> dict[str, str]:
    """Form key -> its SDV level, for every form of the catalogue (none when the plan does not name it)."""
    stored = dict(SdvPlan.objects.filter(study=study).values_list("form", "level"))
    return {key: stored.get(key, SdvLevel.NONE) for key in CATALOGUE}


def plan_stamp(study: Study) -> int:
    """The id of the latest history row of the study's SDV plan (0: never set). The plan page sends it back with its
    form (``opened`` of plan_save): the form posts every form's level, so a save over a plan changed meanwhile would
    put the levels it was opened with back."""
    return SdvPlan.history.filter(study=study).aggregate(last=Max("history_id"))["last"] or 0


def _levels_at(study: Study, stamp: int) -> dict[str, str]:
    """The plan as it was at ``stamp`` (plan_stamp then)."""
    levels: dict[str, str] = {}
    rows = SdvPlan.history.filter(study=study, history_id__lte=stamp).order_by("form", "-history_id")
    for form, level in rows.values_list("form", "level"):
        levels.setdefault(form, level)
    return {key: levels.get(key, SdvLevel.NONE) for key in CATALOGUE}


def plan_save(
    *, study: Study, levels: Mapping[str, str], user, reason: str = "SDV plan changed", opened: int | None = None
) -> dict[str, str]:
    """Set the study's SDV plan (form key -> level); every change audited. Refused for a user who does not set the
    study up (PermissionDenied), a locked study, an unknown form or level, or a plan changed since ``opened`` (its
    plan_stamp when the page was opened; ConcurrentEdit naming the forms changed). Returns the plan as stored."""
    if not roles.may_set_up_studies(user, study):
        raise PermissionDenied("The SDV plan is set by the study's data managers.")
    unknown = sorted(set(levels) - set(CATALOGUE))
    if unknown:
        raise _refuse(_("Not a form of the catalogue: %(forms)s.") % {"forms": ", ".join(unknown)}, "unknown_form")
    for key, level in levels.items():
        if level not in SdvLevel.values:
            raise _refuse(
                _("Choose none, critical fields or all fields, not %(level)s.") % {"level": repr(level)},
                "unknown_level",
                key,
            )
    with transaction.atomic():
        ensure_unlocked(study)
        current = {row.form: row for row in SdvPlan.objects.select_for_update().filter(study=study)}
        if opened is not None and plan_stamp(study) != opened:
            then, now, names = _levels_at(study, opened), plan_levels(study), dict(SdvLevel.choices)
            changes = [(CATALOGUE[k].label, names[then[k]], names[now[k]]) for k in CATALOGUE if then[k] != now[k]]
            raise ConcurrentEdit(study, changes)
        for key, level in levels.items():
            row = current.get(key) or SdvPlan(study=study, form=key, level=SdvLevel.NONE)
            if row.pk is not None and row.level == level:
                continue
            if row.pk is None and level == SdvLevel.NONE:
                continue
            row.level = level
            row._history_user = user
            row._change_reason = reason
            row.save()
    return plan_levels(study)


def planned(levels: Mapping[str, str]) -> dict[str, str]:
    """The forms the plan verifies and their level (the forms at none left out); empty: the plan verifies none."""
    return {key: level for key, level in levels.items() if level != SdvLevel.NONE}


def verified_fields(crf: Crf, level: str) -> tuple[str, ...]:
    """The fields a mark of ``level`` verifies (none for the level none)."""
    if level == SdvLevel.ALL:
        return crf.fields
    if level == SdvLevel.CRITICAL:
        return crf.critical
    return ()


# ------------------------------------------------------------------------------------------------ what is verified


def verified_values(crf: Crf, record, fields: Iterable[str]) -> dict:
    """The verified values of one record (or of one of its history rows): its study day, the fields, their
    missing-data codes and the reason the form was not done, as canonical JSON values."""
    fields = list(fields)
    codes = record.missing_codes or {}
    return {
        "format": DOCUMENT_FORMAT,
        "form": crf.key,
        "study_day": record.study_day,
        "values": {name: canonical_value(getattr(record, name)) for name in fields},
        "missing_codes": {name: codes[name] for name in sorted(codes) if name in fields},
        "not_done_reason": record.not_done_reason,
    }


def values_sha256(crf: Crf, record, fields: Iterable[str]) -> str:
    return digest(verified_values(crf, record, fields))


# ------------------------------------------------------------------------------------------------ a patient's records


@dataclass
class Entry:
    """One record of a planned form, with its mark (None: never verified) and its hash now."""

    crf: Crf
    record: object
    level: str
    fields: tuple[str, ...]
    sha256: str
    mark: SourceVerification | None

    @property
    def state(self) -> str:
        if self.mark is None:
            return UNVERIFIED
        if self.mark.is_changed:
            return CHANGED
        # The mark's own fields: a mark made under another level hashed other fields than the plan's now.
        fields = self.mark.fields
        now = self.sha256 if list(self.fields) == fields else values_sha256(self.crf, self.record, fields)
        if self.mark.data_sha256 != now:
            return CHANGED
        if self.mark.scope not in COVERING[self.level]:
            return UNVERIFIED  # verified under a lighter plan than the study's plan now
        return VERIFIED

    @property
    def state_label(self) -> str:
        return STATES[self.state]

    @property
    def key(self) -> str:
        """The checkbox value of the worksheet: form, record and the hash the page showed."""
        return f"{self.crf.key}:{self.record.pk}:{self.sha256}"


def worksheet(patient: Patient, levels: Mapping[str, str] | None = None) -> list[Entry]:
    """Every record of the patient's planned forms, by form then study day: one query per planned form and one
    for the marks."""
    levels = plan_levels(patient.study) if levels is None else levels
    marks = {
        (mark.form, mark.record_id): mark
        for mark in SourceVerification.objects.filter(patient=patient).select_related("verified_by")
    }
    entries = []
    for key, level in planned(levels).items():
        crf = CATALOGUE[key]
        fields = verified_fields(crf, level)
        for record in crf.model.objects.filter(patient=patient).order_by("study_day", "pk"):
            sha = values_sha256(crf, record, fields)
            entries.append(Entry(crf, record, level, fields, sha, marks.get((crf.key, record.pk))))
    return entries


def _check_verifier(user, patient: Patient) -> None:
    if not roles.has_study_role(user, patient.study, roles.SDV_VERIFIERS, site=patient.site):
        raise PermissionDenied("Only a monitor of the patient's site verifies its records against source.")


def parse_keys(keys: Iterable[str]) -> list[tuple[str, int, str]]:
    """The worksheet's checkbox values as (form, record id, hash shown); a malformed one is refused."""
    items = []
    for key in keys:
        form, _colon, rest = str(key).partition(":")
        record_id, _colon, seen = rest.partition(":")
        if form not in CATALOGUE or not record_id.isdigit():
            raise _refuse(_("Not a record of the worksheet: %(key)s.") % {"key": repr(key)}, "unknown_record")
        items.append((form, int(record_id), seen))
    return items


def sdv_verify(*, user, patient: Patient, items: Iterable[tuple[str, int, str | None]], now=None) -> int:
    """Mark records verified against source as ``user``: ``items`` are (form key, record id, the hash the page
    showed or None to take the values as stored). Refused (nothing written) for a user who is not a monitor of the
    patient's site, a locked study, a form not in the plan, a record of another patient or gone, or a record
    changed since the page showed it. Returns how many marks were written."""
    _check_verifier(user, patient)
    items = list(items)
    if not items:
        raise _refuse(_("Tick at least one record to verify."), "nothing_chosen")
    now = now or timezone.now()
    with transaction.atomic():
        patient = Patient.objects.select_for_update(of=("self",)).select_related("study", "site").get(pk=patient.pk)
        ensure_unlocked(patient.study)
        levels = plan_levels(patient.study)
        marks = {
            (mark.form, mark.record_id): mark
            for mark in SourceVerification.objects.select_for_update().filter(patient=patient)
        }
        ids_by_form: dict[str, set[int]] = defaultdict(set)
        for form, record_id, _seen in items:
            ids_by_form[form].add(record_id)
        records = {  # one query per form
            form: CATALOGUE[form].model.objects.filter(patient=patient).in_bulk(ids)
            for form, ids in ids_by_form.items()
        }
        written = 0
        for form, record_id, seen in items:
            crf, level = CATALOGUE[form], levels[form]
            if level == SdvLevel.NONE:
                raise _refuse(_("%(form)s is not in the study's SDV plan.") % {"form": crf.label}, "not_planned")
            record = records[form].get(record_id)
            if record is None:
                raise _refuse(
                    _("%(form)s record %(record)s is not a record of this patient.")
                    % {"form": crf.label, "record": record_id},
                    "unknown_record",
                )
            fields = verified_fields(crf, level)
            sha = values_sha256(crf, record, fields)
            if seen and seen != sha:
                raise _refuse(
                    _("%(form)s, day %(day)s changed since the page was shown: look at it again before verifying it.")
                    % {"form": crf.label, "day": record.study_day},
                    "changed_since_shown",
                )
            mark = marks.get((form, record_id)) or SourceVerification(
                study=patient.study, patient=patient, form=form, record_id=record_id
            )
            mark.study_day = record.study_day
            mark.scope = level
            mark.fields = list(fields)
            mark.data_sha256 = sha
            mark.verified_by = user
            mark.verified_at = now
            mark.changed_at, mark.changed_by, mark.change_text = None, None, ""
            mark._history_user = user
            mark._change_reason = "verified against source"
            mark.save()
            marks[(form, record_id)] = mark
            written += 1
        _close_cleared(patient, marks.values(), user, now)
    return written


def _close_cleared(patient: Patient, marks: Iterable[SourceVerification], user, now) -> None:
    """Close the patient's open 'changed since verification' queries whose form and day have no changed mark
    left."""
    changed = [mark for mark in marks if mark.is_changed]
    # The query of a changed mark is on the day of the change: the record's day now when its (critical) study day
    # changed, which is not the day it was verified on.
    still_changed = {(mark.form, mark.study_day) for mark in changed}
    changed_records = {(mark.form, mark.record_id) for mark in changed}
    ids_by_form: dict[str, set[int]] = defaultdict(set)
    for mark in changed:
        ids_by_form[mark.form].add(mark.record_id)
    for form, ids in ids_by_form.items():
        days = CATALOGUE[form].model.objects.filter(pk__in=ids).values_list("study_day", flat=True)
        still_changed |= {(form, day) for day in days}
    for query in Query.objects.filter(patient=patient, rule=CHANGED_RULE).exclude(status=QueryStatus.CLOSED):
        if (query.form, query.study_day) in still_changed or (query.form, query.record_id) in changed_records:
            continue
        transitions.closed(query, at=now)
        query._history_user = user
        query._change_reason = "closed: verified again against source"
        query.save()
        QueryMessage.objects.create(
            query=query,
            kind=MessageKind.CLOSED_BY_SYSTEM,
            text=f"Verified again against source by {user.get_full_name() or user.get_username()}.",
            created_at=now,
        )


def patients_verify(*, user, study: Study, patient_ids: Iterable[int]) -> int:
    """Bulk verification from the record status dashboard: every record of the chosen patients' planned forms
    that is not verified (never, under a lighter plan, or changed since) marked verified as stored now. The
    patients must be of the study and at the user's sites as a monitor; returns the marks written."""
    patients = list(
        Patient.objects.filter(study=study, pk__in=list(patient_ids)).select_related("study", "site").order_by("pk")
    )
    if not patients:
        raise _refuse(_("Tick at least one patient to verify."), "nothing_chosen")
    for patient in patients:
        _check_verifier(user, patient)
    levels = plan_levels(study)
    if not planned(levels):
        raise _refuse(_("The study's SDV plan verifies no form: set it on the SDV page first."), "no_plan")
    written = 0
    with transaction.atomic():
        for patient in patients:
            items = [
                (entry.crf.key, entry.record.pk, entry.sha256)
                for entry in worksheet(patient, levels)
                if entry.state != VERIFIED
            ]
            if items:
                written += sdv_verify(user=user, patient=patient, items=items)
    return written


# ------------------------------------------------------------------------------------------------ changes


def _changed_query(mark: SourceVerification, row, text: str, now) -> None:
    """Open, or reopen, the automatic query of the changed mark's form and (new) study day."""
    study_day = row.study_day if row.study_day is not None else mark.study_day
    question = (
        f"A value verified against source changed after verification: {text}. Correct it, or ask the monitor to "
        "verify it again against source."
    )
    query, created = Query.objects.get_or_create(
        rule=CHANGED_RULE,
        patient_id=mark.patient_id,
        study_day=study_day,
        form=mark.form,
        field="",
        origin=QueryOrigin.RULE,
        defaults={
            "study_id": mark.study_id,
            "record_id": mark.record_id,
            "text": question[:4000],
            "opened_at": now,
        },
    )
    if created:
        QueryMessage.objects.create(query=query, kind=MessageKind.OPENED, text=query.text, created_at=now)
        return
    if query.status == QueryStatus.OPEN and query.record_id != mark.record_id:
        query.record_id = mark.record_id  # the link goes to the record that changed last
        query.save(update_fields=["record_id"])
        return
    query.record_id = mark.record_id
    if query.status != QueryStatus.OPEN:
        transitions.reopened(query)
        query._history_user = None
        query._change_reason = "reopened: a verified value changed"
        query.save()
        QueryMessage.objects.create(query=query, kind=MessageKind.REOPENED_BY_SYSTEM, text=question, created_at=now)


def changes_mark(rows: Iterable[tuple[str, object]]) -> int:
    """Mark changed the verifications whose verified values a transaction changed. ``rows``: (form key, history
    row) of the forms saved in it. One read of the marks in force of their patients (none: nothing more); returns
    how many were marked."""
    rows = list(rows)
    if not rows:
        return 0
    with translation.override(STORED_LANGUAGE):  # the change and its query are stored: not in the user's language
        return _changes_mark(rows)


def _changes_mark(rows: list) -> int:
    # By patient, as the signatures and the query threads read theirs: an import of many records of few patients
    # asks for a few ids, not one per record.
    patient_ids = {row.patient_id for _form, row in rows}
    forms = {form for form, _row in rows}
    marks = {
        (m.form, m.record_id): m
        for m in SourceVerification.objects.filter(patient_id__in=patient_ids, form__in=forms, changed_at__isnull=True)
    }
    if not marks:
        return 0
    marked = 0
    for form, row in sorted(rows, key=lambda item: item[1].history_date):
        mark = marks.get((form, row.id))
        if mark is None or mark.is_changed or row.history_date < mark.verified_at:
            continue
        crf = CATALOGUE[form]
        if row.history_type != "-" and values_sha256(crf, row, mark.fields) == mark.data_sha256:
            continue  # saved without a change of a verified value
        _fields, text = change_text(form, row)
        text = f"{crf.label}, day {row.study_day}: {text}"
        mark.changed_at = row.history_date
        mark.changed_by_id = row.history_user_id
        mark.change_text = text[:2000]
        mark._history_user = None
        mark._change_reason = "changed since verification"
        mark.save()
        _changed_query(mark, row, text, timezone.now())
        marked += 1
    return marked


# ------------------------------------------------------------------------------------------------ progress


def _in_force(levels: Mapping[str, str]) -> Q:
    """The marks in force under the plan: not changed, of a planned form, at a covering scope."""
    condition = Q(pk__in=[])
    for key, level in planned(levels).items():
        condition |= Q(form=key, scope__in=COVERING[level])
    return condition & Q(changed_at__isnull=True)


def _records(crf: Crf, patients: QuerySet[Patient], levels: Mapping[str, str]) -> QuerySet:
    """The form's records of ``patients``, annotated ``verified`` (a mark in force)."""
    marks = SourceVerification.objects.filter(_in_force(levels), form=crf.key, record_id=OuterRef("pk"))
    return crf.model.objects.filter(patient__in=patients).annotate(verified=Exists(marks))


@dataclass(frozen=True)
class Progress:
    label: str
    records: int
    verified: int

    @property
    def percent(self) -> float:
        """Verified / records in %, to one decimal; never 100 while a record is left (1,092 of 1,093: 99.9, not
        100), nor 0 once one is verified (2 of 1,093: 0.2, not 0). No record: 100 (nothing left to verify)."""
        if not self.records:
            return 100.0
        share = round(100 * self.verified / self.records, 1)
        if self.verified < self.records:
            share = min(share, 99.9)
        return max(share, 0.1) if self.verified else share


def sdv_progress(study: Study, patients: QuerySet[Patient]) -> tuple[list[Progress], list[Progress]]:
    """Per site (records of the planned forms, verified under the plan) and per monitor (marks in force by each),
    over ``patients`` (the user's sites). Two queries per planned form and one for the monitors."""
    levels = plan_levels(study)
    totals: dict[str, list[int]] = {}
    for key in planned(levels):
        counts = (
            _records(CATALOGUE[key], patients, levels)
            .values("patient__site__name")
            .annotate(n=Count("pk"), v=Count("pk", filter=Q(verified=True)))
        )
        for row in counts:
            site = totals.setdefault(row["patient__site__name"], [0, 0])
            site[0] += row["n"]
            site[1] += row["v"]
    by_site = [Progress(name, n, v) for name, (n, v) in sorted(totals.items())]
    monitors = (
        SourceVerification.objects.filter(_in_force(levels), patient__in=patients)
        .values("verified_by__username", "verified_by__first_name", "verified_by__last_name")
        .annotate(n=Count("pk"))
        .order_by("verified_by__username")
    )
    by_monitor = [
        Progress(
            f"{row['verified_by__first_name']} {row['verified_by__last_name']}".strip() or row["verified_by__username"],
            row["n"],
            row["n"],
        )
        for row in monitors
    ]
    return by_site, by_monitor


def unverified_records(study: Study) -> tuple[int, list[str]]:
    """Records of the planned forms without a mark in force, and their participants (the lock's checklist)."""
    levels = plan_levels(study)
    patients = Patient.objects.filter(study=study)
    total, cases = 0, set()
    for key in planned(levels):
        found = list(
            _records(CATALOGUE[key], patients, levels)
            .filter(verified=False)
            .values_list("patient__participant_id", flat=True)
        )
        total += len(found)
        cases.update(found)
    return total, sorted(cases)


def state_counts(entries: Iterable[Entry]) -> dict[str, int]:
    """How many worksheet entries are in each state (every state, in STATES' order)."""
    counts = dict.fromkeys(STATES, 0)
    for entry in entries:
        counts[entry.state] += 1
    return counts


def patient_states(patient: Patient) -> dict[str, int]:
    """How many of the patient's planned records are in each state."""
    return state_counts(worksheet(patient))
