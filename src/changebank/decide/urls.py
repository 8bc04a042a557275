"""URLs of the Decide stage: each method's module lists its own pages in ``urlpatterns``."""

from .views import choice, longlist, opinion, overview, pairwise, panels

app_name = "decide"
urlpatterns = [
    *overview.urlpatterns,
    *panels.urlpatterns,
    *pairwise.urlpatterns,
    *opinion.urlpatterns,
    *choice.urlpatterns,
    *longlist.urlpatterns,
]
