from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ApiConfig(AppConfig):
    """The REST API (/api/v1/) and the personal API tokens it authenticates with (docs/api.md)."""

    name = "api"
    verbose_name = _("REST API")
    default_auto_field = "django.db.models.BigAutoField"
