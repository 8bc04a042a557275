"""Reading REFI-QDA files safely, and checking them against the REFI-QDA schemas.

* XML is parsed by lxml with entities left unresolved, no DTD loading and no network, and any
  document with a DOCTYPE is refused outright: REFI-QDA files never need one, and refusing it rules
  out external entities (XXE) and entity expansion ("billion laughs").
* A ``.qdpx`` is a zip: it is refused when it is damaged, when it declares more than
  :data:`MAX_UNCOMPRESSED_BYTES` uncompressed (or expands more than :data:`MAX_COMPRESSION_RATIO`
  times, beyond 100 MB) -- the house check of :mod:`changebank.listen.importers.sources` -- or when
  ``project.qde`` is larger than :data:`MAX_PROJECT_BYTES`. Reads never go beyond a member's
  declared size (zipfile stops there and checks the CRC).
* Schema errors name the element and the line, as libxml2 reports them.
"""

from __future__ import annotations

import io
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from lxml import etree

from changebank.listen.importers.errors import ImportFileError

DATA = Path(__file__).parent / "data"
CODEBOOK_XSD = DATA / "Codebook.xsd"
PROJECT_XSD = DATA / "Project-mrt2019.xsd"
CODEBOOK_NS = "urn:QDA-XML:codebook:1.0"
PROJECT_NS = "urn:QDA-XML:project:1.0"

MAX_UNCOMPRESSED_BYTES = 8 * 1024**3
MAX_COMPRESSION_RATIO = 250
#: project.qde is parsed in memory.
MAX_PROJECT_BYTES = 1024**3
#: The largest text source read from a .qdpx.
MAX_SOURCE_BYTES = 64 * 1024**2
#: A .qdc is parsed in memory.
MAX_CODEBOOK_BYTES = 64 * 1024**2
#: The most schema problems listed in an error.
MAX_PROBLEMS = 20


class RefiError(ImportFileError):
    """A REFI-QDA file that cannot be read or does not follow the schema; ``problems`` lists the
    schema violations (each naming the line and element). Nothing is imported."""

    def __init__(self, filename: str, message: str, problems: list[str] | None = None) -> None:
        self.problems = list(problems or [])
        super().__init__(filename, message)

    def __str__(self) -> str:
        text = super().__str__()
        if self.problems:
            text += "\n" + "\n".join(f"  - {p}" for p in self.problems)
        return text


