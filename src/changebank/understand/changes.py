"""What analysts do to the long list of distinct changes: name and reword a change, merge two,
split one, link submissions to it or unlink them, link related changes.

Each action is one transaction, recorded in the audit trail (a note on every change it touched,
naming the :class:`WorkspaceAction` that can undo it) and undoable through
:class:`changebank.understand.undo.Changeset`: a distinct change's ``members`` and ``linked`` are
restored by undo from the change's row as it was. Every action keeps ``count`` equal to the number
of members, and marks the changes the analyst shaped ``origin=human`` so that re-running the
analysis (which replaces the AI's changes) keeps them.

The views call these functions; so can a notebook or a command. Each takes the acting user and
returns the :class:`WorkspaceAction` that can undo it (``split_change`` also returns the new
change).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q

from changebank.core.audit import acting_as, record
from changebank.listen.models import Programme, Submission

from .models import DistinctChange, Origin, WorkspaceAction
from .undo import Changeset

#: The kinds of workspace action this module records.
KINDS = (
    "edit change",
    "merge changes",
    "split change",
    "link submission",
    "unlink submissions",
    "link changes",
    "unlink changes",
)

DISTINCT = "understand.distinctchange"
_NUMBER = re.compile(r"^\s*(?:#|no\.?\s*|number\s*)?(\d{1,12})\s*$", re.IGNORECASE)


def title(change: DistinctChange, width: int = 60) -> str:
    """How a change is named in summaries: its number and its name (or the start of its text)."""
    words = change.name or " ".join(change.text.split())
    if len(words) > width:
        words = words[: width - 1].rstrip() + "…"
    return f"#{change.pk} ‘{words}’"


def parse_number(value: str | None) -> int | None:
    """A change's number as typed ("12", "#12"); ``None`` if blank. Raises ``ValidationError``
    if it is not a number."""
    value = (value or "").strip()
    if not value:
        return None
    match = _NUMBER.match(value)
    if match is None:
        raise ValidationError(f"“{value[:40]}” is not a change number: enter digits, like 12.")
    return int(match.group(1))


def find_change(programme: Programme, number: int | str | None) -> DistinctChange:
    """The programme's change with this number, or ``ValidationError``."""
    pk = parse_number(str(number)) if number is not None else None
    if pk is None:
        raise ValidationError("Choose a change or enter its number.")
    change = DistinctChange.objects.filter(programme=programme, pk=pk).first()
    if change is None:
        raise ValidationError(f"There is no change number {pk} in this programme.")
    return change


def find_submission(programme: Programme, reference: str) -> Submission:
    """The programme's submission with this reference (as written on a receipt, any case), or
    ``ValidationError`` (none, or several: a form answering two questions gives two submissions
    with one reference; then the analyst picks one by searching)."""
    reference = " ".join((reference or "").split()).upper()
    if not reference:
        raise ValidationError("Enter a submission’s reference, like CB-7K3M-Q9XD.")
    # references are written in capitals (see listen.models.new_reference): an exact, indexed match
    found = list(programme.submissions.filter(reference=reference).order_by("id")[:3])
    if not found:
        raise ValidationError(f"No submission in this programme has the reference {reference}.")
    if len(found) > 1:
        raise ValidationError(
            f"More than one submission has the reference {reference}: "
            "search for the words of the one you mean and link it from the results."
        )
    return found[0]


# --- helpers ----------------------------------------------------------------------------------


@contextlib.contextmanager
def _as(user: Any) -> Iterator[None]:
    if getattr(user, "pk", None):
        with acting_as(user):
            yield
    else:
        yield


def _short(text: str, width: int = 80) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _recount(*changes: DistinctChange) -> None:
    for change in changes:
        change.count = change.members.count()


def _note(
    action: WorkspaceAction | None,
    change: DistinctChange,
    note: str,
    *,
    before: dict | None = None,
    after: dict | None = None,
) -> None:
    """One audit event on ``change`` telling what the action did to it, with the action's id."""
    record(
        "change",
        change,
        before=before,
        after={**(after or {}), "workspace_action": action.pk if action else None},
        note=note,
    )


def _watch(cs: Changeset, pks: Iterable[int]) -> None:
    cs.watch(DistinctChange, Q(pk__in=sorted(set(pks))))


def _same_programme(change: DistinctChange, other: DistinctChange) -> None:
    if other.programme_id != change.programme_id:
        raise ValidationError("Choose a change of the same programme.")


def _member_ids(change: DistinctChange, submission_ids: Iterable[Any]) -> list[int]:
    wanted = []
    for value in submission_ids:
        try:
            wanted.append(int(value))
        except (TypeError, ValueError):
            continue
    return sorted(change.members.filter(pk__in=wanted).values_list("pk", flat=True))


