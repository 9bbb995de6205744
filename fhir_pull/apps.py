from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FhirConfig(AppConfig):
    name = "fhir_pull"
    # The label of the app's tables (fhir_fhirendpoint, ...) and migrations, from before the package was renamed.
    label = "fhir"
    verbose_name = _("FHIR pull")
    default_auto_field = "django.db.models.BigAutoField"
