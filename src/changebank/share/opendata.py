"""Open data: a programme's publishable submissions (redacted), themes, codes, codings, distinct
changes, vote aggregates and published evaluations, as CSV, XLSX or JSON, with a data dictionary.

Only submissions that :func:`changebank.share.privacy.publishable` allows are included, their text
redacted by :func:`~changebank.share.privacy.public_text`; codings and counts are restricted to
them. Respondents appear only as a number that means nothing outside the file; equality answers
(special category data) and references are never included. Ideas and statements that
participants added are included only once approved, redacted.

Every table streams from the database in chunks, so a million submissions need no more memory
than a thousand. Text that a spreadsheet would run as a formula is neutralised in CSV (a leading
apostrophe, as OWASP advises) and written as plain text cells in XLSX.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db.models import Count, Q
from django.utils import timezone

from changebank.listen.models import Programme

from .exporters.csv import neutralise
from .privacy import public_text, publishable

FORMATS = ("csv", "xlsx", "json")
CHUNK = 2000


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # integer / number / text / date / boolean
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    rows: Callable[[Programme], Iterator[tuple]]

    @property
    def header(self) -> list[str]:
        return [c.name for c in self.columns]


# --- the tables ---------------------------------------------------------------------------------


def _submission_rows(programme: Programme) -> Iterator[tuple]:
    numbers: dict[int, int] = {}
    qs = (
        publishable(programme)
        .select_related("question", "respondent", "workstream", "reading")
        .order_by("id")
    )
    for s in qs.iterator(chunk_size=CHUNK):
        r = s.respondent
        person = numbers.setdefault(s.respondent_id, len(numbers) + 1) if r else None
        reading = getattr(s, "reading", None)
        yield (
            s.pk,
            person,
            s.question.key if s.question else "",
            s.question.prompt if s.question else "",
            public_text(s.text),
            s.source,
            s.received_at.date().isoformat(),
            r.role if r else "",
            r.organisation if r else "",
            r.sector if r else "",
            r.region if r else "",
            s.workstream.name if s.workstream else "",
            reading.stance if reading else "",
            reading.sentiment if reading and reading.sentiment is not None else None,
        )


def _theme_rows(programme: Programme) -> Iterator[tuple]:
    allowed = publishable(programme).values("pk")
    counts = dict(
        programme.themes.annotate(
            n=Count(
                "codes__assignments__submission",
                filter=Q(codes__assignments__submission__in=allowed),
                distinct=True,
            )
        ).values_list("pk", "n")
    )
    for t in programme.themes.order_by("position", "id"):
        yield (
            t.pk,
            t.label,
            t.description,
            t.meaning,
            "; ".join(t.keywords or []),
            counts.get(t.pk, 0),
            hasattr(t, "publication"),
        )


def _code_rows(programme: Programme) -> Iterator[tuple]:
    allowed = publishable(programme).values("pk")
    codes = programme.codes.annotate(
        n=Count("assignments", filter=Q(assignments__submission__in=allowed))
    ).prefetch_related("also_in")
    for c in codes.order_by("id"):
        yield (
            c.pk,
            c.theme_id,
            c.label,
            c.description,
            c.origin,
            "; ".join(str(t.pk) for t in c.also_in.all()),
            c.n,
        )


def _coding_rows(programme: Programme) -> Iterator[tuple]:
    from changebank.understand.models import CodeAssignment

    qs = (
        CodeAssignment.objects.filter(submission__in=publishable(programme).values("pk"))
        .order_by("submission_id", "code_id")
        .values_list("submission_id", "code_id", "origin", "confidence")
    )
    for submission, code, origin, confidence in qs.iterator(chunk_size=CHUNK):
        yield (submission, code, origin, None if confidence is None else round(confidence, 4))


def _change_rows(programme: Programme) -> Iterator[tuple]:
    allowed = publishable(programme).values("pk")
    changes = (
        programme.distinct_changes.annotate(
            n=Count("members", filter=Q(members__in=allowed), distinct=True)
        )
        .select_related("tracked")
        .order_by("-count", "id")
    )
    for c in changes.iterator(chunk_size=CHUNK):
        tracked = getattr(c, "tracked", None)
        yield (
            c.pk,
            c.code_id,
            c.name,
            public_text(c.text),
            c.n,
            tracked.stage if tracked else "",
            tracked.rsa if tracked else "",
        )


def _vote_rows(programme: Programme) -> Iterator[tuple]:
    """Pairwise scores, statement vote counts and Delphi medians, one row per item and method."""
    from changebank.decide.models import DelphiAnswer, Moderation, Statement, Status
    from changebank.decide.pairwise import results

    for survey in programme.pairwise_surveys.order_by("id"):
        for row in results(survey).rows:
            yield (
                "pairwise",
                survey.pk,
                survey.question,
                row.idea.pk,
                public_text(row.idea.text),
                row.idea.change_id,
                row.comparisons + row.cant_decide,
                "score",
                None if row.score is None else round(row.score, 4),
            )
    statements = (
        Statement.objects.filter(conversation__programme=programme, status=Moderation.APPROVED)
        .select_related("conversation")
        .annotate(
            agree=Count("votes", filter=Q(votes__vote=1)),
            disagree=Count("votes", filter=Q(votes__vote=-1)),
            passed=Count("votes", filter=Q(votes__vote=0)),
        )
        .order_by("conversation_id", "id")
    )
    for s in statements:
        votes = s.agree + s.disagree + s.passed
        for measure, value in (("agree", s.agree), ("disagree", s.disagree), ("pass", s.passed)):
            yield (
                "statements",
                s.conversation_id,
                s.conversation.topic,
                s.pk,
                public_text(s.text),
                s.change_id,
                votes,
                measure,
                value,
            )
    ratings: dict[tuple, list[int]] = defaultdict(list)
    rounds = {}
    answers = DelphiAnswer.objects.filter(
        round__panel__programme=programme, round__status=Status.CLOSED
    ).select_related("round", "round__panel", "change")
    for a in answers.iterator(chunk_size=CHUNK):
        rounds[a.round_id] = a.round
        for scale, value in (a.ratings or {}).items():
            if isinstance(value, int):
                ratings[(a.round_id, a.change_id, public_text(a.change.text), scale)].append(value)
    for (round_id, change_id, text, scale), values in sorted(ratings.items()):
        r = rounds[round_id]
        values.sort()
        mid = len(values) // 2
        median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
        yield (
            "delphi",
            round_id,
            f"{r.panel.name}, round {r.number}",
            change_id,
            text,
            change_id,
            len(values),
            f"median {scale}",
            median,
        )


def _evaluation_rows(programme: Programme) -> Iterator[tuple]:
    from changebank.evaluate.models import DESIGN_LABELS

    for e in (
        programme.evaluations.filter(public=True)
        .prefetch_related("designs", "changes", "outcomes")
        .order_by("id")
    ):
        yield (
            e.pk,
            e.title,
            e.summary,
            e.status,
            "; ".join(DESIGN_LABELS[d.design] for d in e.designs.all()),
            e.organisation,
            _date(e.actual_start or e.planned_start),
            _date(e.actual_end or e.planned_end),
            "; ".join(str(c.change_id or "") for c in e.changes.all() if c.change_id),
            "; ".join(o.name for o in e.outcomes.all()),
            e.report_url,
        )


def _metric_rows(programme: Programme) -> Iterator[tuple]:
    from changebank.evaluate.models import MetricValue

    values = (
        MetricValue.objects.filter(metric__evaluation__programme=programme)
        .filter(metric__evaluation__public=True)
        .select_related("metric")
        .order_by("metric__evaluation_id", "metric_id", "period")
    )
    for v in values.iterator(chunk_size=CHUNK):
        yield (
            v.metric.evaluation_id,
            v.metric_id,
            v.metric.name,
            v.metric.unit,
            v.metric.improvement,
            v.period.isoformat(),
            v.value,
        )


def _date(value: dt.date | None) -> str:
    return value.isoformat() if value else ""


INT, NUM, TEXT, DATE, BOOL = "integer", "number", "text", "date", "boolean"
TABLES: tuple[Table, ...] = (
    Table(
        "submissions",
        "What people said: each approved submission that may be published, redacted.",
        (
            Column("submission_id", INT, "The submission's number in changebank."),
            Column(
                "respondent_number",
                INT,
                "The same number for answers of the same person "
                "within this file; empty when not known. Means nothing outside the file.",
            ),
            Column("question_key", TEXT, "The question answered (its short key)."),
            Column("question", TEXT, "The question as asked."),
            Column(
                "text",
                TEXT,
                "What was said, with personal data replaced by placeholders such "
                "as [NAME] or [POSTCODE].",
            ),
            Column("source", TEXT, "form, import, document, transcript, pulse or experience."),
            Column("received_date", DATE, "The day it was received."),
            Column("role", TEXT, "Patient, carer, staff, public … when given."),
            Column("organisation", TEXT, "The organisation it concerns or came from."),
            Column("sector", TEXT, "Sector or service type."),
            Column("region", TEXT, "Region."),
            Column("workstream", TEXT, "The programme's workstream, when given."),
            Column(
                "stance",
                TEXT,
                "keep (a benefit to keep) or concern (never again), from the "
                "analysis or an analyst; empty when neither.",
            ),
            Column("sentiment", INT, "1 very positive … 5 very negative, from the analysis."),
        ),
        _submission_rows,
    ),
    Table(
        "themes",
        "The themes found in what people said.",
        (
            Column("theme_id", INT, "The theme's number."),
            Column("label", TEXT, "Its name."),
            Column("description", TEXT, "What it covers."),
            Column("meaning", TEXT, "What this means: the analysts' summary."),
            Column("keywords", TEXT, "Words that characterise it, separated by semicolons."),
            Column("submissions", INT, "Published submissions coded to any of its codes."),
            Column("in_catalogue", BOOL, "Whether it is published in the public catalogue."),
        ),
        _theme_rows,
    ),
    Table(
        "codes",
        "The codes (sub-themes) that submissions are coded to.",
        (
            Column("code_id", INT, "The code's number."),
            Column("theme_id", INT, "The theme it belongs to (empty if none)."),
            Column("label", TEXT, "Its name."),
            Column("description", TEXT, "What it covers."),
            Column(
                "origin",
                TEXT,
                "ai (proposed by the analysis) or human (made or accepted by an analyst).",
            ),
            Column(
                "also_in_themes", TEXT, "Other themes it is also under, separated by semicolons."
            ),
            Column("codings", INT, "Published submissions coded to it."),
        ),
        _code_rows,
    ),
    Table(
        "codings",
        "Which submission is coded to which code.",
        (
            Column("submission_id", INT, "A submission of the submissions table."),
            Column("code_id", INT, "A code of the codes table."),
            Column("origin", TEXT, "ai or human: who decided this coding."),
            Column("confidence", NUM, "The analysis's confidence (0–1) for ai codings."),
        ),
        _coding_rows,
    ),
    Table(
        "distinct_changes",
        "The long list: distinct changes people asked for, and what became of them.",
        (
            Column("change_id", INT, "The change's number."),
            Column("code_id", INT, "The code it falls under."),
            Column("name", TEXT, "A short name analysts gave it."),
            Column("text", TEXT, "The representative wording, redacted."),
            Column("people", INT, "Published submissions saying it."),
            Column(
                "stage",
                TEXT,
                "Where it is in the lifecycle: proposed, assessed, adopting, "
                "evaluating, spreading, retired; empty if not taken up.",
            ),
            Column("rsa", TEXT, "RSA category: amplify, end, restart or let_go."),
        ),
        _change_rows,
    ),
    Table(
        "votes",
        "Aggregated results of pairwise voting, statement voting and Delphi rounds (no "
        "individual votes).",
        (
            Column("method", TEXT, "pairwise, statements or delphi."),
            Column("exercise_id", INT, "The survey, conversation or Delphi round."),
            Column("exercise", TEXT, "Its title."),
            Column("item_id", INT, "The idea, statement or change voted on."),
            Column("item", TEXT, "Its text, redacted."),
            Column("change_id", INT, "The distinct change it stands for, when linked."),
            Column("votes", INT, "Votes or ratings behind the figure."),
            Column(
                "measure",
                TEXT,
                "score (chance to beat a random other idea), agree, disagree, "
                "pass, or median <scale>.",
            ),
            Column("value", NUM, "The figure."),
        ),
        _vote_rows,
    ),
    Table(
        "evaluations",
        "Published evaluations of adopted changes.",
        (
            Column("evaluation_id", INT, "The evaluation's number."),
            Column("title", TEXT, "Its title."),
            Column("summary", TEXT, "Its summary."),
            Column("status", TEXT, "planned, ongoing or complete."),
            Column("designs", TEXT, "Design types, separated by semicolons."),
            Column("organisation", TEXT, "Lead organisation."),
            Column("start", DATE, "Start (actual, else planned)."),
            Column("end", DATE, "End (actual, else planned)."),
            Column("change_ids", TEXT, "Distinct changes evaluated, separated by semicolons."),
            Column("outcomes", TEXT, "Outcomes, separated by semicolons."),
            Column("report_url", TEXT, "Link to the report."),
        ),
        _evaluation_rows,
    ),
    Table(
        "metric_points",
        "The measures of published evaluations, point by point.",
        (
            Column("evaluation_id", INT, "The evaluation."),
            Column("metric_id", INT, "The metric's number."),
            Column("metric", TEXT, "Its name."),
            Column("unit", TEXT, "Its unit."),
            Column("improvement", TEXT, "increase, decrease or neutral: which way is better."),
            Column("period", DATE, "The date the value belongs to."),
            Column("value", NUM, "The value."),
        ),
        _metric_rows,
    ),
)
TABLES_BY_NAME = {t.name: t for t in TABLES}


def dictionary_rows() -> Iterator[tuple[str, str, str, str]]:
    for table in TABLES:
        for column in table.columns:
            yield (table.name, column.name, column.type, column.description)


def about(programme: Programme) -> list[tuple[str, str]]:
    return [
        ("Programme", programme.title),
        ("Organiser", programme.organiser),
        ("Generated", timezone.now().isoformat(timespec="seconds")),
        (
            "What is included",
            "Approved submissions that may be published (see the programme's publication basis: "
            f"{programme.get_publication_basis_display()}), with personal data replaced by "
            "placeholders; the analysis built on them; aggregated votes; published evaluations.",
        ),
        (
            "Tables",
            ", ".join(t.name for t in TABLES) + "; the data dictionary describes each column.",
        ),
    ]


# --- writers ------------------------------------------------------------------------------------


@dataclass
class OpenDataSummary:
    path: Path
    format: str
    rows: dict[str, int]

    def describe(self) -> str:
        counts = ", ".join(f"{n:,} {name}" for name, n in self.rows.items())
        return f"Wrote {self.path} ({self.format}): {counts}"


def write_open_data(
    programme: Programme, path: str | Path, fmt: str, *, tables: Iterable[str] | None = None
) -> OpenDataSummary:
    """Write the open data of ``programme`` to ``path`` as ``fmt`` ("csv", "xlsx" or "json").

    CSV: a ``.zip`` path gets one archive with a CSV per table, the data dictionary and an about
    file; a folder (an existing directory, or a path ending in "/") gets the same files loose;
    any other path gets the submissions table and, beside it, ``<stem>-<table>.csv`` for the
    other tables and ``<stem>-dictionary.csv``. XLSX: one sheet per table, the dictionary and an
    about sheet. JSON: one document with ``about``, ``dictionary`` and ``tables``.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format should be one of {', '.join(FORMATS)}, got {fmt!r}")
    chosen = [TABLES_BY_NAME[name] for name in tables] if tables else list(TABLES)
    path = Path(path)
    writer = {"csv": _write_csv, "xlsx": _write_xlsx, "json": _write_json}[fmt]
    rows = writer(programme, path, chosen)
    return OpenDataSummary(path=path, format=fmt, rows=rows)


