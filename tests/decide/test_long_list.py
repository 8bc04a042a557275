"""The prioritised long list, on hand-made data: who raised each change, the latest closed Delphi
round's results, pairwise scores, statement consensus, sorting, filters, the CSV download, and
that each method is computed once per page."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from changebank.decide import opinion as opinion_ops
from changebank.decide.models import (
    Conversation,
    DelphiAnswer,
    DelphiRound,
    Idea,
    PairPrompt,
    PairwiseSurvey,
    Panel,
    PanelMember,
    Statement,
    StatementVote,
    Status,
)
from changebank.decide.views import longlist
from changebank.listen.models import Respondent, Submission
from changebank.understand.models import DistinctChange

SCALES = [
    {"key": "benefit", "label": "Benefit", "low": "None", "high": "Great"},
    {"key": "feasibility", "label": "Feasibility", "low": "Hard", "high": "Easy"},
]


def submission(programme, n, respondent=None):
    return Submission.objects.create(
        programme=programme,
        respondent=respondent,
        text=f"comment {n}",
        source="web",
        reference=f"CB-{n:04d}",
        dedupe_key=f"k{n}",
    )


@pytest.fixture
def data(programme):
    """Four changes. Video (A) was rated in two closed rounds, the later one counting; Parking (B)
    in the first round only; Phone (C) is only in an open round; Letters (D) has nothing."""
    p = programme
    a = DistinctChange.objects.create(
        programme=p, text="Keep video appointments", name="Video", count=3
    )
    b = DistinctChange.objects.create(programme=p, text="Free parking for staff", count=2)
    c = DistinctChange.objects.create(programme=p, text="Phone triage for GP", count=5)
    d = DistinctChange.objects.create(programme=p, text="=Letters by email", count=1)
    people = [Respondent.objects.create(programme=p) for _ in range(3)]
    n = 0
    for change, who in ((a, [0, 0, 1]), (b, [1, 2]), (c, [None] * 4 + [2]), (d, [None])):
        for k in who:
            n += 1
            change.members.add(submission(p, n, people[k] if k is not None else None))

    panel = Panel.objects.create(programme=p, name="Lived experience")
    members = [
        PanelMember.objects.create(panel=panel, name=f"M{i}", group="patient" if i < 5 else "staff")
        for i in range(10)
    ]
    now = timezone.now()
    r1 = DelphiRound.objects.create(
        panel=panel,
        number=1,
        status=Status.CLOSED,
        scales=SCALES,
        rules={},
        closes_at=now - timedelta(days=10),
    )
    r1.changes.set([a, b])
    r2 = DelphiRound.objects.create(
        panel=panel,
        number=2,
        status=Status.CLOSED,
        scales=SCALES,
        rules={},
        closes_at=now - timedelta(days=1),
    )
    r2.changes.set([a])
    r3 = DelphiRound.objects.create(
        panel=panel, number=3, status=Status.OPEN, scales=SCALES, rules={}
    )
    r3.changes.set([a, c])

    def answer(r, change, ratings, rsa):
        for m, (rating, category) in zip(members, zip(ratings, rsa, strict=True), strict=False):
            DelphiAnswer.objects.create(
                round=r,
                member=m,
                change=change,
                ratings={"benefit": rating, "feasibility": 5},
                rsa=category,
            )

    # round 1: A split; B rated low (consensus out), mostly "let go"
    answer(r1, a, [1, 2, 3, 9, 9, 9, 1, 2, 8, 9], ["amplify"] * 5 + ["end"] * 5)
    answer(r1, b, [1, 1, 2, 2, 3, 3, 1, 2, 3, 5], ["let_go"] * 7 + ["restart"] * 3)
    # round 2: A high (consensus in), mostly "amplify"
    answer(r2, a, [7, 8, 9, 9, 8, 7, 8, 9, 6, 8], ["amplify"] * 8 + ["end"] * 2)
    # round 3 (open): must not count
    answer(r3, a, [1] * 10, ["end"] * 10)
    answer(r3, c, [9] * 10, ["amplify"] * 10)

    survey = PairwiseSurvey.objects.create(
        programme=p, slug="keep", question="Which is better?", status=Status.OPEN
    )
    ia = Idea.objects.create(survey=survey, text="Video", change=a)
    ib = Idea.objects.create(survey=survey, text="Parking", change=b)
    ix = Idea.objects.create(survey=survey, text="Something else")
    votes = (
        [(ia, ib, "left")] * 8
        + [(ib, ia, "left")] * 2
        + [(ia, ix, "left")] * 5
        + [(ix, ib, "left")] * 5
    )
    votes += [(ia, ib, "cant_decide")]
    for k, (left, right, choice) in enumerate(votes):
        PairPrompt.objects.create(
            survey=survey,
            session_key=f"s{k % 4}",
            left=left,
            right=right,
            choice=choice,
            answered_at=now,
        )

    conversation = Conversation.objects.create(
        programme=p, slug="talk", topic="What should stay?", status=Status.OPEN
    )
    s1 = Statement.objects.create(
        conversation=conversation, text="Video calls should stay", change=a
    )
    s2 = Statement.objects.create(
        conversation=conversation, text="Parking should be free", change=b
    )
    for k in range(6):
        StatementVote.objects.create(statement=s1, participant=f"v{k}", vote=1 if k < 5 else -1)
        StatementVote.objects.create(statement=s2, participant=f"v{k}", vote=1 if k < 2 else 0)
    return {
        "a": a,
        "b": b,
        "c": c,
        "d": d,
        "r1": r1,
        "r2": r2,
        "survey": survey,
        "s1": s1,
        "s2": s2,
        "conversation": conversation,
    }


@pytest.fixture
def staff(client, analyst):
    client.force_login(analyst)
    return client


def rows_by_change(programme):
    rows, _ = longlist.long_list(programme)
    return {row.change.pk: row for row in rows}


def test_figures(programme, data):
    rows = rows_by_change(programme)
    a, b, c, d = (rows[data[k].pk] for k in "abcd")

    assert (a.people, a.unknown) == (2, 0)
    assert (b.people, b.unknown) == (2, 0)
    assert (c.people, c.unknown) == (1, 4)
    assert (d.people, d.unknown) == (0, 1)

    # Delphi: A from round 2 (the latest closed), B from round 1, C only in an open round
    assert a.delphi.round_id == data["r2"].pk and a.delphi.number == 2
    assert a.delphi.median == 8.0 and a.delphi.n == 10
    assert a.delphi.classification == "in"
    assert a.delphi.rsa == ["amplify"] and a.delphi.rsa_n == 10
    assert b.delphi.round_id == data["r1"].pk
    assert b.delphi.median == 2.0 and b.delphi.classification == "out"
    assert b.delphi.rsa == ["let_go"]
    assert c.delphi is None and d.delphi is None

    # pairwise: A beat B and X; the unlinked idea is not a change
    assert a.best_pairwise.score > 0.5 > b.best_pairwise.score
    assert a.best_pairwise.low < a.best_pairwise.score < a.best_pairwise.high
    assert a.best_pairwise.rank == 1 and a.best_pairwise.ideas == 3
    assert a.best_pairwise.comparisons == 15  # decisive votes only
    assert c.pairwise == [] and d.pairwise == []

    # statements: 6 voters are too few for opinion groups: votes and agreement only
    assert a.best_statement.votes == 6 and a.best_statement.agree == pytest.approx(5 / 6)
    assert a.best_statement.consensus is None
    assert b.best_statement.agree == pytest.approx(2 / 6)


def test_group_informed_consensus(programme, data, monkeypatch):
    """Π over the conversation's opinion groups of (agrees + 1) / (votes + 2)."""
    s1, s2 = data["s1"].pk, data["s2"].pk
    T = opinion_ops.Tally
    found = opinion_ops.compute_results(data["conversation"])
    found.enough = True
    found.group_tallies = {
        0: {s1: T(agree=4, disagree=0, passed=0), s2: T(agree=1, disagree=0, passed=3)},
        1: {s1: T(agree=1, disagree=1, passed=0), s2: T(agree=1, disagree=1, passed=0)},
    }
    monkeypatch.setattr(opinion_ops, "results", lambda conversation, **kw: found)
    rows = rows_by_change(programme)
    a, b = rows[data["a"].pk], rows[data["b"].pk]
    assert a.best_statement.consensus == pytest.approx((5 / 6) * (2 / 4))
    assert b.best_statement.consensus == pytest.approx((2 / 6) * (2 / 4))
    assert a.best_statement.groups == 2


