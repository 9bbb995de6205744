from django.urls import path

from cohorts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("history/<str:model>/<int:pk>/", views.record_history, name="record_history"),
    path("studies/<slug:study_code>/screenings/", views.screening_log, name="screening_log"),
    path("studies/<slug:study_code>/screenings/new/", views.screening_create, name="screening_create"),
    path("studies/<slug:study_code>/screenings/evaluate/", views.screening_evaluate, name="screening_evaluate"),
    path("studies/<slug:study_code>/screenings/<int:pk>/", views.screening_detail, name="screening_detail"),
    path("studies/<slug:study_code>/screenings/<int:pk>/enrol/", views.patient_enrol, name="patient_enrol"),
]
