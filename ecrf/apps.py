from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class EcrfConfig(AppConfig):
    name = "ecrf"
    verbose_name = _("Daily case report forms")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from ecrf import enrolment  # noqa: F401  (connects the patient_enrolled receiver)
        from ecrf.signals import connect as connect_derivation_triggers

        connect_derivation_triggers()  # source saves -> derive_patient after commit (ecrf/signals.py)
