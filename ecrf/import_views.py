"""The pages of the CSV import (data managers only): the upload, which queues a job (ecrf/import_jobs.py), and the
job's page, which follows it, cancels it and shows its report. Thin: the import itself is ecrf/importing."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST

from cohorts import roles
from cohorts import selectors as cohort_selectors
from cohorts.jobs import JobStatus
from ecrf import import_jobs, importing, selectors

#: What one upload may hold: the files of a study of 1,000,000 patient-days (about 80 MB of vital signs, respiratory
#: support and laboratory values, several times that with every column) with room to spare. The import reads them a
#: chunk at a time, so their size costs time, not memory (bench/import.py).
MAX_UPLOAD_BYTES = 1024 * 1024 * 1024
MAX_PROBLEMS_SHOWN = 500


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one input (Django's documented pattern); cleans to a list."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", MultipleFileInput(attrs={"accept": ".csv,.zip"}))
        kwargs.setdefault("allow_empty_file", True)  # the import names the empty file in its report
        super().__init__(*args, **kwargs)

    def clean(self, data, initial=None):
        if isinstance(data, list | tuple):
            return [super(MultipleFileField, self).clean(item, initial) for item in data]
        return [super().clean(data, initial)]


class ImportForm(forms.Form):
    files = MultipleFileField(label=gettext_lazy("Files"))
    check_only = forms.BooleanField(required=False, label=gettext_lazy("Check only: run every check and store nothing"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["files"].help_text = _(
            "One CSV file per table, named after it (%(names)s), or a zip of them such as a release exported as CSV."
        ) % {"names": importing.FILE_NAMES}
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True
        self.helper.layout = Layout(Field("files"), Field("check_only"))

    def clean_files(self):
        files = self.cleaned_data["files"]
        if not files:
            raise ValidationError(_("Choose the files to import."), code="required")
        total = sum(upload.size for upload in files)
        if total > MAX_UPLOAD_BYTES:
            raise ValidationError(
                _(
                    "The files hold %(size)s; at most %(maximum)s per import. Import them in parts, or with "
                    "`manage.py import_crf` on the server."
                )
                % {"size": filesizeformat(total), "maximum": filesizeformat(MAX_UPLOAD_BYTES)},
                code="too_large",
            )
        return files


@roles.role_required(roles.IMPORTERS)
def crf_import(request, study_code: str):
    """The upload: valid files are queued as an import job, followed on its page."""
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            uploads = [import_jobs.Upload(f.name, f.chunks()) for f in form.cleaned_data["files"]]
            try:
                job = import_jobs.import_request(
                    study=study, user=request.user, uploads=uploads, check_only=form.cleaned_data["check_only"]
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                return redirect("import_status", job.pk)
    else:
        form = ImportForm()
    return render(
        request,
        "ecrf/import.html",
        {
            "study": study,
            "form": form,
            "jobs": selectors.import_job_list(user=request.user, study=study),
            "tables": [
                (table, [(name, name in importing.REQUIRED_COLUMNS[table]) for name in importing.COLUMNS[table]])
                for table in importing.TABLES
            ],
        },
    )


@roles.role_required(roles.IMPORTERS)
def import_template(request, study_code: str, table: str):
    """A table's empty file to fill in, named as the import expects it: its header line (the columns of the import
    page, importing.template_header)."""
    cohort_selectors.study_get(user=request.user, code=study_code)
    if table not in importing.TABLES:
        raise Http404("No such table.")
    response = HttpResponse(f"{importing.template_header(table)}\n", content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{table}.csv"'
    return response


@roles.role_required(roles.IMPORTERS)
def import_status(request, pk: int):
    """The job's page: its progress while it runs (polled every 2 s), then its report."""
    job = selectors.import_job_get(user=request.user, pk=pk)
    report = importing.ImportReport.from_dict(job.report) if job.status == JobStatus.DONE else None
    context = {
        "job": job,
        "study": job.study,
        "running": import_jobs.import_progress(job),
        "can_cancel": import_jobs.import_cancellable(job),
        "report": report,
        "problems": report.problems if report else [],
        "has_problems_file": bool(report and report.problem_count > len(report.problems)),
    }
    if request.htmx:
        return render(request, "ecrf/_import_progress.html", {**context, "poll": True})
    return render(request, "ecrf/import_status.html", context)


@require_POST
@roles.role_required(roles.IMPORTERS)
def import_cancel(request, pk: int):
    job = selectors.import_job_get(user=request.user, pk=pk)
    try:
        job = import_jobs.import_cancel(job=job, user=request.user)
    except ValidationError as error:
        messages.error(request, " ".join(error.messages))
    else:
        if job.status == JobStatus.RUNNING:
            messages.info(request, _("The import stops at its next step; nothing will be stored."))
        else:
            messages.success(request, _("The import was cancelled; nothing was stored."))
    return redirect("import_status", job.pk)


@roles.role_required(roles.IMPORTERS)
def import_problems(request, pk: int):
    """Every problem of a finished import as CSV (the page shows the first ones)."""
    job = selectors.import_job_get(user=request.user, pk=pk)
    path = import_jobs.problems_file(job)
    if path is None:
        raise Http404("This import has no list of problems.")
    name = f"import-{job.study.code}-{job.pk}-problems.csv"
    return FileResponse(path.open("rb"), as_attachment=True, filename=name, content_type="text/csv")
