"""The long list of distinct changes in a real browser, on the analysed demo data: filter the list,
open a change, name it, merge another into it, split two submissions out, link a submission by its
reference and unlink one, link a related change, read the history and undo the last action, all
with the keyboard and without JavaScript where it matters, and axe on every page."""

from __future__ import annotations

import os
import re

import pytest
from browserkit import assert_no_violations, axe_violations, sign_in

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("CHANGEBANK_SCREENSHOTS")  # a folder, to look at the pages


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/{name}.png", full_page=True)


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text().strip()


def press(page, selector: str, key: str = "Enter") -> None:
    """Operate a control with the keyboard: focus it, then press a key."""
    page.locator(selector).focus()
    page.keyboard.press(key)


def test_the_long_list_of_distinct_changes(axe_page, no_js_page, analysed):
    from changebank.understand.models import DistinctChange, WorkspaceAction

    fft = analysed["fft"]
    changes_url = analysed["analysis"] + "changes/"
    page = axe_page
    found = []
    sign_in(page, analysed)

    # the list, then filtered: raised more than once, by someone from a trust
    page.goto(changes_url)
    assert h1(page) == "Distinct changes"
    found += axe_violations(page, "the distinct changes")
    shot(page, "list")
    repeated = fft.distinct_changes.filter(count__gt=2, code__is_empty_answer=False).order_by(
        "-count", "pk"
    )
    change = next(c for c in repeated if c.members.exclude(respondent=None).exists())
    trust = change.members.exclude(respondent__organisation="").first().respondent.organisation
    page.get_by_label("Raised by someone from an organisation containing").fill(trust)
    page.get_by_label("Only changes raised more than once").check()
    page.get_by_label("Order").select_option("count")
    page.get_by_role("button", name="Find changes").click()
    page.wait_for_url(re.compile(r"/changes/\?"))
    heading = page.locator("#results").inner_text()
    assert re.match(r"^[\d,]+ distinct changes? found$", heading), heading
    rows = page.locator("table tbody tr")
    assert rows.count() >= 1
    assert page.get_by_role("columnheader", name="People").count() == 1
    found += axe_violations(page, "the distinct changes, filtered")

    # open the change
    page.locator(f"a[href$='/changes/{change.pk}/']").first.click()
    page.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    assert page.get_by_text(f"Distinct change #{change.pk}").count() == 1
    assert page.get_by_role("table", name="Who raised it, by organisation").count() == 1
    found += axe_violations(page, "a distinct change")
    shot(page, "detail")

    # name it
    page.get_by_label("Name", exact=True).fill("Friendlier receptionists")
    page.get_by_role("button", name="Save name and wording").click()
    page.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    assert h1(page) == "Friendlier receptionists"

    # merge another into it, found through the search of other changes
    other = repeated.exclude(pk=change.pk).first()
    page.get_by_role("searchbox", name="Find other changes").fill(str(other.pk))
    page.get_by_role("button", name="Find changes").click()
    page.wait_for_url(re.compile(rf"other={other.pk}"))
    page.get_by_label("Change to merge into this one").select_option(str(other.pk))
    page.get_by_role("button", name="Merge into this change").click()
    page.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    change.refresh_from_db()
    assert not DistinctChange.objects.filter(pk=other.pk).exists()
    assert change.count == change.members.count()
    assert "merged into this one" in page.locator(".nhsuk-inset-text").first.inner_text()

    # an invalid action: the error is summarised and shown by its field
    page.locator("#merge-number").fill("not a number")
    page.get_by_role("button", name="Merge into this change").click()
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible()
    assert page.title().startswith("Error: ")
    assert summary.locator("a").get_attribute("href") == "#merge-number"
    found += axe_violations(page, "a distinct change with an error")
    shot(page, "error")

    # split two submissions out, with the keyboard: tick two, name the new change, press Enter
    page.goto(analysed["analysis"] + f"changes/{change.pk}/")
    before = change.count
    press(page, "#members", "Space")
    press(page, "#members-2", "Space")
    page.get_by_label("Name of the new change").fill("Two who mentioned parking")
    page.get_by_label("Name of the new change").press("Enter")
    page.wait_for_url(re.compile(r"/changes/\d+/$"))
    new = DistinctChange.objects.get(name="Two who mentioned parking")
    assert page.url.endswith(f"/changes/{new.pk}/")
    assert h1(page) == "Two who mentioned parking"
    change.refresh_from_db()
    assert (new.count, change.count) == (2, before - 2)
    found += axe_violations(page, "the new change made by a split")

    # link a submission by its reference, then unlink one: without JavaScript, by keyboard
    nojs = no_js_page
    sign_in(nojs, analysed)
    detail = analysed["analysis"] + f"changes/{change.pk}/"
    nojs.goto(detail)
    assert "js-enabled" not in (nojs.locator("body").get_attribute("class") or "")
    outsider = fft.submissions.exclude(distinct_changes=change).order_by("id").first()
    nojs.get_by_label("Reference of the submission").fill(outsider.reference.lower())
    nojs.get_by_label("Reference of the submission").press("Enter")
    nojs.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    assert change.members.filter(pk=outsider.pk).exists()
    assert (
        f"Submission {outsider.reference} linked"
        in nojs.locator(".nhsuk-inset-text").first.inner_text()
    )

    # unlink it again: find it among the change's submissions by a word of it, tick it
    word = max(re.findall(r"\w+", outsider.text), key=len)
    nojs.get_by_label("Find in these submissions").fill(word)
    nojs.get_by_label("Find in these submissions").press("Enter")
    nojs.wait_for_url(re.compile(r"\?q="))
    assert "submissions contain" in nojs.locator("#submissions ~ p").first.inner_text()
    press(nojs, f"input[name=members][value='{outsider.pk}']", "Space")
    assert nojs.get_by_label(outsider.reference, exact=True).is_checked()
    press(nojs, "button[value=unlink]")
    nojs.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    assert not change.members.filter(pk=outsider.pk).exists()
    assert "1 submission unlinked" in nojs.locator(".nhsuk-inset-text").first.inner_text()

    # or search the programme's submissions to link one
    nojs.get_by_label("Or search the submissions").fill(word)
    nojs.get_by_label("Or search the submissions").press("Enter")
    nojs.wait_for_url(re.compile(r"\?find="))
    assert re.match(r"^\d+ submissions? found", nojs.locator("#found").inner_text())
    nojs.get_by_role("button", name=f"Link submission {outsider.reference}").click()
    nojs.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    assert change.members.filter(pk=outsider.pk).exists()

    # link a related change: the new one
    page.goto(detail)
    page.get_by_label("Related change").select_option(str(new.pk))
    page.get_by_role("button", name="Link as related").click()
    page.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    assert list(change.linked.all()) == [new]
    related = page.locator("#related ~ ul").first
    assert f"#{new.pk}" in related.inner_text()

    # the history tells what happened; both searches of submissions show results
    page.goto(detail + f"?find={word}&q={word}")
    history = page.locator("#history ~ div table").first.inner_text()
    for words in (
        "Name: ‘(none)’ → ‘Friendlier receptionists’",
        "Merged change",
        "Moved 2",
        f"Linked submission {outsider.reference}",
        f"Unlinked submission {outsider.reference}",
        "Linked to change",
    ):
        assert words in history, words
    found += axe_violations(page, "a distinct change with its history and a search")
    shot(page, "history")

    # undo the last action (the link of the related change) with the Undo control
    assert WorkspaceAction.objects.filter(programme=fft, undone_at=None).count() == 7
    page.get_by_role("button", name=re.compile(r"^Undo")).click()
    page.wait_for_url(re.compile(rf"/changes/{change.pk}/$"))
    assert "Undone" in page.locator(".nhsuk-inset-text").first.inner_text()
    assert not change.linked.exists()
    assert "Undid: Linked change" in page.locator("#history ~ div table").first.inner_text()
    found += axe_violations(page, "a distinct change after undo")
    assert_no_violations(found)
