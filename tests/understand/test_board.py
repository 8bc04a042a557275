"""Analysts' actions on themes, codes and codings, each undone exactly."""

from __future__ import annotations

import json

import pytest
from django.core import serializers
from django.core.exceptions import ValidationError

from changebank.core.models import AuditEvent
from changebank.understand import board
from changebank.understand.models import (
    Code,
    CodeAssignment,
    CodeSpan,
    CodingDecision,
    DistinctChange,
    Origin,
    Theme,
    WorkspaceAction,
)
from changebank.understand.undo import undo, undoable


def state(programme) -> dict:
    """Everything an action may change, in comparable form (without timestamps)."""

    def dump(qs):
        rows = json.loads(serializers.serialize("json", qs.order_by("pk")))
        for row in rows:
            row["fields"].pop("updated_at", None)
            row["fields"].pop("decided_at", None)
        return rows

    return {
        "themes": dump(Theme.objects.filter(programme=programme)),
        "codes": dump(Code.objects.filter(programme=programme)),
        "assignments": dump(CodeAssignment.objects.filter(code__programme=programme)),
        "spans": dump(CodeSpan.objects.filter(assignment__code__programme=programme)),
        "changes": dump(DistinctChange.objects.filter(programme=programme)),
        "decisions": dump(CodingDecision.objects.filter(programme=programme)),
    }


def biggest(programme, n: int = 2) -> list[Code]:
    return list(programme.codes.order_by("-size", "pk")[:n])


def undo_latest(programme, analyst) -> None:
    action = undoable(programme)
    assert action is not None
    undo(action, analyst)


def test_rename_merge_and_delete_are_undone_exactly(analysed, analyst):
    programme, _, _ = analysed
    original = state(programme)
    a, b = biggest(programme)

    board.edit_code(a, analyst, label="Kind staff", description="Staff were kind")
    a.refresh_from_db()
    assert (a.label, a.origin, a.status) == ("Kind staff", Origin.HUMAN, Code.Status.ACCEPTED)
    undo_latest(programme, analyst)
    assert state(programme) == original

    n_a, n_b = a.size, b.size
    board.merge_codes(a, b, analyst)
    assert not Code.objects.filter(pk=a.pk).exists()
    b.refresh_from_db()
    assert n_b < b.size <= n_a + n_b
    undo_latest(programme, analyst)
    assert state(programme) == original

    board.delete_code(b, analyst)
    assert not CodeAssignment.objects.filter(code=b.pk).exists()
    undo_latest(programme, analyst)
    assert state(programme) == original


def test_undo_goes_newest_first_and_once(analysed, analyst):
    programme, _, _ = analysed
    original = state(programme)
    a, b = biggest(programme)
    first = board.edit_code(a, analyst, label="First name")
    board.edit_code(b, analyst, label="Second name")
    with pytest.raises(ValidationError):
        undo(first, analyst)  # not the most recent
    undo_latest(programme, analyst)
    undo_latest(programme, analyst)
    assert state(programme) == original
    with pytest.raises(ValidationError):
        undo(first, analyst)  # already undone
    assert undoable(programme) is None
    undos = AuditEvent.objects.filter(action="undo")
    assert undos.filter(object_type="understand.workspaceaction").count() == 2
    # each code's own history says it was put back
    assert set(undos.filter(object_type="understand.code").values_list("object_id", flat=True)) == {
        str(a.pk),
        str(b.pk),
    }
    assert WorkspaceAction.objects.filter(programme=programme, undone_at__isnull=False).count() == 2


def test_themes_create_merge_delete_and_a_code_under_two_themes(analysed, analyst):
    programme, _, _ = analysed
    original = state(programme)
    code = biggest(programme, 1)[0]
    home = code.theme
    other = board.create_theme(programme, "  Waiting   times ", analyst)
    assert other.label == "Waiting times"

    board.move_code(code, other, analyst, keep_in_old=True)
    code.refresh_from_db()
    assert code.theme == home and list(code.also_in.all()) == [other]
    assert set(board.codes_in_theme(other)) == {code}
    assert code in set(board.codes_in_theme(home))

    board.remove_from_theme(code, home, analyst)
    code.refresh_from_db()
    assert code.theme == other and not code.also_in.exists()

    board.merge_themes(other, home, analyst)
    code.refresh_from_db()
    assert code.theme == home and not Theme.objects.filter(pk=other.pk).exists()

    board.delete_theme(home, analyst)
    code.refresh_from_db()
    assert code.theme is None
    for _ in range(5):
        undo_latest(programme, analyst)
    assert state(programme) == original


