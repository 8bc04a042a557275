"""Pairwise voting (a wiki survey): making a survey, voting exactly once, the per-session limits,
adaptive pairs, participants' ideas and their moderation, and the results."""

from __future__ import annotations

import csv
import io
import re

import pytest
from django.core.cache import cache
from django.db.models import F
from django.test import Client
from django.urls import reverse

from changebank.core.models import AuditEvent
from changebank.decide import pairwise as ops
from changebank.decide.models import Idea, Moderation, PairPrompt, PairwiseSurvey, Status
from changebank.understand.models import DistinctChange

TOKEN = re.compile(r'name="token" value="([^"]+)"')
CHANGES = [
    ("Keep video appointments for follow-ups", 40),
    ("Keep ordering repeat prescriptions online", 30),
    ("Keep the virtual ward", 20),
    ("Keep phone triage at the GP", 10),
    ("Keep the hospital at home team", 5),
]


@pytest.fixture(autouse=True)
def _fresh_cache():
    """The chooser caches exposure counts and scores by survey id, which the next test reuses."""
    cache.clear()


@pytest.fixture
def long_list(programme):
    return [
        DistinctChange.objects.create(programme=programme, text=text, count=n)
        for text, n in CHANGES
    ]


def make_survey(programme, texts, **options) -> PairwiseSurvey:
    options.setdefault("question", "Which change should we keep?")
    survey = ops.create_survey(programme, typed=texts, **options)
    survey.status = Status.OPEN
    survey.save()
    return survey


def url(name, survey, *rest):
    return reverse(f"decide:{name}", args=[survey.programme.slug, survey.slug, *rest])


def show(client, survey) -> str:
    """GET the vote page; return the token of the pair shown."""
    response = client.get(url("pairwise_vote", survey))
    assert response.status_code == 200
    found = TOKEN.search(response.content.decode())
    assert found, "no pair on the vote page"
    return found.group(1)


def post_vote(client, survey, token, choice="left"):
    return client.post(url("pairwise_vote", survey), {"token": token, "choice": choice})


# --- analysts ---------------------------------------------------------------------------------


def test_staff_pages_need_an_analyst(client, programme):
    for name in ("pairwise_list", "pairwise_new"):
        assert client.get(reverse(f"decide:{name}", args=[programme.slug])).status_code == 302


def test_analyst_creates_a_survey_from_the_long_list_and_opens_it(
    client, programme, analyst, long_list
):
    client.force_login(analyst)
    new = reverse("decide:pairwise_new", args=[programme.slug])
    page = client.get(new).content.decode()
    assert "Keep the hospital at home team" in page  # the long list as tick boxes
    response = client.post(
        new,
        {
            "question": "Which change should the NHS keep?",
            "top": "2",
            "changes": [str(long_list[4].pk)],
            "typed": "Keep self-referral to physiotherapy\n\n  keep video appointments for follow-ups ",
            "allow_ideas": "on",
            "votes_per_session": "100",
            "ideas_per_session": "3",
        },
    )
    survey = PairwiseSurvey.objects.get(programme=programme)
    assert response.status_code == 302
    assert response["Location"] == url("pairwise_detail", survey)
    texts = list(survey.ideas.values_list("text", flat=True))
    # the top 2, the ticked one, and one typed line (the other repeats a change of the long list)
    assert texts == [
        "Keep video appointments for follow-ups",
        "Keep ordering repeat prescriptions online",
        "Keep the hospital at home team",
        "Keep self-referral to physiotherapy",
    ]
    assert survey.ideas.filter(change__isnull=False).count() == 3
    assert survey.status == Status.DRAFT and survey.votes_per_session == 100
    assert survey.slug == "which-change-should-the-nhs-keep"
    assert AuditEvent.objects.filter(object_id=f"survey:{survey.pk}").exists()  # bulk ideas
    # a draft is not public
    assert Client().get(url("pairwise_vote", survey)).status_code == 404
    assert Client().get(url("pairwise_results", survey)).status_code == 404
    response = client.post(url("pairwise_status", survey), {"status": "open"}, follow=True)
    assert "The survey is open" in response.content.decode()
    survey.refresh_from_db()
    assert survey.status == Status.OPEN
    assert Client().get(url("pairwise_vote", survey)).status_code == 200
    listing = client.get(reverse("decide:pairwise_list", args=[programme.slug])).content.decode()
    assert "Which change should the NHS keep?" in listing