# --- the actions ------------------------------------------------------------------------------


def edit_change(
    change: DistinctChange,
    user: Any = None,
    *,
    name: str | None = None,
    text: str | None = None,
) -> WorkspaceAction | None:
    """Name a change (a blank name clears it) or edit its representative wording."""
    new_name = " ".join(name.split())[:200] if name is not None else change.name
    new_text = text.strip() if text is not None else change.text
    if not new_text:
        raise ValidationError("Enter the wording of the change: what people asked for.")
    if new_name == change.name and new_text == change.text:
        raise ValidationError("Nothing was changed: edit the name or the wording first.")
    parts = []
    if new_name != change.name:
        parts.append(f"named it ‘{new_name}’" if new_name else "cleared its name")
    if new_text != change.text:
        parts.append("edited its wording")
    summary = f"Change {title(change)}: {' and '.join(parts)}"
    before = {"name": change.name, "text": change.text}
    with _as(user), transaction.atomic():
        with Changeset(change.programme, "edit change", summary, user) as cs:
            _watch(cs, [change.pk])
            change.name = new_name
            change.text = new_text
            change.origin = Origin.HUMAN
            change.save()
        notes = []
        if new_name != before["name"]:
            notes.append(f"Name: ‘{before['name'] or '(none)'}’ → ‘{new_name or '(none)'}’")
        if new_text != before["text"]:
            notes.append(f"Wording: “{_short(before['text'])}” → “{_short(new_text)}”")
        note = "; ".join(notes)
        _note(cs.action, change, note, before=before, after={"name": new_name, "text": new_text})
    return cs.action


def merge_changes(
    source: DistinctChange, target: DistinctChange, user: Any = None
) -> WorkspaceAction | None:
    """Merge ``source`` into ``target``: ``target`` gets the members of both and the related
    changes of both; ``source`` is deleted."""
    _same_programme(target, source)
    if source.pk == target.pk:
        raise ValidationError("A change cannot be merged into itself: choose another change.")
    source_title = title(source)
    summary = f"Merged change {source_title} into {title(target)}"
    with _as(user), transaction.atomic():
        related = set(source.linked.values_list("pk", flat=True)) - {source.pk, target.pk}
        with Changeset(source.programme, "merge changes", summary, user) as cs:
            _watch(cs, [source.pk, target.pk, *related])
            before = target.count
            target.members.add(*source.members.values_list("pk", flat=True))
            target.linked.add(*related)
            _recount(target)
            if not target.name and source.name:
                target.name = source.name
            target.origin = Origin.HUMAN
            target.save()
            source.delete()
        added = target.count - before
        _note(
            cs.action,
            target,
            f"Merged change {source_title} into this one "
            f"({added:,} submission{'' if added == 1 else 's'} added, {target.count:,} in all)",
            before={"merged_change": source.pk, "count": before},
            after={"count": target.count},
        )
    return cs.action


def split_change(
    change: DistinctChange, submission_ids: Iterable[Any], name: str, user: Any = None
) -> tuple[DistinctChange, WorkspaceAction | None]:
    """Move the picked members of ``change`` to a new change called ``name`` (same code; its
    wording is the first picked submission's text, to edit afterwards)."""
    name = " ".join((name or "").split())[:200]
    picked = _member_ids(change, submission_ids)
    if not picked:
        raise ValidationError("Pick at least one submission of this change to move.")
    if len(picked) >= change.members.count():
        raise ValidationError(
            "Leave at least one submission in this change: to move them all, merge it instead."
        )
    if not name:
        raise ValidationError("Enter a name for the new change.")
    n = len(picked)
    summary = (
        f"Split {n:,} submission{'' if n == 1 else 's'} from change {title(change)} "
        f"into a new change ‘{name}’"
    )
    with _as(user), transaction.atomic():
        with Changeset(change.programme, "split change", summary, user) as cs:
            _watch(cs, [change.pk])
            cs.watch_after(DistinctChange, Q(programme=change.programme))
            first = Submission.objects.get(pk=picked[0])
            new = DistinctChange.objects.create(
                programme=change.programme,
                run=change.run,
                text=first.text,
                count=n,
                code=change.code,
                origin=Origin.HUMAN,
                name=name,
            )
            new.members.set(picked)
            change.members.remove(*picked)
            _recount(change, new)
            change.origin = Origin.HUMAN
            change.save()
            new.save()
        _note(
            cs.action,
            change,
            f"Moved {n:,} submission{'' if n == 1 else 's'} to a new change {title(new)}",
            after={"moved": picked, "to": new.pk, "count": change.count},
        )
        _note(
            cs.action,
            new,
            f"Split from change {title(change)} ({n:,} submission{'' if n == 1 else 's'})",
            after={"from": change.pk, "count": new.count},
        )
    return new, cs.action


