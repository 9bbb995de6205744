"""Celery tasks of the analysis app: thin, take ids, idempotent (docs/architecture.md).

The services queue them by name (services.LOCK_TASK, services.EXPORT_TASK), so this module imports the services
and never the other way round.
"""

from celery import shared_task

from analysis import services


@shared_task(name=services.EXPORT_TASK, acks_late=True, soft_time_limit=25 * 60, time_limit=30 * 60)
def export_release(job_id: int) -> str:
    """Build the zip of one export job; a rerun reuses the finished file."""
    job = services.export_run(job_id=job_id)
    return job.sha256


@shared_task(
    name=services.LOCK_TASK,
    acks_late=True,
    soft_time_limit=int(services.LOCK_TIME_LIMIT.total_seconds()) - 5 * 60,
    time_limit=int(services.LOCK_TIME_LIMIT.total_seconds()),
)
def lock_study(job_id: int) -> str:
    """Lock the study of one lock job (freeze release N+1); a rerun of a finished job does nothing."""
    job = services.lock_run(job_id=job_id)
    return job.status
