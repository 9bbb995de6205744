"""The status of a background job that a page follows (an import, an export, a lock): one set of words for all."""

from django.db import models
from django.utils.translation import pgettext_lazy


class JobStatus(models.TextChoices):
    """The status of a background job, as its status page shows it."""

    QUEUED = "queued", pgettext_lazy("job status", "Queued")
    RUNNING = "running", pgettext_lazy("job status", "Running")
    DONE = "done", pgettext_lazy("job status", "Done")
    FAILED = "failed", pgettext_lazy("job status", "Failed")
    CANCELLED = "cancelled", pgettext_lazy("job status", "Cancelled")


PENDING = (JobStatus.QUEUED, JobStatus.RUNNING)
