"""Background workers: retries with back-off, idempotency keys, leases and heartbeats, progress,
and several worker processes draining one queue, on SQLite and on PostgreSQL."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from changebank.core import tasks
from changebank.core.models import Task
from tests.conftest import command_env

ROOT = Path(__file__).resolve().parents[2]


# --- tasks of these tests -------------------------------------------------------------------------


@pytest.fixture
def registered():
    """Register the tasks of a test; forget them afterwards."""
    names = []

    def register(name, func, **options):
        tasks.task(name, **options)(func)
        names.append(name)
        return name

    yield register
    for name in names:
        tasks.REGISTRY.pop(name, None)
        tasks.DEFAULT_ATTEMPTS.pop(name, None)


def flaky(failures: int):
    """A task that fails its first ``failures`` attempts, then succeeds."""

    def func(row, **params):
        if row.attempts <= failures:
            raise ConnectionError(f"the service is down (attempt {row.attempts})")
        return {"attempt": row.attempts}

    return func


def make_due(row: Task) -> None:
    """Bring a retry's time forward instead of sleeping until it."""
    Task.objects.filter(pk=row.pk).update(run_after=timezone.now() - dt.timedelta(seconds=1))


def seconds_until(when: dt.datetime) -> float:
    return (when - timezone.now()).total_seconds()


# --- retries --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_failing_task_is_retried_with_exponential_backoff_until_it_succeeds(registered):
    name = registered("workers.flaky", flaky(2))
    row = tasks.enqueue(name, start=False)
    assert (row.attempts, row.max_attempts, row.status) == (0, 3, Task.Status.QUEUED)

    assert tasks.run_pending() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Task.Status.QUEUED, 1)
    assert row.error == "ConnectionError: the service is down (attempt 1)"
    assert "flaky" in row.traceback or "func" in row.traceback
    assert row.claimed_by == "" and "Attempt 1 of 3 failed" in row.stage
    assert 29 < seconds_until(row.run_after) <= 33.5  # 30 s, plus up to a tenth at random
    assert tasks.run_pending() == 0  # not before its time
    assert tasks.claim_next() is None

    make_due(row)
    assert tasks.run_pending() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Task.Status.QUEUED, 2)
    assert 59 < seconds_until(row.run_after) <= 66.5  # doubled

    make_due(row)
    assert tasks.run_pending() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Task.Status.DONE, 3)
    assert row.result == {"attempt": 3} and row.error == "" and row.traceback == ""
    assert [a["outcome"] for a in row.attempt_log] == ["retry", "retry", "done"]
    assert [a["attempt"] for a in row.attempt_log] == [1, 2, 3]
    assert "attempt 2" in row.attempt_log[1]["error"]


@pytest.mark.django_db
def test_a_task_failing_every_attempt_fails_with_its_traceback(registered):
    def broken(row):
        raise OSError(f"disk full on attempt {row.attempts}")

    name = registered("workers.broken", broken)
    row = tasks.enqueue(name, start=False, max_attempts=2)
    assert tasks.run_pending() == 1
    make_due(row)
    assert tasks.run_pending() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.stage) == (Task.Status.FAILED, 2, "Failed")
    assert row.error == "OSError: disk full on attempt 2"
    assert "Traceback (most recent call last)" in row.traceback
    assert "in broken" in row.traceback
    assert [a["outcome"] for a in row.attempt_log] == ["retry", "failed"]
    assert row.finished_at is not None
    make_due(row)
    assert tasks.run_pending() == 0  # nothing left to retry


@pytest.mark.django_db
def test_permanent_errors_and_foreground_runs_are_not_retried(registered):
    def invalid(row):
        raise tasks.PermanentError("the file is not a survey export")

    name = registered("workers.invalid", invalid)
    row = tasks.enqueue(name, start=False)
    tasks.run_pending()
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Task.Status.FAILED, 1)
    assert row.error == "PermanentError: the file is not a survey export"

    # a caller running a task itself sees its failure at once (as `changebank analyse` does)
    flaky_name = registered("workers.flaky", flaky(1))
    row = tasks.enqueue(flaky_name, start=False)
    done = tasks.run(tasks.claim(row.pk))
    assert (done.status, done.attempts) == (Task.Status.FAILED, 1)
    assert Task.objects.get(pk=row.pk).status == Task.Status.FAILED


