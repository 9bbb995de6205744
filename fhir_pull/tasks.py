"""The nightly FHIR pull (CELERY_BEAT_SCHEDULE): one task per study, each a thin call of fhir_pull.pull.

A pull only stores proposals (never a value), so a rerun proposes the same values again and supersedes the
proposals of the first run still waiting for review.
"""

from celery import shared_task
from django.db import OperationalError

from cohorts.models import Study
from fhir_pull import pull

_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
    "acks_late": True,
}


@shared_task(name="fhir.pull_study", soft_time_limit=25 * 60, time_limit=30 * 60, **_RETRY)
def pull_study(study_id: int) -> dict:
    """Yesterday's values of every linked patient of one study, as proposals; a locked study is skipped."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return {"patients": 0}
    return pull.pull_study_previous_day(study)


@shared_task(name="fhir.pull_all_studies", soft_time_limit=60, time_limit=90, **_RETRY)
def pull_all_studies() -> dict:
    """The nightly run: one pull_study task per unlocked study."""
    ids = list(Study.objects.filter(is_locked=False).values_list("pk", flat=True))
    for study_id in ids:
        pull_study.delay(study_id)
    return {"studies": len(ids)}
