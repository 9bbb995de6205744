"""Signals cohorts sends so that later apps can act on its events without cohorts importing them (docs/architecture.md).

patient_enrolled(sender=Patient, patient, screening, user): sent by services.patient_enrol inside the enrolment
transaction, after the patient is saved. A receiver that raises rolls the enrolment back. ecrf/enrolment.py
turns the screening's values into the day-0 source data.

study_settings_check(sender=Study, settings): sent by the study set-up (cohorts/setup.py) before a study's
settings (``Study.settings``) are saved. Each receiver checks the section of the settings its app owns and returns
a list of ``(path, message)`` problems, the path inside the settings (``"derivation.ards_moderate_pf_max"``); an
empty list when all is well. ecrf/signals.py checks the ``derivation`` section with ``ecrf.derivations``; cohorts
checks ``eligibility`` itself.

follow_up_check(sender=Study, study, follow_up_days): sent by the study set-up (cohorts/setup.py) before a study's
follow-up is shortened. A receiver returns a message when records of the study are dated after the new last day
(None otherwise): ecrf/signals.py names the latest record of the case report forms. The set-up then refuses the
change, which would leave those records outside every casebook and analysis.

records_created(sender=<model>, records, history_ids, using): sent after records and their history rows (of these
ids, in the records' order) were inserted
in bulk (cohorts.audit.insert_audited: an import's new patients and patient-days), which sends no post_save and no
post_create_historical_record. Its receivers do for each record what their receivers of those signals do for a
created one: ecrf/signals.py schedules the derivation, cleaning/status_receivers.py the record status,
cleaning/receivers.py the queries' threads, signatures and SDV.
"""

from django.dispatch import Signal

patient_enrolled = Signal()
records_created = Signal()


def created_patient_ids(sender, records) -> set[int]:
    """The patients a ``records_created`` is about: the new patients themselves, or the patients of new records."""
    if sender._meta.label == "cohorts.Patient":
        return {record.pk for record in records}
    return {record.patient_id for record in records}


study_settings_check = Signal()
follow_up_check = Signal()
