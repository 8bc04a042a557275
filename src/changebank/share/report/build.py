"""Everything a themed report shows, gathered from the database into a plain tree of dataclasses.

The renderers (HTML, PDF, Word) only read this tree: they make no queries. Every count is
aggregated in the database (a programme can hold a million submissions), and every quote comes
from :func:`changebank.share.privacy.publishable` and goes through
:func:`changebank.share.privacy.public_text`.

What counts as a submission here: an approved one (what the analysis reads). "What must not come
back" is what submissions with a *concern* stance said (the stance read by the analysis or set by
an analyst), together with every answer to a question whose stance is "never again".
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet
from django.db.models.functions import Length, Trim
from django.utils import timezone

from changebank.listen.models import Programme, Role, Submission
from changebank.share.privacy import public_text, publishable
from changebank.understand.models import (
    Code,
    CodeAssignment,
    CodingDecision,
    CodingSample,
    DistinctChange,
    Origin,
    Stance,
    Theme,
    TrainingRound,
)

#: Quotes longer than this are cut at a word boundary.
QUOTE_MAX = 500
#: Quotes shorter than this say too little to illustrate a theme (unless analysts chose them).
QUOTE_MIN = 25
#: Organisations shown in each theme's "who said it"; the rest are grouped as "Other".
TOP_ORGANISATIONS = 5
#: Groups listed in the method section for each kind of group.
TOP_GROUPS = 10
CHANGES_PER_THEME = 5
NEVER_AGAIN_CHANGES = 8
NEVER_AGAIN_QUOTES = 6
NOT_STATED = "Not stated"
STANCE_WORDS = {
    "keep": "describe something to keep",
    "concern": "describe something that must not come back",
    "mixed": "are mixed",
}
OTHER = "Other"

GROUP_FIELDS = {
    "role": "Role",
    "organisation": "Organisation",
    "sector": "Sector",
    "region": "Region",
}


# --- the tree ----------------------------------------------------------------------------------


@dataclass
class Row:
    """One bar of a chart or one row of a table: a group and how many."""

    label: str
    n: int
    share: float = 0.0  # of the breakdown's total, 0 to 1

    @property
    def percent(self) -> str:
        return percent(self.share)


@dataclass
class Breakdown:
    """How many submissions (or people) of each group; a chart and its table."""

    key: str  # a unique id for the chart (HTML ids, file names)
    title: str  # "Who said it: by role"
    dimension: str  # role, organisation, sector, region
    unit: str  # "submissions" or "people"
    rows: list[Row]
    total: int
    groups: int = 0  # distinct known groups (before keeping the top ones)

    @property
    def caption(self) -> str:
        return self.title

    def describe(self) -> str:
        """The numbers in words: the chart's description and alternative text."""
        if not self.rows:
            return f"{self.title}: no {self.unit}."
        parts = [f"{r.label}: {r.n:,} ({r.percent})" for r in self.rows]
        return f"{self.title}, {self.total:,} {self.unit} in all. " + "; ".join(parts) + "."


@dataclass
class Quote:
    text: str
    attribution: str = ""


@dataclass
class Change:
    text: str
    count: int
    concern: int = 0
    theme: str = ""


@dataclass
class ThemeSection:
    pk: int
    anchor: str
    number: int
    label: str
    description: str
    meaning: str
    keywords: list[str]
    submissions: int
    share: float
    contributors: int
    codes: list[Row]
    stance: list[Row]
    quotes: list[Quote]
    who: list[Breakdown]
    changes: list[Change]
    published: bool = False
    finalised: bool = False

    @property
    def percent(self) -> str:
        return percent(self.share)

    @property
    def stance_text(self) -> str:
        """ "Of these, 115 (61%) describe something to keep and 54 (29%) something that must not
        come back." (empty when no stance was read)."""
        parts = [f"{r.n:,} ({r.percent}) {STANCE_WORDS.get(r.label, r.label)}" for r in self.stance]
        if not parts:
            return ""
        if len(parts) > 1:
            parts[-1] = "and " + parts[-1]
        return "Of these, " + (", " if len(parts) > 2 else " ").join(parts) + "."


@dataclass
class BigPictureRow:
    label: str
    anchor: str
    submissions: int
    share: float
    concern: int = 0

    @property
    def percent(self) -> str:
        return percent(self.share)


