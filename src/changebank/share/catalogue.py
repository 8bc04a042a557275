"""The public catalogue: published themes and their distinct changes, how many people raised them
and from which groups, redacted quotes, stance, what became of each change (lifecycle stage, RSA
category, public evaluations), search and filters, and "you said, we did" by reference number.

The pages (``share.views.catalogue``) and the JSON API both read the catalogue through here.

What the numbers mean:

* A theme's submissions are those coded with one of its codes (its home codes, and codes that
  also sit under it through ``Code.also_in``); a change's submissions are its ``members``. Only
  submissions approved by moderation count. Experiences added to a theme count once the analysis
  codes them, like any other submission.
* **People** are distinct respondents; a submission with no respondent counts as one person.
* **Groups** are respondents' roles (``listen.models.Role``), counted in people; people who did
  not say are in ``people`` but in no group.
* **Stance** of a submission: an analyst's reading first, then the stance of the question it
  answers (``Question.stance``), then the analysis's reading (``keep``; ``concern`` counts as
  ``never_again``). A change or theme is ``keep`` when keep submissions are at least three times
  the never-again ones, ``never_again`` the other way round, ``mixed`` in between, and ``""``
  when none has a stance.
* **Quotes** come only from :func:`changebank.share.privacy.publishable` submissions and are
  redacted with :func:`changebank.share.privacy.public_text`, as are change texts and names.

Everything is aggregated in the database, a page of cards at a time: a page of themes or changes
costs a fixed number of grouped queries (one pass giving people, groups and stances), plus one or
two small queries per theme for its quotes. Counts of themes and changes with ``CACHE_FROM``
submissions or more are kept in the cache for ``CACHE_SECONDS`` (settings
``CHANGEBANK_CATALOGUE_CACHE_SECONDS``, default 600; the key holds the row's ``updated_at``). The
group and stance filters of themes use those counts; the stance filter of changes lists each
stance's published changes in one grouped pass, cached alike. With 1,000,000 coded submissions in
20 published themes and 2,000 changes (SQLite), the first catalogue page takes about 5 s cold and
0.15 s after; search, filters, permalinks and "you said, we did" 0.01–0.2 s.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    Case,
    CharField,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    Max,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
    Window,
)
from django.db.models.functions import Coalesce, Length, RowNumber
from django.urls import reverse
from django.utils import timezone

from changebank.decide.models import RSA
from changebank.evaluate.models import Evaluation, Stage, TrackedChange
from changebank.listen.models import REFERENCE_ALPHABET, Programme, Role, Submission
from changebank.listen.search import search_terms
from changebank.understand.models import Code, CodeAssignment, DistinctChange, Origin, Theme

from .privacy import public_text, publishable

#: Programmes whose published themes can be seen (unlisted ones only by their links).
VISIBLE = (Programme.Visibility.PUBLIC, Programme.Visibility.UNLISTED)
NOT_DECIDED = "Not yet decided"
#: The ``stage`` filter value for changes no one has taken up yet.
UNDECIDED = "none"
STANCES = {"keep": "Keep", "never_again": "Never again", "mixed": "Mixed views"}
ROLE_LABELS = dict(Role.choices)
#: Role labels as they read in a sentence: "mostly patients (7) and staff (3)".
ROLE_PLURALS = {
    "staff": "staff",
    "patient": "patients",
    "carer": "carers",
    "public": "members of the public",
    "other": "others",
}
APPROVED = Submission.Moderation.APPROVED
MEMBERS = DistinctChange.members.through
QUOTE_MIN, QUOTE_MAX = 20, 600
#: Counts of themes and changes with at least CACHE_FROM submissions are cached this long.
CACHE_SECONDS = int(getattr(settings, "CHANGEBANK_CATALOGUE_CACHE_SECONDS", 600))
CACHE_FROM = 5000


# --- what the pages and the API show --------------------------------------------------------------


@dataclass
class GroupCount:
    group: str  # the role's label, such as "Patient"
    count: int  # people
    key: str = ""  # the role's value, such as "patient" (the ``group`` filter)


@dataclass
class Quote:
    text: str  # redacted
    role: str  # the role's label, or ""


@dataclass
class ChangeCard:
    id: int
    programme_slug: str
    title: str
    text: str
    people: int
    groups: list[GroupCount]
    stance: str  # "keep" | "never_again" | "mixed" | ""
    status: str  # the lifecycle stage's label, or NOT_DECIDED
    stage: str  # the stage's key, or ""
    rsa: str  # the RSA category's label, or ""
    evaluations: list[tuple[str, str]]  # (title, url) of public evaluations
    theme_id: int | None  # a published theme it belongs to
    url: str
    submissions: int = 0
    keep: int = 0
    never_again: int = 0
    programme_title: str = ""
    theme_label: str = ""
    quotes: list[Quote] = field(default_factory=list)  # only from change_card(…, quotes=n)

    @property
    def stance_label(self) -> str:
        return STANCES.get(self.stance, "")

    @property
    def people_phrase(self) -> str:
        return people_phrase(self.people, self.groups)


@dataclass
class ThemeCard:
    id: int
    programme_slug: str
    programme_title: str
    label: str
    meaning: str
    people: int
    submissions: int
    groups: list[GroupCount]
    keep: int
    never_again: int
    quotes: list[Quote]
    changes: list[ChangeCard]
    url: str
    invite_experiences: bool
    stance: str = ""
    change_count: int = 0  # all its published changes (``changes`` may hold fewer)

    @property
    def stance_label(self) -> str:
        return STANCES.get(self.stance, "")

    @property
    def people_phrase(self) -> str:
        return people_phrase(self.people, self.groups)


@dataclass
class ThemeLink:
    id: int
    label: str
    url: str


@dataclass
class YouSaid:
    reference: str
    programme_title: str
    received: date
    texts: list[str]  # redacted
    themes: list[ThemeLink]
    changes: list[ChangeCard]
    pending: bool  # still waiting for moderation
    not_included: bool = False  # every part was turned down by moderation
    programme_slug: str = ""


def stance_of(keep: int, never_again: int) -> str:
    """``keep`` when keep submissions are at least three times the never-again ones, and so on."""
    if keep == 0 and never_again == 0:
        return ""
    if keep >= 3 * never_again:
        return "keep"
    if never_again >= 3 * keep:
        return "never_again"
    return "mixed"


def people_phrase(people: int, groups: list[GroupCount]) -> str:
    """ "12 people raised this, mostly patients (7) and staff (3)"."""
    head = f"{people:,} {'person' if people == 1 else 'people'} raised this"
    if not groups or not people:
        return head
    shown = [f"{ROLE_PLURALS.get(g.key, g.group.lower())} ({g.count:,})" for g in groups[:3]]
    listed = shown[0] if len(shown) == 1 else ", ".join(shown[:-1]) + " and " + shown[-1]
    word = "mostly" if groups[0].count * 2 >= people else "including"
    return f"{head}, {word} {listed}"


# --- what is published ----------------------------------------------------------------------------


def published_themes(programme: Programme | None = None) -> QuerySet[Theme]:
    """Themes with a PublishedTheme, of public or unlisted programmes."""
    qs = Theme.objects.filter(publication__isnull=False, programme__visibility__in=VISIBLE)
    if programme is not None:
        qs = qs.filter(programme=programme)
    return qs


def published_changes(programme: Programme | None = None) -> QuerySet[DistinctChange]:
    """Distinct changes whose code sits under a published theme (home or shared) of a public or
    unlisted programme."""
    codes = Code.objects.filter(
        Q(theme__publication__isnull=False) | Q(also_in__publication__isnull=False)
    ).values("pk")
    qs = DistinctChange.objects.filter(code__in=codes, programme__visibility__in=VISIBLE)
    if programme is not None:
        qs = qs.filter(programme=programme)
    return qs


def _in_theme(prefix: str = "") -> Q:
    """Codings (``CodeAssignment`` rows, or rows reaching them through ``prefix``) of the theme
    of the outer query."""
    return Q(**{f"{prefix}code__theme": OuterRef("pk")}) | Q(
        **{f"{prefix}code__also_in": OuterRef("pk")}
    )


def theme_members(theme: Theme) -> QuerySet[Submission]:
    """Submissions coded with one of ``theme``'s codes (home or shared), any moderation status."""
    home = CodeAssignment.objects.filter(code__theme=theme).values("submission")
    shared = CodeAssignment.objects.filter(code__also_in=theme).values("submission")
    return Submission.objects.filter(Q(pk__in=home) | Q(pk__in=shared))