def test_consensus_from_the_conversations_opinion_groups(programme, data):
    """Enough voters, in two camps: every camp agrees with the video statement, the camps split
    on parking. The groups come from the conversation's clustering, whichever way it is run."""
    conversation, s1, s2 = data["conversation"], data["s1"], data["s2"]
    others = [
        Statement.objects.create(conversation=conversation, text=f"Other statement {k}")
        for k in range(6)
    ]
    StatementVote.objects.all().delete()
    for k in range(24):
        camp = k % 2
        voter = f"voter-{k}"
        StatementVote.objects.create(statement=s1, participant=voter, vote=1)
        StatementVote.objects.create(statement=s2, participant=voter, vote=1 if camp else -1)
        for j, other in enumerate(others):
            StatementVote.objects.create(
                statement=other, participant=voter, vote=1 if (j % 2 == camp) else -1
            )
    rows = rows_by_change(programme)
    a, b = rows[data["a"].pk].best_statement, rows[data["b"].pk].best_statement
    assert a.groups >= 2 and a.votes == 24
    assert a.consensus == pytest.approx((13 / 14) ** a.groups, rel=0.2)
    assert a.consensus > 0.7 > 0.2 > b.consensus


def test_each_method_is_computed_once_per_page(staff, programme, data, monkeypatch):
    from changebank.decide import pairwise as pairwise_ops

    calls = {"pairwise": 0, "opinion": 0}
    real_pairwise, real_opinion = pairwise_ops.results, opinion_ops.results

    def count_pairwise(survey):
        calls["pairwise"] += 1
        return real_pairwise(survey)

    def count_opinion(conversation, **kw):
        calls["opinion"] += 1
        return real_opinion(conversation, **kw)

    monkeypatch.setattr(pairwise_ops, "results", count_pairwise)
    monkeypatch.setattr(opinion_ops, "results", count_opinion)
    url = reverse("decide:long_list", args=[programme.slug])
    staff.get(url)  # fills the opinion results' cache and the session
    with CaptureQueriesContext(connection) as few:
        staff.get(url)
    # 40 more changes, each with a submission: the number of queries does not grow with them
    for k in range(40):
        change = DistinctChange.objects.create(
            programme=programme, text=f"Another change {k}", count=1
        )
        change.members.add(submission(programme, 1000 + k))
    with CaptureQueriesContext(connection) as many:
        response = staff.get(url)
    assert response.status_code == 200
    assert len(many.captured_queries) == len(few.captured_queries)
    assert calls == {"pairwise": 3, "opinion": 3}  # one survey, one conversation, three pages


