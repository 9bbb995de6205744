"""URLs of the REST API under /api/v1/ (namespace "api"); the tokens page lives under /accounts/ (config/urls.py)."""

from django.urls import path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import IsAuthenticated

from api import pages, query_views, views
from api.authentication import BearerTokenAuthentication

app_name = "api"

schema_view = SpectacularAPIView.as_view(
    authentication_classes=[BearerTokenAuthentication, SessionAuthentication],
    permission_classes=[IsAuthenticated],
)

urlpatterns = [
    path("schema/", schema_view, name="schema"),
    path("docs/", pages.docs_page, name="docs"),
    path("forms/", views.FormList.as_view(), name="form_list"),
    path("forms/<slug:form>/", views.FormDetail.as_view(), name="form_detail"),
    path("studies/", views.StudyList.as_view(), name="study_list"),
    path("studies/<slug:study_code>/", views.StudyDetail.as_view(), name="study_detail"),
    path("studies/<slug:study_code>/patients/", views.PatientList.as_view(), name="patient_list"),
    path("studies/<slug:study_code>/screenings/", views.ScreeningList.as_view(), name="screening_list"),
    path("studies/<slug:study_code>/screenings/<int:pk>/", views.ScreeningDetail.as_view(), name="screening_detail"),
    path("studies/<slug:study_code>/releases/", views.ReleaseList.as_view(), name="release_list"),
    path("studies/<slug:study_code>/releases/<int:version>/", views.ReleaseDetail.as_view(), name="release_detail"),
    path(
        "studies/<slug:study_code>/releases/<int:version>/files/<path:path>",
        views.ReleaseFile.as_view(),
        name="release_file",
    ),
    path("exports/<int:pk>/download/", views.ExportDownload.as_view(), name="export_download"),
    path("patients/<int:patient_pk>/", views.PatientDetail.as_view(), name="patient_detail"),
    path("studies/<slug:study_code>/queries/", query_views.StudyQueryList.as_view(), name="query_list"),
    path("patients/<int:patient_pk>/queries/", query_views.PatientQueryList.as_view(), name="patient_query_list"),
    path("queries/<int:pk>/", query_views.QueryDetail.as_view(), name="query_detail"),
    path("queries/<int:pk>/<slug:action>/", query_views.QueryAction.as_view(), name="query_action"),
    path("patients/<int:patient_pk>/records/<slug:form>/", views.RecordList.as_view(), name="record_list"),
    path("patients/<int:patient_pk>/records/<slug:form>/<int:pk>/", views.RecordDetail.as_view(), name="record_detail"),
]
