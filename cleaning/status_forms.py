"""The record status dashboard's filters, from the address: a junk value is no filter, never a server error."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from cleaning.status import STATES
from cleaning.status_selectors import StatusFilters


class StatusFilterForm(forms.Form):
    site = forms.ChoiceField(required=False)
    arm = forms.ChoiceField(required=False)
    status = forms.ChoiceField(
        required=False, choices=[("", _("Any status")), *((state.code, state.words) for state in STATES)]
    )
    # Keyset paging: participant ids (at most 24 characters).
    after = forms.CharField(required=False, max_length=24)
    before = forms.CharField(required=False, max_length=24)

    def __init__(self, data, *, sites, arms):
        super().__init__(data)
        self.sites = {site.code: site for site in sites}
        self.arms = {arm.code: arm for arm in arms}
        self.fields["site"].choices = [("", _("All my sites")), *((code, code) for code in self.sites)]
        self.fields["arm"].choices = [("", _("Every arm")), *((arm.code, arm.name) for arm in arms)]
        for name in ("site", "arm", "status"):
            self.fields[name].widget.attrs["class"] = "form-select form-select-sm"

    def filters(self) -> StatusFilters:
        """Each valid field is a filter; an invalid one is left out (the others still apply)."""
        self.is_valid()
        data = self.cleaned_data
        return StatusFilters(
            site=self.sites.get(data.get("site") or ""),
            arm=self.arms.get(data.get("arm") or ""),
            status=data.get("status") or "",
            after=data.get("after") or "",
            before=data.get("before") or "",
        )
