"""Patients created in bulk (cohorts.services.patients_create, an import's path for new patients): each one is
refused, stored and audited exactly as ``patient_create`` would, and the patient list and derivation hear of it."""

import datetime
from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cleaning.models import PatientRecordStatus
from cohorts import services
from cohorts.models import COMORBIDITIES, Patient, PatientStatus, Sex, Site, Study
from ecrf import tasks
from tests import factories


@pytest.fixture
def places(study, site_a, arms):
    """The study's site and arms, a site of no study and an arm of another study."""
    other = Study.objects.create(code="other", title="Other", protocol="milan_2020")
    stranger = factories.ArmFactory(study=other, code="other_arm")
    return {
        "sites": [site_a, Site.objects.create(code="XX", name="Nowhere")],
        "arms": [arms["standard"], arms["high_dose"], stranger],
    }


def patient_fields(places):
    return st.fixed_dictionaries(
        {
            "site": st.sampled_from(places["sites"]),
            "arm": st.sampled_from(places["arms"]),
            "participant_id": st.sampled_from(["MI-0001", "MI-0100", "MI-0101", "MI-0102"]),  # MI-0001 is taken
            "enrolment_date": st.sampled_from([datetime.date(2020, 3, 17), datetime.date(2099, 1, 1)]),
            "sex": st.sampled_from(Sex.values),
            "age_years": st.integers(min_value=10, max_value=130),
            "reason": st.just("import: patients.csv"),
        },
        optional={
            "weight_kg": st.one_of(st.none(), st.decimals(min_value=20, max_value=320, places=1, allow_nan=False)),
            "weight_confirmed": st.booleans(),
            "status": st.sampled_from(PatientStatus.values),
            "comorbidities": st.dictionaries(st.sampled_from(COMORBIDITIES), st.sampled_from([True, False, None])),
        },
    )


def outcome(result) -> tuple:
    if isinstance(result, Exception):
        errors = result.error_dict.items()
        return ("refused", {name: [(e.code, *e.messages) for e in each] for name, each in errors})
    stored = Patient.objects.get(pk=result.pk)
    fields = [f.attname for f in Patient._meta.concrete_fields if f.name != "id"]
    history = [(h.history_type, h.history_change_reason, h.history_user_id) for h in stored.history.all()]
    return ("stored", {name: getattr(stored, name) for name in fields}, history)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_created_in_bulk_exactly_as_one_by_one(study, patient_a, places, users, data):
    rows = data.draw(st.lists(patient_fields(places), max_size=4, unique_by=lambda row: row["participant_id"]))
    user = users["data_manager"]

    def run(path) -> list:
        with transaction.atomic():
            seen = [outcome(result) for result in path()]
            transaction.set_rollback(True)
        return seen

    def one_by_one():
        results = []
        for row in rows:
            try:
                results.append(services.patient_create(study=study, user=user, **row))
            except services.ValidationError as exc:
                results.append(exc)
        return results

    assert run(lambda: services.patients_create(study=study, patients=rows, user=user)) == run(one_by_one)


def test_new_patients_are_on_the_patient_list_and_derived(committed, study, site_a, arms, users, monkeypatch):
    derived: list[int] = []
    monkeypatch.setattr(tasks.derive_patient, "delay", lambda patient_id: derived.append(patient_id))
    fields = {"site": site_a, "arm": arms["standard"], "enrolment_date": datetime.date(2020, 3, 17), "sex": "F"}
    with committed():
        created = services.patients_create(
            study=study,
            patients=[
                {**fields, "participant_id": "MI-0200", "age_years": 64, "weight_kg": Decimal("70.5"), "reason": "r"},
                {**fields, "participant_id": "MI-0201", "age_years": 15, "reason": "r"},  # not eligible
            ],
            user=users["data_manager"],
        )
    assert [e.code for e in created[1].error_dict["age_years"]] == ["not_eligible"]
    assert derived == [created[0].pk]
    status = PatientRecordStatus.objects.get(patient=created[0])
    assert status.participant_id == "MI-0200" and status.computed_at is not None
    assert created[0].history.get().history_change_reason == "r"


@pytest.mark.parametrize(
    ("age", "message"),
    [
        (121, "121 years is outside the plausible range 0-120 years"),
        (-1, "-1 years is outside the plausible range 0-120 years"),
    ],
)
def test_an_implausible_age_is_refused_next_to_it_in_both_paths(study, site_a, arms, users, age, message):
    """Not a database rule's name in a message without a field (the constraint patient_age_0_120 answered before),
    and not 'not eligible' either: the age is not believed."""
    fields = {
        "site": site_a,
        "arm": arms["standard"],
        "participant_id": "MI-0300",
        "enrolment_date": datetime.date(2020, 3, 17),
        "sex": "F",
        "age_years": age,
        "reason": "import: patients.csv",
    }
    with pytest.raises(services.ValidationError) as one:
        services.patient_create(study=study, user=users["data_manager"], **fields)
    [bulk] = services.patients_create(study=study, patients=[fields], user=users["data_manager"])
    for refusal in (one.value, bulk):
        assert [(e.code, e.messages[0][: len(message)]) for e in refusal.error_dict["age_years"]] == [
            ("age_years.hard", message)
        ]
        assert list(refusal.error_dict) == ["age_years"]
    assert not Patient.objects.filter(participant_id="MI-0300").exists()
