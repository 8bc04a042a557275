"""WebVTT and SRT transcript readers."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from pathlib import Path

from .model import ExtractedDocument, PassageBuilder, normalise
from .text import decode_text

MAX_MERGED_CHARS = 1000

_TIME = r"(?:\d+:)?\d{1,2}:\d{2}(?:[.,]\d{1,3})?"
_TIMING = re.compile(rf"({_TIME})\s*-->\s*({_TIME})")
_VOICE = re.compile(r"<v(?:\.[^\s>]*)?\s+([^>]+)>")
_TAGS = re.compile(r"<[^>]*>|\{\\[^}]*\}")
_NAME_PREFIX = re.compile(r"^-?\s*([A-Z][\w'.-]*(?: [A-Z0-9][\w'.-]*){0,3}):\s+(?=\S)")
_VTT_TITLE = re.compile(r"^WEBVTT[ \t]+-?[ \t]*(\S.*)$")


@dataclass
class _Cue:
    speaker: str | None
    text: str
    start: float
    end: float


def _seconds(stamp: str) -> float:
    """Turn ``01:02:03.500`` or ``02:03,5`` into seconds."""
    parts = stamp.replace(",", ".").split(":")
    return sum(float(part) * 60**power for power, part in enumerate(reversed(parts)))


def _speaker_lines(lines: list[str]) -> list[tuple[str | None, str]]:
    """Split a cue's payload into (speaker, text) pieces; later lines keep the last speaker."""
    pieces: list[tuple[str | None, str]] = []
    speaker = None
    for line in lines:
        voice = _VOICE.search(line)
        text = html.unescape(_TAGS.sub("", line)).strip()
        prefix = None if voice else _NAME_PREFIX.match(text)
        if voice or prefix:
            speaker = (voice or prefix).group(1).strip()
            text = text[prefix.end() :] if prefix else text
        if text:
            pieces.append((speaker, text))
    return pieces


def _parse_cues(text: str) -> list[_Cue]:
    """Every timed cue in a WebVTT or SRT file, split by speaker."""
    cues = []
    for block in re.split(r"\n\s*\n", text):
        lines = block.strip().split("\n")
        timing_index = next((i for i, line in enumerate(lines) if _TIMING.search(line)), None)
        if timing_index is None or lines[0].startswith(("NOTE", "STYLE", "REGION")):
            continue  # the header, comments and styling
        timing = _TIMING.search(lines[timing_index])
        start, end = _seconds(timing.group(1)), _seconds(timing.group(2))
        for speaker, piece in _speaker_lines(lines[timing_index + 1 :]):
            cues.append(_Cue(speaker, piece, start, end))
    return cues


def _merge(cues: list[_Cue], limit: int = MAX_MERGED_CHARS) -> list[_Cue]:
    """Join consecutive cues from the same speaker while the result stays under ``limit``."""
    merged: list[_Cue] = []
    for cue in cues:
        last = merged[-1] if merged else None
        if last and last.speaker == cue.speaker and len(last.text) + len(cue.text) < limit:
            last.text = f"{last.text} {cue.text}"
            last.end = max(last.end, cue.end)
        else:
            merged.append(_Cue(cue.speaker, cue.text, cue.start, cue.end))
    return merged


def _read_transcript(path: Path, name: str, kind: str) -> ExtractedDocument:
    text, encoding = decode_text(path.read_bytes(), name)
    text = normalise(text)
    cues = _parse_cues(text)
    builder = PassageBuilder()
    for cue in _merge(cues):
        builder.add_timed(cue.text, cue.start, cue.end, cue.speaker)
    title = _VTT_TITLE.match(text.split("\n", 1)[0]) if kind == "vtt" else None
    return builder.build(
        kind,
        title and title.group(1),
        encoding=encoding,
        duration_seconds=max((cue.end for cue in cues), default=0.0),
        speakers=sorted({cue.speaker for cue in cues if cue.speaker}),
    )


def read_vtt(path: Path, name: str) -> ExtractedDocument:
    """Read a WebVTT transcript (speakers from ``<v Name>`` or a ``Name:`` prefix)."""
    return _read_transcript(path, name, "vtt")


def read_srt(path: Path, name: str) -> ExtractedDocument:
    """Read an SRT subtitle file."""
    return _read_transcript(path, name, "srt")
