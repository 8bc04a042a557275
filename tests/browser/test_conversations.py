"""Opinion groups (as Pol.is) in a real browser, on the analysed demo data: an analyst starts a
conversation from the long list and opens it; participants vote in their own browsers (one with
the mouse, one without JavaScript using only the keyboard) while most votes come straight from the
database; a participant adds a statement and the analyst approves it; the results page shows the
groups found; axe on every page."""

from __future__ import annotations

import os
import re

import pytest
from browserkit import assert_no_violations, axe_violations, sign_in

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("CHANGEBANK_SCREENSHOTS")  # a folder, to look at the pages
N_STATEMENTS = 8


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/opinion-{name}.png", full_page=True)


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text().strip()


def press(page, selector: str, key: str = "Enter") -> None:
    """Operate a control with the keyboard: focus it, then press a key."""
    page.locator(selector).focus()
    page.keyboard.press(key)


def camp_votes(conversation, n_per_camp: int = 4) -> None:
    """Two clear camps: the first agrees with the first half of the statements and disagrees with
    the rest, the second the opposite."""
    from changebank.decide.models import StatementVote

    statements = list(conversation.statements.filter(status="approved").order_by("id"))
    half = len(statements) // 2
    rows = []
    for camp, sign in (("left", 1), ("right", -1)):
        for i in range(n_per_camp):
            for j, s in enumerate(statements):
                vote = sign if j < half else -sign
                rows.append(StatementVote(statement=s, participant=f"camp:{camp}:{i}", vote=vote))
    StatementVote.objects.bulk_create(rows)


