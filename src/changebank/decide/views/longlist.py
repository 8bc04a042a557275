"""The prioritised long list: every distinct change of a programme with the results of whichever
Decide methods were used on it, sortable and filterable, with a CSV download and an account of how
each figure was computed.

Each method is computed once per page for the whole programme, never per row:

* **who raised it**: one grouped query over the changes' members;
* **Delphi**: the closed rounds of the programme's panels, their changes and the answers of the
  round that is latest for each change, in three queries; each change's ratings classified with
  :mod:`changebank.analysis.delphi` under that round's rules;
* **pairwise**: :func:`changebank.decide.pairwise.results` (Bradley–Terry from
  :mod:`changebank.analysis.pairwise`) once for each wiki survey that has an idea linked to a
  change;
* **opinion groups**: :func:`conversation_consensus` once for each conversation that has a
  statement linked to a change (the conversation's own cached results, or
  :class:`changebank.analysis.opinion.OpinionGroups`); the group-informed consensus of a statement
  is Π over opinion groups of (agrees + 1) / (votes + 2).
"""

from __future__ import annotations

import csv
import math
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django import forms
from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone

from changebank.core.permissions import needs_permission
from changebank.listen.models import Programme
from changebank.share.exporters.csv import neutralise
from changebank.understand.models import DistinctChange

from ..models import (
    RSA,
    Conversation,
    DelphiAnswer,
    DelphiRound,
    Idea,
    Moderation,
    Statement,
    StatementVote,
    Status,
)
from .overview import link, programme_or_404

#: Analysts (and admins) hold all three: the list shows the results of every method.
PERMISSIONS = ("decide.view_panel", "decide.view_pairwisesurvey", "decide.view_conversation")
PAGE_SIZE = 100
RSA_LABELS = {key: label.split(":")[0] for key, label in RSA.choices}
RSA_ORDER = {key: i for i, key in enumerate(RSA.values)}
#: Delphi classifications, best first: the order "prioritised" sorts by.
CLASSIFICATION_RANK = {"in": 3, "none": 2, "disagreement": 1, "out": 0}
CLASSIFICATION_LABELS = {
    "in": "Consensus in",
    "out": "Consensus out",
    "disagreement": "Disagreement",
    "none": "No consensus",
}
BENEFIT = "benefit"


# --- the figures ------------------------------------------------------------------------------------


@dataclass
class DelphiFigure:
    round_id: int
    panel_id: int
    panel: str
    number: int
    scale: str  # the label of the scale summarised (Benefit, or the round's first scale)
    n: int = 0  # members who rated it on that scale
    median: float | None = None
    classification: str = ""  # in, out, disagreement, none; "" when nobody rated it
    rsa: list[str] = field(default_factory=list)  # the most chosen categories (ties: several)
    rsa_n: int = 0  # members who chose a category
    rsa_top: int = 0  # members who chose the most chosen one

    @property
    def classification_label(self) -> str:
        return CLASSIFICATION_LABELS.get(self.classification, "")

    @property
    def rsa_labels(self) -> list[str]:
        return [RSA_LABELS[k] for k in self.rsa]


@dataclass
class PairwiseFigure:
    survey_id: int
    survey_slug: str
    question: str
    score: float | None  # chance to beat a randomly chosen other idea, 0–1
    low: float | None
    high: float | None
    comparisons: int
    rank: int
    ideas: int


@dataclass
class StatementFigure:
    conversation_id: int
    conversation_slug: str
    topic: str
    statement_id: int
    text: str
    consensus: float | None  # Π over groups of (agrees + 1) / (votes + 2); None without groups
    groups: int
    votes: int
    agree: float | None  # share of votes that agree, everyone together


