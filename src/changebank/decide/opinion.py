"""Opinion groups, as Pol.is: what the pages of a conversation do to the database.

Participants need no account. Each browser gets a random *participant key* kept in its session
(never the session key itself, which changes at sign-in and must stay secret); a vote is stored
against that key with ``update_or_create`` on (statement, participant), so the latest vote is the
one that counts and it counts once. Exports replace the keys by small numbers (0, 1, 2, … in the
order people first voted), as Pol.is does, so a file never reveals anyone's key.

The maths (PCA, k-means, representativeness, group-informed consensus) lives in
:mod:`changebank.analysis.opinion`; :func:`results` runs it on the votes as a pandas DataFrame and
adds the plain tallies, and caches the outcome per conversation, keyed by the number of votes and
the time of the latest one (a changed vote changes the time, not the number).
"""

from __future__ import annotations

import csv
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any, TextIO

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Count, Max, Min, Q, QuerySet
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.text import slugify

from changebank.core import ratelimit
from changebank.core.audit import record
from changebank.listen.models import Programme
from changebank.share.exporters.csv import neutralise
from changebank.understand.models import DistinctChange

from .models import Conversation, Moderation, Statement, StatementVote, Status
from .participants import session_participant_key

PARTICIPANT_SESSION_KEY = "decide-participant"
VOTE_LABELS = {1: "Agree", -1: "Disagree", 0: "Pass / unsure"}
STATEMENT_MAX = 500
#: Changes of the long list with fewer words are not offered as statements.
MIN_STATEMENT_WORDS = 3
#: Statements one participant may add to one conversation.
STATEMENTS_PER_PARTICIPANT = 5
#: Statements one internet address may add in an hour, over all conversations of a programme.
STATEMENTS_PER_ADDRESS_HOUR = 20
#: Pol.is clusters only people who voted on at least min(7, statements) statements …
MIN_VOTES_PER_PARTICIPANT = 7
#: … and needs a few of them before groups mean anything.
MIN_PARTICIPANTS = 7
#: How many changes from the long list an analyst may turn into statements at once.
LONG_LIST_MAX = 50
CACHE_SECONDS = 24 * 3600
#: Statements listed under "what every group agrees (disagrees) on".
CONSENSUS_SHOWN = 5


class VoteError(ValueError):
    """A vote that cannot be recorded; the message says why, for the participant."""


# --- participants and access ----------------------------------------------------------------------


def participant_key(request: HttpRequest, *, create: bool = False) -> str:
    """This browser's participant key ("" if none), made (and the session saved) when ``create``
    is true."""
    return session_participant_key(request, PARTICIPANT_SESSION_KEY, create=create)


def conversation_or_404(programme: Programme, conversation_slug: str) -> Conversation:
    return get_object_or_404(Conversation, programme=programme, slug=conversation_slug)


def public_conversation(slug: str, conversation_slug: str) -> Conversation:
    """A conversation the public may see: not in a private programme, and not a draft."""
    conversation = get_object_or_404(
        Conversation.objects.select_related("programme"),
        programme__slug=slug,
        slug=conversation_slug,
    )
    if (
        conversation.programme.visibility == Programme.Visibility.PRIVATE
        or conversation.status == Status.DRAFT
    ):
        raise Http404("No such conversation")
    return conversation


def results_are_public(conversation: Conversation) -> bool:
    """Results are shown to everyone once the conversation is closed (and its programme is not
    private); while it is open only analysts see them, so early results cannot sway the votes."""
    return (
        conversation.status == Status.CLOSED
        and conversation.programme.visibility != Programme.Visibility.PRIVATE
    )


# --- creating conversations and statements --------------------------------------------------------


def unique_slug(programme: Programme, topic: str) -> str:
    base = slugify(topic)[:70].strip("-") or "conversation"
    taken = set(
        Conversation.objects.filter(programme=programme, slug__startswith=base).values_list(
            "slug", flat=True
        )
    )
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    return slug