def test_statement_voting(axe_page, page, no_js_page, analysed):
    from changebank.decide.models import Conversation, StatementVote

    fft = analysed["fft"]
    base = analysed["base"]
    analyst = axe_page
    found = []
    sign_in(analyst, analysed)

    # the list, a mistake, then a conversation from the top 8 changes of the long list
    analyst.goto(f"{base}/programmes/{fft.slug}/decide/conversations/")
    assert h1(analyst) == "Opinion groups"
    found += axe_violations(analyst, "the list of conversations")
    analyst.get_by_label("Add this many changes from the long list as statements").fill("many")
    analyst.get_by_role("button", name="Create the conversation").click()
    analyst.wait_for_load_state()
    summary = analyst.locator(".nhsuk-error-summary")
    assert summary.get_by_role("link", name="Enter the topic of the conversation").count() == 1
    found += axe_violations(analyst, "the new conversation form with errors")
    analyst.get_by_label("Topic").fill("Which of these should the trust keep doing?")
    analyst.get_by_label("Add this many changes from the long list as statements").fill(
        str(N_STATEMENTS)
    )
    analyst.get_by_role("button", name="Create the conversation").click()
    analyst.wait_for_url(
        re.compile(r"/decide/conversations/which-of-these-should-the-trust-keep-doing/$")
    )
    conversation = Conversation.objects.get(programme=fft)
    assert conversation.statements.filter(change__isnull=False).count() == N_STATEMENTS
    assert analyst.locator("#statements + .cb-table-scroll tbody tr").count() == N_STATEMENTS
    found += axe_violations(analyst, "a draft conversation")
    shot(analyst, "draft")

    # edit one statement
    first = conversation.statements.order_by("id").first()
    analyst.get_by_role("link", name=f"Edit statement #{first.pk}").first.click()
    analyst.wait_for_url(re.compile(rf"/statements/{first.pk}/$"))
    found += axe_violations(analyst, "a statement")
    analyst.get_by_label("Wording").fill("The staff were kind and caring")
    analyst.get_by_role("button", name="Save the statement").click()
    analyst.wait_for_url(re.compile(r"/which-of-these-should-the-trust-keep-doing/$"))
    first.refresh_from_db()
    assert first.text == "The staff were kind and caring"

    # open it
    with analyst.expect_navigation():
        analyst.get_by_role("button", name="Open the conversation for voting").click()
    conversation.refresh_from_db()
    assert conversation.status == "open"
    vote_url = analyst.locator("main a[href$='/vote/']").get_attribute("href")
    found += axe_violations(analyst, "an open conversation")

    # before anyone votes, the results say there is not enough yet
    analyst.goto(vote_url.replace("/vote/", "/results/"))
    assert analyst.locator("#not-enough").count() == 1
    found += axe_violations(analyst, "the results before the votes")

    # most votes come from the database: two camps of four
    camp_votes(conversation)

    # a participant with the mouse (and JavaScript) votes on every statement with the first camp
    page.goto(vote_url)
    assert h1(page) == conversation.topic
    statements = list(conversation.statements.order_by("id"))
    half = len(statements) // 2
    for n in range(1, N_STATEMENTS + 1):
        assert page.locator("#progress").inner_text() == f"Statement {n} of {N_STATEMENTS}"
        shown = int(page.locator("input[name=statement]").get_attribute("value"))
        index = [s.pk for s in statements].index(shown)
        name = "Agree" if index < half else "Disagree"
        with page.expect_navigation():
            page.get_by_role("button", name=name, exact=True).click()
    assert page.locator("#done").count() == 1
    # a change of mind on the first statement, then back: the latest vote counts, once
    page.locator("#my-votes summary").click()
    page.get_by_role("link", name=re.compile(r"^Change your vote on “The staff were kind")).click()
    assert "Change your vote" in page.locator("#progress").inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Pass / unsure").click()
    page.goto(f"{vote_url}?statement={first.pk}")
    assert "Your vote now: Pass / unsure" in page.locator("form").first.inner_text()
    with page.expect_navigation():
        page.get_by_role("button", name="Agree", exact=True).click()
    participant_votes = StatementVote.objects.filter(statement=first).exclude(
        participant__startswith="camp:"
    )
    assert participant_votes.count() == 1 and participant_votes.get().vote == 1

    # it adds a statement
    page.get_by_label("Your statement").fill("Text message reminders should stay")
    with page.expect_navigation():
        page.get_by_role("button", name="Send my statement").click()
    assert "Thank you: your statement was sent" in page.locator("[role=status]").inner_text()

    # a participant without JavaScript votes with the keyboard alone, with the second camp
    no_js_page.goto(vote_url)
    for n in range(1, N_STATEMENTS + 1):
        assert no_js_page.locator("#progress").inner_text() == f"Statement {n} of {N_STATEMENTS}"
        shown = int(no_js_page.locator("input[name=statement]").get_attribute("value"))
        index = [s.pk for s in statements].index(shown)
        with no_js_page.expect_navigation():
            press(no_js_page, "#vote-disagree" if index < half else "#vote-agree")
    assert no_js_page.locator("#done").count() == 1

    # the analyst sees the voting pages as a participant would, with axe
    analyst.goto(vote_url)
    assert analyst.locator("#progress").inner_text() == f"Statement 1 of {N_STATEMENTS}"
    found += axe_violations(analyst, "the voting page")
    shot(analyst, "vote")
    analyst.get_by_role("button", name="Send my statement").click()
    analyst.wait_for_load_state()
    assert (
        analyst.locator(".nhsuk-error-summary")
        .get_by_role("link", name="Enter your statement")
        .count()
        == 1
    )
    found += axe_violations(analyst, "the voting page with an error")

    # the analyst approves the new statement
    analyst.goto(vote_url.replace("/vote/", "/"))
    moderation = analyst.locator("#moderation + p + .cb-table-scroll")
    assert "Text message reminders should stay" in moderation.inner_text()
    found += axe_violations(analyst, "the conversation with a statement to moderate")
    added = conversation.statements.get(added_by_participant=True)
    with analyst.expect_navigation():
        analyst.get_by_role("button", name=f"Approve statement #{added.pk}").click()
    added.refresh_from_db()
    assert added.status == "approved"

    # the mouse participant gets the new statement next
    page.goto(vote_url)
    assert page.locator("#statement-text").inner_text() == "Text message reminders should stay"
    assert (
        page.locator("#progress").inner_text()
        == f"Statement {N_STATEMENTS + 1} of {N_STATEMENTS + 1}"
    )

    # the results: two groups, matching the camps
    analyst.goto(vote_url.replace("/vote/", "/results/"))
    assert analyst.locator("#not-enough").count() == 0
    sizes = analyst.locator("#group-sizes tbody tr")
    assert sizes.count() == 2
    people = sorted(int(sizes.nth(i).locator("td").nth(1).inner_text()) for i in range(2))
    assert people == [5, 5]
    assert analyst.get_by_role("img", name=re.compile("Map of the participants")).count() == 1
    assert analyst.locator("#consensus-agree tbody tr").count() >= 1
    assert analyst.locator("#tally-table tbody tr").count() == N_STATEMENTS + 1
    found += axe_violations(analyst, "the results")
    shot(analyst, "results")
    if SHOTS:
        analyst.locator("figure").screenshot(path=f"{SHOTS}/opinion-map.png")
    with analyst.expect_download() as download:
        analyst.get_by_role("link", name=re.compile("participants-votes.csv")).click()
    with open(download.value.path(), encoding="utf-8") as f:
        header = f.readline()
    assert header.startswith("participant,group-id,n-comments,n-votes,n-agree,n-disagree,")

    # closed: no more votes, and the results are public
    analyst.goto(vote_url.replace("/vote/", "/"))
    with analyst.expect_navigation():
        analyst.get_by_role("button", name="Close the conversation").click()
    no_js_page.goto(vote_url)
    assert "This conversation is closed" in no_js_page.locator("main").inner_text()
    press(no_js_page, "main a[href$='/results/']")
    no_js_page.wait_for_url(re.compile(r"/results/$"))
    assert no_js_page.locator("#group-sizes tbody tr").count() == 2
    analyst.goto(vote_url)
    found += axe_violations(analyst, "a closed conversation")
    analyst.goto(f"{base}/programmes/{fft.slug}/decide/conversations/")
    assert analyst.locator("main table tbody tr").count() == 1
    found += axe_violations(analyst, "the list with a conversation")
    assert_no_violations(found)
