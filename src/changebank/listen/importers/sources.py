"""Reading tabular files as a stream of rows, whatever tool wrote them.

:func:`open_source` looks at a file (CSV in any delimiter and common encoding, XLSX, JSON, JSONL, or
the Consult/ThemeFinder folder layout), recognises exports of survey tools by their header rows, and
returns a :class:`Source`: its columns, and an iterator over its rows that never holds the file in
memory. Nothing here knows about the database.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import decimal
import io
import json
import re
import shutil
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ImportFileError

#: The largest single cell the CSV reader accepts; longer text is a row error, checked by the loader.
CSV_FIELD_LIMIT = 64 * 1024 * 1024
#: Zip archives (XLSX) whose members expand past this are refused as likely zip bombs.
MAX_UNCOMPRESSED_BYTES = 8 * 1024**3
MAX_COMPRESSION_RATIO = 250
SNIFF_BYTES = 256 * 1024

csv.field_size_limit(CSV_FIELD_LIMIT)

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


@dataclass
class Column:
    index: int
    header: str
    question: str = ""
    samples: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        # Control characters (NUL above all, which PostgreSQL cannot store) never belong in a
        # column's name; the loader cleans cell values the same way.
        self.header = _CONTROL.sub("", self.header).strip() or f"column {self.index + 1}"
        self.question = _CONTROL.sub("", self.question).strip()

    @property
    def label(self) -> str:
        """The most informative name: the question text when the export has one."""
        return self.question or self.header


@dataclass
class Source:
    """A readable file: what it is, its columns, and how to stream its rows."""

    path: Path
    filename: str
    format: str  # csv / xlsx / json / jsonl / themefinder
    tool: str = ""  # qualtrics / surveymonkey / msforms / googleforms / themefinder / ""
    encoding: str = ""
    delimiter: str = ""
    header_rows: int = 1
    columns: list[Column] = field(default_factory=list)
    _rows: Any = None
    _tmp: Any = None  # a temporary folder that lives as long as the source

    def rows(self, *, report_wide: bool = False) -> Iterator[tuple[int, Any]]:
        """Yield ``(row_number, values)``: the row number as a spreadsheet would show it.

        A row with more cells than the header raises :class:`RowWidthError`, which ends the
        iteration; with ``report_wide=True`` the error is yielded in place of the values instead
        and reading goes on with the next row (the loader reports it and keeps the rest).
        """
        for number, values in self._rows():
            if isinstance(values, RowWidthError) and not report_wide:
                raise values
            yield number, values

    @property
    def description(self) -> str:
        names = {
            "qualtrics": "Qualtrics export",
            "surveymonkey": "SurveyMonkey export",
            "msforms": "Microsoft Forms export",
            "googleforms": "Google Forms export",
            "themefinder": "Consult / ThemeFinder layout",
        }
        kind = names.get(self.tool, "")
        fmt = self.format.upper()
        details = [d for d in (self.encoding, _delimiter_name(self.delimiter)) if d]
        text = f"{kind} ({fmt})" if kind and self.format != self.tool else kind or fmt
        return text + (f", {', '.join(details)}" if details else "")


def _delimiter_name(delimiter: str) -> str:
    return {
        ",": "comma-separated",
        ";": "semicolon-separated",
        "\t": "tab-separated",
        "|": "pipe-separated",
    }.get(delimiter, "")


def open_source(path: str | Path, filename: str | None = None) -> Source:
    """Open ``path`` for reading; ``filename`` is the name to use in messages (an upload's name)."""
    path = Path(path)
    name = filename or path.name
    if not path.exists():
        raise ImportFileError(name, "no such file or folder")
    if path.is_dir():
        return _open_themefinder_dir(path, name)
    size = path.stat().st_size
    if size == 0:
        raise ImportFileError(name, "the file is empty (0 bytes)")
    with path.open("rb") as fh:
        head = fh.read(8)
    suffix = Path(name).suffix.lower()
    if head.startswith(b"PK"):
        if suffix == ".zip":
            return _open_themefinder_zip(path, name)
        return _open_xlsx(path, name)
    if suffix in (".xlsx", ".xlsm"):
        raise ImportFileError(name, "is not an XLSX workbook (it is not a zip archive)")
    if suffix == ".xls":
        raise ImportFileError(
            name, "old Excel .xls files are not supported: save it as .xlsx or CSV"
        )
    if suffix == ".json":
        return _open_json(path, name)
    if suffix in (".jsonl", ".ndjson"):
        return _open_jsonl(path, name)
    return _open_csv(path, name)


# --- text encodings -------------------------------------------------------------------------------


def detect_encoding(path: Path, name: str) -> str:
    """Name the encoding of a text file: a BOM decides; else UTF-8 if the whole file is valid UTF-8
    (checked in a streaming pass), else cp1252, as Excel on Windows writes."""
    with path.open("rb") as fh:
        head = fh.read(4)
        bom = (
            "utf-8-sig"
            if head.startswith(codecs.BOM_UTF8)
            else "utf-16"
            if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE))
            else ""
        )
        if bom:
            # A byte-order mark says what the file should be; check that all of it is.
            fh.seek(0)
            decoder = codecs.getincrementaldecoder(bom)()
            offset = 0
            try:
                while chunk := fh.read(1024 * 1024):
                    decoder.decode(chunk)
                    offset += len(chunk)
                decoder.decode(b"", final=True)
            except UnicodeDecodeError as exc:
                kind = "UTF-8" if bom == "utf-8-sig" else "UTF-16"
                raise ImportFileError(
                    name,
                    f"starts with a {kind} byte-order mark but is not valid {kind} (near byte "
                    f"{offset + exc.start:,}); save it again as 'CSV UTF-8' and try again",
                ) from None
            return bom
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("utf-8")()
        try:
            while chunk := fh.read(1024 * 1024):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
            return "utf-8"
        except UnicodeDecodeError:
            pass
        fh.seek(0)
        decoder = codecs.getincrementaldecoder("cp1252")()
        offset = 0
        while chunk := fh.read(1024 * 1024):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    name,
                    f"the text is neither UTF-8 nor Windows-1252 (byte 0x{chunk[exc.start]:02x} at "
                    f"offset {offset + exc.start:,}); save it as 'CSV UTF-8' and try again",
                ) from None
            offset += len(chunk)
    return "cp1252"


