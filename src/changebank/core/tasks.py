"""Background tasks: a queue in the database, drained by an in-process thread or by worker processes.

The embedded default needs nothing else running: :func:`enqueue` starts a daemon thread in the web
process that runs queued tasks one at a time. In production, set ``CHANGEBANK_TASKS_IN_PROCESS=0``
and run ``changebank worker`` processes instead; they claim tasks with a conditional update, so two
workers never run the same task.

A task is a function registered with :func:`task`; it receives the :class:`Task` row, reports
progress with ``task.report(percent, stage)`` and returns a JSON-able result.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import close_old_connections, transaction
from django.utils import timezone

from .models import Task

log = logging.getLogger(__name__)

#: Registered task functions by name.
REGISTRY: dict[str, Callable[..., Any]] = {}
_thread_lock = threading.Lock()
_thread: threading.Thread | None = None


def task(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a function as a task called ``name``."""

    def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
        REGISTRY[name] = func
        return func

    return decorator


def enqueue(name: str, *, created_by: Any = None, start: bool = True, **params: Any) -> Task:
    """Queue a task; in the embedded set-up (and unless ``start`` is false), make sure the
    in-process worker is running."""
    if name not in REGISTRY:
        raise ValueError(f"unknown task '{name}'; known tasks: {', '.join(sorted(REGISTRY))}")
    row = Task.objects.create(
        name=name, params=params, created_by=created_by if getattr(created_by, "pk", None) else None
    )
    if start and getattr(settings, "CHANGEBANK_TASKS_IN_PROCESS", True):
        transaction.on_commit(start_in_process_worker)
    return row


def claim(pk: int) -> Task | None:
    """Take a queued task, atomically: None if another worker has it or it has already run."""
    claimed = Task.objects.filter(pk=pk, status=Task.Status.QUEUED).update(
        status=Task.Status.RUNNING,
        started_at=timezone.now(),
        stage="Starting",
        claimed_by=worker_id(),
    )
    return Task.objects.get(pk=pk) if claimed else None


def claim_next() -> Task | None:
    """Take the oldest queued task, atomically; None if there is none."""
    for pk in (
        Task.objects.filter(status=Task.Status.QUEUED)
        .order_by("id")
        .values_list("pk", flat=True)[:5]
    ):
        row = claim(pk)
        if row is not None:
            return row
    return None


def run(row: Task) -> Task:
    """Run a claimed task, recording its result or its error."""
    func = REGISTRY.get(row.name)
    try:
        if func is None:
            raise LookupError(f"no task called '{row.name}' is registered in this process")
        result = func(row, **row.params)
        row.status = Task.Status.DONE
        row.result = result if result is not None else {}
        row.progress = 100
        row.stage = "Finished"
    except Exception as exc:  # a failed task is recorded, never lost
        log.exception("task %s (%s) failed", row.pk, row.name)
        row.status = Task.Status.FAILED
        row.error = f"{type(exc).__name__}: {exc}"
        row.traceback = traceback.format_exc()[-20_000:]
        row.stage = "Failed"
    row.finished_at = timezone.now()
    row.save(
        update_fields=["status", "result", "progress", "stage", "error", "traceback", "finished_at"]
    )
    return row


def run_pending(limit: int | None = None) -> int:
    """Run queued tasks in this thread until none is left (or ``limit``); return how many ran."""
    done = 0
    while limit is None or done < limit:
        row = claim_next()
        if row is None:
            break
        run(row)
        done += 1
    return done


def _drain() -> None:
    global _thread
    try:
        recover_interrupted()  # tasks a killed web process left running start again
        while True:
            close_old_connections()
            if run_pending(limit=1) == 0:
                break
    finally:
        close_old_connections()
        with _thread_lock:
            _thread = None


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


def work_forever(poll_seconds: float = 2.0, stop: Callable[[], bool] = lambda: False) -> None:
    """The loop of ``changebank worker``: run tasks as they arrive."""
    recover_interrupted()
    while not stop():
        close_old_connections()
        if run_pending(limit=1) == 0:
            time.sleep(poll_seconds)


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
    machine restarted): on this machine, those whose process no longer exists. A task that a live
    worker is running is left alone, so a worker starting up never takes another's task. Tasks
    claimed on other machines are queued again only with ``other_hosts=True`` (when you know
    those workers are gone)."""
    gone = [
        pk
        for pk, claimed_by in Task.objects.filter(status=Task.Status.RUNNING).values_list(
            "pk", "claimed_by"
        )
        if other_hosts or _process_gone(claimed_by)
    ]
    if not gone:
        return 0
    return Task.objects.filter(pk__in=gone, status=Task.Status.RUNNING).update(
        status=Task.Status.QUEUED, stage="Queued again after an interruption", claimed_by=""
    )
