from django.apps import AppConfig


class ApiConfig(AppConfig):
    """The REST API (/api/v1/) and the personal API tokens it authenticates with (docs/api.md)."""

    name = "api"
    verbose_name = "REST API"
    default_auto_field = "django.db.models.BigAutoField"
