"""Root URLs: logging in (with two-factor authentication), the API tokens page, the REST API (/api/v1/), and each
app's urls."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from django.utils.translation import gettext_lazy as _
from two_factor import views as two_factor_views

from accounts import views as account_views
from api import pages as api_pages

admin.site.site_header = _("Study eCRF administration")

login_view = two_factor_views.LoginView.as_view()  # password, then the code when the user has a device

# django-two-factor-auth's pages, under the namespace its views and templates reverse ("two_factor:setup", ...).
two_factor_urls = (
    [
        path("login/", login_view, name="login"),
        path("two-factor/", two_factor_views.ProfileView.as_view(), name="profile"),
        path("two-factor/setup/", account_views.SetupView.as_view(), name="setup"),
        path("two-factor/setup/qrcode/", account_views.QRGeneratorView.as_view(), name="qr"),
        path("two-factor/setup/complete/", two_factor_views.SetupCompleteView.as_view(), name="setup_complete"),
        path("two-factor/backup-tokens/", two_factor_views.BackupTokensView.as_view(), name="backup_tokens"),
        path("two-factor/disable/", two_factor_views.DisableView.as_view(), name="disable"),
    ],
    "two_factor",
)

urlpatterns = [
    path("accounts/login/", login_view, name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("accounts/", include(two_factor_urls)),
    path("accounts/language/", account_views.language, name="account_language"),
    path("accounts/api-tokens/", api_pages.tokens_page, name="api_tokens"),
    path("accounts/api-tokens/<int:pk>/revoke/", api_pages.token_revoke, name="api_token_revoke"),
    path("api/v1/", include("api.urls")),
    path("admin/", admin.site.urls),
    path("", include("cohorts.urls")),
    path("", include("ecrf.crf_urls")),
    path("", include("fhir_pull.urls")),
    path("", include("cleaning.urls")),
    path("", include("analysis.urls")),
]
