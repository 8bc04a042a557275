"""URLs of the Decide stage: each method's module lists its own pages in ``urlpatterns``."""

from .views import overview

app_name = "decide"
urlpatterns = [*overview.urlpatterns]
