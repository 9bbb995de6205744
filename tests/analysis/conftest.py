"""Fixtures shared by the analysis app's tests."""

import pytest

from tests.analysis import release_data


@pytest.fixture
def release(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    """The locked release v1 of four patients (tests/analysis/release_data.populate); a test module may define its
    own."""
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)
    return release_data.lock(study, users["data_manager"])
