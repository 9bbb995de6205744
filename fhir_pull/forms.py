"""Forms of the fhir pages: a site's connection, a patient's link, and the review of pulled values."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any

from crispy_forms.helper import FormHelper
from django import forms
from django.utils.translation import gettext_lazy as _

from cohorts.audit import last_change
from cohorts.forms import opened_field
from cohorts.limits import LIMITS
from ecrf.crfs import DAY_FORMS
from fhir_pull import mapping, units
from fhir_pull.models import FhirEndpoint, PatientLink, Proposal
from fhir_pull.services import ACCEPT, ENDPOINT_FIELDS, LINK_FIELDS, REJECT, Decision


def _helper() -> FormHelper:
    helper = FormHelper()
    helper.form_tag = False
    return helper


class _StampedForm(forms.ModelForm):
    """A whole record posted back, with the stamp of the record when the page was opened (cohorts.audit)."""

    opened = opened_field()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.is_bound:
            self.initial["opened"] = last_change(self.instance)
        self.helper = _helper()


class EndpointForm(_StampedForm):
    class Meta:
        model = FhirEndpoint
        fields = list(ENDPOINT_FIELDS)
        field_classes = dict.fromkeys(["base_url", "token_url"], partial(forms.URLField, assume_scheme="https"))


class LinkForm(_StampedForm):
    class Meta:
        model = PatientLink
        fields = list(LINK_FIELDS)
        help_texts = {"mrn": _("The hospital's medical record number of this patient. Empty: remove the link.")}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mrn"].required = False


DECISIONS = [("", _("Decide later")), (ACCEPT, _("Accept")), (REJECT, _("Reject"))]


@dataclass
class Row:
    """One proposal on the review screen, beside the saved value of its field."""

    proposal: Proposal
    label: str
    unit: str
    stored: Any
    soft: Any  # the soft check to confirm, or None
    form: ReviewForm

    @property
    def prefix(self) -> str:
        return f"p{self.proposal.pk}"

    @property
    def differs(self) -> bool:
        return self.stored not in (None, "") and self.stored != self.proposal.value

    def __getitem__(self, name: str):
        return self.form[f"{self.prefix}-{name}"]

    @property
    def decision(self):
        return self["decision"]

    @property
    def replace(self):
        return self["replace"]

    @property
    def confirm(self):
        return self["confirm"] if self.soft is not None else None

    @property
    def errors(self) -> list[str]:
        return self.form.row_errors.get(self.proposal.pk, [])


class ReviewForm(forms.Form):
    """One decision per proposal (accept only when acceptable), 'replace' and 'confirm' boxes, and the version of
    each form's record as shown (optimistic locking, as on the day page)."""

    def __init__(self, *args, proposals: list[Proposal], stored: dict[str, Any], **kwargs):
        super().__init__(*args, **kwargs)
        self.proposals = proposals
        self.row_errors: dict[int, list[str]] = {}
        for key in DAY_FORMS:
            record = stored.get(key)
            self.fields[f"version-{key}"] = forms.IntegerField(
                required=False, widget=forms.HiddenInput, min_value=1, max_value=2**31 - 1
            )
            self.initial[f"version-{key}"] = record.version if record is not None else None
        self.rows = []
        for proposal in proposals:
            prefix = f"p{proposal.pk}"
            choices = DECISIONS if proposal.acceptable else [DECISIONS[0], DECISIONS[2]]
            self.fields[f"{prefix}-decision"] = forms.ChoiceField(
                choices=choices, required=False, widget=forms.RadioSelect, label=_("Decision")
            )
            self.fields[f"{prefix}-replace"] = forms.BooleanField(required=False, label=_("Replace the saved value"))
            self.fields[f"{prefix}-confirm"] = forms.BooleanField(
                required=False, label=_("Confirm: the value is correct")
            )
            record = stored.get(proposal.form)
            limit = DAY_FORMS[proposal.form].limits.get(proposal.field)
            self.rows.append(
                Row(
                    proposal=proposal,
                    label=mapping.field_label(proposal.form, proposal.field),
                    unit=units.shown(LIMITS[limit].unit) if limit else "",
                    stored=getattr(record, proposal.field, None) if record is not None else None,
                    soft=mapping.soft_issue(proposal.form, proposal.field, proposal.value),
                    form=self,
                )
            )

    def decisions(self) -> dict[int, Decision]:
        data = self.cleaned_data
        result = {}
        for row in self.rows:
            prefix = row.prefix
            action = data.get(f"{prefix}-decision") or ""
            confirmed = (
                frozenset({row.soft.code}) if row.soft is not None and data.get(f"{prefix}-confirm") else frozenset()
            )
            result[row.proposal.pk] = Decision(action, bool(data.get(f"{prefix}-replace")), confirmed)
        return result

    def versions(self) -> dict[str, int | None]:
        return {key: self.cleaned_data.get(f"version-{key}") for key in DAY_FORMS}
