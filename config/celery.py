"""The Celery application. Tasks live in each app's tasks.py and stay thin (docs/architecture.md)."""

import os

from celery import Celery
from django.db import OperationalError

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ecrf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

#: Options of a task that a lost database connection or a deadlock retries with exponential backoff; acks_late, so
#: a worker killed mid-run leaves its message to be redelivered (the derivation's and the data-quality rules' tasks).
RETRY_ON_DATABASE_ERRORS = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": 2,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
    "acks_late": True,
}


@app.task(name="ecrf.ping", acks_late=True, soft_time_limit=20, time_limit=30)
def ping(value: str) -> str:
    """Round-trip check of the broker and a worker (used by tests and `make demo`)."""
    return f"pong:{value}"
