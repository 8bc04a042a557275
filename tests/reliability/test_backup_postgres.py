"""`changebank backup` and `restore` against a real PostgreSQL server (pg_dump / pg_restore).

Runs in the suite's PostgreSQL run: the commands work on a database of their own on the test server.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import FIXTURES, command_env

pytestmark = [pytest.mark.postgres_only, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]


def changebank(data_dir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(
        [sys.executable, "-m", "changebank.cli", *args],
        capture_output=True,
        text=True,
        env=command_env(data_dir, CHANGEBANK_TASKS_IN_PROCESS="0"),
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    if check and done.returncode != 0:
        raise AssertionError(done.stdout + done.stderr)
    return done


def count_submissions(data_dir: Path) -> int:
    import psycopg

    url = command_env(data_dir)["DATABASE_URL"].replace("postgres://", "postgresql://", 1)
    with psycopg.connect(url) as con:
        return con.execute("SELECT count(*) FROM listen_submission").fetchone()[0]


def test_backup_and_restore_on_postgresql(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    changebank(data, "init")
    changebank(data, "programme", "create", "--title", "Survey", "--slug", "survey")
    changebank(
        data, "import", str(FIXTURES / "surveys" / "surveymonkey.csv"), "--programme", "survey"
    )
    assert count_submissions(data) == 18

    made = changebank(data, "backup", str(tmp_path / "survey.pgdump"))
    assert (tmp_path / "survey.pgdump").read_bytes()[:5] == b"PGDMP"
    assert "postgresql" in made.stdout.lower() or "survey.pgdump" in made.stdout

    # Change the database after the backup: a second programme with the same 18 answers.
    changebank(data, "programme", "create", "--title", "Later", "--slug", "later")
    changebank(
        data, "import", str(FIXTURES / "surveys" / "surveymonkey.csv"), "--programme", "later"
    )
    assert count_submissions(data) == 36

    junk = tmp_path / "junk.pgdump"
    junk.write_bytes(b"not a dump")
    refused = changebank(data, "restore", str(junk), check=False)
    assert refused.returncode != 0 and "junk.pgdump" in refused.stderr
    assert count_submissions(data) == 36  # a refused restore changes nothing

    changebank(data, "restore", str(tmp_path / "survey.pgdump"), "--force")
    assert count_submissions(data) == 18
    listed = changebank(data, "programme", "list").stdout
    assert "survey" in listed and "later" not in listed
    # The restored database still takes new data (sequences restored with the tables).
    changebank(
        data, "import", str(FIXTURES / "surveys" / "surveymonkey.csv"), "--programme", "survey"
    )