def _csv_text(rows: Iterable[Iterable[Any]], header: list[str]) -> Iterator[str]:
    buffer = io.StringIO()
    out = csv.writer(buffer)
    out.writerow(header)
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        out.writerow(["" if v is None else neutralise(v) if isinstance(v, str) else v for v in row])
        yield buffer.getvalue()


def _write_csv(programme: Programme, path: Path, tables: list[Table]) -> dict[str, int]:
    counts: dict[str, int] = {}

    def counted(table: Table) -> Iterator[tuple]:
        counts[table.name] = 0
        for row in table.rows(programme):
            counts[table.name] += 1
            yield row

    dictionary = list(dictionary_rows())
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
            for table in tables:
                with archive.open(f"{table.name}.csv", "w") as member:
                    for chunk in _csv_text(counted(table), table.header):
                        member.write(chunk.encode("utf-8"))
            archive.writestr(
                "data_dictionary.csv",
                "".join(_csv_text(dictionary, ["table", "column", "type", "description"])),
            )
            archive.writestr("about.csv", "".join(_csv_text(about(programme), ["item", "value"])))
        return counts
    if path.is_dir() or str(path).endswith(("/", "\\")):
        path.mkdir(parents=True, exist_ok=True)
        targets = {t.name: path / f"{t.name}.csv" for t in tables}
        dictionary_path = path / "data_dictionary.csv"
    else:
        first, *rest = tables
        targets = {first.name: path}
        targets.update({t.name: path.with_name(f"{path.stem}-{t.name}.csv") for t in rest})
        dictionary_path = path.with_name(f"{path.stem}-dictionary.csv")
    for table in tables:
        with targets[table.name].open("w", encoding="utf-8-sig", newline="") as fh:
            for chunk in _csv_text(counted(table), table.header):
                fh.write(chunk)
    with dictionary_path.open("w", encoding="utf-8-sig", newline="") as fh:
        fh.writelines(_csv_text(dictionary, ["table", "column", "type", "description"]))
    return counts