@dataclass
class NeverAgain:
    submissions: int  # submissions with a concern stance or answering a never-again question
    share: float
    questions: list[str]  # the never-again questions asked
    themes: list[BigPictureRow]
    changes: list[Change]
    quotes: list[Quote]

    @property
    def percent(self) -> str:
        return percent(self.share)


@dataclass
class SampleAgreement:
    name: str
    coders: int
    sample_size: int
    coded_by_all: int
    exact: int
    kappa: float | None
    kappa_band: str
    alpha: float | None
    alpha_band: str
    decisions_agreed: float | None
    kappa_name: str = "Cohen's kappa"


@dataclass
class AiAgreement:
    decisions: int
    compared: int
    sample_f1: float | None
    mean_kappa: float | None
    kappa_band: str
    rounds: int
    latest_round: int | None
    latest_examples: int


@dataclass
class Method:
    submissions: int
    contributors: int
    anonymous_submissions: int
    not_analysed: list[Row]  # pending or rejected by moderation
    first: dt.date | None
    last: dt.date | None
    sources: list[Row]
    questions: list[Row]
    groups: list[Breakdown]  # people reached, by role, organisation, sector, region
    derivation: list[str]  # how themes were derived, in sentences
    run: dict[str, Any]  # the latest analysis run: date, models, settings, summary
    work: list[str]  # how the AI and the analysts worked together
    double_coding: list[SampleAgreement]
    ai: AiAgreement | None
    quotes_policy: str

    @property
    def date_range(self) -> str:
        if self.first is None:
            return ""
        if self.first == self.last:
            return long_date(self.first)
        return f"{long_date(self.first)} to {long_date(self.last)}"


@dataclass
class Report:
    title: str
    programme: str
    slug: str
    summary: str
    organiser: str
    date: dt.date
    published_only: bool
    total: int  # approved submissions
    themed: int  # submissions under at least one theme of the report
    big_picture: list[BigPictureRow]
    themes: list[ThemeSection]
    never_again: NeverAgain
    method: Method
    notes: list[str] = field(default_factory=list)

    @property
    def date_text(self) -> str:
        return long_date(self.date)

    @property
    def kind(self) -> str:
        return "Public report of published themes" if self.published_only else "Themed report"


# --- helpers -----------------------------------------------------------------------------------


def percent(share: float) -> str:
    if not share:
        return "0%"
    value = 100 * share
    if value < 1:
        return "<1%"
    return f"{value:.0f}%"


def long_date(value: dt.date) -> str:
    return f"{value.day} {value:%B %Y}"


def _share(n: int, total: int) -> float:
    return n / total if total else 0.0


def _cut(text: str, limit: int = QUOTE_MAX) -> str:
    text = " ".join((text or "").split())
    if len(text) <= limit:
        return text
    cut = text[:limit].rsplit(" ", 1)[0].rstrip(",;:.-–— ")
    return cut + "…"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:40] or "theme"


def _group_label(dimension: str, value: Any) -> str:
    if value in (None, ""):
        return NOT_STATED
    if dimension == "role":
        try:
            return str(Role(value).label)
        except ValueError:
            return str(value)
    return str(value)


def _attribution(role: str | None, sector: str | None) -> str:
    parts = []
    if role:
        parts.append(_group_label("role", role))
    if sector:
        parts.append(sector)
    return ", ".join(parts)


def concern_q(prefix: str = "") -> Q:
    """Submissions that say what must not come back: concern stance or a never-again question."""
    return Q(**{f"{prefix}reading__stance": Stance.CONCERN}) | Q(
        **{f"{prefix}question__stance": "never_again"}
    )


def approved(programme: Programme) -> QuerySet[Submission]:
    return Submission.objects.filter(
        programme=programme, moderation_status=Submission.Moderation.APPROVED
    )


def _per_theme(
    theme_ids: list[int],
    shared: set[int],
    *,
    by: str,
) -> dict[int, dict[Any, int]]:
    """Distinct submissions under each theme, grouped by the submission field ``by``: one
    aggregate query for every theme's home codes; themes that also hold shared codes (rare) are
    counted again exactly, home and shared together."""
    out: dict[int, dict[Any, int]] = {t: {} for t in theme_ids}
    if not theme_ids:
        return out
    base = CodeAssignment.objects.filter(submission__moderation_status="approved")
    rows = (
        base.filter(code__theme_id__in=theme_ids)
        .values_list("code__theme_id", f"submission__{by}")
        .annotate(n=Count("submission", distinct=True))
        .order_by()
    )
    for theme_id, key, n in rows:
        out[theme_id][key] = n
    for theme_id in shared & set(theme_ids):
        rows = (
            base.filter(Q(code__theme_id=theme_id) | Q(code__also_in=theme_id))
            .values_list(f"submission__{by}")
            .annotate(n=Count("submission", distinct=True))
            .order_by()
        )
        out[theme_id] = dict(rows)
    return out


