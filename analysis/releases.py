"""Locked releases (clinical definitions §5): lock a study into a versioned, frozen set of files; unlock with a reason.

A lock writes, under ``settings.RELEASES_ROOT/<study>/v<N>/``:

- ``data/``: the arms, the patients, one long table per source form and the derived patient-day table;
- ``results/``: the per-patient outcomes and every per-arm table of clinical definitions §4 (KM summary, log-rank, Cox,
baseline,
  ordinal status on days 0/7/21, trajectories, adverse events), and ``display.json`` (the tables as published);
- ``figures/``: Kaplan-Meier and trajectory plots (PNG and SVG);
- ``codebook.parquet``, ``study_settings.parquet``, ``README.md`` and ``manifest.json`` (SHA-256 of every file).

Tables are Parquet: typed, so every export format (analysis/exports.py) is built from the frozen files alone and
never from live data. Each file is created once (``open(..., "xb")``) and made read-only; the folder is written
under a temporary name and renamed into place as the last step of the lock's transaction, so a release row never
exists without its complete folder. Unlock keeps every file: the next lock is version N+1.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import platform
import shutil
import stat
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from analysis import archive, checklist, codebook, datasets, plots
from analysis.models import Release
from cohorts.languages import STORED_LANGUAGE
from cohorts.models import Study
from cohorts.services import study_set_locked
from ecrf import derivations

MANIFEST = "manifest.json"
MANIFEST_FORMAT = "ecrf-release/1"
DATA_TABLES = (
    "arms",
    "patients",
    *datasets.SOURCE_FORMS,
    "derived_days",
    "patient_courses",
    "fhir_provenance",
    "queries",
    "signatures",
    "source_verifications",
    "freezes",
)
RESULT_TABLES = (
    "outcomes",
    "km_summary",
    "logrank",
    "cox",
    "baseline_table",
    "ordinal_table",
    "trajectories",
    "adverse_event_table",
    "case_series_table",
)
# The figures' titles in English, as the release draws them; a live figure and a caption on a page are in the
# reader's language (figure_bytes and analysis/views.py translate them).
FIGURES = {
    "km_os": ("os", gettext_noop("Survival")),
    "km_mvfs": ("mvfs", gettext_noop("Mechanical-ventilation-free survival")),
    "trajectory_crp_mg_l": ("crp_mg_l", gettext_noop("CRP (mg/L)")),
    "trajectory_pf": ("pf", "PaO2:FiO2 (mmHg)"),
    "swimmer": ("swimmer", gettext_noop("Course of each patient by time to the first anakinra dose")),
}


def table_path(table: str) -> str:
    """Relative path of a frozen table inside a release folder."""
    if table in DATA_TABLES:
        return f"data/{table}.parquet"
    if table in RESULT_TABLES:
        return f"results/{table}.parquet"
    return f"{table}.parquet"  # codebook, study_settings


EXPORT_TABLES = (*DATA_TABLES, *RESULT_TABLES, "study_settings", "codebook")
"""Every table of a release, in the order of exports (file names in the zip, sheets of the workbook)."""


def release_dir(study: Study, version: int) -> Path:
    return Path(settings.RELEASES_ROOT) / study.code / f"v{version}"


def release_folder(release: Release) -> Path:
    return release_dir(release.study, release.version)


# --------------------------------------------------------------------------------------------
# Writing files once
# --------------------------------------------------------------------------------------------


def normalise(frame: pd.DataFrame) -> pd.DataFrame:
    """Plain, stable column types for files: categories and text objects as strings, blank text missing."""
    frame = frame.reset_index(drop=True).copy()
    for name in frame.columns:
        column = frame[name]
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.astype(object).astype("string")
        elif column.dtype == object:
            values = column.dropna()
            if values.map(lambda v: isinstance(v, str)).all():
                column = column.astype("string")
            elif values.map(lambda v: isinstance(v, bool)).all():
                column = column.astype("boolean")
            else:
                column = pd.to_numeric(column).astype("float64")
        if isinstance(column.dtype, pd.StringDtype):
            column = column.replace("", pd.NA)  # an empty text is a missing value: one empty cell for both
        frame[name] = column
    return frame


def parquet_bytes(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(normalise(frame), preserve_index=False), buffer, compression="zstd")
    return buffer.getvalue()


def read_table(folder: Path, table: str) -> pd.DataFrame:
    return pq.read_table(folder / table_path(table)).to_pandas()


def _write_once(folder: Path, relative: str, content: bytes) -> dict[str, Any]:
    path = folder / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "xb") as handle:  # never overwrite: a release file is written exactly once
        handle.write(content)
    os.chmod(path, stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
    return {"path": relative, "sha256": hashlib.sha256(content).hexdigest(), "bytes": len(content)}


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --------------------------------------------------------------------------------------------
# What a release contains
# --------------------------------------------------------------------------------------------


def _display_json(results: datasets.Results) -> bytes:
    return (json.dumps(results.display_payload(), indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode()


def figure_bytes(results: datasets.Results, name: str, fmt: str) -> bytes | None:
    """A figure of the results (PNG or SVG); None when there is nothing to plot."""
    what, title = FIGURES[name]
    title = _(title)
    if name == "swimmer":
        if results.swimmer is None or not len(results.swimmer["courses"]):
            return None
        return plots.swimmer_plot(**results.swimmer, fmt=fmt)
    if name.startswith("km_"):
        data = results.outcomes
        if data[f"{what}_time"].notna().sum() == 0:
            return None
        return plots.plot_km(data, f"{what}_time", f"{what}_event", "arm_label", fmt, title=title)
    summary = results.trajectories.loc[results.trajectories["variable"].eq(what)]
    if summary["n"].sum() == 0:
        return None
    return plots.plot_trajectories(
        summary, "arm_label", fmt, ylabel=title, title=_("%(title)s, median and IQR") % {"title": title}
    )


def _readme_intro(manifest: dict[str, Any]) -> list[str]:
    """What the README of the release folder and the README of each export zip share: the release and the
    conventions of the data."""
    lines = [
        f"# {manifest['study_title']} - release v{manifest['version']}",
        "",
        f"Study `{manifest['study']}`, protocol `{manifest['protocol']}`. Locked by {manifest['locked_by']} at "
        f"{manifest['locked_at']}.",
        "",
        f"Reason: {manifest['reason']}",
        "",
        "## Conventions",
        "- Participants are identified only by their pseudonymised `participant_id`; no name, database id or "
        "calendar date is included. Time is the study day (day 0 = enrolment).",
        "- Missing values are empty cells (NA), never 0. Column names are stable snake_case.",
        "- Why a value is missing, where recorded: a form's table ends with `not_done_reason` (the reason the whole "
        "form was not done that day) and a code column `<field>_mc` per value (`not_done`, `unknown`, "
        "`not_applicable`; `not_done` on every value of a form not done). An empty value with an empty code is truly "
        "missing. SPSS also carries the code in the value as a labelled user-missing value (-97 not done, -98 "
        "unknown, -99 not applicable), Stata as an extended missing value (.a, .b, .c).",
        "- `codebook` describes every column: label, type, unit, allowed range, value labels and derivation; "
        "`study_settings` lists the study settings the derived data and outcomes were computed with.",
        "- SPSS (.sav) and Stata (.dta): coded text variables, the arm and the site included, are integers 1..k "
        "carrying the value labels (codebook column `sav_dta_codes`); true/false variables are 1/0 labelled yes/no. "
        "SPSS measurement levels: ordinal for the ordinal scales, scale for other numbers, nominal for the rest.",
        "- SAS XPORT (.xpt, version 5): dataset and variable names are at most 8 characters (codebook columns "
        "`xpt_dataset`, `xpt_name`); the full name is the variable label. pandas.read_sas reads an exact 0 as "
        "5.4e-79 (a pandas quirk; pyreadstat and SAS read 0).",
        f"- Derived data: algorithm version {manifest['algorithm_version']}.",
    ]
    if manifest["derived_out_of_date"]:
        lines.append(
            f"- Warning: the derived data of {len(manifest['derived_out_of_date'])} participant(s) were older than "
            "their source data at lock time: " + ", ".join(manifest["derived_out_of_date"][:50])
        )
    if "checklist" in manifest:  # releases made before the checklist have none
        lines += ["", "## Checklist at the lock", "| item | count | locked with it because |", "|---|---|---|"]
        lines += [
            f"| {row['label']} | {row['count']} | {row['override_reason'] or ('-' if not row['count'] else '')} |"
            for row in manifest["checklist"]
        ]
    return lines


def _files_table(files: list[dict[str, Any]]) -> list[str]:
    lines = ["| file | rows | SHA-256 |", "|---|---|---|"]
    return lines + [f"| {item['path']} | {item.get('rows', '')} | {item['sha256']} |" for item in files]


def _readme(manifest: dict[str, Any]) -> bytes:
    """The README of the release folder: its frozen files."""
    lines = [*_readme_intro(manifest)]
    if archive.has_archive(manifest):
        lines += [
            "",
            "## The archive",
            "",
            "`archive/` holds what the archival exports (CDISC ODM, PDF casebooks) need and the tables above leave "
            "out: the audit trail of the enrolment records and the source forms (who changed what, when and why), "
            "the people named in it and who signed each signature. It names people: only data managers download it, "
            "and no analysis export carries it.",
        ]
    lines += ["", "## Files", "", *_files_table(manifest["files"])]
    lines += ["", "manifest.json lists the same files with their sizes; README.md itself is not in it.", ""]
    return "\n".join(lines).encode()


def export_readme(
    manifest: dict[str, Any], format_label: str, files: list[dict[str, Any]], notes: list[str] = ()
) -> bytes:
    """The README of an export zip: what its format must tell (``notes``, one paragraph each), then the files of
    that zip (``files``: path, rows of a table, SHA-256), which are not the release folder's."""
    lines = [*_readme_intro(manifest)]
    if notes:
        lines += ["", f"## About this {format_label} export", ""]
        lines += [f"- {note}" for note in notes]
    lines += ["", f"## Files of this {format_label} export", "", *_files_table(files)]
    lines += [
        "",
        "The tables were made from the release's frozen Parquet files (a Parquet export holds them as they are); "
        "manifest.json is the release's own manifest, which lists those frozen files (paths in the release folder) "
        "with their SHA-256. README.md itself is not in the table.",
        "",
    ]
    return "\n".join(lines).encode()