@cache
def _schema(path: Path) -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(path), parser=_parser()))


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def parse_xml(data: bytes, filename: str) -> etree._ElementTree:
    """Parse untrusted XML: no DTD, no entities, no network."""
    if re.search(rb"<!DOCTYPE|<!ENTITY", data[:65536] if len(data) > 65536 else data, re.I):
        raise RefiError(
            filename,
            "contains a DOCTYPE or ENTITY declaration, which REFI-QDA files do not use; "
            "refused to guard against XML entity attacks",
        )
    try:
        tree = etree.parse(io.BytesIO(data), parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise RefiError(filename, f"is not well-formed XML: {exc}") from None
    info = tree.docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise RefiError(
            filename,
            "contains a DOCTYPE declaration, which REFI-QDA files do not use; refused to guard "
            "against XML entity attacks",
        )
    return tree


_NS_RE = re.compile(r"\{urn:QDA-XML:(?:project|codebook):1\.0\}")


def _problems(log: etree._ListErrorLog) -> list[str]:
    out = []
    for entry in list(log)[:MAX_PROBLEMS]:
        out.append(f"line {entry.line}: {_NS_RE.sub('', entry.message)}")
    if len(log) > MAX_PROBLEMS:
        out.append(f"… and {len(log) - MAX_PROBLEMS:,} more")
    return out


def check_schema(tree: etree._ElementTree, kind: str, filename: str) -> None:
    """Raise :class:`RefiError` listing the violations unless ``tree`` follows the schema."""
    schema = _schema(CODEBOOK_XSD if kind == "qdc" else PROJECT_XSD)
    ns = CODEBOOK_NS if kind == "qdc" else PROJECT_NS
    root = tree.getroot()
    expected = "CodeBook" if kind == "qdc" else "Project"
    if root.tag != f"{{{ns}}}{expected}":
        raise RefiError(
            filename,
            f"is not a REFI-QDA {'codebook' if kind == 'qdc' else 'project'}: its root element "
            f'is <{_NS_RE.sub("", root.tag)}>, not <{expected} xmlns="{ns}">',
        )
    if not schema.validate(tree):
        raise RefiError(
            filename,
            "does not follow the REFI-QDA "
            + ("codebook" if kind == "qdc" else "project")
            + " schema",
            _problems(schema.error_log),
        )


# --- .qdc ---------------------------------------------------------------------------------------


def read_qdc(path_or_bytes: str | Path | bytes, filename: str | None = None) -> etree._ElementTree:
    """Parse and validate a codebook; returns the tree."""
    if isinstance(path_or_bytes, bytes):
        data, name = path_or_bytes, filename or "codebook.qdc"
    else:
        path = Path(path_or_bytes)
        name = filename or path.name
        if path.stat().st_size > MAX_CODEBOOK_BYTES:
            raise RefiError(name, f"is larger than {MAX_CODEBOOK_BYTES:,} bytes")
        data = path.read_bytes()
    if len(data) > MAX_CODEBOOK_BYTES:
        raise RefiError(name, f"is larger than {MAX_CODEBOOK_BYTES:,} bytes")
    tree = parse_xml(data, name)
    check_schema(tree, "qdc", name)
    return tree


def validate_qdc(path_or_bytes: str | Path | bytes, filename: str | None = None) -> None:
    """Raise :class:`RefiError` (listing the schema violations) unless the codebook is valid."""
    read_qdc(path_or_bytes, filename)


# --- .qdpx --------------------------------------------------------------------------------------


@dataclass
class Qdpx:
    """An opened, checked .qdpx: the zip, its validated project.qde and its source files."""

    filename: str
    zip: zipfile.ZipFile
    tree: etree._ElementTree
    #: lower-cased file name inside the sources folder -> member name
    sources: dict[str, str] = field(default_factory=dict)

    def close(self) -> None:
        self.zip.close()

    def read_source(self, internal: str, limit: int = MAX_SOURCE_BYTES) -> bytes | None:
        """The bytes of ``internal://NAME`` (or a bare name), or None when the zip lacks it."""
        name = internal.split("://", 1)[1] if "://" in internal else internal
        member = self.sources.get(name.replace("\\", "/").rsplit("/", 1)[-1].lower())
        if member is None:
            return None
        info = self.zip.getinfo(member)
        if info.file_size > limit:
            raise RefiError(self.filename, f"{member} is larger than {limit:,} bytes")
        try:
            with self.zip.open(info) as fh:
                return fh.read(limit)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
            raise RefiError(self.filename, f"{member} cannot be read: {exc}") from None


def _check_zip(zf: zipfile.ZipFile, name: str) -> None:
    infos = zf.infolist()
    total = sum(i.file_size for i in infos)
    packed = sum(i.compress_size for i in infos) or 1
    if total > MAX_UNCOMPRESSED_BYTES or (
        total > 100 * 1024**2 and total / packed > MAX_COMPRESSION_RATIO
    ):
        raise RefiError(
            name, f"expands to {total:,} bytes from {packed:,}: refused as a possible zip bomb"
        )


def open_qdpx(path: str | Path, filename: str | None = None) -> Qdpx:
    """Open a .qdpx, check the zip, and parse and validate its project.qde."""
    path = Path(path)
    name = filename or path.name
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error):
        raise RefiError(
            name, "is not a REFI-QDA project (.qdpx): it is not a zip archive, or it is damaged"
        ) from None
    try:
        _check_zip(zf, name)
        project = None
        sources: dict[str, str] = {}
        for info in zf.infolist():
            if info.is_dir():
                continue
            parts = info.filename.replace("\\", "/").split("/")
            if len(parts) == 1 and parts[0].lower() == "project.qde":
                project = info
            elif len(parts) == 2 and parts[0].lower() == "sources" and parts[1]:
                sources[parts[1].lower()] = info.filename
        if project is None:
            raise RefiError(name, "has no project.qde at the top of the zip: it is not a .qdpx")
        if project.file_size > MAX_PROJECT_BYTES:
            raise RefiError(name, f"its project.qde is larger than {MAX_PROJECT_BYTES:,} bytes")
        try:
            with zf.open(project) as fh:
                data = fh.read(MAX_PROJECT_BYTES + 1)
        except (zipfile.BadZipFile, OSError, EOFError, ValueError, zlib.error) as exc:
            raise RefiError(name, f"its project.qde cannot be read: {exc}") from None
        tree = parse_xml(data, f"{name} (project.qde)")
        check_schema(tree, "qdpx", f"{name} (project.qde)")
        return Qdpx(filename=name, zip=zf, tree=tree, sources=sources)
    except BaseException:
        zf.close()
        raise


def validate_qdpx(path: str | Path, filename: str | None = None) -> None:
    """Raise :class:`RefiError` unless ``path`` is a safe zip whose project.qde follows the
    project schema."""
    open_qdpx(path, filename).close()
