from django.urls import path

from . import views

app_name = "understand"
urlpatterns = [
    path("programmes/<slug:slug>/analysis/", views.overview, name="overview"),
    path("programmes/<slug:slug>/analysis/start/", views.start, name="start"),
    path("programmes/<slug:slug>/analysis/runs/<int:pk>/", views.run_detail, name="run_detail"),
    path("programmes/<slug:slug>/analysis/codes/<int:pk>/", views.code_detail, name="code_detail"),
    path(
        "programmes/<slug:slug>/analysis/themes/<int:pk>/", views.theme_detail, name="theme_detail"
    ),
    path("programmes/<slug:slug>/analysis/review/", views.review, name="review"),
    path("programmes/<slug:slug>/analysis/who/", views.who_said_it, name="who_said_it"),
    path("programmes/<slug:slug>/analysis/submissions/", views.submissions, name="submissions"),
    path(
        "programmes/<slug:slug>/analysis/changes/", views.distinct_changes, name="distinct_changes"
    ),
    path(
        "programmes/<slug:slug>/analysis/changes/<int:pk>/",
        views.distinct_change_detail,
        name="distinct_change_detail",
    ),
]