def test_split_by_picking_and_by_reclustering(analysed, analyst):
    programme, _, _ = analysed
    original = state(programme)
    code = biggest(programme, 1)[0]
    picked = list(code.assignments.values_list("submission_id", flat=True)[:3])
    new, _ = board.split_code(code, picked, "Picked out", analyst)
    assert set(new.assignments.values_list("submission_id", flat=True)) == set(picked)
    assert new.theme_id == code.theme_id
    with pytest.raises(ValidationError):
        board.split_code(code, [], "Nothing", analyst)
    undo_latest(programme, analyst)
    assert state(programme) == original

    size = code.size
    parts, _ = board.recluster_code(code, 3, analyst)
    sizes = [p.assignments.count() for p in parts]
    assert len(parts) == 3 and sum(sizes) == size and min(sizes) > 0
    assert sizes[0] == max(sizes)  # the code keeps the largest part
    assert all(p.label and p.keywords for p in parts)
    undo_latest(programme, analyst)
    assert state(programme) == original


def test_coding_a_submission_and_a_span(analysed, analyst):
    programme, subs, _ = analysed
    original = state(programme)
    sub = next(s for s in subs if len(s.text) > 40)
    sub.refresh_from_db()
    ai = set(sub.code_assignments.values_list("code_id", flat=True))
    other = programme.codes.exclude(pk__in=ai).first()

    board.set_codes(sub, [other.pk], analyst)
    assert set(sub.code_assignments.values_list("code_id", "origin")) == {(other.pk, "human")}
    decision = CodingDecision.objects.get(submission=sub)
    assert set(decision.ai_codes) == ai and decision.human_codes == [other.pk]
    assert sub.code_assignments.get().primary

    words = sub.text.split()[1]
    start, end = board.find_span(sub.text, words)
    assert sub.text[start:end] == words
    code = programme.codes.exclude(pk=other.pk).first()
    board.add_span(sub, code, start, end + 1, analyst)  # a trailing space is trimmed
    span = CodeSpan.objects.get(assignment__submission=sub, assignment__code=code)
    assert (span.start, span.end) == (start, end)
    with pytest.raises(ValidationError):
        board.add_span(sub, code, 5, len(sub.text) + 1, analyst)
    with pytest.raises(ValidationError):
        board.find_span(sub.text, "words that are not there at all")

    undo_latest(programme, analyst)
    undo_latest(programme, analyst)
    assert state(programme) == original


def test_bulk_accept_of_confident_suggestions(analysed, analyst):
    programme, _, _ = analysed
    original = state(programme)
    confident = CodeAssignment.objects.filter(
        code__programme=programme, origin=Origin.AI, confidence__gte=0.5
    )
    n = confident.count()
    assert n > 0
    board.accept_suggestions(programme, list(confident), analyst, summary="Accepted ≥ 0.5")
    assert (
        CodeAssignment.objects.filter(code__programme=programme, origin=Origin.HUMAN).count() == n
    )
    undo_latest(programme, analyst)
    assert state(programme) == original


def test_a_new_analysis_closes_undo(analysed, analyst):
    from changebank.understand.analyse import analyse_now

    programme, _, _ = analysed
    board.edit_code(biggest(programme, 1)[0], analyst, label="Kept by the analyst")
    assert undoable(programme) is not None
    analyse_now(programme, embedder="wordllama")
    assert undoable(programme) is None


def test_an_analysts_coding_with_a_suggested_code_survives_a_new_analysis(analysed, analyst):
    from changebank.understand.analyse import analyse_now

    programme, subs, _ = analysed
    code = programme.codes.filter(status=Code.Status.SUGGESTED).order_by("-size")[0]
    sub = next(s for s in subs if not s.code_assignments.filter(code=code).exists())
    board.set_codes(sub, [code.pk], analyst)
    start, end = board.find_span(sub.text, sub.text.split()[0])
    board.add_span(sub, code, start, end, analyst)
    analyse_now(programme, embedder="wordllama")
    kept = CodeAssignment.objects.get(submission=sub)
    assert (kept.code_id, kept.origin) == (code.pk, Origin.HUMAN)
    assert CodeSpan.objects.filter(assignment=kept).count() == 1