def _open_text(path: Path, encoding: str) -> io.TextIOWrapper:
    return path.open("r", encoding=encoding, newline="")


# --- CSV ------------------------------------------------------------------------------------------


def _sniff_delimiter(sample: str) -> str:
    lines = [ln for ln in sample.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines), delimiters=",;\t|").delimiter
    except csv.Error:
        counts = {d: lines[0].count(d) for d in ",;\t|"}
        best = max(counts, key=counts.get)
        return best if counts[best] else ","


def _open_csv(path: Path, name: str) -> Source:
    encoding = detect_encoding(path, name)
    with _open_text(path, encoding) as fh:
        sample = fh.read(SNIFF_BYTES)
    if not sample.strip():
        raise ImportFileError(name, "the file holds no text")
    delimiter = "\t" if Path(name).suffix.lower() == ".tsv" else _sniff_delimiter(sample)

    def records() -> Iterator[list[str]]:
        with _open_text(path, encoding) as fh:
            reader = csv.reader(fh, delimiter=delimiter)
            try:
                yield from reader
            except csv.Error as exc:
                raise ImportFileError(
                    name, f"cannot be read as CSV: {exc}", row=reader.line_num
                ) from None

    head: list[list[str]] = []
    it = records()
    for rec in it:
        head.append(rec)
        if len(head) == 3:
            break
    return _tabular_source(path, name, "csv", head, records, encoding=encoding, delimiter=delimiter)


# --- survey tool layouts --------------------------------------------------------------------------

MSFORMS_HEADERS = {"id", "start time", "completion time", "email", "name"}