# --- counting -------------------------------------------------------------------------------------


def _stance_case(prefix: str = "") -> Case:
    """The stance of a submission (reached through ``prefix``): ``keep``, ``never_again`` or ""."""
    p = prefix
    human = {f"{p}reading__origin": Origin.HUMAN}
    return Case(
        When(**human, **{f"{p}reading__stance": "keep"}, then=Value("keep")),
        When(**human, **{f"{p}reading__stance": "concern"}, then=Value("never_again")),
        When(**{f"{p}question__stance": "keep"}, then=Value("keep")),
        When(**{f"{p}question__stance": "never_again"}, then=Value("never_again")),
        When(**{f"{p}reading__stance": "keep"}, then=Value("keep")),
        When(**{f"{p}reading__stance": "concern"}, then=Value("never_again")),
        default=Value(""),
        output_field=CharField(),
    )


class _CountDistinct(Func):
    """COUNT(DISTINCT x) as a plain expression, for a correlated subquery returning one number."""

    function = "COUNT"
    template = "COUNT(DISTINCT %(expressions)s)"
    output_field = IntegerField()


@dataclass
class _Stats:
    people: int = 0
    submissions: int = 0
    keep: int = 0
    never_again: int = 0
    by_role: dict[str, int] = field(default_factory=dict)

    @property
    def groups(self) -> list[GroupCount]:
        return sorted(
            (GroupCount(ROLE_LABELS.get(r, r), n, r) for r, n in self.by_role.items() if r),
            key=lambda g: (-g.count, g.group),
        )


