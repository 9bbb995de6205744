"""URLs of the daily case report forms (the ecrf app's own pages)."""

from django.urls import path

from ecrf import import_views, views
from ecrf.dashboard import dashboard
from ecrf.help_pages import help_page

urlpatterns = [
    path("studies/<slug:study_code>/import/", import_views.crf_import, name="crf_import"),
    path("studies/<slug:study_code>/import/<slug:table>.csv", import_views.import_template, name="import_template"),
    path("imports/<int:pk>/", import_views.import_status, name="import_status"),
    path("imports/<int:pk>/cancel/", import_views.import_cancel, name="import_cancel"),
    path("imports/<int:pk>/problems.csv", import_views.import_problems, name="import_problems"),
    path("help/<slug:slug>/", help_page, name="help_page"),
    path("studies/<slug:study_code>/dashboard/", dashboard, name="study_dashboard"),
    path("patients/<int:patient_pk>/", views.casebook, name="casebook"),
    path("patients/<int:patient_pk>/freeze/", views.casebook_freeze, name="casebook_freeze"),
    path("patients/<int:patient_pk>/oxygen-criterion/", views.oxygen_criterion, name="oxygen_criterion"),
    path("patients/<int:patient_pk>/day/<int:study_day>/", views.day_entry, name="day_entry"),
    path("patients/<int:patient_pk>/<slug:kind>/add/", views.event_form, name="event_add"),
    path("patients/<int:patient_pk>/<slug:kind>/<int:pk>/", views.event_form, name="event_edit"),
]