def test_page(staff, programme, data):
    url = reverse("decide:long_list", args=[programme.slug])
    page = staff.get(url).content.decode()
    assert "The prioritised long list" in page
    assert "How each figure was computed" in page
    assert "Consensus in" in page and "Consensus out" in page
    assert "Amplify" in page and "Let go" in page
    # priority: A (consensus in), then C and D (not rated: C raised by more people), then B
    # (consensus out: the panel agreed to let it go)
    body = page[page.index('id="long-list"') :]
    order = [body.index(t) for t in ("Video", "Phone triage", "Letters by email", "Free parking")]
    assert order == sorted(order)
    page = staff.get(url, {"sort": "count"}).content.decode()
    assert 'aria-sort="descending"><a href="?sort=count&amp;dir=asc#results">Submissions' in page


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"sort": "count", "dir": "desc"}, ["c", "a", "b", "d"]),
        ({"sort": "count", "dir": "asc"}, ["d", "b", "a", "c"]),
        ({"sort": "people"}, ["a", "b", "c", "d"]),
        ({"sort": "median", "dir": "asc"}, ["b", "a", "c", "d"]),  # without a median: last
        ({"sort": "pairwise"}, ["a", "b", "c", "d"]),
        ({"sort": "pairwise", "dir": "asc"}, ["b", "a", "c", "d"]),
        ({"sort": "change"}, ["d", "b", "c", "a"]),  # "=Letters…", "Free…", "Phone…", "Video"
        ({"method": "delphi"}, ["a", "b"]),
        ({"method": "none"}, ["c", "d"]),
        ({"method": "statements", "sort": "consensus"}, ["a", "b"]),
        ({"classification": "out"}, ["b"]),
        ({"rsa": "amplify"}, ["a"]),
        ({"min_people": "2", "sort": "count"}, ["a", "b"]),
        ({"q": "parking STAFF"}, ["b"]),
    ],
)
def test_sorting_and_filters(staff, programme, data, params, expected):
    url = reverse("decide:long_list_csv", args=[programme.slug])
    response = staff.get(url, params)
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert [int(r["change_id"]) for r in rows] == [data[k].pk for k in expected]
    assert [int(r["position"]) for r in rows] == list(range(1, len(expected) + 1))


def test_csv(staff, programme, data):
    response = staff.get(reverse("decide:long_list_csv", args=[programme.slug]))
    assert "attachment" in response["Content-Disposition"]
    rows = {
        int(r["change_id"]): r
        for r in csv.DictReader(io.StringIO(response.content.decode("utf-8-sig")))
    }
    a, d = rows[data["a"].pk], rows[data["d"].pk]
    assert a["name"] == "Video" and a["people"] == "2"
    assert a["delphi_round"] == "2" and a["delphi_median"] == "8"
    assert a["delphi_classification"] == "Consensus in"
    assert a["delphi_rsa_most_common"] == "Amplify"
    assert float(a["pairwise_score_percent"]) > 50
    assert a["statement_votes"] == "6" and a["statement_agree_percent"] == "83.3"
    assert d["text"] == "'=Letters by email"  # never a spreadsheet formula
    assert d["delphi_median"] == "" and d["pairwise_score_percent"] == ""


def test_analysts_only(client, programme, data):
    from django.contrib.auth.models import Group, User

    from changebank.core.roles import ensure_roles

    url = reverse("decide:long_list", args=[programme.slug])
    assert client.get(url).status_code == 302
    ensure_roles()
    member = User.objects.create_user("pm", password="a-long-test-password")
    member.groups.add(Group.objects.get(name="panel member"))
    client.force_login(member)
    assert client.get(url).status_code == 403
    assert client.get(reverse("decide:long_list_csv", args=[programme.slug])).status_code == 403


def test_empty_programme(staff, programme):
    page = staff.get(reverse("decide:long_list", args=[programme.slug])).content.decode()
    assert "0 changes" in page