def _theme_totals(theme_ids: list[int], shared: set[int]) -> dict[int, dict[str, int]]:
    """For each theme: distinct submissions (``n``), contributors (``people``) and submissions
    saying what must not come back (``concern``), in one aggregate query (plus one for each
    theme holding shared codes)."""
    aggregates = {
        "n": Count("submission", distinct=True),
        "people": Count("submission__respondent", distinct=True),
        "concern": Count("submission", filter=concern_q("submission__"), distinct=True),
    }
    out = {t: dict.fromkeys(aggregates, 0) for t in theme_ids}
    if not theme_ids:
        return out
    base = CodeAssignment.objects.filter(submission__moderation_status="approved")
    for row in (
        base.filter(code__theme_id__in=theme_ids)
        .values("code__theme_id")
        .annotate(**aggregates)
        .order_by()
    ):
        out[row["code__theme_id"]] = {k: row[k] for k in aggregates}
    for theme_id in shared & set(theme_ids):
        out[theme_id] = base.filter(
            Q(code__theme_id=theme_id) | Q(code__also_in=theme_id)
        ).aggregate(**aggregates)
    return out


def _breakdown(
    key: str,
    title: str,
    dimension: str,
    unit: str,
    counts: dict[Any, int],
    *,
    top: int | None = None,
    total: int | None = None,
) -> Breakdown:
    """A breakdown from raw counts: largest first, "Not stated" and "Other" last."""
    known = sorted(
        ((_group_label(dimension, k), n) for k, n in counts.items() if k not in (None, "")),
        key=lambda kn: (-kn[1], kn[0]),
    )
    merged: dict[str, int] = {}
    for label, n in known:  # two values with the same label (e.g. role labels) add up
        merged[label] = merged.get(label, 0) + n
    known = sorted(merged.items(), key=lambda kn: (-kn[1], kn[0]))
    unknown = sum(n for k, n in counts.items() if k in (None, ""))
    total = sum(counts.values()) if total is None else total
    rows = [Row(label, n, _share(n, total)) for label, n in known[:top]]
    if top is not None and len(known) > top:
        rest = sum(n for _, n in known[top:])
        others = len(known) - top
        rows.append(
            Row(f"{OTHER} ({others:,} more)", rest, _share(rest, total)),
        )
    if unknown:
        rows.append(Row(NOT_STATED, unknown, _share(unknown, total)))
    return Breakdown(key, title, dimension, unit, rows, total, groups=len(known))


def _known(counts: dict[Any, int]) -> bool:
    return any(k not in (None, "") and n for k, n in counts.items())


# --- quotes ------------------------------------------------------------------------------------


def _quotable_texts(programme: Programme, candidates: Iterable[str]) -> dict[str, tuple]:
    """Of the candidate texts (stripped), those a publishable submission says, with the
    contributor's role and sector: one query per 500 candidates."""
    wanted = list(dict.fromkeys(c.strip() for c in candidates if c and c.strip()))
    found: dict[str, tuple] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        rows = (
            publishable(programme)
            .annotate(stripped=Trim("text"))
            .filter(stripped__in=chunk)
            .values_list("stripped", "respondent__role", "respondent__sector")
        )
        for text, role, sector in rows:
            found.setdefault(text, (role, sector))
    return found


