"""Opinion groups (as Pol.is): creating a conversation, voting, moderation, results and exports."""

from __future__ import annotations

import csv
import io

import pytest
from django.core.cache import cache
from django.urls import reverse

from changebank.core.models import AuditEvent
from changebank.decide import opinion as ops
from changebank.decide.models import Conversation, Moderation, Statement, StatementVote, Status
from changebank.understand.models import DistinctChange


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


def make_conversation(programme, n: int = 4, status: str = Status.OPEN, **kwargs) -> Conversation:
    conv = Conversation.objects.create(
        programme=programme, slug="talk", topic="What should we keep?", status=status, **kwargs
    )
    for i in range(n):
        Statement.objects.create(conversation=conv, text=f"Statement number {i + 1}")
    return conv


def vote_url(conv: Conversation) -> str:
    return reverse("decide:conversation_vote", args=[conv.programme.slug, conv.slug])


def results_url(conv: Conversation) -> str:
    return reverse("decide:conversation_results", args=[conv.programme.slug, conv.slug])


def manage_url(conv: Conversation) -> str:
    return reverse("decide:conversation", args=[conv.programme.slug, conv.slug])


# --- creating a conversation ----------------------------------------------------------------------


def test_the_list_needs_an_analyst(client, programme, analyst):
    url = reverse("decide:conversations", args=[programme.slug])
    assert client.get(url).status_code == 302
    client.force_login(analyst)
    page = client.get(url).content.decode()
    assert "Opinion groups" in page and "Start a conversation" in page


def test_create_with_typed_statements_and_the_long_list(client, programme, analyst):
    for i, count in enumerate([3, 9, 5]):
        DistinctChange.objects.create(programme=programme, text=f"Keep change {i}", count=count)
    client.force_login(analyst)
    url = reverse("decide:conversations", args=[programme.slug])
    response = client.post(
        url,
        {
            "topic": "Outpatient changes",
            "description": "Which should we keep?",
            "statements": "Video appointments should stay\n\nvideo appointments should stay\nText reminders help",
            "from_long_list": "2",
            "allow_statements": "on",
        },
    )
    conv = Conversation.objects.get(programme=programme)
    assert response.status_code == 302 and response["Location"] == manage_url(conv)
    assert conv.slug == "outpatient-changes" and conv.status == Status.DRAFT
    texts = list(conv.statements.values_list("text", flat=True))
    # typed (a repeat dropped), then the two changes raised most often, linked to their change
    assert texts == [
        "Video appointments should stay",
        "Text reminders help",
        "Keep change 1",
        "Keep change 2",
    ]
    assert conv.statements.filter(change__isnull=False).count() == 2
    assert AuditEvent.objects.filter(object_type="decide.statement").count() == 2
    # a second with the same topic gets its own address
    client.post(url, {"topic": "Outpatient changes", "from_long_list": "0"})
    assert Conversation.objects.filter(slug="outpatient-changes-2").exists()


def test_create_shows_errors(client, programme, analyst):
    client.force_login(analyst)
    url = reverse("decide:conversations", args=[programme.slug])
    response = client.post(url, {"topic": "", "statements": "x" * 501, "from_long_list": "99"})
    assert response.status_code == 400
    page = response.content.decode()
    assert "There is a problem" in page
    assert 'href="#id_topic"' in page and "Enter the topic of the conversation" in page
    assert 'href="#id_statements"' in page and 'href="#id_from_long_list"' in page
    assert not Conversation.objects.exists()


def test_add_from_the_long_list_skips_changes_already_in(programme):
    changes = [
        DistinctChange.objects.create(programme=programme, text=f"Keep change {i}", count=10 - i)
        for i in range(5)
    ]
    conv = make_conversation(programme, n=0, status=Status.DRAFT)
    ops.add_from_long_list(conv, 2)
    ops.add_from_long_list(conv, 2)
    assert list(conv.statements.values_list("change_id", flat=True)) == [c.pk for c in changes[:4]]