def statement_lines(text: str) -> list[str]:
    """One statement per non-blank line, spaces tidied, repeats dropped (first kept)."""
    seen: set[str] = set()
    out = []
    for line in (text or "").splitlines():
        line = " ".join(line.split())
        if line and line.casefold() not in seen:
            seen.add(line.casefold())
            out.append(line)
    return out


def statement_from_change(change: DistinctChange) -> str:
    """A short statement for a change of the long list: its wording when that is short, else its
    name, else its wording cut at a word boundary."""
    text = " ".join(change.text.split())
    if len(text) <= 280:
        return text
    if change.name:
        return change.name[:STATEMENT_MAX]
    cut = text[:277].rsplit(" ", 1)[0]
    return cut + "…"


def top_changes(programme: Programme, n: int) -> list[DistinctChange]:
    """The ``n`` changes of the long list raised most often, leaving out what is not a change to
    vote on: those the analysis found to be empty answers, and wordings of fewer than
    :data:`MIN_STATEMENT_WORDS` words ("Nothing.", "None.", "Don't know")."""
    qs = programme.distinct_changes.exclude(code__is_empty_answer=True).order_by("-count", "id")
    out: list[DistinctChange] = []
    for change in qs.iterator(chunk_size=200):
        if len(out) >= n:
            break
        if len(change.text.split()) >= MIN_STATEMENT_WORDS:
            out.append(change)
    return out


@transaction.atomic
def add_statements(
    conversation: Conversation,
    texts: list[str],
    changes: list[DistinctChange] | None = None,
    *,
    note: str = "",
) -> list[Statement]:
    """Approved statements written (or chosen) by an analyst; texts already in the conversation
    are skipped. One audit event for the batch."""
    existing = {
        t.casefold() for t in conversation.statements.values_list("text", flat=True).iterator()
    }
    rows = []
    pairs = list(zip(texts, changes or [None] * len(texts), strict=True))
    for text, change in pairs:
        text = text[:STATEMENT_MAX]
        if text.casefold() in existing:
            continue
        existing.add(text.casefold())
        rows.append(Statement(conversation=conversation, text=text, change=change))
    created = Statement.objects.bulk_create(rows)
    if created:
        record(
            "create",
            conversation,
            object_type="decide.statement",
            object_id=",".join(str(s.pk) for s in created if s.pk) or "",
            after={"conversation": conversation.pk, "statements": [s.text for s in created]},
            note=note or f"{len(created)} statements added",
        )
    return created


def add_from_long_list(conversation: Conversation, n: int) -> list[Statement]:
    """One statement for each of the ``n`` most often raised changes not yet in the
    conversation."""
    used = set(conversation.statements.exclude(change=None).values_list("change_id", flat=True))
    changes = [c for c in top_changes(conversation.programme, n + len(used)) if c.pk not in used]
    changes = changes[:n]
    return add_statements(
        conversation,
        [statement_from_change(c) for c in changes],
        changes,
        note=f"{len(changes)} statements from the long list",
    )


def participant_statement_count(conversation: Conversation, participant: str) -> int:
    return conversation.statements.filter(
        added_by_participant=True, session_key=participant
    ).count()


def propose_statement(conversation: Conversation, participant: str, text: str) -> Statement:
    """A participant's statement, waiting for moderation."""
    text = " ".join((text or "").split())
    if not text:
        raise VoteError("Enter your statement")
    if len(text) > STATEMENT_MAX:
        raise VoteError(f"Your statement must be {STATEMENT_MAX} characters or fewer")
    if conversation.status != Status.OPEN or not conversation.allow_statements:
        raise VoteError("This conversation is not taking new statements")
    if participant_statement_count(conversation, participant) >= STATEMENTS_PER_PARTICIPANT:
        raise VoteError(
            f"You have already added {STATEMENTS_PER_PARTICIPANT} statements, the most one "
            "person can add"
        )
    if conversation.statements.filter(text__iexact=text).exists():
        raise VoteError("That statement is already in the conversation")
    return Statement.objects.create(
        conversation=conversation,
        text=text,
        added_by_participant=True,
        status=Moderation.PENDING,
        session_key=participant,
    )


