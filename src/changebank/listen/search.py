"""Finding submissions: filters and full-text search (SQLite FTS5; plain matching elsewhere)."""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from .models import Submission

_WORD = re.compile(r"\w+", re.UNICODE)


def search_terms(query: str) -> list[str]:
    """The words of a search box entry, without operators: input can never inject FTS syntax."""
    return _WORD.findall(query)[:20]


def fts_match_expression(terms: list[str]) -> str:
    """An FTS5 MATCH expression: every term must appear (as a prefix), each quoted as a string."""
    return " ".join('"' + t.replace('"', '""') + '"*' for t in terms)


def filter_submissions(qs: QuerySet[Submission], params: dict[str, Any]) -> QuerySet[Submission]:
    """Apply the analyst's filters (cleaned form data) to ``qs``."""
    if params.get("programme"):
        qs = qs.filter(programme=params["programme"])
    if params.get("question"):
        qs = qs.filter(question=params["question"])
    if params.get("role"):
        qs = qs.filter(respondent__role=params["role"])
    if params.get("sector"):
        qs = qs.filter(respondent__sector__iexact=params["sector"])
    if params.get("organisation"):
        qs = qs.filter(respondent__organisation__icontains=params["organisation"])
    if params.get("source"):
        qs = qs.filter(source=params["source"])
    if params.get("received_from"):
        qs = qs.filter(received_at__date__gte=params["received_from"])
    if params.get("received_to"):
        qs = qs.filter(received_at__date__lte=params["received_to"])
    terms = search_terms(params.get("q") or "")
    if terms:
        if connection.vendor == "sqlite":
            matches = RawSQL(
                "SELECT rowid FROM listen_submission_fts WHERE listen_submission_fts MATCH %s",
                [fts_match_expression(terms)],
            )
            qs = qs.filter(id__in=matches)
        else:
            for term in terms:
                qs = qs.filter(text__icontains=term)
    return qs
