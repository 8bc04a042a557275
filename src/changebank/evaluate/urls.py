"""URLs of the Evaluate stage: each part's module lists its own pages in ``urlpatterns``."""

from .views import changes, design, evaluations, metrics, pulse, repository

app_name = "evaluate"
urlpatterns = [
    *changes.urlpatterns,
    *design.urlpatterns,
    *pulse.urlpatterns,
    *evaluations.urlpatterns,
    *metrics.urlpatterns,
    *repository.urlpatterns,
]
