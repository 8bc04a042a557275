"""Undo for the analysts' workspace.

Every action an analyst takes on themes, codes, codings and distinct changes runs inside a
:class:`Changeset`. Before the action, the changeset copies the rows the action may touch (Django's
own serialiser, so binary centroids and many-to-many links survive); afterwards it notes the rows
the action created. Together they are stored on a :class:`WorkspaceAction`, and :func:`undo` puts
the rows back as they were: rows the action deleted are re-created with their old keys, rows it
changed get their old values and links, rows it created are deleted.

Undo goes newest first: only the most recent action not yet undone can be undone, and not one made
before the latest analysis run (which rewrote the AI's rows). That keeps undo exact: no later change
can have touched the same rows.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.core import serializers
from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone

from changebank.core.audit import current_actor, record
from changebank.listen.models import Programme

from .models import WorkspaceAction

#: The order rows are restored in (parents before children); deletions go the other way.
ORDER = [
    "understand.theme",
    "understand.code",
    "understand.codeassignment",
    "understand.codespan",
    "understand.distinctchange",
    "understand.codingdecision",
    "understand.submissionreading",
]


def _label(model: type[models.Model]) -> str:
    return model._meta.label_lower


class Changeset:
    """Record what an action changes, so that it can be undone.

    Use as a context manager around the action, inside which the action runs in one transaction::

        with Changeset(programme, "rename", f"Renamed ‘{old}’ to ‘{new}’") as cs:
            cs.watch(Code, Q(pk=code.pk))
            code.label = new
            code.save()

    ``watch(model, q)`` copies the rows matching ``q`` now; when the block ends, rows matching any
    watched ``q`` (or one given to ``watch_after``) that were not there before count as created.
    """

    def __init__(self, programme: Programme, kind: str, summary: str, user: Any = None) -> None:
        self.programme = programme
        self.kind = kind
        self.summary = summary
        self.user = user
        self._before: dict[str, dict[int, dict]] = {}
        self._queries: dict[str, list[Q]] = {}
        self._existing: dict[str, set[int]] = {}
        self._atomic = transaction.atomic()
        self.action: WorkspaceAction | None = None

    def __enter__(self) -> Changeset:
        self._atomic.__enter__()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        if exc_type is None:
            try:
                self._save()
            except BaseException as error:
                self._atomic.__exit__(type(error), error, error.__traceback__)
                raise
        return self._atomic.__exit__(exc_type, exc, tb)

    def watch(self, model: type[models.Model], q: Q) -> None:
        """Copy the rows of ``model`` matching ``q`` as they are now."""
        label = _label(model)
        if label not in ORDER:
            raise ValueError(f"{label} cannot be undone (not in undo.ORDER)")
        self._queries.setdefault(label, []).append(q)
        self._existing.setdefault(label, set()).update(
            model._default_manager.filter(q).values_list("pk", flat=True)
        )
        rows = self._before.setdefault(label, {})
        fresh = model._default_manager.filter(q).exclude(pk__in=list(rows))
        for item in json.loads(serializers.serialize("json", fresh)):
            rows[item["pk"]] = item

    def watch_after(self, model: type[models.Model], q: Q) -> None:
        """Rows matching ``q`` when the action ends, and not now, are created by it (undo deletes
        them). Call it before the action."""
        label = _label(model)
        self._queries.setdefault(label, []).append(q)
        self._existing.setdefault(label, set()).update(
            model._default_manager.filter(q).values_list("pk", flat=True)
        )

    def _save(self) -> None:
        created: dict[str, list[int]] = {}
        for label, queries in self._queries.items():
            model = apps.get_model(label)
            q = Q(pk__in=[])
            for item in queries:
                q |= item
            now = set(model._default_manager.filter(q).values_list("pk", flat=True))
            new = sorted(now - self._existing.get(label, set()))
            if new:
                created[label] = new
        user, actor_label = current_actor()
        user = self.user if getattr(self.user, "pk", None) else user
        self.action = WorkspaceAction.objects.create(
            programme=self.programme,
            actor=user,
            actor_label=(getattr(user, "username", None) or actor_label)[:150],
            kind=self.kind,
            summary=self.summary[:300],
            undo={
                "before": {label: list(rows.values()) for label, rows in self._before.items()},
                "created": created,
            },
        )


def undoable(programme: Programme) -> WorkspaceAction | None:
    """The action that :func:`undo` would undo now, if any."""
    latest = (
        WorkspaceAction.objects.filter(programme=programme, undone_at=None).order_by("-id").first()
    )
    if latest is None:
        return None
    # an analysis run rewrites the AI's codes and codings: actions before it cannot be undone
    # exactly. (A retraining of the coding model rewrites AI codings too, but keeps the key of
    # every row whose submission and code stay the same, so undo still puts back exactly the rows
    # an action touched; see learning.py.)
    run = programme.analysis_runs.filter(task__finished_at__isnull=False).order_by("-id").first()
    if run is not None and run.task.finished_at > latest.created_at:
        return None
    return latest


def undo(action: WorkspaceAction, user: Any = None) -> None:
    """Put back the rows ``action`` changed, as they were before it. Raises ``ValidationError``
    if it is not the most recent action of its programme that can be undone."""
    from .analyse import update_code_sizes

    with transaction.atomic():
        action = WorkspaceAction.objects.select_for_update().get(pk=action.pk)
        if action.undone_at is not None:
            raise ValidationError("That action has already been undone.")
        if undoable(action.programme) != action:
            raise ValidationError(
                "Only the most recent action can be undone, and none made before the latest analysis."
            )
        before: dict[str, list[dict]] = action.undo.get("before", {})
        created: dict[str, list[int]] = action.undo.get("created", {})
        for label in ORDER:
            rows = before.get(label)
            if not rows:
                continue
            for obj in serializers.deserialize("json", json.dumps(rows)):
                obj.save()  # an update of the row if it exists, else its re-creation
                if label in ("understand.theme", "understand.code"):
                    record(
                        "undo",
                        obj.object,
                        object_type=label,
                        note=f"Undone: {action.summary}",
                    )
        for label in reversed(ORDER):
            if created.get(label):
                apps.get_model(label)._default_manager.filter(pk__in=created[label]).delete()
        action.undone_at = timezone.now()
        action.undone_by = user if getattr(user, "pk", None) else None
        action.save(update_fields=["undone_at", "undone_by"])
        record(
            "undo",
            action,
            object_type="understand.workspaceaction",
            before={"summary": action.summary},
            note=f"Undid: {action.summary}",
        )
        update_code_sizes(action.programme)


def recent(programme: Programme, limit: int = 10) -> list[WorkspaceAction]:
    return list(
        WorkspaceAction.objects.filter(programme=programme)
        .select_related("actor", "undone_by")
        .order_by("-id")[:limit]
    )


def ids(objects: Iterable[Any]) -> list[int]:
    return [getattr(o, "pk", o) for o in objects]
