"""CSV export of submissions, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
from typing import Any, TextIO

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """Text that a spreadsheet will show as text, never run as a formula (OWASP CSV injection)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


COLUMNS = [
    "reference",
    "submission_id",
    "question",
    "text",
    "source",
    "received_at",
    "moderation_status",
    "respondent_id",
    "role",
    "organisation",
    "sector",
    "region",
    "workstream",
    "import_file",
    "source_row",
]


def write_submissions_csv(programme: Any, out: TextIO, *, as_written: bool = False) -> int:
    """Write every submission of ``programme`` to ``out``; return how many rows were written.

    The text is the redacted text stored at ingest; ``as_written=True`` gives the text as the
    contributor wrote it, for people allowed to see it."""
    from changebank.listen.models import Submission

    writer = csv.writer(out)
    writer.writerow(COLUMNS)
    count = 0
    rows = (
        Submission.objects.filter(programme=programme)
        .select_related("question", "respondent", "workstream", "import_batch")
        .order_by("id")
    )
    for s in rows.iterator(chunk_size=2000):
        r = s.respondent
        writer.writerow(
            [
                neutralise(v)
                for v in (
                    s.reference,
                    s.pk,
                    s.question.prompt if s.question else "",
                    (s.original_text or s.text) if as_written else s.text,
                    s.source,
                    s.received_at.isoformat(),
                    s.moderation_status,
                    r.external_id if r else "",
                    r.role if r else "",
                    r.organisation if r else "",
                    r.sector if r else "",
                    r.region if r else "",
                    s.workstream.name if s.workstream else "",
                    s.import_batch.filename if s.import_batch else "",
                    s.source_row or "",
                )
            ]
        )
        count += 1
    return count