def _theme_quotes(
    programme: Programme,
    themes: list[Theme],
    codes_by_theme: dict[int, list[Code]],
    per_theme: int,
    shared: set[int],
) -> dict[int, list[Quote]]:
    """Up to ``per_theme`` quotes for each theme: those the analysts chose first, then the codes'
    representative texts (largest codes first), then the most confidently coded submissions;
    only from publishable submissions, always redacted."""
    if per_theme <= 0:
        return {t.pk: [] for t in themes}
    chosen: dict[int, list[str]] = {}
    proposed: dict[int, list[str]] = {}
    chosen_ids: set[int] = set()
    for theme in themes:
        picks = []
        for item in theme.chosen_quotes or []:
            if isinstance(item, dict):
                item = item.get("text") or item.get("submission") or ""
            if isinstance(item, int):
                chosen_ids.add(item)
                picks.append(item)
            elif isinstance(item, str) and item.strip():
                picks.append(item.strip())
        chosen[theme.pk] = picks
        proposed[theme.pk] = [
            q.strip()
            for code in codes_by_theme.get(theme.pk, [])
            for q in (code.quotes or [])[:3]
            if isinstance(q, str) and len(q.strip()) >= QUOTE_MIN
        ]
    texts = [p for picks in chosen.values() for p in picks if isinstance(p, str)]
    texts += [p for picks in proposed.values() for p in picks]
    quotable = _quotable_texts(programme, texts)
    by_id: dict[int, tuple] = {}
    if chosen_ids:
        for pk, text, role, sector in (
            publishable(programme)
            .filter(pk__in=chosen_ids)
            .values_list("pk", "text", "respondent__role", "respondent__sector")
        ):
            by_id[pk] = (text.strip(), role, sector)

    out: dict[int, list[Quote]] = {}
    for theme in themes:
        seen: set[str] = set()
        quotes: list[Quote] = []

        def add(text: str, role: str | None, sector: str | None) -> bool:
            key = " ".join(text.lower().split())
            if key in seen or len(quotes) >= per_theme:  # noqa: B023 (used at once)
                return False
            shown = _cut(public_text(text))
            if not shown:
                return False
            seen.add(key)  # noqa: B023
            quotes.append(Quote(shown, _attribution(role, sector)))  # noqa: B023
            return True

        for pick in chosen[theme.pk]:
            if isinstance(pick, int):
                if pick in by_id:
                    add(*by_id[pick])
            elif pick in quotable:
                add(pick, *quotable[pick])
        for text in proposed[theme.pk]:
            if text in quotable:
                add(text, *quotable[text])
        if len(quotes) < per_theme:
            _fill_quotes(programme, theme, theme.pk in shared, per_theme - len(quotes), add)
        out[theme.pk] = quotes
    return out


def _fill_quotes(
    programme: Programme, theme: Theme, has_shared: bool, wanted: int, add: Any
) -> None:
    """Quotes from the theme's most confidently coded submissions, checked for publication a
    batch at a time (no scan of the whole programme per theme)."""
    home = Q(code__theme=theme)
    if has_shared:
        home |= Q(code__also_in=theme)
    ranked = (
        CodeAssignment.objects.filter(home, primary=True)
        .exclude(code__is_empty_answer=True)
        .order_by(F("confidence").desc(nulls_last=True), "submission_id")
        .values_list("submission_id", flat=True)
    )
    found = 0
    for start in range(0, 2_000, 250):
        batch = list(ranked[start : start + 250])
        if not batch:
            break
        rows = {
            pk: (text, role, sector)
            for pk, text, role, sector in publishable(programme)
            .filter(pk__in=batch)
            .annotate(length=Length("text"))
            .filter(length__gte=QUOTE_MIN, length__lte=QUOTE_MAX * 2)
            .values_list("pk", "text", "respondent__role", "respondent__sector")
        }
        for pk in batch:
            if pk in rows and add(rows[pk][0].strip(), rows[pk][1], rows[pk][2]):
                found += 1
                if found >= wanted:
                    return


def _change_texts(programme: Programme, changes: Iterable[DistinctChange]) -> dict[int, str]:
    """What to show for each distinct change: the name analysts gave it, or its representative
    wording when a publishable member of the change says exactly that (redacted); changes with
    neither are left out. One query for all the changes."""
    changes = list(changes)
    unnamed = [c.pk for c in changes if not c.name.strip()]
    said: set[int] = set()
    if unnamed:
        # the members saying the representative wording (few), then which may be published
        saying = list(
            DistinctChange.members.through.objects.filter(
                distinctchange_id__in=unnamed, submission__text=F("distinctchange__text")
            ).values_list("distinctchange_id", "submission_id")[:5_000]
        )
        quotable = set(
            publishable(programme)
            .filter(pk__in={sub for _, sub in saying})
            .values_list("pk", flat=True)
        )
        said = {change for change, sub in saying if sub in quotable}
    out = {}
    for change in changes:
        if change.name.strip():
            out[change.pk] = change.name.strip()
        elif change.pk in said:
            out[change.pk] = _cut(public_text(change.text), 300)
    return out


# --- the report --------------------------------------------------------------------------------