@dataclass
class Row:
    change: DistinctChange
    people: int = 0
    unknown: int = 0
    delphi: DelphiFigure | None = None
    pairwise: list[PairwiseFigure] = field(default_factory=list)
    statements: list[StatementFigure] = field(default_factory=list)
    position: int = 0

    @property
    def title(self) -> str:
        return self.change.name or self.change.text

    @property
    def best_pairwise(self) -> PairwiseFigure | None:
        """The survey with the most comparisons of the change's idea."""
        scored = [p for p in self.pairwise if p.score is not None]
        return max(scored, key=lambda p: (p.comparisons, p.survey_id), default=None)

    @property
    def best_statement(self) -> StatementFigure | None:
        """The statement with the highest consensus (or, without groups, the most votes)."""
        return max(
            self.statements,
            key=lambda s: (s.consensus is not None, s.consensus or 0.0, s.votes),
            default=None,
        )


def people_counts(programme: Programme) -> dict[int, tuple[int, int]]:
    """Change → (distinct people who raised it, submissions from people not identified), in one
    grouped query."""
    members = DistinctChange.members.through.objects.filter(distinctchange__programme=programme)
    return {
        pk: (people, unknown)
        for pk, people, unknown in members.values("distinctchange_id")
        .annotate(
            people=Count("submission__respondent", distinct=True),
            unknown=Count("id", filter=Q(submission__respondent__isnull=True)),
        )
        .values_list("distinctchange_id", "people", "unknown")
    }


def _round_order(r: DelphiRound) -> tuple[Any, ...]:
    """Latest last: by closing time (a round closed with no time recorded counts as oldest), then
    by round number and id."""
    oldest = datetime.min.replace(tzinfo=timezone.get_current_timezone())
    return (r.closes_at or oldest, r.number, r.pk)


def delphi_figures(programme: Programme) -> dict[int, DelphiFigure]:
    """For each change: the results of the latest closed Delphi round that included it."""
    from changebank.decide import delphi as delphi_ops

    rounds = {
        r.pk: r
        for r in DelphiRound.objects.filter(
            panel__programme=programme, status=Status.CLOSED
        ).select_related("panel")
    }
    if not rounds:
        return {}
    latest: dict[int, DelphiRound] = {}
    for round_id, change_id in DelphiRound.changes.through.objects.filter(
        delphiround_id__in=list(rounds)
    ).values_list("delphiround_id", "distinctchange_id"):
        r = rounds[round_id]
        if change_id not in latest or _round_order(r) > _round_order(latest[change_id]):
            latest[change_id] = r
    wanted = {(r.pk, change_id) for change_id, r in latest.items()}
    answers: dict[int, list[tuple[dict, str]]] = defaultdict(list)
    for round_id, change_id, ratings, rsa in DelphiAnswer.objects.filter(
        round_id__in={r.pk for r in latest.values()}
    ).values_list("round_id", "change_id", "ratings", "rsa"):
        if (round_id, change_id) in wanted:
            answers[change_id].append((ratings or {}, rsa))
    rules = {pk: delphi_ops.rule_for(r.rules or {}) for pk, r in rounds.items()}
    out = {}
    for change_id, r in latest.items():
        scales = r.scales or []
        scale = next((s for s in scales if s.get("key") == BENEFIT), scales[0] if scales else None)
        key = scale["key"] if scale else BENEFIT
        figure = DelphiFigure(
            round_id=r.pk,
            panel_id=r.panel_id,
            panel=r.panel.name,
            number=r.number,
            scale=(scale or {}).get("label", "Benefit"),
        )
        given = answers.get(change_id, [])
        values = [
            ratings[key]
            for ratings, _ in given
            if isinstance(ratings.get(key), int) and not isinstance(ratings.get(key), bool)
        ]
        if values:
            result = rules[r.pk].classify(values)
            figure.n = result.n
            figure.median = result.median
            figure.classification = delphi_ops.OUTCOMES[result.outcome]
        if r.ask_rsa:
            counts = Counter(rsa for _, rsa in given if rsa)
            figure.rsa = delphi_ops.most_common(counts)
            figure.rsa_n = sum(counts.values())
            figure.rsa_top = max(counts.values(), default=0)
        out[change_id] = figure
    return out


