"""Eligibility rule sets per protocol (clinical definitions §1.1, §1.2, §1.3).

A study selects its rule set by code (``Study.protocol``: "milan_2020", "new_york_2020"), so running either protocol
needs no code change. The package is laid out by role:

- ``engine.py``: criteria, three-valued judges, settings, evaluation and the registry of protocols;
- ``fields.py``: the inputs of the screening form, with their units and labels, shared by name across protocols;
- one module per protocol (``milan.py``, ``new_york.py``) defining its ``RULE_SET``.

A new protocol is one new module plus one ``register`` line below, and its choice in ``cohorts.models.Protocol``
(the choices a study is saved with; tests/cohorts/test_eligibility.py checks that each has a registered rule set).

Pure package: no Django imports but translation (see engine.py). The names below are the public interface used by
forms, services and the codebook.
"""

from cohorts.eligibility import milan, new_york
from cohorts.eligibility.engine import (
    RULE_SETS,
    Criterion,
    CriterionResult,
    Evaluation,
    Finding,
    RuleSet,
    Setting,
    evaluate,
    get_rule_set,
    register,
)
from cohorts.eligibility.fields import FIELDS, Field

register(milan.RULE_SET)
register(new_york.RULE_SET)

__all__ = [
    "FIELDS",
    "RULE_SETS",
    "Criterion",
    "CriterionResult",
    "Evaluation",
    "Field",
    "Finding",
    "RuleSet",
    "Setting",
    "evaluate",
    "get_rule_set",
]
