"""What the importer fuzzing feeds each importer, and what counts as a pass.

Shared by ``test_fuzz_importers.py`` (a modest budget in the test suite) and
``benchmarks/bench_fuzz.py`` (thousands of examples per importer). Each target takes the drawn
input, writes it to a file, runs the importer, and returns ``"ok"`` (imported) or ``"rejected"``
(one of the documented validation errors, whose message names the file, with nothing written to
the database). Anything else raises :class:`Unexpected`, carrying the original exception.
"""

from __future__ import annotations

import codecs
import datetime as dt
import io
import json
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.conftest import shared


class Unexpected(Exception):
    """The importer raised something other than its documented validation errors, or broke a
    promise (a message that does not name the file, data written for a rejected file)."""


# --- byte mutation --------------------------------------------------------------------------------


@st.composite
def mutated(draw: Any, base: bytes, max_ops: int = 4) -> bytes:
    """``base`` with a few random edits: flipped bytes, inserted or deleted runs, truncation."""
    data = bytearray(base)
    for _ in range(draw(st.integers(0, max_ops))):
        op = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "repeat"]))
        pos = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[pos] = draw(st.integers(0, 255))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[pos : pos + draw(st.integers(1, 64))]
        elif op == "truncate":
            del data[pos:]
        elif op == "repeat" and data:
            chunk = data[pos : pos + draw(st.integers(1, 32))]
            data[pos:pos] = chunk * draw(st.integers(1, 20))
    return bytes(data)


# --- CSV ------------------------------------------------------------------------------------------

cell_text = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.sampled_from(list(",;\t|\"'\r\n\x00 =+-@x1")), max_size=20),
    st.sampled_from(["", "=1+1", '=HYPERLINK("x")', "2024-03-01", "01/13/2024", "N/A", "\ufeff"]),
    st.builds(lambda n: "x" * n, st.integers(1000, 120_000)),  # long fields
)


