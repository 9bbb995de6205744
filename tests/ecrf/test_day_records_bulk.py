"""Records of the one-per-day forms created in bulk (ecrf.services.day_records_create, the import's path for new
patient-days): each record is refused, stored and audited exactly as ``day_record_save`` would, and what a save
sets off after its commit (derivation, record status, the queries' and signatures' change feed) happens too."""

import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import NON_FIELD_ERRORS
from django.db import models, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleaning import services as cleaning_services
from cleaning.models import MessageKind, PatientRecordStatus
from cohorts.models import PatientFreeze
from ecrf import importing, services, tasks
from ecrf.crfs import DAY_FORMS
from ecrf.models import LabResult, MissingCode, VitalSigns
from ecrf.services import NewDayRecord, RecordInput
from tests import factories


def _values(model_field: models.Field):
    """Typed values of one field, within its limits and well beyond them, or empty (choices: the parsed cell of an
    import is one of them)."""
    if model_field.choices:
        return st.sampled_from(["", *(str(value) for value, _label in model_field.flatchoices)])
    if isinstance(model_field, models.BooleanField):
        return st.sampled_from([None, True, False] if model_field.null else [True, False])
    if isinstance(model_field, models.DecimalField):
        places = model_field.decimal_places
        return st.one_of(st.none(), st.decimals(min_value=-5, max_value=600, places=places, allow_nan=False))
    if isinstance(model_field, models.IntegerField):
        return st.one_of(st.none(), st.integers(min_value=-10, max_value=400))
    if isinstance(model_field, models.DateTimeField):
        return st.none()  # times: tests/ecrf/test_import_times.py
    return st.sampled_from(["", "x", "pending report " * 20])


def entries(form: str):
    crf = DAY_FORMS[form]
    fields = {name: _values(crf.model._meta.get_field(name)) for name in crf.fields}
    confirmable = sorted(f"{name}.{rule}" for name in crf.limits for rule in ("soft_low", "soft_high"))
    return st.builds(
        RecordInput,
        values=st.fixed_dictionaries({}, optional=fields),
        confirmed_checks=st.frozensets(st.sampled_from(confirmable or ["none.soft_low"]), max_size=3),
        missing_codes=st.dictionaries(
            st.sampled_from(sorted(crf.code_fields) or ["study_day"]), st.sampled_from(MissingCode.values), max_size=2
        ),
        not_done_reason=st.sampled_from(["", "", "", "no sample", " "]),
    )


def day_cases():
    """A form and up to 8 records of it on distinct (patient, day): days before day 0, after the follow-up, after
    patient B's death, in the future, on the day patient A already has a record, and patient B frozen or not."""
    return st.sampled_from(sorted(DAY_FORMS)).flatmap(
        lambda form: st.tuples(
            st.just(form),
            st.lists(
                st.tuples(st.sampled_from(["a", "b"]), st.integers(min_value=-1, max_value=26), entries(form)),
                max_size=8,
                unique_by=lambda case: case[:2],
            ),
            st.booleans(),
        )
    )


def outcome(result) -> tuple:
    """What a user of either path sees: the stored record's values, or the refusal's messages and codes per field."""
    if result is None:
        return ("nothing",)
    if isinstance(result, Exception):
        if hasattr(result, "error_dict"):
            errors = result.error_dict.items()
            return ("refused", {name: [(e.code, *e.messages) for e in each] for name, each in errors})
        return ("refused", [(e.code, *e.messages) for e in result.error_list])
    stored = type(result).objects.get(pk=result.pk)
    fields = [f.attname for f in stored._meta.concrete_fields if f.name not in ("id", "updated_at")]
    history = [(h.history_type, h.history_change_reason, h.history_user_id) for h in stored.history.all()]
    return ("stored", {name: getattr(stored, name) for name in fields}, history)


def rolled_back_outcomes(path, *, freeze, user) -> list:
    """The outcomes of ``path()`` (each an outcome()) in a transaction rolled back afterwards, so that the two paths
    compared start from the same data; the casebook of ``freeze`` (a patient, or None) frozen first."""
    with transaction.atomic():
        if freeze is not None:
            PatientFreeze.objects.create(
                patient=freeze,
                frozen_at=datetime.datetime(2020, 4, 1, tzinfo=datetime.UTC),
                frozen_by=user,
                reason="pre-lock review",
            )
        seen = [outcome(result) for result in path()]
        transaction.set_rollback(True)
    return seen


def each_saved(save, records) -> list:
    """``save`` (a one-record service) called for each record in turn: its record, or its refusal."""
    results = []
    for record in records:
        try:
            results.append(save(record))
        except services.ValidationError as exc:
            results.append(exc)
    return results


