"""SIGKILL in the middle of `changebank import` and `changebank analyse`: no partial data, and the
job runs again cleanly.

The kill is timed by SQLite itself rather than by a guess at durations: both commands write their
results in one IMMEDIATE transaction, which holds the database's write lock from its first
statement to its commit. The test polls the lock (``BEGIN IMMEDIATE`` with no wait) and kills the
process while the lock is held, so the kill lands inside the transaction, after rows were written
to it and before it committed.
"""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from changebank.demo import FFT_SAMPLE

from .conftest import ROOT, cli_args, cli_env, db_path, query, run_cli

IMPORT_ROWS = 8_000
ANALYSE_ROWS = 400


class LockProbe:
    """Asks SQLite, without waiting, whether some connection holds the database's write lock."""

    def __init__(self, db: Path) -> None:
        self.con = sqlite3.connect(db, timeout=0, isolation_level=None)

    def held(self) -> bool:
        try:
            self.con.execute("BEGIN IMMEDIATE")
            self.con.execute("ROLLBACK")
            return False
        except sqlite3.OperationalError as exc:
            assert "locked" in str(exc) or "busy" in str(exc), exc
            return True

    def close(self) -> None:
        self.con.close()


def write_lock_held(db: Path) -> bool:
    probe = LockProbe(db)
    try:
        return probe.held()
    finally:
        probe.close()


