"""Reads of the analysis pages: releases of a study, their frozen files, live results, lock and export jobs.

Statisticians see locked releases only; investigators see live data of their own sites (marked "not locked") and
the releases; data managers see everything. A study or job the user may not see is a 404.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd
from django.core.cache import cache
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext

from analysis import archive as archive_tables
from analysis import codebook, datasets, releases
from analysis.models import ARCHIVAL_FORMATS, ExportFormat, ExportJob, LockJob, Release
from cohorts import roles
from cohorts import selectors as cohort_selectors
from cohorts.jobs import PENDING
from cohorts.models import Study
from ecrf import derivations

LIVE_CACHE_SECONDS = 60


def can_see_live(user, study: Study) -> bool:
    return roles.has_study_role(user, study, roles.ANALYSIS_READERS - {roles.STATISTICIAN})


def can_download(user, study: Study) -> bool:
    return roles.has_study_role(user, study, roles.RELEASE_DOWNLOADERS)


def can_download_archive(user, study: Study) -> bool:
    """The archive of a release and its archival exports (analysis/archive.py): data managers only."""
    return roles.has_study_role(user, study, roles.ARCHIVE_DOWNLOADERS)


def export_formats(*, user, study: Study) -> list[tuple[str, str]]:
    """The export formats the user may request: the archival ones only with the archive."""
    archive = can_download_archive(user, study)
    return [(value, label) for value, label in ExportFormat.choices if archive or value not in ARCHIVAL_FORMATS]


def release_files(*, user, release: Release) -> list[dict[str, Any]]:
    """The manifest's files the user may download: the archive's only with the archive."""
    archive = can_download_archive(user, release.study)
    return [item for item in release.manifest.get("files", []) if archive or not archive_tables.is_archive_item(item)]


def release_file_get(*, user, release: Release, path: str):
    """The path of one file of the release the user may download (releases.release_file: a file of the manifest;
    an archive file only with the archive; anything else: 404)."""
    archived = {item["path"] for item in release.manifest.get("files", []) if archive_tables.is_archive_item(item)}
    if path in archived and not can_download_archive(user, release.study):
        raise Http404("No such file in this release.")
    try:
        return releases.release_file(release, path)
    except FileNotFoundError:
        raise Http404("No such file in this release.") from None


def release_list(*, study: Study) -> QuerySet[Release]:
    return study.releases.select_related("locked_by", "unlocked_by").order_by("-version")


def release_get(*, study: Study, version) -> Release:
    try:
        return release_list(study=study).get(version=int(version))
    except (Release.DoesNotExist, ValueError, TypeError):
        raise Http404("No such release.") from None


def pending_lock(*, study: Study) -> LockJob | None:
    """The lock of the study that is queued or running, if any (there is at most one)."""
    return study.lock_jobs.filter(status__in=PENDING).select_related("requested_by").first()


def lock_job_get(*, user, pk) -> LockJob:
    """A lock job of a study where the user may lock (anyone else: 404, as for exports)."""
    try:
        return LockJob.objects.select_related("study", "requested_by", "release").get(
            roles.scope(user, roles.LOCKERS, site=None), pk=pk
        )
    except (LockJob.DoesNotExist, ValueError, TypeError):
        raise Http404("No such lock.") from None


def export_job_list(*, user, release: Release) -> QuerySet[ExportJob]:
    jobs = release.exports.select_related("requested_by").order_by("-created_at")
    return jobs if can_download_archive(user, release.study) else jobs.exclude(format__in=ARCHIVAL_FORMATS)


def export_job_get(*, user, pk) -> ExportJob:
    """An export job of a study where the user downloads releases (anyone else: 404); an archival one only for
    those who download the archive."""
    try:
        job = ExportJob.objects.select_related("release__study", "requested_by").get(
            roles.scope(user, roles.RELEASE_DOWNLOADERS, study="release__study", site=None), pk=pk
        )
    except (ExportJob.DoesNotExist, ValueError, TypeError):
        raise Http404("No such export.") from None
    if job.format in ARCHIVAL_FORMATS and not can_download_archive(user, job.release.study):
        raise Http404("No such export.")
    return job


# --------------------------------------------------------------------------------------------
# What the analysis page shows
# --------------------------------------------------------------------------------------------


@dataclass
class Analysis:
    """The tables of one data set (a release, or live data) in the form the page shows them."""

    live: bool
    release: Release | None
    display: dict[str, dict[str, Any]]
    km_summary: pd.DataFrame
    logrank: pd.DataFrame
    cox: pd.DataFrame
    computed_at: Any = None
    sites: list[str] | None = None

    @property
    def patients(self) -> int:
        rows = self.km_summary.loc[self.km_summary["endpoint"].eq("os")]
        return int(rows["n"].sum()) if len(rows) else 0


def release_analysis(*, release: Release) -> Analysis:
    folder = releases.release_folder(release)
    return Analysis(
        live=False,
        release=release,
        display=json.loads((folder / "results/display.json").read_text()),
        km_summary=releases.read_table(folder, "km_summary"),
        logrank=releases.read_table(folder, "logrank"),
        cox=releases.read_table(folder, "cox"),
    )


def _live_sites(user, study: Study):
    """None when the user reads live data at every site of the study, else their sites."""
    if roles.sites_held(user, study, roles.ANALYSIS_READERS) is None:
        return None
    return cohort_selectors.study_site_list(user=user, study=study, allowed=roles.ANALYSIS_READERS)


def _live_key(user, study: Study) -> tuple[str, list | None, list[str] | None]:
    """The cache key of the live results at the user's sites, the sites (None: every site) and their codes."""
    sites = _live_sites(user, study)
    codes = None if sites is None else [s.code for s in sites]
    return f"analysis-live:{study.pk}:{','.join(codes) if codes is not None else '*'}", sites, codes


