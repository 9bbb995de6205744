"""The analysis, releases and export pages as their users meet them."""

import pytest

from analysis import checklist, exports, releases, tasks
from analysis.models import ExportJob, LockJob, Release
from cohorts.models import Study
from tests.analysis import release_data


@pytest.fixture
def cohort(study, site_a, site_b, arms, patient_a, patient_b, users, settings, tmp_path, monkeypatch):
    release_data.use_release_root(settings, tmp_path)
    release_data.quick_figures(monkeypatch)
    return release_data.populate(study, site_a, site_b, arms, patient_a, patient_b)


def page(client, user, url, **kwargs):
    client.force_login(user)
    response = client.get(url, **kwargs)
    assert response.status_code == 200, response.content[:500]
    return response.content.decode()


def test_investigator_sees_live_data_of_own_sites_marked_not_locked(client, study, users, cohort):
    html = page(client, users["investigator"], f"/studies/{study.code}/analysis/")
    assert "NOT LOCKED" in html and "your site MI" in html
    assert "(n=1)" in html  # one patient per arm at site MI; site BG's patients are not counted
    assert "Clinical status on day 21" in html and "Adverse events" in html


def test_live_status_tables_split_cpap_by_the_study_s_own_ards_bands(client, study, users, cohort):
    study.settings = {"derivation": {"ards_severe_pf_below": 130.0, "ards_moderate_pf_max": 150.0}}
    study.save()
    html = page(client, users["investigator"], f"/studies/{study.code}/analysis/")
    assert "P/F 130-150" in html and "P/F &gt; 150" in html  # everyone on CPAP with P/F 140
    assert "P/F 100-200" not in html


def test_the_live_page_and_its_figures_share_one_run_and_the_page_reads_only_what_it_shows(
    client, study, users, cohort, monkeypatch
):
    """The live results are computed once for the page and its figures (kept a minute); a page read while they are
    kept reads the small part it shows, not the whole results with their per-patient frames."""
    from django.core.cache import cache

    from analysis import datasets

    runs, read = [], []
    compute = datasets.compute_results
    monkeypatch.setattr(datasets, "compute_results", lambda *a, **k: runs.append(1) or compute(*a, **k))
    get = cache.get
    monkeypatch.setattr(cache, "get", lambda key, *a, **k: read.append(key) or get(key, *a, **k))
    first = page(client, users["investigator"], f"/studies/{study.code}/analysis/")
    assert client.get(f"/studies/{study.code}/analysis/figures/km_os.png").status_code == 200
    read.clear()
    again = page(client, users["investigator"], f"/studies/{study.code}/analysis/")
    assert again.split("</nav>", 1)[1] == first.split("</nav>", 1)[1]  # the same tables (the CSRF token differs)
    assert len(runs) == 1
    live = [key for key in read if key.startswith("analysis-live:")]
    assert live and all(key.endswith(":page") for key in live)


def test_statistician_sees_locked_releases_only(client, study, users, cohort):
    html = page(client, users["statistician"], f"/studies/{study.code}/analysis/")
    assert "No locked release" in html and "NOT LOCKED" not in html
    html = page(client, users["statistician"], f"/studies/{study.code}/analysis/?data=live")
    assert "NOT LOCKED" not in html
    client.force_login(users["statistician"])
    assert client.get(f"/studies/{study.code}/analysis/figures/km_os.png").status_code == 403
    release_data.lock(study, users["data_manager"])
    html = page(client, users["statistician"], f"/studies/{study.code}/analysis/")
    assert "Locked release v1" in html and "database lock for the day-21 analysis" in html
    assert "(n=2)" in html  # every site in the release


