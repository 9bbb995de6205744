"""Every write of the fhir app: keyword-only, atomic.

Values reach the case report forms only through ``proposals_decide``, which saves the accepted proposals with
ecrf.services.day_record_save (limits, soft checks, optimistic locking, the audit trail) and the reason
"FHIR pull: <resource type>/<id>". A pull itself (``pull_store``) saves no value: it stores proposals.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from cohorts.audit import REASON_MAX_LENGTH, ensure_unchanged_since, ensure_writable, save_audited
from cohorts.models import Patient
from ecrf import selectors as ecrf_selectors
from ecrf import services as ecrf_services
from ecrf.checks import format_number
from ecrf.crfs import DAY_FORMS
from ecrf.validators import is_blank
from fhir_pull.mapping import Found
from fhir_pull.models import FhirEndpoint, PatientLink, Proposal, ProposalStatus, Pull

ACCEPT, REJECT = "accept", "reject"
REASON_PREFIX = "FHIR pull: "


# ------------------------------------------------------------------------------------------- set-up


#: The fields of a site's connection and of a patient's link, as their pages post them whole.
ENDPOINT_FIELDS = ("base_url", "auth_kind", "token_url", "client_id", "secret_env")
LINK_FIELDS = ("mrn", "identifier_system")


def endpoint_save(*, endpoint: FhirEndpoint, user, opened: int | None = None) -> FhirEndpoint:
    """Create or change a site's FHIR connection (checked by full_clean and the model's constraints). ``opened``:
    the connection's cohorts.audit.last_change when the page was opened; a change saved since is not undone."""
    with transaction.atomic():
        stored = FhirEndpoint.objects.select_for_update().filter(site=endpoint.site_id).first()
        ensure_unchanged_since(stored or FhirEndpoint(site=endpoint.site), opened, ENDPOINT_FIELDS)
        return save_audited(endpoint, user=user, reason="FHIR connection set-up")


def link_save(
    *, patient: Patient, mrn: str, identifier_system: str, user, opened: int | None = None
) -> PatientLink | None:
    """Link the patient to its FHIR Patient by medical record number; an empty number removes the link.
    ``opened``: the link's cohorts.audit.last_change when the page was opened; a change saved since is not undone."""
    with transaction.atomic():
        link = PatientLink.objects.select_for_update().filter(patient=patient).first()
        ensure_unchanged_since(link or PatientLink(patient=patient), opened, LINK_FIELDS)
        if not mrn.strip():
            if link is not None:
                link._history_user, link._change_reason = user, "FHIR link removed"
                link.delete()
            return None
        link = link or PatientLink(patient=patient)
        link.mrn, link.identifier_system = mrn.strip(), identifier_system.strip()
        return save_audited(link, user=user, reason="FHIR link")


# --------------------------------------------------------------------------------------------- pulls


def pull_store(
    *,
    patient: Patient,
    study_day: int,
    user=None,
    found: Iterable[Found] = (),
    notes: Iterable[str] = (),
    medications: Iterable[Mapping[str, str]] = (),
    failure: str = "",
) -> Pull:
    """Record a pull and its proposals; a successful pull supersedes the proposals still waiting of the day."""
    found = list(found)
    with transaction.atomic():
        if not failure:
            Proposal.objects.filter(patient=patient, study_day=study_day, status=ProposalStatus.PROPOSED).update(
                status=ProposalStatus.SUPERSEDED
            )
        pull = Pull.objects.create(
            patient=patient,
            study_day=study_day,
            requested_by=user,
            failure=failure,
            notes=list(notes),
            medications=list(medications),
        )
        Proposal.objects.bulk_create(
            Proposal(
                pull=pull,
                patient=patient,
                study_day=study_day,
                form=item.form,
                field=item.field,
                value=item.value,
                implies=dict(item.implies),
                original_value=item.original_value,
                original_unit=item.original_unit,
                loinc=item.loinc,
                resource_type=item.resource_type,
                resource_id=item.resource_id[:64],
                last_updated=item.last_updated,
                effective_at=item.effective_at,
                error=item.error,
            )
            for item in found
        )
    pull.proposal_count = len(found)
    return pull


# ------------------------------------------------------------------------------------------ decisions


@dataclass(frozen=True)
class Decision:
    """The nurse's choice for one proposal: accept, reject or "" (decide later)."""

    action: str
    replace: bool = False  # overwrite a stored value that differs
    confirmed: frozenset[str] = frozenset()  # soft checks confirmed for this value


class ReviewInvalid(ValidationError):
    """Nothing was saved; ``rows`` maps proposal id -> messages for its row, ``page`` the other messages."""

    def __init__(self, rows: Mapping[int, list[str]], page: list[str]):
        self.rows, self.page = dict(rows), list(page)
        super().__init__([m for ms in self.rows.values() for m in ms] + self.page, code="review_invalid")


def _reason(items: list[Proposal]) -> str:
    """'FHIR pull: Observation/1' (several sources: ', '-joined, or 'and N more' beyond the history's 100)."""
    sources = list(dict.fromkeys(p.source for p in items))
    text = REASON_PREFIX + ", ".join(sources)
    if len(text) <= REASON_MAX_LENGTH:
        return text
    for shown in range(len(sources) - 1, 0, -1):
        text = f"{REASON_PREFIX}{', '.join(sources[:shown])} and {len(sources) - shown} more"
        if len(text) <= REASON_MAX_LENGTH:
            return text
    return (REASON_PREFIX + sources[0])[: REASON_MAX_LENGTH - 1] + "\u2026"


def _field_value(form: str, name: str, value: Decimal):
    """The proposal's value (stored with six decimals) at the precision of the form's field."""
    model_field = DAY_FORMS[form].model._meta.get_field(name)
    if isinstance(model_field, models.DecimalField):
        return value.quantize(Decimal(1).scaleb(-model_field.decimal_places))
    return int(value)


