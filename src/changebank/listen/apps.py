from django.apps import AppConfig


class ListenConfig(AppConfig):
    name = "changebank.listen"
    label = "listen"
    verbose_name = "Listen"

    def ready(self) -> None:
        from . import rights  # noqa: F401  (registers the retention task, listen.purge)
