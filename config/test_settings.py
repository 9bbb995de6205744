"""Settings for the test suite: the real settings, with a broker that needs no server by default.

CI sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis); with neither set the suite runs on SQLite
and Celery's in-memory transport, with the worker in a thread of the test process.
"""

import os

from config.settings import *  # noqa: F403
from config.settings import env

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL") or "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
CELERY_RESULT_BACKEND = CELERY_BROKER_URL if CELERY_BROKER_URL.startswith("redis") else "cache+memory://"
CELERY_TASK_ALWAYS_EAGER = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed only; never in production
STORAGES = {**STORAGES, "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}  # noqa: F405
RELEASES_ROOT = env.path("TEST_RELEASES_ROOT", default=str(VAR_DIR / "test-releases"))  # noqa: F405
IMPORTS_ROOT = env.path("TEST_IMPORTS_ROOT", default=str(VAR_DIR / "test-imports"))  # noqa: F405
SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Logins of the suite need no second factor; the tests of the policy turn it on (settings.ECRF_REQUIRE_2FA = True).
ECRF_REQUIRE_2FA = False