def pairwise_figures(programme: Programme) -> dict[int, list[PairwiseFigure]]:
    """For each change: its idea's score and 95 % interval in every wiki survey where an
    approved idea is linked to it (one Bradley–Terry fit per survey)."""
    from changebank.decide import pairwise as pairwise_ops

    linked: dict[int, dict[int, int]] = defaultdict(dict)  # survey → idea → change
    surveys = {}
    for idea in Idea.objects.filter(
        survey__programme=programme, change__isnull=False, status=Moderation.APPROVED
    ).select_related("survey"):
        linked[idea.survey_id][idea.pk] = idea.change_id
        surveys[idea.survey_id] = idea.survey
    out: dict[int, list[PairwiseFigure]] = defaultdict(list)
    for survey_id, ideas in linked.items():
        found = pairwise_ops.results(surveys[survey_id])
        for row in found.rows:
            change_id = ideas.get(row.idea.pk)
            if change_id is None:
                continue
            out[change_id].append(
                PairwiseFigure(
                    survey_id=survey_id,
                    survey_slug=surveys[survey_id].slug,
                    question=surveys[survey_id].question,
                    score=row.score,
                    low=row.low,
                    high=row.high,
                    comparisons=row.comparisons,
                    rank=row.rank,
                    ideas=len(found.rows),
                )
            )
    return out


def conversation_consensus(conversation: Conversation) -> tuple[dict[int, float], int, str]:
    """Statement → group-informed consensus (agree) in ``conversation``, the number of opinion
    groups, and a note when they could not be found.

    The groups are those of the conversation's own results
    (:func:`changebank.decide.opinion.results`, cached there), so the figures match its results
    page. Where that gives no per-group tallies although enough people voted, the groups and the
    consensus come straight from :class:`changebank.analysis.opinion.OpinionGroups` (its
    ``consensus_``), cached under the conversation's results key.
    """
    from changebank.decide import opinion as opinion_ops

    try:
        found = opinion_ops.results(conversation)
    except NotImplementedError:
        found = None
    except (ValueError, ArithmeticError) as error:
        return {}, 0, f"{conversation.topic}: the opinion groups could not be found ({error})."
    if found is not None:
        if not found.enough:
            return {}, 0, ""
        if found.group_tallies:
            ids = list(found.tallies)
            return (
                opinion_ops.group_consensus(found.group_tallies, ids, "agree"),
                len(found.group_tallies),
                "",
            )
    key = f"{opinion_ops.cache_key(conversation)}:long-list"
    cached = cache.get(key)
    if cached is not None:
        return cached
    from changebank.analysis.opinion import OpinionGroups

    frame = opinion_ops.votes_frame(conversation)
    try:
        model = OpinionGroups(random_state=0).fit(frame)
        agree = model.consensus_["agree"]
    except (ValueError, ArithmeticError) as error:
        return {}, 0, f"{conversation.topic}: the opinion groups could not be found ({error})."
    out = ({int(k): float(v) for k, v in agree.items()}, int(model.n_groups_), "")
    cache.set(key, out, 24 * 3600)
    return out


def statement_figures(programme: Programme) -> tuple[dict[int, list[StatementFigure]], list[str]]:
    """For each change: the votes on every approved statement linked to it and, where the
    conversation has opinion groups, the statement's group-informed consensus (one opinion-group
    analysis per conversation, :func:`conversation_consensus`); and notes on conversations whose
    groups could not be found."""

    statements = list(
        Statement.objects.filter(
            conversation__programme=programme, change__isnull=False, status=Moderation.APPROVED
        ).select_related("conversation")
    )
    if not statements:
        return {}, []
    tallies: dict[int, Counter] = defaultdict(Counter)
    for statement_id, vote, n in (
        StatementVote.objects.filter(statement__in=statements)
        .values_list("statement_id", "vote")
        .annotate(n=Count("id"))
        .order_by()
    ):
        tallies[statement_id][vote] = n
    by_conversation: dict[int, list[Statement]] = defaultdict(list)
    for statement in statements:
        by_conversation[statement.conversation_id].append(statement)
    out: dict[int, list[StatementFigure]] = defaultdict(list)
    notes = []
    for items in by_conversation.values():
        conversation = items[0].conversation
        consensus, n_groups, note = conversation_consensus(conversation)
        if note:
            notes.append(note)
        for s in items:
            votes = sum(tallies[s.pk].values())
            out[s.change_id].append(
                StatementFigure(
                    conversation_id=conversation.pk,
                    conversation_slug=conversation.slug,
                    topic=conversation.topic,
                    statement_id=s.pk,
                    text=s.text,
                    consensus=consensus.get(s.pk),
                    groups=n_groups,
                    votes=votes,
                    agree=tallies[s.pk][1] / votes if votes else None,
                )
            )
    return out, notes