def test_non_answers_are_not_offered_as_statements(programme):
    from changebank.understand.models import Code

    empty = Code.objects.create(programme=programme, label="No answer", is_empty_answer=True)
    DistinctChange.objects.create(programme=programme, text="Did not answer", count=50, code=empty)
    DistinctChange.objects.create(programme=programme, text="Nothing.", count=40)
    DistinctChange.objects.create(programme=programme, text="Don't know", count=30)
    kept = DistinctChange.objects.create(programme=programme, text="Keep the video calls", count=1)
    assert ops.top_changes(programme, 3) == [kept]


def test_a_long_change_becomes_a_short_statement(programme):
    long = "word " * 100
    change = DistinctChange.objects.create(programme=programme, text=long, count=1, name="Short")
    assert ops.statement_from_change(change) == "Short"
    change.name = ""
    text = ops.statement_from_change(change)
    assert len(text) <= 280 and text.endswith("…")


def test_open_and_close(client, programme, analyst):
    conv = make_conversation(programme, n=0, status=Status.DRAFT)
    client.force_login(analyst)
    url = manage_url(conv)
    client.post(url, {"action": "status", "status": "open"})
    conv.refresh_from_db()
    assert conv.status == Status.DRAFT  # no statements yet
    Statement.objects.create(conversation=conv, text="Keep video appointments")
    client.post(url, {"action": "status", "status": "open"})
    conv.refresh_from_db()
    assert conv.status == Status.OPEN
    assert AuditEvent.objects.filter(object_type="decide.conversation", action="update").exists()
    client.post(url, {"action": "status", "status": "closed"})
    conv.refresh_from_db()
    assert conv.status == Status.CLOSED


def test_a_panel_member_cannot_change_a_conversation(client, programme, analyst):
    from django.contrib.auth.models import Group, User

    member = User.objects.create_user("pm", password="a-long-test-password")
    member.groups.add(Group.objects.get(name="panel member"))
    conv = make_conversation(programme, status=Status.DRAFT)
    client.force_login(member)
    assert client.get(manage_url(conv)).status_code == 403
    assert client.post(manage_url(conv), {"action": "status", "status": "open"}).status_code == 403


def test_edit_a_statement(client, programme, analyst):
    conv = make_conversation(programme, n=1)
    s = conv.statements.get()
    client.force_login(analyst)
    url = reverse("decide:conversation_statement", args=[programme.slug, conv.slug, s.pk])
    assert client.get(url).status_code == 200
    response = client.post(url, {"text": "  Keep   video appointments ", "status": "approved"})
    assert response.status_code == 302
    s.refresh_from_db()
    assert s.text == "Keep video appointments"
    response = client.post(url, {"text": "", "status": "nonsense"})
    assert response.status_code == 400
    assert 'href="#id_text"' in response.content.decode()


# --- voting --------------------------------------------------------------------------------------


def test_the_voting_page_shows_one_statement_with_fewest_votes_first(client, programme):
    conv = make_conversation(programme, n=3)
    first, second, third = conv.statements.order_by("id")
    StatementVote.objects.create(statement=first, participant="someone", vote=1)
    page = client.get(vote_url(conv)).content.decode()
    assert "Statement 1 of 3" in page
    assert second.text in page and first.text not in page
    assert page.count('name="vote"') == 3  # Agree, Disagree, Pass in one form
    assert f'name="statement" value="{second.pk}"' in page


def test_recording_a_vote_the_latest_counts_once(client, programme):
    conv = make_conversation(programme, n=3)
    s = conv.statements.order_by("id").first()
    url = vote_url(conv)
    response = client.post(url, {"statement": s.pk, "vote": "1"})
    assert response.status_code == 302 and response["Location"] == url
    participant = client.session[ops.PARTICIPANT_SESSION_KEY]
    assert StatementVote.objects.get().participant == participant
    # the same vote again, then a change of mind: one row, the latest vote
    client.post(url, {"statement": s.pk, "vote": "1"})
    client.post(url, {"statement": s.pk, "vote": "-1"})
    assert StatementVote.objects.count() == 1
    assert StatementVote.objects.get().vote == -1
    page = client.get(url).content.decode()
    assert "Statement 2 of 3" in page and s.text in page  # in "your votes"
    page = client.get(url + f"?statement={s.pk}").content.decode()
    assert "Your vote now: <strong>Disagree</strong>" in page
    # another browser is another participant
    other = type(client)()
    other.post(url, {"statement": s.pk, "vote": "0"})
    assert StatementVote.objects.count() == 2
    assert ops.results(conv).tallies[s.pk].votes == 2