def start(data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        cli_args(*args),
        env=cli_env(data_dir),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def kill_inside_transaction(
    proc: subprocess.Popen, db: Path, *, ready=lambda: True, hold: float = 0.0, limit: float = 120
) -> float:
    """SIGKILL ``proc`` while it holds the write lock (once ``ready()`` has been true, and after
    ``hold`` seconds of holding it); return the seconds since the process started."""
    started = time.monotonic()
    probe = LockProbe(db)
    is_ready = False
    try:
        while time.monotonic() - started < limit:
            assert proc.poll() is None, "the command finished before it could be killed: " + (
                proc.communicate()[0] or ""
            )
            is_ready = is_ready or ready()
            if is_ready and probe.held():
                locked_at = time.monotonic()
                while time.monotonic() - locked_at < hold:
                    time.sleep(0.02)
                if probe.held() and proc.poll() is None:
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(30)
                    assert proc.returncode == -signal.SIGKILL
                    return time.monotonic() - started
            if not is_ready:
                time.sleep(0.01)
    finally:
        probe.close()
    proc.kill()
    raise AssertionError("the command never held the write lock")


def big_csv(path: Path, rows: int) -> Path:
    words = [
        "staff",
        "kind",
        "helpful",
        "rude",
        "slow",
        "quick",
        "parking",
        "waiting",
        "appointment",
        "nurse",
        "clean",
        "food",
    ]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Response ID", "Comment", "Date"])
        for i in range(rows):
            text = " ".join(words[(i * 7 + k) % len(words)] for k in range(10))
            writer.writerow([f"R{i:06d}", f"{text} ({i})", "2024-03-01 10:00"])
    return path


def test_sigkill_during_import_leaves_nothing_and_the_import_reruns(data_dir, tmp_path):
    db = db_path(data_dir)
    source = big_csv(tmp_path / "big.csv", IMPORT_ROWS)
    count = "SELECT count(*) FROM listen_submission"
    before = {
        "submissions": query(db, count)[0][0],
        "respondents": query(db, "SELECT count(*) FROM listen_respondent")[0][0],
        "batches": query(db, "SELECT count(*) FROM listen_importbatch")[0][0],
    }
    assert before["submissions"] == 18

    proc = start(data_dir, "import", str(source), "--programme", "survey")
    # Hold on until a few batches of 1,000 rows have been written inside the transaction.
    killed_after = kill_inside_transaction(proc, db, hold=1.0)

    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    assert not write_lock_held(db)  # the dead process's lock went with it
    assert query(db, count)[0][0] == before["submissions"]
    assert query(db, "SELECT count(*) FROM listen_respondent")[0][0] == before["respondents"]
    assert query(db, "SELECT count(*) FROM listen_importbatch")[0][0] == before["batches"]
    assert query(db, "SELECT count(*) FROM listen_importbatch WHERE filename = 'big.csv'") == [(0,)]
    assert query(db, "SELECT count(*) FROM core_auditevent WHERE action = 'import'")[0][0] == 1

    started = time.monotonic()
    again = run_cli(data_dir, "import", str(source), "--programme", "survey")
    full_run = time.monotonic() - started
    assert f"{IMPORT_ROWS:,} added" in again.stdout, again.stdout
    assert query(db, count)[0][0] == before["submissions"] + IMPORT_ROWS
    rows = query(
        db,
        "SELECT count(*), count(DISTINCT source_row), count(DISTINCT dedupe_key) "
        "FROM listen_submission s JOIN listen_importbatch b ON s.import_batch_id = b.id "
        "WHERE b.filename = 'big.csv'",
    )
    assert rows == [(IMPORT_ROWS, IMPORT_ROWS, IMPORT_ROWS)]  # every row exactly once
    assert query(
        db, "SELECT status, rows_read, rows_added FROM listen_importbatch WHERE filename='big.csv'"
    ) == [("completed", IMPORT_ROWS, IMPORT_ROWS)]
    print(f"killed after {killed_after:.1f} s; the whole import took {full_run:.1f} s")


RESULT_TABLES = [
    "understand_code",
    "understand_theme",
    "understand_codeassignment",
    "understand_distinctchange",
    "understand_submissionreading",
]


def fft_csv(path: Path, rows: int) -> Path:
    with FFT_SAMPLE.open(encoding="utf-8") as fh:
        records = list(csv.DictReader(fh))[:rows]
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Comment ID", "Comment"])
        for r in records:
            writer.writerow([r["Comment ID"], r["FFT answer"]])
    return path


def test_sigkill_during_analysis_leaves_no_partial_results_and_the_task_reruns(data_dir, tmp_path):
    db = db_path(data_dir)
    run_cli(
        data_dir,
        "import",
        str(fft_csv(tmp_path / "fft.csv", ANALYSE_ROWS)),
        "--programme",
        "survey",
    )
    counts = {t: f"SELECT count(*) FROM {t}" for t in RESULT_TABLES}
    assert all(query(db, sql) == [(0,)] for sql in counts.values())

    reader = sqlite3.connect(db, timeout=5)

    def saving() -> bool:
        rows = reader.execute("SELECT stage FROM core_task ORDER BY id DESC LIMIT 1").fetchall()
        return bool(rows) and rows[0][0] == "Saving the results"

    proc = start(data_dir, "analyse", "--programme", "survey")
    try:
        kill_inside_transaction(proc, db, ready=saving)
    finally:
        reader.close()

    # Nothing of the killed run is visible: it was writing inside one transaction.
    assert query(db, "PRAGMA integrity_check") == [("ok",)]
    for table, sql in counts.items():
        assert query(db, sql) == [(0,)], table
    task = query(db, "SELECT id, status FROM core_task ORDER BY id DESC LIMIT 1")[0]
    assert task[1] == "running"  # left as the process died: the worker must recover it

    # `changebank worker --once` queues again a task whose process is gone, then runs it
    ran = run_cli(data_dir, "worker", "--once")
    assert "Queued again 1 task(s) left running by a stopped worker." in ran.stdout
    assert "Ran 1 task(s)." in ran.stdout
    status, result = query(db, f"SELECT status, result FROM core_task WHERE id = {task[0]}")[0]
    assert status == "done", result
    assert query(db, counts["understand_code"])[0][0] > 0
    assert query(db, counts["understand_submissionreading"])[0][0] == ANALYSE_ROWS + 18
    # The rerun replaced nothing half-made: every assignment points at an existing code.
    assert query(
        db,
        "SELECT count(*) FROM understand_codeassignment a "
        "LEFT JOIN understand_code c ON a.code_id = c.id WHERE c.id IS NULL",
    ) == [(0,)]
