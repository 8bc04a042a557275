"""Personal data removed as text arrives: every way a submission is created goes through here.

:func:`prepare_text` redacts the text with :func:`changebank.analysis.redact.find_personal_data`
(plus the programme's list of names always to remove) so that ``Submission.text`` never holds
personal data: the analysis, search, exports and the public pages only ever see placeholders
such as ``[EMAIL]``. The text as written is kept apart in ``Submission.original_text`` (only when
redaction changed something), with what was replaced in ``Submission.redactions`` as
``[{"kind", "start", "end"}]`` in the original's offsets. Only people with
``listen.view_original_text`` see it.

Analysts review what was redacted and may restore a false positive (:func:`restore`), which puts
the original words back into ``text`` and is audited. Submissions stored before this existed, or
before a name was added to the programme's list, are redacted with :func:`redact_existing` (in
batches; a command, not a migration).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import transaction
from markupsafe import Markup, escape

from changebank.analysis.redact import find_personal_data
from changebank.core import audit

from .models import Programme, Submission

__all__ = [
    "highlight",
    "prepare_text",
    "redact_existing",
    "redacted_spans",
    "restore",
    "text_fields",
]

KIND_LABELS = {
    "NHS_NUMBER": "NHS number",
    "POSTCODE": "postcode",
    "PHONE": "phone number",
    "EMAIL": "email address",
    "URL": "web address",
    "NI_NUMBER": "National Insurance number",
    "DATE_OF_BIRTH": "date of birth",
    "NAME": "name",
}


def placeholder(kind: str) -> str:
    return f"[{kind}]"


def prepare_text(
    programme: Programme | None, text: str, *, names: Iterable[str] | None = None
) -> tuple[str, str, list[dict[str, Any]]]:
    """``(text, original_text, redactions)`` to store for ``text`` in ``programme``.

    ``text`` has personal data replaced by placeholders; ``original_text`` is the text as given
    when that changed anything, else ``""``; ``redactions`` lists ``{"kind", "start", "end"}`` in
    the original's offsets. ``names`` overrides the programme's list (pass it once for a batch)."""
    if names is None:
        names = programme.names_to_redact() if programme is not None else ()
    findings = find_personal_data(text or "", names=names)
    if not findings:
        return text, "", []
    out: list[str] = []
    pos = 0
    for f in findings:
        out.append(text[pos : f.start])
        out.append(placeholder(f.kind))
        pos = f.end
    out.append(text[pos:])
    return (
        "".join(out),
        text,
        [{"kind": f.kind, "start": f.start, "end": f.end} for f in findings],
    )


def text_fields(
    programme: Programme | None, text: str, *, names: Iterable[str] | None = None
) -> dict[str, Any]:
    """The keyword arguments of ``Submission(...)`` for ``text``: ``text``, ``original_text`` and
    ``redactions``."""
    redacted, original, redactions = prepare_text(programme, text, names=names)
    return {"text": redacted, "original_text": original, "redactions": redactions}


def redacted_spans(redactions: Sequence[dict[str, Any]]) -> list[tuple[int, int, dict]]:
    """Where each redaction's placeholder is in the redacted text: ``[(start, end, redaction)]``."""
    out = []
    shift = 0
    for r in sorted(redactions, key=lambda r: r["start"]):
        start = r["start"] + shift
        end = start + len(placeholder(r["kind"]))
        out.append((start, end, r))
        shift += (end - start) - (r["end"] - r["start"])
    return out


def map_offset(redactions: Sequence[dict[str, Any]], offset: int, *, end: bool = False) -> int:
    """An offset in the original text as an offset in the redacted text. Inside a redacted item a
    start moves to the placeholder's start and an end to its end."""
    shift = 0
    for r in sorted(redactions, key=lambda r: r["start"]):
        ph = len(placeholder(r["kind"]))
        if offset <= r["start"]:
            break
        if offset < r["end"]:
            return r["start"] + shift + (ph if end else 0)
        shift += ph - (r["end"] - r["start"])
    return offset + shift