def _add_rows(stats: dict[int, _Stats], rows: Iterable[dict]) -> None:
    """Fill ``stats`` from rows grouped by owner and role. A submission has one respondent and so
    one role: submissions, people and stances add up across the roles of an owner."""
    for row in rows:
        s = stats.setdefault(row["owner"], _Stats())
        s.people += row["known"] + row["anon"]
        s.submissions += row["subs"]
        s.keep += row["keep"]
        s.never_again += row["never"]
        if row["role"]:
            s.by_role[row["role"]] = s.by_role.get(row["role"], 0) + row["known"]


def _grouped(qs: QuerySet, owner: str, sub: str) -> QuerySet:
    """Rows of ``qs`` grouped by owner and role, with submissions, people and stances, in one
    pass; ``sub`` is the path from a row of ``qs`` to its submission ("" for submissions)."""
    p = f"{sub}__" if sub else ""
    sid = f"{sub}_id" if sub else "id"
    return (
        qs.order_by()
        .annotate(st=_stance_case(p))
        .values(owner=F(owner), role=F(f"{p}respondent__role"))
        .annotate(
            subs=Count(sid, distinct=True),
            known=Count(f"{p}respondent_id", distinct=True),
            anon=Count(sid, distinct=True, filter=Q(**{f"{p}respondent_id": None})),
            keep=Count(sid, distinct=True, filter=Q(st="keep")),
            never=Count(sid, distinct=True, filter=Q(st="never_again")),
        )
    )


def _cached(
    kind: str, model: type, ids: list[int], compute: Callable[[list[int]], dict[int, _Stats]]
) -> dict[int, _Stats]:
    """``compute(ids)``, keeping the counts of large themes and changes (``CACHE_FROM``
    submissions or more, a pass over every one of them) in the cache for ``CACHE_SECONDS``.
    The key holds the row's ``updated_at``, so renaming or regrouping it starts afresh; newly
    coded or moderated submissions show within ``CACHE_SECONDS``. Small ones are always exact."""
    if not ids:
        return {}
    if not CACHE_SECONDS:
        return compute(ids)
    stamps = dict(model.objects.filter(pk__in=ids).values_list("pk", "updated_at"))
    keys = {
        pk: f"catalogue-stats:{kind}:{pk}:{stamps[pk].timestamp() if stamps.get(pk) else 0}"
        for pk in ids
    }
    hits = cache.get_many(list(keys.values()))
    out = {pk: hits[key] for pk, key in keys.items() if key in hits}
    missing = [pk for pk in ids if pk not in out]
    if missing:
        fresh = compute(missing)
        out.update(fresh)
        large = {keys[pk]: fresh[pk] for pk in missing if fresh[pk].submissions >= CACHE_FROM}
        if large:
            cache.set_many(large, CACHE_SECONDS)
    return out


