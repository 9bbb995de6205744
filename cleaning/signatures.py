"""Electronic signatures of casebooks (21 CFR Part 11 §11.50, §11.200): what is signed, when a casebook may be
signed, signing, and how a later change of the data breaks a signature.

- **What is signed** (``casebook_document``, ``digest``): the stored values of the patient's records in the range
  of study days (every form of the catalogue, its fields; a record on the day the casebook shows it, as
  ``ecrf.selectors.casebook_get`` places it) and the patient's baseline, as canonical JSON (sorted keys, records
  sorted, decimals without trailing zeros), hashed with SHA-256. Bookkeeping (versions, save times, database ids)
  is not signed, so only a change of a value changes the hash.
- **When** (``signature_blockers``): every required form of the range entered (ecrf's rules of the casebook: a day
  not yet due, after the end of follow-up or from the day of death is not required), and no query of the patient
  on those days (or on the patient as a whole) open or answered but not closed.
- **Signing** (``casebook_sign``): an investigator at the patient's site (``roles.SIGNERS``), the study not
  locked, no blocker, then the two components again: the password (django-axes counts a wrong one toward the
  lockout) and, when the user has a device or the study requires it, a code of the second factor. The signature
  records the printed name, the time in UTC and at the site, the meaning and the hash; its history reason is
  "signed".
- **Breaking** (``changes_break``): cleaning/receivers.py hands over, after each commit, the history rows of the
  forms and of the patients saved in it; a change of a value in a signed range (or of the baseline) sets the
  signature's ``broken_at`` and names the change. The broken row stays for the audit trail; a new signature is a
  new row, which supersedes the earlier ones of the days it covers (``current``).
"""

from __future__ import annotations

import datetime
import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from accounts import reauth
from cleaning.models import SIGNATURE_MEANING, Query, QueryStatus, Signature
from cleaning.services import change_text
from cohorts import roles
from cohorts.audit import ensure_unlocked
from cohorts.clock import site_zone
from cohorts.languages import STORED_LANGUAGE
from cohorts.models import COMORBIDITIES, Patient
from ecrf.crfs import CATALOGUE, DAY_FORMS
from ecrf.selectors import MISSING, day_state, study_day_today, with_follow_up_end

#: The version of the signed document's layout: part of what is hashed.
DOCUMENT_FORMAT = "ecrf-casebook-signature/1"
#: The patient's baseline as it is signed (the patient model's fields; site and arm by their codes).
BASELINE_FIELDS = (
    "participant_id",
    "site",
    "arm",
    "enrolment_date",
    "sex",
    "age_years",
    "weight_kg",
    "weight_confirmed",
    *COMORBIDITIES,
    "status",
)
NO_SECOND_FACTOR = gettext_lazy(
    "This study requires two-factor authentication: set up an authenticator app (Two-factor authentication, top "
    "right) before signing."
)


def _refuse(field: str | None, message: str, code: str) -> ValidationError:
    error = ValidationError(message, code=code)
    return ValidationError({field: error}) if field else error


# ------------------------------------------------------------------------------------------------ the range


def whole_casebook(patient: Patient) -> tuple[int, int]:
    return 0, patient.study.follow_up_days


def casebook_day(study_day: int, follow_up_days: int) -> int:
    """The casebook's row of a record's study day (a record outside the follow-up is shown on its first or last
    day, as ecrf.selectors.casebook_get places it)."""
    return min(max(study_day, 0), follow_up_days)


def _in_range(first_day: int, last_day: int, follow_up_days: int) -> Q:
    """Records whose casebook day is in the range."""
    condition = Q(study_day__gte=first_day, study_day__lte=last_day)
    if first_day == 0:
        condition |= Q(study_day__lt=0)
    if last_day == follow_up_days:
        condition |= Q(study_day__gt=follow_up_days)
    return condition