@pytest.mark.django_db
def test_a_task_can_ask_to_be_retried_after_a_delay_of_its_choosing(registered):
    def rate_limited(row):
        if row.attempts == 1:
            raise tasks.Retry("rate limited", delay=5)
        return {"ok": True}

    name = registered("workers.rate_limited", rate_limited, max_attempts=4)
    row = tasks.enqueue(name, start=False)
    assert row.max_attempts == 4  # the task's own default
    tasks.run_pending()
    row.refresh_from_db()
    assert row.status == Task.Status.QUEUED and 4 < seconds_until(row.run_after) <= 5
    make_due(row)
    tasks.run_pending()
    row.refresh_from_db()
    assert row.status == Task.Status.DONE and row.attempts == 2


@pytest.mark.django_db
def test_run_after_holds_a_task_back_but_claiming_it_by_id_takes_it_now(registered):
    name = registered("workers.flaky", flaky(0))
    later = tasks.enqueue(name, start=False, run_after=timezone.now() + dt.timedelta(hours=1))
    assert tasks.claim_next() is None
    assert tasks.claim(later.pk).pk == later.pk
    with pytest.raises(ValueError, match="max_attempts"):
        tasks.enqueue(name, start=False, max_attempts=0)


# --- idempotency ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_an_idempotency_key_returns_the_task_already_queued(registered):
    name = registered("workers.flaky", flaky(0))
    first = tasks.enqueue(name, start=False, key="export:programme-7:2026-11-24", n=1)
    again = tasks.enqueue(name, start=False, key="export:programme-7:2026-11-24", n=2)
    assert again.pk == first.pk and again.params == {"n": 1}
    assert Task.objects.filter(key="export:programme-7:2026-11-24").count() == 1
    assert tasks.run_pending() == 1
    after = tasks.enqueue(name, start=False, key="export:programme-7:2026-11-24")
    assert after.pk == first.pk and after.status == Task.Status.DONE  # not run a second time
    assert tasks.run_pending() == 0
    # without a key, every call queues a task
    assert tasks.enqueue(name, start=False).pk != tasks.enqueue(name, start=False).pk
    other = registered("workers.other", flaky(0))
    with pytest.raises(ValueError, match="already used"):
        tasks.enqueue(other, start=False, key="export:programme-7:2026-11-24")


# --- leases and heartbeats ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_task_whose_lease_expired_on_any_host_is_queued_again_as_an_attempt(registered):
    name = registered("workers.flaky", flaky(0))
    row = tasks.enqueue(name, start=False, max_attempts=2)
    assert tasks.claim_next().pk == row.pk
    stale = timezone.now() - dt.timedelta(seconds=tasks.lease_seconds() + 5)
    # another machine's worker: its process cannot be checked, only its heartbeat
    Task.objects.filter(pk=row.pk).update(claimed_by="worker-b.example:4242", heartbeat_at=stale)
    assert tasks.recover_interrupted() == 1
    row.refresh_from_db()
    assert (row.status, row.attempts, row.claimed_by) == (Task.Status.QUEUED, 1, "")
    assert row.attempt_log[-1]["outcome"] == "lost"
    assert "lease expired" in row.attempt_log[-1]["error"]

    # its last attempt lost too: it fails rather than going round for ever
    assert tasks.claim_next().pk == row.pk
    Task.objects.filter(pk=row.pk).update(claimed_by="worker-b.example:4242", heartbeat_at=stale)
    assert tasks.recover_interrupted() == 0
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Task.Status.FAILED, 2)
    assert row.error.startswith("WorkerLost: its worker's lease expired")

    # a task of another machine with a fresh heartbeat is left alone
    fresh = tasks.enqueue(name, start=False)
    assert tasks.claim_next().pk == fresh.pk
    Task.objects.filter(pk=fresh.pk).update(claimed_by="worker-b.example:4242")
    assert tasks.recover_interrupted() == 0
    assert Task.objects.get(pk=fresh.pk).status == Task.Status.RUNNING


@pytest.mark.django_db
def test_a_worker_that_lost_its_lease_does_not_record_over_the_next_attempt(registered):
    name = registered("workers.flaky", flaky(0))
    row = tasks.enqueue(name, start=False)
    mine = tasks.claim_next()
    # meanwhile the lease expired, the task was queued again and another worker took it
    Task.objects.filter(pk=row.pk).update(status=Task.Status.QUEUED, claimed_by="")
    theirs = tasks.claim_next()
    Task.objects.filter(pk=row.pk).update(claimed_by="worker-b.example:4242")
    assert theirs.attempts == 2
    outcome = tasks.run(mine, retry=True)
    assert outcome.status == Task.Status.RUNNING  # the other worker's run, untouched
    assert Task.objects.get(pk=row.pk).claimed_by == "worker-b.example:4242"


