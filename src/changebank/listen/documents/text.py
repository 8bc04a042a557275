"""Plain text, Markdown and HTML readers."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from pathlib import Path

from .model import DocumentError, ExtractedDocument, PassageBuilder, normalise

_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([\w-]+)""", re.IGNORECASE)


def decode_text(data: bytes, name: str, *, html: bool = False) -> tuple[str, str]:
    """Decode bytes as UTF-8 (BOM optional), UTF-16 with a BOM, or else cp1252."""
    if data.startswith(codecs.BOM_UTF8):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace"), "utf-16"
    if b"\x00" in data[:8192]:
        raise DocumentError(name, "this looks like a binary file, not text")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    declared = _META_CHARSET.search(data[:4096]) if html else None
    if declared:
        try:
            encoding = codecs.lookup(declared.group(1).decode("ascii")).name
            return data.decode(encoding, errors="replace"), encoding
        except LookupError:
            pass
    return data.decode("cp1252", errors="replace"), "cp1252"


def _paragraphs(lines: list[tuple[int, str]]) -> list[tuple[int, list[str]]]:
    """Group numbered lines into blank-line-separated paragraphs, keeping the first number."""
    paragraphs: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for number, line in lines:
        if line.strip():
            if not current:
                paragraphs.append((number, current))
            current.append(line)
        else:
            current = []
    return paragraphs


def read_txt(path: Path, name: str) -> ExtractedDocument:
    """Read a plain text file: one passage per blank-line-separated paragraph."""
    text, encoding = decode_text(path.read_bytes(), name)
    builder = PassageBuilder()
    for number, lines in _paragraphs(list(enumerate(normalise(text).split("\n"), 1))):
        builder.add("\n".join(lines), f"line {number}")
    return builder.build("txt", encoding=encoding)


# --- Markdown -------------------------------------------------------------------------------

_MD_BREAK = re.compile(r"^\s*(?:(?:```|~~~).*|=+|([-*_])(?:\s*\1){2,})\s*$")
_MD_SKIP = re.compile(r"^\s*(?:\[[^\]]+\]:\s+\S.*|\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)+\|?)\s*$")
_MD_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)(?:\s+#+)?\s*$")
_MD_PREFIX = re.compile(r"^\s*(?:>\s?)*(?:(?:[-*+]|\d+[.)])\s+(?:\[[ xX]\]\s+)?)?")
_MD_INLINE = (
    (re.compile(r"!?\[([^\]]*)\]\([^)]*\)"), r"\1"),
    (re.compile(r"\[([^\]]+)\]\[[^\]]*\]"), r"\1"),
    (re.compile(r"<(https?://[^>\s]+)>"), r"\1"),
    (re.compile(r"</?[A-Za-z][^>]*>"), ""),
    (re.compile(r"(`+)(.+?)\1"), r"\2"),
    (re.compile(r"(?<![\w*\\])(\*{1,3})(?=\S)(.+?)(?<=\S)\1(?!\*)"), r"\2"),
    (re.compile(r"(?<![\w\\])(_{1,3})(?=\S)(.+?)(?<=\S)\1(?!\w)"), r"\2"),
    (re.compile(r"~~(.+?)~~"), r"\1"),
    (re.compile(r"\\([\\`*_{}\[\]()#+\-.!>|~])"), r"\1"),
)


def _markdown_line(line: str) -> str:
    """Reduce one line of Markdown to plain text."""
    if line.lstrip().startswith("|"):
        line = " | ".join(cell.strip() for cell in line.strip().strip("|").split("|"))
    line = _MD_PREFIX.sub("", line)
    for pattern, replacement in _MD_INLINE:
        line = pattern.sub(replacement, line)
    return line


def _strip_front_matter(text: str) -> str:
    if text.startswith("---\n"):
        end = text.find("\n---\n", 4)
        if end != -1:
            return "\n" * text.count("\n", 0, end + 5) + text[end + 5 :]
    return text


def _markdown_lines(lines: list[str]) -> tuple[list[tuple[int, str]], str | None]:
    """Plain-text lines (numbered; "" breaks a paragraph) and the first level-1 heading."""
    title = None
    plain: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        heading = _MD_HEADING.match(line)
        if heading:
            title = title or (heading.group(2) if heading.group(1) == "#" else None)
            plain += [(number, ""), (number, _markdown_line(heading.group(2))), (number, "")]
        elif _MD_BREAK.match(line):
            if line.strip().startswith("=") and number > 1:
                title = title or _markdown_line(lines[number - 2])
            plain.append((number, ""))
        elif not _MD_SKIP.match(line):
            plain.append((number, _markdown_line(line)))
    return plain, title


def read_markdown(path: Path, name: str) -> ExtractedDocument:
    """Read Markdown: paragraphs and headings become passages of plain text."""
    text, encoding = decode_text(path.read_bytes(), name)
    plain, title = _markdown_lines(_strip_front_matter(normalise(text)).split("\n"))
    builder = PassageBuilder()
    for number, paragraph in _paragraphs(plain):
        builder.add("\n".join(paragraph), f"line {number}")
    return builder.build("markdown", title and _markdown_line(title), encoding=encoding)
