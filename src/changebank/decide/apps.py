from django.apps import AppConfig


class DecideConfig(AppConfig):
    name = "changebank.decide"
    label = "decide"
    verbose_name = "Decide"
