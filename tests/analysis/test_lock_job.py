"""The lock as a background job: queued from the releases page, run by a worker, followed on its status page.

What the release contains is tested in test_release.py, through release_lock and through a lock job alike.
"""

import datetime

import pytest
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import IntegrityError, transaction
from django.http import Http404
from django.utils import timezone

from analysis import releases, selectors, services, tasks
from analysis.models import JobStatus, LockJob, Release
from cohorts import roles
from cohorts.models import Study
from tests import factories
from tests.analysis import release_data
from tests.conftest import make_user

REASON = "database lock for the day-21 analysis"
PENDING_MESSAGE = "A lock of this study is already queued or running."


@pytest.fixture
def cohort(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    return release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)


@pytest.fixture
def queued(monkeypatch):
    """The job ids sent to the broker (the test runs them itself, as the worker would)."""
    return release_data.sent_jobs(monkeypatch, "analysis.lock_study")


def request_lock(study, user, reason=REASON) -> LockJob:
    return services.lock_request(study=study, user=user, reason=reason, overrides=release_data.AS_THEY_ARE)


def raising(error: Exception):
    def stand_in(*args, **kwargs):
        raise error

    return stand_in


def html_of(client, user, url, **kwargs) -> str:
    client.force_login(user)
    response = client.get(url, **kwargs)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


# --------------------------------------------------------------------------------------------
# Request
# --------------------------------------------------------------------------------------------


def test_a_lock_request_queues_one_job_and_refuses_a_second_while_pending(
    study, users, cohort, queued, django_capture_on_commit_callbacks
):
    manager = users["data_manager"]
    with django_capture_on_commit_callbacks(execute=True):
        job = request_lock(study, manager)
    assert queued == [job.pk]
    assert (job.status, job.requested_by, job.reason, job.release) == (JobStatus.QUEUED, manager, REASON, None)
    assert not Study.objects.get(pk=study.pk).is_locked  # nothing is locked until the worker runs the job
    for status in (JobStatus.QUEUED, JobStatus.RUNNING):
        LockJob.objects.filter(pk=job.pk).update(status=status)
        with pytest.raises(ValidationError) as error, django_capture_on_commit_callbacks(execute=True):
            request_lock(study, users["data_manager"], reason="a second click")
        assert error.value.messages == [PENDING_MESSAGE]
        assert error.value.error_dict[NON_FIELD_ERRORS][0].code == "lock_pending"
    assert LockJob.objects.count() == 1 and queued == [job.pk]

    LockJob.objects.filter(pk=job.pk).update(status=JobStatus.FAILED)  # a failed lock does not block the next one
    assert request_lock(study, manager, reason="second try").status == JobStatus.QUEUED


def test_the_database_keeps_one_pending_lock_per_study(study, users, cohort, queued, monkeypatch):
    first = request_lock(study, users["data_manager"])
    with pytest.raises(IntegrityError), transaction.atomic():
        LockJob.objects.create(study=study, reason="another", requested_by=users["data_manager"])
    # Two clicks in the same instant both pass full_clean; the second save meets the constraint: same message.
    monkeypatch.setattr(LockJob, "validate_constraints", lambda self, exclude=None: None)
    with pytest.raises(ValidationError) as error:
        request_lock(study, users["data_manager"], reason="double click")
    assert error.value.code == "lock_pending" and error.value.messages == [PENDING_MESSAGE]
    assert list(LockJob.objects.all()) == [first]
    other = factories.StudyFactory(code="new-york", title="New York cohort", protocol="new_york_2020")
    assert request_lock(other, users["data_manager"]).status == JobStatus.QUEUED  # one per study, not one in all


def test_a_lock_request_needs_a_reason_and_an_open_study(study, users, cohort, queued):
    with pytest.raises(ValidationError) as error:
        request_lock(study, users["data_manager"], reason="   ")
    assert error.value.error_dict["reason"][0].code == "reason_required"
    assert error.value.messages == ["Give a reason for locking the study."]
    release_data.lock(study, users["data_manager"])
    with pytest.raises(ValidationError) as error:
        request_lock(study, users["data_manager"])
    assert error.value.code == "already_locked" and error.value.messages == ["The study is already locked."]
    assert not LockJob.objects.exists() and queued == []


