"""Finding submissions: filters and full-text search.

SQLite searches its FTS5 table (migration 0002); PostgreSQL matches ``to_tsvector('english', text)``
against a prefix ``tsquery``, answered by the GIN index of migration 0007. Both stem English words
and match every term as a prefix, so a search finds the same submissions on either database.
"""

from __future__ import annotations

import re
from typing import Any

from django.db import connection
from django.db.models import BooleanField, QuerySet
from django.db.models.expressions import RawSQL

from .models import Submission

_WORD = re.compile(r"\w+", re.UNICODE)


def search_terms(query: str) -> list[str]:
    """The words of a search box entry, without operators: input can never inject FTS syntax."""
    return _WORD.findall(query)[:20]


def fts_match_expression(terms: list[str]) -> str:
    """An FTS5 MATCH expression: every term must appear (as a prefix), each quoted as a string."""
    return " ".join('"' + t.replace('"', '""') + '"*' for t in terms)


def tsquery_expression(terms: list[str]) -> str:
    """A PostgreSQL ``to_tsquery`` expression: every term as a quoted prefix, joined by AND."""
    return " & ".join("'" + t.replace("'", "''").replace("\\", "") + "':*" for t in terms)


#: The expression of the GIN index (migration 0007); the query must use it exactly.
PG_MATCH = (
    "to_tsvector('english'::regconfig, listen_submission.text) "
    "@@ to_tsquery('english'::regconfig, %s)"
)


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
        elif connection.vendor == "postgresql":
            # Constant SQL; the search terms are a parameter.
            qs = qs.filter(
                RawSQL(  # noqa: S611  # nosec B611
                    PG_MATCH, [tsquery_expression(terms)], output_field=BooleanField()
                )
            )
        else:
            for term in terms:
                qs = qs.filter(text__icontains=term)
    return qs
