"""The analysts' workspace in a real browser on the demo data: the theme board, a code's and a
theme's pages, coding one submission and the survey grid, undo and the history of changes."""

from __future__ import annotations

import re

import pytest
from browserkit import assert_no_violations, axe_violations, sign_in

pytestmark = pytest.mark.browser


def test_theme_board_with_the_keyboard_undo_and_history(axe_page, analysed):
    from changebank.understand.models import Code, Theme, WorkspaceAction

    page, fft, base = axe_page, analysed["fft"], analysed["analysis"]
    found = []
    sign_in(page, analysed)
    page.goto(base)
    assert page.get_by_role("heading", name="Theme board").count() == 1
    found += axe_violations(page, "the theme board")

    # create a theme from the keyboard only
    page.get_by_label("Name of the new theme").focus()
    page.keyboard.type("Getting there and back")
    with page.expect_navigation(url=re.compile(r"/analysis/$")):
        page.keyboard.press("Enter")
    theme = Theme.objects.get(programme=fft, label="Getting there and back")

    # filter the board
    biggest, second = fft.codes.order_by("-size", "pk")[:2]
    word = biggest.keywords[0]
    page.get_by_label("Show themes and codes containing").fill(word)
    with page.expect_navigation(url=re.compile(r"\?q=")):
        page.get_by_role("button", name="Filter the board").click()
    assert page.get_by_role("link", name=biggest.label, exact=True).count() >= 1

    # rename a code with the keyboard; put it under the new theme as well as its own
    page.goto(f"{base}codes/{biggest.pk}/")
    name = page.get_by_label("Name", exact=True)
    name.fill("Helpful, caring crews")
    with page.expect_navigation(url=re.compile(rf"/codes/{biggest.pk}/$")):
        name.press("Enter")
    assert page.get_by_role("heading", level=1).inner_text().strip() == "Helpful, caring crews"
    page.get_by_label("Theme", exact=True).select_option(str(theme.pk))
    with page.expect_navigation(url=re.compile(rf"/codes/{biggest.pk}/$")):
        page.get_by_role("button", name="Put under this theme as well").click()
    biggest.refresh_from_db()
    assert biggest.theme_id != theme.pk and list(biggest.also_in.all()) == [theme]
    found += axe_violations(page, "a code's page")

    # split two picked submissions off into a new code
    page.locator("input[name=submissions]").nth(0).check()
    page.locator("input[name=submissions]").nth(1).check()
    page.get_by_label("Move the picked submissions to a new code named").fill("Picked out")
    with page.expect_navigation(url=re.compile(rf"/codes/{biggest.pk}/$")):
        page.get_by_role("button", name="Split the picked submissions off").click()
    assert Code.objects.get(programme=fft, label="Picked out").assignments.count() == 2

    # merge the second code into it, then undo the merge from the page
    size_before = Code.objects.get(pk=biggest.pk).size
    page.goto(f"{base}codes/{second.pk}/")
    page.get_by_label("Merge into another code").select_option(str(biggest.pk))
    with page.expect_navigation(url=re.compile(rf"/codes/{biggest.pk}/$")):
        page.get_by_role("button", name="Merge", exact=True).click()
    assert not Code.objects.filter(pk=second.pk).exists()
    assert "Merged the code" in page.locator(".cb-undo").inner_text()
    with page.expect_navigation(url=re.compile(rf"/codes/{biggest.pk}/$")):
        page.locator(".cb-undo").get_by_role("button", name=re.compile("^Undo")).click()
    assert Code.objects.get(pk=second.pk).size == second.size
    assert Code.objects.get(pk=biggest.pk).size == size_before

    # the theme board shows the code under both themes
    page.goto(base)
    board = page.locator("main").inner_text()
    assert "also here" in board and "Getting there and back" in board

    # the theme page: what this means and chosen quotes
    page.goto(f"{base}themes/{biggest.theme_id}/")
    found += axe_violations(page, "a theme's page")
    page.get_by_label("What this means").fill("Crews were kind and explained what was happening.")
    page.locator("input[name=quotes]").first.check()
    with page.expect_navigation(url=re.compile(r"/themes/\d+/$")):
        page.get_by_role("button", name="Save the theme").click()
    home = Theme.objects.get(pk=biggest.theme_id)
    assert home.meaning.startswith("Crews were kind") and len(home.chosen_quotes) == 1
    assert "Crews were kind" in page.locator("main").inner_text()

    # re-cluster a code into two, and delete the new code with a confirmation
    page.goto(f"{base}codes/{biggest.pk}/")
    page.get_by_label("Split by clustering its submissions again into").fill("2")
    with page.expect_navigation(url=re.compile(rf"/codes/{biggest.pk}/$")):
        page.get_by_role("button", name="Split by clustering").click()
    new = Code.objects.filter(programme=fft, pk__gt=biggest.pk).order_by("-pk").first()
    assert new.label != "Picked out" and new.size > 0
    page.goto(f"{base}codes/{new.pk}/")
    with page.expect_navigation():
        page.get_by_role("button", name="Delete the code").click()
    assert "Tick the box" in page.locator("main").inner_text()
    page.get_by_label(re.compile("Yes, delete this code")).check()
    with page.expect_navigation(url=re.compile(r"/analysis/$")):
        page.get_by_role("button", name="Delete the code").click()
    assert not Code.objects.filter(pk=new.pk).exists()

    # the history: who did what, with undo of the latest
    page.goto(f"{base}history/")
    found += axe_violations(page, "the history of changes")
    rows = page.locator("tbody tr")
    assert rows.count() == WorkspaceAction.objects.filter(programme=fft).count() >= 8
    text = page.locator("tbody").inner_text()
    assert "browser-analyst" in text and "Undone" in text and "Deleted the code" in text
    with page.expect_navigation(url=re.compile(r"/history/$")):
        page.get_by_role("button", name=re.compile("^Undo")).click()
    assert Code.objects.filter(pk=new.pk).exists()
    # the code's own history says what happened to it
    page.goto(f"{base}codes/{biggest.pk}/")
    history = page.locator("#history + div").inner_text()
    assert "Helpful, caring crews" in history and "browser-analyst" in history
    assert_no_violations(found)


