"""Public endpoints: the catalogue of published themes and distinct changes.

Everything comes from :mod:`changebank.share.catalogue`, which the catalogue pages read too: only
published themes of public and unlisted programmes, counts of approved submissions, and quotes
from publishable submissions, redacted. Without a ``programme`` filter, lists hold public
programmes only (unlisted ones are reached through their slug).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any, Literal

from django.http import Http404, HttpRequest
from ninja import Field, Query, Router, Schema

from changebank.decide.models import RSA
from changebank.evaluate.models import Stage
from changebank.listen.models import Programme, Role
from changebank.share import catalogue

from .schemas import NO_NUL, SLUG, Error, Id, PageMeta, Paging, ValidationErrorOut, page

router = Router(tags=["Catalogue"])

GroupKey = Literal[tuple(Role.values)]  # type: ignore[valid-type]
StageKey = Literal[(*Stage.values, catalogue.UNDECIDED)]  # type: ignore[valid-type]
RsaKey = Literal[tuple(RSA.values)]  # type: ignore[valid-type]
StanceKey = Literal["keep", "never_again", "mixed"]


class GroupOut(Schema):
    key: str = Field(description="The role, as used by the `group` filter.")
    group: str = Field(description="The role as it reads.")
    count: int = Field(description="People of this group who raised it.")


class QuoteOut(Schema):
    text: str = Field(description="Redacted: personal data replaced by placeholders.")
    role: str


class LinkOut(Schema):
    title: str
    url: str


class ProgrammeRef(Schema):
    slug: str
    title: str


class ThemeRef(Schema):
    id: int
    label: str


class ChangeOut(Schema):
    id: int
    programme: ProgrammeRef
    title: str
    text: str = Field(description="The representative wording, redacted.")
    people: int
    submissions: int
    groups: list[GroupOut]
    stance: Literal["keep", "never_again", "mixed", ""]
    keep: int
    never_again: int
    status: str = Field(description="Where the change is in its lifecycle.")
    stage: str = Field(description="The lifecycle stage's key, or empty if not yet decided.")
    rsa: str = Field(description="Its RSA category (amplify, end, restart, let go), if any.")
    evaluations: list[LinkOut] = Field(description="Its public evaluations.")
    theme: ThemeRef | None
    url: str = Field(description="Its page in the catalogue.")
    quotes: list[QuoteOut]


class ThemeOut(Schema):
    id: int
    programme: ProgrammeRef
    label: str
    meaning: str
    people: int
    submissions: int
    groups: list[GroupOut]
    stance: Literal["keep", "never_again", "mixed", ""]
    keep: int
    never_again: int
    quotes: list[QuoteOut]
    changes: list[ChangeOut] = Field(description="Its largest published changes.")
    change_count: int = Field(description="All its published changes.")
    invite_experiences: bool
    url: str = Field(description="Its page in the catalogue.")


class ThemePage(PageMeta):
    items: list[ThemeOut]


class ChangePage(PageMeta):
    items: list[ChangeOut]


class CatalogueFilters(Schema):
    programme: str | None = Field(None, max_length=80, pattern=SLUG, description="A slug.")
    q: str | None = Field(None, max_length=200, pattern=NO_NUL, description="Words to find.")
    group: GroupKey | None = Field(None, description="Raised by people of this role.")
    stance: StanceKey | None = None
    stage: StageKey | None = Field(None, description="A lifecycle stage, or `none`.")
    rsa: RsaKey | None = None


def _change(card: catalogue.ChangeCard) -> dict[str, Any]:
    return {
        **asdict(card),
        "programme": {"slug": card.programme_slug, "title": card.programme_title},
        "groups": [asdict(g) for g in card.groups],
        "quotes": [asdict(q) for q in card.quotes],
        "evaluations": [{"title": t, "url": u} for t, u in card.evaluations],
        "theme": {"id": card.theme_id, "label": card.theme_label} if card.theme_id else None,
    }


def _theme(card: catalogue.ThemeCard) -> dict[str, Any]:
    return {
        **asdict(card),
        "programme": {"slug": card.programme_slug, "title": card.programme_title},
        "groups": [asdict(g) for g in card.groups],
        "quotes": [asdict(q) for q in card.quotes],
        "changes": [_change(c) for c in card.changes],
    }


def _filters(filters: CatalogueFilters) -> dict[str, Any]:
    programme = None
    if filters.programme:
        programme = (
            Programme.objects.filter(slug=filters.programme, visibility__in=catalogue.VISIBLE)
        ).first()
        if programme is None:
            raise Http404("No such programme.")
    return {
        "programme": programme,
        "group": filters.group or "",
        "stance": filters.stance or "",
        "stage": filters.stage or "",
        "rsa": filters.rsa or "",
    }


@router.get(
    "/catalogue/themes",
    response={200: ThemePage, 404: Error, 422: ValidationErrorOut},
    summary="Published themes",
    description="Largest first, each with up to 3 of its changes and a quote.",
)
def list_themes(
    request: HttpRequest, filters: Query[CatalogueFilters], paging: Query[Paging]
) -> dict:
    qs = catalogue.search_themes(filters.q or "", **_filters(filters))
    result = page(qs, paging)
    result["items"] = [_theme(c) for c in catalogue.theme_cards(result["items"])]
    return result


@router.get(
    "/catalogue/themes/{theme_id}",
    response={200: ThemeOut, 404: Error, 422: ValidationErrorOut},
    summary="A published theme, with its changes and quotes",
)
def get_theme(request: HttpRequest, theme_id: Id) -> dict:
    theme = catalogue.published_themes().select_related("programme").filter(pk=theme_id).first()
    if theme is None:
        raise Http404("No such published theme.")
    return _theme(catalogue.theme_card(theme))


@router.get(
    "/catalogue/changes",
    response={200: ChangePage, 404: Error, 422: ValidationErrorOut},
    summary="Published distinct changes",
    description="The changes under published themes, largest first.",
)
def list_changes(
    request: HttpRequest, filters: Query[CatalogueFilters], paging: Query[Paging]
) -> dict:
    qs = catalogue.search_changes(filters.q or "", **_filters(filters))
    result = page(qs, paging)
    result["items"] = [_change(c) for c in catalogue.change_cards(result["items"])]
    return result


@router.get(
    "/catalogue/changes/{change_id}",
    response={200: ChangeOut, 404: Error, 422: ValidationErrorOut},
    summary="A published change, with quotes",
)
def get_change(request: HttpRequest, change_id: Id) -> dict:
    change = (
        catalogue.published_changes()
        .select_related("programme", "code", "code__theme")
        .filter(pk=change_id)
        .first()
    )
    if change is None:
        raise Http404("No such published change.")
    return _change(catalogue.change_card(change, quotes=3))
