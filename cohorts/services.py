"""Every write to cohort data: keyword-only, atomic, full_clean()ed and audited (DESIGN.md)."""

from collections.abc import Mapping
from typing import Any

from django.db import transaction

from cohorts.audit import ensure_unlocked, update_versioned
from cohorts.models import Patient, Study

PATIENT_EDITABLE = frozenset(
    {
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


def patient_update(
    *, patient: Patient, changes: Mapping[str, Any], expected_version: int, user, reason: str | None
) -> Patient:
    """Correct a patient's baseline data; refused while the study is locked or if someone saved meanwhile."""
    unknown = set(changes) - PATIENT_EDITABLE
    if unknown:
        raise ValueError(f"Not editable here: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        ensure_unlocked(patient.study)
        return update_versioned(patient, changes=changes, expected_version=expected_version, user=user, reason=reason)


def study_set_locked(*, study: Study, locked: bool, user, reason: str) -> Study:
    """Flip the lock flag; only analysis.releases calls this, inside its own lock/unlock transaction."""
    study.is_locked = locked
    study._change_reason = reason
    study._history_user = user
    study.save(update_fields=["is_locked"])
    return study
