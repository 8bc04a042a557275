"""Data model shared by every reader: passages, documents, errors and text clean-up."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

MAX_PASSAGE_CHARS = 1500
PASSAGE_SEPARATOR = "\n\n"


class DocumentError(ValueError):
    """A file could not be turned into text; ``str()`` names the file and says why.

    ``path`` is the name shown to the user (the ``filename`` given to ``extract`` if any);
    it is None for problems that concern no file, such as a missing speech model.
    """

    def __init__(self, path: str | Path | None, message: str) -> None:
        self.path = path
        self.message = message
        name = Path(path).name if path is not None else ""
        super().__init__(f"{name}: {message}" if name else message)


@dataclass
class Passage:
    """A span of a document's text with a human-readable position."""

    index: int
    text: str
    start: int
    end: int
    locator: str
    speaker: str | None = None
    start_seconds: float | None = None
    end_seconds: float | None = None


@dataclass
class ExtractedDocument:
    """The text of a document and its passages (``text[p.start:p.end] == p.text``)."""

    kind: str
    text: str
    passages: list[Passage]
    title: str | None = None
    metadata: dict = field(default_factory=dict)


_SPACES = re.compile(r"[\t\v\f\u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]")
_LINE_BREAKS = re.compile(r"\r\n?|[\u0085\u2028\u2029]")
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u00ad\u200b\ufeff]")
_SPACE_RUNS = re.compile(r" {2,}")
_LINE_EDGES = re.compile(r" *\n *")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalise(text: str) -> str:
    """NFC-normalise, turn odd spaces into spaces, drop control characters, collapse runs."""
    text = _CONTROL.sub("", _SPACES.sub(" ", _LINE_BREAKS.sub("\n", text)))
    text = _LINE_EDGES.sub("\n", _SPACE_RUNS.sub(" ", text))
    return unicodedata.normalize("NFC", _BLANK_RUNS.sub("\n\n", text))


def clean_title(title: object) -> str | None:
    """Return a normalised one-line title, or None when there is nothing to show."""
    if not isinstance(title, str):
        return None
    return " ".join(normalise(title).split()) or None


# Preferred places to cut a long passage, best first.
_CUTS = (
    re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+|\n\s*\n"),
    re.compile(r"\n"),
    re.compile(r"\s+"),
)


def _cut_point(window: str) -> int:
    """Where to cut ``window``: after its last sentence end, else line break, else space."""
    for pattern in _CUTS:
        ends = [m.end() for m in pattern.finditer(window) if m.start() > 0]
        if ends:
            return ends[-1]
    return len(window) - 1


def split_passage(text: str, limit: int = MAX_PASSAGE_CHARS) -> list[str]:
    """Split ``text`` into chunks of at most ``limit`` characters at sentence boundaries."""
    chunks = []
    text = text.strip()
    while len(text) > limit:
        cut = _cut_point(text[: limit + 1])
        chunks.append(text[:cut].strip())
        text = text[cut:].strip()
    chunks.append(text)
    return [chunk for chunk in chunks if chunk]


def format_timestamp(seconds: float) -> str:
    """Format seconds as ``HH:MM:SS.mmm``."""
    millis = round(seconds * 1000)
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    return f"{hours:02d}:{minutes:02d}:{millis // 1000:02d}.{millis % 1000:03d}"


def time_range(start: float, end: float) -> str:
    """Locator for a stretch of a recording, e.g. ``00:01:02.500–00:01:05.000``."""
    return f"{format_timestamp(start)}–{format_timestamp(end)}"


class PassageBuilder:
    """Collects passages and builds the full text that their offsets index into."""

    def __init__(self) -> None:
        self._parts: list[str] = []
        self._length = 0
        self.passages: list[Passage] = []

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)

    def add(
        self,
        text: str,
        locator: str,
        *,
        speaker: str | None = None,
        seconds: tuple[float, float] | tuple[None, None] = (None, None),
    ) -> None:
        """Normalise ``text``, split it if long and append the pieces as passages."""
        for chunk in split_passage(normalise(text)):
            self._append(PASSAGE_SEPARATOR if self.passages else "")
            self._append(f"{speaker}: " if speaker else "")
            start = self._length
            self._append(chunk)
            index = len(self.passages)
            self.passages.append(
                Passage(index, chunk, start, start + len(chunk), locator, speaker, *seconds)
            )

    def add_timed(self, text: str, start: float, end: float, speaker: str | None = None) -> None:
        """Add a stretch of a recording or transcript, located by its time range."""
        self.add(text, time_range(start, end), speaker=speaker, seconds=(start, end))

    def build(self, kind: str, title: object = None, **metadata: object) -> ExtractedDocument:
        """Return the finished document."""
        text = "".join(self._parts)
        return ExtractedDocument(kind, text, self.passages, clean_title(title), metadata)
