"""Search boxes that cannot be injected, and upload limits: size, zip bombs and XML entity
attacks. Already covered elsewhere and not repeated here: the DOCX zip bomb
(tests/listen/test_documents.py), the QDPX zip bomb and QDPX XML entities
(tests/share/test_refi.py)."""

from __future__ import annotations

import io
import random
import zipfile

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from .conftest import client_for, world_fixture

world = world_fixture()

NASTY = [
    "'",
    '"',
    '"video',
    "video*",
    "*",
    "NEAR(video care)",
    "video)",
    "(",
    "' OR 1=1 --",
    '" OR 1=1 --',
    "video; DROP TABLE listen_submission; --",
    "a AND OR NOT b",
    "col:video",
    "^video",
    "%_%",
    "\\",
    "video\x00care",
    "x" * 5000,
    "video " * 400,
    "😀 ünïcode",
]

SEARCHES = [
    ("listen:submission_list", {}, "q"),
    ("understand:submissions", {"slug": "open"}, "q"),
    ("understand:overview", {"slug": "open"}, "q"),
    ("understand:distinct_changes", {"slug": "open"}, "q"),
    ("share:catalogue", {}, "q"),
    ("evaluate:repository", {}, "q"),
    ("evaluate:repository", {}, "outcome"),
]
API_SEARCHES = [
    "/api/v1/programmes/open/submissions",
    "/api/v1/catalogue/themes",
    "/api/v1/catalogue/changes",
    "/api/v1/programmes/open/codes",
]


@pytest.mark.parametrize(
    ("name", "kwargs", "param"), SEARCHES, ids=[f"{n}?{p}" for n, _, p in SEARCHES]
)
def test_search_boxes_cannot_be_injected(world, db, name, kwargs, param):
    from changebank.listen.models import Submission

    client = client_for(world, "admin")
    url = reverse(name, kwargs=kwargs)
    before = Submission.objects.count()
    baseline = client.get(url, {param: "video"})
    assert baseline.status_code == 200
    for text in NASTY:
        response = client.get(url, {param: text})
        assert response.status_code in (200, 400), (
            f"{url}?{param}={text[:40]!r}: {response.status_code}"
        )
    assert Submission.objects.count() == before


@pytest.mark.parametrize("path", API_SEARCHES)
def test_api_search_cannot_be_injected(world, db, path):
    from changebank.share.models import ApiToken

    _, key = ApiToken.issue(world.users["admin"], "search")
    client = client_for(world, "anonymous")
    for text in NASTY:
        response = client.get(path, {"q": text}, HTTP_AUTHORIZATION=f"Bearer {key}")
        assert response.status_code in (200, 422), f"{path}?q={text[:40]!r}: {response.status_code}"
        assert response["Content-Type"].startswith("application/json")


# --- uploads --------------------------------------------------------------------------------------


def workbook_bytes(rows: list[list[str]]) -> bytes:
    import openpyxl

    book = openpyxl.Workbook()
    for row in rows:
        book.active.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def rewrite_member(data: bytes, member: str, new: bytes, extra: dict | None = None) -> bytes:
    """The zip ``data`` with ``member`` replaced (and ``extra`` members added)."""
    out = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as old,
        zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z,
    ):
        for info in old.infolist():
            z.writestr(info.filename, new if info.filename == member else old.read(info.filename))
        for name, content in (extra or {}).items():
            z.writestr(name, content)
    return out.getvalue()