@pytest.mark.parametrize("value", ["2", "-2", "agree", "", "1.5"])
def test_a_vote_outside_minus_one_to_one_is_refused(client, programme, value):
    conv = make_conversation(programme, n=1)
    s = conv.statements.get()
    response = client.post(vote_url(conv), {"statement": s.pk, "vote": value})
    assert response.status_code == 400
    assert "Choose agree, disagree or pass" in response.content.decode()
    assert not StatementVote.objects.exists()


def test_a_statement_of_another_conversation_is_refused(client, programme):
    conv = make_conversation(programme, n=1)
    other = Conversation.objects.create(programme=programme, slug="other", topic="Other")
    foreign = Statement.objects.create(conversation=other, text="Elsewhere")
    pending = Statement.objects.create(
        conversation=conv, text="Not yet", status=Moderation.PENDING, added_by_participant=True
    )
    for pk in (foreign.pk, pending.pk, 999999, "x"):
        response = client.post(vote_url(conv), {"statement": pk, "vote": "1"})
        assert response.status_code == 400
        assert "That statement is not in this conversation" in response.content.decode()
    assert not StatementVote.objects.exists()


def test_a_closed_or_draft_conversation_takes_no_votes(client, programme):
    conv = make_conversation(programme, n=1, status=Status.CLOSED)
    s = conv.statements.get()
    response = client.post(vote_url(conv), {"statement": s.pk, "vote": "1"})
    assert response.status_code == 409
    assert "This conversation is closed" in response.content.decode()
    conv.status = Status.DRAFT
    conv.save()
    assert client.get(vote_url(conv)).status_code == 404
    assert client.post(vote_url(conv), {"statement": s.pk, "vote": "1"}).status_code == 404
    assert not StatementVote.objects.exists()
    with pytest.raises(ops.VoteError):
        ops.record_vote(conv, s.pk, 1, "someone")


def test_a_private_programme_has_no_voting_page(client, programme):
    programme.visibility = "private"
    programme.save()
    conv = make_conversation(programme, n=1)
    assert client.get(vote_url(conv)).status_code == 404


def test_everything_voted(client, programme):
    conv = make_conversation(programme, n=2)
    for s in conv.statements.all():
        client.post(vote_url(conv), {"statement": s.pk, "vote": "0"})
    page = client.get(vote_url(conv)).content.decode()
    assert "You have voted on all 2 statements" in page


# --- participants' statements and moderation -----------------------------------------------------


def test_a_participant_adds_a_statement_and_an_analyst_approves_it(client, programme, analyst):
    conv = make_conversation(programme, n=1)
    response = client.post(vote_url(conv), {"action": "statement", "text": "Keep  text reminders"})
    assert response.status_code == 302
    added = conv.statements.get(added_by_participant=True)
    assert added.status == Moderation.PENDING and added.text == "Keep text reminders"
    assert added.session_key == client.session[ops.PARTICIPANT_SESSION_KEY]
    # nobody votes on it before moderation
    assert ops.next_statement(conv, "fresh") != added
    assert client.post(vote_url(conv), {"statement": added.pk, "vote": "1"}).status_code == 400

    staff = type(client)()
    staff.force_login(analyst)
    page = staff.get(manage_url(conv)).content.decode()
    assert "Keep text reminders" in page and "Approve" in page
    response = staff.post(
        manage_url(conv), {"action": "moderate", "statement": added.pk, "decision": "approved"}
    )
    assert response.status_code == 302
    added.refresh_from_db()
    assert added.status == Moderation.APPROVED
    assert AuditEvent.objects.filter(
        object_type="decide.statement", object_id=str(added.pk), action="update"
    ).exists()
    assert client.post(vote_url(conv), {"statement": added.pk, "vote": "1"}).status_code == 302

    # rejected statements disappear from voting
    client.post(vote_url(conv), {"action": "statement", "text": "Something rude"})
    rude = conv.statements.get(text="Something rude")
    staff.post(
        manage_url(conv), {"action": "moderate", "statement": rude.pk, "decision": "rejected"}
    )
    rude.refresh_from_db()
    assert rude.status == Moderation.REJECTED
    assert client.post(vote_url(conv), {"statement": rude.pk, "vote": "1"}).status_code == 400


