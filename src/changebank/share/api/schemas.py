"""The shapes the API reads and writes, shared by its routers: errors, paging and identifiers."""

from __future__ import annotations

from typing import Annotated, Any

from django.db.models import QuerySet
from ninja import Field, Path, Schema

#: Database keys: positive, and small enough for any database and for JSON numbers.
MAX_ID = 2**53 - 1
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
#: Text without NUL characters (no database stores them).
NO_NUL = r"^[^\x00]*$"
#: A programme's slug, as in its web address.
SLUG = r"^[-a-zA-Z0-9_]+$"
SLUG_PATH = Path(..., pattern=SLUG, max_length=80, description="The programme's slug.")

MAX_PAGE_SIZE = 100
DEFAULT_PAGE_SIZE = 50


class Error(Schema):
    """Every error except a validation error: a sentence saying what went wrong."""

    detail: str


class ErrorItem(Schema):
    """One problem with the request, where it is (``loc``) and what it is (``msg``)."""

    type: str
    loc: list[str | int]
    msg: str


class ValidationErrorOut(Schema):
    """422: the request was understood but its values are not acceptable, one item per problem."""

    detail: list[ErrorItem]


class Paging(Schema):
    """Offset paging: ``limit`` items (at most 100) from ``offset``; the page says the ``count``."""

    limit: int = Field(DEFAULT_PAGE_SIZE, ge=1, le=MAX_PAGE_SIZE, description="Items per page.")
    offset: int = Field(0, ge=0, le=10**9, description="How many items to skip.")


class PageMeta(Schema):
    count: int = Field(description="Items in all pages.")
    limit: int
    offset: int


def page(qs: QuerySet | list, paging: Paging, convert: Any = None) -> dict[str, Any]:
    """One page of ``qs`` (already ordered) as the API returns it."""
    count = qs.count() if isinstance(qs, QuerySet) else len(qs)
    rows = list(qs[paging.offset : paging.offset + paging.limit])
    items = [convert(r) for r in rows] if convert else rows
    return {"count": count, "limit": paging.limit, "offset": paging.offset, "items": items}


def errors_at(prefix: list[str | int], problems: dict[str, list[str]]) -> list[dict[str, Any]]:
    """Problems keyed by field name as 422 items located under ``prefix``."""
    return [
        {"type": "value_error", "loc": [*prefix, name] if name else prefix, "msg": msg}
        for name, messages in problems.items()
        for msg in messages
    ]


#: The error responses every operation may give, to add to its success responses.
PUBLIC_ERRORS: dict[int, Any] = {404: Error, 422: ValidationErrorOut}
SIGNED_IN_ERRORS: dict[int, Any] = {401: Error, 403: Error, 404: Error, 422: ValidationErrorOut}
#: And those of an operation that reads a JSON body (400: it is not JSON).
BODY_ERRORS: dict[int, Any] = {400: Error}
