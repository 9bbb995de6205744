"""URLs of the patient list, the queries, the record status dashboard, the casebook signatures and SDV."""

from django.urls import path

from cleaning import sdv_views, signature_views, status_views, views

urlpatterns = [
    path("studies/<slug:study_code>/patients/", status_views.patient_list, name="patient_list"),
    path("studies/<slug:study_code>/queries/", views.query_list, name="query_list"),
    path("studies/<slug:study_code>/queries/rules/run/", views.rules_run, name="rules_run"),
    path("studies/<slug:study_code>/status/", status_views.record_status, name="record_status"),
    path("queries/<int:pk>/", views.query_detail, name="query_detail"),
    path("patients/<int:patient_pk>/queries/new/", views.query_new, name="query_new"),
    path("patients/<int:patient_pk>/sign/", signature_views.casebook_sign, name="casebook_sign"),
    path("studies/<slug:study_code>/signatures/", signature_views.signature_list, name="signature_list"),
    path("patients/<int:patient_pk>/sdv/", sdv_views.sdv_patient, name="sdv_patient"),
    path("studies/<slug:study_code>/sdv/", sdv_views.sdv_study, name="sdv_study"),
    path("studies/<slug:study_code>/sdv/verify/", sdv_views.sdv_bulk, name="sdv_bulk"),
]