def _statement_scope(conversation: Conversation) -> str:
    return f"statement-rate:{conversation.programme_id}"


def statement_rate_limited(request: HttpRequest, conversation: Conversation) -> bool:
    """True when this address has added the most statements allowed this hour."""
    return ratelimit.limit_reached(
        request, _statement_scope(conversation), STATEMENTS_PER_ADDRESS_HOUR
    )


def count_statement(request: HttpRequest, conversation: Conversation) -> None:
    ratelimit.count(request, _statement_scope(conversation))


# --- voting -------------------------------------------------------------------------------------


def approved(conversation: Conversation) -> QuerySet[Statement]:
    return conversation.statements.filter(status=Moderation.APPROVED)


def next_statement(conversation: Conversation, participant: str | None) -> Statement | None:
    """The approved statement this participant has not voted on with the fewest votes (the
    oldest first among equals), as Pol.is favours statements few people have seen."""
    qs = approved(conversation)
    if participant:
        qs = qs.exclude(votes__participant=participant)
    return qs.annotate(n_votes=Count("votes")).order_by("n_votes", "id").first()


def my_votes(conversation: Conversation, participant: str | None) -> list[StatementVote]:
    if not participant:
        return []
    return list(
        StatementVote.objects.filter(
            statement__conversation=conversation,
            statement__status=Moderation.APPROVED,
            participant=participant,
        )
        .select_related("statement")
        .order_by("statement_id")
    )


def parse_vote(value: Any) -> int:
    try:
        vote = int(str(value).strip())
    except (TypeError, ValueError):
        raise VoteError("Choose agree, disagree or pass") from None
    if vote not in VOTE_LABELS:
        raise VoteError("Choose agree, disagree or pass")
    return vote


def record_vote(
    conversation: Conversation, statement_id: Any, vote: Any, participant: str
) -> tuple[StatementVote, bool]:
    """Save ``participant``'s vote on a statement of ``conversation``: the latest vote replaces
    any earlier one. Returns the vote and whether it is the participant's first on it."""
    if conversation.status != Status.OPEN:
        raise VoteError("This conversation is closed to votes")
    value = parse_vote(vote)
    try:
        pk = int(str(statement_id))
    except (TypeError, ValueError):
        raise VoteError("That statement is not in this conversation") from None
    statement = approved(conversation).filter(pk=pk).first()
    if statement is None:
        raise VoteError("That statement is not in this conversation")
    try:
        with transaction.atomic():
            return StatementVote.objects.update_or_create(
                statement=statement, participant=participant, defaults={"vote": value}
            )
    except IntegrityError:  # the same vote sent twice at once: the other request created it
        return StatementVote.objects.update_or_create(
            statement=statement, participant=participant, defaults={"vote": value}
        )


# --- results --------------------------------------------------------------------------------------


def vote_rows(conversation: Conversation) -> list[tuple[str, int, int]]:
    """(participant, statement id, vote) of every vote on an approved statement."""
    return list(
        StatementVote.objects.filter(
            statement__conversation=conversation, statement__status=Moderation.APPROVED
        )
        .order_by("updated_at", "id")
        .values_list("participant", "statement_id", "vote")
    )


def votes_frame(conversation: Conversation) -> Any:
    """The votes as a pandas DataFrame with the columns ``voter_id``, ``statement_id`` and
    ``vote`` (1, −1 or 0), as :mod:`changebank.analysis.opinion` takes them."""
    import pandas as pd

    rows = vote_rows(conversation)
    return pd.DataFrame(rows, columns=["voter_id", "statement_id", "vote"])


