"""SIGKILL in the middle of `changebank import` and `changebank analyse`: no partial data, and the
job runs again cleanly, on SQLite and on PostgreSQL.

The kill is timed by the database itself rather than by a guess at durations: both commands write
their results in one transaction. On SQLite it is an IMMEDIATE transaction, which holds the
database's write lock from its first statement to its commit: the test polls the lock
(``BEGIN IMMEDIATE`` with no wait). On PostgreSQL a transaction gets a transaction id at its first
write and keeps it until it ends: the test polls ``pg_stat_activity`` for it. Either way the test
kills the process while the transaction is open, so the kill lands inside it, after rows were
written to it and before it committed; on PostgreSQL the test also checks which tables the
transaction had written to when it was killed, and that the server rolled it back.
"""

from __future__ import annotations

import csv
import os
import signal
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from changebank.demo import FFT_SAMPLE
from tests.conftest import command_db, on_postgres

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

    def written(self, held: Any) -> set[str] | None:
        return None  # SQLite does not say which tables a transaction has written to

    def ended(self, held: Any, timeout: float = 30) -> str | None:
        return None  # the lock goes with the process (checked with write_lock_held)

    def close(self) -> None:
        self.con.close()


class TransactionProbe:
    """Asks PostgreSQL whether another connection to the database is inside a transaction that has
    written (it holds a transaction id): ``held()`` is its backend's pid and transaction id.

    The oldest such transaction is the command's: the progress a task writes aside, on short
    connections of their own (``core.tasks.write_progress``), comes and goes within it."""

    def __init__(self, data_dir: Path) -> None:
        self.con = command_db(data_dir)

    def held(self) -> tuple[int, int] | None:
        row = self.con.execute(
            "SELECT pid, backend_xid::text FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid() "
            "AND backend_xid IS NOT NULL ORDER BY xact_start LIMIT 1"
        ).fetchone()
        return (row[0], int(row[1])) if row else None

    def written(self, held: tuple[int, int]) -> set[str]:
        """The tables the transaction of ``held`` has inserted, updated or deleted rows in."""
        rows = self.con.execute(
            "SELECT c.relname FROM pg_locks l JOIN pg_class c ON c.oid = l.relation "
            "WHERE l.pid = %s AND l.mode = 'RowExclusiveLock' AND l.granted AND c.relkind = 'r'",
            (held[0],),
        ).fetchall()
        return {name for (name,) in rows}

    def ended(self, held: tuple[int, int], timeout: float = 30) -> str:
        """Wait until the killed command's backend has gone; the outcome of its transaction
        (``txid_status``: committed, aborted or in progress)."""
        pid, xid = held
        deadline = time.monotonic() + timeout
        while self.con.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
        ).fetchone()[0]:
            assert time.monotonic() < deadline, f"the backend {pid} of the killed command lives on"
            time.sleep(0.05)
        # A transaction id is its 64-bit id's low 32 bits; the throwaway server's epoch is 0.
        return self.con.execute("SELECT txid_status(%s)", (xid,)).fetchone()[0]

    def close(self) -> None:
        self.con.close()


def write_lock_held(db: Path) -> bool:
    probe = LockProbe(db)
    try:
        return probe.held()
    finally:
        probe.close()


def open_connections(data_dir: Path) -> int:
    """PostgreSQL: the client connections to the folder's database other than this one."""
    return query(
        data_dir,
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_type = 'client backend'",
    )[0][0]


