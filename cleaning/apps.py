from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CleaningConfig(AppConfig):
    """Cleaning the data before the lock: queries, data-quality rules, the record status dashboard."""

    name = "cleaning"
    verbose_name = _("Data cleaning")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cleaning import receivers, status_receivers, status_tasks  # noqa: F401 (receivers; tasks)

        status_receivers.connect()