def _mark(text: str, kind: str) -> Markup:
    label = KIND_LABELS.get(kind, kind.lower())
    return Markup(
        '<mark class="cb-redacted"><span class="nhsuk-u-visually-hidden">redacted: {}'
        " </span>{}</mark>"
    ).format(label, text)


def highlight(submission: Submission, *, original: bool) -> Markup:
    """The submission's text as HTML with each redacted item in a ``<mark>`` (with a visually
    hidden "redacted: email address" label): the original words when ``original`` (only for
    people with ``listen.view_original_text``), else the placeholders."""
    if not submission.redactions or not submission.original_text:
        return escape(submission.text)
    parts: list[Any] = []
    pos = 0
    if original:
        source = submission.original_text
        spans = [(r["start"], r["end"], r) for r in submission.redactions]
    else:
        source = submission.text
        spans = redacted_spans(submission.redactions)
    for start, end, r in sorted(spans, key=lambda s: s[0]):
        if start < pos or end > len(source):
            return escape(submission.text if not original else source)  # edited since: plain
        parts.append(escape(source[pos:start]))
        parts.append(_mark(source[start:end], r["kind"]))
        pos = end
    parts.append(escape(source[pos:]))
    return Markup("").join(parts)


class RestoreError(ValueError):
    """The redaction cannot be restored (the text changed since, or no such redaction)."""


def restore(submission: Submission, index: int, *, by: Any = None) -> Submission:
    """Put the original words of ``submission.redactions[index]`` back into ``text`` (a false
    positive an analyst reviewed), shift code spans after it, and audit the change. The caller
    checks ``listen.view_original_text``."""
    from changebank.understand.models import CodeSpan

    with transaction.atomic():
        sub = Submission.objects.select_for_update().get(pk=submission.pk)
        redactions = sorted(sub.redactions, key=lambda r: r["start"])
        if not (0 <= index < len(redactions)) or not sub.original_text:
            raise RestoreError("no such redaction")
        spans = redacted_spans(redactions)
        start, end, r = spans[index]
        if sub.text[start:end] != placeholder(r["kind"]):
            raise RestoreError("the text has changed since it was redacted")
        words = sub.original_text[r["start"] : r["end"]]
        delta = len(words) - (end - start)
        sub.text = sub.text[:start] + words + sub.text[end:]
        sub.redactions = [x for i, x in enumerate(redactions) if i != index]
        if not sub.redactions:
            sub.original_text = ""  # nothing redacted any more: the text is the original
        with audit.acting_as(by) if by is not None else contextlib.nullcontext():
            sub.save(update_fields=["text", "original_text", "redactions"])
            if delta:
                for span in CodeSpan.objects.filter(assignment__submission=sub, end__gt=start):
                    span.start = span.start + delta if span.start >= end else span.start
                    span.end = (
                        span.end + delta if span.end >= end else max(span.end, span.start + 1)
                    )
                    span.save(update_fields=["start", "end"])
            audit.record(
                "restore_redaction",
                sub,
                after={"kind": r["kind"], "start": r["start"], "end": r["end"]},
                note="An analyst judged this redaction a false positive and restored the words.",
            )
    return sub


def _apply(text: str, redactions: Sequence[dict[str, Any]]) -> str:
    """``text`` with each redaction (in ``text``'s offsets) replaced by its placeholder."""
    out: list[str] = []
    pos = 0
    for r in sorted(redactions, key=lambda r: r["start"]):
        out.append(text[pos : r["start"]])
        out.append(placeholder(r["kind"]))
        pos = r["end"]
    out.append(text[pos:])
    return "".join(out)


def _original_offset(redactions: Sequence[dict[str, Any]], offset: int) -> int:
    """An offset in the redacted text outside every placeholder, in the original's offsets."""
    shift = 0
    for start, end, r in redacted_spans(redactions):
        if offset <= start:
            break
        shift += (end - start) - (r["end"] - r["start"])
    return offset - shift