def test_the_releases_page_shows_a_pending_lock_instead_of_the_lock_form(
    client, study, users, cohort, queued, django_assert_max_num_queries
):
    job = request_lock(study, users["data_manager"])
    client.force_login(users["data_manager"])
    with django_assert_max_num_queries(8):
        html = client.get(f"/studies/{study.code}/releases/").content.decode()
    assert "Locking requested by data_manager at" in html and REASON in html
    assert f'href="/locks/{job.pk}/"' in html and "Follow the lock" in html
    assert "Lock and release" not in html  # no second lock form while one is pending
    response = client.post(f"/studies/{study.code}/releases/lock/", {"reason": "a stale page's form"})
    assert response.status_code == 200
    html = response.content.decode()
    assert PENDING_MESSAGE in html and "Locking requested by data_manager at" in html
    assert LockJob.objects.count() == 1
    html = html_of(client, users["statistician"], f"/studies/{study.code}/releases/")
    assert "Locking requested by data_manager at" in html and "Follow the lock" not in html

    tasks.lock_study(job.pk)
    html = html_of(client, users["data_manager"], f"/studies/{study.code}/releases/")
    assert "Locking requested" not in html and "Unlock the study" in html and REASON in html


# --------------------------------------------------------------------------------------------
# Run
# --------------------------------------------------------------------------------------------


def test_the_job_locks_as_its_requester_with_its_reason(study, users, cohort, queued):
    manager = users["data_manager"]
    job = request_lock(study, manager)
    assert tasks.lock_study(job.pk) == JobStatus.DONE
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.DONE, "") and job.finished_at is not None
    assert job.release == Release.objects.get(study=study)
    assert (job.release.version, job.release.locked_by, job.release.reason) == (1, manager, REASON)
    assert releases.release_verify(job.release).ok
    study.refresh_from_db()
    assert study.is_locked
    change = study.history.first()
    assert change.history_user == manager and change.history_change_reason == f"locked for release v1: {REASON}"


def test_a_refused_lock_is_recorded_on_the_job_and_the_study_stays_open(
    client, study, users, cohort, queued, monkeypatch, settings
):
    # Raised while the release files are written (the README is the last but one): the half-written folder goes too.
    monkeypatch.setattr(releases, "_readme", raising(ValidationError("No label for crp_mg_l.", code="codebook")))
    job = request_lock(study, users["data_manager"])
    assert tasks.lock_study(job.pk) == JobStatus.FAILED  # a refusal is an answer, not a task error
    job.refresh_from_db()
    assert (job.status, job.error, job.release) == (JobStatus.FAILED, "No label for crp_mg_l.", None)
    assert job.finished_at is not None
    assert not Study.objects.get(pk=study.pk).is_locked and not Release.objects.exists()
    assert list((settings.RELEASES_ROOT / study.code).iterdir()) == []  # the staging folder is gone
    assert request_lock(study, users["data_manager"], reason="again").status == JobStatus.QUEUED


def test_a_study_locked_meanwhile_fails_the_job_with_the_lock_message(study, users, cohort, queued):
    job = request_lock(study, users["data_manager"])
    release_data.lock(study, users["data_manager"], reason="locked by hand")
    tasks.lock_study(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error, job.release) == (JobStatus.FAILED, "The study is already locked.", None)
    assert Release.objects.count() == 1


def test_an_unexpected_error_fails_the_job_and_is_raised_for_celery(study, users, cohort, queued, monkeypatch):
    monkeypatch.setattr(releases, "_readme", raising(OSError("disk full")))
    job = request_lock(study, users["data_manager"])
    with pytest.raises(OSError, match="disk full"):
        tasks.lock_study(job.pk)
    job.refresh_from_db()
    assert (job.status, job.error) == (JobStatus.FAILED, "OSError: disk full")
    assert not Study.objects.get(pk=study.pk).is_locked and not Release.objects.exists()


def test_the_task_is_idempotent(study, users, cohort, queued, monkeypatch):
    job = request_lock(study, users["data_manager"])
    LockJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING)  # a worker lost mid-lock: redelivered
    assert tasks.lock_study(job.pk) == JobStatus.DONE
    job.refresh_from_db()
    finished = job.finished_at

    monkeypatch.setattr(releases, "release_lock", raising(AssertionError("a finished lock job ran again")))
    assert tasks.lock_study(job.pk) == JobStatus.DONE
    job.refresh_from_db()
    assert job.finished_at == finished and Release.objects.count() == 1
    failed = LockJob.objects.create(
        study=study, reason="x", requested_by=users["data_manager"], status=JobStatus.FAILED, error="earlier"
    )
    assert tasks.lock_study(failed.pk) == JobStatus.FAILED
    assert LockJob.objects.get(pk=failed.pk).error == "earlier"
    assert tasks.lock_study.acks_late and tasks.lock_study.soft_time_limit and tasks.lock_study.time_limit


# --------------------------------------------------------------------------------------------
# Status page
# --------------------------------------------------------------------------------------------


