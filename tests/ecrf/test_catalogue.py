"""The form catalogue (ecrf/crfs.py) is complete, and the pure rule modules know every choice of the models.

A form that exists as a model but not in the catalogue would have no page, no import file, no release table and
no checks; a choice added to a model but not to the rules would end a save in a server error. These tests fail
first.
"""

import pytest
from django.apps import apps
from simple_history.models import HistoricalChanges

from analysis import datasets, outcomes
from ecrf import checks, derivations, importing
from ecrf.crfs import CATALOGUE, DAY_FORMS, EVENT_FORMS, crf_of, event_form_of_slug
from ecrf.models import AdverseEventKind, DispositionKind, Support
from ecrf.validators import PatientFacts


def audited_models(app_label: str) -> set:
    """Models of an app that keep an audit trail (a django-simple-history table)."""
    return {
        model.instance_type
        for model in apps.get_app_config(app_label).get_models()
        if issubclass(model, HistoricalChanges)
    }


def test_every_audited_model_of_ecrf_is_a_form_of_the_catalogue_and_the_reverse():
    assert audited_models("ecrf") == {crf.model for crf in CATALOGUE.values()}


def test_each_form_is_reachable_under_its_one_key():
    for key, crf in CATALOGUE.items():
        assert crf.key == key
        assert crf_of(crf.model) is crf
        assert key in importing.TABLES and key in datasets.SOURCE_FORMS  # import file and release table
    assert set(DAY_FORMS) | set(EVENT_FORMS) == set(CATALOGUE)
    assert {event_form_of_slug(crf.slug) for crf in EVENT_FORMS.values()} == set(EVENT_FORMS.values())
    assert event_form_of_slug(DAY_FORMS["vital_signs"].slug) is None  # a day form has no event page


def test_declared_fields_limits_and_layout_exist():
    for crf in CATALOGUE.values():
        names = {field.name for field in crf.model._meta.get_fields()}
        assert set(crf.fields) <= names, crf.key
        assert set(crf.limits) <= set(crf.fields), crf.key
        assert all(limit in checks.LIMITS for limit in crf.limits.values()), crf.key
        laid_out = {name for row in crf.layout for name in (row if isinstance(row, tuple) else (row,))}
        assert set(crf.value_fields) <= laid_out <= set(crf.fields), crf.key  # units sit beside their value
        assert set(crf.derivation_columns) <= set(crf.fields), crf.key
        assert crf.per_day == ("study_day" not in crf.fields), crf.key


def test_every_field_with_a_limit_is_refused_outside_it():
    """The catalogue's limits are what the service checks: a value past each hard maximum is refused."""
    facts = PatientFacts(follow_up_days=21, weight_kg=80)
    for crf in CATALOGUE.values():
        for name, limit in crf.limits.items():
            too_high = checks.LIMITS[limit].hard_max
            if too_high is None:
                continue
            issues = crf.issues({name: too_high * 2}, facts)
            assert f"{limit}.hard_max" in {i.code for i in issues if i.field == name}, (crf.key, name)


@pytest.mark.parametrize("support", Support.values)
def test_every_support_level_has_its_rules(support):
    assert support in checks.REQUIRED_SETTINGS  # which device settings it needs
    assert support in derivations.SUPPORT_STATE  # its ordinal state


@pytest.mark.parametrize("kind", DispositionKind.values)
def test_every_disposition_kind_is_known_to_the_derivation(kind):
    assert kind in derivations.EVENT_KINDS


def test_adverse_event_kinds_counted_per_arm_are_the_model_kinds_other_than_other():
    assert set(outcomes.AE_KINDS) == set(AdverseEventKind.values) - {AdverseEventKind.OTHER}
