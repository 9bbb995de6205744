"""The Celery application. Tasks live in each app's tasks.py and stay thin (docs/architecture.md)."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("ecrf")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.task(name="ecrf.ping", acks_late=True, soft_time_limit=20, time_limit=30)
def ping(value: str) -> str:
    """Round-trip check of the broker and a worker (used by tests and `make demo`)."""
    return f"pong:{value}"
