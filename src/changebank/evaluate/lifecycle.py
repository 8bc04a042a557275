"""The lifecycle of a tracked change: taking a distinct change into it, and moving it from stage to
stage as :data:`~changebank.evaluate.models.TRANSITIONS` allows, each move recorded."""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q, QuerySet

from changebank.core.roles import ADMIN, ANALYST, EVALUATION_LEAD
from changebank.decide.models import RSA, DelphiAnswer, DelphiRound, Status
from changebank.listen.models import Programme
from changebank.understand.models import DistinctChange

from .models import TRANSITIONS, Stage, StageMove, TrackedChange


class MoveRefused(ValueError):
    """A move that the lifecycle does not allow."""


def stage_label(stage: str) -> str:
    try:
        return Stage(stage).label
    except ValueError:
        return stage or "–"


def check_move(tracked: TrackedChange, to_stage: str) -> None:
    """Raise :class:`MoveRefused` with a message for people unless ``to_stage`` is allowed now."""
    if to_stage not in Stage.values:
        raise MoveRefused("Choose the stage to move the change to.")
    if to_stage == tracked.stage:
        raise MoveRefused(f"The change is already {stage_label(to_stage).lower()}.")
    allowed = TRANSITIONS[tracked.stage]
    if to_stage not in allowed:
        names = ", ".join(stage_label(s).lower() for s in allowed)
        raise MoveRefused(
            f"A change that is {stage_label(tracked.stage).lower()} cannot move to "
            f"{stage_label(to_stage).lower()}: it can move to {names}."
        )


def move(tracked: TrackedChange, to_stage: str, *, user: Any = None, note: str = "") -> StageMove:
    """Move the change to ``to_stage`` and record the move (who, when, from where, why)."""
    with transaction.atomic():
        tracked = TrackedChange.objects.select_for_update().get(pk=tracked.pk)
        check_move(tracked, to_stage)
        record = StageMove.objects.create(
            tracked=tracked,
            from_stage=tracked.stage,
            to_stage=to_stage,
            note=note,
            moved_by=user if getattr(user, "pk", None) else None,
        )
        tracked.stage = to_stage
        if to_stage not in (Stage.ADOPTING, Stage.EVALUATING, Stage.SPREADING):
            tracked.pulse_open = False  # pulse feedback is for changes being adopted
        tracked.save()
    return record


def untracked_changes(programme: Programme) -> QuerySet[DistinctChange]:
    """The programme's long list less the changes already in the lifecycle (and the group of empty
    answers such as "nothing" or "n/a"), most often raised first."""
    return (
        programme.distinct_changes.filter(tracked__isnull=True)
        .exclude(code__is_empty_answer=True)
        .select_related("code__theme")
        .order_by("-count", "id")
    )


def rsa_from_delphi(change: DistinctChange) -> str:
    """The RSA category most chosen for the change in the latest closed Delphi round that rated
    it, or "" when there is none or it is a tie."""
    delphi = (
        DelphiRound.objects.filter(changes=change, status=Status.CLOSED)
        .order_by("-closes_at", "-id")
        .first()
    )
    if delphi is None:
        return ""
    counts = Counter(
        DelphiAnswer.objects.filter(round=delphi, change=change)
        .exclude(rsa="")
        .values_list("rsa", flat=True)
    )
    counts = Counter({k: n for k, n in counts.items() if k in RSA.values})
    top = counts.most_common(2)
    if not top or (len(top) == 2 and top[0][1] == top[1][1]):
        return ""
    return top[0][0]


def track(
    programme: Programme,
    *,
    change: DistinctChange | None = None,
    title: str = "",
    summary: str = "",
    user: Any = None,
) -> TrackedChange:
    """Take a change into the lifecycle as proposed: from the long list (title, themes and the RSA
    category come from it) or by hand (``change`` None). The first move ("" → proposed) is
    recorded."""
    with transaction.atomic():
        if change is not None:
            title = title or change.name or change.text
            tracked = TrackedChange.objects.create(
                programme=programme,
                change=change,
                title=title[:200],
                summary=summary or (change.text if change.name else ""),
                rsa=rsa_from_delphi(change),
            )
            theme = change.code.theme if change.code_id and change.code.theme_id else None
            if theme is not None:
                tracked.themes.add(theme)
        else:
            tracked = TrackedChange.objects.create(
                programme=programme, title=title[:200], summary=summary
            )
        StageMove.objects.create(
            tracked=tracked,
            from_stage="",
            to_stage=Stage.PROPOSED,
            note="Taken into the lifecycle.",
            moved_by=user if getattr(user, "pk", None) else None,
        )
    return tracked


def possible_owners(current: Any = None) -> QuerySet:
    """People who can own a change: evaluation leads, analysts and administrators (and whoever
    owns it now)."""
    users = get_user_model().objects.filter(is_active=True)
    condition = Q(groups__name__in=[EVALUATION_LEAD, ANALYST, ADMIN]) | Q(is_superuser=True)
    if current is not None:
        condition |= Q(pk=current)
    return users.filter(condition).distinct().order_by("first_name", "last_name", "username")