def test_data_manager_locks_with_a_reason_shown_next_to_the_field(
    client, study, users, cohort, django_capture_on_commit_callbacks, monkeypatch
):
    queued = release_data.sent_jobs(monkeypatch, "analysis.lock_study")
    client.force_login(users["data_manager"])
    response = client.post(f"/studies/{study.code}/releases/lock/", {"reason": "  "})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Give a reason for locking the study." in html and "is-invalid" in html
    assert not Study.objects.get(pk=study.pk).is_locked and not LockJob.objects.exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            f"/studies/{study.code}/releases/lock/",
            {"reason": "day-21 lock", **{f"override_{key}": "as they are" for key in checklist.KEYS}},
        )
    job = LockJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/locks/{job.pk}/"  # the lock's status page
    assert queued == [job.pk]
    tasks.lock_study(job.pk)  # what the worker does
    html = page(client, users["data_manager"], response["Location"])
    assert "Locked: release v1 is frozen" in html and f'href="/studies/{study.code}/releases/v1/"' in html
    assert Study.objects.get(pk=study.pk).is_locked
    response = client.post(f"/studies/{study.code}/releases/unlock/", {"reason": ""})
    assert "Give a reason for unlocking the study." in response.content.decode()
    response = client.post(f"/studies/{study.code}/releases/unlock/", {"reason": "query at MI"}, follow=True)
    assert "Unlocked" in response.content.decode()
    response = client.post(f"/studies/{study.code}/releases/unlock/", {"reason": "again"})
    assert "The study is not locked." in response.content.decode()


def test_releases_page_lists_versions_and_is_pinned(client, study, users, cohort, django_assert_max_num_queries):
    release_data.lock(study, users["data_manager"])
    releases.release_unlock(study=study, user=users["data_manager"], reason="late lab results")
    release_data.lock(study, users["data_manager"], reason="relock")
    client.force_login(users["statistician"])
    with django_assert_max_num_queries(8):
        html = client.get(f"/studies/{study.code}/releases/").content.decode()
    assert "v1" in html and "v2" in html and "late lab results" in html and "relock" in html
    assert "Lock the study" not in html and "Unlock the study" not in html  # statisticians do not lock


def test_release_page_verifies_the_manifest_and_serves_its_files(
    client, study, users, cohort, django_assert_max_num_queries
):
    release = release_data.lock(study, users["data_manager"])
    client.force_login(users["statistician"])
    with django_assert_max_num_queries(8):
        html = client.get(f"/studies/{study.code}/releases/v1/").content.decode()
    assert "every SHA-256 matches" in html and release.manifest["files"][0]["sha256"] in html
    response = client.get(f"/studies/{study.code}/releases/v1/files/data/patients.parquet")
    assert (
        b"".join(response.streaming_content)
        == (releases.release_folder(release) / "data/patients.parquet").read_bytes()
    )
    assert client.get(f"/studies/{study.code}/releases/v1/files/../../secret").status_code == 404
    assert client.get(f"/studies/{study.code}/releases/v9/").status_code == 404


def test_the_verified_badge_counts_the_files_the_reader_is_shown(client, study, users, cohort):
    release = release_data.lock(study, users["data_manager"])
    everything = len(release.manifest["files"])
    archived = sum(1 for item in release.manifest["files"] if item["path"].startswith("archive/"))
    assert archived
    statistician = page(client, users["statistician"], f"/studies/{study.code}/releases/v1/")
    assert f"{everything - archived} files verified: every SHA-256 matches" in statistician
    assert "archive/" not in statistician
    manager = page(client, users["data_manager"], f"/studies/{study.code}/releases/v1/")
    assert f"{everything} files verified: every SHA-256 matches" in manager


def test_version_1_stays_downloadable_after_a_relock(client, study, users, cohort):
    first = release_data.lock(study, users["data_manager"])
    before = (releases.release_folder(first) / "data/vital_signs.parquet").read_bytes()
    releases.release_unlock(study=study, user=users["data_manager"], reason="correction")
    release_data.lock(study, users["data_manager"], reason="relock")
    client.force_login(users["statistician"])
    response = client.get(f"/studies/{study.code}/releases/v1/files/data/vital_signs.parquet")
    assert b"".join(response.streaming_content) == before


def test_export_request_runs_in_the_background_and_downloads(
    client, study, users, cohort, django_capture_on_commit_callbacks, monkeypatch, django_assert_max_num_queries
):
    release = release_data.lock(study, users["data_manager"])
    queued = release_data.sent_jobs(monkeypatch, "analysis.export_release")
    statistician = users["statistician"]
    statistician.first_name, statistician.last_name = "Stella", "Statistician"
    statistician.save()
    client.force_login(statistician)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/studies/{study.code}/releases/v1/export/", {"format": "dta"})
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/exports/{job.pk}/"
    assert queued == [job.pk]
    html = page(client, statistician, f"/exports/{job.pk}/")
    assert "Queued" in html and 'hx-trigger="every 1s"' in html
    # The requester by name, as the lock and import pages name theirs (on the release's list of exports too).
    assert "Requested by Stella Statistician on" in html
    assert " · Stella Statistician · " in page(client, statistician, f"/studies/{study.code}/releases/v1/")
    assert client.get(f"/exports/{job.pk}/download/").status_code == 404  # not ready yet

    tasks.export_release(job.pk)  # what the worker does
    with django_assert_max_num_queries(6):
        fragment = client.get(f"/exports/{job.pk}/", headers={"HX-Request": "true"}).content.decode()
    assert "<html" not in fragment and "Done" in fragment and "hx-trigger" not in fragment
    response = client.get(f"/exports/{job.pk}/download/")
    content = b"".join(response.streaming_content)
    assert content == exports.export_bytes(release, "dta")
    job.refresh_from_db()
    assert job.progress == 100 and len(job.sha256) == 64


