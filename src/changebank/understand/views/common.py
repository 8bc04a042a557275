"""What the Understand pages share: the programme from the URL, page size, object history."""

from __future__ import annotations

from django.shortcuts import get_object_or_404

from changebank.listen.models import Programme

PAGE_SIZE = 50
HISTORY_FIELDS = {"label", "description", "status", "origin", "theme", "meaning", "chosen_quotes"}


def history(obj: object, limit: int = 50) -> list[dict]:
    """Who changed this object, when, and what each field was before and after (from the audit
    trail), newest first; fields the analysts do not edit are left out."""
    from changebank.core.models import AuditEvent

    events = AuditEvent.objects.filter(
        object_type=obj._meta.label_lower,  # type: ignore[attr-defined]
        object_id=str(obj.pk),  # type: ignore[attr-defined]
    ).order_by("-at", "-id")[:limit]
    out = []
    for event in events:
        before, after = event.before or {}, event.after or {}
        changes = [
            (key, before.get(key), after.get(key))
            for key in after
            if key in HISTORY_FIELDS and before.get(key) != after.get(key)
        ]
        if event.action == "create" or event.note:
            changes = []
        out.append({"event": event, "changes": changes})
    return out


def programme_or_404(slug: str) -> Programme:
    return get_object_or_404(Programme, slug=slug)
