"""Contributors' rights: erasure by reference number, a subject-access export, and retention.

* :func:`erase` deletes everything held under a reference number: its submissions (with their
  codings and highlighted spans, readings, membership of distinct changes, coding decisions and
  samples), pulse responses and experiences, documents whose every passage it holds, and the
  respondent when nothing else of theirs is left. Earlier audit events about those rows lose their
  content; one event records the erasure with the reference, the counts, who and when, never what
  was erased.
* :func:`subject_access` gathers everything held about a reference number, as JSON-able data.
* :func:`purge` (the ``listen.purge`` task) deletes submissions older than their programme's
  ``retention_days``, in batches, in the same way, with one audit event per programme.

References are looked up across every programme: a REFI-QDA import of a changebank export keeps
the exported reference numbers, so copies in other programmes are erased (and exported) with the
original; sources from other tools get new references of their own.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from changebank.core import audit
from changebank.core.models import AuditEvent
from changebank.core.tasks import task

from .models import Document, Programme, Respondent, Submission

__all__ = ["ErasureReport", "erase", "purge", "subject_access"]

PURGE_BATCH = 1000


@dataclass
class ErasureReport:
    reference: str
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return bool(self.counts.get("submissions"))

    def summary(self) -> str:
        if not self.found:
            return f"Nothing is held under {self.reference}."
        parts = [f"{n:,} {label}" for label, n in self.counts.items() if n]
        return f"Erased {self.reference}: " + ", ".join(parts) + "."


def _delete_submissions(ids: list[int]) -> Counter:
    """Delete the submissions ``ids`` and everything that hangs on them, without copying their
    content into the audit trail; return counts by kind of row."""
    from changebank.evaluate.models import PulseResponse
    from changebank.understand.models import CodeSpan, DistinctChange

    counts: Counter = Counter()
    if not ids:
        return counts
    subs = Submission.objects.filter(pk__in=ids)
    respondent_ids = set(subs.exclude(respondent=None).values_list("respondent_id", flat=True))
    document_ids = set(subs.exclude(document=None).values_list("document_id", flat=True))
    texts = set(subs.values_list("text", flat=True))
    counts["code spans"] = CodeSpan.objects.filter(assignment__submission__in=ids).count()
    counts["pulse responses"] = PulseResponse.objects.filter(submission__in=ids).delete()[0]
    # a distinct change worded as an erased submission takes another member's words
    changes = list(DistinctChange.objects.filter(members__in=ids).distinct())
    with audit.without_row_events():
        _, by_model = subs.delete()
        for label, n in by_model.items():
            name = {
                "listen.Submission": "submissions",
                "understand.CodeAssignment": "codes applied",
                "understand.CodeSpan": None,
                "understand.SubmissionReading": "readings",
                "understand.DistinctChange_members": "distinct change memberships",
                "share.Experience": "experiences",
            }.get(label, label)
            if name:
                counts[name] += n
        for change in changes:
            remaining = change.members.count()
            change.count = remaining
            if change.text in texts:
                other = change.members.values_list("text", flat=True).first()
                change.text = other if other is not None else "(erased)"
            DistinctChange.objects.filter(pk=change.pk).update(count=change.count, text=change.text)
        # documents none of whose passages are left as submissions
        gone_docs = [
            d
            for d in Document.objects.filter(pk__in=document_ids)
            if not Submission.objects.filter(document=d).exists()
        ]
        for d in gone_docs:
            stored = Path(settings.MEDIA_ROOT) / d.file.name if d.file else None
            d.delete()
            if stored is not None and stored.is_file():
                stored.unlink()
        counts["documents"] += len(gone_docs)
        lone = Respondent.objects.filter(pk__in=respondent_ids, submissions=None)
        counts["respondents"] += lone.delete()[0]
    _scrub_audit("listen.submission", ids)
    _scrub_audit("listen.respondent", respondent_ids)
    _scrub_audit("listen.document", [d.pk for d in gone_docs])
    return counts


def _scrub_audit(object_type: str, ids: Any) -> None:
    """Earlier audit events about erased rows keep who and when, not what."""
    ids = [str(i) for i in ids]
    for start in range(0, len(ids), 500):
        AuditEvent.objects.filter(
            object_type=object_type, object_id__in=ids[start : start + 500]
        ).update(before=None, after=None, object_repr="", note="content erased")


def erase(reference: str, *, by: Any = None) -> ErasureReport:
    """Delete everything held under ``reference`` (see the module's description); audited with
    the reference and the counts only."""
    reference = reference.strip().upper()
    report = ErasureReport(reference)
    with transaction.atomic():
        ids = list(Submission.objects.filter(reference=reference).values_list("pk", flat=True))
        if not ids:
            return report
        counts = _delete_submissions(ids)
        report.counts = {k: v for k, v in counts.items() if v}
        with audit.acting_as(by) if by is not None else contextlib.nullcontext():
            audit.record(
                "erase",
                object_type="listen.reference",
                object_id=reference,
                after={"counts": report.counts},
                note="A contributor's data erased at their request; the content is not kept.",
            )
    return report


def _iso(value: Any) -> Any:
    return value.isoformat() if isinstance(value, dt.datetime | dt.date) else value


def subject_access(reference: str) -> dict[str, Any]:
    """Everything held about ``reference``, ready for ``json.dumps``."""
    from changebank.evaluate.models import PulseResponse
    from changebank.share.models import Experience
    from changebank.understand.models import CodeAssignment, SubmissionReading

    reference = reference.strip().upper()
    subs = list(
        Submission.objects.filter(reference=reference)
        .select_related("programme", "question", "respondent", "workstream", "document")
        .order_by("pk")
    )
    ids = [s.pk for s in subs]
    codes: dict[int, list] = {}
    for a in (
        CodeAssignment.objects.filter(submission__in=ids)
        .select_related("code", "code__theme")
        .prefetch_related("spans")
    ):
        text = next(s.text for s in subs if s.pk == a.submission_id)
        codes.setdefault(a.submission_id, []).append(
            {
                "code": a.code.label,
                "theme": a.code.theme.label if a.code.theme else None,
                "by": "analysis" if a.origin == "ai" else "analyst",
                "words": [text[sp.start : sp.end] for sp in a.spans.all()],
                "decided_at": _iso(a.decided_at),
            }
        )
    readings = {
        r.submission_id: {
            "sentiment": r.sentiment_label if r.sentiment else None,
            "stance": r.get_stance_display() if r.stance else None,
        }
        for r in SubmissionReading.objects.filter(submission__in=ids)
    }
    respondents = {s.respondent_id: s.respondent for s in subs if s.respondent is not None}
    pulses = PulseResponse.objects.filter(submission__in=ids).select_related("tracked")
    experiences = Experience.objects.filter(submission__in=ids).select_related("theme")
    return {
        "reference": reference,
        "generated_at": timezone.now().isoformat(),
        "found": bool(subs),
        "submissions": [
            {
                "id": s.pk,
                "programme": s.programme.title,
                "question": s.question.prompt if s.question else None,
                "text_as_written": s.original_text or s.text,
                "text_as_analysed": s.text,
                "personal_data_removed": [
                    {"kind": r["kind"], "words": (s.original_text or s.text)[r["start"] : r["end"]]}
                    for r in s.redactions
                ],
                "answers": s.answers,
                "source": s.get_source_display(),
                "received_at": _iso(s.received_at),
                "moderation": s.get_moderation_status_display(),
                "consent_given": s.consent_given,
                "consent_wording": s.consent_wording,
                "workstream": s.workstream.name if s.workstream else None,
                "document": s.document.title if s.document else None,
                "codes_applied": codes.get(s.pk, []),
                "reading": readings.get(s.pk),
                "distinct_changes": [
                    {"text": c.text, "name": c.name} for c in s.distinct_changes.all()
                ],
            }
            for s in subs
        ],
        "respondents": [
            {
                "role": r.get_role_display() if r.role else None,
                "role_as_given": r.role_detail,
                "organisation": r.organisation,
                "sector": r.sector,
                "region": r.region,
                "identifier_in_source": r.external_id,
                "equality": r.equality,
                "other_details": r.attributes,
                "created_at": _iso(r.created_at),
            }
            for r in respondents.values()
        ],
        "pulse_responses": [
            {
                "change": p.tracked.title,
                "helped": p.get_helped_display(),
                "text": p.text,
                "role": p.role,
                "received_at": _iso(p.received_at),
            }
            for p in pulses
        ],
        "experiences": [
            {"theme": e.theme.label, "created_at": _iso(e.created_at)} for e in experiences
        ],
    }


def purge(
    programme: Programme | None = None,
    *,
    dry_run: bool = False,
    now: dt.datetime | None = None,
    batch_size: int = PURGE_BATCH,
    progress: Any = None,
) -> dict[str, Any]:
    """Delete submissions received more than their programme's ``retention_days`` ago (every
    programme with a retention period, or just ``programme``), in batches. ``dry_run`` counts
    without deleting. Returns ``{programme slug: {"cutoff", "submissions", ...}}``."""
    now = now or timezone.now()
    programmes = (
        [programme] if programme is not None else Programme.objects.exclude(retention_days=None)
    )
    result: dict[str, Any] = {}
    for p in programmes:
        if not p.retention_days:
            continue
        cutoff = now - dt.timedelta(days=p.retention_days)
        old = Submission.objects.filter(programme=p, received_at__lt=cutoff)
        if dry_run:
            result[p.slug] = {"cutoff": cutoff.isoformat(), "submissions": old.count()}
            continue
        counts: Counter = Counter()
        while True:
            ids = list(old.order_by("pk").values_list("pk", flat=True)[:batch_size])
            if not ids:
                break
            with transaction.atomic():
                counts.update(_delete_submissions(ids))
            if progress is not None:
                progress(p, counts["submissions"])
        summary = {k: v for k, v in counts.items() if v}
        if summary:
            audit.record(
                "purge",
                p,
                after={"cutoff": cutoff.isoformat(), "counts": summary},
                note=f"Submissions older than the programme's {p.retention_days} days deleted.",
            )
        result[p.slug] = {"cutoff": cutoff.isoformat(), **summary}
    return result


@task("listen.purge")
def purge_task(row: Any, programme: str | None = None, dry_run: bool = False) -> dict[str, Any]:
    """The retention job: ``enqueue("listen.purge")`` (every programme) or with
    ``programme="slug"``; run it daily (``changebank purge``, from cron or a timer)."""
    target = Programme.objects.get(slug=programme) if programme else None
    row.report(5, "Deleting submissions past their retention period")
    return purge(target, dry_run=dry_run)
