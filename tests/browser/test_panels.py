"""A panel's Delphi round in a real browser, on the analysed demo data: the analyst creates a panel,
adds two members, creates round 1 on the 3 most raised changes and opens it; each member rates the
3 changes through their private link (one with JavaScript, one without it and with the keyboard
only); the analyst closes the round, reads the results (by stakeholder group too) and starts round
2; a member then sees the panel's answers of round 1 and their own. axe runs on every page."""

from __future__ import annotations

import csv
import os
import re

import pytest
from browserkit import TIMEOUT_MS, assert_no_violations, axe_violations, sign_in

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("CHANGEBANK_SCREENSHOTS")  # a folder, to look at the pages
SCALES = ("benefit", "feasibility", "inequalities")
LEGENDS = {
    "benefit": "benefit",
    "feasibility": "feasibility",
    "inequalities": "effect on inequalities",
}
# what each member gives every change: a rating per scale, and the RSA category
ASHA = {"benefit": 8, "feasibility": 7, "inequalities": 6, "rsa": "amplify"}
TOM = {"benefit": 6, "feasibility": 3, "inequalities": 5, "rsa": "restart"}


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/panels-{name}.png", full_page=True)


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text().strip()


def press(page, selector: str, key: str = "Enter") -> None:
    """Operate a control with the keyboard: focus it, then press a key."""
    page.locator(selector).focus()
    page.keyboard.press(key)


def rate_with_the_mouse(page, answers: dict) -> None:
    for scale in SCALES:
        group = page.get_by_role("group", name=f"Your rating for {LEGENDS[scale]}")
        group.get_by_role("radio", name=re.compile(rf"^{answers[scale]}\b")).check()
    page.get_by_role("group", name=re.compile("RSA framework")).get_by_role(
        "radio", name="Amplify"
    ).check()
    page.get_by_label("Comment (optional)").fill("Saved us all a lot of travel.")


def rate_with_the_keyboard(page, answers: dict, rsa_position: int) -> None:
    for scale in SCALES:
        press(page, f"#rating-{scale}-{answers[scale]}", "Space")
        assert page.locator(f"#rating-{scale}-{answers[scale]}").is_checked()
    press(page, "#rsa" if rsa_position == 1 else f"#rsa-{rsa_position}", "Space")