def _theme_stats(theme_ids: list[int]) -> dict[int, _Stats]:
    return _cached("theme", Theme, theme_ids, _count_themes)


def _change_stats(change_ids: list[int]) -> dict[int, _Stats]:
    return _cached("change", DistinctChange, change_ids, _count_changes)


def _count_themes(theme_ids: list[int]) -> dict[int, _Stats]:
    """Counts for each theme: grouped queries for all themes whose codes are all their own, and
    an exact count of the union for the (rare) themes that also hold codes of other themes."""
    stats: dict[int, _Stats] = {pk: _Stats() for pk in theme_ids}
    if not theme_ids:
        return stats
    shared = set(
        Code.also_in.through.objects.filter(theme_id__in=theme_ids).values_list(
            "theme_id", flat=True
        )
    )
    plain = [pk for pk in theme_ids if pk not in shared]
    if plain:
        qs = CodeAssignment.objects.filter(
            code__theme_id__in=plain, submission__moderation_status=APPROVED
        )
        _add_rows(stats, _grouped(qs, "code__theme_id", "submission"))
    for pk in shared:
        qs = theme_members(Theme(pk=pk)).filter(moderation_status=APPROVED)
        _add_rows(stats, _grouped(qs.annotate(owner_id=Value(pk)), "owner_id", ""))
    return stats


def _count_changes(change_ids: list[int]) -> dict[int, _Stats]:
    stats: dict[int, _Stats] = {pk: _Stats() for pk in change_ids}
    if change_ids:
        qs = MEMBERS.objects.filter(
            distinctchange_id__in=change_ids, submission__moderation_status=APPROVED
        )
        _add_rows(stats, _grouped(qs, "distinctchange_id", "submission"))
    return stats


# --- quotes ---------------------------------------------------------------------------------------


def _quotes(pool: QuerySet[Submission], n: int, prefer: list[str] | None = None) -> list[Quote]:
    """Up to ``n`` redacted quotes from ``pool`` (publishable submissions): the analysts' chosen
    quotes first when they are among them, then recent texts of a readable length."""
    if n <= 0:
        return []
    pool = pool.select_related("respondent")
    picked = list(pool.filter(text__in=prefer)[:n]) if prefer else []
    if len(picked) < n:
        rest = (
            pool.exclude(pk__in=[s.pk for s in picked])
            .annotate(chars=Length("text"))
            .filter(chars__gte=QUOTE_MIN, chars__lte=QUOTE_MAX)
            .order_by("-received_at", "-id")[: (n - len(picked)) * 2]
        )
        picked += list(rest)
    out: dict[str, Quote] = {}
    for s in picked:
        text = public_text(s.text).strip()
        if text and text not in out:
            role = s.respondent.role if s.respondent else ""
            out[text] = Quote(text=text, role=ROLE_LABELS.get(role, "") if role else "")
    return list(out.values())[:n]


def theme_quotes(theme: Theme, n: int = 3) -> list[Quote]:
    pool = publishable(theme.programme).filter(
        Exists(CodeAssignment.objects.filter(Q(submission=OuterRef("pk")) & _theme_q(theme)))
    )
    return _quotes(pool, n, prefer=list(theme.chosen_quotes or []))


def _theme_q(theme: Theme) -> Q:
    return Q(code__theme=theme) | Q(code__also_in=theme)


def change_quotes(change: DistinctChange, n: int = 3) -> list[Quote]:
    pool = publishable(change.programme).filter(
        Exists(MEMBERS.objects.filter(submission=OuterRef("pk"), distinctchange=change))
    )
    return _quotes(pool, n)


# --- cards ----------------------------------------------------------------------------------------


def _change_queryset() -> QuerySet[DistinctChange]:
    return DistinctChange.objects.select_related("programme", "code", "code__theme")


