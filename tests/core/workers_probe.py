"""A task for the worker tests, and a small command line to drive a changebank data folder.

Worker processes load the task through ``CHANGEBANK_TASK_MODULES=tests.core.workers_probe``. Each
run appends a line ``task-id pid attempt`` to a log file opened with ``O_APPEND`` (one ``write``
per line, so lines of concurrent workers never mix): the record of what ran, kept apart from the
queue that is under test.

    python -m tests.core.workers_probe enqueue N LOG [SLEEP]   queue N tasks, print their ids
    python -m tests.core.workers_probe enqueue-key KEY BARRIER  queue with an idempotency key
    python -m tests.core.workers_probe states                   the tasks as JSON
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

if __name__ == "__main__":
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "changebank.settings")
    django.setup()

from changebank.core.tasks import task  # noqa: E402

TASK = "probe.record"


@task(TASK)
def record(row, log: str, sleep: float = 0.0) -> dict:
    fd = os.open(log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, f"{row.pk} {os.getpid()} {row.attempts}\n".encode())
    finally:
        os.close(fd)
    row.report(50, "Recorded")
    if sleep:
        time.sleep(sleep)
    return {"pid": os.getpid()}


def main(argv: list[str]) -> int:
    from django.db import transaction

    from changebank.core.models import Task
    from changebank.core.tasks import enqueue

    command, *args = argv
    if command == "enqueue":
        n, log = int(args[0]), args[1]
        sleep = float(args[2]) if len(args) > 2 else 0.0
        with transaction.atomic():
            ids = [enqueue(TASK, start=False, log=log, sleep=sleep).pk for _ in range(n)]
        print(json.dumps(ids))
    elif command == "enqueue-key":
        key, barrier = args[0], Path(args[1])
        (barrier / f"ready-{os.getpid()}").touch()
        while not (barrier / "go").exists():
            time.sleep(0.005)
        row = enqueue(TASK, start=False, key=key, log=str(barrier / "unused.log"))
        print(json.dumps({"pk": row.pk}))
    elif command == "states":
        rows = Task.objects.order_by("id").values(
            "id", "status", "attempts", "claimed_by", "attempt_log", "error", "key"
        )
        print(json.dumps(list(rows)))
    else:
        raise SystemExit(f"unknown command {command}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
