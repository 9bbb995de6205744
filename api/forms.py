from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from api.services import DEFAULT_DAYS, MAX_DAYS


class TokenForm(forms.Form):
    name = forms.CharField(
        label=_("Name"), max_length=100, help_text=_("What the token is for, e.g. 'ward import script'.")
    )
    days = forms.IntegerField(label=_("Valid for (days)"), min_value=1, max_value=MAX_DAYS, initial=DEFAULT_DAYS)
    otp_token = forms.CharField(
        label=_("Code of your authenticator app"),
        required=False,
        max_length=16,
        widget=forms.TextInput(attrs={"autocomplete": "one-time-code", "inputmode": "numeric"}),
        help_text=_("Creating a token asks for your second factor again (a backup token works too)."),
    )

    def __init__(self, *args, asks_code: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["days"].help_text = gettext("1 to %(max)s.") % {"max": MAX_DAYS}
        if not asks_code:  # no second factor to ask for: no field that would be ignored
            del self.fields["otp_token"]

    def add_service_error(self, error) -> None:
        for name, errors in error.error_dict.items():
            self.add_error(name if name in self.fields else None, errors)