def test_a_panel_round_end_to_end(axe_page, no_js_page, browser, analysed):
    from changebank.decide.models import DelphiAnswer, DelphiRound, Panel

    fft = analysed["fft"]
    base = analysed["base"]
    staff = axe_page
    found: list[str] = []
    sign_in(staff, analysed)

    # the Decide overview links to the panels
    staff.goto(f"{base}/programmes/{fft.slug}/decide/")
    staff.get_by_role("link", name="Panels and Delphi rounds").click()
    staff.wait_for_url(re.compile(r"/decide/panels/$"))
    assert h1(staff) == "Panels and Delphi rounds"
    found += axe_violations(staff, "the panels")

    # a panel with no name is refused, with an error summary linked to the field
    with staff.expect_navigation():
        staff.get_by_role("button", name="Create the panel").click()
    summary = staff.locator(".nhsuk-error-summary")
    assert summary.is_visible() and staff.title().startswith("Error: ")
    assert summary.locator("a").get_attribute("href") == "#name"
    found += axe_violations(staff, "the panels, with an error")
    staff.get_by_label("Name of the panel").fill("Lived-experience panel")
    staff.get_by_label("Description (optional)").fill("Patients and carers of the trust.")
    staff.get_by_role("button", name="Create the panel").click()
    staff.wait_for_url(re.compile(r"/decide/panels/\d+/$"))
    panel = Panel.objects.get(programme=fft)
    assert h1(staff) == "Lived-experience panel"
    found += axe_violations(staff, "a new panel")
    shot(staff, "panel-new")

    # two members: one through the form, one pasted as a line
    staff.get_by_label("Name", exact=True).fill("Asha Patel")
    staff.get_by_label("Email (optional)").fill("asha@example.com")
    staff.get_by_label("Stakeholder group (optional)").fill("patient")
    staff.get_by_role("button", name="Add the member").click()
    staff.wait_for_url(re.compile(r"/decide/panels/\d+/#members$"))
    staff.get_by_label("One member on each line").fill("Tom Reed, tom@example.com, carer")
    staff.get_by_role("button", name="Add these members").click()
    staff.wait_for_url(re.compile(r"/decide/panels/\d+/#members$"))
    asha, tom = panel.members.get(name="Asha Patel"), panel.members.get(name="Tom Reed")
    table = staff.get_by_role("table", name="2 members")
    asha_link = table.locator(f"[data-member-link='{asha.pk}']").inner_text().strip()
    tom_link = table.locator(f"[data-member-link='{tom.pk}']").inner_text().strip()
    assert asha_link == f"{base}/programmes/{fft.slug}/decide/panel/{asha.token}/"
    assert tom_link.endswith(f"/panel/{tom.token}/")
    found += axe_violations(staff, "a panel with two members")
    shot(staff, "panel-members")

    # round 1 on 3 changes ticked in the long list (its most raised entries in this sample are
    # "Did not answer", "Nothing." and the like), with the default scales and rules
    staff.get_by_role("link", name="Start round 1").click()
    staff.wait_for_url(re.compile(r"/rounds/new/$"))
    assert h1(staff) == "Start round 1"
    found += axe_violations(staff, "a new round")
    shot(staff, "round-new")
    long_list = fft.distinct_changes.exclude(code__is_empty_answer=True).order_by("-count", "id")
    top3 = list(long_list[9:12])
    staff.get_by_role("radio", name="The changes I tick in the long list below").check()
    staff.get_by_text("The long list: tick the changes to rate").click()
    for change in top3:
        staff.locator(f"input[name=changes][value='{change.pk}']").check()
    found += axe_violations(staff, "a new round, with the long list open")
    staff.get_by_role("button", name="Create round 1").click()
    staff.wait_for_url(re.compile(r"/rounds/1/$"))
    delphi = DelphiRound.objects.get(panel=panel, number=1)
    assert list(delphi.changes.all()) == top3
    assert staff.locator("#round-status").inner_text().startswith("Being prepared")
    found += axe_violations(staff, "a round in draft")
    with staff.expect_navigation():
        staff.get_by_role("button", name="Open round 1").click()
    assert staff.locator("#round-status").inner_text().startswith("Open")
    found += axe_violations(staff, "an open round")

    # Asha rates the 3 changes with the mouse, in a browser with JavaScript
    context = browser.new_context(bypass_csp=True)
    context.set_default_timeout(TIMEOUT_MS)
    member = context.new_page()
    member.goto(asha_link)
    assert h1(member) == "Lived-experience panel"
    assert "You have answered 0 of 3 changes." in member.locator("#progress").inner_text()
    found += axe_violations(member, "a member's page")
    shot(member, "member-home")
    member.get_by_role("link", name="Start rating").click()
    for position in range(1, 4):
        member.wait_for_url(re.compile(rf"/rounds/1/{top3[position - 1].pk}/$"))
        assert f"change {position} of 3" in member.locator(".nhsuk-caption-l").inner_text()
        if position == 1:
            # a missing rating is reported and linked to its radios
            with member.expect_navigation():
                member.get_by_role("button", name="Save and next").click()
            assert member.title().startswith("Error: ")
            links = member.locator(".nhsuk-error-summary a")
            assert links.first.get_attribute("href") == "#rating-benefit"
            found += axe_violations(member, "a change with errors")
            shot(member, "rate-errors")
        rate_with_the_mouse(member, ASHA)
        if position == 1:
            found += axe_violations(member, "a change to rate")
            shot(member, "rate")
        member.get_by_role(
            "button", name="Save and finish" if position == 3 else "Save and next"
        ).click()
    member.wait_for_url(re.compile(r"/panel/[\w-]+/$"))
    assert "You have answered 3 of 3 changes." in member.locator("#progress").inner_text()
    found += axe_violations(member, "a member's page, every change answered")

    # Tom rates them without JavaScript, with the keyboard only
    tom_page = no_js_page
    tom_page.goto(tom_link)
    press(tom_page, "a.nhsuk-button")  # Start rating
    for position in range(1, 4):
        tom_page.wait_for_url(re.compile(rf"/rounds/1/{top3[position - 1].pk}/$"))
        rate_with_the_keyboard(tom_page, TOM, rsa_position=3)  # restart
        press(tom_page, "button[name=then][value=next]")
    tom_page.wait_for_url(re.compile(r"/panel/[\w-]+/$"))
    assert "You have answered 3 of 3 changes." in tom_page.locator("#progress").inner_text()
    assert DelphiAnswer.objects.filter(round=delphi).count() == 6
    saved = DelphiAnswer.objects.get(round=delphi, member=tom, change=top3[2])
    assert (saved.ratings, saved.rsa) == ({k: TOM[k] for k in SCALES}, "restart")

    # the analyst closes round 1 and reads the results
    staff.reload()
    assert (
        "2 of 2" in staff.get_by_text("Members who answered everything").locator("..").inner_text()
    )
    with staff.expect_navigation():
        staff.get_by_role("button", name="Close round 1").click()
    assert staff.locator("#round-status").inner_text().startswith("Closed")
    staff.get_by_role("link", name="Results of round 1").click()
    staff.wait_for_url(re.compile(r"/rounds/1/results/$"))
    assert h1(staff) == "Results of round 1"
    # benefit: 8 and 6 → median 7, P30 6.6, P70 7.4, IPR 0.8, IPRCP 7, IPRAS 2.35 + 1.5·2 = 5.35
    first = staff.get_by_role("table", name="Ratings of change 1")
    benefit = first.get_by_role("row").nth(1).inner_text()
    assert re.search(
        r"Benefit\s+2\s+7\s+0%\s+50%\s+50%\s+6\.60\s+7\.40\s+0\.80\s+7\.00\s+5\.35\s+No consensus",
        benefit,
    ), benefit
    rsa = staff.get_by_role("table", name=re.compile("Where change 1 fits")).inner_text()
    assert re.search(r"Everyone\s+1\s+0\s+1\s+0\s+Amplify and Restart", rsa), rsa
    found += axe_violations(staff, "the results")
    shot(staff, "results")
    staff.get_by_role("link", name="Break down by stakeholder group").click()
    staff.wait_for_url(re.compile(r"\?by=group$"))
    rows = staff.get_by_role("table", name="Ratings of change 1, by stakeholder group").inner_text()
    assert "carer" in rows and "patient" in rows
    found += axe_violations(staff, "the results by group")
    with staff.expect_download() as download:
        staff.get_by_role("link", name=re.compile("Download the results")).click()
    with open(download.value.path(), encoding="utf-8") as fh:
        exported = list(csv.DictReader(fh))
    assert len(exported) == 3 * 3 * 3  # changes × scales × (everyone, carer, patient)

    # round 2
    staff.goto(f"{base}/programmes/{fft.slug}/decide/panels/{panel.pk}/rounds/1/")
    staff.get_by_role("link", name="Start round 2").click()
    staff.wait_for_url(re.compile(r"/rounds/new/$"))
    assert h1(staff) == "Start round 2"
    found += axe_violations(staff, "a new round 2")
    staff.get_by_role("button", name="Create round 2").click()
    staff.wait_for_url(re.compile(r"/rounds/2/$"))
    with staff.expect_navigation():
        staff.get_by_role("button", name="Open round 2").click()
    second = DelphiRound.objects.get(panel=panel, number=2)
    assert list(second.changes.all()) == top3 and second.status == "open"

    # Tom sees the panel's ratings of round 1 and his own, without JavaScript
    tom_page.goto(tom_link)
    assert "Round 2 is open" in tom_page.locator("#round-state").inner_text()
    press(tom_page, "a.nhsuk-button")
    tom_page.wait_for_url(re.compile(rf"/rounds/2/{top3[0].pk}/$"))
    counts = (
        tom_page.get_by_role("table", name="Benefit: how many gave each rating in round 1")
        .get_by_role("row")
        .nth(1)
        .inner_text()
    )
    assert counts.split() == ["People", "0", "0", "0", "0", "0", "1", "0", "1", "0"]
    assert (
        "The panel's median was 7. Your rating in round 1: 6."
        in tom_page.locator("#rating-benefit-before").inner_text()
    )
    assert "You chose Restart." in tom_page.locator("#rsa-before").inner_text()
    chart = tom_page.get_by_role("img", name="Benefit: the panel's ratings in round 1")
    assert chart.count() == 1
    # and Asha, in the browser with JavaScript: axe on the page of round 2
    member.goto(asha_link)
    member.get_by_role("link", name="Start rating").click()
    member.wait_for_url(re.compile(rf"/rounds/2/{top3[0].pk}/$"))
    assert "Your rating in round 1: 8." in member.locator("#rating-benefit-before").inner_text()
    found += axe_violations(member, "a change in round 2, with the panel's answers")
    shot(member, "rate-round-2")
    context.close()

    assert_no_violations(found)