def check_range(patient: Patient, first_day: int | None, last_day: int | None) -> tuple[int, int]:
    """The range to sign (the whole casebook for None), or a ValidationError next to the wrong day."""
    whole_first, whole_last = whole_casebook(patient)
    first_day = whole_first if first_day is None else first_day
    last_day = whole_last if last_day is None else last_day
    outside = {
        name: ValidationError(
            _("Study day %(day)s is outside the casebook's days %(first)s to %(last)s.")
            % {"day": day, "first": whole_first, "last": whole_last},
            code="day_outside",
        )
        for name, day in (("first_day", first_day), ("last_day", last_day))
        if not whole_first <= day <= whole_last
    }
    if outside:
        raise ValidationError(outside)
    if last_day < first_day:
        raise _refuse("last_day", _("The last day comes before the first day."), "range_reversed")
    return first_day, last_day


# ------------------------------------------------------------------------------------------------ what is signed


def canonical_value(value: Any) -> Any:
    """A stored value as JSON: decimals as text without trailing zeros (37.40 and 37.4 are one value), dates
    in ISO 8601, related rows by their code."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, models.Model):  # the patient's site and arm
        return value.code
    return value


def record_values(crf, record) -> dict:
    """One record as signed: its study day, every field of its form, its missing-data codes and the reason it was
    not done (a value replaced by a code, or a code by another, is a change of the signed data)."""
    return {
        "study_day": record.study_day,
        **{name: canonical_value(getattr(record, name)) for name in crf.fields},
        "missing_codes": dict(sorted((record.missing_codes or {}).items())),
        "not_done_reason": record.not_done_reason,
    }


def baseline_values(patient: Patient) -> dict:
    return {name: canonical_value(getattr(patient, name)) for name in BASELINE_FIELDS}


def document(patient: Patient, first_day: int, last_day: int, records: dict[str, Iterable]) -> dict:
    """The signed document of the range: the patient's baseline and ``records`` (form key -> records), records
    sorted by their values so that neither database ids nor the order of saving matter."""
    forms = {}
    for key, rows in records.items():
        values = [record_values(CATALOGUE[key], record) for record in rows]
        forms[key] = sorted(values, key=lambda item: json.dumps(item, sort_keys=True))
    return {
        "format": DOCUMENT_FORMAT,
        "study": patient.study.code,
        "first_day": first_day,
        "last_day": last_day,
        "baseline": baseline_values(patient),
        "forms": forms,
    }


def digest(signed: dict) -> str:
    """SHA-256 (hex) of the canonical JSON of a signed document: sorted keys, no spaces, UTF-8."""
    text = json.dumps(signed, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def casebook_document(patient: Patient, first_day: int, last_day: int) -> dict:
    """The document as stored now: the patient read again, then one query per form."""
    patient = Patient.objects.select_related("study", "site", "arm").get(pk=patient.pk)
    in_range = _in_range(first_day, last_day, patient.study.follow_up_days)
    records = {key: crf.model.objects.filter(in_range, patient=patient) for key, crf in CATALOGUE.items()}
    return document(patient, first_day, last_day, records)


def casebook_digest(patient: Patient, first_day: int, last_day: int) -> str:
    return digest(casebook_document(patient, first_day, last_day))


# ------------------------------------------------------------------------------------------------ blockers


@dataclass(frozen=True)
class Blocker:
    """A reason the range cannot be signed yet, with what to open to clear it: (label, url) links."""

    code: str
    text: str
    count: int
    links: tuple[tuple[str, str], ...]


def _with_follow_up_end(patient: Patient) -> Patient:
    if hasattr(patient, "end_day") and hasattr(patient, "death_day"):
        return patient
    return with_follow_up_end(Patient.objects.select_related("study", "site")).get(pk=patient.pk)


def missing_forms(patient: Patient, first_day: int, last_day: int, today: datetime.date | None = None) -> dict:
    """{form key: [study days]} of the one-per-day forms the casebook shows as missing in the range (one query per
    form); ``today`` is the date at the patient's site by default."""
    patient = _with_follow_up_end(patient)
    today_day = study_day_today(patient, today)
    missing = {}
    for key, crf in DAY_FORMS.items():
        entered = {
            record.study_day: record
            for record in crf.model.objects.filter(
                patient=patient, study_day__gte=first_day, study_day__lte=last_day
            ).only("study_day", "not_done_reason")
        }
        days = [
            day
            for day in range(first_day, last_day + 1)
            if day_state(patient, day, today_day, entered.get(day)) == MISSING
        ]
        if days:
            missing[key] = days
    return missing


