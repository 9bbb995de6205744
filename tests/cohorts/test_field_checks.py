"""cohorts.field_checks.FieldChecks: a batch's full_clean, each distinct value of a field checked once, gives each
record exactly the verdict of Django's own full_clean (relations and database rules left to the database)."""

import copy
from decimal import Decimal

from django.core.exceptions import ValidationError
from hypothesis import given, settings
from hypothesis import strategies as st

from cohorts.field_checks import FieldChecks
from ecrf.models import DrugAdministration, RespiratorySupport

# Values both valid and not: too many digits or decimal places, 37.5 and 37.50, choices and not, blanks, a text
# where a number goes.
_NUMBERS = st.sampled_from([None, "", 7, "abc", *map(Decimal, ("0.5", "0.50", "0.505", "12.5", "12.50", "99999.9"))])
_SUPPORTS = st.sampled_from(["", "cpap", "CPAP", "room_air", "helmet?", None])
_DOSES = st.sampled_from([Decimal("100"), Decimal("100.00"), Decimal("100.001"), Decimal("123456.7"), None, -1])
_UNITS = st.sampled_from(["mg", "mg_kg", "litres", ""])
# JSON values: each record's own object (not hashable), empty or not, and none where the field takes no null.
_CODES = st.sampled_from([{}, {"flow_l_min": "unknown"}, {"fio2": ["not", "a", "code"]}, None, []])
_CONFIRMED = st.sampled_from([[], ["fio2.soft_high"], None, {}])


def verdict(record, clean) -> tuple[dict, dict]:
    """The errors (field -> messages) of ``clean(record)`` and the record's values after it."""
    try:
        clean(record)
        errors = {}
    except ValidationError as exc:
        errors = {field: [str(message) for message in messages] for field, messages in exc.message_dict.items()}
    return errors, {field.attname: getattr(record, field.attname) for field in type(record)._meta.concrete_fields}


def one_by_one(checks: FieldChecks):
    """A record's full_clean through ``checks``, one record a call (later calls reuse the values seen before)."""

    def clean(record) -> None:
        (error,) = checks.full_clean_all([record])
        if error is not None:
            raise error

    return clean


def django_clean(record) -> None:
    record.full_clean(exclude=["patient"], validate_unique=False, validate_constraints=False)


@settings(max_examples=60, deadline=None)
@given(
    st.lists(st.tuples(_SUPPORTS, _NUMBERS, _NUMBERS, _NUMBERS, _CODES, _CONFIRMED), min_size=1, max_size=12),
    st.integers(min_value=0, max_value=12),
)
def test_a_batch_gets_the_verdicts_of_full_clean(rows, split):
    checks = FieldChecks(RespiratorySupport)  # one batch: later records reuse the values seen before
    mine, theirs = [], []
    for support, flow, fio2, peep, codes, confirmed in rows:
        values = {"support": support, "flow_l_min": flow, "fio2": fio2, "peep_cmh2o": peep, "study_day": 1}
        json = {"missing_codes": copy.deepcopy(codes), "confirmed_checks": copy.deepcopy(confirmed)}
        mine.append(RespiratorySupport(**values, **json))
        theirs.append(RespiratorySupport(**values, **copy.deepcopy(json)))
    # Checked in two calls (the second reuses the first's results), the records of a call a field at a time.
    part = min(split, len(mine))
    errors = checks.full_clean_all(mine[:part]) + checks.full_clean_all(mine[part:])
    for record, error, theirs_record in zip(mine, errors, theirs, strict=True):

        def raised(_record, error=error):
            if error is not None:
                raise error

        assert verdict(record, raised) == verdict(theirs_record, django_clean)


@settings(max_examples=40, deadline=None)
@given(st.lists(st.tuples(_DOSES, _UNITS), min_size=1, max_size=8))
def test_required_fields_and_choices_of_a_repeating_form(rows):
    checks = FieldChecks(DrugAdministration)
    for dose, unit in rows:
        values = {"study_day": 0, "drug": "anakinra", "dose": dose, "dose_unit": unit, "route": "iv"}
        values["frequency"] = "q6h"
        mine, theirs = DrugAdministration(**values), DrugAdministration(**values)
        assert verdict(mine, one_by_one(checks)) == verdict(theirs, django_clean)


def test_a_refused_value_is_refused_for_every_record_that_holds_it():
    checks = FieldChecks(RespiratorySupport)
    for _ in range(2):
        record = RespiratorySupport(study_day=1, fio2=Decimal("0.505"))
        errors, _values = verdict(record, one_by_one(checks))
        assert list(errors) == ["fio2"]
