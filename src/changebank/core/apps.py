from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "changebank.core"
    label = "core"
    verbose_name = "changebank core"

    def ready(self) -> None:
        from . import audit, roles

        post_migrate.connect(roles.ensure_roles_after_migrate, sender=self)
        audit.connect_signals()
