"""Pairwise voting in a real browser, on the analysed demo data: an analyst makes a wiki survey from
the long list and opens it; a participant votes with the mouse and with the keyboard and adds an
idea; the analyst approves it; the idea comes up in the next pairs; the results page; a participant
without JavaScript; axe on every page."""

from __future__ import annotations

import os
import re

import pytest
from browserkit import TIMEOUT_MS, assert_no_violations, axe_violations, sign_in

pytestmark = pytest.mark.browser

QUESTION = "Which change to the service should we keep?"
IDEA = "Let patients book blood tests online at a time that suits them"
#: The approved idea must be in one of this many pairs after approval (the chooser puts the
#: least-shown idea in every pair until it has caught up, so it is in the very next one).
WITHIN = 3


SHOTS = os.environ.get("CHANGEBANK_SCREENSHOTS")  # a folder, to look at the pages


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/pairwise-{name}.png", full_page=True)


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text().strip()


def pair(page) -> tuple[str, str]:
    return (
        page.locator("#choice-left").inner_text().strip(),
        page.locator("#choice-right").inner_text().strip(),
    )


def votes_line(page) -> str:
    return page.locator("#vote-count").inner_text()


def participant(browser):
    context = browser.new_context(bypass_csp=True)  # bypass_csp only to inject axe
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


