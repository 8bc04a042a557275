"""Adding documents, transcripts and recordings to a programme as passages the analysis can code."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from .documents import extract, get_backend
from .models import Document, Passage, Programme, Submission, new_reference
from .privacy_ingest import text_fields

TRANSCRIPT_KINDS = {"vtt", "srt", "audio"}
AUDIO_SUFFIXES = {".wav", ".mp3", ".m4a", ".ogg", ".oga", ".flac"}
#: Files that are documents, transcripts or recordings rather than tables of responses.
DOCUMENT_SUFFIXES = {
    ".pdf",
    ".docx",
    ".doc",
    ".txt",
    ".md",
    ".markdown",
    ".html",
    ".htm",
    ".vtt",
    ".srt",
} | AUDIO_SUFFIXES


def is_document(filename: str) -> bool:
    return Path(filename).suffix.lower() in DOCUMENT_SUFFIXES


def speech_backend(spec: str) -> Any:
    """``pocketsphinx`` or ``whisper:/path/to/model``."""
    name, _, model = spec.partition(":")
    return get_backend(name, model_dir=model) if model else get_backend(name)


def add_document(
    programme: Programme,
    path: str | Path,
    *,
    title: str = "",
    speech: str = "pocketsphinx",
    user: Any = None,
    filename: str | None = None,
) -> tuple[Document, bool]:
    """Extract ``path`` and store it with one passage (and one submission) per piece of text.

    Returns ``(document, created)``; a file already in the programme (same content) is not added again.
    Raises :class:`~changebank.listen.documents.DocumentError` for a file that cannot be read.
    """
    path = Path(path)
    filename = filename or path.name
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    existing = Document.objects.filter(programme=programme, sha256=digest).first()
    if existing is not None:
        return existing, False
    backend = (
        speech_backend(speech)
        if path.suffix.lower() in {".wav", ".mp3", ".m4a", ".ogg", ".flac"}
        else None
    )
    extracted = extract(path, filename=filename, speech_backend=backend)
    store = Path(settings.DATA_DIR) / "uploads" / "documents" / digest[:2]
    store.mkdir(parents=True, exist_ok=True)
    stored = store / f"{digest}{path.suffix.lower()}"
    if not stored.exists():
        shutil.copyfile(path, stored)
    source = (
        Submission.Source.TRANSCRIPT
        if extracted.kind in TRANSCRIPT_KINDS
        else Submission.Source.DOCUMENT
    )
    with transaction.atomic():
        document = Document.objects.create(
            programme=programme,
            title=title or extracted.title or filename,
            filename=filename,
            kind=extracted.kind,
            sha256=digest,
            size=path.stat().st_size,
            file=str(stored.relative_to(settings.MEDIA_ROOT)),
            text=extracted.text,
            metadata=extracted.metadata,
            uploaded_by=user if getattr(user, "pk", None) else None,
        )
        passages = Passage.objects.bulk_create(
            [
                Passage(
                    document=document,
                    index=p.index,
                    text=p.text,
                    start=p.start,
                    end=p.end,
                    locator=p.locator[:100],
                    speaker=(p.speaker or "")[:200],
                    start_seconds=p.start_seconds,
                    end_seconds=p.end_seconds,
                )
                for p in extracted.passages
            ]
        )
        reference = new_reference()
        names = programme.names_to_redact()
        Submission.objects.bulk_create(
            [
                Submission(
                    programme=programme,
                    document=document,
                    passage=passage,
                    **text_fields(programme, passage.text, names=names),
                    source=source,
                    reference=reference,
                    received_at=document.uploaded_at,
                    dedupe_key=hashlib.sha256(f"doc:{digest}:{passage.index}".encode()).hexdigest(),
                )
                for passage in passages
            ]
        )
    return document, True
