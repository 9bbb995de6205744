"""Thin views of the analysis app: analysis page, figures, releases (lock job, unlock, files), exports."""

from __future__ import annotations

from pathlib import Path

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from analysis import checklist, plots, releases, selectors, services, tables
from analysis.forms import ExportForm, LockForm, ReasonForm
from analysis.models import JobStatus
from cohorts import roles
from cohorts import selectors as cohort_selectors

CONTENT_TYPES = {"png": "image/png", "svg": "image/svg+xml"}
TABLES = [
    ("ordinal_d0", gettext_lazy("Clinical status on day 0")),
    ("ordinal_d7", gettext_lazy("Clinical status on day 7")),
    ("ordinal_d21", gettext_lazy("Clinical status on day 21")),
    ("baseline", gettext_lazy("Baseline characteristics")),
    ("adverse_events", gettext_lazy("Adverse events")),
    ("case_series", gettext_lazy("Case series by time from the oxygen criterion to the first anakinra dose")),
]


def _display_tables(analysis) -> list[dict]:
    if analysis is None:
        return []
    blocks = []
    for name, title in TABLES:
        table = analysis.display.get(name)
        if table is None:
            continue
        rows = [
            {"index": [tables.shown_label(label) for label in index], "cells": [tables.shown_cell(c) for c in cells]}
            for index, cells in zip(table["index"], table["rows"], strict=True)
        ]
        columns = [tables.shown_label(column) for column in table["columns"]]
        blocks.append({"name": name, "title": title, "table": table, "columns": columns, "rows": rows})
    return blocks


@roles.role_required(roles.ANALYSIS_READERS)
def analysis_page(request, study_code: str):
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    can_live = selectors.can_see_live(request.user, study)
    release_list = list(selectors.release_list(study=study))
    wanted = request.GET.get("version")
    release = None
    if wanted:
        release = next((r for r in release_list if str(r.version) == wanted), None)
        if release is None:
            raise Http404("No such release.")
    elif request.GET.get("data") != "live" or not can_live:
        release = release_list[0] if release_list else None
    if release is not None:
        analysis = selectors.release_analysis(release=release)
    elif can_live:
        analysis = selectors.live_analysis(user=request.user, study=study)
    else:
        analysis = None  # a statistician before the first lock
    return render(
        request,
        "analysis/analysis.html",
        {
            "study": study,
            "analysis": analysis,
            "releases": release_list,
            "can_live": can_live,
            "can_download": selectors.can_download(request.user, study),
            "figures": {
                name: (what, _(title))
                for name, (what, title) in releases.FIGURES.items()
                if name != "swimmer" or (analysis is not None and "case_series" in analysis.display)
            },
            "survival": selectors.survival_sections(analysis) if analysis else [],
            "display_tables": _display_tables(analysis),
        },
    )


@roles.role_required(roles.ANALYSIS_READERS)
def figure(request, study_code: str, name: str, fmt: str):
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    if name not in releases.FIGURES or fmt not in plots.FORMATS:
        raise Http404("No such figure.")
    version = request.GET.get("version")
    if version:
        content = selectors.release_figure(
            release=selectors.release_get(study=study, version=version), name=name, fmt=fmt
        )
    elif selectors.can_see_live(request.user, study):
        content = selectors.live_figure(user=request.user, study=study, name=name, fmt=fmt)
    else:
        raise PermissionDenied("Statisticians see locked releases only.")
    if content is None:
        raise Http404("Nothing to plot yet.")
    response = HttpResponse(content, content_type=CONTENT_TYPES[fmt])
    response["Cache-Control"] = "private, max-age=60" if not version else "private, max-age=86400"
    return response


# --------------------------------------------------------------------------------------------
# Releases: list, lock, unlock, files
# --------------------------------------------------------------------------------------------


def _lock_forms(study, data=None, which: str | None = None, *, checked: bool = False) -> dict:
    """The lock form (with the checklist, computed only for those who lock an unlocked study) and the unlock form."""
    items = checklist.lock_checklist(study) if checked and not study.is_locked else []
    lock_form = LockForm(
        data if which == "lock" else None, action=reverse("release_lock", args=[study.code]), items=items
    )
    unlock_form = ReasonForm(
        data if which == "unlock" else None,
        action=reverse("release_unlock", args=[study.code]),
        button=_("Unlock"),
        danger=True,
    )
    return {"lock_form": lock_form, "unlock_form": unlock_form}


def _releases_page(request, study, status: int = 200, **forms):
    can_lock = roles.has_study_role(request.user, study, roles.LOCKERS)
    pending_lock = selectors.pending_lock(study=study)
    context = {
        "study": study,
        "releases": selectors.release_list(study=study),
        "pending_lock": pending_lock,
        "can_lock": can_lock,
        "can_download": selectors.can_download(request.user, study),
        "export_forms": forms.pop("export_forms", {}),
        # The checklist (a fixed number of queries) only for a data manager who may lock now.
        **(forms or _lock_forms(study, checked=can_lock and pending_lock is None)),
    }
    return render(request, "analysis/releases.html", context, status=status)


