"""Shared fixtures: real data files, programmes and users with each role."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _shared_data() -> Path:
    """The shared real data: $CHANGEBANK_SHARED_DATA, else ../shared/data beside the checkout, else
    beside the repository this one was cloned from (a fresh clone in a temporary folder)."""
    if os.environ.get("CHANGEBANK_SHARED_DATA"):
        return Path(os.environ["CHANGEBANK_SHARED_DATA"])
    beside = ROOT.parent / "shared" / "data"
    if beside.exists():
        return beside
    import subprocess

    origin = subprocess.run(
        ["git", "-C", str(ROOT), "config", "--get", "remote.origin.url"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    if origin and Path(origin).is_dir():
        cloned_from = Path(origin).resolve().parent / "shared" / "data"
        if cloned_from.exists():
            return cloned_from
    return beside


SHARED_DATA = _shared_data()
FIXTURES = Path(__file__).parent / "fixtures"


def on_postgres() -> bool:
    """True when this run of the suite is on PostgreSQL (``make test``'s second run)."""
    return os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))


_COMMAND_DATABASES: dict[str, str] = {}


def command_env(data_dir: Path | str, **extra: str) -> dict[str, str]:
    """The environment for running ``changebank`` in a subprocess on ``data_dir``: a SQLite file
    in that folder, or, when the suite runs on PostgreSQL, a database of its own on the test
    server (one per data folder, so commands run on the same folder share it)."""
    env = {**os.environ, "CHANGEBANK_DATA_DIR": str(data_dir), **extra}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("CHANGEBANK_SQLITE_PATH", None)
    if on_postgres():
        from tests.pgserver import create_database

        key = str(Path(data_dir).resolve())
        if key not in _COMMAND_DATABASES:
            _COMMAND_DATABASES[key] = create_database(os.environ["DATABASE_URL"])
        env["DATABASE_URL"] = _COMMAND_DATABASES[key]
    return env


def command_db(data_dir: Path | str) -> Any:
    """A DB-API connection to the database that commands run on ``data_dir`` use (see
    :func:`command_env`): ``connection.execute(sql).fetchone()`` works on both databases."""
    if on_postgres():
        import psycopg

        url = command_env(data_dir)["DATABASE_URL"]
        return psycopg.connect(url.replace("postgres://", "postgresql://", 1), autocommit=True)
    import sqlite3

    return sqlite3.connect(Path(data_dir) / "changebank.sqlite3")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests of one database's own features run only on that database."""
    postgres = on_postgres()
    for item in items:
        if postgres and item.get_closest_marker("sqlite_only"):
            item.add_marker(
                pytest.mark.skip(reason="SQLite's own feature; this run is on PostgreSQL")
            )
        if not postgres and item.get_closest_marker("postgres_only"):
            item.add_marker(
                pytest.mark.skip(reason="PostgreSQL's own feature; this run is on SQLite")
            )


def shared(*parts: str) -> Path:
    """A file from the shared real data beside the checkout; missing data fails the test, because
    a skipped import test proves nothing (set CHANGEBANK_SKIP_MISSING_DATA=1 to skip instead)."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        message = f"shared data not present: {path} (the tests expect ../shared beside the checkout, or CHANGEBANK_SHARED_DATA)"
        if os.environ.get("CHANGEBANK_SKIP_MISSING_DATA") == "1":
            pytest.skip(message)
        pytest.fail(message)
    return path


@pytest.fixture
def programme(db):
    from changebank.listen.models import Programme

    return Programme.objects.create(title="Test programme", slug="test", visibility="public")


@pytest.fixture
def analyst(db):
    from django.contrib.auth.models import Group, User

    from changebank.core.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user("ana", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="analyst"))
    return user
