from django.apps import AppConfig


class CleaningConfig(AppConfig):
    """Cleaning the data before the lock: queries, data-quality rules, the record status dashboard."""

    name = "cleaning"
    verbose_name = "Data cleaning"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from cleaning import receivers, status_receivers, status_tasks  # noqa: F401 (receivers; tasks)

        status_receivers.connect()
