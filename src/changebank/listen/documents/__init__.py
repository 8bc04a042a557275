"""Turn evidence documents, transcripts and recordings into text passages.

``extract(path)`` reads PDF, Word .docx, plain text, Markdown, HTML, WebVTT and SRT files and
audio recordings (transcribed offline) and returns an ExtractedDocument whose passages carry a
human-readable locator ("page 3", "line 40", "00:01:02.500–00:01:05.000"). Every failure
raises DocumentError, whose message names the file. Pure Python: no Django.
"""

from .extract import DEFAULT_MAX_BYTES, detect_kind, extract
from .model import DocumentError, ExtractedDocument, Passage, normalise, split_passage
from .speech import (
    PocketSphinxBackend,
    Segment,
    SpeechBackend,
    WhisperBackend,
    decode_audio,
    get_backend,
)

__all__ = [
    "DEFAULT_MAX_BYTES",
    "DocumentError",
    "ExtractedDocument",
    "Passage",
    "PocketSphinxBackend",
    "Segment",
    "SpeechBackend",
    "WhisperBackend",
    "decode_audio",
    "detect_kind",
    "extract",
    "get_backend",
    "normalise",
    "split_passage",
]
