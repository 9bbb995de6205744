from django.apps import AppConfig


class FhirConfig(AppConfig):
    name = "fhir_pull"
    # The label of the app's tables (fhir_fhirendpoint, ...) and migrations, from before the package was renamed.
    label = "fhir"
    verbose_name = "FHIR pull"
    default_auto_field = "django.db.models.BigAutoField"
