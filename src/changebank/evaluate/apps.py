from django.apps import AppConfig


class EvaluateConfig(AppConfig):
    name = "changebank.evaluate"
    label = "evaluate"
    verbose_name = "Evaluate"