def test_the_status_page_polls_while_queued(client, study, users, cohort, queued):
    job = request_lock(study, users["data_manager"])
    html = html_of(client, users["data_manager"], f"/locks/{job.pk}/")
    assert "Queued" in html and 'hx-trigger="every 2s"' in html and "Waiting for the background worker" in html
    assert REASON in html and "Requested by data_manager" in html
    fragment = html_of(client, users["data_manager"], f"/locks/{job.pk}/", headers={"HX-Request": "true"})
    assert "<html" not in fragment and 'id="lock-progress"' in fragment and "Queued" in fragment


def test_the_status_page_links_to_the_release_when_done(
    client, study, users, cohort, queued, django_assert_max_num_queries
):
    job = request_lock(study, users["data_manager"])
    tasks.lock_study(job.pk)
    client.force_login(users["data_manager"])
    with django_assert_max_num_queries(5):
        fragment = client.get(f"/locks/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and "Done" in fragment and "hx-trigger" not in fragment
    assert "Locked: release v1 is frozen" in fragment
    assert f'href="/studies/{study.code}/releases/v1/"' in fragment


def test_the_status_page_shows_a_failed_lock_and_the_way_back(client, study, users, cohort, queued, monkeypatch):
    monkeypatch.setattr(releases, "_readme", raising(OSError("disk full")))
    job = request_lock(study, users["data_manager"])
    with pytest.raises(OSError):
        tasks.lock_study(job.pk)
    html = html_of(client, users["data_manager"], f"/locks/{job.pk}/")
    assert "Failed" in html and "The lock failed: OSError: disk full" in html and "hx-trigger" not in html
    assert f'href="/studies/{study.code}/releases/"' in html and "Back to the releases" in html


def test_only_lockers_who_see_the_study_see_its_lock(client, study, users, cohort, queued, monkeypatch):
    job = request_lock(study, users["data_manager"])
    for username in ("statistician", "investigator", "nurse"):  # roles that may not lock (the access table)
        client.force_login(users[username])
        assert client.get(f"/locks/{job.pk}/").status_code == 403
        with pytest.raises(Http404):
            selectors.lock_job_get(user=users[username], pk=job.pk)
    client.force_login(users["data_manager"])
    assert client.get(f"/locks/{job.pk + 1}/").status_code == 404
    # Were a site-bound role allowed to lock, a user of another study's site would not find this study's lock.
    monkeypatch.setattr(roles, "LOCKERS", roles.LOCKERS | {roles.INVESTIGATOR})
    other = factories.StudyFactory(code="new-york", title="New York cohort", protocol="new_york_2020")
    new_york = make_user("ny_investigator", roles.INVESTIGATOR, [factories.SiteFactory(code="NY", studies=[other])])
    with pytest.raises(Http404):
        selectors.lock_job_get(user=new_york, pk=job.pk)
    assert selectors.lock_job_get(user=users["investigator"], pk=job.pk) == job


# --------------------------------------------------------------------------------------------
# Cancelling a lock that no worker has started
# --------------------------------------------------------------------------------------------


def test_a_queued_lock_can_be_cancelled_and_the_study_locked_again(client, study, users, cohort, queued):
    manager = users["data_manager"]
    job = request_lock(study, manager)
    html = html_of(client, manager, f"/locks/{job.pk}/")
    assert 'data-testid="lock-cancel"' in html and f'action="/locks/{job.pk}/cancel/"' in html
    response = client.post(f"/locks/{job.pk}/cancel/", follow=True)
    assert response.redirect_chain == [(f"/locks/{job.pk}/", 302)]
    page = response.content.decode()
    assert "The lock was cancelled; the study stays open" in page and 'data-testid="lock-status">Cancelled<' in page
    assert "Cancelled by data_manager before a worker started it." in page and "The lock failed" not in page
    assert 'data-testid="lock-cancel"' not in page
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.error.startswith("Cancelled by data_manager")
    assert tasks.lock_study(job.pk) == JobStatus.CANCELLED  # its message, delivered late, locks nothing
    assert not Study.objects.get(pk=study.pk).is_locked and not Release.objects.exists()
    assert request_lock(study, manager, reason="again").status == JobStatus.QUEUED


def test_a_running_or_finished_lock_cannot_be_cancelled(client, study, users, cohort, queued):
    manager = users["data_manager"]
    job = request_lock(study, manager)
    LockJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    client.force_login(manager)
    assert 'data-testid="lock-cancel"' not in client.get(f"/locks/{job.pk}/").content.decode()
    page = client.post(f"/locks/{job.pk}/cancel/", follow=True).content.decode()
    assert "This lock is running: it ends by itself (done, or failed with its reason) within 30 minutes." in page
    assert LockJob.objects.get(pk=job.pk).status == JobStatus.RUNNING
    tasks.lock_study(job.pk)
    with pytest.raises(ValidationError) as error:
        services.lock_cancel(job=job, user=manager)
    assert error.value.code == "not_cancellable" and error.value.messages == [
        "This lock is done: there is nothing to cancel."
    ]
    assert Study.objects.get(pk=study.pk).is_locked


def test_a_lock_running_longer_than_its_time_limit_lost_its_worker_and_can_be_cancelled(
    client, study, users, cohort, queued
):
    """The worker was killed at the time limit and the broker lost its message: nothing will end the job."""
    manager = users["data_manager"]
    job = request_lock(study, manager)
    started = timezone.now() - services.LOCK_TIME_LIMIT - datetime.timedelta(minutes=1)
    LockJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=started)
    html = html_of(client, manager, f"/locks/{job.pk}/")
    assert 'data-testid="lock-cancel"' in html and "its worker was lost" in html
    client.post(f"/locks/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == JobStatus.CANCELLED and job.error == "Cancelled by data_manager after its worker was lost."
    assert request_lock(study, manager, reason="again").status == JobStatus.QUEUED
    assert tasks.lock_study.time_limit == services.LOCK_TIME_LIMIT.total_seconds()


REMOVE_OFFER = '<div id="lock-cancel" hx-swap-oob="true"></div>'


def test_the_cancel_offer_goes_away_once_the_lock_cannot_be_cancelled(client, study, users, cohort, queued):
    """The page polls its progress every 2 s: once the lock runs or has ended, the poll also removes the offer to
    cancel it (an out-of-band swap of its wrapper); while the lock is still queued the poll leaves the offer, and the
    button under the user's cursor, as they are."""
    manager = users["data_manager"]
    job = request_lock(study, manager)
    page = html_of(client, manager, f"/locks/{job.pk}/")
    assert '<div id="lock-cancel">' in page and 'data-testid="lock-cancel"' in page  # the wrapper the poll targets
    poll = {"headers": {"HX-Request": "true"}}
    fragment = html_of(client, manager, f"/locks/{job.pk}/", **poll)
    assert "hx-swap-oob" not in fragment and "Queued" in fragment
    LockJob.objects.filter(pk=job.pk).update(status=JobStatus.RUNNING, started_at=timezone.now())
    assert REMOVE_OFFER in html_of(client, manager, f"/locks/{job.pk}/", **poll)  # a worker has it now
    tasks.lock_study(job.pk)
    fragment = html_of(client, manager, f"/locks/{job.pk}/", **poll)
    assert "Locked: release v1 is frozen" in fragment and REMOVE_OFFER in fragment
    assert 'data-testid="lock-cancel"' not in fragment and "Still queued after a few minutes?" not in fragment


def test_the_worker_records_when_it_started_the_lock(study, users, cohort, queued):
    job = request_lock(study, users["data_manager"])
    assert job.started_at is None
    before = timezone.now()
    tasks.lock_study(job.pk)
    job.refresh_from_db()
    assert before <= job.started_at <= job.finished_at


def test_only_lockers_cancel_and_only_by_post(client, study, users, cohort, queued):
    job = request_lock(study, users["data_manager"])
    for username in ("statistician", "investigator", "nurse"):
        client.force_login(users[username])
        assert client.post(f"/locks/{job.pk}/cancel/").status_code == 403
    client.force_login(users["data_manager"])
    assert client.get(f"/locks/{job.pk}/cancel/").status_code == 405
    assert client.post(f"/locks/{job.pk + 1}/cancel/").status_code == 404
    assert LockJob.objects.get(pk=job.pk).status == JobStatus.QUEUED


def test_the_admin_lists_lock_jobs_and_releases_read_only(client, study, users, cohort, queued):
    admin_user = users["admin"]
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    stuck = request_lock(study, users["data_manager"])
    client.force_login(admin_user)
    listing = client.get("/admin/analysis/lockjob/?status__exact=queued")
    assert listing.status_code == 200
    assert f"/admin/analysis/lockjob/{stuck.pk}/change/" in listing.content.decode()
    page = client.get(f"/admin/analysis/lockjob/{stuck.pk}/change/")
    assert page.status_code == 200 and REASON in page.content.decode()
    assert client.get("/admin/analysis/lockjob/add/").status_code == 403
    assert client.post(f"/admin/analysis/lockjob/{stuck.pk}/delete/", {"post": "yes"}).status_code == 403
    tasks.lock_study(stuck.pk)
    release = Release.objects.get()
    assert client.get("/admin/analysis/release/").status_code == 200
    assert client.post(f"/admin/analysis/release/{release.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/analysis/exportjob/").status_code == 200
    assert LockJob.objects.filter(pk=stuck.pk, status=JobStatus.DONE).exists() and Release.objects.count() == 1