@pytest.mark.django_db(transaction=True)
def test_the_heartbeat_keeps_a_long_task_from_being_taken(registered, settings):
    settings.CHANGEBANK_TASK_LEASE_SECONDS = 1  # a heartbeat every 0.25 s
    seen = {}

    def long_task(row):
        claimed_at = row.heartbeat_at
        time.sleep(1.6)  # longer than the lease
        seen["heartbeat_moved"] = Task.objects.get(pk=row.pk).heartbeat_at > claimed_at
        seen["recovered"] = tasks.recover_interrupted()  # another worker starting now
        row.report(80, "Nearly there")
        return {}

    name = registered("workers.long", long_task)
    row = tasks.enqueue(name, start=False)
    assert tasks.run_pending() == 1
    row.refresh_from_db()
    assert seen == {"heartbeat_moved": True, "recovered": 0}
    assert (row.status, row.attempts) == (Task.Status.DONE, 1)


@pytest.mark.django_db(transaction=True)
def test_the_in_process_thread_retries_a_task_when_its_time_comes(registered):
    def once_rate_limited(row):
        if row.attempts == 1:
            raise tasks.Retry("busy", delay=0.5)
        return {"attempt": row.attempts}

    name = registered("workers.once_rate_limited", once_rate_limited)
    row = tasks.enqueue(name)  # outside a transaction: the thread starts at once
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        row.refresh_from_db()
        if row.status == Task.Status.DONE:
            break
        time.sleep(0.1)
    tasks.wait_for_in_process_worker(10)
    assert (row.status, row.attempts, row.result) == (Task.Status.DONE, 2, {"attempt": 2})


# --- PostgreSQL: SKIP LOCKED, and progress seen from inside a transaction -------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_a_worker_skips_a_task_another_worker_is_claiming(registered):
    name = registered("workers.flaky", flaky(0))
    first = tasks.enqueue(name, start=False)
    second = tasks.enqueue(name, start=False)
    locked, release, got = threading.Event(), threading.Event(), {}

    def worker_a():
        try:
            with transaction.atomic():
                Task.objects.select_for_update().get(pk=first.pk)  # in the middle of a claim
                locked.set()
                release.wait(20)
        finally:
            connections.close_all()

    def worker_b():
        try:
            got["row"] = tasks.claim_next()
        finally:
            connections.close_all()

    a = threading.Thread(target=worker_a)
    a.start()
    assert locked.wait(10)
    b = threading.Thread(target=worker_b)
    b.start()
    b.join(5)
    assert not b.is_alive(), "the second worker waited for the first one's lock"
    release.set()
    a.join(10)
    assert got["row"].pk == second.pk
    assert tasks.claim_next().pk == first.pk


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True)
def test_on_postgresql_progress_inside_a_transaction_is_seen_at_once(registered):
    reported, checked, seen = threading.Event(), threading.Event(), {}

    def saving(row):
        with transaction.atomic():
            row.report(90, "Saving the results")
            reported.set()
            checked.wait(20)
        return {}

    def watcher():
        try:
            assert reported.wait(20)
            task = Task.objects.get(name="workers.saving")
            seen["stage"], seen["progress"] = task.stage, task.progress
        finally:
            checked.set()
            connections.close_all()

    name = registered("workers.saving", saving)
    tasks.enqueue(name, start=False)
    thread = threading.Thread(target=watcher)
    thread.start()
    assert tasks.run_pending() == 1
    thread.join(10)
    assert seen == {"stage": "Saving the results", "progress": 90}
    assert connection.vendor == "postgresql"


# --- worker processes -----------------------------------------------------------------------------


def probe_env(data_dir: Path, **extra: str) -> dict[str, str]:
    return command_env(
        data_dir,
        CHANGEBANK_TASKS_IN_PROCESS="0",
        CHANGEBANK_TASK_MODULES="tests.core.workers_probe",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        **extra,
    )


