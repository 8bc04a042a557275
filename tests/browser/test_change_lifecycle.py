"""The lifecycle of a tracked change in a real browser.

An evaluation lead takes a change raised by two submissions from the programme's long list into
the lifecycle, moves it proposed → assessed → adopting with a note each time (the history shows
both moves and who made them), adds an organisation adopting it, sets its go-live date and its
co-design panel, opens pulse feedback, invites a contributor to the design canvas and saves
version 1 of the canvas. The contributor, with JavaScript turned off and no account, opens their
private link, edits a section into version 2 and comments on it; version 2's page marks what
changed (ins/del). A member of the public, without JavaScript, answers the pulse question: first
with nothing chosen (an error summary, a title starting "Error:"), then "Yes" with a comment,
and is thanked; the lead then sees the answer counted and the comment, which is also a submission
of the programme. axe-core runs on every page (the pages seen without JavaScript are reopened in
a browser context where axe can run).
"""

from __future__ import annotations

import os
import re

import pytest
from browserkit import ANALYST_PASSWORD, TIMEOUT_MS, assert_no_violations, axe_violations

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("CHANGEBANK_SCREENSHOTS")  # a folder, to look at the pages
CHANGE = "Keep video consultations for follow-up appointments"
PANEL = "Lived-experience panel"
CANVAS = {
    "The problem": "Patients travel for a five-minute follow-up that needs no examination.",
    "People affected": "Patients with long journeys, their carers, and the outpatient staff.",
    "Proposed solution": "Offer a video follow-up by default when no examination is needed.",
    "Risks": "People without a smartphone could be left out.",
    "Measures of success": "Did-not-attend rate and patient-reported travel time.",
}
RISKS_V2 = "People without a smartphone or a quiet room could be left out; offer a phone call."
COMMENT = "We should ask the digital inclusion team about loan tablets."
PULSE_COMMENT = "I did not have to take a day off work for a two-minute check."


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/lifecycle-{name}.png", full_page=True)


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text().strip()


def words(text: str) -> str:
    return " ".join(text.split())


def status(page) -> str:
    return page.locator("[role=status]").inner_text()


@pytest.fixture
def lifecycle_site(site):
    """``site`` plus an evaluation lead, a distinct change of the long list raised by two
    submissions, and a panel with one member."""
    from django.contrib.auth.models import Group, User

    from changebank.decide.models import Panel, PanelMember
    from changebank.listen.models import Submission
    from changebank.understand.models import DistinctChange

    programme = site["programme"]
    lead = User.objects.create_user(
        "browser-lead", password=ANALYST_PASSWORD, first_name="Eve", last_name="Okafor"
    )
    lead.groups.add(Group.objects.get(name="evaluation lead"))
    change = DistinctChange.objects.create(programme=programme, text=CHANGE, count=2)
    for i, text in enumerate(
        ["Video follow-ups saved me a day off work", "Please keep the video appointments"]
    ):
        change.members.add(
            Submission.objects.create(
                programme=programme,
                text=text,
                source=Submission.Source.FORM,
                reference=f"CB-LIFE-000{i}",
                dedupe_key=f"lifecycle-{i}",
            )
        )
    panel = Panel.objects.create(programme=programme, name=PANEL)
    PanelMember.objects.create(panel=panel, name="Amir Patient", group="patient")
    return {**site, "lead": lead, "change": change, "panel": panel}