EXTERNAL = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>"""
LAUGHS = b"""<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<!DOCTYPE x [<!ENTITY a "lollollollollollollollollollol">
<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">
<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;"><!ENTITY e "&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;">]>"""

SHEET = b"""<worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<sheetData><row r="1"><c r="A1" t="inlineStr"><is><t>text</t></is></c></row>
<row r="2"><c r="A2" t="inlineStr"><is><t>&ENTITY;</t></is></c></row></sheetData></worksheet>"""


def test_upload_over_the_size_limit_is_refused(client, programme, analyst, settings):
    from changebank.listen.models import ImportBatch

    settings.CHANGEBANK_MAX_UPLOAD_BYTES = 100
    before = ImportBatch.objects.count()
    client.force_login(analyst)
    upload = SimpleUploadedFile("big.csv", b"text\n" + b"a" * 200 + b"\n", content_type="text/csv")
    response = client.post(
        reverse("listen:import_upload"), {"programme": programme.slug, "file": upload}
    )
    assert response.status_code == 200
    assert "the largest allowed is 100 bytes" in response.content.decode()
    assert ImportBatch.objects.count() == before


def test_xlsx_member_with_a_huge_declared_size_is_refused(programme, tmp_path, monkeypatch):
    from changebank.listen.importers import ImportFileError, sources
    from changebank.listen.importers.loader import import_file
    from changebank.listen.models import Submission

    monkeypatch.setattr(sources, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    data = rewrite_member(
        workbook_bytes([["text"], ["a row"]]), "", b"", {"xl/media/pad.bin": bytes(2 * 1024 * 1024)}
    )
    path = tmp_path / "bomb.xlsx"
    path.write_bytes(data)
    before = Submission.objects.count()
    with pytest.raises(ImportFileError, match="zip bomb"):
        import_file(path, programme)
    assert Submission.objects.count() == before


@pytest.mark.slow
def test_xlsx_compression_ratio_over_250_is_refused(programme, tmp_path):
    from changebank.listen.importers import ImportFileError
    from changebank.listen.importers.loader import import_file
    from changebank.listen.models import Submission

    data = rewrite_member(
        workbook_bytes([["text"], ["a row"]]),
        "",
        b"",
        {"xl/media/pad.bin": bytes(110 * 1024 * 1024)},
    )
    path = tmp_path / "ratio.xlsx"
    path.write_bytes(data)
    before = Submission.objects.count()
    with pytest.raises(ImportFileError, match="zip bomb"):
        import_file(path, programme)
    assert Submission.objects.count() == before


@pytest.mark.parametrize(
    ("doctype", "entity"),
    [(EXTERNAL, b"&xxe;"), (LAUGHS, b"&e;")],
    ids=["external", "billion-laughs"],
)
def test_xlsx_xml_entities_are_refused(programme, tmp_path, doctype, entity):
    from changebank.listen.importers import ImportFileError
    from changebank.listen.importers.loader import ImportRejected, import_file
    from changebank.listen.models import ImportBatch, Submission

    sheet = doctype + SHEET.replace(b"&ENTITY;", entity)
    path = tmp_path / "entities.xlsx"
    path.write_bytes(
        rewrite_member(workbook_bytes([["text"], ["x"]]), "xl/worksheets/sheet1.xml", sheet)
    )
    before = Submission.objects.count(), ImportBatch.objects.count()
    with pytest.raises((ImportFileError, ImportRejected)):
        import_file(path, programme)
    assert (Submission.objects.count(), ImportBatch.objects.count()) == before


def docx_bytes(text: str) -> bytes:
    import docx

    document = docx.Document()
    document.add_paragraph(text)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


DOCUMENT = b"""<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">
<w:body><w:p><w:r><w:t>Before &ENTITY; after</w:t></w:r></w:p></w:body></w:document>"""


ENTITY_CASES = [(EXTERNAL, b"&xxe;"), (LAUGHS, b"&e;")]


def upload_docx(client, programme, analyst, doctype: bytes, entity: bytes):
    data = rewrite_member(
        docx_bytes("placeholder"),
        "word/document.xml",
        doctype + DOCUMENT.replace(b"&ENTITY;", entity),
    )
    client.force_login(analyst)
    upload = SimpleUploadedFile("entities.docx", data)
    return client.post(
        reverse("listen:import_upload"), {"programme": programme.slug, "file": upload}
    )


@pytest.fixture
def uploads(settings, tmp_path):
    settings.DATA_DIR = settings.CHANGEBANK_DATA_DIR = tmp_path
    settings.MEDIA_ROOT = tmp_path / "uploads"


@pytest.mark.parametrize(("doctype", "entity"), ENTITY_CASES, ids=["external", "billion-laughs"])
def test_docx_xml_entities_are_never_expanded(programme, analyst, client, uploads, doctype, entity):
    """Through the document import of the upload page: the entity is never resolved (no file is
    read, nothing is multiplied)."""
    from changebank.listen.models import Passage, Submission

    response = upload_docx(client, programme, analyst, doctype, entity)
    assert response.status_code < 500
    texts = " ".join(Submission.objects.values_list("text", flat=True))
    texts += " ".join(Passage.objects.values_list("text", flat=True))
    assert "root:" not in texts and "lollol" not in texts


@pytest.mark.parametrize(("doctype", "entity"), ENTITY_CASES, ids=["external", "billion-laughs"])
def test_docx_xml_entities_are_refused(programme, analyst, client, uploads, doctype, entity):
    from changebank.listen.models import Document

    before = Document.objects.count()
    response = upload_docx(client, programme, analyst, doctype, entity)
    assert Document.objects.count() == before, "a document with XML entities was imported"
    assert response.status_code == 400
    assert (
        "entities.docx: refused: the part word/document.xml contains a DOCTYPE or ENTITY "
        "declaration" in response.content.decode()
    )


# A comment that ends 4 bytes before 1 MiB, of text that compresses too little to look like a bomb.
PADDING = b"<!--" + bytes(random.Random(0).choices(b"abcdefghij", k=1024 * 1024 - 11)) + b"-->"


@pytest.mark.parametrize(
    ("part", "xml"),
    [
        ("word/styles.xml", EXTERNAL + b"<w:styles/>"),
        ("word/_rels/document.xml.rels", LAUGHS + b"<Relationships/>"),
        ("word/document.xml", (EXTERNAL + DOCUMENT).decode().encode("utf-16")),
        ("word/document.xml", (EXTERNAL + DOCUMENT).decode().encode("utf-16-be")),
        ("word/document.xml", b"\xef\xbb\xbf" + LAUGHS + DOCUMENT),
        # a DOCTYPE across the 1 MiB chunks the parts are read in, after a long comment
        ("word/document.xml", PADDING + EXTERNAL[EXTERNAL.index(b"<!DOCTYPE") :] + DOCUMENT),
    ],
    ids=["styles", "relationships", "utf-16", "utf-16-be", "utf-8-bom", "chunk-boundary"],
)
def test_docx_declarations_in_any_part_or_encoding_are_refused(tmp_path, part, xml):
    from changebank.listen.documents import DocumentError, extract

    path = tmp_path / "parts.docx"
    path.write_bytes(rewrite_member(docx_bytes("placeholder"), part, xml))
    with pytest.raises(DocumentError, match=rf"^parts\.docx: refused: the part {part} contains"):
        extract(path)


def test_docx_without_declarations_still_reads(tmp_path):
    from changebank.listen.documents import extract

    path = tmp_path / "plain.docx"
    text = "Their letter began <!DOCTYPE html> & <!ENTITY x> -- text, escaped in the XML"
    path.write_bytes(docx_bytes(text))
    assert [p.text for p in extract(path).passages] == [text]