def long_list(programme: Programme) -> tuple[list[Row], list[str]]:
    """Every distinct change of the programme with its figures (unsorted), and notes."""
    people = people_counts(programme)
    delphi = delphi_figures(programme)
    pairwise = pairwise_figures(programme)
    statements, notes = statement_figures(programme)
    rows = []
    for change in programme.distinct_changes.order_by("-count", "id"):
        n_people, unknown = people.get(change.pk, (0, 0))
        rows.append(
            Row(
                change=change,
                people=n_people,
                unknown=unknown,
                delphi=delphi.get(change.pk),
                pairwise=pairwise.get(change.pk, []),
                statements=statements.get(change.pk, []),
            )
        )
    return rows, notes


# --- filters and sorting --------------------------------------------------------------------------

SORTS = {
    "priority": "Priority",
    "change": "Change, A to Z",
    "count": "Submissions",
    "people": "People",
    "median": "Delphi median",
    "classification": "Delphi classification",
    "rsa": "RSA category",
    "pairwise": "Pairwise score",
    "consensus": "Statement consensus",
}
#: The direction each sort starts in when chosen (the "best" first for figures).
DEFAULT_DESCENDING = {
    "priority",
    "count",
    "people",
    "median",
    "classification",
    "pairwise",
    "consensus",
}


class LongListForm(forms.Form):
    q = forms.CharField(required=False, max_length=200)
    method = forms.ChoiceField(
        required=False,
        choices=[
            ("", "Any change"),
            ("any", "With a result from any method"),
            ("delphi", "With Delphi results"),
            ("pairwise", "With a pairwise score"),
            ("statements", "With a statement consensus"),
            ("none", "Not yet in any method"),
        ],
    )
    classification = forms.ChoiceField(
        required=False,
        choices=[("", "Any"), *CLASSIFICATION_LABELS.items()],
    )
    rsa = forms.ChoiceField(required=False, choices=[("", "Any"), *RSA_LABELS.items()])
    min_people = forms.IntegerField(required=False, min_value=0, max_value=1_000_000)
    sort = forms.ChoiceField(required=False, choices=list(SORTS.items()))
    dir = forms.ChoiceField(
        required=False,
        choices=[("", "Best first"), ("desc", "Highest first"), ("asc", "Lowest first")],
    )


def filter_rows(rows: list[Row], params: dict[str, Any]) -> list[Row]:
    words = (params.get("q") or "").casefold().split()
    method = params.get("method") or ""
    out = []
    for row in rows:
        haystack = f"{row.change.name} {row.change.text}".casefold()
        if words and not all(w in haystack for w in words):
            continue
        has = {
            "delphi": row.delphi is not None and row.delphi.n > 0,
            "pairwise": row.best_pairwise is not None,
            "statements": any(s.votes for s in row.statements),
        }
        if method in has and not has[method]:
            continue
        if method == "any" and not any(has.values()):
            continue
        if method == "none" and any(has.values()):
            continue
        if params.get("classification") and (
            row.delphi is None or row.delphi.classification != params["classification"]
        ):
            continue
        if params.get("rsa") and (row.delphi is None or params["rsa"] not in row.delphi.rsa):
            continue
        if params.get("min_people") and row.people < params["min_people"]:
            continue
        out.append(row)
    return out


def _value(row: Row, key: str) -> Any:
    """The value a column sorts by; None when the change has no figure there."""
    d, p, s = row.delphi, row.best_pairwise, row.best_statement
    if key == "count":
        return row.change.count
    if key == "people":
        return row.people
    if key == "median":
        return d.median if d else None
    if key == "classification":
        return CLASSIFICATION_RANK.get(d.classification) if d and d.classification else None
    if key == "rsa":
        return RSA_ORDER[d.rsa[0]] if d and d.rsa else None
    if key == "pairwise":
        return p.score if p else None
    if key == "consensus":
        return s.consensus if s and s.consensus is not None else None
    if key == "change":
        return row.title.casefold()
    raise KeyError(key)


