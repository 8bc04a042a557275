"""The co-design canvas: saving versions (refusing a save based on an older version, or one that
changes nothing) and showing what changed between versions, word by word, accessibly."""

from __future__ import annotations

import difflib
import re
from typing import Any

from django.db import IntegrityError, transaction
from markupsafe import Markup, escape

from .models import CANVAS_SECTIONS, DesignVersion, TrackedChange

SECTION_KEYS = [key for key, _, _ in CANVAS_SECTIONS]
SECTION_LABELS = {key: label for key, label, _ in CANVAS_SECTIONS}
#: The longest text a section may hold.
MAX_SECTION = 20_000


class NothingChanged(ValueError):
    """The texts are those of the current version."""


class StaleVersion(ValueError):
    """Someone saved a newer version than the one the edit started from."""

    def __init__(self, newer: DesignVersion | None) -> None:
        self.newer = newer
        number = newer.number if newer else 0
        super().__init__(
            f"Someone saved version {number} while you were editing: your text is below, "
            "compare and save again."
        )


def clean_text(text: str) -> str:
    """Line endings as \\n and no blank space at either end (browsers send \\r\\n)."""
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def current_version(tracked: TrackedChange) -> DesignVersion | None:
    return tracked.designs.order_by("-number").first()


def texts_of(version: DesignVersion | None) -> dict[str, str]:
    return {key: getattr(version, key) if version else "" for key in SECTION_KEYS}


def save_version(
    tracked: TrackedChange,
    *,
    based_on: int,
    texts: dict[str, str],
    summary: str,
    author_name: str,
    author: Any = None,
) -> DesignVersion:
    """Save the canvas as the next version. ``based_on`` is the number of the version the edit
    started from (0 for the first): when a newer one exists, :class:`StaleVersion` is raised and
    nothing is saved; when no section changed, :class:`NothingChanged`."""
    cleaned = {key: clean_text(texts.get(key, "")) for key in SECTION_KEYS}
    with transaction.atomic():
        # Lock the change so that two saves cannot both take the next number.
        TrackedChange.objects.select_for_update().filter(pk=tracked.pk).exists()
        latest = current_version(tracked)
        number = latest.number if latest else 0
        if based_on != number:
            raise StaleVersion(latest)
        if cleaned == texts_of(latest):
            raise NothingChanged("Nothing has changed: edit a section before you save.")
        try:
            with transaction.atomic():
                return DesignVersion.objects.create(
                    tracked=tracked,
                    number=number + 1,
                    summary=clean_text(summary)[:300],
                    author_name=author_name[:200] or "Someone",
                    author=author if getattr(author, "pk", None) else None,
                    **cleaned,
                )
        except IntegrityError as error:  # saved by someone else in between
            raise StaleVersion(current_version(tracked)) from error


# --- differences between versions -----------------------------------------------------------------

_TOKENS = re.compile(r"\s+|[^\s]+")


def _html(text: str) -> str:
    return str(escape(text)).replace("\n", "<br>")


def _removed(text: str) -> str:
    return (
        '<del><span class="nhsuk-u-visually-hidden">removed: </span>'
        f'{_html(text)}<span class="nhsuk-u-visually-hidden"> (end of removed text)</span></del>'
    )


def _added(text: str) -> str:
    return (
        '<ins><span class="nhsuk-u-visually-hidden">added: </span>'
        f'{_html(text)}<span class="nhsuk-u-visually-hidden"> (end of added text)</span></ins>'
    )


def diff_html(old: str, new: str) -> Markup:
    """``new`` with the words taken out of ``old`` in <del> and those put in in <ins>, each
    announced to screen readers ("removed:", "added:") since the marks themselves often are not."""
    a, b = _TOKENS.findall(old), _TOKENS.findall(new)
    parts = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            parts.append(_html("".join(a[i1:i2])))
            continue
        if op in ("delete", "replace"):
            parts.append(_removed("".join(a[i1:i2])))
        if op in ("insert", "replace"):
            parts.append(_added("".join(b[j1:j2])))
    return Markup("".join(parts))  # noqa: S704 (every piece of text is escaped above)  # nosec B704


def compare(version: DesignVersion, previous: DesignVersion | None) -> list[dict[str, Any]]:
    """Per section: its label, whether it changed from ``previous``, the text, and the marked-up
    difference."""
    before = texts_of(previous)
    rows = []
    for key, label, _ in CANVAS_SECTIONS:
        new = getattr(version, key)
        changed = new != before[key]
        rows.append(
            {
                "key": key,
                "label": label,
                "changed": changed,
                "text": new,
                "diff": diff_html(before[key], new) if changed else None,
            }
        )
    return rows
