from django.urls import path

from . import privacy_views, views

app_name = "listen"
urlpatterns = [
    path("programmes/<slug:slug>/", views.programme_detail, name="programme_detail"),
    path("programmes/<slug:slug>/take-part/", views.take_part, name="take_part"),
    path("programmes/<slug:slug>/take-part/done/", views.take_part_done, name="take_part_done"),
    path("programmes/<slug:slug>/redactions/", privacy_views.redactions, name="redactions"),
    path("submissions/", views.submission_list, name="submission_list"),
    path("rights/erase/", privacy_views.erase_view, name="erase"),
    path("rights/subject-access/", privacy_views.subject_access_view, name="subject_access"),
    path("submissions/<int:pk>/", views.submission_detail, name="submission_detail"),
    path("imports/new/", views.import_upload, name="import_upload"),
    path("imports/new/<str:token>/", views.import_preview, name="import_preview"),
    path("imports/<int:pk>/", views.import_detail, name="import_detail"),
    path("documents/<int:pk>/", views.document_detail, name="document_detail"),
]