def waiting_queries(patient: Patient, first_day: int, last_day: int) -> list[Query]:
    """The patient's queries open or answered but not closed, on days of the range or on the patient as a whole."""
    in_range = _in_range(first_day, last_day, patient.study.follow_up_days) | Q(study_day__isnull=True)
    return list(
        Query.objects.filter(in_range, patient=patient, status__in=[QueryStatus.OPEN, QueryStatus.ANSWERED])
        .order_by("study_day", "pk")
        .only("pk", "study_day", "form", "status")
    )


def signature_blockers(
    patient: Patient, first_day: int, last_day: int, today: datetime.date | None = None
) -> list[Blocker]:
    """Why the range cannot be signed now (empty: it can), each reason with its count and its links."""
    blockers = []
    for key, days in missing_forms(patient, first_day, last_day, today).items():
        label = DAY_FORMS[key].label
        blockers.append(
            Blocker(
                "forms_missing",
                ngettext("%(form)s not entered on %(count)s day", "%(form)s not entered on %(count)s days", len(days))
                % {"form": label, "count": len(days)},
                len(days),
                tuple((_("day %(day)s") % {"day": day}, reverse("day_entry", args=[patient.pk, day])) for day in days),
            )
        )
    queries = waiting_queries(patient, first_day, last_day)
    if queries:
        n = len(queries)
        blockers.append(
            Blocker(
                "queries_waiting",
                ngettext(
                    "%(count)s query open or answered but not closed",
                    "%(count)s queries open or answered but not closed",
                    n,
                )
                % {"count": n},
                n,
                tuple((_query_label(query), reverse("query_detail", args=[query.pk])) for query in queries),
            )
        )
    return blockers


def _query_label(query: Query) -> str:
    words = {"pk": query.pk, "status": query.get_status_display().lower(), "day": query.study_day}
    if query.form in CATALOGUE:
        words["form"] = CATALOGUE[query.form].label
        if query.study_day is None:
            return _("#%(pk)s (%(status)s): the patient, %(form)s") % words
        return _("#%(pk)s (%(status)s): day %(day)s, %(form)s") % words
    if query.study_day is None:
        return _("#%(pk)s (%(status)s): the patient") % words
    return _("#%(pk)s (%(status)s): day %(day)s") % words


# ------------------------------------------------------------------------------------------------ signing


def printed_name(user) -> str:
    """The signer's name as the signature prints it: the account's full name ("" when it has none)."""
    return user.get_full_name().strip()


NO_PRINTED_NAME = gettext_lazy(
    "Your account has no first and last name to print with your signature: ask the system administrator to record them."
)


def local_time_text(moment: datetime.datetime, zone) -> str:
    """A time as shown at a site: "2026-12-03 11:15:42 CET (UTC+01:00)"."""
    local = moment.astimezone(zone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname()} (UTC{offset[:3]}:{offset[3:]})"


@dataclass(frozen=True)
class SigningCheck:
    """What the signing page shows before the credentials: why nobody can sign now (``refusal``), else what
    stands in the way (``blockers``), else the hash of the data to sign."""

    refusal: str = ""
    blockers: list[Blocker] = field(default_factory=list)
    data_sha256: str = ""


def _refusal(patient: Patient, user) -> ValidationError | None:
    """Why ``user`` cannot sign any casebook of this study now: the study is locked, or the account has no name."""
    try:
        ensure_unlocked(patient.study)
    except ValidationError as locked:
        return locked
    if not printed_name(user):
        return ValidationError(NO_PRINTED_NAME, code="printed_name_missing")
    return None


def signing_check(
    patient: Patient, user, first_day: int, last_day: int, today: datetime.date | None = None
) -> SigningCheck:
    if (refusal := _refusal(patient, user)) is not None:
        return SigningCheck(refusal=refusal.messages[0])
    if blockers := signature_blockers(patient, first_day, last_day, today):
        return SigningCheck(blockers=blockers)
    return SigningCheck(data_sha256=casebook_digest(patient, first_day, last_day))


