"""Fixtures of the reliability tests: a real changebank data folder made by the command line once
per session, copied for each test, and a way to run the command in a subprocess against it."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES

ROOT = Path(__file__).resolve().parents[2]
SURVEY = FIXTURES / "surveys" / "surveymonkey.csv"


def cli_env(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "CHANGEBANK_DATA_DIR": str(data_dir), "CHANGEBANK_TASKS_IN_PROCESS": "0"}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    env.pop("DATABASE_URL", None)
    env.pop("CHANGEBANK_SQLITE_PATH", None)
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


def query(path: Path, sql: str, params: tuple = ()) -> list[tuple]:
    con = sqlite3.connect(path, timeout=30)
    try:
        return con.execute(sql, params).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory) -> Path:
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
    # A clean single file to copy: fold the WAL in.
    con = sqlite3.connect(db_path(data_dir))
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    con.close()
    return data_dir


@pytest.fixture
def data_dir(template_dir, tmp_path) -> Path:
    """A fresh copy of the template data folder."""
    target = tmp_path / "data"
    target.mkdir()
    for name in ("changebank.sqlite3", "secret_key"):
        shutil.copy2(template_dir / name, target / name)
    return target
