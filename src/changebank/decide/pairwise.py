"""Pairwise voting (a wiki survey), the Django side: making a survey from the long list, choosing
the next pair for a participant, recording a vote exactly once, participants' ideas and their
moderation, and the results.

A participant has no account: they are known by a random participant key kept in their session
(stored in the ``session_key`` fields; never the session key itself, which is a credential). Every
pair shown is a :class:`~changebank.decide.models.PairPrompt` with a random token; answering it is
one conditional ``UPDATE`` (``answered_at IS NULL``, the same participant, fewer answers than the
survey's limit per participant), so a replayed or repeated request changes nothing and two
requests racing for the same prompt count once. The statement is the whole write transaction of a vote, which keeps SQLite's write lock as
short as it can be.

The maths (the adaptive choice of a pair, Bradley–Terry scores with their uncertainty) is in
:mod:`changebank.analysis.pairwise`.
"""

from __future__ import annotations

import csv
import enum
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TextIO

import numpy as np
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, IntegerField, Q, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.text import slugify

from changebank.core.audit import record
from changebank.listen.models import Programme
from changebank.share.exporters.csv import neutralise
from changebank.understand.models import DistinctChange

from .models import Idea, Moderation, PairPrompt, PairwiseSurvey, Status

#: How long the per-idea exposure counts used to choose pairs may be reused (seconds). The counts
#: only steer which ideas are shown more; a second's staleness does not matter, and it saves an
#: aggregate over every prompt on each page load under load.
COUNTS_TTL = 5.0
#: How long the scores used to choose informative pairs may be reused (seconds).
SCORES_TTL = 60.0
#: A session with this many unanswered prompts is shown its newest one again instead of a new
#: one, so reloading the page cannot fill the database.
MAX_UNANSWERED = 50
IDEA_MAX_LENGTH = 500
#: Where a browser's participant key lives in its session.
PARTICIPANT_SESSION_KEY = "pairwise-participant"
#: Slugs a survey may not take: they are addresses of the pages beside the surveys.
RESERVED_SLUGS = {"new"}


class VoteResult(enum.Enum):
    """What became of a posted answer."""

    COUNTED = "counted"  #: the answer was recorded now
    DUPLICATE = "duplicate"  #: this session had already answered this prompt: nothing changed
    NOT_YOURS = "not_yours"  #: no such prompt in this survey for this session
    LIMIT = "limit"  #: the session has cast as many votes as the survey allows
    INVALID = "invalid"  #: not a choice


class IdeaRefused(ValueError):
    """A participant's idea that cannot be added; the message says why, in plain words."""


# --- making a survey --------------------------------------------------------------------------


def unique_slug(programme: Programme, text: str, *, exclude: int | None = None) -> str:
    """A slug for a survey of ``programme`` made from ``text``, unique within the programme."""
    base = (slugify(text)[:70].strip("-")) or "survey"
    taken = set(
        PairwiseSurvey.objects.filter(programme=programme, slug__startswith=base)
        .exclude(pk=exclude)
        .values_list("slug", flat=True)
    )
    taken |= RESERVED_SLUGS
    slug, n = base, 2
    while slug in taken:
        slug = f"{base}-{n}"
        n += 1
    return slug


def idea_text(change: DistinctChange) -> str:
    """What voters read for a change of the long list: its name if an analyst gave one, else
    its representative wording."""
    return (change.name.strip() or " ".join(change.text.split()))[:IDEA_MAX_LENGTH]


def seed_changes(
    programme: Programme, top: int = 0, picked: Iterable[int] = ()
) -> list[DistinctChange]:
    """The ``top`` most often raised distinct changes of ``programme`` and the ``picked`` ones
    (by primary key), in long-list order, each once."""
    picked = set(picked)
    qs = programme.distinct_changes.order_by("-count", "id")
    chosen = list(qs[:top]) if top else []
    have = {c.pk for c in chosen}
    extra = [pk for pk in picked if pk not in have]
    if extra:
        chosen += list(qs.filter(pk__in=extra))
    return chosen


