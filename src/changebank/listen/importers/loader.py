"""Loading a source into a programme: atomic, idempotent, streamed, and honest about every bad row.

The whole file is written inside one transaction. In ``reject`` mode any bad row rolls everything
back and the report lists every problem; in ``skip`` mode the good rows land with a report of the
rest. Rows are written in batches, so memory stays flat however long the file is. Each submission
carries a key made from the row's ID (or, without an ID column, from the whole row) and its question,
so importing the same file again, or a later export that overlaps, adds only the new rows.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify

from changebank.core import audit

from ..models import ImportBatch, Programme, Question, Respondent, Role, Submission, new_reference
from ..privacy_ingest import text_fields
from .errors import ImportFileError, RowProblem
from .mapping import ColumnMapping, propose_mapping
from .sources import FormulaCell, RowWidthError, Source, open_source, to_text

BATCH_ROWS = 1000
MAX_REPORTED_PROBLEMS = 1000
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_FORMULA_START = re.compile(r"^[=@]|^[+\-].*[(!]|^[+\-]\s*\d.*[+\-*/]")


class ImportRejected(Exception):
    """The file was not imported: nothing was written. ``result`` has the full report."""

    def __init__(self, result: ImportResult) -> None:
        self.result = result
        first = result.errors[0].describe(result.filename) if result.errors else "rejected"
        more = f" (and {result.error_count - 1:,} more problems)" if result.error_count > 1 else ""
        super().__init__(f"{first}{more}. Nothing was imported.")


@dataclass
class ImportResult:
    filename: str
    description: str = ""
    on_error: str = "reject"
    rows_read: int = 0
    rows_added: int = 0
    rows_already_imported: int = 0
    rows_repeated: int = 0
    rows_empty: int = 0
    rows_skipped: int = 0
    submissions_added: int = 0
    respondents_added: int = 0
    errors: list[RowProblem] = field(default_factory=list)
    error_count: int = 0
    warnings: list[RowProblem] = field(default_factory=list)
    warning_count: int = 0
    batch: ImportBatch | None = None

    def error(self, problem: RowProblem) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_REPORTED_PROBLEMS:
            self.errors.append(problem)

    def warn(self, problem: RowProblem) -> None:
        self.warning_count += 1
        if len(self.warnings) < MAX_REPORTED_PROBLEMS:
            self.warnings.append(problem)

    def summary(self) -> str:
        parts = [f"{self.rows_read:,} rows read", f"{self.rows_added:,} added"]
        if self.rows_already_imported:
            parts.append(f"{self.rows_already_imported:,} already imported")
        if self.rows_repeated:
            parts.append(f"{self.rows_repeated:,} repeated an earlier row")
        if self.rows_empty:
            parts.append(f"{self.rows_empty:,} had no free text")
        if self.rows_skipped:
            parts.append(f"{self.rows_skipped:,} skipped as bad")
        return (
            f"{self.filename} ({self.description}): "
            + ", ".join(parts)
            + f"; {self.submissions_added:,} submissions and {self.respondents_added:,} respondents added"
        )


@dataclass
class _Row:
    number: int
    identity: str
    texts: list[tuple[str, str, str]]  # (column header, question prompt, text)
    respondent_key: str
    respondent: dict[str, Any]
    answers: dict[str, Any]
    received_at: dt.datetime | None
    workstream: str


def clean_text(value: Any) -> str:
    """Normalise text as it is stored: NFC, no control characters, no surrounding space."""
    text = value if isinstance(value, str) else to_text(value)
    return _CONTROL.sub("", unicodedata.normalize("NFC", text)).strip()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    if path.is_dir():
        for child in sorted(p for p in path.rglob("*") if p.is_file()):
            digest.update(str(child.relative_to(path)).encode())
            digest.update(file_sha256(child).encode())
        return digest.hexdigest()
    with path.open("rb") as fh:
        while chunk := fh.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


_DATE_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d",
    "%d/%m/%Y %H:%M:%S",
    "%d/%m/%Y %H:%M",
    "%d/%m/%Y",
    "%m/%d/%Y %I:%M:%S %p",
    "%Y/%m/%d %I:%M:%S %p",
    "%d.%m.%Y",
    # Day-first (UK) wins when a date could be read either way; US order only when it cannot.
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y %H:%M",
    "%m/%d/%Y",
)


_ZONE_SUFFIX = re.compile(r"\s+(GMT|UTC|BST)$")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")
_SLASH_DATE = re.compile(
    r"(\d{1,2})/(\d{1,2})/(\d{4})(?:[ ,]+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AaPp][Mm])?)?$"
)


def _parse_common_date(text: str) -> dt.datetime | None:
    """The two shapes most exports use, without strptime's cost: ISO, and d/m/Y (m/d/Y when the
    date cannot be day-first). None for anything else, or for an impossible date."""
    if _ISO_DATE.match(text):
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            return None
    match = _SLASH_DATE.match(text)
    if match is None:
        return None
    first, second, year, hour, minute, second_s, ampm = match.groups()
    hours = int(hour or 0)
    if ampm:
        hours = hours % 12 + (12 if ampm.lower() == "pm" else 0)
    time = (hours, int(minute or 0), int(second_s or 0))
    for day, month in ((int(first), int(second)), (int(second), int(first))):
        try:
            return dt.datetime(int(year), month, day, *time)
        except ValueError:
            continue
    return None


def _parse_other_date(text: str) -> dt.datetime:
    for fmt in _DATE_FORMATS:
        try:
            return dt.datetime.strptime(text, fmt)
        except ValueError:
            continue
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"'{text[:40]}' is not a date and time this importer understands"
        ) from None


def parse_datetime(value: Any) -> dt.datetime:
    """A timezone-aware datetime from a cell, or ValueError naming what was expected."""
    if isinstance(value, FormulaCell):
        value = value.result
    if isinstance(value, dt.datetime):
        result = value
    elif isinstance(value, dt.date):
        result = dt.datetime.combine(value, dt.time())
    else:
        text = _ZONE_SUFFIX.sub("", to_text(value))
        result = _parse_common_date(text) or _parse_other_date(text)
    if timezone.is_naive(result):
        result = timezone.make_aware(result)
    return result


_ROLE_WORDS = [
    (Role.CARER, r"carer|caring for|family member|relative|parent|guardian"),
    (Role.PATIENT, r"patient|service user|user of|client|person who uses"),
    (
        Role.STAFF,
        r"staff|nurse|doctor|clinician|consultant|manager|employee|worker|therapist|gp\b|"
        r"volunteer|leader|admin|practitioner|midwife|paramedic|pharmacist|physio|health ?care",
    ),
    (Role.PUBLIC, r"public|resident|citizen|community member"),
]


def normalise_role(value: str) -> str:
    """Map a role as people write it ("Registered nurse", "Service user") to a Role value."""
    low = value.strip().lower()
    if not low:
        return ""
    for role, pattern in _ROLE_WORDS:
        if re.search(pattern, low):
            return role
    return Role.OTHER


class _Reader:
    """Turns raw source rows into validated rows, recording problems by row and field."""

    def __init__(self, source: Source, mapping: ColumnMapping, result: ImportResult) -> None:
        self.source = source
        self.mapping = mapping
        self.result = result
        self.max_text = getattr(settings, "CHANGEBANK_MAX_TEXT_CHARS", 100_000)
        index = {c.header: c.index for c in source.columns}
        self.idx = {h: index[h] for h in mapping.roles if h in index}
        self.text_cols = mapping.columns_with("text")
        self.id_col = next(iter(mapping.columns_with("id")), None)
        self.date_col = next(iter(mapping.columns_with("received_at")), None)
        self.workstream_col = next(iter(mapping.columns_with("workstream")), None)
        self.question_col = next(iter(mapping.columns_with("question")), None)
        self.respondent_col = next(iter(mapping.columns_with("respondent_id")), None)
        self.kept_roles = [
            (h, r)
            for h, r in mapping.roles.items()
            if h in self.idx
            and r in ("organisation", "sector", "region", "role", "equality", "attribute", "answer")
        ]

    def __iter__(self) -> Iterator[_Row | None]:
        for number, values in self.source.rows(report_wide=True):
            self.result.rows_read += 1
            if isinstance(values, RowWidthError):
                self.result.error(RowProblem(values.row, None, str(values)))
                yield None
                continue
            yield self.parse(number, values)

    def parse(self, number: int, values: list[Any]) -> _Row | None:
        problems: list[RowProblem] = []
        get = lambda header: values[self.idx[header]]  # noqa: E731
        texts = []
        for header in self.text_cols:
            raw = get(header)
            if isinstance(raw, FormulaCell):
                if raw.result is None:
                    problems.append(
                        RowProblem(
                            number,
                            header,
                            f"holds a spreadsheet formula ({raw.formula[:60]}) with no saved result; "
                            "open the file in a spreadsheet, save it, and import again",
                        )
                    )
                    continue
                self.result.warn(
                    RowProblem(
                        number,
                        header,
                        f"holds a formula ({raw.formula[:60]}); its saved result was used",
                    )
                )
                raw = raw.result
            text = clean_text(raw)
            if not text:
                continue
            if len(text) > self.max_text:
                problems.append(
                    RowProblem(
                        number,
                        header,
                        f"is {len(text):,} characters long, over the limit of {self.max_text:,}",
                    )
                )
                continue
            if _FORMULA_START.match(text):
                self.result.warn(
                    RowProblem(
                        number,
                        header,
                        "starts like a spreadsheet formula; kept as text, and neutralised in every export",
                    )
                )
            prompt = mapping_prompt = self.mapping.questions.get(header, "")
            if self.question_col:
                prompt = " ".join(clean_text(get(self.question_col)).split()) or mapping_prompt
            texts.append((header, prompt, text))
        received_at = None
        if self.date_col:
            raw = get(self.date_col)
            if raw not in (None, ""):
                try:
                    received_at = parse_datetime(raw)
                except ValueError as exc:
                    problems.append(RowProblem(number, self.date_col, str(exc)))
        ident = clean_text(get(self.id_col)) if self.id_col else ""
        if self.id_col and not ident and texts:
            problems.append(RowProblem(number, self.id_col, "is empty, but it is the ID column"))
        if problems:
            for p in problems:
                self.result.error(p)
            return None
        if not texts:
            self.result.rows_empty += 1
            return _Row(number, "", [], "", {}, {}, None, "")
        respondent: dict[str, Any] = {"equality": {}, "attributes": {}}
        answers: dict[str, Any] = {}
        for header, role in self.kept_roles:
            value = clean_text(get(header))
            if not value:
                continue
            if role in ("organisation", "sector", "region"):
                # Several columns can hold one answer (a multi-select exported one column a choice).
                joined = f"{respondent[role]}; {value}" if respondent.get(role) else value
                respondent[role] = joined[:200]
            elif role == "role":
                respondent["role"] = normalise_role(value)
                respondent["role_detail"] = value[:200]
            elif role == "equality":
                respondent["equality"][header] = value
            elif role == "attribute":
                respondent["attributes"][header] = value
            elif role == "answer":
                answers[header] = value
        if ident:
            identity = "id:" + ident
        else:
            whole = "\x1f".join("" if v is None else str(v) for v in values)
            identity = "row:" + hashlib.sha256(whole.encode()).hexdigest()
        workstream = clean_text(get(self.workstream_col)) if self.workstream_col else ""
        respondent_key = clean_text(get(self.respondent_col)) if self.respondent_col else ident
        return _Row(
            number,
            identity,
            texts,
            respondent_key[:200],
            respondent,
            answers,
            received_at,
            workstream,
        )


def _question_for(programme: Programme, header: str, prompt: str, cache: dict) -> Question:
    if (header, prompt) in cache:
        return cache[header, prompt]
    prompt = prompt or header
    question = Question.objects.filter(programme=programme, prompt=prompt).first()
    if question is None:
        base = slugify(header)[:60] or "question"
        key, n = base, 1
        while Question.objects.filter(programme=programme, key=key).exists():
            n += 1
            key = f"{base}-{n}"
        position = Question.objects.filter(programme=programme).count()
        question = Question.objects.create(
            programme=programme, key=key, prompt=prompt, position=position, on_form=False
        )
    cache[header, prompt] = question
    return question


def _dedupe_key(identity: str, question: Question, header: str) -> str:
    return hashlib.sha256(f"{identity}\x1f{question.key}\x1f{header}".encode()).hexdigest()


class _Writer:
    """Writes validated rows in batches, skipping rows already in the programme."""

    def __init__(
        self, programme: Programme, batch: ImportBatch, mapping: ColumnMapping, result: ImportResult
    ) -> None:
        self.programme = programme
        self.batch = batch
        self.mapping = mapping
        self.result = result
        self.questions: dict[str, Question] = {}
        self.workstreams: dict[str, Any] = {}
        self.pending: list[_Row] = []
        self.names = programme.names_to_redact()

    def add(self, row: _Row) -> None:
        self.pending.append(row)
        if len(self.pending) >= BATCH_ROWS:
            self.flush()

    def flush(self) -> None:
        rows, self.pending = self.pending, []
        if not rows:
            return
        keyed: list[tuple[_Row, list[tuple[str, Question, str, str]]]] = []
        for row in rows:
            items = []
            for header, prompt, text in row.texts:
                q = _question_for(self.programme, header, prompt, self.questions)
                items.append((_dedupe_key(row.identity, q, header), q, text, header))
            keyed.append((row, items))
        keys = [k for _, items in keyed for k, _, _, _ in items]
        # compared with the text as written (the stored text is redacted)
        existing = {
            key: (original or text, batch_id, source_row)
            for key, text, original, batch_id, source_row in Submission.objects.filter(
                programme=self.programme, dedupe_key__in=keys
            )
            .order_by()
            .values_list("dedupe_key", "text", "original_text", "import_batch_id", "source_row")
        }
        ids = {r.respondent_key for r, _ in keyed if r.respondent_key}
        respondents = {
            r.external_id: r
            # exclude("") lets SQLite use the partial unique index instead of scanning the programme.
            for r in Respondent.objects.filter(programme=self.programme, external_id__in=ids)
            .exclude(external_id="")
            .order_by()
        }
        new_respondents: list[Respondent] = []
        new_subs: list[Submission] = []
        fresh_keys: dict[str, tuple[str, int]] = {}
        for row, items in keyed:
            outcome = self._classify(row, items, existing, fresh_keys)
            if outcome != "new":
                continue
            external_id = row.respondent_key
            respondent = respondents.get(external_id) if external_id else None
            if respondent is None:
                respondent = Respondent(
                    programme=self.programme, external_id=external_id, **row.respondent
                )
                new_respondents.append(respondent)
                if external_id:
                    respondents[external_id] = respondent
            reference = new_reference()
            workstream = self._workstream(row.workstream)
            for key, question, text, _header in items:
                if key in existing or key in fresh_keys:
                    continue
                fresh_keys[key] = (text, row.number)
                new_subs.append(
                    Submission(
                        programme=self.programme,
                        question=question,
                        respondent=respondent,
                        **text_fields(self.programme, text, names=self.names),
                        answers=row.answers,
                        source=Submission.Source.IMPORT,
                        received_at=row.received_at or self.batch.started_at,
                        moderation_status=Submission.Moderation.APPROVED,
                        reference=reference,
                        import_batch=self.batch,
                        source_row=row.number,
                        dedupe_key=key,
                        workstream=workstream,
                    )
                )
            self.result.rows_added += 1
        Respondent.objects.bulk_create(new_respondents, batch_size=BATCH_ROWS)
        Submission.objects.bulk_create(new_subs, batch_size=BATCH_ROWS)
        self.result.respondents_added += len(new_respondents)
        self.result.submissions_added += len(new_subs)

    def _classify(self, row: _Row, items: list, existing: dict, fresh: dict) -> str:
        """'new', 'already' (imported before), 'repeat' (earlier in this file) or 'conflict'."""
        seen_before = seen_here = 0
        for key, _question, text, header in items:  # noqa: B007
            earlier = fresh.get(key)
            if earlier is None and key in existing:
                old_text, batch_id, old_row = existing[key]
                earlier = (old_text, old_row) if batch_id == self.batch.pk else None
                if earlier is None:
                    if old_text != text:
                        self.result.error(
                            RowProblem(
                                row.number,
                                header,
                                f"response {row.identity[3:]} was imported before with different text; "
                                "the earlier text is kept (correct it in changebank, not in the file)",
                            )
                        )
                        self.result.rows_skipped += 1
                        return "conflict"
                    seen_before += 1
                    continue
            if earlier is not None:
                old_text, old_row = earlier
                if old_text != text and row.identity.startswith("id:"):
                    self.result.error(
                        RowProblem(
                            row.number,
                            header,
                            f"ID {row.identity[3:]} also appears in row {old_row} with different text",
                        )
                    )
                    self.result.rows_skipped += 1
                    return "conflict"
                seen_here += 1
        if seen_here and seen_here + seen_before == len(items):
            self.result.rows_repeated += 1
            self.result.warn(
                RowProblem(row.number, None, "repeats an earlier row of this file; not added twice")
            )
            return "repeat"
        if seen_before == len(items):
            self.result.rows_already_imported += 1
            return "already"
        return "new"

    def _workstream(self, name: str) -> Any:
        if not name:
            return None
        if name not in self.workstreams:
            from ..models import Workstream

            self.workstreams[name], _ = Workstream.objects.get_or_create(
                programme=self.programme, name=name[:200]
            )
        return self.workstreams[name]


def import_file(
    path: str | Path,
    programme: Programme,
    *,
    mapping: ColumnMapping | dict | str | Path | None = None,
    on_error: str = "reject",
    filename: str | None = None,
    user: Any = None,
) -> ImportResult:
    """Import one file (or Consult/ThemeFinder folder) into ``programme``.

    ``on_error`` is ``"reject"`` (any bad row: nothing is written, :class:`ImportRejected` is raised
    with the report) or ``"skip"`` (good rows are written; bad ones are listed in the report).
    Raises :class:`ImportFileError` when the file as a whole cannot be read; nothing is written then.
    """
    if on_error not in ("reject", "skip"):
        raise ValueError("on_error must be 'reject' or 'skip'")
    path = Path(path)
    source = open_source(path, filename)
    if mapping is None:
        mapping = propose_mapping(source)
    elif isinstance(mapping, dict):
        mapping = ColumnMapping.from_dict(mapping, source)
    elif not isinstance(mapping, ColumnMapping):
        mapping = ColumnMapping.from_file(mapping, source)
    if not mapping.columns_with("text"):
        raise ImportFileError(
            source.filename,
            "no column holds free text to analyse; mark one as 'text' in the preview or in a mapping "
            "file (--mapping). Columns: " + ", ".join(c.label[:60] for c in source.columns[:30]),
        )
    result = ImportResult(
        filename=source.filename, description=source.description, on_error=on_error
    )
    started = timezone.now()
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.create(
                programme=programme,
                filename=source.filename[:300],
                file_sha256=file_sha256(path),
                size=_size(path),
                detected_format=source.tool or source.format,
                encoding=source.encoding,
                delimiter=source.delimiter,
                mapping=mapping.as_dict(),
                on_error=on_error,
                status=ImportBatch.Status.COMPLETED,
                created_by=_user(user),
                started_at=started,
                finished_at=started,
            )
            writer = _Writer(programme, batch, mapping, result)
            for row in _Reader(source, mapping, result):
                if row is None:
                    if on_error == "skip":
                        result.rows_skipped += 1
                    continue
                if row.texts:
                    writer.add(row)
            writer.flush()
            if result.error_count and on_error == "reject":
                raise ImportRejected(result)
            batch.status = (
                ImportBatch.Status.COMPLETED_WITH_SKIPS
                if result.error_count
                else ImportBatch.Status.COMPLETED
            )
            for name in (
                "rows_read",
                "rows_added",
                "rows_already_imported",
                "rows_repeated",
                "rows_skipped",
                "rows_empty",
                "submissions_added",
                "respondents_added",
                "error_count",
            ):
                setattr(batch, name, getattr(result, name))
            batch.errors = [p.as_dict() for p in result.errors]
            batch.warnings = [p.as_dict() for p in result.warnings]
            batch.finished_at = timezone.now()
            batch.save()
            audit.record("import", batch, after={"summary": result.summary()})
            result.batch = batch
    except ImportFileError as exc:
        raise ImportFileError(
            exc.filename, exc.message + ". Nothing was imported", row=exc.row, field=exc.field
        ) from None
    return result


def _size(path: Path) -> int:
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def _user(user: Any) -> Any:
    return user if getattr(user, "pk", None) else None