def build_report(
    programme: Programme, *, published_only: bool = False, quotes_per_theme: int = 4
) -> Report:
    """Gather the themed report of ``programme``: every theme (an analyst's report) or, with
    ``published_only``, only the themes published in the catalogue (the public report)."""
    subs = approved(programme)
    totals = subs.aggregate(
        n=Count("pk"),
        people=Count("respondent", distinct=True),
        anonymous=Count("pk", filter=Q(respondent=None)),
        first=Min("received_at"),
        last=Max("received_at"),
    )
    total = totals["n"]

    # themes: those with at least one code that is not "no comment given"
    real_codes = Code.objects.filter(theme=OuterRef("pk"), is_empty_answer=False)
    themes_qs = (
        Theme.objects.filter(programme=programme)
        .filter(Q(Exists(real_codes)) | Q(shared_codes__is_empty_answer=False))
        .distinct()
    )
    if published_only:
        themes_qs = themes_qs.filter(publication__isnull=False)
    published_ids = set(
        Theme.objects.filter(programme=programme, publication__isnull=False).values_list(
            "pk", flat=True
        )
    )
    themes = list(themes_qs.order_by("position", "pk"))
    theme_ids = [t.pk for t in themes]
    shared = set(
        Code.also_in.through.objects.filter(theme_id__in=theme_ids).values_list(
            "theme_id", flat=True
        )
    )

    totals_by_theme = _theme_totals(theme_ids, shared)
    sizes = {t: v["n"] for t, v in totals_by_theme.items()}
    people = {t: v["people"] for t, v in totals_by_theme.items()}
    concern = {t: v["concern"] for t, v in totals_by_theme.items()}
    stances = _per_theme(theme_ids, shared, by="reading__stance")
    by_role = _per_theme(theme_ids, shared, by="respondent__role")
    by_org = _per_theme(theme_ids, shared, by="respondent__organisation")
    by_sector = _per_theme(theme_ids, shared, by="respondent__sector")
    any_role = any(_known(c) for c in by_role.values())
    any_org = any(_known(c) for c in by_org.values())
    any_sector = any(_known(c) for c in by_sector.values())

    codes_by_theme: dict[int, list[Code]] = {t: [] for t in theme_ids}
    for code in (
        Code.objects.filter(programme=programme, is_empty_answer=False)
        .filter(Q(theme_id__in=theme_ids) | Q(also_in__in=theme_ids))
        .prefetch_related("also_in")
        .distinct()
        .order_by("-size", "pk")
    ):
        homes = {code.theme_id} | {t.pk for t in code.also_in.all()}
        for t in homes:
            if t in codes_by_theme:
                codes_by_theme[t].append(code)
    quotes = _theme_quotes(programme, themes, codes_by_theme, quotes_per_theme, shared)

    themed = 0
    if theme_ids:
        themed = CodeAssignment.objects.filter(
            Q(code__theme_id__in=theme_ids) | Q(code__also_in__in=theme_ids),
            submission__moderation_status="approved",
        ).aggregate(n=Count("submission", distinct=True))["n"]

    # the changes most often described under each theme: repeated ones (one submission is a
    # quote, not a change many described) or ones analysts named
    candidates = {
        t.pk: list(
            DistinctChange.objects.filter(programme=programme, code__theme=t)
            .filter(Q(count__gte=2) | ~Q(name=""))
            .order_by("-count", "pk")[: CHANGES_PER_THEME * 3]
        )
        for t in themes
    }
    change_texts = _change_texts(programme, (c for cs in candidates.values() for c in cs))

    order = sorted(themes, key=lambda t: (-sizes.get(t.pk, 0), t.position, t.pk))
    anchors: dict[int, str] = {}
    sections: list[ThemeSection] = []
    for number, theme in enumerate(order, start=1):
        anchor = f"theme-{number}-{_slug(theme.label)}"
        anchors[theme.pk] = anchor
        n = sizes.get(theme.pk, 0)
        who = []
        if any_role:
            who.append(
                _breakdown(
                    f"{anchor}-role",
                    f"Who said it: {theme.label}, by role",
                    "role",
                    "submissions",
                    by_role[theme.pk],
                    total=n,
                )
            )
        if any_org:
            who.append(
                _breakdown(
                    f"{anchor}-organisation",
                    f"Who said it: {theme.label}, by organisation",
                    "organisation",
                    "submissions",
                    by_org[theme.pk],
                    top=TOP_ORGANISATIONS,
                    total=n,
                )
            )
        if not any_role and not any_org and any_sector:
            who.append(
                _breakdown(
                    f"{anchor}-sector",
                    f"Who said it: {theme.label}, by sector",
                    "sector",
                    "submissions",
                    by_sector[theme.pk],
                    top=TOP_ORGANISATIONS,
                    total=n,
                )
            )
        stance_rows = [
            Row(k, stances[theme.pk][k], _share(stances[theme.pk][k], n))
            for k in STANCE_WORDS
            if stances[theme.pk].get(k)
        ]
        changes = [
            Change(change_texts[c.pk], c.count)
            for c in candidates[theme.pk]
            if c.pk in change_texts
        ][:CHANGES_PER_THEME]
        codes = codes_by_theme.get(theme.pk, [])
        sections.append(
            ThemeSection(
                pk=theme.pk,
                anchor=anchor,
                number=number,
                label=theme.label,
                description=theme.description,
                meaning=theme.meaning,
                keywords=list(theme.keywords or [])[:8],
                submissions=n,
                share=_share(n, total),
                contributors=people.get(theme.pk, 0),
                codes=[Row(c.label, c.size, _share(c.size, n)) for c in codes[:12]],
                stance=stance_rows,
                quotes=quotes.get(theme.pk, []),
                who=who,
                changes=changes,
                published=theme.pk in published_ids,
                finalised=theme.origin == Origin.HUMAN,
            )
        )
    big_picture = [
        BigPictureRow(s.label, s.anchor, s.submissions, s.share, concern.get(s.pk, 0))
        for s in sections
    ]
    never_again = _never_again(
        programme, themes, order, anchors, sizes, concern, total, published_only
    )
    method = _method(programme, subs, totals, themes, published_only)
    notes = []
    if not themes:
        notes.append(
            "No theme has been published yet."
            if published_only
            else "This programme has not been analysed yet: there are no themes to report."
        )
    title = programme.title
    return Report(
        title=title,
        programme=programme.title,
        slug=programme.slug,
        summary=programme.summary,
        organiser=programme.organiser,
        date=timezone.localdate(),
        published_only=published_only,
        total=total,
        themed=themed,
        big_picture=big_picture,
        themes=sections,
        never_again=never_again,
        method=method,
        notes=notes,
    )