def _compute_live(key: str, study: Study, sites) -> tuple[datasets.Results, Any, dict[str, Any]]:
    """One run of the live results, kept LIVE_CACHE_SECONDS in two parts: the whole results for the figures, and
    what the page shows (small: its display tables and the survival tables), so that a page read while they are
    kept does not unpickle per-patient frames, whose size follows the study's."""
    frames = datasets.study_frames(study, sites)
    bands = derivations.ards_bands(codebook.derivation_overrides(study))
    results = datasets.compute_results(frames, bands, case_series=datasets.case_series_of(study))
    computed_at = timezone.now()
    shown = {
        "display": results.display_payload(),
        "km_summary": results.km_summary,
        "logrank": results.logrank,
        "cox": results.cox,
    }
    cache.set_many({f"{key}:results": (results, computed_at), f"{key}:page": (shown, computed_at)}, LIVE_CACHE_SECONDS)
    return results, computed_at, shown


def live_results(*, user, study: Study) -> tuple[datasets.Results, Any, list[str] | None]:
    """Results of the live data at the user's sites, cached briefly: the page and its figures share one run."""
    key, sites, codes = _live_key(user, study)
    cached = cache.get(f"{key}:results")
    if cached is None:
        cached = _compute_live(key, study, sites)[:2]
    return cached[0], cached[1], codes


def live_analysis(*, user, study: Study) -> Analysis:
    key, sites, codes = _live_key(user, study)
    cached = cache.get(f"{key}:page")
    if cached is None:
        _results, computed_at, shown = _compute_live(key, study, sites)
    else:
        shown, computed_at = cached
    return Analysis(live=True, release=None, computed_at=computed_at, sites=codes, **shown)


def live_figure(*, user, study: Study, name: str, fmt: str) -> bytes | None:
    results, _, _ = live_results(user=user, study=study)
    return releases.figure_bytes(results, name, fmt)


def release_figure(*, release: Release, name: str, fmt: str) -> bytes | None:
    try:
        return releases.release_file(release, f"figures/{name}.{fmt}").read_bytes()
    except FileNotFoundError:
        return None


# --------------------------------------------------------------------------------------------
# Survival results as rows a page can print
# --------------------------------------------------------------------------------------------


def _pct(value) -> str:
    return "" if pd.isna(value) else f"{100 * float(value):.0f}%"


def _num(value, digits: int = 2) -> str:
    """The number rounded to ``digits`` decimals, with the decimal separator of the active language."""
    return "" if pd.isna(value) else number_format(Decimal(f"{float(value):.{digits}f}"))


def _p(value) -> str:
    if pd.isna(value):
        return ""
    return f"< {_num(0.001, 3)}" if float(value) < 0.001 else _num(value, 3)


def survival_sections(analysis: Analysis) -> list[dict[str, Any]]:
    """Per endpoint: KM rows (survival at day 21 with 95% CI, at risk), log-rank tests and Cox hazard ratios."""
    sections = []
    for endpoint, label in datasets.ENDPOINTS.items():
        km = analysis.km_summary.loc[analysis.km_summary["endpoint"].eq(endpoint)]
        at_risk = [c for c in km.columns if c.startswith("at_risk_d")]
        tests = analysis.logrank.loc[analysis.logrank["endpoint"].eq(endpoint)]
        cox = analysis.cox.loc[analysis.cox["endpoint"].eq(endpoint)]
        sections.append(
            {
                "endpoint": endpoint,
                "label": label,
                "risk_days": [c.removeprefix("at_risk_d") for c in at_risk],
                "rows": [
                    {
                        "arm": row["arm_label"],
                        "n": row["n"],
                        "events": row["events"],
                        "survival": _pct(row["survival"]),
                        "ci": "" if pd.isna(row["ci_lower"]) else f"{_pct(row['ci_lower'])}-{_pct(row['ci_upper'])}",
                        "at_risk": [row[c] for c in at_risk],
                    }
                    for _, row in km.iterrows()
                ],
                "tests": [
                    {
                        "what": gettext("all arms")
                        if row["comparison"] == "overall"
                        else gettext("%(arm)s vs %(reference)s") % {"arm": row["group_a"], "reference": row["group_b"]},
                        "statistic": _num(row["test_statistic"]),
                        "p": _p(row["p_value"]),
                        "note": "" if pd.isna(row["note"]) else row["note"],
                    }
                    for _, row in tests.iterrows()
                ],
                "cox": [
                    {
                        "arm": row["arm_label"],
                        "reference": row["reference"],
                        "hr": _num(row["hr"]),
                        "ci": f"{_num(row['ci_lower'])}-{_num(row['ci_upper'])}" if not pd.isna(row["hr"]) else "",
                        "p": _p(row["p_value"]),
                        "note": "" if pd.isna(row["note"]) else row["note"],
                    }
                    for _, row in cox.iterrows()
                ],
            }
        )
    return sections
