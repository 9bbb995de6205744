"""Fixtures shared by the whole suite: a study with two sites, one user per role, patients at each site."""

import datetime
import importlib
from contextlib import contextmanager

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.utils import translation

from cohorts import roles
from cohorts.models import Study
from cohorts.on_commit import Batch
from cohorts.team import grant
from tests import factories


@pytest.fixture(scope="session")
def django_db_modify_db_settings(django_db_modify_db_settings_parallel_suffix, tmp_path_factory):
    """On SQLite, a test database in a file of the run's own temporary folder rather than Django's default,
    ``file:memorydb_default?mode=memory&cache=shared``.

    The live server's request threads and the Celery worker's thread each open their own connection to the test
    database. In the in-memory database those connections share one cache, whose locks never wait: a request that
    begins its transaction (``BEGIN IMMEDIATE``) while the worker derives a patient failed at once with "database
    table is locked" (SQLITE_LOCKED), whatever the busy timeout. On a file, SQLite's normal locking applies, with the
    settings' WAL, ``BEGIN IMMEDIATE`` and 20-second timeout: a writer waits for the other, as in `make demo`. The
    folder is the run's own (tmp_path_factory, one per xdist worker), so runs at the same time never share a file.
    PostgreSQL, and a test NAME set in the settings, are left alone."""
    from django.conf import settings

    database = settings.DATABASES["default"]
    if database["ENGINE"] == "django.db.backends.sqlite3" and not database.get("TEST", {}).get("NAME"):
        database.setdefault("TEST", {})["NAME"] = str(tmp_path_factory.mktemp("sqlite") / "test.sqlite3")


@pytest.fixture(autouse=True)
def _no_language_left_active():
    """A page rendered in Italian activates Italian in the test's thread (LocaleMiddleware does not deactivate it
    after the response): every test starts in the default language, whatever ran before it."""
    yield
    translation.deactivate()


@pytest.fixture
def study(db):
    return factories.StudyFactory()


@pytest.fixture
def site_a(study):
    return factories.SiteFactory(code="MI", name="Milan San Raffaele", studies=[study])


@pytest.fixture
def site_b(study):
    return factories.SiteFactory(code="BG", name="Bergamo", studies=[study])


@pytest.fixture
def arms(study):
    return {
        "standard": factories.ArmFactory(study=study, code="standard", name="Standard treatment", order=1),
        "high_dose": factories.ArmFactory(
            study=study,
            code="high_dose",
            name="High-dose anakinra",
            order=3,
            regimen=[{"drug": "anakinra", "dose": 5, "unit": "mg/kg", "route": "iv", "frequency": "bid"}],
        ),
    }


def admin_group() -> Group:
    """The system administrators' group. A transactional test (live server, real worker) flushes the tables,
    and with them the group of the data migration; it is then recreated by that same migration code."""
    if not Group.objects.filter(name=roles.ADMIN_GROUP).exists():
        migration = importlib.import_module("cohorts.migrations.0001_squashed_0013_patient_oxygen_criterion_at")
        migration.install_admin_group(Group, Permission)
    return Group.objects.get(name=roles.ADMIN_GROUP)


def make_user(username: str, role: str | None, sites=()):
    """A user with ``role`` in every study of ``sites``, at those sites (the administrator: the global group)."""
    user = factories.UserFactory(username=username)
    if role == roles.ADMIN:
        user.groups.add(admin_group())
    elif role:
        for study in Study.objects.filter(sites__in=sites).distinct():
            grant(user, study, role, [s for s in sites if s.studies.filter(pk=study.pk).exists()], reason="test")
    return user


@pytest.fixture
def users(site_a, site_b):
    """One user per role at site A (data managers and admins see every site), plus a nurse of site B."""
    made = {role: make_user(role, role, [site_a]) for role in roles.ROLES}
    made["nurse_b"] = make_user("nurse_b", roles.NURSE, [site_b])
    made["norole"] = make_user("norole", None, [site_a])
    return made


@pytest.fixture
def patient_a(study, site_a, arms):
    return factories.PatientFactory(
        study=study,
        site=site_a,
        arm=arms["high_dose"],
        participant_id="MI-0001",
        enrolment_date=datetime.date(2020, 3, 17),
    )


@pytest.fixture
def patient_b(study, site_b, arms):
    return factories.PatientFactory(
        study=study,
        site=site_b,
        arm=arms["standard"],
        participant_id="BG-0001",
        enrolment_date=datetime.date(2020, 3, 18),
    )


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
