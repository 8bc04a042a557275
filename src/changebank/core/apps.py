import sqlite3
from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def tune_sqlite(sender: Any, connection: Any, **kwargs: Any) -> None:
    """Use the SQLite library's real limit on query variables (Django assumes the old 999, which
    splits a bulk insert of 1,000 rows into ~60 statements), and a 64 MB page cache."""
    if connection.vendor != "sqlite":
        return
    limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    connection.features.max_query_params = max(999, limit)
    connection.connection.execute("PRAGMA cache_size = -65536")


class CoreConfig(AppConfig):
    name = "changebank.core"
    label = "core"
    verbose_name = "changebank core"

    def ready(self) -> None:
        from . import audit, roles

        post_migrate.connect(roles.ensure_roles_after_migrate, sender=self)
        connection_created.connect(tune_sqlite, dispatch_uid="changebank-tune-sqlite")
        audit.connect_signals()
