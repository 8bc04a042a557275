from django.apps import AppConfig


class UnderstandConfig(AppConfig):
    name = "changebank.understand"
    label = "understand"
    verbose_name = "Understand"

    def ready(self) -> None:
        from . import (
            analyse,  # noqa: F401  (registers the analysis task)
            learning,  # noqa: F401  (registers the retraining task)
        )