def participant_numbers(conversation: Conversation) -> dict[str, int]:
    """Participant key → 0, 1, 2, … in the order they first voted (then those who only added a
    statement, in the order they added it). Stable: a changed vote keeps its row."""
    first_vote = dict(
        StatementVote.objects.filter(statement__conversation=conversation)
        .values("participant")
        .annotate(first=Min("id"))
        .values_list("participant", "first")
    )
    ordered = sorted(first_vote, key=lambda k: first_vote[k])
    known = set(ordered)
    for key in (
        conversation.statements.filter(added_by_participant=True)
        .exclude(session_key="")
        .order_by("id")
        .values_list("session_key", flat=True)
    ):
        if key not in known:
            known.add(key)
            ordered.append(key)
    return {key: n for n, key in enumerate(ordered)}


def cache_key(conversation: Conversation) -> str:
    """Changes whenever a vote is cast or changed, or a statement is approved or rejected."""
    stats = StatementVote.objects.filter(statement__conversation=conversation).aggregate(
        n=Count("id"), last=Max("updated_at")
    )
    statements = conversation.statements.aggregate(
        n=Count("id", filter=Q(status=Moderation.APPROVED)),
        ids=Max("id"),
    )
    stamp = stats["last"].timestamp() if stats["last"] else 0
    return (
        f"decide:opinion:{conversation.pk}:v{stats['n']}:{stamp:.6f}"
        f":s{statements['n']}:{statements['ids']}"
    )


@dataclass
class Tally:
    agree: int = 0
    disagree: int = 0
    passed: int = 0

    @property
    def votes(self) -> int:
        return self.agree + self.disagree + self.passed

    def add(self, vote: int) -> None:
        if vote == 1:
            self.agree += 1
        elif vote == -1:
            self.disagree += 1
        else:
            self.passed += 1

    def share(self, what: str) -> float | None:
        n = self.votes
        return getattr(self, what) / n if n else None


@dataclass
class Results:
    """What the results page shows; plain Python, so it can be cached."""

    statements: list[dict[str, Any]]
    n_participants: int
    n_votes: int
    threshold: int
    n_eligible: int
    min_participants: int
    enough: bool
    tallies: dict[int, Tally]
    groups: list[dict[str, Any]] = field(default_factory=list)
    group_tallies: dict[int, dict[int, Tally]] = field(default_factory=dict)
    points: list[dict[str, Any]] = field(default_factory=list)
    repness: dict[int, list[dict[str, Any]]] = field(default_factory=dict)
    consensus_agree: list[dict[str, Any]] = field(default_factory=list)
    consensus_disagree: list[dict[str, Any]] = field(default_factory=list)
    note: str = ""


def group_consensus(
    group_tallies: dict[int, dict[int, Tally]], statement_ids: list[int], what: str
) -> dict[int, float]:
    """Group-informed consensus: Π over groups of (agrees + 1) / (votes + 2) (or disagrees)."""
    out = {}
    for sid in statement_ids:
        score = 1.0
        for tallies in group_tallies.values():
            t = tallies.get(sid, Tally())
            score *= (getattr(t, what) + 1) / (t.votes + 2)
        out[sid] = score
    return out


def results(conversation: Conversation, *, use_cache: bool = True) -> Results:
    key = cache_key(conversation)
    if use_cache:
        found = cache.get(key)
        if found is not None:
            return found
    out = compute_results(conversation)
    cache.set(key, out, CACHE_SECONDS)
    return out


