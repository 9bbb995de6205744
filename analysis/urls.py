"""URLs of the analysis app: analysis page and figures, releases and lock jobs, exports."""

from django.urls import path

from analysis import views

urlpatterns = [
    path("studies/<slug:study_code>/analysis/", views.analysis_page, name="analysis"),
    path("studies/<slug:study_code>/analysis/figures/<slug:name>.<slug:fmt>", views.figure, name="analysis_figure"),
    path("studies/<slug:study_code>/releases/", views.releases_page, name="releases"),
    path("studies/<slug:study_code>/releases/lock/", views.lock, name="release_lock"),
    path("locks/<int:pk>/", views.lock_status, name="lock_status"),
    path("locks/<int:pk>/cancel/", views.lock_cancel, name="lock_cancel"),
    path("studies/<slug:study_code>/releases/unlock/", views.unlock, name="release_unlock"),
    path("studies/<slug:study_code>/releases/v<int:version>/", views.release_detail, name="release_detail"),
    path(
        "studies/<slug:study_code>/releases/v<int:version>/files/<path:path>", views.release_file, name="release_file"
    ),
    path("studies/<slug:study_code>/releases/v<int:version>/export/", views.export_request, name="export_request"),
    path("exports/<int:pk>/", views.export_status, name="export_status"),
    path("exports/<int:pk>/download/", views.export_download, name="export_download"),
]