def test_coding_view_grid_spans_and_suggestions(axe_page, no_js_page, analysed):
    from changebank.understand.models import CodeAssignment, CodeSpan

    page, fft, base = axe_page, analysed["fft"], analysed["analysis"]
    found = []
    sign_in(page, analysed)

    # the survey grid with respondent details, filtered, and a bulk accept above a threshold
    page.goto(f"{base}coding/?coding=ai")
    found += axe_violations(page, "the coding grid")
    header = page.locator("thead").inner_text()
    assert "Organisation" in header and "Service" in header
    assert page.locator("tbody tr").count() == 25
    ai = CodeAssignment.objects.filter(code__programme=fft, origin="ai")
    confident = ai.filter(confidence__gte=0.8).count()
    page.get_by_label(re.compile("Accept every AI suggestion")).fill("80")
    with page.expect_navigation(url=re.compile(r"/coding/\?coding=ai$")):
        page.get_by_role("button", name="Accept in bulk").click()
    assert CodeAssignment.objects.filter(code__programme=fft, origin="human").count() == confident

    # one submission: accept one suggestion, reject another, code selected words
    sub = next(
        s
        for s in fft.submissions.order_by("pk")
        if len(s.text) > 80 and s.code_assignments.filter(origin="ai").count() >= 1
    )
    page.goto(f"{base}coding/{sub.pk}/")
    found += axe_violations(page, "coding one submission")
    suggestion = sub.code_assignments.filter(origin="ai").first()
    assert "% confident" in page.locator("main").inner_text()
    with page.expect_navigation(url=re.compile(rf"/coding/{sub.pk}/$")):
        page.get_by_role("button", name=f"Reject {suggestion.code.label}").click()
    assert not sub.code_assignments.filter(code=suggestion.code).exists()

    words = sub.text.split()[2:5]
    target = " ".join(words)
    start = sub.text.index(target)
    # select the words with the mouse (a DOM selection) as an analyst would
    page.evaluate(
        """([start, end]) => {
            const p = document.getElementById('submission-text');
            const node = p.firstChild;
            const range = document.createRange();
            range.setStart(node, start); range.setEnd(node, end);
            const sel = window.getSelection(); sel.removeAllRanges(); sel.addRange(range);
            p.dispatchEvent(new MouseEvent('mouseup', {bubbles: true}));
        }""",
        [start, start + len(target)],
    )
    assert page.get_by_label("Words to code").input_value() == target
    code = fft.codes.order_by("label").first()
    page.locator("#span-code").select_option(str(code.pk))
    with page.expect_navigation(url=re.compile(rf"/coding/{sub.pk}/$")):
        page.get_by_role("button", name="Code the words").click()
    span = CodeSpan.objects.get(assignment__submission=sub)
    assert (span.start, span.end) == (start, start + len(target))
    assert page.locator("#submission-text mark").inner_text() == target
    found += axe_violations(page, "a submission with highlighted words")

    # without JavaScript: type the words, then save codes and go to the next one
    page = no_js_page
    sign_in(page, analysed)
    page.goto(f"{base}coding/{sub.pk}/")
    typed = sub.text.split()[-2]
    page.get_by_label("Words to code").fill(typed)
    page.locator("#span-code").select_option(str(code.pk))
    with page.expect_navigation(url=re.compile(rf"/coding/{sub.pk}/$")):
        page.get_by_role("button", name="Code the words").click()
    assert CodeSpan.objects.filter(assignment__submission=sub).count() == 2
    page.locator(f"#code-{code.pk}").check()
    with page.expect_navigation(url=re.compile(r"/coding/\d+/$")):
        page.get_by_role("button", name="Save and code the next one").click()
    assert not page.url.endswith(f"/coding/{sub.pk}/")
    assert sub.code_assignments.filter(code=code, origin="human").exists()
    assert_no_violations(found)