def test_statement_validation_and_limits(client, programme, settings):
    conv = make_conversation(programme, n=1)
    url = vote_url(conv)
    response = client.post(url, {"action": "statement", "text": "   "})
    assert response.status_code == 400 and 'href="#id_text"' in response.content.decode()
    response = client.post(url, {"action": "statement", "text": "x" * 501})
    assert response.status_code == 400
    response = client.post(url, {"action": "statement", "text": "statement NUMBER 1"})
    assert "already in the conversation" in response.content.decode()
    for i in range(ops.STATEMENTS_PER_PARTICIPANT):
        assert client.post(url, {"action": "statement", "text": f"Mine {i}"}).status_code == 302
    response = client.post(url, {"action": "statement", "text": "One too many"})
    assert (
        response.status_code == 400 and "the most one person can add" in response.content.decode()
    )
    # the per-address limit across browsers
    for i in range(ops.STATEMENTS_PER_ADDRESS_HOUR):
        other = type(client)()
        other.post(url, {"action": "statement", "text": f"From another browser {i}"})
    response = type(client)().post(url, {"action": "statement", "text": "Over the limit"})
    assert response.status_code == 429
    assert not conv.statements.filter(text="Over the limit").exists()
    conv.allow_statements = False
    conv.save()
    response = type(client)().post(url, {"action": "statement", "text": "Not allowed"})
    assert response.status_code == 400
    assert "Your statement" not in type(client)().get(url).content.decode()


# --- results -------------------------------------------------------------------------------------


def test_results_are_for_analysts_until_closed(client, programme, analyst):
    conv = make_conversation(programme, n=2)
    url = results_url(conv)
    assert client.get(url).status_code == 302  # sign in
    conv.status = Status.CLOSED
    conv.save()
    assert client.get(url).status_code == 200
    programme.visibility = "private"
    programme.save()
    assert client.get(url).status_code == 404
    client.force_login(analyst)
    assert client.get(url).status_code == 200


def test_not_enough_votes_shows_the_tallies(client, programme, analyst):
    conv = make_conversation(programme, n=3)
    s = conv.statements.order_by("id").first()
    for i, v in enumerate([1, 1, -1, 0]):
        StatementVote.objects.create(statement=s, participant=f"p{i}", vote=v)
    client.force_login(analyst)
    page = client.get(results_url(conv)).content.decode()
    assert "Not enough votes yet" in page
    assert "Agree, disagree and pass on each statement" in page
    assert "2 <span" in page  # two agrees
    found = ops.results(conv)
    assert (
        found.tallies[s.pk].agree,
        found.tallies[s.pk].disagree,
        found.tallies[s.pk].passed,
    ) == (
        2,
        1,
        1,
    )
    assert not found.enough and found.threshold == 3


def two_camps(programme, per_camp: int = 10):
    """Ten statements: camp "left" agrees with 1–5 and disagrees with 6–9, camp "right" the
    opposite; everyone agrees with statement 10. One left voter passes on statement 1."""
    conv = make_conversation(programme, n=10)
    statements = list(conv.statements.order_by("id"))
    rows = []
    for camp, sign in (("left", 1), ("right", -1)):
        for i in range(per_camp):
            for j, s in enumerate(statements):
                vote = 1 if j == 9 else (sign if j < 5 else -sign)
                if camp == "left" and i == 0 and j == 0:
                    vote = 0
                rows.append(StatementVote(statement=s, participant=f"{camp}-{i}", vote=vote))
    StatementVote.objects.bulk_create(rows)
    return conv, statements