def compute_results(conversation: Conversation) -> Results:
    statements = [
        {"id": s.pk, "text": s.text, "by_participant": s.added_by_participant}
        for s in approved(conversation).order_by("id")
    ]
    ids = [s["id"] for s in statements]
    rows = vote_rows(conversation)
    tallies: dict[int, Tally] = {sid: Tally() for sid in ids}
    per_person: Counter[str] = Counter()
    for participant, sid, vote in rows:
        tallies[sid].add(vote)
        per_person[participant] += 1
    threshold = min(MIN_VOTES_PER_PARTICIPANT, len(ids)) if ids else MIN_VOTES_PER_PARTICIPANT
    eligible = [p for p, n in per_person.items() if n >= threshold]
    enough = len(ids) >= 2 and len(eligible) >= MIN_PARTICIPANTS
    out = Results(
        statements=statements,
        n_participants=len(per_person),
        n_votes=len(rows),
        threshold=threshold,
        n_eligible=len(eligible),
        min_participants=MIN_PARTICIPANTS,
        enough=enough,
        tallies=tallies,
    )
    if enough:
        try:
            find_groups(out, rows, participant_numbers(conversation))
        except (ValueError, ArithmeticError) as error:
            out.enough = False
            out.groups, out.group_tallies, out.points, out.repness = [], {}, [], {}
            out.consensus_agree, out.consensus_disagree = [], []
            out.note = f"The opinion groups could not be found: {error}"
    return out


def _label(index: int) -> str:
    """A, B, …, Z, AA, AB, … (Pol.is names its groups by letter)."""
    label = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        label = chr(65 + rest) + label
    return label