def _show(value) -> str:
    """A value for a message, with the active language's decimal separator (37.5, 37,5)."""
    return format_number(value) if isinstance(value, Decimal) else str(value)


def _check(accepted: list[Proposal], decisions: Mapping[int, Decision], stored: Mapping) -> dict[int, list[str]]:
    errors: dict[int, list[str]] = defaultdict(list)
    per_field: dict[tuple[str, str], list[Proposal]] = defaultdict(list)
    for proposal in accepted:
        per_field[(proposal.form, proposal.field)].append(proposal)
        if not proposal.acceptable:
            errors[proposal.pk].append(proposal.error or _("This value cannot be accepted."))
            continue
        current = getattr(stored.get(proposal.form), proposal.field, None)
        if not is_blank(current) and current != proposal.value and not decisions[proposal.pk].replace:
            errors[proposal.pk].append(
                _(
                    "The saved value is %(saved)s: tick 'Replace the saved value' to overwrite it with "
                    "%(pulled)s, or reject this value."
                )
                % {"saved": _show(current), "pulled": _show(proposal.value)}
            )
    for items in per_field.values():
        if len(items) > 1:
            for proposal in items:
                errors[proposal.pk].append(
                    _("Accept one value per field: %(count)s values of it are accepted.") % {"count": len(items)}
                )
    return errors


def _save_form(form: str, items: list[Proposal], *, patient, study_day, record, version, decisions, user):
    crf = DAY_FORMS[form]
    values = {name: getattr(record, name) for name in crf.fields} if record is not None else {}
    for proposal in items:
        values[proposal.field] = _field_value(form, proposal.field, proposal.value)
        values.update(proposal.implies)
    confirmed = set(record.confirmed_checks if record is not None else ())
    for proposal in items:
        confirmed |= decisions[proposal.pk].confirmed
    reason = _reason(items)
    # The record's missing-data codes and mark "not done" stay; an accepted value replaces its field's code (a
    # change of saved data, recorded with the pull's reason). A form marked not done is refused, saying so.
    filled = {name for proposal in items for name in (proposal.field, *proposal.implies)}
    codes = record.missing_codes if record is not None else {}
    entry = ecrf_services.RecordInput(
        values,
        frozenset(confirmed),
        expected_version=version,
        missing_codes={name: code for name, code in codes.items() if name not in filled},
        not_done_reason=record.not_done_reason if record is not None else "",
    )
    ecrf_services.day_record_save(
        form=form,
        patient=patient,
        study_day=study_day,
        entry=entry,
        user=user,
        reason=reason,
        entry_reason=reason,
    )


def _placed(exc: ValidationError, items: list[Proposal]) -> tuple[dict[int, list[str]], list[str]]:
    """A form's refusal, each message on the row of the proposal whose field (or implied field) it is about."""
    rows: dict[int, list[str]] = defaultdict(list)
    page: list[str] = []
    for name, messages in (
        exc.message_dict if hasattr(exc, "error_dict") else {NON_FIELD_ERRORS: exc.messages}
    ).items():
        owners = [p for p in items if name == p.field or name in p.implies]
        for message in messages:
            if owners:
                for proposal in owners:
                    rows[proposal.pk].append(message)
            else:
                page.append(message)
    return rows, page


def proposals_decide(
    *,
    patient: Patient,
    study_day: int,
    decisions: Mapping[int, Decision],
    versions: Mapping[str, int | None],
    user,
) -> dict[str, int]:
    """Accept and reject proposals of a patient-day, all or nothing (ReviewInvalid: nothing saved).

    versions: form key -> the version of its record when the review screen was opened (None: no record then);
    a record saved by someone else since is refused as on the day page. Accepted values are saved per form,
    with the stored values of the form's other fields, so the form's cross-field checks see the whole record.
    Returns {"accepted": n, "rejected": n}.
    """
    with transaction.atomic():
        ensure_writable(patient)
        proposals = list(
            Proposal.objects.select_for_update()
            .filter(patient=patient, study_day=study_day, status=ProposalStatus.PROPOSED, pk__in=list(decisions))
            .order_by("pk")
        )
        accepted = [p for p in proposals if decisions[p.pk].action == ACCEPT]
        rejected = [p for p in proposals if decisions[p.pk].action == REJECT]
        stored = ecrf_selectors.day_records(patient=patient, study_day=study_day).current
        errors = _check(accepted, decisions, stored)
        if errors:
            raise ReviewInvalid(errors, [])
        page: list[str] = []
        by_form: dict[str, list[Proposal]] = defaultdict(list)
        for proposal in accepted:
            by_form[proposal.form].append(proposal)
        for form in (key for key in DAY_FORMS if key in by_form):
            try:
                _save_form(
                    form,
                    by_form[form],
                    patient=patient,
                    study_day=study_day,
                    record=stored.get(form),
                    version=versions.get(form),
                    decisions=decisions,
                    user=user,
                )
            except ValidationError as exc:
                rows, messages = _placed(exc, by_form[form])
                for pk, texts in rows.items():
                    errors[pk] = errors.get(pk, []) + texts
                page += messages
        if errors or page:
            raise ReviewInvalid(errors, page)  # rolls back every form saved above
        now = timezone.now()
        for items, status in ((accepted, ProposalStatus.ACCEPTED), (rejected, ProposalStatus.REJECTED)):
            if items:
                Proposal.objects.filter(pk__in=[p.pk for p in items]).update(
                    status=status, decided_by=user, decided_at=now
                )
    return {"accepted": len(accepted), "rejected": len(rejected)}