def create_survey(
    programme: Programme,
    *,
    question: str,
    slug: str = "",
    description: str = "",
    changes: Sequence[DistinctChange] = (),
    typed: Sequence[str] = (),
    allow_ideas: bool = True,
    votes_per_session: int = 300,
    ideas_per_session: int = 5,
) -> PairwiseSurvey:
    """A draft survey with one approved idea per change and per typed line (duplicates by
    wording left out). The survey's creation is audited as usual; the seed ideas, written in
    bulk, are recorded as one audit event."""
    with transaction.atomic():
        survey = PairwiseSurvey.objects.create(
            programme=programme,
            slug=slug or unique_slug(programme, question),
            question=question,
            description=description,
            allow_ideas=allow_ideas,
            votes_per_session=votes_per_session,
            ideas_per_session=ideas_per_session,
        )
        seen: set[str] = set()
        ideas = []
        for change in changes:
            text = idea_text(change)
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                ideas.append(Idea(survey=survey, text=text, change=change))
        for line in typed:
            text = " ".join(line.split())[:IDEA_MAX_LENGTH]
            if text and text.casefold() not in seen:
                seen.add(text.casefold())
                ideas.append(Idea(survey=survey, text=text))
        Idea.objects.bulk_create(ideas)
        record(
            "create",
            survey,
            object_type="decide.idea",
            object_id=f"survey:{survey.pk}",
            after={
                "ideas": len(ideas),
                "from_long_list": sum(1 for i in ideas if i.change_id),
                "typed": sum(1 for i in ideas if not i.change_id),
            },
            note=f"Seed ideas of the wiki survey {survey.slug!r}",
        )
    return survey


def set_status(survey: PairwiseSurvey, status: str) -> None:
    """Open, close or reopen a survey (audited)."""
    if status not in Status.values:
        raise ValueError(f"unknown status {status!r}")
    survey.status = status
    survey.save(update_fields=["status"])


# --- ideas ------------------------------------------------------------------------------------


def ideas_added(survey: PairwiseSurvey, session_key: str) -> int:
    return Idea.objects.filter(
        survey=survey, session_key=session_key, added_by_participant=True
    ).count()


def add_participant_idea(survey: PairwiseSurvey, session_key: str, text: str) -> Idea:
    """A participant's idea, waiting for moderation. Raises :class:`IdeaRefused` when ideas are
    not allowed, the session has added as many as allowed, or the idea is empty, too long or
    already in the survey."""
    if not survey.allow_ideas or survey.status != Status.OPEN:
        raise IdeaRefused("This survey is not taking new ideas.")
    text = " ".join((text or "").split())
    if not text:
        raise IdeaRefused("Enter your idea")
    if len(text) > IDEA_MAX_LENGTH:
        raise IdeaRefused(f"Your idea must be {IDEA_MAX_LENGTH} characters or fewer")
    if not session_key or ideas_added(survey, session_key) >= survey.ideas_per_session:
        raise IdeaRefused(
            f"You have added {survey.ideas_per_session} ideas, the most one person can add "
            "to this survey."
        )
    if (
        Idea.objects.filter(survey=survey, text__iexact=text)
        .exclude(status=Moderation.REJECTED)
        .exists()
    ):
        raise IdeaRefused("That idea is already in the survey")
    return Idea.objects.create(
        survey=survey,
        text=text,
        added_by_participant=True,
        status=Moderation.PENDING,
        session_key=session_key,
    )


def add_analyst_idea(survey: PairwiseSurvey, text: str) -> Idea:
    """An idea an analyst adds to a survey: approved at once."""
    text = " ".join((text or "").split())
    if not text:
        raise IdeaRefused("Enter the idea")
    if len(text) > IDEA_MAX_LENGTH:
        raise IdeaRefused(f"The idea must be {IDEA_MAX_LENGTH} characters or fewer")
    if Idea.objects.filter(survey=survey, text__iexact=text).exists():
        raise IdeaRefused("That idea is already in the survey")
    return Idea.objects.create(survey=survey, text=text)


def moderate(idea: Idea, status: str) -> None:
    """Approve or reject an idea (audited). A rejected idea leaves the pairs and the results;
    the votes on it are kept and count again if it is approved later."""
    if status not in Moderation.values:
        raise ValueError(f"unknown moderation status {status!r}")
    idea.status = status
    idea.save(update_fields=["status"])


# --- choosing a pair --------------------------------------------------------------------------