def _software() -> dict[str, str]:
    import lifelines
    import matplotlib

    return {
        "python": platform.python_version(),
        "pandas": pd.__version__,
        "pyarrow": pa.__version__,
        "lifelines": lifelines.__version__,
        "matplotlib": matplotlib.__version__,
    }


@translation.override(STORED_LANGUAGE)
def build_release_files(study: Study, folder: Path, header: dict[str, Any]) -> dict[str, Any]:
    """Freeze the study into ``folder`` (which must not exist) and return the manifest.

    Every file is written in the stored language (English), whoever locks, but for the codebook's labels and value
    labels, which are in the study's language (architecture §13); the manifest names it."""
    folder.mkdir(parents=True)
    frames = datasets.study_frames(study)
    results = datasets.compute_results(
        frames,
        derivations.ards_bands(codebook.derivation_overrides(study)),
        case_series=datasets.case_series_of(study),
    )
    tables = {**{name: frames[name] for name in DATA_TABLES}, **results.long_tables()}
    tables["study_settings"] = codebook.study_settings_frame(study)
    arm_labels = frames["arms"]["arm_label"].dropna().tolist()
    with translation.override(study.language):
        tables["codebook"] = codebook.codebook_frame(study, {k: normalise(v) for k, v in tables.items()}, arm_labels)
    files = []
    for name in EXPORT_TABLES:
        item = _write_once(folder, table_path(name), parquet_bytes(tables[name]))
        files.append({**item, "table": name, "rows": len(tables[name])})
    for name, frame in archive.archive_frames(study).items():
        item = _write_once(folder, archive.table_path(name), parquet_bytes(frame))
        files.append({**archive.manifest_item(item, name), "rows": len(frame)})
    files.append(_write_once(folder, "results/display.json", _display_json(results)))
    for name in FIGURES:
        for fmt in plots.FORMATS:
            content = figure_bytes(results, name, fmt)
            if content is not None:
                files.append(_write_once(folder, f"figures/{name}.{fmt}", content))
    algorithm_versions = sorted(frames["derived_days"]["algorithm_version"].dropna().unique().tolist())
    manifest = {
        **header,
        "format": MANIFEST_FORMAT,
        "algorithm_version": ", ".join(algorithm_versions) or derivations.ALGORITHM_VERSION,
        "derived_out_of_date": checklist.stale_derived(study),
        "patients": len(frames["patients"]),
        "codebook_language": study.language,
        "software": _software(),
        "files": files,
    }
    _write_once(folder, "README.md", _readme(manifest))
    _write_once(folder, MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())
    return manifest


