"""Signals cohorts sends so that later apps can act on its events without cohorts importing them (docs/architecture.md).

patient_enrolled(sender=Patient, patient, screening, user): sent by services.patient_enrol inside the enrolment
transaction, after the patient is saved. A receiver that raises rolls the enrolment back. ecrf/enrolment.py
turns the screening's values into the day-0 source data.
"""

from django.dispatch import Signal

patient_enrolled = Signal()