def _already_signed(patient: Patient, first_day: int, last_day: int, user, data_sha256: str) -> Signature | None:
    return (
        Signature.objects.filter(
            patient=patient,
            first_day=first_day,
            last_day=last_day,
            signer=user,
            data_sha256=data_sha256,
            broken_at__isnull=True,
        )
        .order_by("-signed_at")
        .first()
    )


def _ready(patient: Patient, first_day: int, last_day: int, user, seen_sha256: str | None, today) -> str:
    """The checks of the data before and after the credentials: no blocker, the data as the page showed them,
    not signed already by this user. Returns the hash to sign."""
    blockers = signature_blockers(patient, first_day, last_day, today)
    if blockers:
        raise ValidationError(
            [ValidationError(f"{b.text}.", code=b.code) for b in blockers]
            + [ValidationError(_("Complete the forms and close the queries, then sign."), code="blocked")]
        )
    data_sha256 = casebook_digest(patient, first_day, last_day)
    if seen_sha256 and seen_sha256 != data_sha256:
        raise _refuse(
            None,
            _("The data of this casebook changed since you opened this page: review them and sign again."),
            "data_changed",
        )
    earlier = _already_signed(patient, first_day, last_day, user, data_sha256)
    if earlier is not None:
        raise _refuse(
            None,
            _("You signed these days on %(time)s UTC and the data have not changed since.")
            % {"time": f"{earlier.signed_at:%Y-%m-%d %H:%M}"},
            "already_signed",
        )
    return data_sha256


def casebook_sign(
    *,
    patient: Patient,
    first_day: int | None,
    last_day: int | None,
    user,
    password: str,
    otp_token: str | None,
    request,
    seen_sha256: str | None = None,
    today: datetime.date | None = None,
) -> Signature:
    """Sign the patient's casebook (``first_day``/``last_day`` None: the whole of it) as ``user``.

    Refused with PermissionDenied for a user who does not sign at the patient's site; with a ValidationError
    for a locked study, a wrong range (next to the day), a blocker (the list), data changed since the page
    showed ``seen_sha256``, a wrong password (next to ``password``: django-axes counts it toward the lockout) or
    a missing or wrong code (next to ``otp_token``). The credentials are checked outside any transaction, so
    that a refusal does not roll back django-axes' count of a wrong password.
    """
    if not roles.has_study_role(user, patient.study, roles.SIGNERS, site=patient.site):
        raise PermissionDenied("Only an investigator of the patient's site signs its casebook.")
    if (refusal := _refusal(patient, user)) is not None:
        raise refusal
    first_day, last_day = check_range(patient, first_day, last_day)
    _ready(patient, first_day, last_day, user, seen_sha256, today)
    if error := reauth.password_error(request, user, password):
        raise ValidationError({"password": error})
    if error := reauth.second_factor_error(user, otp_token, doing="sign", missing=NO_SECOND_FACTOR):
        raise ValidationError({"otp_token": error})
    with transaction.atomic():
        patient = Patient.objects.select_for_update(of=("self",)).select_related("study", "site").get(pk=patient.pk)
        ensure_unlocked(patient.study)
        # Checked again under the patient's lock: the data as they are when the signature is written.
        data_sha256 = _ready(patient, first_day, last_day, user, seen_sha256, today)
        now = timezone.now()
        zone = site_zone(patient.site)
        signature = Signature(
            study=patient.study,
            patient=patient,
            first_day=first_day,
            last_day=last_day,
            signer=user,
            printed_name=printed_name(user),
            signed_at=now,
            site_time_zone=str(zone),
            signed_at_local=local_time_text(now, zone),
            meaning=SIGNATURE_MEANING,
            data_sha256=data_sha256,
        )
        signature._history_user = user
        signature._change_reason = "signed"
        signature.full_clean()
        signature.save()
        # A change committed by someone else while this one commits is seen by neither side's check: compare
        # the data once more after the commit (cleaning/receivers.py breaks it for any later change).
        transaction.on_commit(lambda: signature_verify(signature.pk), robust=True)
    return signature


# ------------------------------------------------------------------------------------------------ breaking


