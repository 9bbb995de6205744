"""Celery tasks of the record status counts (cleaning/status_job.py): thin, idempotent (a rerun writes the same
counts). Registered by the app's ready(), beside the cleaning app's other tasks."""

from celery import shared_task
from django.db import OperationalError

from cleaning import status_job
from cohorts.models import Study

_RETRY = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
}


@shared_task(name="cleaning.status_refresh_due", soft_time_limit=25 * 60, time_limit=30 * 60, **_RETRY)
def status_refresh_due() -> dict:
    """The hourly run (CELERY_BEAT_SCHEDULE): the patients whose site began a new day since their last count."""
    return status_job.refresh_due().as_dict()


@shared_task(name="cleaning.status_rebuild_study", soft_time_limit=25 * 60, time_limit=30 * 60, **_RETRY)
def status_rebuild_study(study_id: int) -> dict:
    """Every patient of one study recomputed, and its sums recounted."""
    study = Study.objects.filter(pk=study_id).first()
    return status_job.rebuild_study(study).as_dict() if study is not None else {"patients": 0, "studies": []}
