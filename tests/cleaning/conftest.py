"""Fixtures shared by the cleaning app's tests."""

from contextlib import contextmanager

import pytest
from django.db import connection

from cleaning import sdv
from cohorts.on_commit import Batch


@pytest.fixture
def planned(study, users):
    """The study's SDV plan: vital signs on their critical fields, drug administration on all fields."""
    sdv.plan_save(
        study=study, levels={"vital_signs": "critical", "drug_administration": "all"}, user=users["data_manager"]
    )
    return study


@pytest.fixture
def committed(django_capture_on_commit_callbacks):
    """``with committed():`` runs a block as a transaction of its own would: its after-commit callbacks run at its
    end. The callbacks still pending from the fixtures' saves run first (a real transaction ran them at its
    commit); later saves would otherwise join those and never run in the test's one transaction."""

    @contextmanager
    def block():
        for _savepoints, callback, _robust in connection.run_on_commit:
            if isinstance(callback, Batch) and not callback.done:
                callback()
        with django_capture_on_commit_callbacks(execute=True):
            yield

    return block
