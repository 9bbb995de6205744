"""The vectorised edit checks of the rules give the verdicts of the forms' own checks: on random records of every
form (valid and invalid, values on and around every bound, blanks, codes with odd case and spaces), each with its
patient's facts (follow-up, day of death, weight, today, the arm's regimen), the findings of
``cleaning.rules.form_findings`` on the whole frame are, record by record, those of ``Crf.issues(values, facts)``
(and, for a one-per-day form, of the day's checks its service applies)."""

from __future__ import annotations

from decimal import Decimal

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
    }
)


def _records(crf):
    fields = {name: _value(crf, name) for name in crf.fields}
    fields["study_day"] = st.integers(-2, 40)
    return st.lists(st.tuples(st.fixed_dictionaries(fields), FACTS), min_size=1, max_size=12)


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
            }
        )
    frame = pd.DataFrame(rows)
    for name in crf.fields:  # numbers as the rule job reads them: floats, NaN for missing
        if isinstance(crf.model._meta.get_field(name), models.DecimalField | models.IntegerField):
            frame[name] = pd.to_numeric(frame[name], errors="coerce").astype(float)
    return frame, pd.DataFrame(patients).set_index("patient_id"), regimens


def _scalar(crf, values, facts) -> set:
    facts = PatientFacts(
        follow_up_days=facts["follow_up_days"],
        death_day=facts["death_day"],
        weight_kg=facts["weight_kg"],
        regimen=facts["regimen"],
        today_day=facts["today_day"],
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