def test_results_find_the_two_camps(client, programme, analyst):
    conv, statements = two_camps(programme)
    found = ops.results(conv)
    assert found.enough and found.n_participants == 20 and found.threshold == 7
    assert [g["size"] for g in found.groups] == [10, 10]
    assert [g["label"] for g in found.groups] == ["A", "B"]
    numbers = ops.participant_numbers(conv)
    camp_of = {n: key.split("-")[0] for key, n in numbers.items()}
    by_group: dict[int, set[str]] = {}
    for p in found.points:
        by_group.setdefault(p["group"], set()).add(camp_of[p["participant"]])
    assert sorted(by_group.values(), key=sorted) == [{"left"}, {"right"}]
    # the groups' tallies, and representative statements on the right side
    left = next(g for g, camps in by_group.items() if camps == {"left"})
    first = statements[0].pk
    t = found.group_tallies[left][first]
    assert (t.agree, t.disagree, t.passed) == (9, 0, 1)
    reps = found.repness[left]
    assert reps and all(r["significant"] for r in reps)
    for r in reps:
        index = [s.pk for s in statements].index(r["statement_id"])
        assert r["direction"] == ("agree" if index < 5 else "disagree")
        assert r["in_group"] >= 0.9 and r["others"] == 0.0
    # what everyone agrees on comes first; nothing is disagreed on by every group
    assert found.consensus_agree[0]["statement_id"] == statements[9].pk
    assert found.consensus_agree[0]["score"] == pytest.approx((11 / 12) ** 2)
    assert len(found.consensus_agree) == 1 and found.consensus_disagree == []
    consensus = ops.group_consensus(found.group_tallies, [statements[9].pk], "agree")
    assert consensus[statements[9].pk] == pytest.approx((11 / 12) ** 2)

    client.force_login(analyst)
    page = client.get(results_url(conv)).content.decode()
    assert "Not enough votes yet" not in page
    assert 'id="group-sizes"' in page and "Group A" in page and "Group B" in page
    assert 'role="img"' in page and "<desc" in page
    assert page.count("<path d=") >= 20


def test_results_are_cached_until_a_vote_changes(programme, django_assert_max_num_queries):
    conv, statements = two_camps(programme)
    first = ops.results(conv)
    with django_assert_max_num_queries(3):
        again = ops.results(conv)
    assert again.n_votes == first.n_votes
    vote = StatementVote.objects.filter(statement=statements[9]).first()
    vote.vote = -1
    vote.save()  # the same number of votes, a later time: a new analysis
    assert ops.results(conv).tallies[statements[9].pk].disagree == 1


def test_the_participants_votes_csv(client, programme, analyst):
    conv, statements = two_camps(programme)
    client.post(vote_url(conv), {"action": "statement", "text": "A participant's statement"})
    client.force_login(analyst)
    url = reverse("decide:conversation_votes_csv", args=[programme.slug, conv.slug])
    response = client.get(url)
    assert response["Content-Type"].startswith("text/csv")
    assert 'filename="talk-participants-votes.csv"' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    ids = [str(s.pk) for s in conv.statements.order_by("id")]
    assert rows[0] == [
        "participant",
        "group-id",
        "n-comments",
        "n-votes",
        "n-agree",
        "n-disagree",
        *ids,
    ]
    assert len(rows) == 22  # 20 voters and the author of a statement
    first = rows[1]  # left-0: passed on statement 1, agreed with 2–5 and 10
    assert first[0] == "0" and first[1] in ("0", "1") and first[2:6] == ["0", "10", "5", "4"]
    assert first[6:] == ["0", "1", "1", "1", "1", "-1", "-1", "-1", "-1", "1", ""]
    assert rows[-1][2:4] == ["1", "0"] and rows[-1][1] == ""  # wrote one, voted on none
    assert not any("left" in cell for row in rows for cell in row)  # no participant keys
    comments = client.get(
        reverse("decide:conversation_comments_csv", args=[programme.slug, conv.slug])
    ).content.decode()
    lines = list(csv.reader(io.StringIO(comments)))
    assert lines[0][2:] == [
        "comment-id",
        "author-id",
        "agrees",
        "disagrees",
        "moderated",
        "comment-body",
    ]
    assert lines[1][4:6] == ["9", "10"] and lines[-1][3] == "20" and lines[-1][6] == "0"
