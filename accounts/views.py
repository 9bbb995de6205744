"""Account pages: django-two-factor-auth's views, with the site's templates (templates/two_factor/), and the
user's language."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import get_language_from_request
from django.utils.translation import gettext as _
from two_factor.views import QRGeneratorView as TwoFactorQRGeneratorView
from two_factor.views import SetupView as TwoFactorSetupView

from accounts import services
from accounts.forms import LanguageForm
from accounts.selectors import SESSION_KEY, user_language


class SetupView(TwoFactorSetupView):
    """The setup wizard (welcome, then the QR code and the first code), saying why when the policy sent the user
    here. Same class name as the parent: the wizard's form prefix ("setup_view-") derives from it."""

    def get_context_data(self, form, **kwargs):
        context = super().get_context_data(form, **kwargs)
        context["required_by_policy"] = settings.ECRF_REQUIRE_2FA
        return context


class QRGeneratorView(TwoFactorQRGeneratorView):
    """The setup's QR code, naming the account in the authenticator app "<OTP_TOTP_ISSUER>: <username>" (the
    package would use the server's host name, as the project has no django.contrib.sites)."""

    def get_issuer(self):
        return settings.OTP_TOTP_ISSUER


@login_required
def language(request):
    """The user's language: stored in the profile, applied from the next page on."""
    if request.method == "POST":
        form = LanguageForm(request.POST)
        if form.is_valid():
            chosen = form.cleaned_data["language"]
            services.language_set(user=request.user, language=chosen)
            request.session[SESSION_KEY] = chosen
            translation.activate(chosen or get_language_from_request(request))
            messages.success(request, _("Language saved."))
            return redirect("account_language")
    else:
        form = LanguageForm(initial={"language": user_language(user=request.user)})
    return render(request, "accounts/language.html", {"form": form})