@roles.role_required(roles.RELEASE_DOWNLOADERS | roles.LOCKERS)
def releases_page(request, study_code: str):
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    return _releases_page(request, study)


def _reason_action(request, study_code: str, which: str, act):
    """The lock or unlock form: `act(study, form)` answers; a refusal shows the page again with its messages."""
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    forms = _lock_forms(study, request.POST, which, checked=True)
    form = forms[f"{which}_form"]
    if form.is_valid():
        try:
            return act(study, form)
        except ValidationError as error:
            form.add_error(None, error)  # an error dict ({"reason": ...}) lands next to its field
    study.refresh_from_db()
    return _releases_page(request, study, **forms)


@require_POST
@roles.role_required(roles.LOCKERS)
def lock(request, study_code: str):
    def queue(study, form):
        job = services.lock_request(
            study=study, user=request.user, reason=form.cleaned_data["reason"], overrides=form.overrides()
        )
        return redirect("lock_status", job.pk)

    return _reason_action(request, study_code, "lock", queue)


@require_POST
@roles.role_required(roles.LOCKERS)
def unlock(request, study_code: str):
    def unlock_now(study, form):
        releases.release_unlock(study=study, user=request.user, reason=form.cleaned_data["reason"])
        messages.success(request, _("Unlocked: data can be changed again; the next lock is a new version."))
        return redirect("releases", study.code)

    return _reason_action(request, study_code, "unlock", unlock_now)


@require_POST
@roles.role_required(roles.LOCKERS)
def lock_cancel(request, pk: int):
    job = selectors.lock_job_get(user=request.user, pk=pk)
    try:
        services.lock_cancel(job=job, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        messages.success(request, _("The lock was cancelled; the study stays open and can be locked again."))
    return redirect("lock_status", job.pk)


@roles.role_required(roles.LOCKERS)
def lock_status(request, pk: int):
    job = selectors.lock_job_get(user=request.user, pk=pk)
    context = {"job": job, "study": job.study, "can_cancel": services.lock_cancellable(job)}
    if request.htmx:  # the poll every 2 s: the progress, and the removal of the cancel offer once it is void
        return render(request, "analysis/_lock_progress.html", {**context, "poll": True})
    return render(request, "analysis/lock_status.html", context)


def _release_page(request, study, release, export_form: ExportForm):
    """The release page: the files the user may download, verified against the manifest, its export jobs and the
    export form."""
    files = selectors.release_files(user=request.user, release=release)
    return render(
        request,
        "analysis/release_detail.html",
        {
            "study": study,
            "release": release,
            "verification": releases.release_verify(release, files),
            "jobs": selectors.export_job_list(user=request.user, release=release),
            "files": files,
            "can_archive": selectors.can_download_archive(request.user, study),
            "export_form": export_form,
        },
    )


@roles.role_required(roles.RELEASE_DOWNLOADERS)
def release_detail(request, study_code: str, version: int):
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    release = selectors.release_get(study=study, version=version)
    return _release_page(
        request,
        study,
        release,
        ExportForm(
            action=reverse("export_request", args=[study.code, release.version]),
            formats=selectors.export_formats(user=request.user, study=study),
        ),
    )


@roles.role_required(roles.RELEASE_DOWNLOADERS)
def release_file(request, study_code: str, version: int, path: str):
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    release = selectors.release_get(study=study, version=version)
    try:
        location = selectors.release_file_get(user=request.user, release=release, path=path)
        handle = open(location, "rb")  # noqa: SIM115 - FileResponse closes it
    except OSError:
        raise Http404("No such file in this release.") from None
    return FileResponse(handle, as_attachment=True, filename=f"{study.code}_v{release.version}_{Path(path).name}")


# --------------------------------------------------------------------------------------------
# Exports
# --------------------------------------------------------------------------------------------


@require_POST
@roles.role_required(roles.RELEASE_DOWNLOADERS)
def export_request(request, study_code: str, version: int):
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    release = selectors.release_get(study=study, version=version)
    form = ExportForm(
        request.POST, action=request.path, formats=selectors.export_formats(user=request.user, study=study)
    )
    if form.is_valid():
        try:
            job = services.export_request(release=release, fmt=form.cleaned_data["format"], user=request.user)
        except ValidationError as error:
            form.add_error("format", error)
        else:
            return redirect("export_status", job.pk)
    return _release_page(request, study, release, form)


@roles.role_required(roles.RELEASE_DOWNLOADERS)
def export_status(request, pk: int):
    job = selectors.export_job_get(user=request.user, pk=pk)
    template = "analysis/_export_progress.html" if request.htmx else "analysis/export_status.html"
    return render(request, template, {"job": job, "study": job.release.study})


@roles.role_required(roles.RELEASE_DOWNLOADERS)
def export_download(request, pk: int):
    job = selectors.export_job_get(user=request.user, pk=pk)
    if job.status != JobStatus.DONE or not job.file_path or not Path(job.file_path).exists():
        raise Http404("This export is not ready.")
    return FileResponse(open(job.file_path, "rb"), as_attachment=True, filename=Path(job.file_path).name)