def _priority(row: Row) -> tuple:
    """Consensus in first, then no consensus, then disagreement, then changes no panel has
    rated, then consensus out (a panel agreed to let it go); within those by median benefit,
    pairwise score, statement consensus, people and submissions, a missing figure below any
    present one."""

    def present(value: Any) -> tuple[int, Any]:
        return (0, 0) if value is None else (1, value)

    rank = _value(row, "classification")
    return (
        1 if rank is None else (0 if rank == CLASSIFICATION_RANK["out"] else rank + 1),
        present(_value(row, "median")),
        present(_value(row, "pairwise")),
        present(_value(row, "consensus")),
        row.people,
        row.change.count,
    )


def sort_rows(rows: list[Row], key: str, descending: bool) -> list[Row]:
    """Sorted by ``key``; changes without a figure there always come last; ties keep the order
    of the long list (most often raised first)."""
    if key == "priority":
        ordered = sorted(rows, key=_priority, reverse=descending)
    else:
        present = [r for r in rows if _value(r, key) is not None]
        missing = [r for r in rows if _value(r, key) is None]
        ordered = sorted(present, key=lambda r: _value(r, key), reverse=descending) + missing
    for n, row in enumerate(ordered, start=1):
        row.position = n
    return ordered


def _sorting(params: dict[str, Any]) -> tuple[str, bool]:
    key = params.get("sort") or "priority"
    direction = params.get("dir") or ""
    descending = key in DEFAULT_DESCENDING if not direction else direction == "desc"
    return key, descending


# --- formatting --------------------------------------------------------------------------------------


def pct(value: float | None, places: int = 0) -> str:
    if value is None or not math.isfinite(value):
        return ""
    return f"{100 * value:.{places}f}%"


