"""The upload page of the CSV import (data managers only): thin, the import itself is ecrf/importing.py."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Field, Layout
from django import forms
from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from cohorts import roles
from cohorts import selectors as cohort_selectors
from ecrf import importing

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
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
    study = cohort_selectors.study_get(user=request.user, code=study_code)
    report = None
    if request.method == "POST":
        form = ImportForm(request.POST, request.FILES)
        if form.is_valid():
            sources = [importing.Source(upload.name, upload.read()) for upload in form.cleaned_data["files"]]
            report = importing.crf_import(
                study=study, sources=sources, user=request.user, check_only=form.cleaned_data["check_only"]
            )
    else:
        form = ImportForm()
    return render(
        request,
        "ecrf/import.html",
        {
            "study": study,
            "form": form,
            "report": report,
            "problems": report.problems[:MAX_PROBLEMS_SHOWN] if report else [],
            "tables": [
                (table, [(name, name in importing.REQUIRED_COLUMNS[table]) for name in importing.COLUMNS[table]])
                for table in importing.TABLES
            ],
        },
    )
