"""URLs of the Share stage: each part's module lists its own pages in ``urlpatterns``."""

from .views import api_pages, catalogue, opendata, refi, reports

app_name = "share"
urlpatterns = [
    *catalogue.urlpatterns,
    *reports.urlpatterns,
    *opendata.urlpatterns,
    *refi.urlpatterns,
    *api_pages.urlpatterns,
]