def change_cards(changes: Iterable[DistinctChange]) -> list[ChangeCard]:
    """Cards for ``changes`` (published ones), in order, with a fixed number of queries."""
    changes = list(changes)
    ids = [c.pk for c in changes]
    if not ids:
        return []
    stats = _change_stats(ids)
    tracked = {
        t.change_id: t
        for t in TrackedChange.objects.filter(change_id__in=ids).prefetch_related(
            Prefetch(
                "evaluations",
                Evaluation.objects.filter(public=True).order_by("title", "pk"),
                to_attr="public_evaluations",
            )
        )
    }
    code_ids = {c.code_id for c in changes if c.code_id}
    home_published = set(
        Theme.objects.filter(codes__in=code_ids, publication__isnull=False).values_list(
            "pk", flat=True
        )
    )
    shared_published: dict[int, tuple[int, str]] = {}
    for code_id, theme_id, label in (
        Code.also_in.through.objects.filter(code_id__in=code_ids, theme__publication__isnull=False)
        .order_by("theme__position", "theme_id")
        .values_list("code_id", "theme_id", "theme__label")
    ):
        shared_published.setdefault(code_id, (theme_id, label))
    cards = []
    for c in changes:
        s = stats.get(c.pk, _Stats())
        t = tracked.get(c.pk)
        theme_id, theme_label = None, ""
        if c.code is not None and c.code.theme_id in home_published:
            theme_id, theme_label = c.code.theme_id, c.code.theme.label
        elif c.code_id in shared_published:
            theme_id, theme_label = shared_published[c.code_id]
        text = public_text(c.text)
        title = t.title if t and t.title else (public_text(c.name) if c.name else "")
        if not title:
            title = text if len(text) <= 120 else text[:117].rsplit(" ", 1)[0] + "…"
        cards.append(
            ChangeCard(
                id=c.pk,
                programme_slug=c.programme.slug,
                title=title,
                text=text,
                people=s.people,
                groups=s.groups,
                stance=stance_of(s.keep, s.never_again),
                status=t.get_stage_display() if t else NOT_DECIDED,
                stage=t.stage if t else "",
                rsa=t.get_rsa_display() if t and t.rsa else "",
                evaluations=[
                    (e.title, reverse("evaluate:public_evaluation", args=[e.pk]))
                    for e in (t.public_evaluations if t else [])
                ],
                theme_id=theme_id,
                url=reverse("share:catalogue_change", args=[c.pk]),
                submissions=s.submissions,
                keep=s.keep,
                never_again=s.never_again,
                programme_title=c.programme.title,
                theme_label=theme_label,
            )
        )
    return cards


def change_card(change: DistinctChange, *, quotes: int = 0) -> ChangeCard:
    card = change_cards([change])[0]
    card.quotes = change_quotes(change, quotes)
    return card


def theme_changes(theme: Theme) -> QuerySet[DistinctChange]:
    """The published changes of ``theme`` (under its home or shared codes), largest first."""
    codes = Code.objects.filter(Q(theme=theme) | Q(also_in=theme)).values("pk")
    return published_changes().filter(code__in=codes).order_by("-count", "pk")


def _changes_of_themes(
    theme_ids: list[int], n: int
) -> tuple[dict[int, list[DistinctChange]], dict[int, int]]:
    """The ``n`` largest published changes of each theme and how many it has: grouped and
    windowed queries for themes whose codes are all their own, one query each for the (rare)
    themes that also hold codes of other themes."""
    shared = set(
        Code.also_in.through.objects.filter(theme_id__in=theme_ids).values_list(
            "theme_id", flat=True
        )
    )
    plain = [pk for pk in theme_ids if pk not in shared]
    lists: dict[int, list[DistinctChange]] = {pk: [] for pk in theme_ids}
    counts: dict[int, int] = dict.fromkeys(theme_ids, 0)
    base = published_changes().filter(code__theme_id__in=plain)
    counts.update(
        base.order_by().values_list("code__theme_id").annotate(n=Count("pk", distinct=True))
    )
    if n > 0 and plain:
        ranked = (
            _change_queryset()
            .filter(pk__in=base.values("pk"))
            .annotate(
                rank=Window(
                    RowNumber(),
                    partition_by=F("code__theme_id"),
                    order_by=[F("count").desc(), "pk"],
                )
            )
            .filter(rank__lte=n)
            .order_by("-count", "pk")
        )
        for c in ranked:
            lists[c.code.theme_id].append(c)
    for pk in shared:
        qs = theme_changes(Theme(pk=pk))
        counts[pk] = qs.count()
        if n > 0:
            lists[pk] = list(qs.select_related("programme", "code", "code__theme")[:n])
    return lists, counts