# --------------------------------------------------------------------------------------------
# Services: lock and unlock
# --------------------------------------------------------------------------------------------


def required_reason(reason: str | None, action: str) -> str:
    """The reason, stripped; an empty one is refused with its message next to the field (``action``: "locking" or
    "unlocking")."""
    text = (reason or "").strip()
    if not text:
        if action == "unlocking":
            message = _("Give a reason for unlocking the study.")
        else:
            message = _("Give a reason for locking the study.")
        raise ValidationError({"reason": ValidationError(message, code="reason_required")})
    return text


def _clear_orphan(folder: Path) -> None:
    """A folder left by a lock whose transaction failed after the rename: keep it, but out of the way."""
    if folder.exists():
        folder.rename(folder.with_name(f"{folder.name}.orphan-{uuid.uuid4().hex[:8]}"))


def release_lock(*, study: Study, user, reason: str, overrides: Mapping[str, str] | None = None) -> Release:
    """Lock the study and freeze it as release version N+1; every write path refuses until unlocked.

    The checklist (analysis/checklist.py) is computed inside the lock's transaction, on the data the release
    freezes: an item that is not zero refuses the lock unless ``overrides`` gives a reason for it; the manifest
    records the checklist with the overrides.

    It takes about a minute for a large study: pages queue it as a lock job (services.lock_request) and a Celery
    worker calls it (services.lock_run). Unlock is quick and stays in the request.
    """
    reason = required_reason(reason, "locking")
    overrides = checklist.overrides_given(overrides or {})
    with transaction.atomic():
        # The row lock waits for data entry in flight (the PostgreSQL trigger holds FOR SHARE on the study row
        # until the writer commits) and holds off new writers until the lock commits: the cut is consistent.
        study = Study.objects.select_for_update().get(pk=study.pk)
        if study.is_locked:
            raise ValidationError(_("The study is already locked."), code="already_locked")
        items = checklist.lock_checklist(study)
        if (refused := checklist.refusal(items, overrides)) is not None:
            raise refused
        version = (study.releases.aggregate(v=Max("version"))["v"] or 0) + 1
        locked_at = timezone.now().replace(microsecond=0)
        folder = release_dir(study, version)
        _clear_orphan(folder)
        staging = folder.with_name(f".{folder.name}.staging-{uuid.uuid4().hex[:8]}")
        header = {
            "study": study.code,
            "study_title": study.title,
            "protocol": study.protocol,
            "version": version,
            "locked_at": locked_at.isoformat(),
            "locked_by": user.get_username(),
            "reason": reason,
            "checklist": checklist.manifest_record(items, overrides),
        }
        try:
            manifest = build_release_files(study, staging, header)
            release = Release(
                study=study, version=version, locked_by=user, locked_at=locked_at, reason=reason, manifest=manifest
            )
            release.full_clean()
            release.save()
            study_set_locked(study=study, locked=True, user=user, reason=f"locked for release v{version}: {reason}")
            staging.rename(folder)
        except BaseException:
            if staging.exists():
                _remove(staging)
            raise
    return release


