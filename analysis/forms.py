"""Forms of the releases page: lock, unlock (a reason each) and the export request (a format)."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms

from analysis.models import ExportFormat


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label="Reason",
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,  # the service refuses an empty reason, with its message next to the field
    )

    def __init__(self, *args, action: str, button: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_action = action
        self.helper.add_input(Submit("submit", button, css_class="btn-danger" if "Unlock" in button else "btn-primary"))


class ExportForm(forms.Form):
    format = forms.ChoiceField(label="Format", choices=ExportFormat.choices, initial=ExportFormat.CSV)

    def __init__(self, *args, action: str, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_action = action
        self.helper.form_class = "d-flex gap-2 align-items-end"
        self.helper.add_input(Submit("submit", "Export"))