def _write_xlsx(programme: Programme, path: Path, tables: list[Table]) -> dict[str, int]:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    bold = Font(bold=True)

    def sheet(title: str, header: list[str], rows: Iterable[Iterable[Any]]) -> int:
        ws = book.create_sheet(title)
        head = []
        for name in header:
            cell = WriteOnlyCell(ws, value=name)
            cell.font = bold
            head.append(cell)
        ws.append(head)
        n = 0
        for row in rows:
            cells = []
            for value in row:
                cell = WriteOnlyCell(ws, value=value)
                if isinstance(value, str):
                    cell.data_type = "s"  # text, never a formula, whatever it starts with
                cells.append(cell)
            ws.append(cells)
            n += 1
        return n

    counts = {t.name: sheet(t.name, t.header, t.rows(programme)) for t in tables}
    sheet("data_dictionary", ["table", "column", "type", "description"], dictionary_rows())
    sheet("about", ["item", "value"], about(programme))
    book.save(path)
    return counts


def _write_json(programme: Programme, path: Path, tables: list[Table]) -> dict[str, int]:
    counts: dict[str, int] = {}
    with path.open("w", encoding="utf-8") as fh:
        fh.write("{\n")
        fh.write(f'"about": {json.dumps(dict(about(programme)), ensure_ascii=False)},\n')
        dictionary = [
            {"table": t, "column": c, "type": ty, "description": d}
            for t, c, ty, d in dictionary_rows()
        ]
        fh.write(f'"dictionary": {json.dumps(dictionary, ensure_ascii=False)},\n')
        fh.write('"tables": {')
        for i, table in enumerate(tables):
            fh.write(("," if i else "") + f"\n{json.dumps(table.name)}: [")
            n = 0
            for row in table.rows(programme):
                record = dict(zip(table.header, row, strict=True))
                fh.write(("," if n else "") + "\n" + json.dumps(record, ensure_ascii=False))
                n += 1
            fh.write("\n]")
            counts[table.name] = n
        fh.write("\n}\n}\n")
    return counts
