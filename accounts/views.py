"""Account pages: django-two-factor-auth's views, with the site's templates (templates/two_factor/)."""

from django.conf import settings
from two_factor.views import QRGeneratorView as TwoFactorQRGeneratorView
from two_factor.views import SetupView as TwoFactorSetupView


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
