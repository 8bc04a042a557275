"""Full-text search of submissions: the same answers on SQLite (FTS5) and PostgreSQL (tsvector with
a GIN index), prefixes and stems, operators typed into the box kept as words."""

from __future__ import annotations

import pytest
from django.db import connection

from changebank.listen.models import Submission
from changebank.listen.search import filter_submissions

TEXTS = [
    "The physiotherapist phoned me every week while I was waiting",
    "Waiting times for the clinic were far too long",
    "Video appointments saved me a two hour drive",
    "Staff wore masks and the ward felt safe",
    "Parking at the hospital was free during the pandemic",
    'Quotes "and" odd -characters OR NOT NEAR(things)',
]


@pytest.fixture
def texts(programme):
    made = [
        Submission.objects.create(programme=programme, text=t, dedupe_key=f"s{i}")
        for i, t in enumerate(TEXTS)
    ]
    return {t: s.pk for t, s in zip(TEXTS, made, strict=True)}


def found(programme, q: str) -> list[str]:
    qs = filter_submissions(Submission.objects.filter(programme=programme), {"q": q})
    return sorted(qs.values_list("text", flat=True))


def test_every_word_must_appear_and_words_match_as_prefixes(programme, texts):
    assert found(programme, "physio") == [TEXTS[0]]
    assert found(programme, "wait") == sorted([TEXTS[0], TEXTS[1]])
    assert found(programme, "waiting clinic") == [TEXTS[1]]
    assert found(programme, "video drive") == [TEXTS[2]]
    assert found(programme, "video masks") == []


def test_stems_match(programme, texts):
    # "appointment" finds "appointments"; "phones" would not be a prefix of "phoned", the stem is
    assert found(programme, "appointment") == [TEXTS[2]]
    assert found(programme, "phone") == [TEXTS[0]]


def test_operators_typed_in_the_box_are_only_words(programme, texts):
    for q in ['"and"', "OR NOT", "NEAR(things)", "-characters", "odd*", "a & b | !c", "':*"]:
        found(programme, q)  # never a database error
    assert found(programme, "NEAR things") == [TEXTS[5]]
    assert found(programme, "odd -characters") == [TEXTS[5]]


def test_search_is_updated_when_text_changes_and_rows_go(programme, texts):
    row = Submission.objects.get(pk=texts[TEXTS[3]])
    row.text = "Visors and gowns were always available"
    row.save()
    assert found(programme, "masks") == []
    assert found(programme, "visors") == ["Visors and gowns were always available"]
    row.delete()
    assert found(programme, "visors") == []


@pytest.mark.postgres_only
def test_postgresql_answers_from_the_gin_index(programme, texts):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'listen_submission_text_tsv'"
        )
        (definition,) = cursor.fetchone()
        assert "USING gin" in definition and "to_tsvector('english'::regconfig, text)" in definition
        qs = filter_submissions(Submission.objects.order_by(), {"q": "waiting clinic"})
        sql, params = qs.query.sql_with_params()
        # A table of six rows is read whole whatever the indexes; forbid the plain scans so the
        # planner shows whether the search can be answered from the GIN index (a bitmap scan).
        cursor.execute("ANALYZE listen_submission")
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "listen_submission_text_tsv" in plan, plan