def _never_again(
    programme: Programme,
    themes: list[Theme],
    order: list[Theme],
    anchors: dict[int, str],
    sizes: dict[int, int],
    concern: dict[int, int],
    total: int,
    published_only: bool,
) -> NeverAgain:
    theme_ids = [t.pk for t in themes]
    subs = approved(programme).filter(concern_q())
    in_themes = CodeAssignment.objects.filter(
        Q(code__theme_id__in=theme_ids) | Q(code__also_in__in=theme_ids)
    ).values("submission_id")
    if published_only:
        subs = subs.filter(pk__in=in_themes)
    n = subs.count()
    questions = list(
        programme.questions.filter(stance="never_again").values_list("prompt", flat=True)
    )
    rows = [
        BigPictureRow(
            t.label,
            anchors[t.pk],
            concern.get(t.pk, 0),
            _share(concern.get(t.pk, 0), sizes.get(t.pk, 0)),
        )
        for t in order
        if concern.get(t.pk, 0)
    ]
    rows.sort(key=lambda r: -r.submissions)
    changes_qs = DistinctChange.objects.filter(programme=programme)
    if published_only:
        changes_qs = changes_qs.filter(code__theme_id__in=theme_ids)
    changes: list[Change] = []
    candidates: list[DistinctChange] = []
    for change in (
        changes_qs.annotate(
            concern=Count(
                "members",
                filter=Q(members__moderation_status="approved") & concern_q("members__"),
                distinct=True,
            )
        )
        .filter(concern__gt=0)
        .select_related("code__theme")
        .order_by("-concern", "-count", "pk")[: NEVER_AGAIN_CHANGES * 3]
    ):
        candidates.append(change)
    texts = _change_texts(programme, candidates)
    for change in candidates:
        if change.pk in texts and len(changes) < NEVER_AGAIN_CHANGES:
            theme = change.code.theme.label if change.code and change.code.theme else ""
            changes.append(Change(texts[change.pk], change.count, change.concern, theme))
    quote_qs = publishable(programme).filter(concern_q())
    if published_only:
        quote_qs = quote_qs.filter(pk__in=in_themes)
    quotes: list[Quote] = []
    seen: set[str] = set()
    for text, role, sector in (
        quote_qs.annotate(length=Length("text"))
        .filter(length__gte=QUOTE_MIN, length__lte=QUOTE_MAX * 2)
        .order_by("-reading__stance_confidence", "pk")
        .values_list("text", "respondent__role", "respondent__sector")[: NEVER_AGAIN_QUOTES * 4]
    ):
        key = " ".join(text.lower().split())
        shown = _cut(public_text(text))
        if key in seen or not shown:
            continue
        seen.add(key)
        quotes.append(Quote(shown, _attribution(role, sector)))
        if len(quotes) >= NEVER_AGAIN_QUOTES:
            break
    return NeverAgain(n, _share(n, total), questions, rows, changes, quotes)


