"""Settings for the study eCRF, read from the environment (django-environ).

The embedded default needs no server: SQLite under var/ and Celery's filesystem:// broker under
var/celery. Production sets DATABASE_URL (PostgreSQL), CELERY_BROKER_URL (Redis), SECRET_KEY,
DEBUG=false and ALLOWED_HOSTS; `python manage.py check --deploy` then reports nothing.
"""

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(environ.Env().str("ECRF_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env(
    DEBUG=(bool, False),
    ALLOWED_HOSTS=(list, ["localhost", "127.0.0.1", "[::1]", "testserver"]),
)
if (BASE_DIR / ".env").exists():
    environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env("DEBUG")
# The demo (`make demo`): one login per role on a laptop, no phone needed (see ECRF_REQUIRE_2FA below).
ECRF_DEMO = env.bool("ECRF_DEMO", default=False)
# The fallback key is only acceptable for DEBUG runs, tests and the demo; check --deploy flags it otherwise.
SECRET_KEY = env.str("SECRET_KEY", default="django-insecure-demo-key-change-me-" + "x" * 20)
ALLOWED_HOSTS = env("ALLOWED_HOSTS")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "django_htmx",
    "simple_history",
    "axes",
    # Two-factor authentication: django-two-factor-auth's pages on django-otp's TOTP and backup-token devices.
    "django_otp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "two_factor",
    "django_celery_beat",
    "django_celery_results",
    "rest_framework",
    "drf_spectacular",
    "accounts",
    "cohorts",
    "ecrf",
    # Values pulled from the hospitals' FHIR servers for review (docs/nurse.md): after ecrf, whose services save
    # them; the releases (analysis) export their provenance.
    "fhir_pull",
    # Queries, data-quality rules and the record status dashboard (docs/data-manager.md): after ecrf, whose data
    # they are about; the releases (analysis) export the queries.
    "cleaning",
    "analysis",
    # The REST API (/api/v1/) and personal API tokens (docs/api.md): after the apps it reads and writes through.
    "api",
    # The demo data (`make demo`, `manage.py load_demo`): written through the study apps' services only.
    "demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The browser's Accept-Language; accounts.middleware then applies the user's own choice, which wins.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",  # request.user.is_verified(): logged in with a second factor
    "accounts.middleware.UserLanguageMiddleware",  # the language chosen in the user's profile
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "accounts.two_factor_policy.RequireTwoFactorMiddleware",  # ECRF_REQUIRE_2FA
    # Last, as django-axes asks: it turns a lockout into the lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "cohorts.context_processors.roles",
            ],
        },
    },
]

# Form widgets: the common ones (an <input>, a <select>, a <textarea>) written in Python, the others by Jinja2's
# copies of Django's widget templates; the same HTML either way (config/widget_renderer.py). The pages and
# crispy-forms' field templates stay in the Django template language.
FORM_RENDERER = "config.widget_renderer.WidgetRenderer"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # Several processes (web, worker, beat) share the demo's SQLite file: wait instead of failing. A transaction
    # takes the write lock when it begins (IMMEDIATE): a deferred one that meets another writer at its first write
    # fails at once with "database is locked", whatever the timeout (1 to 4 failed saves per run of 20 nurses,
    # bench/load.py). WAL lets pages read while the worker writes derived rows.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        timeout=20, transaction_mode="IMMEDIATE", init_command="PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL"
    )
else:
    # One connection per worker process kept for a minute (checked before reuse), not one per request: about
    # 12 ms of a 37 ms page (bench/load.py). DATABASE_URL's ?conn_max_age= overrides it.
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # No JIT compilation of queries: it pays off for long analytical scans, not for a page's queries. The patient
    # list of a 20,000-patient site (bench/forms.py) spent 713 of its 776 ms compiling its plan, as its estimated
    # cost (a subquery per patient) crossed jit_above_cost; the same query runs in 62 ms without.
    options = DATABASES["default"].setdefault("OPTIONS", {})
    options["options"] = f"{options.get('options', '')} -c jit=off".strip()
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first, as django-axes requires
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = 1  # hours
# Lock the username from the address that failed: a shared ward PC behind one NAT address does not lock out
# every nurse, and rotating user agents does not bypass it.
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
# The login wizard posts the password as "auth-password": masked in the failed attempts axes stores, like
# "password" (the re-authentication forms' field), with axes' own defaults.
AXES_SENSITIVE_PARAMETERS = ["username", "ip_address", "auth-password"]