@st.composite
def csv_bytes(draw: Any) -> bytes:
    delimiter = draw(st.sampled_from([",", ";", "\t", "|", " "]))
    quote = draw(st.sampled_from(['"', "'", ""]))
    width = draw(st.integers(1, 6))
    header = draw(
        st.lists(
            st.one_of(
                st.sampled_from(["ID", "Comment", "Date", "Role", "Respondent ID"]), cell_text
            ),
            min_size=width,
            max_size=width,
        )
    )
    rows = draw(st.lists(st.lists(cell_text, min_size=0, max_size=width + 2), max_size=8))

    def line(cells: list[str]) -> str:
        return delimiter.join(f"{quote}{c}{quote}" if quote else c for c in cells)

    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    text = newline.join(line(r) for r in [header, *rows])
    encoding = draw(st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252", "latin-1"]))
    data = text.encode(encoding, errors="replace")
    return draw(st.one_of(st.just(data), mutated(data), st.binary(max_size=200)))


# --- XLSX -----------------------------------------------------------------------------------------

xlsx_cell = st.one_of(
    st.none(),
    st.text(max_size=30).map(lambda t: "".join(ch for ch in t if ch >= " " or ch in "\t\n")),
    st.integers(-(10**12), 10**12),
    st.floats(allow_nan=False, allow_infinity=False, width=32),
    st.datetimes(min_value=dt.datetime(1900, 3, 1), max_value=dt.datetime(2100, 1, 1)),
    st.dates(min_value=dt.date(1900, 3, 1), max_value=dt.date(2100, 1, 1)),
    st.sampled_from(["=1+1", "=A1/0", "=SUM(A1:A3)", '="a"&"b"', "=NOW()", "=#REF!"]),
    st.booleans(),
)


def stable_zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    """A zip whose bytes depend only on ``members`` (fixed timestamps), so that hypothesis sees
    the same base bytes for the same draws."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in members.items():
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            zf.writestr(info, data)
    return out.getvalue()


_FIXED_CORE = (
    b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
    b'<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
    b'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><dc:creator>fuzz</dc:creator>'
    b"</cp:coreProperties>"
)


def restamp(office_zip: bytes) -> bytes:
    """An Office file with its timestamps (zip entries, docProps/core.xml) fixed."""
    with zipfile.ZipFile(io.BytesIO(office_zip)) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    if "docProps/core.xml" in members:
        members["docProps/core.xml"] = _FIXED_CORE
    return stable_zip(members)


def xlsx_from_rows(rows: list[list[Any]]) -> bytes:
    import openpyxl

    wb = openpyxl.Workbook()
    ws = wb.active
    for row in rows:
        ws.append(row)
    out = io.BytesIO()
    wb.save(out)
    return restamp(out.getvalue())


@st.composite
def xlsx_bytes(draw: Any) -> bytes:
    width = draw(st.integers(1, 4))
    header = draw(
        st.lists(
            st.sampled_from(["ID", "Comment", "Date", "Value", "Note"]) | xlsx_cell,
            min_size=width,
            max_size=width,
        )
    )
    rows = draw(st.lists(st.lists(xlsx_cell, min_size=0, max_size=width + 1), max_size=6))
    data = xlsx_from_rows([header, *rows])
    return draw(st.one_of(st.just(data), mutated(data, max_ops=3)))


# --- JSON and JSONL -------------------------------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)
records = st.lists(
    st.dictionaries(
        st.sampled_from(["id", "comment", "text", "date", "meta"]) | st.text(max_size=8),
        json_values,
        max_size=5,
    )
    | json_values,
    max_size=6,
)


@st.composite
def json_bytes(draw: Any) -> bytes:
    data = json.dumps(draw(records), ensure_ascii=draw(st.booleans())).encode()
    if draw(st.booleans()):
        data = codecs.BOM_UTF8 + data
    return draw(st.one_of(st.just(data), mutated(data), st.binary(max_size=100)))


@st.composite
def jsonl_bytes(draw: Any) -> bytes:
    lines = [json.dumps(r) for r in draw(records)]
    data = "\n".join(lines).encode()
    return draw(st.one_of(st.just(data), mutated(data), st.binary(max_size=100)))


# --- documents ------------------------------------------------------------------------------------


def make_pdf(text: str) -> bytes:
    """A minimal valid one-page PDF with one line of text."""
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    stream = f"BT /F1 12 Tf 72 720 Td ({escaped}) Tj ET".encode("latin-1", errors="replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for i, obj in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (i, obj)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def make_docx(paragraphs: list[str]) -> bytes:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph("".join(ch for ch in p if ch >= " " or ch in "\t\n"))
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "cell"
    out = io.BytesIO()
    document.save(out)
    return restamp(out.getvalue())


_DOCX_BASE: dict[str, bytes] = {}


def docx_base() -> bytes:
    if "b" not in _DOCX_BASE:
        _DOCX_BASE["b"] = make_docx(["Title", "Waiting times were long.", "Staff were kind."])
    return _DOCX_BASE["b"]


VTT = "WEBVTT - Focus group\n\n00:00:01.000 --> 00:00:04.000\n<v Ana>The rota changed.\n\n1\n00:00:05.000 --> 00:00:07.500\nBen: It helped.\n"
SRT = "1\n00:00:01,000 --> 00:00:04,000\nThe rota changed.\n\n2\n00:00:05,000 --> 00:00:07,500\n- Ben: It helped.\n"
HTML = "<html><head><title>T</title><script>x</script></head><body><h1>Head</h1><p>One <b>two</b></p><table><tr><td>a</td><td>b</td></tr></table></body></html>"


@st.composite
def document_input(draw: Any) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(["pdf", "docx", "html", "vtt", "srt", "txt", "md"]))
    text = draw(st.text(max_size=40))
    if kind == "pdf":
        base = make_pdf(text or "Waiting times")
    elif kind == "docx":
        base = docx_base()
    elif kind == "html":
        base = (HTML.replace("two", text)).encode()
    elif kind == "vtt":
        base = VTT.replace("It helped.", text or "It helped.").encode()
    elif kind == "srt":
        base = SRT.replace("It helped.", text or "It helped.").encode()
    else:
        base = f"# Title\n\n{text}\n\nSecond paragraph.\n".encode()
    data = draw(st.one_of(st.just(base), mutated(base, max_ops=6), st.binary(max_size=200)))
    return kind, data


# --- REFI-QDA -------------------------------------------------------------------------------------


def codebook_base() -> bytes:
    return shared("refi-qda", "examples", "minimal-codebook.qdc").read_bytes()


def project_base() -> bytes:
    return shared("refi-qda", "examples", "minimal-project.qde").read_bytes()


def qdpx_from(qde: bytes, sources: dict[str, bytes] | None = None) -> bytes:
    members = {"project.qde": qde}
    members.update({f"sources/{name}": data for name, data in (sources or {}).items()})
    return stable_zip(members)


@st.composite
def qdc_bytes(draw: Any) -> bytes:
    base = codebook_base()
    return draw(st.one_of(mutated(base, max_ops=5), st.binary(max_size=200)))


@st.composite
def qdpx_bytes(draw: Any) -> bytes:
    qde = project_base()
    if draw(st.booleans()):  # damage the XML inside a sound zip
        return qdpx_from(draw(mutated(qde, max_ops=5)), {"a.txt": draw(st.binary(max_size=50))})
    return draw(mutated(qdpx_from(qde), max_ops=4))  # damage the zip itself


# --- Consult / ThemeFinder zip -------------------------------------------------------------------


@st.composite
def themefinder_zip_bytes(draw: Any) -> bytes:
    responses = draw(
        st.lists(
            st.dictionaries(st.sampled_from(["response_id", "response"]), json_values, max_size=2),
            max_size=5,
        )
    )
    members = {
        "consult/question_part_1/question.json": json.dumps(
            {"question_text": draw(st.text(max_size=20))}
        ).encode(),
        "consult/question_part_1/responses.jsonl": "\n".join(
            json.dumps(r) for r in responses
        ).encode(),
        "consult/respondents.jsonl": b'{"response_id": 1, "demographic_data": {"age": "30"}}',
    }
    data = stable_zip(members)
    return draw(st.one_of(st.just(data), mutated(data, max_ops=3)))


# --- known bugs -----------------------------------------------------------------------------------


def known_bug(exc: BaseException) -> str | None:
    """A name for a failure already documented by a strict xfail in test_fuzz_findings.py, so the
    fuzz tests stay green until it is fixed and still fail on anything new. The five importer bugs
    the fuzzing found (unchecked byte-order marks, surrogates in JSON, damaged deflate streams in
    .qdpx and Consult/ThemeFinder zips) are fixed, so there is none now."""
    return None


# --- running an importer --------------------------------------------------------------------------


def _counts() -> dict[str, int]:
    from changebank.listen.models import Document, ImportBatch, Respondent, Submission
    from changebank.understand.models import Code, CodeAssignment, Theme

    return {
        m.__name__: m.objects.count()
        for m in (Submission, ImportBatch, Respondent, Document, Code, Theme, CodeAssignment)
    }


def _check_rejection(exc: BaseException, name: str, before: dict[str, int] | None) -> str:
    message = str(exc)
    if not message.strip() or name not in message:
        raise Unexpected(f"{type(exc).__name__} whose message does not name {name}: {message!r}")
    if before is not None and _counts() != before:
        raise Unexpected(f"{type(exc).__name__} but data was written: {before} -> {_counts()}")
    return "rejected"


def run_import(data: bytes, workdir: Path, programme: Any, filename: str, on_error: str) -> str:
    from changebank.listen.importers import ImportFileError
    from changebank.listen.importers.loader import ImportRejected, import_file

    path = workdir / filename
    path.write_bytes(data)
    before = _counts()
    try:
        import_file(path, programme, on_error=on_error)
    except (ImportFileError, ImportRejected) as exc:
        return _check_rejection(exc, filename, before)
    except Exception as exc:
        raise Unexpected(f"{type(exc).__name__}: {exc}") from exc
    return "ok"


def run_document(kind: str, data: bytes, workdir: Path) -> str:
    from changebank.listen.documents import DocumentError, extract

    name = f"fuzz.{kind}"
    path = workdir / name
    path.write_bytes(data)
    try:
        extract(path)
    except DocumentError as exc:
        return _check_rejection(exc, name, None)
    except Exception as exc:
        raise Unexpected(f"{type(exc).__name__}: {exc}") from exc
    return "ok"


def run_metric(data: bytes, workdir: Path, filename: str) -> str:
    from changebank.evaluate.importers import MetricFileError, read_metric_series

    path = workdir / filename
    path.write_bytes(data)
    try:
        read_metric_series(path)
    except MetricFileError as exc:
        return _check_rejection(exc, filename, None)
    except Exception as exc:
        raise Unexpected(f"{type(exc).__name__}: {exc}") from exc
    return "ok"


def run_refi(data: bytes, workdir: Path, programme: Any, kind: str) -> str:
    from changebank.share.refi import RefiError, import_qdc, import_qdpx

    name = f"fuzz.{kind}"
    path = workdir / name
    path.write_bytes(data)
    before = _counts()
    try:
        if kind == "qdc":
            import_qdc(path, programme)
        else:
            import_qdpx(path, programme)
    except RefiError as exc:
        return _check_rejection(exc, name, before)
    except Exception as exc:
        raise Unexpected(f"{type(exc).__name__}: {exc}") from exc
    return "ok"


@dataclass
class Target:
    name: str
    strategy: Any
    run: Callable[[Any, Path, Any], str]  # (drawn input, work folder, programme) -> outcome


TARGETS = [
    Target(
        "csv",
        st.tuples(
            csv_bytes(),
            st.sampled_from(["fuzz.csv", "fuzz.tsv", "fuzz.txt"]),
            st.sampled_from(["reject", "skip"]),
        ),
        lambda x, d, p: run_import(x[0], d, p, x[1], x[2]),
    ),
    Target(
        "xlsx",
        st.tuples(xlsx_bytes(), st.sampled_from(["reject", "skip"])),
        lambda x, d, p: run_import(x[0], d, p, "fuzz.xlsx", x[1]),
    ),
    Target(
        "json",
        st.tuples(json_bytes(), st.sampled_from(["reject", "skip"])),
        lambda x, d, p: run_import(x[0], d, p, "fuzz.json", x[1]),
    ),
    Target(
        "jsonl",
        st.tuples(jsonl_bytes(), st.sampled_from(["reject", "skip"])),
        lambda x, d, p: run_import(x[0], d, p, "fuzz.jsonl", x[1]),
    ),
    Target(
        "themefinder_zip",
        themefinder_zip_bytes(),
        lambda x, d, p: run_import(x, d, p, "consult.zip", "reject"),
    ),
    Target("documents", document_input(), lambda x, d, p: run_document(x[0], x[1], d)),
    Target(
        "metric_csv",
        csv_bytes(),
        lambda x, d, p: run_metric(x, d, "metric.csv"),
    ),
    Target("metric_xlsx", xlsx_bytes(), lambda x, d, p: run_metric(x, d, "metric.xlsx")),
    Target("refi_qdc", qdc_bytes(), lambda x, d, p: run_refi(x, d, p, "qdc")),
    Target("refi_qdpx", qdpx_bytes(), lambda x, d, p: run_refi(x, d, p, "qdpx")),
]