def _method(
    programme: Programme,
    subs: QuerySet[Submission],
    totals: dict[str, Any],
    themes: list[Theme],
    published_only: bool,
) -> Method:
    total = totals["n"]
    not_analysed = [
        Row(str(Submission.Moderation(status).label), n)
        for status, n in Submission.objects.filter(programme=programme)
        .exclude(moderation_status=Submission.Moderation.APPROVED)
        .values_list("moderation_status")
        .annotate(n=Count("pk"))
        .order_by("moderation_status")
    ]
    sources = [
        Row(str(Submission.Source(src).label), n, _share(n, total))
        for src, n in subs.values_list("source").annotate(n=Count("pk")).order_by("-n")
    ]
    questions = [
        Row(prompt or "No question (documents, transcripts or imported text)", n, _share(n, total))
        for prompt, n in subs.values_list("question__prompt")
        .annotate(n=Count("pk"))
        .order_by("-n")[:12]
    ]
    groups = []
    for dimension, name in GROUP_FIELDS.items():
        counts = dict(
            subs.values_list(f"respondent__{dimension}")
            .annotate(n=Count("respondent", distinct=True))
            .order_by()
        )
        counts.pop(None, None)  # submissions without a respondent
        if not _known(counts):
            continue
        groups.append(
            _breakdown(
                f"reached-{dimension}",
                f"People reached, by {name.lower()}",
                dimension,
                "people",
                counts,
                top=TOP_GROUPS,
                total=totals["people"],
            )
        )

    run = programme.analysis_runs.first()
    run_info: dict[str, Any] = {}
    derivation: list[str] = []
    codes = Code.objects.filter(programme=programme, is_empty_answer=False)
    code_counts = codes.aggregate(
        n=Count("pk"),
        human=Count("pk", filter=Q(origin=Origin.HUMAN) | Q(status=Code.Status.ACCEPTED)),
    )
    all_themes = Theme.objects.filter(programme=programme).aggregate(
        n=Count("pk"),
        human=Count("pk", filter=Q(origin=Origin.HUMAN)),
        meaning=Count("pk", filter=~Q(meaning="")),
    )
    if run is not None:
        models_used = run.models_used or {}
        summary = run.summary or {}
        run_info = {
            "date": long_date(timezone.localtime(run.created_at).date()),
            "model": models_used.get("codes", ""),
            "embedder": models_used.get("embedder", "") or (run.settings or {}).get("embedder", ""),
            "resolution": models_used.get("resolution"),
            "submissions": summary.get("submissions"),
            "codes": summary.get("codes"),
            "themes": summary.get("themes"),
            "distinct_changes": summary.get("distinct_changes"),
            "flagged_for_review": summary.get("flagged_for_review"),
            "seconds": summary.get("seconds"),
        }
        resolution = run_info["resolution"]
        derivation.append(
            f"On {run_info['date']} the analysis read {summary.get('submissions', total):,} "
            f"submissions with {run_info['model'] or 'the changebank theme model'}. Each text was "
            f"turned into a vector by the {run_info['embedder'] or 'sentence'} embedding model; "
            "a graph of each text's nearest neighbours was clustered into codes with the Leiden "
            "algorithm"
            + (
                f" (at resolution {resolution:.2g}, the most stable)"
                if isinstance(resolution, int | float)
                else ""
            )
            + "; each code was labelled by its most distinctive words (class-based TF-IDF) and "
            "its most typical texts; and codes were grouped into themes by agglomerative "
            "clustering of their centres. Low-confidence codings were flagged for an analyst."
        )
        if summary.get("distinct_changes") is not None:
            derivation.append(
                f"Submissions saying the same thing were grouped into "
                f"{summary['distinct_changes']:,} distinct changes; sentiment and stance (keep or "
                "concern) were read for each submission."
            )
    else:
        derivation.append("No automatic analysis has been run: the themes were made by analysts.")
    derivation.append(
        f"Analysts then reviewed the result: {code_counts['human']:,} of {code_counts['n']:,} "
        f"codes were made or accepted by an analyst, {all_themes['human']:,} of "
        f"{all_themes['n']:,} themes were finalised by an analyst and {all_themes['meaning']:,} "
        f"{'was' if all_themes['meaning'] == 1 else 'were'} given a summary of what "
        f"{'it means' if all_themes['meaning'] == 1 else 'they mean'}."
    )
    if published_only:
        derivation.append(
            f"This public report shows the {len(themes):,} themes published in the catalogue."
        )

    assignments = CodeAssignment.objects.filter(code__programme=programme).aggregate(
        n=Count("pk"),
        human=Count("pk", filter=Q(origin=Origin.HUMAN)),
        review=Count("pk", filter=Q(origin=Origin.AI, needs_review=True)),
        coded_by_analysts=Count("submission", filter=Q(origin=Origin.HUMAN), distinct=True),
    )
    decisions = CodingDecision.objects.filter(programme=programme).count()
    work = [
        f"The analysis suggested codes for every submission; analysts coded "
        f"{assignments['coded_by_analysts']:,} submissions themselves "
        f"({assignments['human']:,} of {assignments['n']:,} codings are theirs), and a re-run of "
        "the analysis never overrides an analyst's decision."
    ]
    if assignments["review"]:
        work.append(
            f"{assignments['review']:,} suggestions the analysis was unsure of are flagged for an "
            "analyst to review."
        )
    rounds = list(TrainingRound.objects.filter(programme=programme).order_by("-number")[:50])
    ai = None
    if decisions or rounds:
        from changebank.understand.double import landis_koch
        from changebank.understand.learning import overall_agreement

        overall = overall_agreement(programme) if decisions else {}
        latest = rounds[0] if rounds else None
        ai = AiAgreement(
            decisions=decisions,
            compared=int(overall.get("n_compared") or 0),
            sample_f1=overall.get("sample_f1"),
            mean_kappa=overall.get("mean_kappa"),
            kappa_band=landis_koch(overall.get("mean_kappa")),
            rounds=len(rounds),
            latest_round=latest.number if latest else None,
            latest_examples=latest.n_examples if latest else 0,
        )
        text = (
            f"Analysts made {decisions:,} coding decisions beside the AI's suggestions"
            if decisions
            else "The coding model was retrained"
        )
        if rounds:
            text += (
                f"; the coding model was retrained {len(rounds):,} time"
                f"{'' if len(rounds) == 1 else 's'} on their decisions (latest: "
                f"{latest.n_examples:,} coded submissions)"
            )
        work.append(text + ".")
    double = []
    from changebank.understand.double import agreement as double_agreement

    for sample in CodingSample.objects.filter(
        programme=programme, codings__isnull=False
    ).distinct():
        result = double_agreement(sample)
        if not result.complete:
            continue
        double.append(
            SampleAgreement(
                name=sample.name,
                coders=len(result.coders),
                sample_size=result.n_sample,
                coded_by_all=len(result.complete),
                exact=result.exact,
                kappa=_finite(result.kappa),
                kappa_band=result.kappa_band,
                alpha=_finite(result.alpha),
                alpha_band=result.alpha_band,
                decisions_agreed=_finite(result.decisions_agreed),
                kappa_name="Cohen's kappa" if len(result.coders) == 2 else "Light's kappa",
            )
        )
    basis = (
        "every approved submission whose contributor did not refuse"
        if programme.publication_basis == "all"
        else "approved submissions whose contributors consented to publication"
    )
    policy = (
        f"Quotes are taken only from {basis}, and personal details (names, email addresses, "
        "telephone numbers and other identifiers) are removed before they are shown."
    )
    first, last = totals["first"], totals["last"]
    return Method(
        submissions=total,
        contributors=totals["people"],
        anonymous_submissions=totals["anonymous"],
        not_analysed=not_analysed,
        first=timezone.localtime(first).date() if first else None,
        last=timezone.localtime(last).date() if last else None,
        sources=sources,
        questions=questions,
        groups=groups,
        derivation=derivation,
        run=run_info,
        work=work,
        double_coding=double,
        ai=ai,
        quotes_policy=policy,
    )


def _finite(value: float | None) -> float | None:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return float(value)