def theme_cards(themes: Iterable[Theme], *, quotes: int = 1, changes: int = 3) -> list[ThemeCard]:
    """Cards for ``themes`` (published ones), in order. Counts and the ``changes`` largest changes
    of every theme come from a fixed number of grouped queries (plus two per theme holding codes
    of another theme); quotes cost one or two small queries per theme when ``quotes`` > 0."""
    themes = list(themes)
    ids = [t.pk for t in themes]
    if not ids:
        return []
    stats = _theme_stats(ids)
    publications = dict(
        Theme.objects.filter(pk__in=ids).values_list("pk", "publication__invite_experiences")
    )
    change_lists, change_counts = _changes_of_themes(ids, changes)
    all_changes = [c for cs in change_lists.values() for c in cs]
    by_id = {card.id: card for card in change_cards(all_changes)}
    cards = []
    for t in themes:
        s = stats.get(t.pk, _Stats())
        cards.append(
            ThemeCard(
                id=t.pk,
                programme_slug=t.programme.slug,
                programme_title=t.programme.title,
                label=t.label,
                meaning=t.meaning or t.description,
                people=s.people,
                submissions=s.submissions,
                groups=s.groups,
                keep=s.keep,
                never_again=s.never_again,
                quotes=theme_quotes(t, quotes),
                changes=[by_id[c.pk] for c in change_lists.get(t.pk, [])],
                url=reverse("share:catalogue_theme", args=[t.pk]),
                invite_experiences=bool(publications.get(t.pk)),
                stance=stance_of(s.keep, s.never_again),
                change_count=change_counts.get(t.pk, 0),
            )
        )
    return cards


def theme_card(theme: Theme, *, quotes: int = 3, changes: int = 20) -> ThemeCard:
    return theme_cards([theme], quotes=quotes, changes=changes)[0]


# --- search and filters ---------------------------------------------------------------------------


