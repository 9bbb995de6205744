"""cohorts.audit.insert_audited: new records written in bulk (COPY on PostgreSQL, bulk_create elsewhere) are stored
as a save would store them, each with its "created" history row, and the receivers are told the history rows."""

import datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError
from django.utils import timezone

from cohorts.audit import check_audited, insert_audited, record_factory
from cohorts.signals import records_created
from ecrf.models import LabResult


def test_records_and_their_history_rows_are_stored_as_a_save_stores_them(patient_a, users):
    nurse, manager = users["nurse"], users["data_manager"]
    records = [
        LabResult(patient=patient_a, study_day=1, crp_mg_l=Decimal("150.5"), missing_codes={"ldh_u_l": "not_done"}),
        LabResult(patient=patient_a, study_day=2, alt_u_l=Decimal("40"), ddimer_basis="FEU"),
    ]
    check_audited(records[0], user=nurse, reason="import: laboratory.csv", validate_db=False)
    check_audited(records[1], user=manager, reason=None, validate_db=False)
    told = []

    def receiver(sender, records, history_ids, **kwargs):
        told.append((sender, [record.pk for record in records], list(history_ids)))

    records_created.connect(receiver, sender=LabResult)
    before = timezone.now()
    try:
        insert_audited(LabResult, records, nurse)
    finally:
        records_created.disconnect(receiver, sender=LabResult)

    stored = {labs.study_day: labs for labs in LabResult.objects.filter(patient=patient_a)}
    assert [record.pk for record in records] == [stored[1].pk, stored[2].pk]
    assert not records[0]._state.adding
    assert (stored[1].crp_mg_l, stored[1].missing_codes, stored[1].version) == (
        Decimal("150.5"),
        {"ldh_u_l": "not_done"},
        1,
    )
    assert (stored[2].alt_u_l, stored[2].ddimer_basis, stored[2].missing_codes) == (Decimal("40.0"), "FEU", {})
    assert all(before <= labs.updated_at <= timezone.now() for labs in stored.values())  # auto_now, as a save

    history = {row.id: row for row in LabResult.history.all()}
    assert told == [(LabResult, [stored[1].pk, stored[2].pk], [history[stored[1].pk].pk, history[stored[2].pk].pk])]
    first, second = history[stored[1].pk], history[stored[2].pk]
    assert (first.history_type, first.history_user, first.history_change_reason) == (
        "+",
        nurse,
        "import: laboratory.csv",
    )
    assert (second.history_user, second.history_change_reason) == (manager, "initial entry")
    assert (first.crp_mg_l, first.missing_codes, first.patient_id) == (
        Decimal("150.5"),
        {"ldh_u_l": "not_done"},
        patient_a.pk,
    )
    assert first.history_date == second.history_date and before <= first.history_date <= timezone.now()
    assert first.history_date.tzinfo is not None and first.history_date.date() >= datetime.date(2026, 1, 1)


def test_a_record_that_breaks_a_database_rule_is_an_integrity_error_and_leaves_nothing(patient_a, users):
    """The bulk services answer an IntegrityError by saving one record at a time, each with its own refusal."""
    records = [
        LabResult(patient=patient_a, study_day=1, crp_mg_l=Decimal("12")),
        LabResult(patient=patient_a, study_day=2, crp_mg_l=Decimal("-5")),  # below the database's range
    ]
    for record in records:
        record._change_reason, record._history_user = "initial entry", users["nurse"]
    with pytest.raises(IntegrityError):
        insert_audited(LabResult, records, users["nurse"])
    assert not LabResult.objects.exists() and not LabResult.history.exists()


def test_record_factory_builds_what_the_keyword_constructor_builds(patient_a):
    values = {"study_day": 3, "crp_mg_l": Decimal("150.5"), "missing_codes": {"ldh_u_l": "not_done"}}
    built, constructed = record_factory(LabResult)(patient=patient_a, **values), LabResult(patient=patient_a, **values)
    fields = [field.attname for field in LabResult._meta.concrete_fields]
    assert [getattr(built, name) for name in fields] == [getattr(constructed, name) for name in fields]
    assert built.patient is patient_a and built._state.adding  # the relation cached: no query to read it
    build = record_factory(LabResult)
    first, second = build(study_day=1), build(study_day=2)
    assert first.missing_codes == {} and first.missing_codes is not second.missing_codes  # a default made per record
    with pytest.raises(TypeError, match="crp"):
        build(crp=1)
