"""URLs of the queries."""

from django.urls import path

from cleaning import status_views, views

urlpatterns = [
    path("studies/<slug:study_code>/queries/", views.query_list, name="query_list"),
    path("studies/<slug:study_code>/status/", status_views.record_status, name="record_status"),
    path("queries/<int:pk>/", views.query_detail, name="query_detail"),
    path("patients/<int:patient_pk>/queries/new/", views.query_new, name="query_new"),
]
