"""Forms of the study team page (cohorts/team.py holds the rules; a refusal comes back next to its field)."""

from crispy_forms.helper import FormHelper
from django import forms
from django.utils.translation import gettext_lazy as _

from cohorts import roles
from cohorts.audit import REASON_MAX_LENGTH
from cohorts.forms import opened_field


def _reason() -> forms.CharField:
    # Not required here: the service refuses an empty reason with its own message, next to this field.
    return forms.CharField(
        label=_("Reason"), required=False, max_length=REASON_MAX_LENGTH, help_text=_("Kept in the study's audit trail.")
    )


class _TeamForm(forms.Form):
    def __init__(self, *args, study=None, **kwargs):
        super().__init__(*args, **kwargs)
        if "sites" in self.fields:
            self.fields["sites"].queryset = study.sites.order_by("code")
        self.helper = FormHelper()
        self.helper.form_tag = False
        self.helper.disable_csrf = True

    def place(self, error) -> None:
        """A refusal of cohorts/team.py: on its field (user, role, sites, reason), or above the form."""
        fields = getattr(error, "error_dict", {})
        if fields and set(fields) <= set(self.fields):
            self.add_error(None, error)
        else:
            for message in error.messages:
                self.add_error(None, message)


class SitesForm(_TeamForm):
    all_sites = forms.BooleanField(
        label=_("Every site of the study"), required=False, help_text=_("Data managers and statisticians always.")
    )
    sites = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple, label=_("Or these sites")
    )
    reason = _reason()
    opened = opened_field()  # a member's row: its assignment's last_change


class MemberForm(SitesForm):
    user = forms.CharField(label=_("User name or e-mail"), max_length=254)
    role = forms.ChoiceField(label=_("Role"), choices=list(roles.STUDY_ROLES.items()))

    field_order = ["user", "role", "all_sites", "sites", "reason"]
