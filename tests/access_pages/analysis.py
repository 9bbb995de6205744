"""Pages of the analysis app in the access table.

Investigators, data managers and statisticians open the analysis page and its figures; only data managers and
statisticians see releases and downloads; only data managers lock and unlock; nurses, monitors and admins: 403.
A release is made here without the lock job (a small frozen folder), so the table stays fast.
"""

import datetime
import json
from pathlib import Path

from django.conf import settings

from analysis.models import ExportJob, LockJob, Release
from cohorts import roles
from tests.access_pages import Page

DOWNLOADERS = roles.RELEASE_DOWNLOADERS


def release_v1(f) -> Release:
    """Release v1 of the study with the files the pages read (display tables, survival tables, one figure)."""
    import pandas as pd

    study = f["study"]
    folder = Path(settings.RELEASES_ROOT) / study.code / "v1"
    files = {
        "results/display.json": json.dumps({}).encode(),
        "figures/km_os.png": b"\x89PNG stand-in",
    }
    for relative, content in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_bytes(content)
    for table, columns in {
        "km_summary": ["endpoint", "arm_label", "n", "events", "survival", "ci_lower", "ci_upper"],
        "logrank": ["endpoint", "comparison", "group_a", "group_b", "test_statistic", "p_value", "note"],
        "cox": ["endpoint", "arm_label", "reference", "hr", "ci_lower", "ci_upper", "p_value", "note"],
    }.items():
        pd.DataFrame(columns=columns).to_parquet(folder / f"results/{table}.parquet")
    manifest = {"files": [{"path": p, "sha256": "", "bytes": 0} for p in files], "patients": 0}
    (folder / "manifest.json").write_text(json.dumps(manifest))
    release, _ = Release.objects.get_or_create(
        study=study,
        version=1,
        defaults={
            "locked_by": f["users"]["data_manager"],
            "locked_at": datetime.datetime(2020, 4, 20, 12, tzinfo=datetime.UTC),
            "reason": "day-21 analysis",
            "manifest": manifest,
        },
    )
    return release


def export_job(f) -> ExportJob:
    release = release_v1(f)
    path = Path(settings.RELEASES_ROOT) / release.study.code / "exports" / "access_table.zip"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"PK\x05\x06" + b"\x00" * 18)
    job, _ = ExportJob.objects.get_or_create(
        release=release,
        format="csv",
        defaults={
            "status": "done",
            "progress": 100,
            "file_path": str(path),
            "requested_by": f["users"]["statistician"],
        },
    )
    return job


def lock_job(f) -> LockJob:
    job, _ = LockJob.objects.get_or_create(
        study=f["study"], defaults={"reason": "day-21 analysis", "requested_by": f["users"]["data_manager"]}
    )
    return job


def study_url(f, suffix: str) -> str:
    return f"/studies/{f['study'].code}/{suffix}"


PAGES: list = [
    Page("analysis page", lambda f: study_url(f, "analysis/"), roles.ANALYSIS_READERS),
    Page(
        "analysis page of release v1",
        lambda f: study_url(f, f"analysis/?version={release_v1(f).version}"),
        roles.ANALYSIS_READERS,
    ),
    Page(
        "figure of release v1",
        lambda f: study_url(f, f"analysis/figures/km_os.png?version={release_v1(f).version}"),
        roles.ANALYSIS_READERS,
    ),
    Page("releases", lambda f: study_url(f, "releases/"), DOWNLOADERS | roles.LOCKERS),
    Page("lock", lambda f: study_url(f, "releases/lock/"), roles.LOCKERS, method="post"),
    Page("unlock", lambda f: study_url(f, "releases/unlock/"), roles.LOCKERS, method="post"),
    Page("lock status", lambda f: f"/locks/{lock_job(f).pk}/", roles.LOCKERS),
    Page("release manifest", lambda f: study_url(f, f"releases/v{release_v1(f).version}/"), DOWNLOADERS),
    Page(
        "release file",
        lambda f: study_url(f, f"releases/v{release_v1(f).version}/files/figures/km_os.png"),
        DOWNLOADERS,
    ),
    Page(
        "export request",
        lambda f: study_url(f, f"releases/v{release_v1(f).version}/export/"),
        DOWNLOADERS,
        method="post",
    ),
    Page("export status", lambda f: f"/exports/{export_job(f).pk}/", DOWNLOADERS),
    Page("export download", lambda f: f"/exports/{export_job(f).pk}/download/", DOWNLOADERS),
]
