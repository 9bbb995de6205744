from django.apps import AppConfig


class EcrfConfig(AppConfig):
    name = "ecrf"
    verbose_name = "Daily case report forms"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ecrf import enrolment  # noqa: F401  (connects the patient_enrolled receiver)
