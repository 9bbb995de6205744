"""Fixtures shared by the cleaning app's tests."""

import pytest

from cleaning import sdv


@pytest.fixture
def planned(study, users):
    """The study's SDV plan: vital signs on their critical fields, drug administration on all fields."""
    sdv.plan_save(
        study=study, levels={"vital_signs": "critical", "drug_administration": "all"}, user=users["data_manager"]
    )
    return study
