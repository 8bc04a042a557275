"""What analysts do to themes, codes and codings: each action is one transaction, recorded in the
audit trail and undoable (see :mod:`changebank.understand.undo`).

The views call these functions; so can a notebook or a command. Each takes the acting user (for
"edited by") and returns the :class:`WorkspaceAction` that can undo it, except where noted.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils import timezone

from changebank.core.audit import record
from changebank.listen.models import Programme, Submission

from .analyse import EMBEDDER, _embedder, latest_run, update_code_sizes
from .models import (
    Code,
    CodeAssignment,
    CodeSpan,
    CodingDecision,
    DistinctChange,
    Origin,
    Theme,
    WorkspaceAction,
)
from .undo import Changeset


def _clean_label(label: str, what: str) -> str:
    label = " ".join((label or "").split())
    if not label:
        raise ValidationError(f"Enter a name for the {what}.")
    return label[:200]


def _watch_codes(cs: Changeset, codes: Sequence[Code], *, assignments: bool = True) -> None:
    """Watch codes with everything hanging off them (their codings, spans, distinct changes)."""
    pks = [c.pk for c in codes]
    cs.watch(Code, Q(pk__in=pks))
    if assignments:
        cs.watch(CodeAssignment, Q(code__in=pks))
        cs.watch(CodeSpan, Q(assignment__code__in=pks))
    cs.watch(DistinctChange, Q(code__in=pks))


def _human(code: Code) -> None:
    code.origin = Origin.HUMAN
    code.status = Code.Status.ACCEPTED


# --- themes -----------------------------------------------------------------------------------


def create_theme(programme: Programme, label: str, user: Any = None) -> Theme:
    label = _clean_label(label, "theme")
    with Changeset(programme, "create theme", f"Created the theme ‘{label}’", user) as cs:
        cs.watch_after(Theme, Q(programme=programme))
        position = programme.themes.count()
        theme = Theme.objects.create(
            programme=programme, label=label, origin=Origin.HUMAN, position=position
        )
    return theme


def edit_theme(
    theme: Theme,
    user: Any = None,
    *,
    label: str | None = None,
    description: str | None = None,
    meaning: str | None = None,
    chosen_quotes: list[str] | None = None,
) -> WorkspaceAction | None:
    """Rename a theme or change its description, "what this means" or chosen quotes. Finalising a
    theme like this accepts its codes, so re-running the analysis keeps them."""
    old = theme.label
    new = _clean_label(label, "theme") if label is not None else old
    summary = f"Renamed the theme ‘{old}’ to ‘{new}’" if new != old else f"Edited the theme ‘{new}’"
    with Changeset(theme.programme, "edit theme", summary, user) as cs:
        codes = list(codes_in_theme(theme))
        cs.watch(Theme, Q(pk=theme.pk))
        cs.watch(Code, Q(pk__in=[c.pk for c in codes]))
        theme.label = new
        if description is not None:
            theme.description = description.strip()
        if meaning is not None:
            theme.meaning = meaning.strip()
        if chosen_quotes is not None:
            theme.chosen_quotes = chosen_quotes
        theme.origin = Origin.HUMAN
        theme.save()
        for code in codes:
            if not code.is_human:
                code.status = Code.Status.ACCEPTED
                code.save()
    return cs.action


def merge_themes(source: Theme, target: Theme, user: Any = None) -> WorkspaceAction | None:
    """Move the codes of ``source`` under ``target`` and delete ``source``."""
    if source.pk == target.pk or source.programme_id != target.programme_id:
        raise ValidationError("Choose another theme of the same programme to merge into.")
    summary = f"Merged the theme ‘{source.label}’ into ‘{target.label}’"
    with Changeset(source.programme, "merge themes", summary, user) as cs:
        home = list(source.codes.all())
        shared = list(source.shared_codes.all())
        cs.watch(Theme, Q(pk__in=[source.pk, target.pk]))
        cs.watch(Code, Q(pk__in=[c.pk for c in home + shared]))
        for code in home:
            code.theme = target
            code.also_in.remove(target)
            _human(code)
            code.save()
        for code in shared:
            if code.theme_id != target.pk:
                code.also_in.add(target)
        target.origin = Origin.HUMAN
        target.save()
        source.delete()
    return cs.action


def delete_theme(theme: Theme, user: Any = None) -> WorkspaceAction | None:
    """Delete a theme; its codes stay, without a theme."""
    summary = f"Deleted the theme ‘{theme.label}’ (its codes are kept, without a theme)"
    with Changeset(theme.programme, "delete theme", summary, user) as cs:
        cs.watch(Theme, Q(pk=theme.pk))
        cs.watch(Code, Q(theme_id=theme.pk) | Q(also_in__id=theme.pk))
        theme.delete()
    return cs.action


def codes_in_theme(theme: Theme) -> Any:
    """The codes under ``theme``: those whose home it is and those that also sit under it."""
    return Code.objects.filter(Q(theme=theme) | Q(also_in=theme)).distinct()


# --- codes ------------------------------------------------------------------------------------


def create_code(
    programme: Programme, label: str, user: Any = None, *, theme: Theme | None = None
) -> Code:
    label = _clean_label(label, "code")
    with Changeset(programme, "create code", f"Created the code ‘{label}’", user) as cs:
        cs.watch_after(Code, Q(programme=programme))
        code = Code.objects.create(
            programme=programme,
            label=label,
            theme=theme,
            origin=Origin.HUMAN,
            status=Code.Status.ACCEPTED,
            position=programme.codes.count(),
        )
    return code


def edit_code(
    code: Code, user: Any = None, *, label: str | None = None, description: str | None = None
) -> WorkspaceAction | None:
    old = code.label
    new = _clean_label(label, "code") if label is not None else old
    summary = f"Renamed the code ‘{old}’ to ‘{new}’" if new != old else f"Edited the code ‘{new}’"
    with Changeset(code.programme, "edit code", summary, user) as cs:
        cs.watch(Code, Q(pk=code.pk))
        code.label = new
        if description is not None:
            code.description = description.strip()
        _human(code)
        code.save()
    return cs.action


def accept_code(code: Code, user: Any = None) -> WorkspaceAction | None:
    with Changeset(code.programme, "accept code", f"Accepted the code ‘{code.label}’", user) as cs:
        cs.watch(Code, Q(pk=code.pk))
        code.status = Code.Status.ACCEPTED
        code.save()
    return cs.action


def delete_code(code: Code, user: Any = None) -> WorkspaceAction | None:
    """Delete a code and its codings (the submissions stay, with their other codes)."""
    summary = f"Deleted the code ‘{code.label}’ ({code.size:,} codings removed)"
    with Changeset(code.programme, "delete code", summary, user) as cs:
        _watch_codes(cs, [code])
        code.delete()
        update_code_sizes(code.programme)
    return cs.action


def merge_codes(source: Code, target: Code, user: Any = None) -> WorkspaceAction | None:
    """Move every submission of ``source`` to ``target`` and delete ``source``."""
    if source.pk == target.pk or source.programme_id != target.programme_id:
        raise ValidationError("Choose another code of the same programme to merge into.")
    summary = f"Merged the code ‘{source.label}’ into ‘{target.label}’"
    with Changeset(source.programme, "merge codes", summary, user) as cs:
        _watch_codes(cs, [source, target])
        already = set(target.assignments.values_list("submission_id", flat=True))
        moved = source.assignments.exclude(submission_id__in=already).update(code=target)
        _human(target)
        target.quotes = list(dict.fromkeys((target.quotes or []) + (source.quotes or [])))[:12]
        target.keywords = list(dict.fromkeys((target.keywords or []) + (source.keywords or [])))[
            :12
        ]
        target.save()
        for theme in source.also_in.all():
            if theme.pk != target.theme_id:
                target.also_in.add(theme)
        record(
            "merge",
            target,
            before={"merged_code": source.pk, "label": source.label},
            after={"into": target.pk, "label": target.label, "submissions_moved": moved},
            note=f"Merged ‘{source.label}’ into this code ({moved:,} submissions moved)",
        )
        DistinctChange.objects.filter(code=source).update(code=target)
        source.delete()
        update_code_sizes(target.programme)
    return cs.action


def move_code(
    code: Code, theme: Theme | None, user: Any = None, *, keep_in_old: bool = False
) -> WorkspaceAction | None:
    """Put ``code`` under ``theme``; with ``keep_in_old`` it stays under its old theme too (a
    code may sit under several themes)."""
    old = code.theme
    if theme is not None and theme.programme_id != code.programme_id:
        raise ValidationError("Choose a theme of the same programme.")
    if theme is None:
        summary = f"Took the code ‘{code.label}’ out of ‘{old.label if old else 'no theme'}’"
    elif keep_in_old and old is not None:
        summary = f"Put the code ‘{code.label}’ under ‘{theme.label}’ as well as ‘{old.label}’"
    else:
        summary = f"Moved the code ‘{code.label}’ to the theme ‘{theme.label}’"
    with Changeset(code.programme, "move code", summary, user) as cs:
        cs.watch(Code, Q(pk=code.pk))
        if keep_in_old and old is not None and theme is not None:
            if theme.pk != old.pk:
                code.also_in.add(theme)
        else:
            code.theme = theme
            if theme is not None:
                code.also_in.remove(theme)
        _human(code)
        code.save()
    return cs.action


def remove_from_theme(code: Code, theme: Theme, user: Any = None) -> WorkspaceAction | None:
    """Take ``code`` out of one of the themes it sits under (its home theme or another)."""
    summary = f"Took the code ‘{code.label}’ out of the theme ‘{theme.label}’"
    with Changeset(code.programme, "move code", summary, user) as cs:
        cs.watch(Code, Q(pk=code.pk))
        if code.theme_id == theme.pk:
            others = list(code.also_in.all())
            code.theme = others[0] if others else None
            if others:
                code.also_in.remove(others[0])
        else:
            code.also_in.remove(theme)
        _human(code)
        code.save()
    return cs.action


def split_code(
    code: Code, submission_ids: Iterable[int], label: str, user: Any = None
) -> tuple[Code, WorkspaceAction | None]:
    """Move the picked submissions of ``code`` to a new code called ``label`` (same theme)."""
    label = _clean_label(label, "new code")
    picked = list(
        code.assignments.filter(submission_id__in=list(submission_ids)).values_list("pk", flat=True)
    )
    if not picked:
        raise ValidationError("Pick at least one submission of this code to move to the new code.")
    summary = f"Split {len(picked):,} submissions from ‘{code.label}’ into a new code ‘{label}’"
    with Changeset(code.programme, "split code", summary, user) as cs:
        _watch_codes(cs, [code])
        cs.watch_after(Code, Q(programme=code.programme))
        new = Code.objects.create(
            programme=code.programme,
            theme=code.theme,
            label=label,
            origin=Origin.HUMAN,
            status=Code.Status.ACCEPTED,
            position=code.position,
        )
        new.also_in.set(code.also_in.all())
        CodeAssignment.objects.filter(pk__in=picked).update(code=new)
        _human(code)
        code.save()
        update_code_sizes(code.programme)
    return new, cs.action


def recluster_code(
    code: Code, n_parts: int = 2, user: Any = None, *, random_state: int = 0
) -> tuple[list[Code], WorkspaceAction | None]:
    """Split ``code`` by clustering its submissions again (k-means on the analysis's embeddings,
    k = ``n_parts``); the largest part keeps the code, the others become new codes labelled by
    their distinctive words (class-based TF-IDF against the other parts)."""
    from sklearn.cluster import KMeans

    from changebank.analysis.keywords import ClassTfidf, label_from_keywords

    rows = list(code.assignments.order_by("submission_id").values_list("pk", "submission__text"))
    if n_parts < 2:
        raise ValidationError("Split into at least 2 parts.")
    if len(rows) < 2 * n_parts:
        raise ValidationError(
            f"‘{code.label}’ has {len(rows)} submissions: too few to split into {n_parts} parts."
        )
    texts = [t for _, t in rows]
    run = latest_run(code.programme)
    embedder = _embedder((run.settings if run else {}).get("embedder", EMBEDDER))
    X = np.asarray(embedder.transform(texts), dtype=np.float32)
    parts = KMeans(n_clusters=n_parts, n_init=10, random_state=random_state).fit_predict(X)
    order = np.argsort(-np.bincount(parts, minlength=n_parts), kind="stable")
    rank = np.empty(n_parts, dtype=int)
    rank[order] = np.arange(n_parts)
    parts = rank[parts]  # part 0 is the largest
    tfidf = ClassTfidf(min_df=1).fit(texts)
    keywords = tfidf.keywords(tfidf.class_counts(parts, n_parts), n=8)
    summary = f"Split the code ‘{code.label}’ into {n_parts} by clustering its submissions again"
    made = []
    with Changeset(code.programme, "split code", summary, user) as cs:
        _watch_codes(cs, [code])
        cs.watch_after(Code, Q(programme=code.programme))
        for p in range(1, n_parts):
            new = Code.objects.create(
                programme=code.programme,
                theme=code.theme,
                label=label_from_keywords(keywords[p])[:200],
                keywords=keywords[p],
                quotes=[texts[i] for i in np.flatnonzero(parts == p)[:3]],
                origin=Origin.HUMAN,
                status=Code.Status.ACCEPTED,
                position=code.position,
            )
            new.also_in.set(code.also_in.all())
            CodeAssignment.objects.filter(
                pk__in=[rows[i][0] for i in np.flatnonzero(parts == p)]
            ).update(code=new)
            made.append(new)
        code.keywords = keywords[0]
        _human(code)
        code.save()
        update_code_sizes(code.programme)
    return [code, *made], cs.action


# --- coding -----------------------------------------------------------------------------------


def set_codes(
    submission: Submission,
    code_ids: Iterable[int],
    user: Any = None,
    *,
    summary: str | None = None,
    decision: bool = True,
) -> WorkspaceAction | None:
    """Code ``submission`` with exactly ``code_ids``, as an analyst's decision: codes it had and
    keeps become human decisions (with their spans), the others are removed, new ones added.

    With ``decision`` (the default) the AI's suggestions just before and the analyst's codes are
    kept as a :class:`CodingDecision`, for the agreement panel and retraining.
    """
    programme = submission.programme
    wanted = set(
        Code.objects.filter(programme=programme, pk__in=[int(c) for c in code_ids]).values_list(
            "pk", flat=True
        )
    )
    current = {a.code_id: a for a in submission.code_assignments.all()}
    ai_codes = sorted(c for c, a in current.items() if a.origin == Origin.AI)
    summary = summary or f"Coded submission {submission.reference or submission.pk}"
    with Changeset(programme, "code", summary, user) as cs:
        cs.watch(CodeAssignment, Q(submission=submission))
        cs.watch(CodeSpan, Q(assignment__submission=submission))
        cs.watch_after(CodingDecision, Q(submission=submission))
        now = timezone.now()
        decided_by = user if getattr(user, "pk", None) else None
        CodeAssignment.objects.filter(submission=submission).exclude(code__in=wanted).delete()
        for code_id in wanted:
            a = current.get(code_id)
            if a is None:
                CodeAssignment.objects.create(
                    submission=submission,
                    code_id=code_id,
                    origin=Origin.HUMAN,
                    primary=False,
                    decided_by=decided_by,
                )
            elif a.origin != Origin.HUMAN or a.needs_review:
                a.origin = Origin.HUMAN
                a.needs_review = False
                a.decided_by = decided_by
                a.decided_at = now
                a.save()
        if wanted and not CodeAssignment.objects.filter(submission=submission, primary=True):
            first = CodeAssignment.objects.filter(submission=submission).order_by("id").first()
            first.primary = True
            first.save(update_fields=["primary"])
        record(
            "code",
            submission,
            before={"codes": sorted(current)},
            after={"codes": sorted(wanted)},
            note=summary,
        )
        if decision:
            from .models import TrainingRound

            CodingDecision.objects.create(
                programme=programme,
                submission=submission,
                decided_by=decided_by,
                ai_codes=ai_codes,
                human_codes=sorted(wanted),
                training_round=TrainingRound.objects.filter(programme=programme).first(),
            )
        update_code_sizes(programme)
    if decision:
        _after_decision(programme)
    return cs.action


def _after_decision(programme: Programme) -> None:
    """Let the active-learning loop retrain when enough new decisions have been made."""
    from .learning import note_decision  # here: learning imports this module's neighbours

    note_decision(programme)


def add_span(
    submission: Submission, code: Code, start: int, end: int, user: Any = None
) -> WorkspaceAction | None:
    """Code the words ``submission.text[start:end]`` with ``code`` (offsets are stored)."""
    text = submission.text or ""
    if code.programme_id != submission.programme_id:
        raise ValidationError("Choose a code of this programme.")
    if not (0 <= start < end <= len(text)):
        raise ValidationError(
            f"The highlighted words must lie inside the text (0 to {len(text)}); got {start} to {end}."
        )
    # trim spaces at the ends, as a reader would
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    if start == end:
        raise ValidationError("Highlight some words, not only spaces.")
    words = text[start:end]
    summary = f"Coded “{words[:60]}” in {submission.reference or submission.pk} as ‘{code.label}’"
    with Changeset(submission.programme, "code span", summary, user) as cs:
        cs.watch(CodeAssignment, Q(submission=submission))
        cs.watch(CodeSpan, Q(assignment__submission=submission))
        assignment, created = CodeAssignment.objects.get_or_create(
            submission=submission,
            code=code,
            defaults={
                "origin": Origin.HUMAN,
                "primary": not submission.code_assignments.exists(),
                "decided_by": user if getattr(user, "pk", None) else None,
            },
        )
        if not created and assignment.origin != Origin.HUMAN:
            assignment.origin = Origin.HUMAN
            assignment.needs_review = False
            assignment.save()
        CodeSpan.objects.get_or_create(assignment=assignment, start=start, end=end)
        record(
            "code span",
            submission,
            after={"code": code.pk, "start": start, "end": end, "words": words[:200]},
            note=summary,
        )
        update_code_sizes(submission.programme)
    return cs.action


def remove_span(span: CodeSpan, user: Any = None) -> WorkspaceAction | None:
    submission = span.assignment.submission
    summary = f"Removed the highlight “{submission.text[span.start : span.end][:60]}”"
    with Changeset(submission.programme, "code span", summary, user) as cs:
        cs.watch(CodeSpan, Q(pk=span.pk))
        span.delete()
    return cs.action


def find_span(text: str, words: str, occurrence: int = 1) -> tuple[int, int]:
    """The offsets of the ``occurrence``-th appearance of ``words`` in ``text`` (for coding a span
    without a mouse or JavaScript: the analyst types or pastes the words)."""
    words = words.strip()
    if not words:
        raise ValidationError("Enter the words to code, exactly as they appear in the text.")
    start = -1
    for _ in range(max(1, occurrence)):
        start = text.find(words, start + 1)
        if start < 0:
            break
    if start < 0:
        lower = text.lower().find(words.lower())
        if lower < 0 or occurrence > 1:
            raise ValidationError(f"“{words[:60]}” is not in the text: copy the words exactly.")
        start = lower
    return start, start + len(words)


def accept_suggestions(
    programme: Programme, assignments: Iterable[CodeAssignment], user: Any = None, *, summary: str
) -> WorkspaceAction | None:
    """Accept AI suggestions as they are (in bulk): they become analysts' decisions."""
    pks = [a.pk for a in assignments]
    if not pks:
        raise ValidationError("There are no suggestions to accept.")
    with Changeset(programme, "accept suggestions", summary, user) as cs:
        cs.watch(CodeAssignment, Q(pk__in=pks))
        n = CodeAssignment.objects.filter(pk__in=pks, origin=Origin.AI).update(
            origin=Origin.HUMAN,
            needs_review=False,
            decided_by=user if getattr(user, "pk", None) else None,
            decided_at=timezone.now(),
        )
        record("accept", None, object_type="understand.codeassignment", note=f"{summary} ({n:,})")
    return cs.action


def reject_suggestion(assignment: CodeAssignment, user: Any = None) -> WorkspaceAction | None:
    submission = assignment.submission
    summary = (
        f"Rejected ‘{assignment.code.label}’ for submission {submission.reference or submission.pk}"
    )
    keep = [a.code_id for a in submission.code_assignments.all() if a.pk != assignment.pk]
    return set_codes(submission, keep, user, summary=summary)
