from django.urls import path

from cohorts import views

urlpatterns = [
    path("", views.home, name="home"),
    path("history/<str:model>/<int:pk>/", views.record_history, name="record_history"),
]