def start(data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        cli_args(*args),
        env=cli_env(data_dir),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


@dataclass
class Killed:
    seconds: float  # from the start of the process to the kill
    written: set[str] | None  # PostgreSQL: the tables the transaction had written to
    outcome: str | None  # PostgreSQL: what became of the transaction once the backend had gone


def has_written(probe: LockProbe | TransactionProbe, held: Any, tables: frozenset[str]) -> bool:
    """Whether the transaction has written to ``tables`` (always, where the database cannot say)."""
    written = probe.written(held)
    return written is None or tables <= written


def hold_on(
    proc: subprocess.Popen,
    probe: LockProbe | TransactionProbe,
    held: Any,
    *,
    hold: float,
    wrote: frozenset[str],
    deadline: float,
) -> None:
    """Wait ``hold`` seconds, then until the transaction ``held`` has written to the tables
    ``wrote`` (where the database says); sooner if the process or the transaction ends."""
    locked_at = time.monotonic()
    while time.monotonic() < deadline and proc.poll() is None:
        if time.monotonic() - locked_at >= hold and (
            has_written(probe, held, wrote) or probe.held() != held
        ):
            return
        time.sleep(0.02)


def kill_inside_transaction(
    proc: subprocess.Popen,
    data_dir: Path,
    *,
    ready=lambda: True,
    hold: float = 0.0,
    wrote: frozenset[str] = frozenset(),
    limit: float = 120,
) -> Killed:
    """SIGKILL ``proc`` while it holds the write lock (SQLite) or an open write transaction
    (PostgreSQL), once ``ready()`` has been true, after ``hold`` seconds of holding it and, on
    PostgreSQL, once the transaction has written to the tables ``wrote``."""
    started = time.monotonic()
    probe = TransactionProbe(data_dir) if on_postgres() else LockProbe(db_path(data_dir))
    is_ready = False
    try:
        while time.monotonic() - started < limit:
            assert proc.poll() is None, "the command finished before it could be killed: " + (
                proc.communicate()[0] or ""
            )
            is_ready = is_ready or ready()
            held = is_ready and probe.held()
            if held:
                hold_on(proc, probe, held, hold=hold, wrote=wrote, deadline=started + limit)
                written = probe.written(held)
                if probe.held() == held and proc.poll() is None:  # the same transaction, open
                    os.kill(proc.pid, signal.SIGKILL)
                    seconds = time.monotonic() - started
                    proc.wait(30)
                    assert proc.returncode == -signal.SIGKILL
                    return Killed(seconds, written, probe.ended(held))
            if not is_ready:
                time.sleep(0.01)
    finally:
        probe.close()
    proc.kill()
    raise AssertionError("the command never held the write lock (or write transaction) long enough")


def assert_the_killed_transaction_left_nothing(data_dir: Path, killed: Killed) -> None:
    """The database is whole and nothing holds it: SQLite's file passes its integrity check and
    its write lock went with the dead process; PostgreSQL rolled the transaction back and no
    connection is left open."""
    if on_postgres():
        assert killed.outcome == "aborted", killed
        assert open_connections(data_dir) == 0
    else:
        assert query(db_path(data_dir), "PRAGMA integrity_check") == [("ok",)]
        assert not write_lock_held(db_path(data_dir))  # the dead process's lock went with it


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
    db = data_dir  # its database: the SQLite file, or on PostgreSQL its own (see query)
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
    killed = kill_inside_transaction(
        proc, data_dir, hold=1.0, wrote=frozenset({"listen_importbatch", "listen_submission"})
    )

    assert_the_killed_transaction_left_nothing(data_dir, killed)
    if killed.written is not None:  # killed after it had written submissions, not before
        assert {"listen_importbatch", "listen_submission"} <= killed.written, killed
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
    print(f"killed after {killed.seconds:.1f} s; the whole import took {full_run:.1f} s; {killed}")


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
    db = data_dir  # its database: the SQLite file, or on PostgreSQL its own (see query)
    run_cli(
        data_dir,
        "import",
        str(fft_csv(tmp_path / "fft.csv", ANALYSE_ROWS)),
        "--programme",
        "survey",
    )
    counts = {t: f"SELECT count(*) FROM {t}" for t in RESULT_TABLES}
    assert all(query(db, sql) == [(0,)] for sql in counts.values())

    reader = (
        command_db(data_dir) if on_postgres() else sqlite3.connect(db_path(data_dir), timeout=5)
    )

    def saving() -> bool:
        rows = reader.execute("SELECT stage FROM core_task ORDER BY id DESC LIMIT 1").fetchall()
        return bool(rows) and rows[0][0] == "Saving the results"

    proc = start(data_dir, "analyse", "--programme", "survey")
    try:
        killed = kill_inside_transaction(proc, data_dir, ready=saving)
    finally:
        reader.close()

    # Nothing of the killed run is visible: it was writing inside one transaction.
    assert_the_killed_transaction_left_nothing(data_dir, killed)
    if killed.written is not None:  # killed after it had written results, not before
        assert killed.written & set(RESULT_TABLES), killed
    for table, sql in counts.items():
        assert query(db, sql) == [(0,)], table
    print(killed)
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