def exposure_counts(survey: PairwiseSurvey, *, fresh: bool = False) -> dict[int, int]:
    """How many times each idea has been shown in a pair (answered or not).

    Counted from the database at most every :data:`COUNTS_TTL` seconds (unless ``fresh``) and
    kept in the cache in between, where :func:`new_prompt` adds each pair it shows. So the
    chooser sees nearly current counts without an aggregate over every prompt on each page
    load; the count is rebuilt from the database when the cache entry expires."""
    key = _counts_key(survey)
    if not fresh:
        counts = cache.get(key)
        if counts is not None:
            return counts
    counts: Counter[int] = Counter()
    prompts = PairPrompt.objects.filter(survey=survey)
    for side in ("left", "right"):
        for pk, n in prompts.values_list(side).annotate(n=Count("id")).order_by():
            counts[pk] += n
    counts = dict(counts)
    cache.set(key, counts, timeout=COUNTS_TTL)
    return counts


def _counts_key(survey: PairwiseSurvey) -> str:
    return f"pairwise-exposure:{survey.pk}"


def _count_shown(survey: PairwiseSurvey, counts: dict[int, int], left: int, right: int) -> None:
    counts = dict(counts)
    counts[left] = counts.get(left, 0) + 1
    counts[right] = counts.get(right, 0) + 1
    # a thread racing here may lose an increment: the counts only steer the choice, and they
    # are rebuilt from the database every COUNTS_TTL seconds
    cache.set(_counts_key(survey), counts, timeout=COUNTS_TTL)


def current_scores(survey: PairwiseSurvey) -> dict[int, float] | None:
    """Each approved idea's score for choosing informative pairs, refitted at most every
    :data:`SCORES_TTL` seconds; None before the first decisive vote."""
    key = f"pairwise-scores:{survey.pk}"
    scores = cache.get(key)
    if scores is None:
        found = results(survey)
        scores = {r.idea.pk: r.score for r in found.rows if r.score is not None}
        cache.set(key, scores, timeout=SCORES_TTL)
    return scores or None


def choose_pair(
    ideas: Sequence[int],
    counts: dict[int, int],
    *,
    scores: dict[int, float] | None = None,
    exclude: Iterable[tuple[int, int]] = (),
    rng: np.random.Generator | int | None = None,
) -> tuple[int, int]:
    """Two different ideas (primary keys), in the order to show them, by the adaptive chooser
    of :mod:`changebank.analysis.pairwise`: an idea among those shown least comes first, so a new
    idea is in every pair until it has caught up; its partner favours close scores and ideas
    shown less. Pairs in ``exclude`` (this session's answered pairs) are avoided while any other
    pair is left."""
    from changebank.analysis.pairwise import choose_pair as adaptive

    shown = {pk: counts.get(pk, 0) for pk in ideas}
    known = {pk: s for pk, s in (scores or {}).items() if pk in shown}
    pair = adaptive(shown, known or None, rng, exclude=list(exclude))
    if pair is None:  # this session has seen every pair: start again
        pair = adaptive(shown, known or None, rng)
    return int(pair[0]), int(pair[1])


def new_prompt(
    survey: PairwiseSurvey, session_key: str, *, rng: np.random.Generator | int | None = None
) -> PairPrompt | None:
    """A new pair for this session (None when the survey has fewer than two approved ideas).

    The pair avoids the pairs this session has answered and the one it saw last, while others are
    left. A session with :data:`MAX_UNANSWERED` unanswered prompts gets its newest one back
    instead of a new one."""
    ideas = {i.pk: i for i in survey.ideas.filter(status=Moderation.APPROVED).order_by("id")}
    if len(ideas) < 2:
        return None
    # the session's prompts, newest first, in one query
    history = list(
        PairPrompt.objects.filter(survey=survey, session_key=session_key)
        .order_by("-id")
        .values_list("id", "left_id", "right_id", "answered_at")
    )
    unanswered = [row for row in history if row[3] is None]
    if len(unanswered) >= MAX_UNANSWERED:
        pk, left, right, _ = unanswered[0]
        if left in ideas and right in ideas:
            prompt = PairPrompt.objects.get(pk=pk)
            prompt.left, prompt.right = ideas[left], ideas[right]
            return prompt
    seen = [(left, right) for _, left, right, answered in history if answered is not None]
    if history:
        seen.append((history[0][1], history[0][2]))
    counts = exposure_counts(survey)
    left, right = choose_pair(
        list(ideas), counts, scores=current_scores(survey), exclude=seen, rng=rng
    )
    prompt = PairPrompt.objects.create(
        survey=survey, session_key=session_key, left=ideas[left], right=ideas[right]
    )
    _count_shown(survey, counts, left, right)
    return prompt