def detect_tool(head: list[list[str]]) -> tuple[str, int]:
    """Recognise a survey tool's export from its first rows; return ``(tool, header_rows)``."""
    first = [str(c or "").strip() for c in head[0]] if head else []
    lowered = {c.lower() for c in first}
    if len(head) >= 3:
        third = [str(c or "").strip() for c in head[2]]
        filled = [c for c in third if c]
        if filled and sum(c.startswith('{"ImportId"') for c in filled) >= max(1, len(filled) // 2):
            return "qualtrics", 3
    if {"respondent id", "collector id"} <= lowered:
        return "surveymonkey", 2
    if lowered >= MSFORMS_HEADERS:
        return "msforms", 1
    if first and first[0].lower() == "timestamp":
        return "googleforms", 1
    return "", 1


def _columns_for(tool: str, head: list[list[str]], header_rows: int) -> list[Column]:
    top = [str(c if c is not None else "").strip() for c in head[0]]
    columns = []
    if tool == "qualtrics":
        questions = [str(c or "").strip() for c in head[1]] if len(head) > 1 else []
        for i, key in enumerate(top):
            question = questions[i] if i < len(questions) else ""
            columns.append(Column(i, key or f"column {i + 1}", question if question != key else ""))
    elif tool == "surveymonkey":
        subs = [str(c or "").strip() for c in head[1]] if len(head) > 1 else []
        current = ""
        for i, text in enumerate(top):
            sub = subs[i] if i < len(subs) else ""
            if text:
                current = text
            header = text or current
            if sub and sub not in ("Response", "Open-Ended Response") and (not text or sub != text):
                header = f"{current} – {sub}" if current else sub
            columns.append(Column(i, header or f"column {i + 1}"))
    else:
        columns = [Column(i, text or f"column {i + 1}") for i, text in enumerate(top)]
    _dedupe_headers(columns)
    return columns


def _dedupe_headers(columns: list[Column]) -> None:
    seen: dict[str, int] = {}
    for col in columns:
        if col.header in seen:
            seen[col.header] += 1
            col.header = f"{col.header} ({seen[col.header]})"
        else:
            seen[col.header] = 1


def _tabular_source(
    path: Path, name: str, fmt: str, head: list[list[Any]], records: Any, **info: str
) -> Source:
    if not head or not any(str(c or "").strip() for c in head[0]):
        raise ImportFileError(
            name, "the first row is empty: it should hold the column headers", row=1
        )
    tool, header_rows = detect_tool(head)
    columns = _columns_for(tool, head, header_rows)
    width = len(columns)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = 0
        for rec in records():
            number += 1
            if number <= header_rows:
                continue
            values = list(rec)
            if len(values) > width:
                extra = values[width:]
                if any(v not in (None, "") for v in extra):
                    yield number, RowWidthError(number, len(values), width)
                    continue
                values = values[:width]
            elif len(values) < width:
                values.extend([None] * (width - len(values)))
            yield number, values

    source = Source(
        path, name, fmt, tool=tool, header_rows=header_rows, columns=columns, _rows=rows, **info
    )
    _fill_samples(source)
    return source


class RowWidthError(Exception):
    """A row with more cells than the header: the loader reports it as a row problem."""

    def __init__(self, row: int, cells: int, width: int) -> None:
        self.row, self.cells, self.width = row, cells, width
        super().__init__(f"the row has {cells} cells but the header has {width}")


def _fill_samples(source: Source, limit: int = 200) -> None:
    """Keep a few non-empty values per column, for the mapping proposal and the preview."""
    try:
        for count, (_, values) in enumerate(source.rows()):
            for col, value in zip(source.columns, values, strict=False):
                text = to_text(value)
                if text and len(col.samples) < 20:
                    col.samples.append(text[:500])
            if count >= limit:
                break
    except (RowWidthError, ImportFileError):
        pass  # reported properly when the rows are read for real


def to_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, decimal.Decimal):
        return str(int(value)) if value == value.to_integral_value() else str(value)
    return str(value).strip()


# --- XLSX -----------------------------------------------------------------------------------------


def _check_zip(path: Path, name: str, kind: str) -> None:
    try:
        with zipfile.ZipFile(path) as zf:
            infos = zf.infolist()
    except (zipfile.BadZipFile, OSError, EOFError):
        raise ImportFileError(
            name, f"is not a complete {kind} (the zip archive is truncated or damaged)"
        ) from None
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > MAX_UNCOMPRESSED_BYTES or (
        total > 100 * 1024**2 and total / packed > MAX_COMPRESSION_RATIO
    ):
        raise ImportFileError(
            name, f"expands to {total:,} bytes from {packed:,}: refused as a possible zip bomb"
        )


