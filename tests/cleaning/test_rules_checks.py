"""The vectorised edit checks of the rules give the verdicts of the forms' own checks: on random records of every
form (valid and invalid, values on and around every bound, blanks, codes with odd case and spaces, times on their
record's day at the site, on the day before or after, in the future, after the death, an end at or before its start),
each with its patient's facts (follow-up, day and moment of death, weight, today, now, the site's time zone, the
enrolment date, the arm's regimen), the findings of ``cleaning.rules.form_findings`` on the whole frame are, record by
record, those of ``Crf.issues(values, facts)`` (and, for a one-per-day form, of the day's checks its service
applies)."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal
from zoneinfo import ZoneInfo

import hypothesis.strategies as st
import numpy as np
import pandas as pd
import pytest
from django.db import models
from hypothesis import HealthCheck, given, settings

from cleaning import rules
from cohorts.limits import DOSE_MAXIMA, LIMITS
from ecrf.crfs import CATALOGUE
from ecrf.validators import PatientFacts, day_issues

TEXTS = [None, "", "  ", "x", "ceftriaxone"]
UTC = datetime.UTC
#: The study day each time of the forms is on (ecrf/validators.py _times, disposition_event), and the start time of
#: each end time.
TIME_DAYS = {
    "started_at": "study_day",
    "stopped_at": "stop_day",
    "occurred_at": "study_day",
    "intubated_at": "study_day",
    "ended_at": "end_day",
}
END_OF = {"stopped_at": "started_at", "ended_at": "intubated_at"}
#: Site time zones (half-hour offsets, +14 h, daylight saving in March and October 2020) and enrolment dates next to
#: the changes of daylight saving time (None: not known, the day of a time is not checked).
ZONES = [None, "UTC", "America/New_York", "Europe/Rome", "Asia/Kolkata", "Pacific/Kiritimati"]
ENROLMENTS = [None, datetime.date(2020, 3, 7), datetime.date(2020, 3, 28), datetime.date(2020, 10, 24)]
#: Zones the stored times are given in (the rule job reads them in UTC; the checks accept any aware time).
SHOWN_IN = [UTC, datetime.timezone(datetime.timedelta(hours=-4)), datetime.timezone(datetime.timedelta(hours=5.5))]


def _bounds(field: str, crf) -> list[Decimal]:
    """Every bound of the field's limit (the dose: every drug's maximum) and the numbers next to them."""
    limit = LIMITS.get(crf.limits.get(field, ""))
    bounds = [] if limit is None else [limit.hard_min, limit.hard_max, limit.soft_low, limit.soft_high]
    if field == "dose":
        bounds += [row.hard_max for row in DOSE_MAXIMA]
    step = Decimal(1).scaleb(-getattr(crf.model._meta.get_field(field), "decimal_places", 0) or 0)
    found = [Decimal(str(b)) for b in bounds if b is not None]
    return sorted({value + delta for value in found for delta in (-step, 0, step)})


def _number(crf, field: str):
    model_field = crf.model._meta.get_field(field)
    places = getattr(model_field, "decimal_places", None) or 0
    limit = LIMITS.get(crf.limits.get(field, ""))
    low = float(limit.hard_min) if limit is not None and limit.hard_min is not None else -5
    high = float(limit.hard_max) if limit is not None and limit.hard_max is not None else 9000
    span = (high - low) * 0.2 + 1
    decimals = st.decimals(min_value=Decimal(str(low - span)), max_value=Decimal(str(high + span)), places=places)
    strategy = st.one_of(st.none(), decimals, st.sampled_from(_bounds(field, crf) or [Decimal(0)]))
    return strategy.map(lambda d: d if d is None or places else int(d))


def _value(crf, field: str):
    model_field = crf.model._meta.get_field(field)
    if field in ("stop_day", "end_day"):  # the days of the end times: around the study's days
        return st.one_of(st.none(), st.integers(-3, 42))
    if isinstance(model_field, models.DecimalField | models.IntegerField):
        return _number(crf, field)
    if isinstance(model_field, models.BooleanField):
        return st.sampled_from([True, False] if not model_field.null else [None, True, False])
    if model_field.choices:
        codes = [code for code, _ in model_field.flatchoices]
        return st.sampled_from([None, "", *codes])
    return st.sampled_from(TEXTS)


REGIMEN_ENTRY = st.fixed_dictionaries(
    {
        "drug": st.sampled_from(["anakinra", " Anakinra ", "hydroxychloroquine", "tocilizumab"]),
        "dose": st.sampled_from([None, 5, 100, 2.5, 400]),
        "unit": st.sampled_from(["mg", "mg/kg", "MG", None]),
        "route": st.sampled_from(["iv", "sc", " IV", None, ""]),
    }
)
FACTS = st.fixed_dictionaries(
    {
        "follow_up_days": st.integers(1, 30),
        "death_day": st.one_of(st.none(), st.integers(0, 30)),
        "weight_kg": st.sampled_from([None, Decimal("72.5")]),
        "today_day": st.one_of(st.none(), st.integers(-2, 40)),
        "regimen": st.lists(REGIMEN_ENTRY, max_size=2).map(tuple),
        "zone": st.sampled_from(ZONES),
        "enrolment_date": st.sampled_from(ENROLMENTS),
    }
)


def _moment(facts: dict, day: int):
    """A time at the patient's site mostly on study day ``day``, else on the day before or after; given in one of
    :data:`SHOWN_IN`."""
    zone = ZoneInfo(facts["zone"] or "UTC")
    day_0 = facts["enrolment_date"] or datetime.date(2020, 3, 17)

    def at(shift: int, minute: int, shown: datetime.tzinfo) -> datetime.datetime:
        midnight = datetime.datetime.combine(day_0 + datetime.timedelta(days=day + shift), datetime.time(), zone)
        # UTC arithmetic: every minute of the local day, daylight saving changes included.
        return (midnight.astimezone(UTC) + datetime.timedelta(minutes=minute)).astimezone(shown)

    return st.builds(at, st.sampled_from([0, 0, 0, -1, 1]), st.integers(0, 24 * 60 - 1), st.sampled_from(SHOWN_IN))


@st.composite
def _record(draw, crf):
    """One record's values with its patient's facts: times drawn around their record's days, the facts' now and
    moment of death around them (sometimes equal to one of them: a time equal to now is not in the future)."""
    facts = draw(FACTS)
    fields = {name: _value(crf, name) for name in crf.fields if name not in TIME_DAYS}
    fields["study_day"] = st.integers(-2, 40)
    values = draw(st.fixed_dictionaries(fields))
    for name in (name for name in crf.fields if name in TIME_DAYS):
        day = values[TIME_DAYS[name]]
        moments = [st.none(), _moment(facts, values["study_day"] if day is None else day)]
        start = values.get(END_OF.get(name, ""))
        if start is not None:  # an end at, just after or before its start
            moments.append(st.sampled_from([0, 1, -1, -90]).map(lambda m, s=start: s + datetime.timedelta(minutes=m)))
        values[name] = draw(st.one_of(*moments))
    times = [values[name] for name in crf.fields if name in TIME_DAYS and values[name] is not None]
    for fact in ("now", "death_at"):
        choices = [st.none(), st.integers(-2, 42).flatmap(lambda d: _moment(facts, d))]
        if times:
            choices.append(st.sampled_from(times))
        facts[fact] = draw(st.one_of(*choices))
    return values, facts


def _records(crf):
    for name in crf.fields:  # every time of the forms is drawn around its day (no text for a time)
        if isinstance(crf.model._meta.get_field(name), models.DateTimeField):
            assert name in TIME_DAYS, f"{crf.key}.{name}: give its day in TIME_DAYS"
    return st.lists(_record(crf), min_size=1, max_size=12)


def _frames(crf, records):
    rows, patients, regimens = [], [], {}
    for patient_id, (values, facts) in enumerate(records):
        row = {"patient_id": patient_id}
        for name, value in values.items():
            row[name] = float(value) if isinstance(value, Decimal) else value
        rows.append(row)
        regimens[patient_id] = facts["regimen"]
        patients.append(
            {
                "patient_id": patient_id,
                "follow_up_days": facts["follow_up_days"],
                "death_day": np.nan if facts["death_day"] is None else facts["death_day"],
                "weight_kg": np.nan if facts["weight_kg"] is None else float(facts["weight_kg"]),
                "today_day": np.nan if facts["today_day"] is None else facts["today_day"],
                "arm": patient_id,
                "time_zone": facts["zone"],
                "enrolment_date": facts["enrolment_date"],
                "now": facts["now"],
                "death_at": facts["death_at"],
            }
        )
    frame = pd.DataFrame(rows)
    for name in crf.fields:  # numbers as the rule job reads them: floats, NaN for missing; times in UTC
        model_field = crf.model._meta.get_field(name)
        if isinstance(model_field, models.DecimalField | models.IntegerField):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
        elif isinstance(model_field, models.DateTimeField):
            frame[name] = pd.to_datetime(frame[name].astype(object), utc=True)
    patients = pd.DataFrame(patients).set_index("patient_id")
    for name in ("now", "death_at"):
        patients[name] = pd.to_datetime(patients[name].astype(object), utc=True)
    return frame, patients, regimens


def _scalar(crf, values, facts) -> set:
    facts = PatientFacts(
        follow_up_days=facts["follow_up_days"],
        death_day=facts["death_day"],
        weight_kg=facts["weight_kg"],
        regimen=facts["regimen"],
        today_day=facts["today_day"],
        enrolment_date=facts["enrolment_date"],
        zone=ZoneInfo(facts["zone"]) if facts["zone"] else None,
        now=facts["now"],
        death_at=facts["death_at"],
    )
    form_values = {name: values[name] for name in crf.fields}
    issues = crf.issues(form_values if crf.per_day else {**form_values, "study_day": values["study_day"]}, facts)
    if crf.per_day:
        issues += day_issues(values["study_day"], facts)
    return {(issue.field, issue.level, issue.code) for issue in issues}


def _vectorised(crf, records) -> list[set]:
    frame, patients, regimens = _frames(crf, records)
    found = [set() for _ in records]
    for finding in rules.form_findings(rules.Records(crf, frame, patients, regimens)):
        for row in np.flatnonzero(finding.rows):
            found[row].add((finding.field, finding.level, finding.code))
    return found


@pytest.mark.parametrize("form", list(CATALOGUE))
def test_vectorised_checks_give_the_verdicts_of_the_forms_checks(form):
    crf = CATALOGUE[form]

    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(records=_records(crf))
    def check(records):
        expected = [_scalar(crf, values, facts) for values, facts in records]
        assert _vectorised(crf, records) == expected

    check()


def test_every_finding_has_its_rule():
    """Each issue the vectorised checks can report maps to a rule of the registry, on the field it names."""
    for crf in CATALOGUE.values():
        codes = [(f, c) for f in crf.limits for c, _, _ in rules.range_codes(crf, f)]
        codes += [(check.field, check.code) for check in (*rules.CROSS_FIELD.get(crf.key, ()), *rules.DAY_CHECKS)]
        for field, code in codes:
            rule, query_field = rules.rule_of(field, code)
            assert crf.key in rules.RULES[rule].forms and rules.RULES[rule].field == query_field


@pytest.mark.parametrize(
    ("form", "answers", "refusals"),
    [
        (
            "disposition_events",
            {
                "alive": [None, True, False],
                "normal_activities": [None, True, False],
                "cause_of_death": [None, "", " ", "ARDS"],
            },
            {
                "alive.not_contact",
                "normal_activities.not_discharge",
                "normal_activities.not_alive",
                "cause_of_death.not_death",
            },
        ),
        (
            "adverse_events",
            {"organism": [None, "", "E. coli"], "description": [None, "DVT"]},
            {"organism.not_bacteraemia"},
        ),
    ],
)
def test_answers_of_one_kind_of_record_given_with_another_are_found_as_the_forms_find_them(form, answers, refusals):
    """Every kind with every combination of the answers that go with some kinds only (ecrf.validators
    KIND_ONLY_ANSWERS, and a contact that found the patient dead with normal activities resumed): too few of the
    random records above meet each combination."""
    crf = CATALOGUE[form]
    facts = {
        "follow_up_days": 21,
        "death_day": None,
        "weight_kg": None,
        "regimen": (),
        "today_day": None,
        "zone": None,
        "enrolment_date": None,
        "now": None,
        "death_at": None,
    }
    kinds = [None, *(code for code, _ in crf.model._meta.get_field("kind").flatchoices)]
    records = []
    for kind, *chosen in itertools.product(kinds, *answers.values()):
        values = dict.fromkeys(crf.fields)
        values.update(study_day=3, kind=kind, **dict(zip(answers, chosen, strict=True)))
        records.append((values, facts))
    expected = [_scalar(crf, values, record_facts) for values, record_facts in records]
    assert _vectorised(crf, records) == expected
    refused = {code for found in expected for _, _, code in found}
    assert refused >= refusals