def _share(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def find_groups(out: Results, rows: list[tuple[str, int, int]], numbers: dict[str, int]) -> None:
    """Run :class:`changebank.analysis.opinion.OpinionGroups` on the votes (in the order they were
    last changed, so the latest vote of a pair wins) and fill in the groups of ``out``: their
    sizes, every clustered participant's place on the map, per-group tallies, representative
    statements and the group-informed consensus."""
    import pandas as pd

    from changebank.analysis.opinion import OpinionGroups

    frame = pd.DataFrame(rows, columns=["voter_id", "statement_id", "vote"])
    model = OpinionGroups(min_votes=MIN_VOTES_PER_PARTICIPANT, random_state=0).fit(frame)
    group_of: dict[str, int] = dict(model.groups_)
    ids = [s["id"] for s in out.statements]
    texts = {s["id"]: s["text"] for s in out.statements}
    sizes = Counter(group_of.values())
    clustered = sum(sizes.values())
    out.groups = [
        {"id": g, "label": _label(g), "size": sizes[g], "share": _share(sizes[g], clustered)}
        for g in range(model.n_groups_)
    ]
    out.group_tallies = {g: {sid: Tally() for sid in ids} for g in range(model.n_groups_)}
    for participant, sid, vote in rows:
        g = group_of.get(participant)
        if g is not None:
            out.group_tallies[g][sid].add(vote)
    projection = model.projection_
    out.points = sorted(
        (
            {
                "participant": numbers.get(p, -1),
                "group": g,
                "x": float(projection.at[p, "x"]),
                "y": float(projection.at[p, "y"]),
            }
            for p, g in group_of.items()
        ),
        key=lambda point: point["participant"],
    )

    def others(g: int, sid: int) -> Tally:
        total = Tally()
        for h, tallies in out.group_tallies.items():
            if h != g:
                t = tallies[sid]
                total.agree += t.agree
                total.disagree += t.disagree
                total.passed += t.passed
        return total

    for g, chosen in model.representative_.items():
        items = []
        for r in chosen:
            sid = int(r.statement_id)
            what = "agree" if r.repful_for == "agree" else "disagree"
            rest = others(g, sid)
            items.append(
                {
                    "statement_id": sid,
                    "text": texts.get(sid, ""),
                    "direction": what,
                    "verb": what + "d",
                    "in_group": _share(r.n_success, r.n_trials),
                    "others": rest.share(what),
                    "ratio": r.repness,
                    "z_others": r.repness_test,
                    "z_half": r.p_test,
                    "significant": r.significant,
                    "test": (
                        f"z = {r.repness_test:.2f} against everyone else, "
                        f"{r.p_test:.2f} against an even split: "
                        + (
                            "significant (one-sided 90%)"
                            if r.significant
                            else "not significant (shown as the group's best)"
                        )
                    ),
                }
            )
        out.repness[g] = items

    consensus = model.consensus_
    floor = 0.5 ** len(out.groups)  # what a half-and-half split in every group would give
    for what, target in (("agree", out.consensus_agree), ("disagree", out.consensus_disagree)):
        scores = sorted(
            ((float(score), int(sid)) for sid, score in consensus[what].items()),
            key=lambda pair: (-pair[0], pair[1]),
        )
        for score, sid in scores:
            if score <= floor or len(target) >= CONSENSUS_SHOWN:
                break
            target.append(
                {
                    "statement_id": sid,
                    "text": texts.get(sid, ""),
                    "score": score,
                    "shares": [out.group_tallies[g["id"]][sid].share(what) for g in out.groups],
                }
            )


# --- exports in Pol.is's format -------------------------------------------------------------------


def write_participants_votes(conversation: Conversation, out: TextIO) -> int:
    """Pol.is's ``participants-votes.csv``: one row per participant with their group, how many
    statements they wrote, their vote counts, then one column per statement (1 agree, −1
    disagree, 0 pass, empty if they did not vote). Returns the number of participants."""
    numbers = participant_numbers(conversation)
    statement_ids = list(conversation.statements.order_by("id").values_list("id", flat=True))
    votes: dict[str, dict[int, int]] = defaultdict(dict)
    for participant, sid, vote in StatementVote.objects.filter(
        statement__conversation=conversation
    ).values_list("participant", "statement_id", "vote"):
        votes[participant][sid] = vote
    authored = Counter(
        conversation.statements.filter(added_by_participant=True).values_list(
            "session_key", flat=True
        )
    )
    found = results(conversation)
    group_of = {p["participant"]: p["group"] for p in found.points}
    writer = csv.writer(out)
    writer.writerow(
        [
            "participant",
            "group-id",
            "n-comments",
            "n-votes",
            "n-agree",
            "n-disagree",
            *[str(s) for s in statement_ids],
        ]
    )
    for key, number in sorted(numbers.items(), key=lambda kv: kv[1]):
        mine = votes.get(key, {})
        group = group_of.get(number)
        writer.writerow(
            [
                number,
                "" if group is None else group,
                authored.get(key, 0),
                len(mine),
                sum(1 for v in mine.values() if v == 1),
                sum(1 for v in mine.values() if v == -1),
                *[mine.get(s, "") for s in statement_ids],
            ]
        )
    return len(numbers)


MODERATED = {Moderation.APPROVED: 1, Moderation.REJECTED: -1, Moderation.PENDING: 0}


def write_comments(conversation: Conversation, out: TextIO) -> int:
    """Pol.is's ``comments.csv``: each statement with its author, votes and moderation."""
    numbers = participant_numbers(conversation)
    counts = {
        row["statement_id"]: row
        for row in StatementVote.objects.filter(statement__conversation=conversation)
        .values("statement_id")
        .annotate(
            agrees=Count("id", filter=Q(vote=1)),
            disagrees=Count("id", filter=Q(vote=-1)),
        )
    }
    writer = csv.writer(out)
    writer.writerow(
        [
            "timestamp",
            "datetime",
            "comment-id",
            "author-id",
            "agrees",
            "disagrees",
            "moderated",
            "comment-body",
        ]
    )
    n = 0
    for s in conversation.statements.order_by("id"):
        c = counts.get(s.pk, {})
        author = numbers.get(s.session_key, "") if s.added_by_participant else ""
        writer.writerow(
            [
                int(s.created_at.timestamp() * 1000),
                s.created_at.isoformat(),
                s.pk,
                author,
                c.get("agrees", 0),
                c.get("disagrees", 0),
                MODERATED.get(s.status, 0),
                neutralise(s.text),
            ]
        )
        n += 1
    return n


def export_name(conversation: Conversation, what: str) -> str:
    safe = re.sub(r"[^a-z0-9-]+", "-", conversation.slug.lower()).strip("-") or "conversation"
    return f"{safe}-{what}.csv"
