"""PDF (pypdf) and Word .docx (python-docx) readers."""

from __future__ import annotations

import codecs
import re
import zipfile
import zlib
from pathlib import Path

from .model import DocumentError, ExtractedDocument, PassageBuilder

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024
MAX_ZIP_MEMBERS = 10_000
MAX_COMPRESSION_RATIO = 100
DAMAGED = "file is truncated or damaged"

_HYPHENATED = re.compile(r"(?<=[a-z])-\n(?=[a-z])")


def read_pdf(path: Path, name: str) -> ExtractedDocument:
    """Read a PDF's text layer, one or more passages per page."""
    from pypdf import PdfReader

    reader = PdfReader(path, strict=False)
    if reader.is_encrypted and not _decrypt_without_password(reader):
        raise DocumentError(
            name, "the PDF is password-protected; remove the password and try again"
        )
    builder = PassageBuilder()
    for number, page in enumerate(reader.pages, 1):
        builder.add(_HYPHENATED.sub("", page.extract_text() or ""), f"page {number}")
    info = reader.metadata
    return builder.build("pdf", info.title if info else None, pages=len(reader.pages))


def _decrypt_without_password(reader: object) -> bool:
    """Open a PDF that is encrypted only to restrict printing or copying."""
    try:
        return bool(reader.decrypt(""))
    except Exception:  # noqa: BLE001 - e.g. AES needs the optional cryptography package
        return False


def check_zip(path: Path, name: str) -> list[str]:
    """Refuse zip bombs and damaged archives; return the member names."""
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise DocumentError(name, f"not a readable Word document ({DAMAGED})") from exc
    if len(members) > MAX_ZIP_MEMBERS:
        raise DocumentError(name, f"refused: the archive holds over {MAX_ZIP_MEMBERS} files")
    if sum(member.file_size for member in members) > MAX_UNZIPPED_BYTES:
        limit = MAX_UNZIPPED_BYTES // (1024 * 1024)
        raise DocumentError(name, f"refused: the document unpacks to more than {limit} MB")
    for member in members:
        ratio = member.file_size / max(member.compress_size, 1)
        if member.file_size > 1024 * 1024 and ratio > MAX_COMPRESSION_RATIO:
            raise DocumentError(name, "refused: the document is suspiciously compressed (zip bomb)")
    return [member.filename for member in members]


# XML parts are UTF-8 in every file Word writes, but libxml2 also reads UTF-16 and UTF-32,
# told by their first bytes: those parts are decoded before looking for declarations.
_ENCODINGS = [
    (b"\xef\xbb\xbf", "utf-8-sig"),
    (b"\x00\x00\xfe\xff", "utf-32"),
    (b"\xff\xfe\x00\x00", "utf-32"),
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\xfe\xff", "utf-16"),
    (b"\xff\xfe", "utf-16"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
]
_DECLARATION = re.compile(r"<!(?:DOCTYPE|ENTITY)", re.I)
_CHUNK = 1024 * 1024


def refuse_xml_declarations(path: Path, name: str) -> None:
    """Refuse a DOCX whose XML parts declare a DOCTYPE or entities, as the XLSX and REFI-QDA
    importers do: Word never writes them, and refusing them rules out external entities (XXE) and
    entity expansion ("billion laughs") whatever the XML parser does. Every part that starts like
    XML is read in full (:func:`check_zip` has bounded the unpacked size already)."""
    try:
        with zipfile.ZipFile(path) as archive:
            for member in archive.infolist():
                if not member.is_dir() and _declares(archive, member):
                    raise DocumentError(
                        name,
                        f"refused: the part {member.filename} contains a DOCTYPE or ENTITY "
                        "declaration, which Word documents do not use (a guard against XML "
                        "entity attacks)",
                    )
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise DocumentError(name, f"not a readable Word document ({DAMAGED})") from exc


def _declares(archive: zipfile.ZipFile, member: zipfile.ZipInfo) -> bool:
    """Whether an XML part holds ``<!DOCTYPE`` or ``<!ENTITY`` (parts that are not XML: False)."""
    with archive.open(member) as fh:
        chunk = fh.read(_CHUNK)
        codec = next((c for bom, c in _ENCODINGS if chunk.startswith(bom)), "utf-8")
        decoder = codecs.getincrementaldecoder(codec)(errors="replace")
        text = decoder.decode(chunk)
        if not text.lstrip("\ufeff \t\r\n").startswith("<"):
            return False  # an image or another part that is not XML
        tail = ""
        while text:
            if _DECLARATION.search(tail + text):
                return True
            tail = text[-8:]
            text = decoder.decode(fh.read(_CHUNK))
    return False


def _row_text(row: object) -> str:
    """A table row as ``cell | cell``, skipping merged duplicates and empty cells."""
    cells, previous = [], None
    for cell in row.cells:
        if cell._tc is not previous:
            cells.append(cell.text.strip())
        previous = cell._tc
    return " | ".join(cell for cell in cells if cell)


def read_docx(path: Path, name: str) -> ExtractedDocument:
    """Read a Word document: paragraphs (headings included) and table rows, in order."""
    if "word/document.xml" not in check_zip(path, name):
        raise DocumentError(name, "not a Word document (the zip has no word/document.xml)")
    refuse_xml_declarations(path, name)
    import docx
    from docx.text.paragraph import Paragraph

    document = docx.Document(str(path))
    builder = PassageBuilder()
    paragraphs = tables = 0
    title = document.core_properties.title
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            if not block.text.strip():
                continue
            paragraphs += 1
            if not title and (block.style.name or "").startswith(("Title", "Heading 1")):
                title = block.text
            builder.add(block.text, f"paragraph {paragraphs}")
        else:
            tables += 1
            for number, row in enumerate(block.rows, 1):
                builder.add(_row_text(row), f"table {tables}, row {number}")
    return builder.build("docx", title, paragraphs=paragraphs, tables=tables)