def _break(signature: Signature, *, at, user_id, text: str, history_model: str = "", history_record=None) -> None:
    signature.broken_at = at
    signature.broken_by_id = user_id
    signature.broken_by_change = text[:2000]
    signature.broken_history_model = history_model
    signature.broken_history_record = history_record
    signature._history_user = None
    signature._change_reason = "broken: data changed after signing"
    signature.save()


def _moved_from(form: str, row, signature: Signature, follow_up_days: int) -> bool:
    """A repeating record moved to another study day: was it on a signed day before (one query, only then)?"""
    if CATALOGUE[form].per_day or row.history_type != "~":
        return False
    previous = row.prev_record
    return previous is not None and signature.covers(casebook_day(previous.study_day, follow_up_days))


def _form_change(form: str, row, signature: Signature, follow_up_days: int) -> str | None:
    """The words of a saved change of a form that touches the signed days, or None when it does not."""
    if not signature.covers(casebook_day(row.study_day, follow_up_days)) and not _moved_from(
        form, row, signature, follow_up_days
    ):
        return None
    fields, text = change_text(form, row)
    if row.history_type == "~" and not fields:
        return None  # saved without a change of any signed value
    return f"{CATALOGUE[form].label}, day {row.study_day}: {text}"


def _baseline_change(row) -> str | None:
    if row.history_type != "~" or row.prev_record is None:
        return None
    delta = row.diff_against(row.prev_record, included_fields=list(BASELINE_FIELDS))
    if not delta.changes:
        return None
    model = row.instance_type
    parts = [
        f"{model._meta.get_field(c.field).verbose_name}: {c.old if c.old not in (None, '') else 'empty'} -> "
        f"{c.new if c.new not in (None, '') else 'empty'}"
        for c in delta.changes
    ]
    return f"Baseline: {'; '.join(parts)} (reason: {row.history_change_reason or ''})"


def changes_break(rows: Iterable[tuple[str, object]], baseline_rows: Iterable[object] = ()) -> int:
    """Break the intact signatures whose data a transaction changed. ``rows``: (form key, history row) of the
    forms saved in it; ``baseline_rows``: the history rows of its patients. One read of the intact signatures of
    the changed patients (none: nothing more), then the words of each breaking change; returns how many broke."""
    rows, baseline_rows = list(rows), list(baseline_rows)
    patient_ids = {row.patient_id for _form, row in rows} | {row.id for row in baseline_rows}
    if not patient_ids:
        return 0
    with translation.override(STORED_LANGUAGE):  # the change is named in the stored language, not the user's
        return _changes_break(rows, baseline_rows, patient_ids)


def _changes_break(rows: list, baseline_rows: list, patient_ids: set[int]) -> int:
    by_patient: dict[int, list[Signature]] = defaultdict(list)
    for signature in Signature.objects.filter(patient_id__in=patient_ids, broken_at__isnull=True).select_related(
        "study"
    ):
        by_patient[signature.patient_id].append(signature)
    if not by_patient:
        return 0
    broken = 0
    changes = [(row.patient_id, form, row) for form, row in rows] + [(row.id, "", row) for row in baseline_rows]
    for patient_id, form, row in sorted(changes, key=lambda change: change[2].history_date):
        for signature in by_patient.get(patient_id, []):
            if signature.is_broken or row.history_date < signature.signed_at:
                continue
            if form:
                text = _form_change(form, row, signature, signature.study.follow_up_days)
                where = {"history_model": CATALOGUE[form].history_name, "history_record": row.id}
            else:
                text = _baseline_change(row)
                where = {"history_model": "cohorts.patient", "history_record": row.id}
            if text is not None:
                _break(signature, at=row.history_date, user_id=row.history_user_id, text=text, **where)
                broken += 1
    return broken


def signature_verify(pk: int) -> bool:
    """Compare an intact signature's hash with the data as stored now, and break it if they differ (a change
    that no history row announced). True when it is intact."""
    with transaction.atomic():
        signature = Signature.objects.select_for_update(of=("self",)).select_related("patient").filter(pk=pk).first()
        if signature is None or signature.is_broken:
            return False
        if casebook_digest(signature.patient, signature.first_day, signature.last_day) == signature.data_sha256:
            return True
        _break(signature, at=timezone.now(), user_id=None, text="The signed data changed while it was being signed.")
        return False
