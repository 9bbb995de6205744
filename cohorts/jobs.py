"""The status of a background job that a page follows (an import, an export, a lock): one set of words for all."""

from django.db import models
from django.db.models import Q
from django.utils.translation import pgettext_lazy


class JobStatus(models.TextChoices):
    """The status of a background job, as its status page shows it."""

    QUEUED = "queued", pgettext_lazy("job status", "Queued")
    RUNNING = "running", pgettext_lazy("job status", "Running")
    DONE = "done", pgettext_lazy("job status", "Done")
    FAILED = "failed", pgettext_lazy("job status", "Failed")
    CANCELLED = "cancelled", pgettext_lazy("job status", "Cancelled")


PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)


def one_pending_per_study(kind: str, *, code: str, message) -> models.UniqueConstraint:
    """At most one job of a kind queued or running per study (``<kind>_one_pending_per_study``), also when two
    requests arrive at once: the second one's insert fails with ``code`` and ``message``."""
    return models.UniqueConstraint(
        fields=["study"],
        condition=Q(status__in=PENDING),
        name=f"{kind}_one_pending_per_study",
        violation_error_code=code,
        violation_error_message=message,
    )
