"""Records of the repeating forms created in bulk (ecrf.services.event_records_create, the import's path for new
adverse events and drug administrations): each record is refused, stored and audited exactly as ``event_save``
would, one record after the other; and an import of a file of such rows reports what the rows written one by one
would give."""

import datetime
from decimal import Decimal

import pytest
from django.db import models
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cohorts.audit import PatientFrozen
from cohorts.models import PatientFreeze
from ecrf import importing, services
from ecrf.crfs import EVENT_FORMS
from ecrf.models import AdverseEvent, DrugAdministration, MissingCode
from ecrf.services import NewEventRecord, RecordInput
from tests.ecrf.test_day_records_bulk import _values, each_saved, rolled_back_outcomes

#: Patient B's death (see the ``setting`` fixture), and moments around it that a record's times may take.
DEATH_AT = datetime.datetime(2020, 3, 28, 9, 30, tzinfo=datetime.UTC)  # day 10
MOMENTS = [
    DEATH_AT - datetime.timedelta(days=2),
    DEATH_AT - datetime.timedelta(hours=1),
    DEATH_AT + datetime.timedelta(hours=1),
    datetime.datetime(2099, 1, 1, tzinfo=datetime.UTC),  # in the future
]


def _event_values(model_field: models.Field):
    if isinstance(model_field, models.DateTimeField):
        return st.sampled_from([None, *MOMENTS])
    return _values(model_field)


#: A record of each form that passes, for the first patient-day the strategies draw: most cases change a few of
#: its fields, so that records that pass are as common as refused ones.
PLAIN = {
    "adverse_events": {"study_day": 4, "kind": "thromboembolism", "serious": False},
    "drug_administration": {
        "study_day": 1,
        "drug": "hydroxychloroquine",
        "dose": Decimal("200"),
        "dose_unit": "mg",
        "route": "oral",
        "frequency": "bid",
    },
    "disposition_events": {"study_day": 12, "kind": "discharged", "normal_activities": True},
    "ventilation_episodes": {"study_day": 3, "end_day": 5, "end_reason": "extubated"},
}
DAYS = [-1, 0, 1, 4, 9, 10, 11, 21, 22, 26]


def entries(form: str, who: str):
    crf = EVENT_FORMS[form]
    fields = {name: _event_values(crf.model._meta.get_field(name)) for name in crf.fields}
    fields.update(
        {name: st.sampled_from([None, *DAYS]) for name in ("study_day", "end_day", "stop_day") if name in fields}
    )
    changed = st.sets(st.sampled_from(sorted(fields)), max_size=3).flatmap(
        lambda names: st.fixed_dictionaries({name: fields[name] for name in names})
    )
    plain = st.just(PLAIN[form])
    if who == "b":  # B died on day 10, at DEATH_AT: a dose an hour before it passes, an hour after it is refused
        moments = st.sampled_from(MOMENTS[1:3] if "started_at" in fields else [None])
        plain = moments.map(
            lambda at: {**PLAIN[form], "study_day": 10} | ({"started_at": at} if at is not None else {})
        )
    values = st.tuples(st.sampled_from([True, True, False]), plain, changed).map(
        lambda drawn: {**(drawn[1] if drawn[0] else {}), **drawn[2]}
    )
    confirmable = sorted(f"{name}.{rule}" for name in crf.limits for rule in ("soft_low", "soft_high"))
    return st.builds(
        RecordInput,
        values=values,
        confirmed_checks=st.frozensets(
            st.sampled_from([*confirmable, "dose.regimen", "route.regimen", "dose.soft_high"]), max_size=2
        ),
        missing_codes=st.one_of(
            st.just({}),
            st.dictionaries(
                st.sampled_from(sorted(crf.code_fields) or ["study_day"]),
                st.sampled_from(MissingCode.values),
                max_size=1,
            ),
        ),
        expected_version=st.sampled_from([None, None, None, None, 1]),
    )


def event_cases():
    """A repeating form (those with rules across records too, which go one by one) and up to 8 new records of it
    for patients A and B (B died on day 10, at DEATH_AT; frozen or not): most change a few fields of a record that
    passes (PLAIN; for B on day 10, a dose an hour before or after the death)."""
    return st.sampled_from(sorted(EVENT_FORMS)).flatmap(
        lambda form: st.tuples(
            st.just(form),
            st.lists(
                st.sampled_from(["a", "b"]).flatmap(lambda who: st.tuples(st.just(who), entries(form, who))), max_size=8
            ),
            st.sampled_from([False, False, True]),
        )
    )


@pytest.fixture
def setting(patient_a, patient_b, users):
    """Patient A has an adverse event and a dose of anakinra on day 2; patient B died on day 10, at DEATH_AT."""
    nurse = users["nurse"]
    services.event_save(
        form="adverse_events",
        patient=patient_a,
        entry=RecordInput({"study_day": 2, "kind": "thromboembolism", "serious": True}),
        user=nurse,
    )
    services.event_save(
        form="disposition_events",
        patient=patient_b,
        entry=RecordInput({"study_day": 10, "kind": "death", "cause_of_death": "ARDS", "occurred_at": DEATH_AT}),
        user=nurse,
    )
    return {"a": patient_a, "b": patient_b}


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(case=event_cases())
def test_created_in_bulk_exactly_as_one_by_one(setting, users, case):
    form, rows, b_frozen = case
    user = users["data_manager"]
    records = [NewEventRecord(setting[who], entry, reason="import: x.csv") for who, entry in rows]

    def one_by_one(record: NewEventRecord):
        patient, entry = record.patient, record.entry
        return services.event_save(form=form, patient=patient, entry=entry, user=user, reason=record.reason)

    def run(path) -> list:
        return rolled_back_outcomes(path, freeze=setting["b"] if b_frozen else None, user=user)

    bulk = run(lambda: services.event_records_create(form=form, records=records, user=user))
    assert bulk == run(lambda: each_saved(one_by_one, records))