# --- voting -----------------------------------------------------------------------------------


def votes_cast(survey: PairwiseSurvey, session_key: str) -> int:
    """How many prompts this session has answered in this survey."""
    if not session_key:
        return 0
    return PairPrompt.objects.filter(
        survey=survey, session_key=session_key, answered_at__isnull=False
    ).count()


def record_vote(survey: PairwiseSurvey, session_key: str, token: str, choice: str) -> VoteResult:
    """Answer the prompt ``token`` of this session with ``choice``, at most once.

    One ``UPDATE`` does it, with every condition in its ``WHERE``: the prompt is this survey's,
    was shown to this session, is not answered yet, and the session has answered fewer prompts
    than the survey's limit. Whatever the timing of concurrent or repeated requests, a prompt is
    answered once and a session never passes its limit. When nothing was updated, reads (outside
    any transaction) say why."""
    if choice not in PairPrompt.Choice.values:
        return VoteResult.INVALID
    if not session_key or not token:
        return VoteResult.NOT_YOURS
    answered = Subquery(
        PairPrompt.objects.filter(survey=survey, session_key=session_key, answered_at__isnull=False)
        .order_by()
        .values("session_key")
        .annotate(n=Count("id"))
        .values("n"),
        output_field=IntegerField(),
    )
    updated = (
        PairPrompt.objects.filter(
            token=token, survey=survey, session_key=session_key, answered_at=None
        )
        .alias(answered=Coalesce(answered, Value(0)))
        .filter(answered__lt=survey.votes_per_session)
        .update(choice=choice, answered_at=timezone.now())
    )
    if updated:
        return VoteResult.COUNTED
    prompt = (
        PairPrompt.objects.filter(token=token, survey=survey, session_key=session_key)
        .values("answered_at")
        .first()
    )
    if prompt is None:
        return VoteResult.NOT_YOURS
    if prompt["answered_at"] is not None:
        return VoteResult.DUPLICATE
    return VoteResult.LIMIT


# --- results ----------------------------------------------------------------------------------


@dataclass
class IdeaResult:
    idea: Idea
    score: float | None  #: chance (0–1) to beat an idea drawn at random from the others
    low: float | None  #: 95 % interval
    high: float | None
    comparisons: int  #: decisive votes (left or right) the idea took part in
    wins: int
    cant_decide: int  #: "I can't decide" answers on pairs with the idea
    rank: int = 0

    @property
    def losses(self) -> int:
        return self.comparisons - self.wins


@dataclass
class Results:
    survey: PairwiseSurvey
    rows: list[IdeaResult] = field(default_factory=list)
    votes: int = 0  #: answered prompts between approved ideas
    decisive: int = 0
    cant_decide: int = 0
    sessions: int = 0


def answered_pairs(survey: PairwiseSurvey) -> list[tuple[int, int, str]]:
    """(left, right, choice) of every answered prompt of the survey, oldest first."""
    return list(
        PairPrompt.objects.filter(survey=survey, answered_at__isnull=False)
        .order_by("answered_at", "id")
        .values_list("left_id", "right_id", "choice")
    )


