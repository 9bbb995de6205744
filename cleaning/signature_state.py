"""A casebook's signatures in a word (the signatures list, the record status dashboard, the lock's checklist):
signed, changed after signing (broken), or not signed. The signatures in force are those no later signature
supersedes by covering all their days (cleaning/signatures.py signs and breaks them)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from cleaning.models import SIGNATURE_STATES, Signature

SIGNED, BROKEN, UNSIGNED = SIGNATURE_STATES


def current(signatures: Iterable[Signature]) -> list[Signature]:
    """The signatures not superseded: none signed later covers all their days. Oldest first."""
    ordered = sorted(signatures, key=lambda s: (s.signed_at, s.pk))
    return [
        signature
        for i, signature in enumerate(ordered)
        if not any(later.covers(signature.first_day) and later.covers(signature.last_day) for later in ordered[i + 1 :])
    ]


def state(signatures: Iterable[Signature]) -> str:
    """One patient's signatures in a word: unsigned (none), broken (a current one is broken), or signed."""
    now = current(signatures)
    if not now:
        return UNSIGNED
    return BROKEN if any(s.is_broken for s in now) else SIGNED


def signature_states(patient_ids: Iterable[int]) -> dict[int, str]:
    """{patient id: "signed" | "broken" | "unsigned"} for these patients (state(); one query)."""
    patient_ids = list(patient_ids)
    by_patient: dict[int, list[Signature]] = defaultdict(list)
    for signature in Signature.objects.filter(patient_id__in=patient_ids).only(
        "pk", "patient_id", "first_day", "last_day", "signed_at", "broken_at"
    ):
        by_patient[signature.patient_id].append(signature)
    return {pk: state(by_patient.get(pk, [])) for pk in patient_ids}
