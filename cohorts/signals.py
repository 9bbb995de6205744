"""Signals cohorts sends so that later apps can act on its events without cohorts importing them (docs/architecture.md).

patient_enrolled(sender=Patient, patient, screening, user): sent by services.patient_enrol inside the enrolment
transaction, after the patient is saved. A receiver that raises rolls the enrolment back. ecrf/enrolment.py
turns the screening's values into the day-0 source data.

study_settings_check(sender=Study, settings): sent by the study set-up (cohorts/setup.py) before a study's
settings (``Study.settings``) are saved. Each receiver checks the section of the settings its app owns and returns
a list of ``(path, message)`` problems, the path inside the settings (``"derivation.ards_moderate_pf_max"``); an
empty list when all is well. ecrf/signals.py checks the ``derivation`` section with ``ecrf.derivations``; cohorts
checks ``eligibility`` itself.
"""

from django.dispatch import Signal

patient_enrolled = Signal()
study_settings_check = Signal()