def _open_xlsx(path: Path, name: str) -> Source:
    import openpyxl

    _check_zip(path, name, "XLSX workbook")
    broken = "is not a complete XLSX workbook (the file is truncated or damaged)"

    def sheet_rows(data_only: bool) -> Iterator[tuple]:
        try:
            wb = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
        except Exception:  # openpyxl raises many kinds for a damaged file
            raise ImportFileError(name, broken) from None
        try:
            ws = wb.worksheets[0]
            # Some exporters (Microsoft Forms) declare a wrong sheet size such as A1:A1.
            ws.reset_dimensions()
            yield from ws.iter_rows(values_only=True)
        except (zipfile.BadZipFile, KeyError, EOFError, ValueError, OSError) as exc:
            raise ImportFileError(name, f"{broken}: {exc}") from None
        except Exception as exc:  # XML errors from a damaged sheet
            raise ImportFileError(name, f"{broken}: {type(exc).__name__}") from None
        finally:
            wb.close()

    def records() -> Iterator[list[Any]]:
        # Formula cells come back as "=..." text; their saved results are read from a second,
        # lazily opened pass over the same sheet, only once a formula turns up.
        cached: Iterator[tuple] | None = None
        position = 0
        for row in sheet_rows(False):
            position += 1
            values = list(row)
            if any(isinstance(v, str) and v.startswith("=") for v in values):
                if cached is None:
                    cached = sheet_rows(True)
                    for _ in range(position - 1):
                        next(cached, None)
                results = next(cached, ())
                values = [
                    FormulaCell(v, results[i] if i < len(results) else None)
                    if isinstance(v, str) and v.startswith("=")
                    else v
                    for i, v in enumerate(values)
                ]
            elif cached is not None:
                next(cached, None)
            yield _trim_trailing(values)

    head = []
    for rec in records():
        if not head and not any(v not in (None, "") for v in rec):
            continue
        head.append(rec)
        if len(head) == 3:
            break
    if not head:
        raise ImportFileError(name, "the first worksheet is empty")
    return _tabular_source(path, name, "xlsx", head, records)


@dataclass(frozen=True)
class FormulaCell:
    """A spreadsheet formula and the result the spreadsheet saved for it (None if it saved none)."""

    formula: str
    result: Any

    def __str__(self) -> str:
        return to_text(self.result)


def _trim_trailing(values: list[Any]) -> list[Any]:
    while values and values[-1] in (None, ""):
        values.pop()
    return values


# --- JSON and JSONL -------------------------------------------------------------------------------


