"""Celery tasks of the data-quality rules (cleaning/rule_job.py): thin, take ids, idempotent.

acks_late (settings) + one transaction per batch: a worker killed mid-run leaves every batch reconciled or
untouched, and the redelivered message runs the same RuleRun again (a rerun over what is done writes nothing). A
lost database connection retries with backoff. The services queue ``run_rules`` by name (services.RULES_TASK).
"""

from celery import shared_task

from cleaning import services
from config.celery import RETRY_ON_DATABASE_ERRORS

_LIMIT_S = int(services.RULES_TIME_LIMIT.total_seconds())


@shared_task(
    name=services.RULES_TASK, soft_time_limit=_LIMIT_S - 5 * 60, time_limit=_LIMIT_S, **RETRY_ON_DATABASE_ERRORS
)
def run_rules(run_id: int) -> dict:
    """Run the data-quality rules of one RuleRun (asked for on the query list); a finished run is left as it is."""
    run = services.rules_run(run_id=run_id)
    return {"status": run.status, "hits": run.hits, "opened": run.opened, "closed": run.closed}


@shared_task(
    name="cleaning.run_rules_all_studies", soft_time_limit=55 * 60, time_limit=60 * 60, **RETRY_ON_DATABASE_ERRORS
)
def run_rules_all_studies() -> list[dict]:
    """The nightly run (CELERY_BEAT_SCHEDULE, after the derivation): every study that is not locked."""
    return [{"study": run.study.code, "status": run.status, "hits": run.hits} for run in services.rules_nightly()]