def results(survey: PairwiseSurvey) -> Results:
    """Each approved idea's score (its chance to beat a random other idea under the
    Bradley–Terry model fitted to every decisive vote between approved ideas) with a 95 %
    interval, comparisons and wins; best first."""
    ideas = {i.pk: i for i in survey.ideas.filter(status=Moderation.APPROVED).order_by("id")}
    votes = [
        (left, right, choice)
        for left, right, choice in answered_pairs(survey)
        if left in ideas and right in ideas
    ]
    comparisons: Counter[int] = Counter()
    wins: Counter[int] = Counter()
    undecided: Counter[int] = Counter()
    duels: list[tuple[int, int]] = []  # (winner, loser)
    draws: list[tuple[int, int]] = []
    for left, right, choice in votes:
        if choice == PairPrompt.Choice.CANT_DECIDE:
            undecided[left] += 1
            undecided[right] += 1
            draws.append((left, right))
            continue
        winner, loser = (left, right) if choice == PairPrompt.Choice.LEFT else (right, left)
        comparisons[winner] += 1
        comparisons[loser] += 1
        wins[winner] += 1
        duels.append((winner, loser))
    fitted = fit_scores(list(ideas), duels, draws)
    rows = [
        IdeaResult(
            idea=idea,
            score=fitted.get(pk, (None, None, None))[0],
            low=fitted.get(pk, (None, None, None))[1],
            high=fitted.get(pk, (None, None, None))[2],
            comparisons=comparisons[pk],
            wins=wins[pk],
            cant_decide=undecided[pk],
        )
        for pk, idea in ideas.items()
    ]
    rows.sort(
        key=lambda r: (
            r.score is None,
            -(r.score or 0.0),
            -r.wins,
            r.idea.pk,
        )
    )
    for n, row in enumerate(rows, start=1):
        row.rank = n
    sessions = (
        PairPrompt.objects.filter(survey=survey, answered_at__isnull=False)
        .values("session_key")
        .distinct()
        .count()
    )
    return Results(
        survey=survey,
        rows=rows,
        votes=len(votes),
        decisive=len(duels),
        cant_decide=len(votes) - len(duels),
        sessions=sessions,
    )


def fit_scores(
    ideas: list[int], duels: list[tuple[int, int]], undecided: list[tuple[int, int]] = ()
) -> dict[int, tuple[float, float, float]]:
    """Idea → (score, low, high of its 95 % interval) from
    :class:`changebank.analysis.pairwise.BradleyTerry` fitted to ``duels`` (winner, loser);
    empty before the first vote. "Can't decide" answers are counted, not fitted."""
    from changebank.analysis.pairwise import BradleyTerry

    if not duels or len(ideas) < 2:
        return {}
    model = BradleyTerry(level=0.95).fit(duels, undecided=list(undecided), ideas=ideas)
    return {int(r.idea): (r.score, r.low, r.high) for r in model.results()}


CSV_COLUMNS = [
    "rank",
    "idea_id",
    "idea",
    "score_percent",
    "low_95_percent",
    "high_95_percent",
    "comparisons",
    "wins",
    "losses",
    "cant_decide",
    "added_by_participant",
    "distinct_change_id",
]


def _pct(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def write_results_csv(found: Results, out: TextIO) -> int:
    """The results as CSV (safe to open in a spreadsheet); returns the number of ideas."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for r in found.rows:
        writer.writerow(
            [
                neutralise(v)
                for v in (
                    r.rank,
                    r.idea.pk,
                    r.idea.text,
                    _pct(r.score),
                    _pct(r.low),
                    _pct(r.high),
                    r.comparisons,
                    r.wins,
                    r.losses,
                    r.cant_decide,
                    "yes" if r.idea.added_by_participant else "no",
                    r.idea.change_id or "",
                )
            ]
        )
    return len(found.rows)


def survey_counts(surveys: Iterable[PairwiseSurvey]) -> dict[int, dict[str, int]]:
    """Per survey: approved and pending ideas, and votes; three grouped queries in all."""
    ids = [s.pk for s in surveys]
    out = {pk: {"ideas": 0, "pending": 0, "votes": 0} for pk in ids}
    for pk, approved, pending in (
        Idea.objects.filter(survey__in=ids)
        .values("survey")
        .annotate(
            a=Count("id", filter=Q(status=Moderation.APPROVED)),
            p=Count("id", filter=Q(status=Moderation.PENDING)),
        )
        .values_list("survey", "a", "p")
    ):
        out[pk]["ideas"], out[pk]["pending"] = approved, pending
    for pk, n in (
        PairPrompt.objects.filter(survey__in=ids, answered_at__isnull=False)
        .values("survey")
        .annotate(n=Count("id"))
        .values_list("survey", "n")
    ):
        out[pk]["votes"] = n
    return out
