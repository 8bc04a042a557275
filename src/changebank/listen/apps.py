from django.apps import AppConfig


class ListenConfig(AppConfig):
    name = "changebank.listen"
    label = "listen"
    verbose_name = "Listen"
