"""The checks of many records at once (the bulk services' path, an import's chunk of rows): ranges and study days
compared as arrays give exactly the findings, with the same messages, as the checks of each record one by one -
on values inside, outside and on every bound, with more digits than a float holds, and on records of every form."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cohorts.limits import LIMITS
from ecrf import checks, validators
from ecrf.checks import Issue
from ecrf.crfs import CATALOGUE, Record
from ecrf.models import MissingCode
from tests.ecrf.test_day_records_bulk import _values

TINY = [Decimal(0), Decimal("0.1"), Decimal("0.001"), Decimal("1e-9"), Decimal("1e-20")]


def _near(bound) -> st.SearchStrategy:
    """A bound itself, and values just inside or outside it, some closer than a float can tell apart."""
    exact = checks.as_decimal(bound)
    return st.tuples(st.sampled_from(TINY), st.sampled_from([-1, 1])).map(lambda d: exact + d[0] * d[1])


def values_of(name: str) -> st.SearchStrategy:
    limit = LIMITS[name]
    bounds = [b for b in (limit.hard_min, limit.hard_max, limit.soft_low, limit.soft_high) if b is not None]
    near = [_near(bound) for bound in bounds]
    anywhere = st.decimals(min_value=-1000, max_value=300_000, places=3, allow_nan=False)
    return st.one_of(
        *near,
        anywhere,
        anywhere.map(float),
        st.integers(min_value=-1000, max_value=300_000),
        st.sampled_from([None, float("nan"), Decimal("NaN"), Decimal("sNaN"), Decimal("Infinity"), float("-inf")]),
    )


@pytest.mark.parametrize("name", sorted(LIMITS))
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_column_gets_the_findings_of_each_value(name, data):
    values = data.draw(st.lists(values_of(name), max_size=30))
    expected = {position: found for position, value in enumerate(values) if (found := checks.check_value(name, value))}
    assert checks.check_column(name, values) == expected


def test_a_column_finds_what_is_out_of_range_and_passes_the_bounds_that_are_accepted():
    values = [Decimal("37.0"), Decimal("41"), Decimal("41.0000000000000000001"), None, 31, Decimal("35"), 34.9]
    found = checks.check_column("temperature_c", values)
    assert sorted(found) == [2, 4, 6]  # 41 and 35, the soft bounds themselves, need no confirmation
    assert found[2].code == "temperature_c.soft_high"  # above 41 by less than a float can tell: still found
    assert found[4].message == "Temperature 31 degC is below the plausible minimum of 32 degC."
    assert found[6].code == "temperature_c.soft_low" and found[6].needs_confirmation
    beyond = checks.check_column("temperature_c", [Decimal("44"), Decimal("44.0000000000000000001")])
    assert [issue.code for issue in beyond.values()] == ["temperature_c.soft_high", "temperature_c.hard_max"]


FACTS = st.builds(
    validators.PatientFacts,
    follow_up_days=st.sampled_from([21, 28]),
    death_day=st.sampled_from([None, 0, 12]),
    today_day=st.sampled_from([None, 3, 40]),
    enrolment_date=st.sampled_from([None, datetime.date(2020, 3, 18)]),
    site_name=st.sampled_from(["", "Milan"]),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(min_value=-3, max_value=45) | st.just(2**70), FACTS), max_size=20))
def test_study_days_get_the_findings_of_each_day(cases):
    days, facts = [day for day, _ in cases], [f for _, f in cases]
    assert validators.day_issues_each(days, facts) == [validators.day_issues(d, f) for d, f in cases]


def records(key: str) -> st.SearchStrategy:
    """Records of a form: any values its fields may be typed to (beyond the limits too), codes, a not done mark."""
    crf = CATALOGUE[key]
    fields = {
        name: _values(crf.model._meta.get_field(name)) if name not in crf.limits else values_of(crf.limits[name])
        for name in crf.fields
    }
    for name in ("study_day", "end_day", "stop_day"):
        if name in fields:
            fields[name] = st.one_of(st.none(), st.integers(min_value=-2, max_value=30))
    return st.tuples(
        st.fixed_dictionaries({}, optional=fields),
        FACTS,
        st.dictionaries(
            st.sampled_from(sorted(crf.code_fields) or ["x"]), st.sampled_from(MissingCode.values), max_size=2
        ),
        st.sampled_from([None, None, None, "no sample", " "]),
    )


@pytest.mark.parametrize("key", sorted(CATALOGUE))
@settings(max_examples=80, deadline=None)
@given(data=st.data())
def test_the_records_of_a_form_get_the_issues_of_each_record(key, data):
    crf = CATALOGUE[key]
    drawn = data.draw(st.lists(records(key), max_size=10))
    each = [
        crf.issues(values, facts, missing_codes=codes, not_done_reason=not_done)
        for values, facts, codes, not_done in drawn
    ]
    assert crf.issues_each([Record(*record) for record in drawn]) == each


def test_issues_of_many_records_keep_each_records_order_of_findings():
    crf = CATALOGUE["vital_signs"]
    facts = validators.PatientFacts(follow_up_days=21)
    ok = {"temperature_c": Decimal("37.0")}
    bad = {"temperature_c": Decimal("45"), "spo2_pct": 120, "systolic_mmhg": 100, "diastolic_mmhg": 110}
    found = crf.issues_each([Record(ok, facts), Record(bad, facts)])
    assert found[0] == []
    assert [issue.code for issue in found[1]] == [
        "temperature_c.hard_max",
        "spo2_pct.hard_max",
        "diastolic_mmhg.not_below_systolic",
    ]
    assert all(isinstance(issue, Issue) for issue in found[1])