def _restored(pks: Sequence[int]) -> dict[int, set[tuple[int, int]]]:
    """The spans (in the original's offsets) that analysts restored, by submission."""
    from changebank.core.models import AuditEvent

    out: dict[int, set[tuple[int, int]]] = {}
    for object_id, after in AuditEvent.objects.filter(
        action="restore_redaction",
        object_type=Submission._meta.label_lower,
        object_id__in=[str(pk) for pk in pks],
    ).values_list("object_id", "after"):
        if after and "start" in after and "end" in after:
            out.setdefault(int(object_id), set()).add((after["start"], after["end"]))
    return out


def _overlaps(start: int, end: int, spans: set[tuple[int, int]]) -> bool:
    return any(start < e and s < end for s, e in spans)


def _redact_again(
    sub: Submission, names: Sequence[str], restored: set[tuple[int, int]]
) -> list[dict[str, Any]]:
    """Redact ``sub`` in place with what redaction finds now, except what analysts restored;
    return the new redactions in the offsets of the text as it was (to move code spans), or
    ``[]`` when nothing changed.

    A submission never redacted is redacted in full. One already redacted keeps its redactions
    and gets only the programme's list of names on top (the list may have grown since); one whose
    text no longer matches its original and redactions (edited since) is left alone."""
    if not sub.original_text:
        findings = find_personal_data(sub.text or "", names=names)
        found = [
            {"kind": f.kind, "start": f.start, "end": f.end}
            for f in findings
            if not _overlaps(f.start, f.end, restored)
        ]
        if found:
            sub.original_text, sub.text, sub.redactions = sub.text, _apply(sub.text, found), found
        return found
    if not names or _apply(sub.original_text, sub.redactions) != sub.text:
        return []
    found, added = [], []
    for f in find_personal_data(sub.text, names=names, recognisers=()):  # placeholders are kept
        start = _original_offset(sub.redactions, f.start)
        end = _original_offset(sub.redactions, f.end)
        if not _overlaps(start, end, restored):
            found.append({"kind": f.kind, "start": f.start, "end": f.end})
            added.append({"kind": f.kind, "start": start, "end": end})
    if found:
        sub.text = _apply(sub.text, found)
        sub.redactions = sorted([*sub.redactions, *added], key=lambda r: r["start"])
    return found


def redact_existing(programme: Programme, *, batch_size: int = 2000) -> dict[str, int]:
    """Redact the submissions of ``programme`` stored before redaction at ingest, or before a
    name was added to its list: in batches, each in its own transaction, one audit event with the
    counts. Submissions already redacted keep their redactions and get the names added to the
    list since; what analysts restored (audited) is never redacted again. Code spans move with
    the text. Returns ``{"checked": n, "changed": m}``."""
    from changebank.understand.models import CodeSpan

    names = programme.names_to_redact()
    checked = changed = 0
    last = 0
    while True:
        rows = list(
            Submission.objects.filter(programme=programme, pk__gt=last)
            .order_by("pk")
            .only("pk", "text", "original_text", "redactions")[:batch_size]
        )
        if not rows:
            break
        last = rows[-1].pk
        restored = _restored([sub.pk for sub in rows])
        updated = []
        moves: dict[int, list[dict[str, Any]]] = {}  # pk -> new redactions in the old text
        for sub in rows:
            checked += 1
            found = _redact_again(sub, names, restored.get(sub.pk, set()))
            if found:
                moves[sub.pk] = found
                updated.append(sub)
        if updated:
            with transaction.atomic():
                Submission.objects.bulk_update(
                    updated, ["text", "original_text", "redactions"], batch_size=500
                )
                # code spans pointed into the text before: move them onto the redacted text
                moved = []
                for span in CodeSpan.objects.filter(
                    assignment__submission__in=list(moves)
                ).select_related("assignment"):
                    found = moves[span.assignment.submission_id]
                    s = map_offset(found, span.start)
                    e = map_offset(found, span.end, end=True)
                    if (s, e) != (span.start, span.end) and e > s:
                        span.start, span.end = s, e
                        moved.append(span)
                CodeSpan.objects.bulk_update(moved, ["start", "end"], batch_size=500)
            changed += len(updated)
    audit.record(
        "redact_existing",
        programme,
        after={"checked": checked, "changed": changed},
        note="Personal data removed from submissions stored before redaction at ingest.",
    )
    return {"checked": checked, "changed": changed}