def probe(env: dict[str, str], *args: str):
    done = subprocess.run(
        [sys.executable, "-m", "tests.core.workers_probe", *args],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def data_env(tmp_path_factory):
    """A data folder made by `changebank init`, shared by the tests of worker processes (each
    looks only at the tasks it queued)."""
    data_dir = tmp_path_factory.mktemp("workers") / "data"
    env = probe_env(data_dir)
    done = subprocess.run(
        [sys.executable, "-m", "changebank.cli", "init"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return env


def worker(env: dict[str, str], *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "changebank.cli", "worker", "--poll-seconds", "0.2", *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def mine(env: dict[str, str], ids: list[int]) -> list[dict]:
    """The states of the tasks ``ids``."""
    return [s for s in probe(env, "states") if s["id"] in set(ids)]


def log_lines(log: Path) -> list[tuple[int, int, int]]:
    if not log.exists():
        return []
    return [tuple(map(int, line.split())) for line in log.read_text().splitlines()]


def wait_for(condition, timeout: float, proc=None, output=lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the worker stopped ({proc.returncode}): {output()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out: {output()}")
        time.sleep(0.1)


@pytest.mark.slow
def test_four_worker_processes_run_200_tasks_each_exactly_once(data_env, tmp_path):
    log = tmp_path / "runs.log"
    proc = worker(data_env, "--processes", "4")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)
    reader.start()
    try:
        # all four are polling the queue before the tasks arrive, so that they compete for them
        output = lambda: "".join(lines)  # noqa: E731
        wait_for(lambda: output().count("waiting for tasks") >= 4, 300, proc, output)
        started = time.monotonic()
        ids = probe(data_env, "enqueue", "200", str(log), "0.02")
        assert len(set(ids)) == 200
        wait_for(lambda: len(log_lines(log)) >= 200, 180, proc, output)
        drained = time.monotonic() - started
        states = mine(data_env, ids)
        deadline = time.monotonic() + 30
        while any(s["status"] != "done" for s in states) and time.monotonic() < deadline:
            time.sleep(0.5)  # the last ones are recording their outcome
            states = mine(data_env, ids)
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    reader.join(10)
    assert proc.returncode == 0, output()
    runs = log_lines(log)
    ran = Counter(task_id for task_id, _, _ in runs)
    assert set(ran) == set(ids) and set(ran.values()) == {1}, "a task ran twice or not at all"
    assert all(attempt == 1 for _, _, attempt in runs)
    pids = {pid for _, pid, _ in runs}
    assert 2 <= len(pids) <= 4, pids  # the work was shared
    assert Counter(s["status"] for s in states) == {"done": 200}
    assert {s["claimed_by"].rpartition(":")[2] for s in states} == {str(p) for p in pids}
    print(f"200 tasks drained by {len(pids)} processes in {drained:.1f} s")


@pytest.mark.slow
def test_the_same_key_queued_by_racing_processes_makes_one_task(data_env, tmp_path):
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    racers = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.core.workers_probe", "enqueue-key", "nightly", barrier],
            env=data_env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    try:
        wait_for(lambda: len(list(barrier.glob("ready-*"))) == 4, 120)
        (barrier / "go").touch()
        outputs = [p.communicate(timeout=60) for p in racers]
    finally:
        for p in racers:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in racers), outputs
    pks = {json.loads(out.strip().splitlines()[-1])["pk"] for out, _ in outputs}
    states = [s for s in probe(data_env, "states") if s["key"] == "nightly"]
    assert len(pks) == 1 and [s["id"] for s in states] == list(pks)


@pytest.mark.slow
def test_a_stopped_worker_finishes_its_task_and_a_second_signal_queues_it_again(data_env, tmp_path):
    log = tmp_path / "runs.log"
    # one signal: the task running finishes, then the worker stops
    (first,) = probe(data_env, "enqueue", "1", str(log), "2")
    proc = worker(data_env)
    wait_for(lambda: log_lines(log), 60, proc)
    proc.send_signal(signal.SIGTERM)
    output = proc.communicate(timeout=60)[0]
    assert proc.returncode == 0, output
    (state,) = mine(data_env, [first])
    assert state["status"] == "done", output

    # two signals: it stops at once, and the task is queued again without counting an attempt
    (second,) = probe(data_env, "enqueue", "1", str(log), "60")
    proc = worker(data_env)
    wait_for(lambda: len(log_lines(log)) == 2, 60, proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 130, output
    (state,) = mine(data_env, [second])
    assert (state["status"], state["attempts"]) == ("queued", 0), output
    assert state["attempt_log"][-1]["outcome"] == "interrupted"
    assert state["claimed_by"] == ""


def test_worker_id_names_this_host_and_process():
    assert tasks.worker_id() == f"{socket.gethostname()}:{os.getpid()}"