def release_unlock(*, study: Study, user, reason: str) -> Release:
    """Unlock the study (the current release stays as it is); the next lock is a new version."""
    reason = required_reason(reason, "unlocking")
    with transaction.atomic():
        study = Study.objects.select_for_update().get(pk=study.pk)
        if not study.is_locked:
            raise ValidationError(_("The study is not locked."), code="not_locked")
        release = study.releases.select_for_update().order_by("-version").first()
        if release is not None:
            release.unlocked_by = user
            release.unlocked_at = timezone.now()
            release.unlock_reason = reason
            release.full_clean()
            release.save(update_fields=["unlocked_by", "unlocked_at", "unlock_reason"])
        study_set_locked(study=study, locked=False, user=user, reason=f"unlocked: {reason}")
    return release


def _remove(folder: Path) -> None:
    for path in folder.rglob("*"):
        if path.is_file():
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------------------------
# Verification
# --------------------------------------------------------------------------------------------


@dataclass
class Verification:
    ok: bool
    checked: int
    problems: list[str] = field(default_factory=list)


def release_verify(release: Release, files: list[dict[str, Any]] | None = None) -> Verification:
    """Re-hash the release's files (every file of its manifest, or ``files``, the items a reader may see) against
    the manifest, and the manifest on disk against the row."""
    folder = release_folder(release)
    problems = []
    manifest_path = folder / MANIFEST
    if not manifest_path.exists():
        problems.append(_("%(file)s is missing") % {"file": MANIFEST})
    elif json.loads(manifest_path.read_text()) != release.manifest:
        problems.append(_("%(file)s differs from the manifest recorded at lock time") % {"file": MANIFEST})
    files = release.manifest.get("files", []) if files is None else files
    for item in files:
        path = folder / item["path"]
        if not path.is_file():
            problems.append(_("%(file)s is missing") % {"file": item["path"]})
        elif sha256_file(path) != item["sha256"]:
            problems.append(_("%(file)s does not match its SHA-256") % {"file": item["path"]})
    return Verification(ok=not problems, checked=len(files), problems=problems)


def release_file(release: Release, relative: str) -> Path:
    """The path of a file listed in the release's manifest (anything else is refused: no path tricks)."""
    listed = {item["path"] for item in release.manifest.get("files", [])} | {MANIFEST, "README.md"}
    if relative not in listed:
        raise FileNotFoundError(relative)
    return release_folder(release) / relative
