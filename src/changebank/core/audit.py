"""Recording every change to data.

Single-object saves and deletes of audited models are recorded by signal handlers, with the fields
before and after. Bulk operations (an import of a million rows) record one event for the batch, with
its counts, through :func:`record`. The actor comes from :func:`acting_as`, set by the middleware for
web requests and by the command line for commands.
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import decimal
import uuid
from collections.abc import Iterator
from typing import Any

from django.db import models
from django.db.models.fields.files import FieldFile
from django.db.models.signals import post_delete, post_save, pre_save

_actor: contextvars.ContextVar[tuple[Any, str]] = contextvars.ContextVar(
    "changebank_actor", default=(None, "system")
)

#: Models whose single-object changes are audited, filled by :func:`audited`.
AUDITED: set[type[models.Model]] = set()
#: Fields never copied into the audit trail: by name, or as "app.model.field". Texts as
#: written (``original_text``, a document's extracted text) hold personal data and are kept apart.
SKIP_FIELDS = {"password", "search_text", "original_text", "listen.document.text"}
_quiet: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "changebank_audit_quiet", default=False
)


def audited(cls: type[models.Model]) -> type[models.Model]:
    """Class decorator: record every save and delete of this model."""
    AUDITED.add(cls)
    return cls


@contextlib.contextmanager
def acting_as(user: Any = None, label: str | None = None) -> Iterator[None]:
    """Attribute changes made inside the block to ``user`` (or to ``label`` for commands)."""
    if label is None:
        label = getattr(user, "username", None) or "anonymous"
    token = _actor.set((user if getattr(user, "pk", None) else None, label))
    try:
        yield
    finally:
        _actor.reset(token)


@contextlib.contextmanager
def without_row_events() -> Iterator[None]:
    """Inside the block, single-object deletes are not recorded one by one: for erasure and
    retention, which must not copy what they delete into the trail and record one event with the
    counts instead (through :func:`record`)."""
    token = _quiet.set(True)
    try:
        yield
    finally:
        _quiet.reset(token)


def current_actor() -> tuple[Any, str]:
    return _actor.get()


def _jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, FieldFile):
        return value.name or ""
    return value


def snapshot(instance: models.Model) -> dict[str, Any]:
    """The concrete field values of ``instance``, ready to store as JSON."""
    data = {}
    label = instance._meta.label_lower
    for field in instance._meta.concrete_fields:
        if field.name in SKIP_FIELDS or f"{label}.{field.name}" in SKIP_FIELDS:
            continue
        data[field.attname] = _jsonable(getattr(instance, field.attname))
    return data


def record(
    action: str,
    instance: models.Model | None = None,
    *,
    object_type: str = "",
    object_id: str = "",
    before: dict | None = None,
    after: dict | None = None,
    note: str = "",
) -> None:
    """Write one audit event for ``instance`` (or for a named object when there is no instance)."""
    from .models import AuditEvent

    user, label = current_actor()
    if instance is not None:
        object_type = object_type or instance._meta.label_lower
        object_id = object_id or str(instance.pk)
        object_repr = str(instance)[:200]
    else:
        object_repr = ""
    AuditEvent.objects.create(
        actor=user,
        actor_label=label[:150],
        action=action,
        object_type=object_type,
        object_id=object_id,
        object_repr=object_repr,
        before=before,
        after=after,
        note=note,
    )


def _changed(before: dict | None, after: dict) -> tuple[dict | None, dict]:
    if before is None:
        return None, after
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def _pre_save(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if sender not in AUDITED or kwargs.get("raw"):
        return
    previous = None
    if instance.pk is not None:
        old = sender._default_manager.filter(pk=instance.pk).first()
        previous = snapshot(old) if old is not None else None
    instance._audit_before = previous


def _post_save(
    sender: type[models.Model], instance: models.Model, created: bool, **kwargs: Any
) -> None:
    if sender not in AUDITED or kwargs.get("raw"):
        return
    before, after = _changed(getattr(instance, "_audit_before", None), snapshot(instance))
    if not created and not after:
        return  # saved without a change
    record("create" if created else "update", instance, before=before, after=after)


def _post_delete(sender: type[models.Model], instance: models.Model, **kwargs: Any) -> None:
    if sender in AUDITED and not _quiet.get():
        record("delete", instance, before=snapshot(instance))


def connect_signals() -> None:
    pre_save.connect(_pre_save, dispatch_uid="changebank-audit-pre-save")
    post_save.connect(_post_save, dispatch_uid="changebank-audit-post-save")
    post_delete.connect(_post_delete, dispatch_uid="changebank-audit-post-delete")
