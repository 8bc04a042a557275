"""Fixtures of the reliability tests: a real changebank data folder made by the command line once
per session, copied for each test, and a way to run the command in a subprocess against it.

The folder's database is its SQLite file, or, in the suite's PostgreSQL run, a database of its own
on the test server: the session's template is made once on a database of its own, and each test
gets a copy of it (``CREATE DATABASE ... TEMPLATE``), dropped after the test. :func:`cli_env`,
:func:`query` and ``tests.conftest.command_env`` / ``command_db`` all reach that database.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlparse, urlunparse

import pytest

import tests.conftest as suite
from tests.conftest import FIXTURES, command_db, command_env, on_postgres
from tests.pgserver import admin_connection

ROOT = Path(__file__).resolve().parents[2]
SURVEY = FIXTURES / "surveys" / "surveymonkey.csv"


def cli_env(data_dir: Path) -> dict[str, str]:
    """The environment for `changebank` on ``data_dir``: its SQLite file, or on PostgreSQL its
    database (see ``tests.conftest.command_env``); tasks are not run in the command's process."""
    env = command_env(data_dir, CHANGEBANK_TASKS_IN_PROCESS="0")
    if not on_postgres():
        env.pop("DATABASE_URL", None)
    return env


def cli_args(*args: str) -> list[str]:
    return [sys.executable, "-m", "changebank.cli", *args]


def run_cli(data_dir: Path, *args: str, check: bool = True, timeout: float = 120):
    result = subprocess.run(
        cli_args(*args),
        capture_output=True,
        text=True,
        env=cli_env(data_dir),
        cwd=ROOT,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(result.stdout + result.stderr)
    return result


def db_path(data_dir: Path) -> Path:
    return data_dir / "changebank.sqlite3"


def query(target: Path, sql: str, params: tuple = ()) -> list[tuple]:
    """The rows of ``sql`` on a SQLite file, or on a data folder's database (its SQLite file, or in
    the PostgreSQL run its database on the server). Placeholders are written ``?`` either way."""
    target = Path(target)
    if target.is_dir() and on_postgres():
        con = command_db(target)
        if not params:
            params = None  # psycopg reads "%" in a query as a placeholder only with parameters
        else:
            sql = sql.replace("%", "%%").replace("?", "%s")
    else:
        con = sqlite3.connect(db_path(target) if target.is_dir() else target, timeout=30)
    try:
        return [tuple(row) for row in con.execute(sql, params).fetchall()]
    finally:
        con.close()


# --- PostgreSQL: a database per data folder, copied from the session's template ------------------


def copy_database(template_url: str) -> str:
    """A new database on the server holding a copy of the database of ``template_url``, which must
    have no open connections; returns its URL."""
    import psycopg

    template = urlparse(template_url).path.lstrip("/")
    name = f"cb_{uuid.uuid4().hex[:12]}"
    for attempt in range(10):
        try:
            with admin_connection(template_url) as con:
                con.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
            break
        except psycopg.errors.ObjectInUse:
            # "source database is being accessed by other users": a backend of a command that has
            # just ended, not gone yet (PostgreSQL itself waits 5 s for them before refusing)
            if attempt == 9:
                raise
            time.sleep(0.5)
    return urlunparse(urlparse(template_url)._replace(path=f"/{name}"))


def _folder_key(data_dir: Path) -> str:
    return str(Path(data_dir).resolve())  # as tests.conftest.command_env keys its databases


# --- the data folders ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory) -> Iterator[Path]:
    """A data folder after `changebank init`, with programme 'survey' holding 18 submissions."""
    data_dir = tmp_path_factory.mktemp("template")
    # Three commands in one process (as three `changebank` runs would do, without three start-ups).
    script = (
        "import sys\n"
        "from changebank.cli import main\n"
        "for argv in (['init'], ['programme', 'create', '--title', 'Survey', '--slug', 'survey'],"
        f" ['import', {str(SURVEY)!r}, '--programme', 'survey']):\n"
        "    assert main(argv) == 0, argv\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        env=cli_env(data_dir),
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "18 submissions" in done.stdout, done.stdout
    if on_postgres():
        # The process has ended: its database has no connection left and can be copied.
        yield data_dir
        from tests.pgserver import drop_database

        drop_database(suite._COMMAND_DATABASES.pop(_folder_key(data_dir)))
        return
    # A clean single file to copy: fold the WAL in.
    con = sqlite3.connect(db_path(data_dir))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    yield data_dir


@pytest.fixture
def data_dir(template_dir, tmp_path) -> Iterator[Path]:
    """A fresh copy of the template data folder: its files, and its SQLite file or, on
    PostgreSQL, a database of its own copied from the template's."""
    target = tmp_path / "data"
    target.mkdir()
    if not on_postgres():
        for name in ("changebank.sqlite3", "secret_key"):
            shutil.copy2(template_dir / name, target / name)
        yield target
        return
    from tests.pgserver import drop_database

    shutil.copy2(template_dir / "secret_key", target / "secret_key")
    url = copy_database(suite._COMMAND_DATABASES[_folder_key(template_dir)])
    suite._COMMAND_DATABASES[_folder_key(target)] = url
    try:
        yield target
    finally:
        suite._COMMAND_DATABASES.pop(_folder_key(target), None)
        drop_database(url)
