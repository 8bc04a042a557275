"""URL map: one include per stage of the journey."""

from django.urls import include, path
from django.views.generic import RedirectView

from changebank.share.api import api

urlpatterns = [
    path("", include("changebank.core.urls")),
    path("", include("changebank.listen.urls")),
    path("", include("changebank.understand.urls")),
    path("", include("changebank.decide.urls")),
    path("", include("changebank.evaluate.urls")),
    path("", include("changebank.share.urls")),
    path("api/v1/", RedirectView.as_view(pattern_name="share:api_docs")),
    path("api/v1/", api.urls),
]

handler403 = "changebank.core.views.forbidden"
handler404 = "changebank.core.views.not_found"
handler500 = "changebank.core.views.server_error"