def median_text(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def order_label(key: str, descending: bool) -> str:
    if key == "change":
        return "Z to A" if descending else "A to Z"
    if key == "priority":
        return "best first" if descending else "best last"
    return "highest first" if descending else "lowest first"


# --- pages -------------------------------------------------------------------------------------------


def _prepare(
    request: HttpRequest, slug: str
) -> tuple[Programme, LongListForm, dict, list[Row], list[str], int, str, bool]:
    programme = programme_or_404(slug)
    form = LongListForm(request.GET or None)
    params = form.cleaned_data if form.is_valid() else {}
    rows, notes = long_list(programme)
    total = len(rows)
    key, descending = _sorting(params)
    rows = sort_rows(filter_rows(rows, params), key, descending)
    return programme, form, params, rows, notes, total, key, descending


def analysts_only(view: Any) -> Any:
    for perm in reversed(PERMISSIONS):
        view = needs_permission(perm)(view)
    return view


@analysts_only
def long_list_page(request: HttpRequest, slug: str) -> HttpResponse:
    programme, form, params, rows, notes, total, key, descending = _prepare(request, slug)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    columns = [
        ("change", "Change", False),
        ("count", "Submissions", True),
        ("people", "People", True),
        ("median", "Delphi median", True),
        ("classification", "Delphi classification", False),
        ("rsa", "RSA category", False),
        ("pairwise", "Pairwise score", True),
        ("consensus", "Statement consensus", True),
    ]
    headers = []
    for column, label, numeric in columns:
        current = column == key
        if current:
            next_dir = "asc" if descending else "desc"
        else:
            next_dir = "desc" if column in DEFAULT_DESCENDING else "asc"
        headers.append(
            {
                "key": column,
                "label": label,
                "numeric": numeric,
                "current": current,
                "aria_sort": ("descending" if descending else "ascending") if current else None,
                "next_dir": next_dir,
                "next_label": "highest first"
                if next_dir == "desc"
                else "lowest first"
                if column != "change"
                else ("Z to A" if next_dir == "desc" else "A to Z"),
            }
        )
    summary = {
        "delphi": sum(1 for r in rows if r.delphi and r.delphi.n),
        "pairwise": sum(1 for r in rows if r.best_pairwise),
        "statements": sum(1 for r in rows if any(s.votes for s in r.statements)),
    }
    return render(
        request,
        "decide/long_list.html",
        {
            "programme": programme,
            "form": form,
            "page": page,
            "rows": page.object_list,
            "total": total,
            "found": len(rows),
            "filtered": any(
                v not in (None, "") for k, v in params.items() if k not in ("sort", "dir")
            ),
            "headers": headers,
            "sort": key,
            "sort_label": SORTS.get(key, key),
            "order_label": order_label(key, descending),
            "descending": descending,
            "summary": summary,
            "notes": notes,
            "pct": pct,
            "median_text": median_text,
            "links": {
                "delphi": lambda f: link(
                    "decide:delphi_results", programme.slug, f.panel_id, f.number
                ),
                "pairwise": lambda f: link(
                    "decide:pairwise_results", programme.slug, f.survey_slug
                ),
                "statement": lambda f: link(
                    "decide:conversation_results", programme.slug, f.conversation_slug
                ),
                "change": lambda c: link("understand:distinct_change_detail", programme.slug, c.pk),
            },
            "page_title": f"The prioritised long list: {programme.title}",
        },
    )


CSV_COLUMNS = [
    "position",
    "change_id",
    "name",
    "text",
    "submissions",
    "people",
    "submissions_not_identified",
    "delphi_panel",
    "delphi_round",
    "delphi_scale",
    "delphi_n",
    "delphi_median",
    "delphi_classification",
    "delphi_rsa_most_common",
    "delphi_rsa_n",
    "pairwise_survey",
    "pairwise_score_percent",
    "pairwise_low_95_percent",
    "pairwise_high_95_percent",
    "pairwise_comparisons",
    "pairwise_rank",
    "pairwise_ideas",
    "pairwise_surveys",
    "statement_conversation",
    "statement_id",
    "statement",
    "statement_consensus",
    "statement_groups",
    "statement_votes",
    "statement_agree_percent",
    "statements",
]


def _pct_number(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}"


def csv_row(row: Row) -> list[Any]:
    d, p, s = row.delphi, row.best_pairwise, row.best_statement
    text = [neutralise(row.change.name), neutralise(row.change.text)]
    delphi = (
        [
            neutralise(d.panel),
            d.number,
            neutralise(d.scale),
            d.n,
            median_text(d.median),
            d.classification_label,
            "; ".join(d.rsa_labels),
            d.rsa_n,
        ]
        if d
        else [""] * 8
    )
    pairwise = (
        [
            neutralise(p.question),
            _pct_number(p.score),
            _pct_number(p.low),
            _pct_number(p.high),
            p.comparisons,
            p.rank,
            p.ideas,
        ]
        if p
        else [""] * 7
    ) + [len(row.pairwise)]
    statement = (
        [
            neutralise(s.topic),
            s.statement_id,
            neutralise(s.text),
            "" if s.consensus is None else f"{s.consensus:.4f}",
            s.groups,
            s.votes,
            _pct_number(s.agree),
        ]
        if s
        else [""] * 7
    ) + [len(row.statements)]
    return [
        row.position,
        row.change.pk,
        *text,
        row.change.count,
        row.people,
        row.unknown,
        *delphi,
        *pairwise,
        *statement,
    ]


@analysts_only
def long_list_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """The long list as filtered and sorted on the page, every row, as CSV."""
    programme, _, _, rows, _, _, _, _ = _prepare(request, slug)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    stamp = timezone.localdate().isoformat()
    response["Content-Disposition"] = (
        f'attachment; filename="{programme.slug}-long-list-{stamp}.csv"'
    )
    response.write("\ufeff")  # so that spreadsheets read UTF-8
    writer = csv.writer(response)
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        writer.writerow(csv_row(row))
    return response


urlpatterns = [
    path("programmes/<slug:slug>/decide/long-list/", long_list_page, name="long_list"),
    path("programmes/<slug:slug>/decide/long-list.csv", long_list_csv, name="long_list_csv"),
]