def _stance_subquery(qs: QuerySet, sub: str, which: str) -> Coalesce:
    counted = (
        qs.annotate(st=_stance_case(f"{sub}__"))
        .filter(st=which)
        .order_by()
        .annotate(c=_CountDistinct(F(f"{sub}_id")))
        .values("c")[:1]
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _filter_stance(qs: QuerySet, stance: str, members: QuerySet, sub: str) -> QuerySet:
    """Keep the rows of ``qs`` whose stance (by the rule of :func:`stance_of`) is ``stance``."""
    if stance not in STANCES:
        return qs
    qs = qs.annotate(
        n_keep=_stance_subquery(members, sub, "keep"),
        n_never=_stance_subquery(members, sub, "never_again"),
    )
    if stance == "keep":
        return qs.filter(n_keep__gt=0, n_keep__gte=3 * F("n_never"))
    if stance == "never_again":
        return qs.filter(n_never__gt=0, n_never__gte=3 * F("n_keep"))
    return qs.filter(n_keep__lt=3 * F("n_never"), n_never__lt=3 * F("n_keep"))


def _stage_q(stage: str, prefix: str = "") -> Q | None:
    if stage == UNDECIDED:
        return Q(**{f"{prefix}tracked__isnull": True})
    if stage in Stage.values:
        return Q(**{f"{prefix}tracked__stage": stage})
    return None


#: Up to this many published changes, the stance filter lists each stance's changes in one
#: grouped pass (cached when there are STANCE_CACHE_FROM or more); beyond, it counts in SQL.
STANCE_LIST_MAX = 20_000
STANCE_CACHE_FROM = 200


def _published_changes_by_stance() -> dict[str, list[int]]:
    """The published changes of each stance, from one grouped pass over their members; {} when
    there are more than STANCE_LIST_MAX of them."""
    published = published_changes()
    n, last = published.order_by().aggregate(n=Count("pk"), last=Max("updated_at")).values()
    if not n or n > STANCE_LIST_MAX:
        return {}
    key = f"catalogue-stances:{n}:{last.timestamp() if last else 0}"
    cached = cache.get(key) if CACHE_SECONDS and n >= STANCE_CACHE_FROM else None
    if cached is not None:
        return cached
    counts: dict[int, list[int]] = {}
    rows = (
        MEMBERS.objects.filter(
            distinctchange__in=published.values("pk"), submission__moderation_status=APPROVED
        )
        .annotate(st=_stance_case("submission__"))
        .exclude(st="")
        .order_by()
        .values_list("distinctchange_id", "st")
        .annotate(c=Count("submission_id"))
    )
    for pk, st, c in rows:
        counts.setdefault(pk, [0, 0])[0 if st == "keep" else 1] += c
    out: dict[str, list[int]] = {key_: [] for key_ in STANCES}
    for pk, (k, never) in counts.items():
        which = stance_of(k, never)
        if which:
            out[which].append(pk)
    if CACHE_SECONDS and n >= STANCE_CACHE_FROM:
        cache.set(key, out, CACHE_SECONDS)
    return out


def search_changes(
    q: str = "",
    *,
    programme: Programme | None = None,
    group: str = "",
    stance: str = "",
    stage: str = "",
    rsa: str = "",
) -> QuerySet[DistinctChange]:
    """Published changes matching every filter, largest first. Without ``programme``, only
    changes of public programmes (unlisted ones are found through their links)."""
    qs = published_changes(programme)
    if programme is None:
        qs = qs.filter(programme__visibility=Programme.Visibility.PUBLIC)
    for term in search_terms(q):
        qs = qs.filter(
            Q(text__icontains=term)
            | Q(name__icontains=term)
            | Q(code__label__icontains=term)
            | Q(pk__in=TrackedChange.objects.filter(title__icontains=term).values("change_id"))
        )
    if group in ROLE_LABELS:
        qs = qs.filter(
            Exists(
                MEMBERS.objects.filter(
                    distinctchange=OuterRef("pk"),
                    submission__moderation_status=APPROVED,
                    submission__respondent__role=group,
                )
            )
        )
    stage_q = _stage_q(stage)
    if stage_q is not None:
        qs = qs.filter(stage_q)
    if rsa in RSA.values:
        qs = qs.filter(tracked__rsa=rsa)
    if stance in STANCES:
        ids = _published_changes_by_stance().get(stance)
        if ids is not None:
            qs = qs.filter(pk__in=ids)
        else:  # too many to list: count in the query itself
            members = MEMBERS.objects.filter(
                distinctchange=OuterRef("pk"), submission__moderation_status=APPROVED
            )
            qs = _filter_stance(qs, stance, members, "submission")
    return qs.select_related("programme", "code", "code__theme").order_by("-count", "pk")


def search_themes(
    q: str = "",
    *,
    programme: Programme | None = None,
    group: str = "",
    stance: str = "",
    stage: str = "",
    rsa: str = "",
) -> QuerySet[Theme]:
    """Published themes matching every filter: the words anywhere in the theme (label, meaning,
    description, its codes' labels) or in one of its published changes; a group that raised it;
    its stance; a change of it at that stage or in that RSA category. Largest first."""
    qs = published_themes(programme)
    if programme is None:
        qs = qs.filter(programme__visibility=Programme.Visibility.PUBLIC)
    changes = published_changes()
    for term in search_terms(q):
        matching = changes.filter(
            Q(text__icontains=term)
            | Q(name__icontains=term)
            | Q(pk__in=TrackedChange.objects.filter(title__icontains=term).values("change_id"))
        )
        qs = qs.filter(
            Q(label__icontains=term)
            | Q(meaning__icontains=term)
            | Q(description__icontains=term)
            | Exists(
                Code.objects.filter(
                    Q(theme=OuterRef("pk")) | Q(also_in=OuterRef("pk")), label__icontains=term
                )
            )
            | Exists(matching.filter(_in_theme()))
        )
    stage_q = _stage_q(stage)
    if stage_q is not None:
        qs = qs.filter(Exists(changes.filter(_in_theme(), stage_q)))
    if rsa in RSA.values:
        qs = qs.filter(Exists(changes.filter(_in_theme(), tracked__rsa=rsa)))
    if group in ROLE_LABELS or stance in STANCES:
        # from each theme's counts (cached when large): published themes are few, their
        # submissions many
        stats = _theme_stats(list(qs.values_list("pk", flat=True)))
        keep = [
            pk
            for pk, s in stats.items()
            if (group not in ROLE_LABELS or s.by_role.get(group))
            and (stance not in STANCES or stance_of(s.keep, s.never_again) == stance)
        ]
        qs = qs.filter(pk__in=keep)
    size = (
        Code.objects.filter(theme=OuterRef("pk"))
        .order_by()
        .values("theme")
        .annotate(total=Sum("size"))
        .values("total")
    )
    return (
        qs.select_related("programme", "publication")
        .annotate(approx_size=Coalesce(Subquery(size, output_field=IntegerField()), 0))
        .order_by("-approx_size", "label", "pk")
    )


def search_catalogue(
    q: str = "",
    *,
    programme: Programme | None = None,
    group: str = "",
    stance: str = "",
    stage: str = "",
    rsa: str = "",
    limit: int | None = 50,
) -> tuple[list[ThemeCard], list[ChangeCard]]:
    """Cards of the themes and changes matching every filter (the first ``limit`` of each; the
    pages paginate :func:`search_themes` and :func:`search_changes` instead)."""
    filters = {"programme": programme, "group": group, "stance": stance, "stage": stage, "rsa": rsa}
    themes = search_themes(q, **filters)
    changes = search_changes(q, **filters)
    if limit is not None:
        themes, changes = themes[:limit], changes[:limit]
    return theme_cards(themes), change_cards(changes)


# --- you said, we did -----------------------------------------------------------------------------

_NOT_REFERENCE = re.compile(r"[\s\-–—_./]+")


def normalise_reference(value: str) -> str | None:
    """``CB-7K3M-Q9XD`` from what someone typed ("cb 7k3m q9xd", "7K3MQ9XD", …), or None when it
    cannot be a reference number."""
    raw = _NOT_REFERENCE.sub("", (value or "").upper())
    if len(raw) == 10 and raw.startswith("CB"):
        raw = raw[2:]
    if len(raw) != 8 or any(ch not in REFERENCE_ALPHABET for ch in raw):
        return None
    return f"CB-{raw[:4]}-{raw[4:]}"


def you_said(reference: str) -> YouSaid | None:
    """What became of the answers given under ``reference``: their redacted texts, the published
    themes and changes they are part of. None when the reference is malformed or unknown (or
    belongs to a private programme)."""
    ref = normalise_reference(reference)
    if ref is None:
        return None
    subs = list(
        Submission.objects.filter(reference=ref, programme__visibility__in=VISIBLE)
        .select_related("programme")
        .order_by("received_at", "pk")
    )
    if not subs:
        return None
    programme = subs[0].programme
    subs = [s for s in subs if s.programme_id == programme.pk]
    approved = [s for s in subs if s.moderation_status == APPROVED]
    pending = not approved and any(
        s.moderation_status == Submission.Moderation.PENDING for s in subs
    )
    ids = [s.pk for s in approved]
    themes: list[ThemeLink] = []
    changes: list[ChangeCard] = []
    if ids:
        found = (
            published_themes(programme)
            .filter(Exists(CodeAssignment.objects.filter(_in_theme(), submission_id__in=ids)))
            .order_by("position", "pk")
        )
        themes = [
            ThemeLink(t.pk, t.label, reverse("share:catalogue_theme", args=[t.pk])) for t in found
        ]
        changes = change_cards(
            published_changes(programme)
            .filter(
                Exists(MEMBERS.objects.filter(distinctchange=OuterRef("pk"), submission_id__in=ids))
            )
            .select_related("programme", "code", "code__theme")
            .order_by("-count", "pk")
        )
    return YouSaid(
        reference=ref,
        programme_title=programme.title,
        received=timezone.localdate(subs[0].received_at),
        texts=[t for t in (public_text(s.text).strip() for s in approved) if t],
        themes=themes,
        changes=changes,
        pending=pending,
        not_included=not approved and not pending,
        programme_slug=programme.slug,
    )
