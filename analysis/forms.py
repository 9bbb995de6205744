"""Forms of the releases page: lock, unlock (a reason each) and the export request (a format)."""

from crispy_forms.helper import FormHelper
from crispy_forms.layout import Submit
from django import forms
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from analysis.models import ExportFormat


class ReasonForm(forms.Form):
    reason = forms.CharField(
        label=gettext_lazy("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        required=False,  # the service refuses an empty reason, with its message next to the field
    )

    def __init__(self, *args, action: str, button: str, danger: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_action = action
        self.helper.add_input(Submit("submit", button, css_class="btn-danger" if danger else "btn-primary"))


class LockForm(ReasonForm):
    """The lock's reason, and an override reason for every item of the checklist that is not zero (the page shows
    them in the checklist's table; the service refuses an item left without one, next to its field)."""

    def __init__(self, *args, items=(), **kwargs):
        super().__init__(*args, action=kwargs.pop("action"), button=_("Lock and release"), **kwargs)
        self.items = list(items)
        for item in self.items:
            if item.count:
                self.fields[f"override_{item.key}"] = forms.CharField(
                    label=_("Lock with them: why (%(item)s)") % {"item": item.label.lower()},
                    max_length=500,
                    required=False,
                )

    @property
    def rows(self) -> list[tuple]:
        """(item, its override field or None) in the checklist's order, for the template."""
        return [(item, self[f"override_{item.key}"] if item.count else None) for item in self.items]

    def overrides(self) -> dict[str, str]:
        prefix = "override_"
        return {name[len(prefix) :]: value for name, value in self.cleaned_data.items() if name.startswith(prefix)}


class ExportForm(forms.Form):
    format = forms.ChoiceField(label=gettext_lazy("Format"), choices=ExportFormat.choices, initial=ExportFormat.CSV)

    def __init__(self, *args, action: str, formats: list[tuple[str, str]], **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["format"].choices = formats  # the archival formats only for those who may have them
        self.helper = FormHelper()
        self.helper.form_action = action
        self.helper.form_class = "d-flex gap-2 align-items-end"
        self.helper.add_input(Submit("submit", _("Export")))
