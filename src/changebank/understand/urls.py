"""URLs of the Understand stage. Each part of the workspace lists its own pages in its module's
``urlpatterns``; the analysis pages and the theme board are here."""

from django.urls import path

from .views import board, changes, coding, double, framework, learning, runs, search

app_name = "understand"
urlpatterns = [
    path("programmes/<slug:slug>/analysis/", board.overview, name="overview"),
    path("programmes/<slug:slug>/analysis/board/", board.board_action, name="board_action"),
    path("programmes/<slug:slug>/analysis/history/", board.history_page, name="history"),
    path("programmes/<slug:slug>/analysis/undo/", board.undo_view, name="undo"),
    path("programmes/<slug:slug>/analysis/start/", runs.start, name="start"),
    path("programmes/<slug:slug>/analysis/runs/<int:pk>/", runs.run_detail, name="run_detail"),
    path("programmes/<slug:slug>/analysis/codes/<int:pk>/", board.code_detail, name="code_detail"),
    path(
        "programmes/<slug:slug>/analysis/themes/<int:pk>/", board.theme_detail, name="theme_detail"
    ),
    path("programmes/<slug:slug>/analysis/review/", board.review, name="review"),
    path("programmes/<slug:slug>/analysis/who/", framework.who_said_it, name="who_said_it"),
    path("programmes/<slug:slug>/analysis/submissions/", search.submissions, name="submissions"),
    path(
        "programmes/<slug:slug>/analysis/changes/",
        changes.distinct_changes,
        name="distinct_changes",
    ),
    path(
        "programmes/<slug:slug>/analysis/changes/<int:pk>/",
        changes.distinct_change_detail,
        name="distinct_change_detail",
    ),
    path(
        "programmes/<slug:slug>/analysis/who/stance/",
        framework.framework_stance,
        name="framework_stance",
    ),
    path(
        "programmes/<slug:slug>/analysis/who/together/",
        framework.framework_cooccurrence,
        name="framework_cooccurrence",
    ),
    path(
        "programmes/<slug:slug>/analysis/who/representation/",
        framework.framework_representation,
        name="framework_representation",
    ),
]
urlpatterns += coding.urlpatterns
urlpatterns += changes.urlpatterns
urlpatterns += double.urlpatterns
urlpatterns += learning.urlpatterns