def link_submission(
    change: DistinctChange, submission: Submission, user: Any = None
) -> WorkspaceAction | None:
    """Add a submission to a change's members (it stays in any other change it is in)."""
    if submission.programme_id != change.programme_id:
        raise ValidationError("Choose a submission of this programme.")
    if change.members.filter(pk=submission.pk).exists():
        raise ValidationError(
            f"Submission {submission.reference or submission.pk} is already in this change."
        )
    ref = submission.reference or f"number {submission.pk}"
    summary = f"Linked submission {ref} to change {title(change)}"
    with _as(user), transaction.atomic():
        with Changeset(change.programme, "link submission", summary, user) as cs:
            _watch(cs, [change.pk])
            change.members.add(submission)
            _recount(change)
            change.origin = Origin.HUMAN
            change.save()
        _note(
            cs.action,
            change,
            f"Linked submission {ref}",
            after={"submission": submission.pk, "count": change.count},
        )
    return cs.action


def unlink_submissions(
    change: DistinctChange, submission_ids: Iterable[Any], user: Any = None
) -> WorkspaceAction | None:
    """Take the picked submissions out of a change (they stay in the programme)."""
    picked = _member_ids(change, submission_ids)
    if not picked:
        raise ValidationError("Pick at least one submission of this change to unlink.")
    if len(picked) >= change.members.count():
        raise ValidationError(
            "A change needs at least one submission: leave one, or merge this change into another."
        )
    refs = [
        r or str(pk)
        for pk, r in Submission.objects.filter(pk__in=picked).values_list("pk", "reference")
    ]
    n = len(picked)
    shown = ", ".join(refs[:5]) + (f" and {n - 5:,} more" if n > 5 else "")
    summary = (
        f"Unlinked {n:,} submission{'' if n == 1 else 's'} ({shown}) from change {title(change)}"
    )
    with _as(user), transaction.atomic():
        with Changeset(change.programme, "unlink submissions", summary, user) as cs:
            _watch(cs, [change.pk])
            change.members.remove(*picked)
            _recount(change)
            change.origin = Origin.HUMAN
            change.save()
        _note(
            cs.action,
            change,
            f"Unlinked submission{'' if n == 1 else 's'} {shown}",
            after={"unlinked": picked, "count": change.count},
        )
    return cs.action


def link_changes(
    change: DistinctChange, other: DistinctChange, user: Any = None
) -> WorkspaceAction | None:
    """Mark two changes as related (both show the link)."""
    _same_programme(change, other)
    if other.pk == change.pk:
        raise ValidationError("A change cannot be linked to itself: choose another change.")
    if change.linked.filter(pk=other.pk).exists():
        raise ValidationError(f"Change {title(other)} is already linked to this one.")
    summary = f"Linked change {title(change)} with change {title(other)}"
    return _set_link(change, other, user, summary, "link changes", add=True)


def unlink_changes(
    change: DistinctChange, other: DistinctChange, user: Any = None
) -> WorkspaceAction | None:
    """Undo the relation between two changes."""
    if not change.linked.filter(pk=other.pk).exists():
        raise ValidationError(f"Change {title(other)} is not linked to this one.")
    summary = f"Unlinked change {title(change)} from change {title(other)}"
    return _set_link(change, other, user, summary, "unlink changes", add=False)


def _set_link(
    change: DistinctChange,
    other: DistinctChange,
    user: Any,
    summary: str,
    kind: str,
    *,
    add: bool,
) -> WorkspaceAction | None:
    with _as(user), transaction.atomic():
        with Changeset(change.programme, kind, summary, user) as cs:
            _watch(cs, [change.pk, other.pk])
            if add:
                change.linked.add(other)
            else:
                change.linked.remove(other)
            for item in (change, other):
                item.origin = Origin.HUMAN
                item.save()
        verb = "Linked to" if add else "Unlinked from"
        _note(cs.action, change, f"{verb} change {title(other)}", after={"change": other.pk})
        _note(cs.action, other, f"{verb} change {title(change)}", after={"change": change.pk})
    return cs.action


def touched(action: WorkspaceAction) -> set[int]:
    """The distinct changes an action touched (watched before it, or created by it)."""
    rows: Sequence[dict] = (action.undo or {}).get("before", {}).get(DISTINCT, [])
    return {int(r["pk"]) for r in rows} | created(action)


def created(action: WorkspaceAction) -> set[int]:
    """The distinct changes an action created (undoing it deletes them)."""
    return {int(pk) for pk in (action.undo or {}).get("created", {}).get(DISTINCT, [])}
