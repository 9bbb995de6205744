"""Forms of the query pages; the rules are the services' (cleaning/services.py), whose refusals come back next to
their field."""

from __future__ import annotations

from crispy_forms.helper import FormHelper
from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.text import capfirst
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from cleaning.models import AnswerCode, QueryOrigin, QueryStatus, SdvLevel
from cleaning.selectors import QueryFilters
from cleaning.services import TEXT_MAX
from cohorts.forms import opened_field
from ecrf.crfs import CATALOGUE


def _field_choices() -> list:
    """Every field of every form, grouped by form (the service checks that the pair exists)."""
    choices: list = [("", gettext("The whole form"))]
    for crf in CATALOGUE.values():
        model = crf.model
        choices.append((crf.label, [(name, capfirst(model._meta.get_field(name).verbose_name)) for name in crf.fields]))
    return choices


def _message(label: str = _("Message")) -> forms.CharField:
    # Not required here: the service refuses an empty message with its own words, next to this field.
    return forms.CharField(label=label, widget=forms.Textarea(attrs={"rows": 2}), max_length=TEXT_MAX, required=False)


FORM_CHOICES = [(key, crf.label) for key, crf in CATALOGUE.items()]


class _Form(forms.Form):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True

    def place(self, error: ValidationError) -> None:
        """A refusal of the service: next to its field when the form has it, else above the form."""
        by_field = error.error_dict if hasattr(error, "error_dict") else {None: error.error_list}
        for name, errors in by_field.items():
            for item in errors:
                self.add_error(name if name in self.fields else None, item)


class QueryForm(_Form):
    # No bounds here: the service names the follow-up's days (cleaning.services.check_target), not the column's.
    study_day = forms.IntegerField(label=_("Study day"), required=False)
    form = forms.ChoiceField(
        label=_("Form"),
        required=False,
        choices=[("", _("The patient (baseline)")), *FORM_CHOICES],
    )
    field = forms.ChoiceField(label=_("Field"), required=False, choices=_field_choices)
    record_id = forms.IntegerField(required=False, widget=forms.HiddenInput, min_value=1)
    assignee = forms.ModelChoiceField(
        queryset=None, required=False, empty_label=_("Anyone at the site"), label=_("Assigned to")
    )
    text = _message(_("Question to the site"))

    def __init__(self, *args, assignees=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["assignee"].queryset = assignees


class AnswerForm(_Form):
    answer_code = forms.ChoiceField(label=_("Answer"), choices=[("", "---------"), *AnswerCode.choices], required=False)
    text = _message()


class MessageForm(_Form):
    """A comment, or the message of a close or a reopen."""

    text = _message()


#: The list's filters are drawn by its template (a row of small controls), not by crispy.
_SMALL_SELECT = {"class": "form-select form-select-sm"}


class FilterForm(forms.Form):
    """The query list's filters, from the address (a junk value is no filter and a message under the filters naming
    its field, never a server error)."""

    site = forms.CharField(label=_("Site"), required=False, max_length=8)
    status = forms.ChoiceField(
        label=_("Status"),
        required=False,
        widget=forms.Select(attrs=_SMALL_SELECT),
        choices=[
            ("", _("Any status")),
            ("waiting", _("Open or answered")),
            *QueryStatus.choices,
            ("changed", _("Changed after close")),
        ],
    )
    origin = forms.ChoiceField(
        label=_("Origin"),
        required=False,
        widget=forms.Select(attrs=_SMALL_SELECT),
        choices=[("", _("Any origin")), *QueryOrigin.choices],
    )
    form = forms.ChoiceField(
        label=_("Form"),
        required=False,
        widget=forms.Select(attrs=_SMALL_SELECT),
        choices=[("", _("Any form")), *FORM_CHOICES],
    )
    patient = forms.CharField(label=_("Participant"), required=False, max_length=40)
    day = forms.IntegerField(label=_("Day"), required=False, min_value=-32768, max_value=32767)
    mine = forms.BooleanField(required=False, label=_("Assigned to me"))

    def filters(self) -> QueryFilters:
        """The filters of the fields that are valid; a field in error filters nothing (it is marked, and its message
        shown under the filters): "3x" typed as the day does not drop the status chosen with it."""
        self.is_valid()
        for name in self.errors:
            widget = self.fields[name].widget
            widget.attrs["class"] = f"{widget.attrs.get('class', '')} is-invalid".strip()
        data = self.cleaned_data
        return QueryFilters(
            site=data.get("site", ""),
            status=data.get("status", ""),
            origin=data.get("origin", ""),
            form=data.get("form", ""),
            patient=data.get("patient", "").strip(),
            day=data.get("day"),
            mine=data.get("mine", False),
        )


class SignatureRangeForm(forms.Form):
    """The study days to sign, from the address (?first_day=&last_day=); none: the whole casebook."""

    # No bounds here: the service names the casebook's days (cleaning.signatures.check_range), not the column's.
    first_day = forms.IntegerField(label=_("First day"))
    last_day = forms.IntegerField(label=_("Last day"))

    place = _Form.place


class SignForm(_Form):
    """The two components of the signature: the password and, when it applies, a code of the second factor.
    The names are those django-axes masks in what it records of a failed attempt ("password")."""

    password = forms.CharField(
        label=_("Your password"),
        strip=False,
        required=False,  # the service refuses an empty one with its own words, next to this field
        widget=forms.PasswordInput(attrs={"autocomplete": "current-password"}),
    )
    otp_token = forms.CharField(
        label=_("Code of your authenticator app"),
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("Signing asks for your second factor again (a backup token works too)."),
    )

    def __init__(self, *args, asks_code: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["password"].help_text = gettext(
            "As at login: %(limit)s wrong passwords in a row lock your account for an hour."
        ) % {"limit": settings.AXES_FAILURE_LIMIT}
        if not asks_code:  # no second factor to ask for: no field that would be ignored
            del self.fields["otp_token"]


class SdvPlanForm(_Form):
    """The study's SDV plan: a level per form of the catalogue, and the reason for the change (audited)."""

    reason = forms.CharField(
        label=_("Reason for the change"),
        max_length=200,
        help_text=_("Kept in the audit trail."),
        # Typed by the data manager, as every reason of a change: a prefilled text was kept unread (and stayed in
        # English on the Italian page).
        widget=forms.TextInput(attrs={"placeholder": _("e.g. monitoring plan v2: all fields of the laboratory")}),
    )

    opened = opened_field()  # cleaning.sdv.plan_stamp when the page was opened

    def __init__(self, *args, levels: dict[str, str], opened: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["opened"].initial = opened
        for key, crf in CATALOGUE.items():
            critical = ", ".join(str(crf.model._meta.get_field(name).verbose_name) for name in crf.critical)
            self.fields[key] = forms.ChoiceField(
                label=crf.label,
                choices=SdvLevel.choices,
                initial=levels[key],
                help_text=gettext("Critical fields: %(fields)s.") % {"fields": critical} if critical else "",
            )
        self.order_fields([*CATALOGUE, "reason", "opened"])

    def levels(self) -> dict[str, str]:
        return {key: self.cleaned_data[key] for key in CATALOGUE}
