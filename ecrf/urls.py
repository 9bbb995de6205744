"""Root URLs: the project's own daily-form pages, and each app's urls."""

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

admin.site.site_header = "Study eCRF administration"

urlpatterns = [
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("", include("cohorts.urls")),
    path("", include("ecrf.crf_urls")),
    path("", include("analysis.urls")),
]
