"""Celery tasks of the derived data (clinical definitions §3): thin, take ids, idempotent (a rerun writes identical
rows).

acks_late (settings) + one transaction per batch: a worker killed mid-run leaves every patient old or new and
the message is redelivered. A lost database connection or a deadlock retries with exponential backoff.
"""

from celery import shared_task
from celery.utils.log import get_task_logger

from cohorts.audit import StudyLocked
from cohorts.models import Study
from config.celery import RETRY_ON_DATABASE_ERRORS
from ecrf import derivation_job, import_jobs

logger = get_task_logger(__name__)


@shared_task(name="ecrf.derive_patient", soft_time_limit=60, time_limit=90, **RETRY_ON_DATABASE_ERRORS)
def derive_patient(patient_id: int) -> dict:
    """Recompute one patient's derived days after a change of its source data."""
    try:
        return derivation_job.derive_patient(patient_id).as_dict()
    except StudyLocked:
        # The derived data are frozen with the release; unlocking is followed by the nightly run.
        logger.info("derive_patient %s skipped: the study is locked", patient_id)
        return {"skipped_locked": True}


@shared_task(name="ecrf.derive_study", soft_time_limit=25 * 60, time_limit=30 * 60, **RETRY_ON_DATABASE_ERRORS)
def derive_study(study_id: int) -> dict:
    """Recompute every patient of one study (by hand or after an unlock); a locked study is skipped."""
    study = Study.objects.filter(pk=study_id).first()
    if study is None:
        return {"studies": 0}
    return derivation_job.derive_all([study]).as_dict()


@shared_task(name="ecrf.derive_all_studies", soft_time_limit=25 * 60, time_limit=30 * 60, **RETRY_ON_DATABASE_ERRORS)
def derive_all_studies() -> dict:
    """The nightly run (CELERY_BEAT_SCHEDULE): every study; locked studies are skipped and named."""
    summary = derivation_job.derive_all()
    if summary.skipped_locked:
        logger.info("nightly derivation skipped locked studies: %s", ", ".join(summary.skipped_locked))
    return summary.as_dict()


_IMPORT_LIMIT_S = int(import_jobs.IMPORT_TIME_LIMIT.total_seconds())


@shared_task(
    name=import_jobs.IMPORT_TASK,
    soft_time_limit=_IMPORT_LIMIT_S - 5 * 60,
    time_limit=_IMPORT_LIMIT_S,
    **RETRY_ON_DATABASE_ERRORS,
)
def run_import(job_id: int) -> dict:
    """Run one CSV import (asked for on the upload page or by import_crf); a finished job is left as it is."""
    job = import_jobs.import_run(job_id=job_id)
    return {"status": job.status, "rows": job.rows, "problems": job.problems}
