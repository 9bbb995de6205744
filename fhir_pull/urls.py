"""URLs of the FHIR pull (issue 20)."""

from django.urls import path

from fhir_pull import views

urlpatterns = [
    path("patients/<int:patient_pk>/day/<int:study_day>/fhir/pull/", views.pull, name="fhir_pull"),
    path("patients/<int:patient_pk>/day/<int:study_day>/fhir/", views.review, name="fhir_review"),
    path("patients/<int:patient_pk>/fhir/link/", views.link, name="fhir_link"),
    path("setup/sites/<str:site_code>/fhir/", views.endpoint, name="fhir_endpoint"),
]
