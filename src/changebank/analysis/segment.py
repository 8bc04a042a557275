"""Splitting texts into the separate ideas they hold, so one text can belong to several codes."""

from __future__ import annotations

import re

_SENTENCE_END = re.compile(r"(?<=[.!?;])\s+(?=[A-Z0-9\"'“‘(])|\n+")
_BULLET = re.compile(r"^\s*(?:[-*•–]|\d+[.)])\s+", re.M)
_CONTRAST = re.compile(r"\s*,?\s+\b(?:but|however|although|whereas)\b\s+", re.I)
MIN_SEGMENT_WORDS = 2


def segment(text: str, *, split_contrast: bool = True, max_chars: int = 600) -> list[str]:
    """The clauses of ``text`` that carry an idea each; the whole text when it is one idea.

    Sentences, bullet points and lines are split; so are contrasts ("good food but long waits")
    when ``split_contrast``. A fragment of one word is joined to its neighbour.
    Segments longer than ``max_chars`` are cut at word boundaries.
    """
    text = _BULLET.sub("", text.strip())
    if not text:
        return []
    pieces = [p.strip() for p in _SENTENCE_END.split(text) if p and p.strip()]
    if split_contrast:
        pieces = [c.strip() for p in pieces for c in _CONTRAST.split(p) if c and c.strip()]
    merged: list[str] = []
    for piece in pieces:
        short = (
            len(piece.split()) < MIN_SEGMENT_WORDS or len(merged[-1].split()) < MIN_SEGMENT_WORDS
            if merged
            else False
        )
        if short:
            merged[-1] = f"{merged[-1]} {piece}"
        else:
            merged.append(piece)
    out = []
    for piece in merged:
        while len(piece) > max_chars:
            cut = piece.rfind(" ", 0, max_chars)
            cut = cut if cut > max_chars // 2 else max_chars
            out.append(piece[:cut].strip())
            piece = piece[cut:].strip()
        if piece:
            out.append(piece)
    return out or [text[:max_chars]]


def segment_all(texts: list[str], **options: object) -> tuple[list[str], list[int]]:
    """Segments of every text, and for each segment the index of the text it came from."""
    segments: list[str] = []
    owners: list[int] = []
    for i, text in enumerate(texts):
        for piece in segment(text, **options):
            segments.append(piece)
            owners.append(i)
    return segments, owners
