"""Background tasks: a queue in the database, drained by an in-process thread or by worker processes.

The embedded default needs nothing else running: :func:`enqueue` starts a daemon thread in the web
process that runs queued tasks one at a time. In production, set ``CHANGEBANK_TASKS_IN_PROCESS=0``
and run ``changebank worker`` (``--processes N`` for several) instead. See ``docs/workers.md``.

A task is a function registered with :func:`task`; it receives the :class:`Task` row, reports
progress with ``task.report(percent, stage)`` and returns a JSON-able result.

- **Claiming.** On PostgreSQL a worker takes the oldest ready task with ``SELECT ... FOR UPDATE
  SKIP LOCKED``, so many workers take different tasks without waiting for each other; on SQLite
  (one writer at a time) with a conditional update. Either way two workers never run the same task.
- **Retries.** Each start is an attempt. When a task run by a worker fails, it is queued again
  after a growing delay (:func:`backoff_seconds`) until it has had ``max_attempts``; then it is
  failed, with the error and traceback kept, and every attempt listed in ``attempt_log``. A task
  raises :class:`PermanentError` for a failure that trying again cannot mend, or :class:`Retry`
  to ask for another attempt after a delay of its choosing. A task run in the foreground by its
  caller (``run(claim(pk))``, as ``changebank analyse`` does) is not retried: the caller sees the
  failure at once.
- **Idempotency.** ``enqueue(name, key=...)`` with a key already used returns that task instead of
  queueing a second one (a unique constraint settles races between processes).
- **Leases.** A running task's worker updates its ``heartbeat_at`` every so often (and on every
  ``report()``). :func:`recover_interrupted` queues again the tasks whose worker has stopped: on
  this machine those whose process is gone, on any machine those whose heartbeat is older than the
  lease (``CHANGEBANK_TASK_LEASE_SECONDS``, 600 by default). A worker that lost its lease does
  not record its outcome over the next attempt's.
"""

from __future__ import annotations

import datetime as dt
import importlib
import json
import logging
import os
import random
import signal
import socket
import subprocess  # this program's own worker command, no shell  # nosec B404
import sys
import threading
import time
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist, ValidationError
from django.db import close_old_connections, connection, connections, transaction
from django.db.models import F, Min
from django.utils import timezone

from .models import Task

log = logging.getLogger(__name__)

#: Registered task functions by name.
REGISTRY: dict[str, Callable[..., Any]] = {}
#: The default ``max_attempts`` of each registered task that set one.
DEFAULT_ATTEMPTS: dict[str, int] = {}
_thread_lock = threading.Lock()
_thread: threading.Thread | None = None
_wakeup: threading.Timer | None = None
_wakeup_at: float = 0.0

#: How many attempts ``attempt_log`` keeps.
ATTEMPT_LOG_LENGTH = 25
#: The longest delay between two attempts, in seconds.
MAX_BACKOFF_SECONDS = 3600.0


class PermanentError(Exception):
    """Raised by a task for a failure that another attempt cannot mend (bad input, say): the task
    fails at once, whatever attempts it has left."""


