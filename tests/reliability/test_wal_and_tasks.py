"""SQLite in WAL mode with a busy timeout, and the recovery of tasks a dead process left running."""

from __future__ import annotations

import argparse
import json
import socket
import sqlite3
import subprocess
import sys
import time

import pytest

from .conftest import ROOT, cli_env, db_path

WAITER = r"""
import json, sys, time
import django
django.setup()
from django.db import connection, transaction
from changebank.listen.models import Programme
with connection.cursor() as c:
    mode = c.execute("PRAGMA journal_mode").fetchone()[0]
    timeout = c.execute("PRAGMA busy_timeout").fetchone()[0]
print(json.dumps({"journal_mode": mode, "busy_timeout": timeout}), flush=True)
sys.stdin.readline()  # the test takes the write lock, then says go
started = time.monotonic()
try:
    with transaction.atomic():
        Programme.objects.create(title="Written while locked", slug="while-locked")
    outcome = "ok"
except Exception as exc:
    outcome = f"{type(exc).__name__}: {exc}"
print(json.dumps({"outcome": outcome, "waited": time.monotonic() - started}), flush=True)
"""


@pytest.mark.sqlite_only
def test_wal_and_a_writer_waits_for_the_lock_instead_of_failing(data_dir):
    db = db_path(data_dir)
    env = {**cli_env(data_dir), "DJANGO_SETTINGS_MODULE": "changebank.settings"}
    waiter = subprocess.Popen(
        [sys.executable, "-c", WAITER],
        env=env,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        pragmas = json.loads(waiter.stdout.readline())
        assert pragmas == {"journal_mode": "wal", "busy_timeout": 30_000}
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE listen_programme SET title = title")
        waiter.stdin.write("go\n")
        waiter.stdin.flush()
        time.sleep(2.0)  # longer than SQLite's default 5 ms spin, far less than the 30 s timeout
        assert waiter.poll() is None  # still waiting, not failed with "database is locked"
        holder.execute("COMMIT")
        holder.close()
        outcome = json.loads(waiter.stdout.readline())
    finally:
        waiter.kill()
        waiter.wait()
    assert outcome["outcome"] == "ok"
    assert outcome["waited"] >= 1.5
    con = sqlite3.connect(db)
    assert con.execute(
        "SELECT count(*) FROM listen_programme WHERE slug='while-locked'"
    ).fetchone() == (1,)
    con.close()


# --- tasks a killed process left running ----------------------------------------------------------


@pytest.fixture
def noop_task():
    from changebank.core.tasks import REGISTRY, task

    calls = []
    task("reliability.noop")(lambda row, **params: calls.append(row.pk) or {"ok": True})
    yield calls
    REGISTRY.pop("reliability.noop", None)


@pytest.mark.django_db
def test_recover_interrupted_requeues_a_task_left_running(noop_task):
    from changebank.core.models import Task
    from changebank.core.tasks import claim_next, enqueue, recover_interrupted, run_pending

    row = enqueue("reliability.noop", start=False)
    assert claim_next().pk == row.pk  # a worker took it, then was killed:
    dead = subprocess.Popen(["true"])
    dead.wait()  # its pid now names no process
    Task.objects.filter(pk=row.pk).update(claimed_by=f"{socket.gethostname()}:{dead.pid}")
    assert recover_interrupted() == 1
    assert run_pending() == 1 and noop_task == [row.pk]
    row.refresh_from_db()
    assert row.status == Task.Status.DONE


@pytest.mark.django_db
def test_worker_once_reruns_a_task_left_running_by_a_killed_process(noop_task):
    from changebank.cli import cmd_worker
    from changebank.core.models import Task
    from changebank.core.tasks import claim_next, enqueue

    row = enqueue("reliability.noop", start=False)
    assert claim_next().pk == row.pk  # then SIGKILL: the row stays 'running'
    dead = subprocess.Popen(["true"])  # a process that has ended: its pid names no process
    dead.wait()
    Task.objects.filter(pk=row.pk).update(claimed_by=f"{socket.gethostname()}:{dead.pid}")
    cmd_worker(argparse.Namespace(once=True))
    assert noop_task == [row.pk]


@pytest.mark.django_db
def test_a_second_worker_starting_does_not_take_a_running_task(noop_task):
    from changebank.core.tasks import claim_next, enqueue, recover_interrupted

    row = enqueue("reliability.noop", start=False)
    assert claim_next().pk == row.pk  # worker A is running it, alive
    recover_interrupted()  # worker B starts: work_forever() recovers first
    assert claim_next() is None  # ... and must not get A's task