def test_a_survey_needs_two_ideas(client, programme, analyst, long_list):
    client.force_login(analyst)
    response = client.post(
        reverse("decide:pairwise_new", args=[programme.slug]),
        {"question": "Q?", "top": "1", "votes_per_session": "10", "ideas_per_session": "1"},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "There is a problem" in page and 'href="#id_top"' in page
    assert not PairwiseSurvey.objects.exists()


# --- voting -----------------------------------------------------------------------------------


def test_a_vote_counts_once_however_often_it_is_posted(programme):
    survey = make_survey(programme, ["A", "B", "C"])
    voter = Client()
    token = show(voter, survey)
    first = post_vote(voter, survey, token, "left")
    assert first.status_code == 302 and first["X-Vote-Result"] == "counted"
    assert first["Location"] == url("pairwise_vote", survey)
    again = post_vote(voter, survey, token, "right")  # a replay, or a double click
    assert again.status_code == 302 and again["X-Vote-Result"] == "duplicate"
    prompt = PairPrompt.objects.get(token=token)
    assert prompt.choice == "left" and prompt.answered_at is not None
    assert PairPrompt.objects.filter(answered_at__isnull=False).count() == 1
    page = voter.get(url("pairwise_vote", survey)).content.decode()
    assert "You have voted 1 time" in page


def test_a_vote_from_another_session_is_rejected(programme):
    survey = make_survey(programme, ["A", "B", "C"])
    token = show(Client(), survey)
    intruder = Client()
    intruder.get(url("pairwise_vote", survey))  # has a session of its own
    response = post_vote(intruder, survey, token)
    assert response.status_code == 400 and response["X-Vote-Result"] == "not_yours"
    assert PairPrompt.objects.get(token=token).answered_at is None
    bad = post_vote(Client(), survey, token, "middle")
    assert bad.status_code == 400


def test_the_vote_limit_per_session_is_enforced(programme):
    survey = make_survey(programme, ["A", "B", "C", "D"], votes_per_session=2)
    voter = Client()
    assert post_vote(voter, survey, show(voter, survey))["X-Vote-Result"] == "counted"
    second = show(voter, survey)
    key = voter.session[ops.PARTICIPANT_SESSION_KEY]
    spare = ops.new_prompt(survey, key).token  # a pair open in another tab
    assert post_vote(voter, survey, second, "cant_decide")["X-Vote-Result"] == "counted"
    over = post_vote(voter, survey, spare)
    assert over.status_code == 429 and over["X-Vote-Result"] == "limit"
    page = voter.get(url("pairwise_vote", survey)).content.decode()
    assert "the most one person can cast" in page and 'name="token"' not in page
    assert ops.votes_cast(survey, key) == 2
    # another person may still vote
    other = Client()
    assert post_vote(other, survey, show(other, survey))["X-Vote-Result"] == "counted"


def test_closed_and_private_surveys_take_no_votes(programme):
    survey = make_survey(programme, ["A", "B"])
    voter = Client()
    token = show(voter, survey)
    survey.status = Status.CLOSED
    survey.save()
    response = post_vote(voter, survey, token)
    assert response.status_code == 409 and response["X-Vote-Result"] == "closed"
    assert "This survey is closed" in voter.get(url("pairwise_vote", survey)).content.decode()
    assert voter.get(url("pairwise_results", survey)).status_code == 200  # results stay public
    programme.visibility = "private"
    programme.save()
    assert Client().get(url("pairwise_results", survey)).status_code == 404
    survey.status = Status.OPEN
    survey.save()
    assert Client().get(url("pairwise_vote", survey)).status_code == 404


def test_a_new_idea_is_shown_soon(programme):
    survey = make_survey(programme, [f"Idea {n}" for n in range(12)])
    voter = Client()
    for n in range(150):
        post_vote(voter, survey, show(voter, survey), "left" if n % 3 else "right")
    late = Idea.objects.create(survey=survey, text="A late idea")
    seen = []
    for _ in range(3):
        token = show(Client(), survey)
        prompt = PairPrompt.objects.get(token=token)
        seen.append(late.pk in (prompt.left_id, prompt.right_id))
    assert seen[0], "the least-shown idea should be in the very next pair"
    assert all(seen)
    # pairs never show the same idea twice, and both sides are used
    prompts = PairPrompt.objects.filter(survey=survey)
    assert not prompts.filter(left=F("right")).exists()


def test_participants_add_ideas_that_wait_for_moderation(client, programme, analyst):
    survey = make_survey(programme, ["A", "B"], ideas_per_session=2)
    participant = Client()
    add = url("pairwise_add_idea", survey)
    form = participant.get(add).content.decode()
    assert 'for="idea"' in form
    response = participant.post(add, {"idea": "  Keep   the  walk-in centre open late "})
    assert response.status_code == 302 and response["Location"] == url("pairwise_vote", survey)
    idea = Idea.objects.get(text="Keep the walk-in centre open late")
    assert idea.status == Moderation.PENDING and idea.added_by_participant
    key = participant.session[ops.PARTICIPANT_SESSION_KEY]
    assert idea.session_key == key and key != participant.session.session_key
    thanks = participant.get(url("pairwise_vote", survey)).content.decode()
    assert "Thank you for your idea" in thanks
    # refused: empty, a duplicate, then over the limit
    empty = participant.post(add, {"idea": "   "}).content.decode()
    assert "Enter your idea" in empty and 'href="#idea"' in empty
    dup = participant.post(add, {"idea": "keep the walk-in centre open LATE"}).content.decode()
    assert "already in the survey" in dup
    participant.post(add, {"idea": "A second idea"})
    over = participant.post(add, {"idea": "A third idea"}).content.decode()
    assert "the most one person can add" in over
    assert Idea.objects.filter(added_by_participant=True).count() == 2
    # pending ideas are never in a pair
    for _ in range(10):
        prompt = ops.new_prompt(survey, "someone")
        assert {prompt.left.text, prompt.right.text} == {"A", "B"}
    # the moderation queue
    client.force_login(analyst)
    detail = client.get(url("pairwise_detail", survey)).content.decode()
    assert "Keep the walk-in centre open late" in detail and "Ideas to check" in detail
    response = client.post(url("pairwise_moderate", survey, idea.pk), {"status": "approved"})
    assert response.status_code == 302
    idea.refresh_from_db()
    assert idea.status == Moderation.APPROVED
    assert AuditEvent.objects.filter(
        object_type="decide.idea", object_id=str(idea.pk), action="update"
    ).exists()
    second = Idea.objects.get(text="A second idea")
    client.post(url("pairwise_moderate", survey, second.pk), {"status": "rejected"})
    prompt = ops.new_prompt(survey, "someone else")
    assert idea in (prompt.left, prompt.right)  # approved and least shown: in the next pair
    for _ in range(10):
        prompt = ops.new_prompt(survey, "someone")
        assert second not in (prompt.left, prompt.right)
    # the public cannot moderate
    assert (
        Client()
        .post(url("pairwise_moderate", survey, second.pk), {"status": "approved"})
        .status_code
        == 302
    )
    second.refresh_from_db()
    assert second.status == Moderation.REJECTED


def test_results_rank_the_ideas_from_hand_made_votes(client, programme):
    survey = make_survey(programme, ["Best", "Middle", "Worst", "Unseen"])
    ideas = {i.text: i for i in survey.ideas.all()}

    def votes(winner, loser, n, choice="left"):
        for _ in range(n):
            left, right = (winner, loser) if choice == "left" else (loser, winner)
            PairPrompt.objects.create(
                survey=survey,
                session_key="hand",
                left=ideas[left],
                right=ideas[right],
                choice=choice,
                answered_at="2026-01-01T00:00:00Z",
            )

    votes("Best", "Middle", 6)
    votes("Best", "Middle", 1, choice="right")  # Best wins when shown on the right too
    votes("Middle", "Worst", 6)
    votes("Best", "Worst", 8)
    votes("Worst", "Middle", 1)  # an upset
    PairPrompt.objects.create(
        survey=survey,
        session_key="hand",
        left=ideas["Best"],
        right=ideas["Worst"],
        choice="cant_decide",
        answered_at="2026-01-01T00:00:00Z",
    )
    PairPrompt.objects.create(  # shown, never answered: not a vote
        survey=survey, session_key="hand", left=ideas["Best"], right=ideas["Worst"]
    )
    found = ops.results(survey)
    order = [r.idea.text for r in found.rows]
    assert order[0] == "Best" and order[-1] == "Worst"
    assert order.index("Middle") < order.index("Worst")
    rows = {r.idea.text: r for r in found.rows}
    assert rows["Best"].comparisons == 15 and rows["Best"].wins == 15
    assert rows["Middle"].comparisons == 14 and rows["Middle"].wins == 6
    assert rows["Worst"].wins == 1 and rows["Best"].cant_decide == 1
    assert rows["Unseen"].comparisons == 0
    assert abs(rows["Unseen"].score - 0.5) < 0.15  # the prior: about average, wide interval
    for r in found.rows:
        assert 0 <= r.low <= r.score <= r.high <= 1
    assert rows["Best"].score > 0.5 > rows["Worst"].score
    assert (rows["Unseen"].high - rows["Unseen"].low) > (rows["Best"].high - rows["Best"].low)
    assert (
        found.votes == 23
        and found.decisive == 22
        and found.cant_decide == 1
        and found.sessions == 1
    )
    # the page: public while open, an accessible chart, and a table with the same order
    page = client.get(url("pairwise_results", survey)).content.decode()
    assert '<svg role="img"' in page and "<desc" in page and "<caption" in page
    table = page[page.index('id="results"') :]
    positions = [table.index(f">{name}") for name in order]
    assert positions == sorted(positions)
    # the CSV: same order, formula-safe
    response = client.get(url("pairwise_results_csv", survey))
    assert response["Content-Type"].startswith("text/csv")
    lines = list(csv.DictReader(io.StringIO(response.content.decode())))
    assert [row["idea"] for row in lines] == order
    assert lines[0]["wins"] == "15" and float(lines[0]["score_percent"]) > 50


def test_results_before_any_vote(client, programme):
    survey = make_survey(programme, ["=SUM(A1)", "B"])
    page = client.get(url("pairwise_results", survey)).content.decode()
    assert "No votes yet" in page
    text = client.get(url("pairwise_results_csv", survey)).content.decode()
    assert "'=SUM(A1)" in text  # neutralised for spreadsheets


def test_adding_an_idea_as_analyst_and_errors(client, programme, analyst):
    survey = make_survey(programme, ["A", "B"])
    client.force_login(analyst)
    response = client.post(url("pairwise_idea_add", survey), {"text": "C from staff"})
    assert response.status_code == 302
    assert Idea.objects.get(text="C from staff").status == Moderation.APPROVED
    page = client.post(url("pairwise_idea_add", survey), {"text": "a"}).content.decode()
    assert "That idea is already in the survey" in page
    page = client.post(url("pairwise_idea_add", survey), {"text": ""}).content.decode()
    assert "Enter the idea" in page and 'href="#idea-text"' in page


def test_ideas_are_limited_per_address_too(programme, monkeypatch):
    from changebank.decide.views import pairwise as views

    monkeypatch.setattr(views, "IDEAS_PER_ADDRESS_HOUR", 1)
    survey = make_survey(programme, ["A", "B"])
    add = url("pairwise_add_idea", survey)
    assert Client().post(add, {"idea": "First"}).status_code == 302
    again = Client().post(add, {"idea": "Second, from a new session"})  # same address
    assert again.status_code == 429 and "many ideas from your internet connection" in (
        again.content.decode()
    )
    assert not Idea.objects.filter(text__startswith="Second").exists()


def test_votes_store_a_participant_key_not_the_session_key(programme):
    survey = make_survey(programme, ["A", "B"])
    voter = Client()
    post_vote(voter, survey, show(voter, survey))
    stored = PairPrompt.objects.get(answered_at__isnull=False).session_key
    assert stored == voter.session[ops.PARTICIPANT_SESSION_KEY]
    assert stored != voter.session.session_key