class Retry(Exception):  # noqa: N818 (a request, not an error)
    """Raised by a task to be tried again, after ``delay`` seconds (by default the usual back-off),
    while it has attempts left."""

    def __init__(self, reason: str = "", *, delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


#: Failures that are never retried: trying again would meet the same error.
NOT_RETRIED: tuple[type[BaseException], ...] = (PermanentError, ValidationError, ObjectDoesNotExist)


class WorkerInterrupted(KeyboardInterrupt):
    """Raised in a worker told twice to stop: its current task is queued again."""


# --- settings ---------------------------------------------------------------------------------


def _setting(name: str, default: float) -> float:
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    return float(value) if value not in (None, "") else default


def lease_seconds() -> float:
    """How long a running task may go without a heartbeat before it is taken to be abandoned
    (``CHANGEBANK_TASK_LEASE_SECONDS``, default 600)."""
    return max(1.0, _setting("CHANGEBANK_TASK_LEASE_SECONDS", 600.0))


def heartbeat_seconds() -> float:
    """How often a worker shows that its task is alive: a quarter of the lease, at most a minute."""
    return max(0.2, min(60.0, lease_seconds() / 4))


def default_max_attempts() -> int:
    """``CHANGEBANK_TASK_MAX_ATTEMPTS``, default 3."""
    return max(1, int(_setting("CHANGEBANK_TASK_MAX_ATTEMPTS", 3)))


def backoff_seconds(attempt: int) -> float:
    """The delay before trying again a task whose attempt number ``attempt`` failed:
    ``CHANGEBANK_TASK_RETRY_SECONDS`` (default 30) doubled for each attempt before, at most an
    hour, plus up to a tenth more at random so that tasks failed together do not return together."""
    base = max(0.0, _setting("CHANGEBANK_TASK_RETRY_SECONDS", 30.0))
    delay = min(MAX_BACKOFF_SECONDS, base * 2 ** max(0, attempt - 1))
    return delay + random.uniform(0, delay / 10)


def load_task_modules() -> None:
    """Import the modules named in ``CHANGEBANK_TASK_MODULES`` (comma-separated), so that the tasks
    they register exist in this process; changebank's own tasks register when Django starts."""
    names = getattr(settings, "CHANGEBANK_TASK_MODULES", None) or os.environ.get(
        "CHANGEBANK_TASK_MODULES", ""
    )
    if isinstance(names, str):
        names = names.split(",")
    for name in names:
        if name.strip():
            importlib.import_module(name.strip())


# --- queueing ---------------------------------------------------------------------------------


def task(
    name: str, *, max_attempts: int | None = None
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a task called ``name`` (with, optionally, its own default number of
    attempts)."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[name] = func
        if max_attempts is not None:
            DEFAULT_ATTEMPTS[name] = max_attempts
        return func

    return decorator


def enqueue(
    name: str,
    *,
    created_by: Any = None,
    start: bool = True,
    key: str = "",
    max_attempts: int | None = None,
    run_after: dt.datetime | None = None,
    **params: Any,
) -> Task:
    """Queue a task; in the embedded set-up (and unless ``start`` is false), make sure the
    in-process worker is running.

    ``key`` makes the call idempotent: if a task was queued with that key before, that task is
    returned (whatever its state) and nothing new is queued. ``max_attempts`` overrides the task's
    default; ``run_after`` delays its start.
    """
    if name not in REGISTRY:
        load_task_modules()
    if name not in REGISTRY:
        raise ValueError(f"unknown task '{name}'; known tasks: {', '.join(sorted(REGISTRY))}")
    attempts = max_attempts if max_attempts is not None else DEFAULT_ATTEMPTS.get(name)
    if attempts is None:
        attempts = default_max_attempts()
    if attempts < 1:
        raise ValueError("max_attempts must be at least 1")
    if len(key) > Task._meta.get_field("key").max_length:
        raise ValueError("the idempotency key is longer than 200 characters")
    fields = {
        "name": name,
        "params": params,
        "created_by": created_by if getattr(created_by, "pk", None) else None,
        "max_attempts": attempts,
        "run_after": run_after or timezone.now(),
    }
    if key:
        # get, else create in a savepoint; a concurrent create of the same key fails on the
        # unique constraint and the row it made is returned instead
        row, created = Task.objects.get_or_create(key=key, defaults=fields)
        if not created and row.name != name:
            raise ValueError(f"the key '{key}' is already used by task #{row.pk} ({row.name})")
    else:
        row = Task.objects.create(**fields)
    if (
        start
        and row.status == Task.Status.QUEUED
        and getattr(settings, "CHANGEBANK_TASKS_IN_PROCESS", True)
    ):
        transaction.on_commit(start_in_process_worker)
    return row


# --- claiming ---------------------------------------------------------------------------------


def _claimed_fields() -> dict[str, Any]:
    now = timezone.now()
    return {
        "status": Task.Status.RUNNING,
        "attempts": F("attempts") + 1,
        "started_at": now,
        "heartbeat_at": now,
        "finished_at": None,
        "progress": 0,
        "stage": "Starting",
        "claimed_by": worker_id(),
    }


def claim(pk: int) -> Task | None:
    """Take the queued task ``pk`` now (even before its ``run_after``), atomically: None if another
    worker has it or it has already run. Taking it counts as an attempt."""
    claimed = Task.objects.filter(pk=pk, status=Task.Status.QUEUED).update(**_claimed_fields())
    return Task.objects.get(pk=pk) if claimed else None


def _ready() -> Any:
    return Task.objects.filter(status=Task.Status.QUEUED, run_after__lte=timezone.now()).order_by(
        "id"
    )


def claim_next() -> Task | None:
    """Take the oldest task that is ready to run, atomically; None if there is none."""
    if connection.features.has_select_for_update_skip_locked:
        # PostgreSQL: lock the first row no other worker has locked, mark it ours, commit
        with transaction.atomic():
            pk = _ready().select_for_update(skip_locked=True).values_list("pk", flat=True).first()
            if pk is None:
                return None
            Task.objects.filter(pk=pk).update(**_claimed_fields())
        return Task.objects.get(pk=pk)
    # SQLite: writers take turns; a conditional update takes a task only if it is still queued
    while True:
        candidates = list(_ready().values_list("pk", flat=True)[:10])
        if not candidates:
            return None
        for pk in candidates:
            row = claim(pk)
            if row is not None:
                return row
        # other workers took all of them meanwhile: look again


# --- running ----------------------------------------------------------------------------------


class _Heartbeat:
    """A thread that keeps a running task's ``heartbeat_at`` fresh until stopped."""

    def __init__(self, row: Task) -> None:
        self.row = row
        self.interval = heartbeat_seconds()
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._beat, name=f"changebank-heartbeat-{row.pk}", daemon=True
        )
        self._thread.start()

    def _beat(self) -> None:
        try:
            while not self._stop.wait(self.interval):
                try:
                    mine = _fenced(self.row).update(heartbeat_at=timezone.now())
                except Exception as exc:  # the next beat tries again
                    log.warning("task %s: could not record a heartbeat: %s", self.row.pk, exc)
                    continue
                if not mine:
                    log.warning(
                        "task %s is no longer this worker's (its lease expired and it was "
                        "queued again)",
                        self.row.pk,
                    )
                    return
        finally:
            connections.close_all()  # this thread's connections only

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def _fenced(row: Task) -> Any:
    """The task ``row``, while it is still this attempt's: not queued again after its lease
    expired, nor taken by another worker since."""
    return Task.objects.filter(
        pk=row.pk, status=Task.Status.RUNNING, attempts=row.attempts, claimed_by=row.claimed_by
    )


def _attempt_entry(row: Task, outcome: str, error: str = "") -> list[dict[str, Any]]:
    entry = {
        "attempt": row.attempts,
        "worker": row.claimed_by,
        "started_at": row.started_at.isoformat() if row.started_at else None,
        "ended_at": timezone.now().isoformat(),
        "outcome": outcome,
    }
    if error:
        entry["error"] = error[:500]
    return [*list(row.attempt_log or [])[-(ATTEMPT_LOG_LENGTH - 1) :], entry]


def _record(row: Task, **fields: Any) -> Task:
    """Write the outcome of this attempt, unless the task is no longer this attempt's."""
    if _fenced(row).update(**fields):
        for name, value in fields.items():
            setattr(row, name, value)
        return row
    log.warning(
        "task %s (%s): its lease expired while it ran, so the outcome of attempt %s is not "
        "recorded (raise CHANGEBANK_TASK_LEASE_SECONDS if its worker was only slow)",
        row.pk,
        row.name,
        row.attempts,
    )
    row.refresh_from_db()
    return row


def run(row: Task, *, retry: bool = False) -> Task:
    """Run a claimed task, recording its result or its error.

    With ``retry`` (as workers run tasks), a failure with attempts left queues the task again after
    a delay; without it (a caller running a task in the foreground), a failure is final.
    """
    func = REGISTRY.get(row.name)
    beat = _Heartbeat(row)
    try:
        if func is None:
            raise LookupError(f"no task called '{row.name}' is registered in this process")
        result = func(row, **row.params)
        result = {} if result is None else result
        json.dumps(result)  # fails here, as the task's error, rather than when saving
    except Exception as exc:  # a failed task is recorded, never lost
        beat.stop()
        return _failed(row, exc, retry=retry)
    except BaseException:  # stopped from outside (Ctrl+C, a worker told to stop now)
        beat.stop()
        _release(row)
        raise
    beat.stop()
    return _record(
        row,
        status=Task.Status.DONE,
        result=result,
        progress=100,
        stage="Finished",
        error="",
        traceback="",
        finished_at=timezone.now(),
        attempt_log=_attempt_entry(row, "done"),
    )


def _failed(row: Task, exc: Exception, *, retry: bool) -> Task:
    error = f"{type(exc).__name__}: {exc}"
    trace = traceback.format_exc()[-20_000:]
    again = retry and not isinstance(exc, NOT_RETRIED) and row.attempts < row.max_attempts
    if not again:
        log.error("task %s (%s) failed: %s\n%s", row.pk, row.name, error, trace)
        return _record(
            row,
            status=Task.Status.FAILED,
            error=error,
            traceback=trace,
            stage="Failed",
            finished_at=timezone.now(),
            attempt_log=_attempt_entry(row, "failed", error),
        )
    delay = exc.delay if isinstance(exc, Retry) and exc.delay is not None else None
    delay = backoff_seconds(row.attempts) if delay is None else max(0.0, delay)
    when = timezone.now() + dt.timedelta(seconds=delay)
    log.warning(
        "task %s (%s) failed on attempt %s of %s, trying again in %.1f s: %s",
        row.pk,
        row.name,
        row.attempts,
        row.max_attempts,
        delay,
        error,
    )
    return _record(
        row,
        status=Task.Status.QUEUED,
        run_after=when,
        error=error,
        traceback=trace,
        progress=0,
        stage=(
            f"Attempt {row.attempts} of {row.max_attempts} failed; trying again at "
            f"{timezone.localtime(when):%H:%M:%S}"
        )[:200],
        claimed_by="",
        heartbeat_at=None,
        attempt_log=_attempt_entry(row, "retry", error),
    )


def _release(row: Task) -> None:
    """Queue again a task whose worker was stopped in the middle: not counted as an attempt."""
    try:
        _fenced(row).update(
            status=Task.Status.QUEUED,
            attempts=F("attempts") - 1,
            run_after=timezone.now(),
            progress=0,
            stage="Queued again: its worker was stopped",
            claimed_by="",
            heartbeat_at=None,
            attempt_log=_attempt_entry(row, "interrupted"),
        )
    except Exception:  # the connection may be unusable: recovery will queue it again
        log.exception("task %s: could not queue it again after an interruption", row.pk)


def run_pending(
    limit: int | None = None, *, stop: Callable[[], bool] = lambda: False, retry: bool = True
) -> int:
    """Run ready tasks in this thread until none is left (or ``limit``, or ``stop()``); return how
    many ran. Failed tasks with attempts left are queued again (``retry``)."""
    done = 0
    while (limit is None or done < limit) and not stop():
        row = claim_next()
        if row is None:
            break
        run(row, retry=retry)
        done += 1
    return done


def write_progress(row: Task) -> None:
    """Store ``row``'s progress, stage and heartbeat (see :meth:`Task.report`). Inside a
    transaction on PostgreSQL, it is written on a connection of its own so that it is seen at once
    rather than at the commit (SQLite has one writer: there it waits for the commit)."""
    fields = {"progress": row.progress, "stage": row.stage, "heartbeat_at": row.heartbeat_at}
    if (
        connection.in_atomic_block
        and connection.vendor == "postgresql"
        and not getattr(row, "_progress_in_transaction", False)
    ):
        if _write_aside(row.pk, fields):
            return
        row._progress_in_transaction = True  # written in the transaction from now on
    Task.objects.filter(pk=row.pk).update(**fields)


def _write_aside(pk: int, fields: dict[str, Any]) -> bool:
    """Update the task on a separate, short-lived connection; False if that did not work (the row
    is not visible to other connections yet, or the open transaction has locked it)."""
    aside = connections.create_connection(connection.alias)
    try:
        with aside.cursor() as cursor:
            cursor.execute("SET lock_timeout = '2s'")
            cursor.execute(
                f"UPDATE {Task._meta.db_table} SET progress = %s, stage = %s, heartbeat_at = %s "  # noqa: S608 (a table name)  # nosec B608
                "WHERE id = %s",
                [fields["progress"], fields["stage"], fields["heartbeat_at"], pk],
            )
            return cursor.rowcount == 1
    except Exception as exc:
        log.debug("task %s: progress not written aside: %s", pk, exc)
        return False
    finally:
        aside.close()


# --- recovery ---------------------------------------------------------------------------------


def worker_id() -> str:
    """This process, as ``host:pid``: recorded on the tasks it claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _process_gone(claimed_by: str) -> bool:
    """True when ``claimed_by`` names a process of this machine that no longer exists, or is
    empty (a task claimed before workers were recorded)."""
    host, _, pid = claimed_by.rpartition(":")
    if not claimed_by:
        return True
    if host != socket.gethostname() or not pid.isdigit():
        return False  # another machine's worker: it cannot be checked from here
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False


def recover_interrupted(*, other_hosts: bool = False) -> int:
    """Queue again the tasks left running by a worker that has stopped (killed, crashed, the
    machine restarted): on this machine, those whose process no longer exists; on any machine,
    those whose heartbeat is older than the lease. A task that a live worker is running is left
    alone, so a worker starting up never takes another's task. With ``other_hosts=True`` (when you
    know those workers are gone), every task claimed on another machine is queued again too.

    The interrupted run was an attempt: a task that has had all its attempts fails instead.
    Returns how many tasks were queued again."""
    expired = timezone.now() - dt.timedelta(seconds=lease_seconds())
    requeued = 0
    running = Task.objects.filter(status=Task.Status.RUNNING).only(
        "pk",
        "name",
        "claimed_by",
        "attempts",
        "max_attempts",
        "started_at",
        "heartbeat_at",
        "attempt_log",
    )
    for row in running:
        alive_at = row.heartbeat_at or row.started_at
        this_host = row.claimed_by.rpartition(":")[0] == socket.gethostname()
        if _process_gone(row.claimed_by) or (other_hosts and not this_host):
            reason = "its worker stopped"
        elif alive_at is None or alive_at < expired:
            reason = "its worker's lease expired"
        else:
            continue
        if row.attempts >= row.max_attempts:
            error = f"WorkerLost: {reason} during attempt {row.attempts} of {row.max_attempts}"
            log.error("task %s (%s) failed: %s", row.pk, row.name, error)
            _fenced(row).update(
                status=Task.Status.FAILED,
                error=error,
                traceback="",
                stage="Failed",
                finished_at=timezone.now(),
                attempt_log=_attempt_entry(row, "lost", reason),
            )
            continue
        requeued += _fenced(row).update(
            status=Task.Status.QUEUED,
            run_after=timezone.now(),
            progress=0,
            stage="Queued again after an interruption",
            claimed_by="",
            heartbeat_at=None,
            attempt_log=_attempt_entry(row, "lost", reason),
        )
    return requeued


# --- the in-process worker (the embedded default) ---------------------------------------------


def _next_due() -> dt.datetime | None:
    return Task.objects.filter(status=Task.Status.QUEUED).aggregate(at=Min("run_after"))["at"]


def _drain() -> None:
    global _thread
    try:
        load_task_modules()
        recover_interrupted()  # tasks a killed web process left running start again
        while True:
            close_old_connections()
            if run_pending(limit=1) == 0:
                due = _next_due()
                if due is None:
                    break
                wait = (due - timezone.now()).total_seconds()
                if wait > 0:  # a retry later on: wake up for it then
                    _wake_up_in(wait)
                    break
    except Exception:
        log.exception("the in-process task worker stopped")
    finally:
        connections.close_all()  # this thread's connections only
        with _thread_lock:
            _thread = None


def _wake_up_in(seconds: float) -> None:
    """Start the in-process worker again in ``seconds`` (for a task waiting to be retried)."""
    global _wakeup, _wakeup_at
    at = time.monotonic() + seconds
    with _thread_lock:
        if _wakeup is not None and _wakeup.is_alive() and _wakeup_at <= at:
            return
        if _wakeup is not None:
            _wakeup.cancel()
        _wakeup = threading.Timer(seconds + 0.05, start_in_process_worker)
        _wakeup.daemon = True
        _wakeup_at = at
        _wakeup.start()


def start_in_process_worker() -> None:
    """Start the daemon thread that drains the queue, unless one is running."""
    global _thread
    with _thread_lock:
        if _thread is not None and _thread.is_alive():
            return
        _thread = threading.Thread(target=_drain, name="changebank-tasks", daemon=True)
        _thread.start()


def wait_for_in_process_worker(timeout: float = 600) -> None:
    """Block until the in-process worker has finished (used by commands and tests)."""
    thread = _thread
    if thread is not None:
        thread.join(timeout)


# --- worker processes -------------------------------------------------------------------------


def work_forever(poll_seconds: float = 2.0, stop: Callable[[], bool] = lambda: False) -> None:
    """The loop of ``changebank worker``: run tasks as they arrive, until ``stop()``. Every so
    often it also queues again the tasks of workers that have stopped."""
    load_task_modules()
    recover_interrupted()
    sweep_every = max(5.0, min(60.0, lease_seconds() / 2))
    last_sweep = time.monotonic()
    while not stop():
        close_old_connections()
        try:
            ran = run_pending(limit=1)
            if time.monotonic() - last_sweep >= sweep_every:
                last_sweep = time.monotonic()
                recovered = recover_interrupted()
                if recovered:
                    log.warning("queued again %s task(s) of stopped workers", recovered)
        except Exception:  # the database went away, say: wait, then start again
            log.exception("the worker could not take or record a task")
            connections.close_all()
            ran = 0
        if ran == 0:
            _sleep(poll_seconds, stop)


def _sleep(seconds: float, stop: Callable[[], bool]) -> None:
    end = time.monotonic() + seconds
    while not stop() and (left := end - time.monotonic()) > 0:
        time.sleep(min(0.2, left))


class Shutdown:
    """SIGINT and SIGTERM as a clean stop for a worker, used as ``with Shutdown() as stop:``; then
    ``stop()`` says whether to stop. The first signal lets the current task finish; a second one
    raises :class:`WorkerInterrupted` in it, and the task is queued again. With ``parent_pid``
    (a worker started by ``changebank worker --processes``), the worker also stops when that
    process has gone."""

    def __init__(self, parent_pid: int | None = None) -> None:
        self.parent_pid = parent_pid
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Shutdown:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous.clear()

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested:
            raise WorkerInterrupted(signum)
        self.requested = True
        print(
            f"changebank worker {os.getpid()}: stopping after the current task "
            "(signal again to stop now; the task is then queued again)",
            file=sys.stderr,
            flush=True,
        )

    def __call__(self) -> bool:
        if self.parent_pid is not None and os.getppid() != self.parent_pid:
            self.requested = True  # orphaned: the supervising process has gone
        return self.requested


def run_worker_processes(
    processes: int, *, once: bool = False, poll_seconds: float = 2.0, restart_delay: float = 5.0
) -> int:
    """``changebank worker --processes N``: start N worker processes and look after them until
    told to stop (SIGINT or SIGTERM, passed on to each: the first lets them finish their task, a
    second interrupts them and their tasks are queued again). A worker that dies is started again.
    With ``once``, each runs what is ready and stops. Returns the exit status."""
    connections.close_all()  # nothing of this process's connections goes to the children
    command = [
        sys.executable,
        "-m",
        "changebank.cli",
        "worker",
        "--poll-seconds",
        str(poll_seconds),
        "--parent-pid",
        str(os.getpid()),
        *(["--once"] if once else []),
    ]

    def start() -> subprocess.Popen:
        # a session of its own: a Ctrl+C at the terminal reaches this process only, which
        # passes it on once, rather than every worker receiving it alongside
        return subprocess.Popen(command, start_new_session=True)  # nosec B603

    children: list[subprocess.Popen] = []
    started: list[float] = []
    restart_at: dict[int, float] = {}
    codes: dict[int, int] = {}
    signals = 0

    def handle(signum: int, frame: FrameType | None) -> None:
        nonlocal signals
        signals += 1
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM if signals == 1 else signal.SIGINT)

    previous = {sig: signal.signal(sig, handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        for _ in range(processes):
            children.append(start())
            started.append(time.monotonic())
        print(
            f"changebank worker: {processes} worker processes "
            f"({', '.join(str(c.pid) for c in children)})",
            flush=True,
        )
        while len(codes) < processes:
            time.sleep(0.2)
            for i, child in enumerate(children):
                if i in codes:
                    continue
                code = child.poll()
                if code is None and i not in restart_at:
                    continue
                if once or signals:
                    codes[i] = code if code is not None else 0
                    restart_at.pop(i, None)
                elif i not in restart_at:  # died: start it again, after a pause if it died young
                    young = time.monotonic() - started[i] < restart_delay * 2
                    print(
                        f"changebank worker: process {child.pid} stopped (exit status {code}); "
                        "starting another",
                        file=sys.stderr,
                        flush=True,
                    )
                    restart_at[i] = time.monotonic() + (restart_delay if young else 0.0)
                elif time.monotonic() >= restart_at[i]:
                    del restart_at[i]
                    children[i] = start()
                    started[i] = time.monotonic()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        for child in children:
            if child.poll() is None:  # an error here: do not leave workers behind
                child.terminate()
                child.wait(30)
    if signals:
        return 0
    return 0 if all(code == 0 for code in codes.values()) else 1
