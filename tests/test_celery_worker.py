"""A task round-trip through a real worker on the configured broker (Redis in CI, in-memory otherwise)."""

import logging
import runpy
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from kombu import Connection

import config
from config.celery import app, ping


@pytest.mark.worker
def test_ping_round_trip_through_a_real_worker(settings):
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        result = ping.delay("ecrf")
        assert result.get(timeout=20) == "pong:ecrf"
    assert app.conf.broker_url == settings.CELERY_BROKER_URL


def test_the_embedded_broker_of_the_demo_starts_without_a_warning(monkeypatch, tmp_path, caplog):
    """`make demo` runs on the default broker URL (the filesystem transport): kombu warned "No hostname was
    supplied. Reverting to default 'localhost'" at every start of the worker and of load_demo when it had none."""
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)
    monkeypatch.setenv("ECRF_VAR_DIR", str(tmp_path))  # the settings create the broker's folders there
    embedded = runpy.run_path(str(Path(config.__file__).parent / "settings.py"))
    assert embedded["CELERY_BROKER_URL"].startswith("filesystem://")
    with caplog.at_level(logging.WARNING, logger="kombu"):
        connection = Connection(
            embedded["CELERY_BROKER_URL"], transport_options=embedded["CELERY_BROKER_TRANSPORT_OPTIONS"]
        )
        with connection:
            assert connection.info()["hostname"] == "localhost"
    assert not caplog.records, caplog.text
