"""Anything typed into any form: never a server error, and nothing stored from a refused submission.

Each example runs in its own rolled-back transaction, so examples do not see each other's records.
"""

from decimal import Decimal

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecrf.crfs import crf_of
from ecrf.models import AdverseEvent, DispositionEvent, DrugAdministration, LabResult, RespiratorySupport, VitalSigns
from ecrf.validators import PatientFacts, refusals
from tests.ecrf.test_entry_helpers import day_url

SETTINGS = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

printable = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=30)
numbers = st.one_of(
    st.decimals(allow_nan=False, allow_infinity=False, places=3, min_value=-1000, max_value=400000).map(str),
    st.integers(min_value=-(10**12), max_value=10**12).map(str),
    st.sampled_from(["", " ", "37,5", "1e400", "-0", "NaN", "inf", "0.21", "1.0", "1 000", "12.", ".5", "0x10"]),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
)
anything = st.one_of(numbers, printable)


def choice(values):
    return st.one_of(st.sampled_from(["", *values]), printable)


FIELDS = {
    "vital_signs": dict.fromkeys(crf_of(VitalSigns).fields, anything),
    "respiratory_support": {
        **dict.fromkeys(("flow_l_min", "fio2", "peep_cmh2o", "niv_hours"), anything),
        "support": choice(["room_air", "nasal_cannula", "hfnc", "cpap", "niv", "imv", "venturi"]),
        **{name: st.sampled_from(["", "on", "x"]) for name in ("ecmo", "prone", "vasopressors", "rrt")},
    },
    "laboratory": {
        **dict.fromkeys(crf_of(LabResult).limits, anything),
        "ddimer_ng_ml": anything,
        "ast_uln_u_l": anything,
        "alt_uln_u_l": anything,
        "pao2_entered_unit": choice(["mmHg", "kPa"]),
        "crp_entered_unit": choice(["mg/L", "mg/dL"]),
        "ddimer_basis": choice(["FEU", "DDU"]),
    },
}
EVENT_FIELDS = {
    "drugs": {
        "study_day": anything,
        "stop_day": anything,
        "drug": choice(["anakinra", "antibiotic", "hydroxychloroquine"]),
        "drug_detail": printable,
        "dose": anything,
        "dose_unit": choice(["mg", "mg/kg"]),
        "route": choice(["oral", "sc", "iv"]),
        "frequency": choice(["once", "bid", "q6h"]),
        "confirm_dose": st.sampled_from(["", "dose.regimen"]),
        "confirm_route": st.sampled_from(["", "route.regimen"]),
    },
    "dispositions": {
        "study_day": anything,
        "kind": choice(["death", "discharged", "vital_status_contact", "icu_admission"]),
        "normal_activities": choice(["true", "false", "unknown"]),
        "alive": choice(["true", "false", "unknown"]),
        "cause_of_death": printable,
    },
    "adverse-events": {
        "study_day": anything,
        "kind": choice(["bacteraemia", "other", "thromboembolism"]),
        "organism": printable,
        "description": printable,
        "serious": st.sampled_from(["", "on"]),
    },
}
MODELS = {"vital_signs": VitalSigns, "respiratory_support": RespiratorySupport, "laboratory": LabResult}
EVENT_MODELS = {"drugs": DrugAdministration, "dispositions": DispositionEvent, "adverse-events": AdverseEvent}


def optional_fields(fields):
    """Any subset of the form's fields, each with any value (a missing field is what a browser omits)."""
    return st.fixed_dictionaries({}, optional=fields)


def counts(models):
    return [(m.objects.count(), m.history.count()) for m in models]


@pytest.fixture
def nurse(client, users):
    client.force_login(users["nurse"])
    return client


def assert_stored_values_pass_the_checks(record, facts):
    crf = crf_of(type(record))
    values = {name: getattr(record, name) for name in crf.fields}
    refused, _ = refusals(crf.issues(values, facts), record.confirmed_checks)
    assert refused == []


@pytest.mark.parametrize("form", list(FIELDS))
def test_day_form_any_input(nurse, patient_a, form):
    @SETTINGS
    @given(values=optional_fields(FIELDS[form]), day=st.sampled_from([0, 1, 21]))
    def run(values, day):
        with transaction.atomic():
            before = counts(MODELS.values())
            data = {f"{form}-{name}": value for name, value in values.items()}
            response = nurse.post(day_url(patient_a, day), data)
            assert response.status_code in (200, 302)
            if response.status_code == 200:
                assert counts(MODELS.values()) == before
            for record in MODELS[form].objects.all():
                assert_stored_values_pass_the_checks(record, PatientFacts.of(patient_a, None))
            transaction.set_rollback(True)

    run()


@pytest.mark.parametrize("slug", list(EVENT_FIELDS))
def test_event_form_any_input(nurse, patient_a, slug):
    @SETTINGS
    @given(values=optional_fields(EVENT_FIELDS[slug]))
    def run(values):
        with transaction.atomic():
            before = counts(EVENT_MODELS.values())
            data = {f"event-{name}": value for name, value in values.items()}
            response = nurse.post(f"/patients/{patient_a.pk}/{slug}/add/", data)
            assert response.status_code in (200, 302)
            if response.status_code == 200:
                assert counts(EVENT_MODELS.values()) == before
            else:
                record = EVENT_MODELS[slug].objects.get()
                assert 0 <= record.study_day <= 21
                assert_stored_values_pass_the_checks(record, PatientFacts.of(patient_a, None))
            transaction.set_rollback(True)

    run()


def test_a_valid_submission_is_stored(nurse, patient_a):
    """The fuzzing above must not be vacuous: a plain valid day is accepted by the same path."""
    data = {
        "vital_signs-temperature_c": "37.2",
        "laboratory-crp_mg_l": "5",
        "laboratory-crp_entered_unit": "mg/dL",
    }
    assert nurse.post(day_url(patient_a, 0), data).status_code == 302
    assert LabResult.objects.get().crp_mg_l == Decimal("50.0")