def test_the_bulk_path_refuses_with_the_forms_messages_and_stores_the_rest(setting, users):
    """The checks of the bulk path are those of the page: a bacteraemia without its organism, an adverse event
    after the death, a dose after the time of death, a record of a frozen casebook; a good record is stored with its
    history row."""
    records = [
        NewEventRecord(setting["a"], RecordInput({"study_day": 4, "kind": "bacteraemia"})),
        NewEventRecord(setting["b"], RecordInput({"study_day": 12, "kind": "thromboembolism"})),
        NewEventRecord(setting["a"], RecordInput({"study_day": 5, "kind": "other", "description": "rash"})),
    ]
    no_organism, after_death, stored = services.event_records_create(
        form="adverse_events", records=records, user=users["nurse"]
    )
    assert [e.code for e in no_organism.error_dict["organism"]] == ["organism.required"]
    assert [e.code for e in after_death.error_dict["study_day"]] == ["study_day.after_death"]
    assert AdverseEvent.objects.get(patient=setting["a"], study_day=5) == stored
    assert stored.history.get().history_change_reason == "initial entry"

    dose = {**PLAIN["drug_administration"], "study_day": 10}
    records = [
        NewEventRecord(setting["b"], RecordInput({**dose, "started_at": DEATH_AT + datetime.timedelta(hours=1)})),
        NewEventRecord(setting["b"], RecordInput({**dose, "started_at": DEATH_AT - datetime.timedelta(hours=1)})),
    ]
    after_death, before_death = services.event_records_create(
        form="drug_administration", records=records, user=users["nurse"]
    )
    assert after_death.message_dict == {
        "started_at": [
            "28 Mar 2020 11:30 is after the death (28 Mar 2020 10:30): there can be no data after the death."
        ]
    }
    assert DrugAdministration.objects.get(patient=setting["b"]) == before_death

    PatientFreeze.objects.create(
        patient=setting["a"], frozen_at=DEATH_AT, frozen_by=users["data_manager"], reason="pre-lock review"
    )
    records = [NewEventRecord(setting["a"], RecordInput({"study_day": 6, "kind": "other", "description": "rash"}))]
    [frozen] = services.event_records_create(form="adverse_events", records=records, user=users["nurse"])
    assert isinstance(frozen, PatientFrozen)
    assert not AdverseEvent.objects.filter(patient=setting["a"], study_day=6).exists()


def test_queries_do_not_grow_with_the_records(setting, users, django_assert_max_num_queries):
    def new(count: int) -> list[NewEventRecord]:
        return [
            NewEventRecord(setting["a"], RecordInput({"study_day": day % 8, "kind": "other", "description": f"e{day}"}))
            for day in range(count)
        ]

    with django_assert_max_num_queries(12):
        results = services.event_records_create(form="adverse_events", records=new(200), user=users["nurse"])
    assert all(isinstance(result, AdverseEvent) for result in results)


DRUGS = "participant_id,study_day,drug,dose,dose_unit,route,frequency,started_at,confirm\n"


def test_an_import_of_repeating_rows_reports_what_one_by_one_would(setting, users):
    """A row the same as a stored record is unchanged; a row whose time, written otherwise, makes it the same as
    an earlier row of the file is unchanged too (that row's record is stored when it comes); a refused row names
    its column; the others are created. Run twice, nothing more is created."""
    patient = setting["a"]
    day_one = patient.enrolment_date + datetime.timedelta(days=1)
    files = {
        "adverse_events.csv": "participant_id,study_day,kind,organism,description,serious\n"
        "MI-0001,2,thromboembolism,,,true\n"  # stored by the fixture
        "MI-0001,3,bacteraemia,,,false\n"  # no organism
        "MI-0001,3,bacteraemia,Klebsiella,,false\n",
        "drug_administration.csv": DRUGS
        + "MI-0001,1,hydroxychloroquine,200,mg,oral,bid,08:00,\n"
        + f"MI-0001,,hydroxychloroquine,200,mg,oral,bid,{day_one.isoformat()} 08:00,\n",
    }
    sources = [importing.Source(name, text.encode()) for name, text in files.items()]
    report = importing.crf_import(study=patient.study, sources=sources, user=users["data_manager"], check_only=True)
    assert [(p.file, p.row, p.column, p.code) for p in report.problems] == [
        ("adverse_events.csv", 3, "organism", "organism.required")
    ]

    files["adverse_events.csv"] = files["adverse_events.csv"].replace("MI-0001,3,bacteraemia,,,false\n", "")
    sources = [importing.Source(name, text.encode()) for name, text in files.items()]
    report = importing.crf_import(study=patient.study, sources=sources, user=users["data_manager"])
    assert report.problems == []
    results = {r.table: (r.created, r.changed, r.unchanged) for r in report.files}
    assert results == {"adverse_events": (1, 0, 1), "drug_administration": (1, 0, 1)}
    dose = DrugAdministration.objects.get(patient=patient)
    assert (dose.study_day, dose.dose) == (1, Decimal("200"))
    assert dose.history.get().history_change_reason == "import: drug_administration.csv"

    again = importing.crf_import(study=patient.study, sources=sources, user=users["data_manager"])
    assert {r.table: (r.created, r.unchanged) for r in again.files} == {
        "adverse_events": (0, 2),
        "drug_administration": (0, 2),
    }