def test_export_form_refuses_an_unknown_format_next_to_the_field(client, study, users, cohort):
    release_data.lock(study, users["data_manager"])
    client.force_login(users["data_manager"])
    response = client.post(f"/studies/{study.code}/releases/v1/export/", {"format": "docx"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_a_statistician_is_not_offered_the_archival_formats_and_cannot_post_them(client, study, users, cohort):
    release_data.lock(study, users["data_manager"])
    client.force_login(users["statistician"])
    page = client.get(f"/studies/{study.code}/releases/v1/").content.decode()
    assert 'value="sdtm"' in page and 'value="odm"' not in page and 'value="pdf"' not in page
    response = client.post(f"/studies/{study.code}/releases/v1/export/", {"format": "odm"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not ExportJob.objects.exists()


def test_a_failed_export_says_so(client, study, users, cohort, monkeypatch):
    release = release_data.lock(study, users["data_manager"])
    job = ExportJob.objects.create(release=release, format="csv", requested_by=users["statistician"])

    def broken(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(exports, "write_export", broken)
    with pytest.raises(OSError):
        tasks.export_release(job.pk)
    html = page(client, users["statistician"], f"/exports/{job.pk}/")
    assert "The export failed: OSError: disk full" in html


def test_release_analysis_page_and_figures(client, study, users, cohort, django_assert_max_num_queries):
    release_data.lock(study, users["data_manager"])
    client.force_login(users["investigator"])
    with django_assert_max_num_queries(8):
        html = client.get(f"/studies/{study.code}/analysis/?version=1").content.decode()
    assert "Locked release v1" in html
    response = client.get(f"/studies/{study.code}/analysis/figures/km_os.svg?version=1")
    assert response["Content-Type"] == "image/svg+xml" and response.content == b"figure stand-in (svg)"
    assert client.get(f"/studies/{study.code}/analysis/figures/nope.png?version=1").status_code == 404
    assert client.get(f"/studies/{study.code}/analysis/?version=7").status_code == 404
    live = client.get(f"/studies/{study.code}/analysis/figures/km_os.png")
    assert live.status_code == 200 and live["Content-Type"] == "image/png"


def test_home_page_buttons_by_role(client, study, users, cohort):
    assert "Lock and releases" in page(client, users["data_manager"], "/")
    assert "Releases and downloads" in page(client, users["statistician"], "/")
    html = page(client, users["investigator"], "/")
    assert "Analysis" in html and "Releases and downloads" not in html
    assert "Analysis" not in page(client, users["nurse"], "/").split("</nav>")[1]


def test_every_release_row_is_kept(study, users, cohort):
    release_data.lock(study, users["data_manager"])
    assert Release.objects.count() == 1


def test_the_analysis_page_in_italian_translates_the_tables_and_uses_the_decimal_comma(client, study, users, cohort):
    html = page(client, users["data_manager"], f"/studies/{study.code}/analysis/", HTTP_ACCEPT_LANGUAGE="it")
    assert "Stato clinico al giorno 21" in html and "Totale (n=4)" in html
    assert "Decesso" in html and "Batteriemia" in html and "Overall" not in html
    baseline = html.split('data-testid="table-baseline"')[1].split("</table>")[0]
    assert "Età, anni" in baseline and "62,0 (62,0-62,0)" in baseline and "62.0" not in baseline
    english = page(client, users["data_manager"], f"/studies/{study.code}/analysis/", HTTP_ACCEPT_LANGUAGE="en")
    assert "Overall (n=4)" in english and "62.0 (62.0-62.0)" in english
