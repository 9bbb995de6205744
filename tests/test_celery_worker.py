"""A task round-trip through a real worker on the configured broker (Redis in CI, in-memory otherwise)."""

import pytest
from celery.contrib.testing.worker import start_worker

from config.celery import app, ping


@pytest.mark.worker
def test_ping_round_trip_through_a_real_worker(settings):
    with start_worker(app, perform_ping_check=False, pool="solo", shutdown_timeout=10):
        result = ping.delay("ecrf")
        assert result.get(timeout=20) == "pong:ecrf"
    assert app.conf.broker_url == settings.CELERY_BROKER_URL
