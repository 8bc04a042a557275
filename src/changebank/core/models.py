"""The audit trail: one row for every change to data, with who, what, when, before and after."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """A change to data. Written in the same transaction as the change, so neither exists without the other."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(
        max_length=150, help_text="Who made the change: a user name, 'anonymous' or a command."
    )
    action = models.CharField(
        max_length=40, db_index=True
    )  # create / update / delete / import / ...
    object_type = models.CharField(max_length=80, db_index=True)
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=200, blank=True)
    before = models.JSONField(null=True, blank=True)
    after = models.JSONField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_label} {self.action} {self.object_type} {self.object_id}"


class Task(models.Model):
    """A piece of background work (an analysis run, a large export), with visible progress.

    Workers take queued tasks whose ``run_after`` has come (see :mod:`changebank.core.tasks`); each
    time one starts counts as an attempt, and a failed attempt is queued again with a growing delay
    until ``max_attempts`` is reached. A running task's ``heartbeat_at`` is kept fresh by its worker:
    a task whose heartbeat is older than the lease is taken to be abandoned and queued again.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", "Waiting to start"
        RUNNING = "running", "Running"
        DONE = "done", "Finished"
        FAILED = "failed", "Failed"

    name = models.CharField(max_length=80)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status, default=Status.QUEUED, db_index=True)
    progress = models.PositiveSmallIntegerField(default=0, help_text="Per cent done.")
    stage = models.CharField(max_length=200, blank=True, help_text="What it is doing now.")
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True, help_text="The error of the last failed attempt.")
    traceback = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    claimed_by = models.CharField(
        max_length=120, blank=True, help_text="The worker running it: host:process id."
    )
    key = models.CharField(
        max_length=200,
        blank=True,
        help_text="An idempotency key: queueing a task with a key already used returns that task.",
    )
    attempts = models.PositiveIntegerField(default=0, help_text="How many times it has started.")
    max_attempts = models.PositiveSmallIntegerField(
        default=3, help_text="Attempts before a failing task is given up as failed."
    )
    run_after = models.DateTimeField(
        default=timezone.now, help_text="Not started before this time (a retry's back-off)."
    )
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="When its worker last showed it was alive."
    )
    attempt_log = models.JSONField(
        default=list, blank=True, help_text="One entry for each attempt: worker, times, outcome."
    )

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "run_after"], name="core_task_ready")]
        constraints = [
            models.UniqueConstraint(
                fields=["key"], condition=~models.Q(key=""), name="core_task_unique_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} #{self.pk} ({self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    def report(self, progress: int, stage: str) -> None:
        """Record progress from inside the task, visible at once to other connections (written
        outside any transaction the task has open, where the database allows it), and show that
        the task is alive."""
        from .tasks import write_progress

        self.progress = max(0, min(100, int(progress)))
        self.stage = stage[:200]
        self.heartbeat_at = timezone.now()
        write_progress(self)