def test_a_change_from_the_long_list_to_pulse_feedback(
    axe_page, no_js_page, browser, lifecycle_site
):
    from changebank.evaluate.models import DesignComment, PulseResponse, TrackedChange
    from changebank.listen.models import Submission

    page, base = axe_page, lifecycle_site["base"]
    slug = lifecycle_site["programme"].slug
    found: list[str] = []

    # --- the lead signs in and opens Evaluate ---------------------------------------------------
    page.goto(f"{base}/sign-in/?next=/programmes/{slug}/evaluate/")
    page.locator("#id_username").fill("browser-lead")
    page.locator("#id_password").fill(ANALYST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/evaluate/$"))
    assert h1(page) == "Evaluate"
    assert "No changes are tracked yet." in page.content()
    found += axe_violations(page, "the Evaluate overview, empty")

    # --- tracks the change from the long list --------------------------------------------------
    page.get_by_role("link", name="Track a change").first.click()
    page.wait_for_url(re.compile(r"/evaluate/changes/new/$"))
    assert h1(page) == "Track a change"
    assert "Raised 2 times" in page.locator("#change-list").inner_text()
    found += axe_violations(page, "the track page")
    shot(page, "track")
    page.get_by_role("radio", name=CHANGE).check()
    page.get_by_role("button", name="Track the chosen change").click()
    page.wait_for_url(re.compile(r"/evaluate/changes/\d+/$"))
    tracked = TrackedChange.objects.get(change=lifecycle_site["change"])
    change_url = page.url
    assert h1(page) == CHANGE
    assert "is now tracked, as proposed" in status(page)
    assert page.get_by_text(re.compile(r"raised by 2 submissions\.")).count() == 1
    assert page.locator("#source-list li").count() == 2
    found += axe_violations(page, "the change page, proposed")

    # --- moves it proposed → assessed → adopting, with a note each time ------------------------
    for stage, note in (
        ("Assessed", "The clinical board agreed it is worth adopting."),
        ("Adopting", "Outpatients start in March, with the digital team."),
    ):
        page.get_by_role("radio", name=stage, exact=True).check()
        page.get_by_label("Why (optional)").fill(note)
        with page.expect_navigation():
            page.get_by_role("button", name="Move the change").click()
        assert page.url == change_url
        assert "moved from" in status(page) and f"to {stage.lower()}" in status(page)
        assert page.locator("#stage").inner_text() == f"Stage: {stage}"
    rows = page.locator("#moves tbody tr")
    assert rows.count() == 3  # taken into the lifecycle, then the two moves, newest first
    adopting, assessed, proposed = (rows.nth(i).inner_text() for i in range(3))
    assert re.search(r"Assessed\s+Adopting\s+Eve Okafor\s+Outpatients start in March", adopting)
    assert re.search(r"Proposed\s+Assessed\s+Eve Okafor\s+The clinical board agreed", assessed)
    assert re.search(r"Not tracked\s+Proposed\s+Eve Okafor\s+Taken into the lifecycle", proposed)
    tracked.refresh_from_db()
    assert tracked.stage == "adopting"

    # --- an organisation adopting it -----------------------------------------------------------
    page.get_by_label("Organisation", exact=True).fill("Leeds Teaching Hospitals NHS Trust")
    page.get_by_label("Status", exact=True).select_option(label="Live")
    page.get_by_label("Started on (optional)").fill("2026-03-02")
    with page.expect_navigation():
        page.get_by_role("button", name="Add the organisation").click()
    assert "Leeds Teaching Hospitals NHS Trust added" in status(page)
    adoption = page.locator("#adoption-table tbody tr").first.inner_text()
    assert re.search(r"Leeds Teaching Hospitals NHS Trust\s+Live\s+2 Mar 2026", adoption)

    # --- its go-live date and co-design panel --------------------------------------------------
    page.get_by_label("Co-design panel (optional)").select_option(label=PANEL)
    page.get_by_label("Go-live date (optional)").fill("2026-03-02")
    with page.expect_navigation():
        page.get_by_role("button", name="Save the details").click()
    assert "Details saved." in status(page)
    summary = page.locator(".nhsuk-summary-list").inner_text()
    assert re.search(r"Co-design panel\s+" + PANEL, summary)
    assert re.search(r"Go-live date\s+2 March 2026", summary)
    assert re.search(r"Organisations adopting\s+1", summary)
    tracked.refresh_from_db()
    assert (str(tracked.go_live), tracked.panel) == ("2026-03-02", lifecycle_site["panel"])

    # --- pulse feedback opens ------------------------------------------------------------------
    with page.expect_navigation():
        page.get_by_role("button", name="Open pulse feedback").click()
    assert "Pulse feedback is open" in status(page)
    pulse_link = page.locator("#pulse-link").inner_text().strip()
    assert pulse_link == f"{base}/pulse/{tracked.pulse_token}/"
    found += axe_violations(page, "the change page, adopting, pulse open")
    shot(page, "change")

    # --- the design canvas: a contributor invited, version 1 saved -----------------------------
    page.get_by_role("link", name="the design canvas of this change").click()
    page.wait_for_url(re.compile(r"/changes/\d+/design/$"))
    design_url = page.url
    assert "Nothing has been written yet." in page.content()
    page.get_by_label("Name", exact=True).fill("Rosa Carer")
    page.get_by_label("Email (optional)").fill("rosa@example.com")
    page.get_by_role("button", name="Invite", exact=True).click()
    page.wait_for_url(re.compile(r"/design/#collaborators$"))
    assert "Rosa Carer invited" in status(page)
    rosa_link = page.locator("#collaborator-table td.cb-mono").inner_text().strip()
    assert re.match(rf"^{re.escape(base)}/design/[\w-]+/$", rosa_link)
    assert "Amir Patient" in page.locator("#member-table").inner_text()
    page.goto(design_url)
    for label, text in CANVAS.items():
        page.get_by_label(f"{label} (optional)").fill(text)
    page.get_by_label("What changed in this version (optional)").fill("First draft")
    with page.expect_navigation():
        page.get_by_role("button", name="Save a new version").click()
    assert "Version 1 saved." in status(page)
    assert page.locator("#current-version").inner_text().startswith("Version 1, saved by Eve")
    assert CANVAS["Risks"] in page.locator("#section-risks + p").inner_text()
    found += axe_violations(page, "the design canvas, version 1")
    shot(page, "design")

    # --- the contributor, without JavaScript: version 2 and a comment --------------------------
    rosa = no_js_page
    rosa.goto(rosa_link)
    assert h1(rosa) == CHANGE
    assert "You are taking part as Rosa Carer." in rosa.locator("main").inner_text()
    assert rosa.locator("#current-version").inner_text().startswith("Version 1, saved by Eve")
    assert rosa.get_by_label("Risks (optional)").input_value() == CANVAS["Risks"]
    rosa.get_by_label("Risks (optional)").fill(RISKS_V2)
    rosa.get_by_label("What changed in this version (optional)").fill("Added the quiet room")
    with rosa.expect_navigation():
        rosa.get_by_role("button", name="Save a new version").click()
    assert rosa.url == rosa_link
    assert "Version 2 saved." in status(rosa)
    assert rosa.locator("#current-version").inner_text().startswith("Version 2, saved by Rosa")
    rosa.get_by_label("About (optional)").select_option(label="Risks")
    rosa.get_by_label("Your comment").fill(COMMENT)
    rosa.get_by_role("button", name="Add the comment").click()
    rosa.wait_for_url(re.compile(r"#comments$"))
    assert "Comment added." in status(rosa)
    assert COMMENT in rosa.locator("#comments ~ ul").first.inner_text()
    saved = DesignComment.objects.get(tracked=tracked)
    assert (saved.section, saved.version.number, saved.author_name) == ("risks", 2, "Rosa Carer")
    rosa.get_by_role("link", name="Version 2").click()
    rosa.wait_for_url(re.compile(r"/design/[\w-]+/versions/2/$"))
    assert h1(rosa) == "Version 2"
    risks = rosa.locator("#section-risks")
    assert "Changed" in risks.inner_text()
    diff = rosa.locator("#section-risks + p.cb-diff")
    marks = [words(t) for t in diff.locator("ins, del").all_inner_texts()]
    assert marks == [
        "added: or a quiet room (end of added text)",
        "removed: out. (end of removed text)",
        "added: out; offer a phone call. (end of added text)",
    ]
    # the sections left alone are shown as they are, without marks
    assert rosa.locator("#section-problem + p").inner_text() == CANVAS["The problem"]
    assert rosa.locator("p.cb-diff").count() == 1
    assert COMMENT in rosa.locator("#comments + ul").inner_text()
    shot(rosa, "version-2")
    page.goto(rosa.url)  # the same page, where axe can run
    found += axe_violations(page, "the design version page (private link)")
    page.goto(f"{design_url}versions/2/")
    assert page.locator("#section-risks + p.cb-diff ins").count() >= 1
    found += axe_violations(page, "the design version page (staff)")

    # --- a member of the public answers the pulse question, without JavaScript -----------------
    public_context = browser.new_context(java_script_enabled=False)
    public_context.set_default_timeout(TIMEOUT_MS)
    public = public_context.new_page()
    public.goto(pulse_link)
    assert h1(public) == CHANGE
    assert public.get_by_role("group", name="Did this change help you?").count() == 1
    with public.expect_navigation():
        public.get_by_role("button", name="Send feedback").click()
    assert public.title().startswith("Error:")
    error = public.locator(".nhsuk-error-summary")
    assert "Choose an answer: yes, partly, no or not sure." in error.inner_text()
    assert error.locator("a").first.get_attribute("href") == "#id_helped"
    shot(public, "pulse-error")
    public.get_by_role("radio", name="Yes", exact=True).check()
    public.get_by_label("Tell us more (optional)").fill(PULSE_COMMENT)
    public.get_by_role("radio", name="Patient").check()
    public.get_by_label("I agree to how my words will be used").check()
    public.get_by_role("button", name="Send feedback").click()
    public.wait_for_url(re.compile(r"/pulse/[\w-]+/done/$"))
    assert public.get_by_role("heading", level=1).inner_text().startswith("Thank you")
    reference = public.locator("strong#reference").inner_text().strip()
    assert re.match(r"^CB-[A-Z0-9]{4}-[A-Z0-9]{4}$", reference)
    shot(public, "pulse-done")

    # axe on the pulse pages: the same pages, in a context that shares the public's session
    checker_context = browser.new_context(bypass_csp=True)
    checker_context.set_default_timeout(TIMEOUT_MS)
    checker_context.add_cookies(public_context.cookies())
    checker = checker_context.new_page()
    checker.goto(public.url)
    assert checker.locator("strong#reference").inner_text().strip() == reference
    found += axe_violations(checker, "the pulse thank-you page")
    checker.goto(pulse_link)
    found += axe_violations(checker, "the pulse form")
    with checker.expect_navigation():
        checker.get_by_role("button", name="Send feedback").click()
    assert checker.title().startswith("Error:")
    found += axe_violations(checker, "the pulse form with an error")
    checker_context.close()
    public_context.close()

    # --- back as the lead: the answer counted, the comment shown, a submission stored ----------
    page.goto(change_url)
    counts = page.get_by_role("table", name=re.compile(r"Answers to ‘Did this change help you"))
    assert "(1)" in counts.locator("caption").inner_text()
    assert re.search(r"^Yes\s+1$", counts.locator("tbody tr").first.inner_text())
    assert re.search(r"^No\s+0$", counts.locator("tbody tr").nth(2).inner_text())
    said = page.locator("#pulse-texts").inner_text()
    assert PULSE_COMMENT in said and "Yes; Patient" in said
    found += axe_violations(page, "the change page, with a pulse answer")
    response = PulseResponse.objects.get(tracked=tracked)
    assert response.helped == "yes"
    submission = Submission.objects.get(source=Submission.Source.PULSE)
    assert (submission.text, submission.reference) == (PULSE_COMMENT, reference)
    assert submission.programme == lifecycle_site["programme"]
    assert response.submission == submission

    # the overview lists it as adopting, with its organisation
    page.goto(f"{base}/programmes/{slug}/evaluate/")
    row = page.get_by_role("table", name=re.compile("Changes that are adopting")).locator(
        "tbody tr"
    )
    assert re.search(
        rf"{CHANGE}\s+Adopting.*Leeds Teaching Hospitals NHS Trust", row.inner_text(), re.S
    )
    found += axe_violations(page, "the Evaluate overview")
    shot(page, "overview")
    assert_no_violations(found)
