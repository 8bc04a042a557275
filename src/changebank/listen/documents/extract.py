"""Entry point: detect a file's kind and turn it into passages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .model import DocumentError, ExtractedDocument
from .office import DAMAGED, read_docx, read_pdf
from .speech import SpeechBackend, read_audio
from .text import read_html, read_markdown, read_txt
from .transcripts import read_srt, read_vtt

DEFAULT_MAX_BYTES = 100 * 1024 * 1024

# kind: (label for messages, extensions, reader)
_KINDS: dict[str, tuple[str, str, Callable[..., ExtractedDocument]]] = {
    "pdf": ("PDF", ".pdf", read_pdf),
    "docx": ("Word document", ".docx", read_docx),
    "txt": ("text file", ".txt .text", read_txt),
    "markdown": ("Markdown file", ".md .markdown", read_markdown),
    "html": ("HTML page", ".html .htm", read_html),
    "vtt": ("WebVTT transcript", ".vtt", read_vtt),
    "srt": ("SRT transcript", ".srt", read_srt),
    "audio": ("audio recording", ".wav .mp3 .m4a .ogg .oga .flac", read_audio),
}
EXTENSIONS = {ext: kind for kind, (_, exts, _) in _KINDS.items() for ext in exts.split()}
_NOTHING_FOUND = {
    "pdf": "no text found (is it a scanned image? run it through OCR first)",
    "vtt": "no timed cues with text found",
    "srt": "no timed cues with text found",
    "audio": "no speech was recognised in the recording",
}


def _sniff(head: bytes) -> str | None:
    """Recognise a kind from the first bytes of a file, where that is cheap."""
    if b"%PDF-" in head:
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "docx"
    if head.startswith((b"WEBVTT", b"\xef\xbb\xbfWEBVTT")):
        return "vtt"
    is_wave = head.startswith(b"RIFF") and head[8:12] == b"WAVE"
    if is_wave or head.startswith((b"ID3", b"fLaC", b"OggS")) or head[4:8] == b"ftyp":
        return "audio"
    return None


def detect_kind(name: str, head: bytes) -> str:
    """The kind of a file from its name, or its first bytes for .pdf, .docx and unknown names."""
    sniffed = _sniff(head)
    suffix = Path(name).suffix.lower()
    if sniffed and EXTENSIONS.get(suffix, "pdf") in ("pdf", "docx"):
        return sniffed
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix]
    if suffix == ".doc":
        raise DocumentError(name, "old Word .doc files are not supported; save it as .docx or PDF")
    described = f"'{suffix}'" if suffix else "(no extension)"
    supported = " ".join(EXTENSIONS)
    raise DocumentError(name, f"unsupported file type {described}; supported: {supported}")


def _read_head(path: Path, name: str, max_bytes: int) -> bytes:
    """Check the file exists and has a sensible size; return its first kilobyte."""
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise DocumentError(name, "not a file")
        if size == 0:
            raise DocumentError(name, "the file is empty")
        if size > max_bytes:
            limit = max_bytes / (1024 * 1024)
            raise DocumentError(name, f"the file is larger than the {limit:g} MB limit")
        with path.open("rb") as handle:
            return handle.read(1024)
    except FileNotFoundError as exc:
        raise DocumentError(name, "file not found") from exc
    except OSError as exc:
        raise DocumentError(name, f"cannot read the file ({exc.strerror or exc})") from exc


def extract(
    path: str | Path,
    *,
    filename: str | None = None,
    speech_backend: SpeechBackend | None = None,
    max_bytes: int = DEFAULT_MAX_BYTES,
) -> ExtractedDocument:
    """Extract the text of a document, transcript or recording as ordered passages.

    ``filename`` is the name the user gave the file (used to detect its kind and in error
    messages) when ``path`` is, say, a temporary upload. Audio is transcribed with
    ``speech_backend`` (default: a new PocketSphinxBackend). Any failure, including a
    document with no text, raises DocumentError.
    """
    path = Path(path)
    name = filename or path.name
    kind = detect_kind(name, _read_head(path, name, max_bytes))
    label, _, reader = _KINDS[kind]
    try:
        if kind == "audio":
            document = reader(path, name, speech_backend)
        else:
            document = reader(path, name)
    except DocumentError:
        raise
    except Exception as exc:  # noqa: BLE001 - no library exception may escape
        problem = "could not decode the audio" if kind == "audio" else DAMAGED
        raise DocumentError(name, f"not a readable {label} ({problem})") from exc
    if not document.passages:
        raise DocumentError(name, _NOTHING_FOUND.get(kind, "no text found"))
    return document
