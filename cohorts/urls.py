from django.urls import path

from cohorts import team_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("history/<str:model>/<int:pk>/", views.record_history, name="record_history"),
    path("studies/<slug:study_code>/screenings/", views.screening_log, name="screening_log"),
    path("studies/<slug:study_code>/screenings/new/", views.screening_create, name="screening_create"),
    path("studies/<slug:study_code>/screenings/evaluate/", views.screening_evaluate, name="screening_evaluate"),
    path("studies/<slug:study_code>/screenings/<int:pk>/", views.screening_detail, name="screening_detail"),
    path("studies/<slug:study_code>/screenings/<int:pk>/enrol/", views.patient_enrol, name="patient_enrol"),
    path("studies/<slug:study_code>/team/", team_views.study_team, name="study_team"),
    path("studies/<slug:study_code>/team/<int:pk>/", team_views.team_member, name="team_member"),
    path("setup/", views.setup_index, name="setup_index"),
    path("setup/studies/new/", views.setup_study_create, name="setup_study_create"),
    path("setup/studies/<slug:study_code>/", views.setup_study, name="setup_study"),
    path("setup/studies/<slug:study_code>/arms/new/", views.setup_arm_create, name="setup_arm_create"),
    path("setup/studies/<slug:study_code>/arms/<slug:arm_code>/", views.setup_arm, name="setup_arm"),
    path("setup/sites/new/", views.setup_site_create, name="setup_site_create"),
    path("setup/sites/<str:site_code>/", views.setup_site, name="setup_site"),
]