def _flatten(obj: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(obj, dict):
        for key, value in obj.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if isinstance(value, dict):
                out.update(_flatten(value, name))
            elif isinstance(value, list):
                out[name] = "; ".join(to_text(v) for v in value)
            else:
                out[name] = value
    return out


def _object_source(path: Path, name: str, fmt: str, objects: Any, encoding: str = "") -> Source:
    keys: dict[str, None] = {}
    for count, (_, obj) in enumerate(objects()):
        keys.update(dict.fromkeys(_flatten(obj)))
        if count >= 1000:
            break
    if not keys:
        raise ImportFileError(name, "holds no records (expected objects with named fields)")
    columns = [Column(i, k) for i, k in enumerate(keys)]
    _dedupe_headers(columns)  # names that differed only by control characters

    def rows() -> Iterator[tuple[int, list[Any]]]:
        for number, obj in objects():
            flat = _flatten(obj)
            unknown = [k for k in flat if k not in keys]
            if unknown:
                yield number, RowWidthError(number, len(flat), len(keys))
                continue
            yield number, [flat.get(k) for k in keys]

    source = Source(path, name, fmt, encoding=encoding, header_rows=0, columns=columns, _rows=rows)
    _fill_samples(source)
    return source


def _open_jsonl(path: Path, name: str, fmt: str = "jsonl") -> Source:
    encoding = detect_encoding(path, name)

    def objects() -> Iterator[tuple[int, dict]]:
        with path.open("r", encoding=encoding) as fh:
            for number, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise ImportFileError(
                        name, f"is not valid JSON: {exc.msg}", row=number
                    ) from None
                if not isinstance(obj, dict):
                    raise ImportFileError(name, "each line should be a JSON object", row=number)
                yield number, obj

    return _object_source(path, name, fmt, objects, encoding)


def _open_json(path: Path, name: str) -> Source:
    import ijson

    with path.open("rb") as fh:
        start = fh.read(SNIFF_BYTES).lstrip(codecs.BOM_UTF8).lstrip()
    if not start.startswith(b"["):
        if start.startswith(b"{"):
            raise ImportFileError(
                name, "holds one JSON object: expected a list of records ([{...}, {...}]) or JSONL"
            )
        raise ImportFileError(name, "is not JSON: it should start with '['")

    def objects() -> Iterator[tuple[int, dict]]:
        with path.open("rb") as fh:
            if fh.read(3) != codecs.BOM_UTF8:
                fh.seek(0)
            number = 0
            try:
                for obj in ijson.items(fh, "item"):
                    number += 1
                    if not isinstance(obj, dict):
                        raise ImportFileError(
                            name, "each record should be a JSON object", row=number
                        )
                    yield number, obj
            except ijson.JSONError as exc:
                raise ImportFileError(name, f"is not valid JSON: {exc}", row=number + 1) from None
            except UnicodeDecodeError as exc:
                raise ImportFileError(
                    name, f"is not valid UTF-8 text ({exc.reason})", row=number + 1
                ) from None

    return _object_source(path, name, "json", objects, "utf-8")


# --- Consult / ThemeFinder layout -----------------------------------------------------------------


def _open_themefinder_zip(path: Path, name: str) -> Source:
    """A zip of the Consult/ThemeFinder folder layout, unpacked safely into a temporary folder."""
    _check_zip(path, name, "zip archive")
    tmp = tempfile.TemporaryDirectory(prefix="changebank-import-")
    root = Path(tmp.name)
    with zipfile.ZipFile(path) as zf:
        wanted = [
            info
            for info in zf.infolist()
            if not info.is_dir() and Path(info.filename).name in _THEMEFINDER_FILES
        ]
        for info in wanted:
            parts = Path(info.filename).parts
            if info.filename.startswith("/") or ".." in parts:
                raise ImportFileError(name, f"holds an unsafe path: {info.filename}")
            target = root.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with zf.open(info) as src, target.open("wb") as dst:
                    shutil.copyfileobj(src, dst)
            except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
                tmp.cleanup()
                raise ImportFileError(
                    name, f"is a damaged zip archive ({info.filename}: {exc})"
                ) from None
    layouts = {p.parent.parent for p in root.rglob("question_part_*/responses.jsonl")}
    if len(layouts) != 1:
        raise ImportFileError(
            name,
            "is a zip archive but not one Consult/ThemeFinder layout (question_part_N/responses.jsonl "
            "with respondents.jsonl); for a table, import the CSV or XLSX file itself",
        )
    source = _open_themefinder_dir(layouts.pop(), name)
    source._tmp = tmp  # removed with the source
    return source


_THEMEFINDER_FILES = {"responses.jsonl", "question.json", "respondents.jsonl"}


def _open_themefinder_dir(path: Path, name: str) -> Source:
    """A folder with ``respondents.jsonl`` and ``question_part_N/{question.json,responses.jsonl}``."""
    parts = sorted(
        (p for p in path.glob("question_part_*") if (p / "responses.jsonl").exists()),
        key=lambda p: int("".join(ch for ch in p.name if ch.isdigit()) or 0),
    )
    if not parts:
        raise ImportFileError(
            name,
            "is a folder but not in the Consult/ThemeFinder layout (no question_part_*/responses.jsonl)",
        )
    questions = []
    for part in parts:
        qfile = part / "question.json"
        try:
            q = json.loads(qfile.read_text(encoding="utf-8")) if qfile.exists() else {}
        except json.JSONDecodeError as exc:
            raise ImportFileError(
                f"{name}/{part.name}/question.json", f"is not valid JSON: {exc.msg}"
            ) from None
        questions.append((part, str(q.get("question_text") or part.name)))

    demographics: dict[str, dict] = {}
    resp_file = path / "respondents.jsonl"
    if resp_file.exists():
        with resp_file.open(encoding="utf-8") as fh:
            for number, line in enumerate(fh, start=1):
                if line.strip():
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ImportFileError(
                            f"{name}/respondents.jsonl", exc.msg, row=number
                        ) from None
                    demographics[str(obj.get("response_id"))] = obj.get("demographic_data") or {}
    demo_keys = list(dict.fromkeys(k for d in demographics.values() for k in d))
    columns = [Column(0, "response_id")]
    columns += [
        Column(1 + i, f"{part.name}", question=text) for i, (part, text) in enumerate(questions)
    ]
    columns += [Column(1 + len(questions) + i, key) for i, key in enumerate(demo_keys)]
    width = len(columns)

    def rows() -> Iterator[tuple[int, list[Any]]]:
        number = 0
        for qi, (part, _) in enumerate(questions):
            label = f"{name}/{part.name}/responses.jsonl"
            with (part / "responses.jsonl").open(encoding="utf-8") as fh:
                for line_no, line in enumerate(fh, start=1):
                    if not line.strip():
                        continue
                    number += 1
                    try:
                        obj = json.loads(line)
                    except json.JSONDecodeError as exc:
                        raise ImportFileError(
                            label, f"is not valid JSON: {exc.msg}", row=line_no
                        ) from None
                    rid = to_text(obj.get("response_id"))
                    values: list[Any] = [None] * width
                    values[0] = rid
                    values[1 + qi] = obj.get("response")
                    demo = demographics.get(rid, {})
                    for di, key in enumerate(demo_keys):
                        values[1 + len(questions) + di] = demo.get(key)
                    yield number, values

    source = Source(
        path,
        name,
        "themefinder",
        tool="themefinder",
        encoding="utf-8",
        header_rows=0,
        columns=columns,
        _rows=rows,
    )
    _fill_samples(source)
    return source