def test_a_wiki_survey_from_the_long_list(browser, axe_page, no_js_page, analysed):
    from changebank.decide.models import Idea, PairPrompt, PairwiseSurvey
    from changebank.decide.pairwise import idea_text

    fft = analysed["fft"]
    base = analysed["base"]
    staff = axe_page
    found = []
    sign_in(staff, analysed)

    # the analyst finds pairwise voting from the Decide page and creates a survey
    staff.goto(f"{base}/programmes/{fft.slug}/decide/")
    staff.get_by_role("link", name="Pairwise voting").click()
    staff.wait_for_url(re.compile(r"/decide/pairwise/$"))
    assert h1(staff) == "Pairwise voting"
    found += axe_violations(staff, "the list of wiki surveys")
    staff.get_by_role("button", name="Create a wiki survey").click()
    staff.wait_for_url(re.compile(r"/decide/pairwise/new/$"))
    found += axe_violations(staff, "the new survey form")
    shot(staff, "new")
    # an error first: no question
    staff.get_by_label("How many of the most often raised changes to include").fill("8")
    staff.get_by_role("button", name="Create the survey").click()
    staff.wait_for_url(re.compile(r"/decide/pairwise/new/$"))
    summary = staff.locator(".nhsuk-error-summary")
    assert "Enter the question people answer" in summary.inner_text()
    found += axe_violations(staff, "the new survey form with an error")
    summary.get_by_role("link", name="Enter the question people answer").click()
    assert staff.evaluate("document.activeElement.id") == "id_question"
    staff.get_by_label("Question", exact=True).fill(QUESTION)
    ranked = list(fft.distinct_changes.order_by("-count", "id")[:10])
    chosen = [*ranked[:8], ranked[9]]  # the 8 most raised, and the 10th ticked
    staff.get_by_text("Choose other changes from the long list").click()
    staff.locator(f"#id_changes-{ranked[9].pk}").check()
    staff.get_by_role("button", name="Create the survey").click()
    staff.wait_for_url(re.compile(r"/decide/pairwise/which-change-to-the-service-should-we-keep/$"))
    assert h1(staff) == QUESTION
    survey = PairwiseSurvey.objects.get(programme=fft)
    n_ideas = survey.ideas.count()
    assert n_ideas == len({idea_text(c).casefold() for c in chosen})
    assert f"Survey created with {n_ideas} ideas" in staff.locator("[role=status]").inner_text()
    assert set(survey.ideas.values_list("change_id", flat=True)) <= {c.pk for c in chosen}
    found += axe_violations(staff, "a draft survey")
    with staff.expect_navigation():
        staff.get_by_role("button", name="Open for voting").click()
    assert "The survey is open" in staff.locator("[role=status]").inner_text()
    vote_url = staff.locator("dd a.cb-mono").get_attribute("href")
    assert vote_url.endswith(f"/decide/pairwise/{survey.slug}/vote/")
    found += axe_violations(staff, "an open survey")

    # a participant votes: with the mouse, then with the keyboard
    context, voter = participant(browser)
    try:
        voter.goto(vote_url)
        assert h1(voter) == QUESTION
        assert "You have not voted yet" in votes_line(voter)
        found += axe_violations(voter, "the vote page")
        with voter.expect_navigation():
            voter.locator("#choice-left").click()
        assert "your vote was counted" in voter.locator("[role=status]").inner_text()
        assert "You have voted 1 time " in votes_line(voter)
        found += axe_violations(voter, "the vote page after a vote")
        shot(voter, "vote")
        # keyboard: focus the first choice, Tab to the second, press Enter
        voter.locator("#choice-left").focus()
        voter.keyboard.press("Tab")
        assert voter.evaluate("document.activeElement.id") == "choice-right"
        with voter.expect_navigation():
            voter.keyboard.press("Enter")
        assert "You have voted 2 times" in votes_line(voter)
        # Tab again to "I can't decide", press Space
        voter.locator("#choice-right").focus()
        voter.keyboard.press("Tab")
        assert voter.evaluate("document.activeElement.id") == "choice-cant-decide"
        with voter.expect_navigation():
            voter.keyboard.press(" ")
        assert "You have voted 3 times" in votes_line(voter)
        answered = PairPrompt.objects.filter(survey=survey, answered_at__isnull=False)
        assert sorted(answered.values_list("choice", flat=True)) == ["cant_decide", "left", "right"]

        # the participant adds an idea: an empty one first, then a real one
        voter.get_by_role("link", name="Add your own idea").click()
        voter.wait_for_url(re.compile(r"/vote/idea/$"))
        found += axe_violations(voter, "the add-an-idea page")
        voter.get_by_role("button", name="Send my idea").click()
        voter.wait_for_url(re.compile(r"/vote/idea/$"))
        assert "Enter your idea" in voter.locator(".nhsuk-error-summary").inner_text()
        found += axe_violations(voter, "the add-an-idea page with an error")
        voter.get_by_label("Add your own idea").fill(IDEA)
        voter.get_by_role("button", name="Send my idea").click()
        voter.wait_for_url(re.compile(r"/vote/$"))
        assert "Thank you for your idea" in voter.locator("[role=status]").inner_text()
        idea = Idea.objects.get(survey=survey, text=IDEA)
        assert idea.status == "pending"
        assert IDEA not in pair(voter)  # not before it is approved

        # the analyst approves it
        staff.reload()
        queue = staff.get_by_role("table", name="Ideas waiting for moderation")
        assert IDEA in queue.inner_text()
        found += axe_violations(staff, "a survey with an idea to check")
        shot(staff, "detail")
        with staff.expect_navigation():
            queue.get_by_role("button", name=re.compile(r"^Approve")).click()
        assert "Idea approved" in staff.locator("[role=status]").inner_text()
        idea.refresh_from_db()
        assert idea.status == "approved"

        # the new idea comes up within a few pairs (a reload shows a new pair)
        shown_at = None
        for n in range(1, WITHIN + 1):
            voter.reload()
            if IDEA in pair(voter):
                shown_at = n
                break
        assert shown_at is not None, f"the approved idea was not in any of {WITHIN} pairs"
        side = "#choice-left" if pair(voter)[0] == IDEA else "#choice-right"
        with voter.expect_navigation():
            voter.locator(side).click()  # vote for it
        assert "You have voted 4 times" in votes_line(voter)

        # a vote that cannot count (a token not shown to this browser), then the vote limit
        voter.evaluate("document.querySelector('input[name=token]').value = 'not-a-token'")
        with voter.expect_navigation():
            voter.locator("#choice-left").click()
        assert h1(voter) == "Your vote was not counted"
        found += axe_violations(voter, "a vote not counted")
        voter.get_by_role("link", name="Vote on a new pair").click()
        voter.wait_for_url(re.compile(r"/vote/$"))
        PairwiseSurvey.objects.filter(pk=survey.pk).update(votes_per_session=4)
        voter.reload()
        assert voter.locator("#choice-left").count() == 0
        assert "the most one person can cast" in voter.locator("main").inner_text()
        found += axe_violations(voter, "the vote limit reached")
        PairwiseSurvey.objects.filter(pk=survey.pk).update(votes_per_session=300)
        voter.reload()

        # the results
        voter.get_by_role("link", name="See the results so far").click()
        voter.wait_for_url(re.compile(r"/results/$"))
        found += axe_violations(voter, "the results")
        shot(voter, "results")
        table = voter.get_by_role("table", name="Ideas by score")
        assert table.locator("tbody tr").count() == n_ideas + 1
        assert IDEA in table.inner_text()
        assert voter.locator("svg[role=img] desc").count() == 1
        assert "chance that it would be picked" in voter.locator("main").inner_text()
        with voter.expect_download() as download:
            voter.get_by_role("link", name="Download the results (CSV)").click()
        assert download.value.suggested_filename.endswith("-results.csv")
    finally:
        context.close()

    # a participant without JavaScript votes too
    plain = no_js_page
    plain.goto(vote_url)
    before = pair(plain)
    with plain.expect_navigation():
        plain.locator("#choice-right").click()
    assert "You have voted 1 time " in votes_line(plain)
    assert pair(plain) != ("", "")
    assert PairPrompt.objects.filter(survey=survey, answered_at__isnull=False).count() == 5
    assert before  # a pair was shown

    # the analyst closes the survey; the vote page says so
    with staff.expect_navigation():
        staff.get_by_role("button", name="Close voting").click()
    plain.goto(vote_url)
    assert h1(plain) == "This survey is closed"
    staff.goto(vote_url)
    found += axe_violations(staff, "a closed survey")
    assert_no_violations(found)