@pytest.fixture
def setting(patient_a, patient_b, users):
    """Patient A has vital signs, respiratory support and laboratory results on day 3; patient B died on day 10."""
    nurse = users["nurse"]
    services.patient_day_save(
        patient=patient_a,
        study_day=3,
        entries={
            "vital_signs": RecordInput({"heart_rate_bpm": 90}),
            "respiratory_support": RecordInput({"support": "room_air"}),
            "laboratory": RecordInput({"crp_mg_l": Decimal("12.0")}),
        },
        user=nurse,
    )
    services.event_save(
        form="disposition_events",
        patient=patient_b,
        entry=RecordInput({"study_day": 10, "kind": "death", "cause_of_death": "ARDS"}),
        user=nurse,
    )
    return {"a": patient_a, "b": patient_b}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=day_cases())
def test_created_in_bulk_exactly_as_one_by_one(setting, users, case):
    form, rows, b_frozen = case
    user = users["data_manager"]
    records = [NewDayRecord(setting[who], day, entry, reason="import: x.csv") for who, day, entry in rows]

    def one_by_one(record: NewDayRecord):
        return services.day_record_save(
            form=form,
            patient=record.patient,
            study_day=record.study_day,
            entry=record.entry,
            user=user,
            entry_reason=record.reason,
        )

    def run(path) -> list:
        return rolled_back_outcomes(path, freeze=setting["b"] if b_frozen else None, user=user)

    bulk = run(lambda: services.day_records_create(form=form, records=records, user=user))
    assert bulk == run(lambda: each_saved(one_by_one, records))


def test_the_bulk_path_is_the_one_taken_and_refuses_with_the_forms_messages(setting, users):
    """The checks of the bulk path are those of the page: a value out of range, a day after the death."""
    records = [
        NewDayRecord(setting["a"], 1, RecordInput({"temperature_c": Decimal("44.1")})),
        NewDayRecord(setting["b"], 12, RecordInput({"heart_rate_bpm": 80})),
        NewDayRecord(setting["a"], 2, RecordInput({"heart_rate_bpm": 80, "spo2_pct": 95})),
    ]
    too_hot, after_death, stored = services.day_records_create(form="vital_signs", records=records, user=users["nurse"])
    assert [e.code for e in too_hot.error_dict["temperature_c"]] == ["temperature_c.hard_max"]
    assert [e.code for e in after_death.error_dict[NON_FIELD_ERRORS]] == ["study_day.after_death"]
    assert VitalSigns.objects.get(patient=setting["a"], study_day=2) == stored
    assert stored.history.get().history_change_reason == "initial entry"


@pytest.fixture
def derivations(monkeypatch) -> list[int]:
    calls: list[int] = []
    monkeypatch.setattr(tasks.derive_patient, "delay", lambda patient_id: calls.append(patient_id))
    return calls


def test_an_import_of_new_days_sets_off_what_each_save_would(committed, setting, users, derivations):
    """After the commit: the patients are derived, their record status counts the new records, and a query about a
    missing form gets the 'data changed' message of the record that fills it, and a signed casebook that gains a
    record is no longer signed (the history rows of a bulk insert are read back after the commit, for the patients
    with a query, a signature or a verification)."""
    query = cleaning_services.query_open(
        patient=setting["a"], study_day=1, form="laboratory", text="Where is the CRP of day 1?", user=users["monitor"]
    )
    signature = factories.signed_casebook(setting["b"], users["investigator"])
    with committed():  # the fixture's saves are counted first
        pass
    entered_before = PatientRecordStatus.objects.get(patient=setting["a"]).n_entered
    with committed():
        report = importing.crf_import(
            study=setting["a"].study,
            sources=[
                importing.Source(
                    "laboratory.csv",
                    importing.write_table(
                        "laboratory",
                        [
                            {"participant_id": "MI-0001", "study_day": 0, "crp_mg_l": "120"},
                            {"participant_id": "MI-0001", "study_day": 1, "crp_mg_l": "90"},
                            {"participant_id": "BG-0001", "study_day": 0, "crp_mg_l": "60"},
                        ],
                        ["participant_id", "study_day", "crp_mg_l"],
                    ),
                )
            ],
            user=users["data_manager"],
        )
    assert not report.problems and report.files[0].created == 3
    assert set(derivations) == {setting["a"].pk, setting["b"].pk}
    # Day 0's cell is entered now; day 1's still shows its open query.
    assert PatientRecordStatus.objects.get(patient=setting["a"]).n_entered == entered_before + 1
    changed = query.messages.get(kind=MessageKind.DATA_CHANGED)
    record = LabResult.objects.get(patient=setting["a"], study_day=1)
    assert changed.history_record == record.pk  # the record whose audit trail the message links to
    assert changed.text == "Laboratory entered (reason: import: laboratory.csv)"
    signature.refresh_from_db()
    assert signature.is_broken and "Laboratory" in signature.broken_by_change