# Two-factor authentication (TOTP app, single-use backup tokens). The login page is django-two-factor-auth's
# (password, then the code when the user has a device); axes counts the password step, django-otp throttles
# wrong codes (the delay doubles after each one). When required, a logged-in user without a verified device
# reaches only the setup, login and logout pages. Off in the demo, so its logins need no phone.
ECRF_REQUIRE_2FA = env.bool("ECRF_REQUIRE_2FA", default=not ECRF_DEMO)
# The account's name in the authenticator app: "Study eCRF: nurse" (also django-otp's own setting).
OTP_TOTP_ISSUER = env.str("ECRF_OTP_ISSUER", default="Study eCRF")
# No "remember this browser" cookie: ward PCs are shared, every login asks for the code.
TWO_FACTOR_REMEMBER_COOKIE_AGE = None

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = 8 * 60 * 60  # one working shift
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads the token from the page, not the cookie
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if not DEBUG and env.bool("ECRF_HTTPS", default=True) and not ECRF_DEMO:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# English and Italian (docs/architecture.md, "Languages"): one catalogue, locale/it/LC_MESSAGES/django.po.
LANGUAGE_CODE = "en-gb"
LANGUAGES = [("en-gb", "English"), ("it", "Italiano")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Rome")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG and not env.bool("ECRF_PLAIN_STATIC", default=False)
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = VAR_DIR / "media"
# Locked releases: written once, never rewritten (clinical definitions §5).
RELEASES_ROOT = Path(env.str("RELEASES_ROOT", default=str(VAR_DIR / "releases")))
# CSV imports (ecrf/import_jobs.py): the uploaded files wait here for the worker, which reports its progress here.
# Shared by the web processes and the workers, as RELEASES_ROOT is.
IMPORTS_ROOT = Path(env.str("IMPORTS_ROOT", default=str(VAR_DIR / "imports")))

# The cache: per process by default; CACHE_URL (e.g. redis://127.0.0.1:6379/1) shares it between the web
# processes, which the API's throttling needs in production (its counts live here).
CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://")}

# The REST API (docs/api.md): personal bearer tokens, the role sets of cohorts/roles.py, problem details.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.BearerTokenAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.permissions.HasRole"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttling.TokenRateThrottle"],
    "DEFAULT_PAGINATION_CLASS": "api.pagination.Pagination",
    "PAGE_SIZE": 100,
    "EXCEPTION_HANDLER": "api.problems.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "COERCE_DECIMAL_TO_STRING": False,
    "SCHEMA_COERCE_PATH_PK": False,  # the schema's path parameters keep their names (pk), as the views declare them
}
# Requests per token (DRF's rate syntax: "<n>/<second|minute|hour|day>").
API_THROTTLE_RATE = env.str("API_THROTTLE_RATE", default="3600/hour")
SPECTACULAR_SETTINGS = {
    "TITLE": "Study eCRF API",
    "DESCRIPTION": "Read study metadata, patients, screenings and releases; enter daily case report forms through "
    "the same checks as the pages; raise, answer and close queries. Authenticate with a personal API token: "
    "Authorization: Bearer <token>.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    # Two models have a choice field "status" (patients, queries): each its own enum name in the schema.
    "ENUM_NAME_OVERRIDES": {
        "PatientStatusEnum": "cohorts.models.PatientStatus",
        "QueryStatusEnum": "cleaning.models.QueryStatus",
    },
}

# The FHIR pull (fhir_pull/client.py): seconds per request to a hospital's server, and for a whole pull (under
# gunicorn's 30 s worker timeout, since the day page's button pulls within its request).
FHIR_TIMEOUT_SECONDS = env.float("FHIR_TIMEOUT_SECONDS", default=10.0)
FHIR_PULL_DEADLINE_SECONDS = env.float("FHIR_PULL_DEADLINE_SECONDS", default=25.0)

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# Celery. The embedded default is the filesystem transport (one host only), so the demo needs no broker. Its URL
# names the host, which the transport ignores: without one, kombu warns "No hostname was supplied" at every start.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://localhost/")
CELERY_BROKER_DIRS = {name: VAR_DIR / "celery" / name for name in ("out", "processed", "control")}
if CELERY_BROKER_URL.startswith("filesystem://"):
    for _folder in CELERY_BROKER_DIRS.values():
        _folder.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_BROKER_DIRS["out"]),
        "data_folder_out": str(CELERY_BROKER_DIRS["out"]),
        "processed_folder": str(CELERY_BROKER_DIRS["processed"]),
        "store_processed": False,
        # Broadcast (worker control) messages; the transport's default is a "control" folder in the cwd.
        "control_folder": str(CELERY_BROKER_DIRS["control"]),
        # The worker looks for the next message every 0.1 s, not every second: after the demo's load, a lock or
        # an export queued behind ~50 derivations waits seconds, not a minute.
        "polling_interval": 0.1,
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)
CELERY_TASK_ACKS_LATE = True  # a worker killed mid-run leaves the message to be redelivered
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 30 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 25 * 60
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Installed into the database by the DatabaseScheduler when beat starts (editable in the admin afterwards).
CELERY_BEAT_SCHEDULE = {
    "derive-all-studies-nightly": {
        # Clinical definitions §3: the whole study recomputed nightly; locked studies skipped.
        "task": "ecrf.derive_all_studies",
        "schedule": crontab(hour=2, minute=30),
    },
    "data-quality-rules-nightly": {
        # Issue 15: every hard and soft check, missing forms, data after death, gaps, jumps, re-run over the stored
        # data of every study that is not locked; after the derivation (its derived values are fresh).
        "task": "cleaning.run_rules_all_studies",
        "schedule": crontab(hour=3, minute=0),
    },
    "fhir-pull-previous-day-nightly": {
        # One task per study: yesterday's values of every linked patient, proposed for review (never saved).
        "task": "fhir.pull_all_studies",
        "schedule": crontab(hour=1, minute=30),
    },
    "record-status-new-day-hourly": {
        # The record status dashboard's counts: the patients of every site where a new day began since their last
        # count (days fall due at each site's midnight, in its own time zone), and any never counted.
        "task": "cleaning.status_refresh_due",
        "schedule": crontab(minute=10),
    },
}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="WARNING")},
}
