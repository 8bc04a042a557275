"""Plain text, Markdown and HTML readers."""

from __future__ import annotations

import codecs
import re
from html.parser import HTMLParser
from pathlib import Path

from .model import DocumentError, ExtractedDocument, PassageBuilder, normalise


def decode_text(data: bytes, name: str) -> tuple[str, str]:
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


def _lines(text: str) -> list[str]:
    """The normalised lines of ``text``, one per line of the file (so numbers match)."""
    return [normalise(line) for line in re.split(r"\r\n?|\n", text)]


def read_txt(path: Path, name: str) -> ExtractedDocument:
    """Read a plain text file: one passage per blank-line-separated paragraph."""
    text, encoding = decode_text(path.read_bytes(), name)
    builder = PassageBuilder()
    for number, lines in _paragraphs(list(enumerate(_lines(text), 1))):
        builder.add("\n".join(lines), f"line {number}")
    return builder.build("txt", encoding=encoding)


# --- Markdown -------------------------------------------------------------------------------

_MD_FENCE = re.compile(r"^\s*(?:```|~~~)")
_MD_BREAK = re.compile(r"^\s*(?:=+|([-*_])(?:\s*\1){2,})\s*$")
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


def _strip_front_matter(lines: list[str]) -> list[str]:
    """Blank out a leading YAML front-matter block, keeping line numbers."""
    if lines[0] == "---" and "---" in lines[1:]:
        end = lines.index("---", 1)
        return [""] * (end + 1) + lines[end + 1 :]
    return lines


def _markdown_lines(lines: list[str]) -> tuple[list[tuple[int, str]], str | None]:
    """Plain-text lines (numbered; "" breaks a paragraph) and the first level-1 heading."""
    title = None
    fenced = False
    plain: list[tuple[int, str]] = []
    for number, line in enumerate(lines, 1):
        heading = None if fenced else _MD_HEADING.match(line)
        if _MD_FENCE.match(line):
            fenced = not fenced
            plain.append((number, ""))
        elif fenced:
            plain.append((number, line))
        elif heading:
            title = title or (heading.group(2) if heading.group(1) == "#" else None)
            plain += [(number, ""), (number, _markdown_line(heading.group(2))), (number, "")]
        elif _MD_BREAK.match(line):
            if line.strip().startswith("=") and number > 1:
                title = title or lines[number - 2]
            plain.append((number, ""))
        elif not _MD_SKIP.match(line):
            plain.append((number, _markdown_line(line)))
    return plain, title


def read_markdown(path: Path, name: str) -> ExtractedDocument:
    """Read Markdown: paragraphs and headings become passages of plain text."""
    text, encoding = decode_text(path.read_bytes(), name)
    plain, title = _markdown_lines(_strip_front_matter(_lines(text)))
    builder = PassageBuilder()
    for number, paragraph in _paragraphs(plain):
        builder.add("\n".join(paragraph), f"line {number}")
    return builder.build("markdown", title and _markdown_line(title), encoding=encoding)


# --- HTML -----------------------------------------------------------------------------------

_SKIPPED = {"script", "style", "nav", "head", "noscript", "template", "svg", "iframe", "object"}
_BLOCKS = {
    "address", "article", "aside", "blockquote", "body", "caption", "dd", "details", "dialog",
    "div", "dl", "dt", "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3",
    "h4", "h5", "h6", "header", "hr", "html", "li", "main", "ol", "p", "pre", "section",
    "summary", "table", "tbody", "thead", "tfoot", "tr", "ul",
}  # fmt: skip


class _HTMLText(HTMLParser):
    """Collects the visible text of an HTML page as a list of blocks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.blocks: list[str] = []
        self.title: list[str] = []
        self._current: list[str] = []
        self._skipping = 0
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in _SKIPPED:
            self._skipping += 1
        elif tag == "body":
            self._skipping = 0  # an unclosed <head> ends here
        if tag == "title":
            self._in_title = not self.title
        elif tag == "br":
            self._current.append("\n")
        elif tag in ("td", "th") and "".join(self._current).strip():
            self._current.append(" | ")
        elif tag in _BLOCKS:
            self._flush()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag == "title":
            self._in_title = False
        elif tag in _BLOCKS:
            self._flush()

    def handle_data(self, data: str) -> None:
        if self._in_title:
            self.title.append(data)
        elif not self._skipping:
            self._current.append(re.sub(r"\s+", " ", data))

    def _flush(self) -> None:
        text = "".join(self._current).strip()
        if text:
            self.blocks.append(text)
        self._current = []

    def close(self) -> None:
        """Finish parsing and keep any trailing text."""
        super().close()
        self._flush()


def read_html(path: Path, name: str) -> ExtractedDocument:
    """Read an HTML page: each block element's visible text becomes a passage."""
    text, encoding = decode_text(path.read_bytes(), name)
    parser = _HTMLText()
    parser.feed(text)
    parser.close()
    builder = PassageBuilder()
    for number, block in enumerate(parser.blocks, 1):
        builder.add(block, f"paragraph {number}")
    return builder.build("html", "".join(parser.title), encoding=encoding)
