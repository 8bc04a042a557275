"""Double coding end to end in a real browser: draw a sample through the form, code it as two
analysts (one of them without JavaScript), read the agreement, resolve a disagreement, undo it,
and apply the agreed codes; axe on every page."""

from __future__ import annotations

import re

import pytest
from browserkit import (
    ANALYST_PASSWORD,
    TIMEOUT_MS,
    assert_no_violations,
    axe_violations,
    sign_in,
)

pytestmark = pytest.mark.browser


def codes_of(submission) -> set[int]:
    return set(submission.code_assignments.values_list("code_id", flat=True))


def code_sample(page, plan, *, keyboard: bool = False) -> None:
    """Code every submission of the sample from the first: ``plan[i]`` are the codes to tick."""
    for position, codes in enumerate(plan, start=1):
        assert page.get_by_role("heading", level=1).inner_text() == (
            f"Submission {position} of {len(plan)}"
        )
        assert f"{position - 1} of {len(plan)} coded" in page.locator("#progress").inner_text()
        # blind: nothing is ticked before the coder ticks it
        assert page.locator("input[name=codes]:checked").count() == 0
        for code in codes:
            box = page.locator(f"#code-{code.pk}")
            if keyboard:
                box.focus()
                page.keyboard.press("Space")
            else:
                box.check()
            assert box.is_checked()
        last = position == len(plan)
        name = "Save" if last else "Save and go to the next"
        page.get_by_role("button", name=name, exact=True).click()
        page.wait_for_url(re.compile(rf"/code/{position if last else position + 1}/$"))
    assert f"{len(plan)} of {len(plan)} coded" in page.locator("#progress").inner_text()


def test_double_coding_end_to_end(axe_page, browser, analysed):
    from django.contrib.auth.models import Group, User

    from changebank.understand.models import CodingSample, SampleResolution

    page = axe_page
    fft = analysed["fft"]
    first = analysed["user"]
    second = User.objects.create_user("second-analyst", password=ANALYST_PASSWORD)
    second.groups.add(Group.objects.get(name="analyst"))
    a, b, c = fft.codes.order_by("-size", "pk")[:3]
    found = []

    # --- the list of samples and the form ---------------------------------------------------------
    sign_in(page, analysed)
    page.goto(analysed["analysis"] + "double-coding/")
    assert page.get_by_role("heading", level=1).inner_text() == "Double coding"
    assert page.get_by_role("link", name="Back to the theme board").count() == 1
    found += axe_violations(page, "the list of samples, empty")
    page.get_by_role("link", name="Draw a new sample").click()
    found += axe_violations(page, "the new sample form")

    page.get_by_label("Name of the sample").fill("Pilot double coding")
    page.get_by_label("How many submissions").fill("0")
    page.get_by_label(first.username, exact=True).check()
    page.get_by_role("button", name="Draw the sample").click()
    summary = page.locator(".nhsuk-error-summary")
    assert "Choose at least two different coders" in summary.inner_text()
    assert "The sample size must be between 1 and" in summary.inner_text()
    assert page.title().startswith("Error: ")
    found += axe_violations(page, "the new sample form with errors")

    page.get_by_label("How many submissions").fill("6")
    page.get_by_label(second.username, exact=True).check()
    page.get_by_label("Stratify by question").check()
    page.get_by_label("Random seed (optional)").fill("42")
    page.get_by_role("button", name="Draw the sample").click()
    page.wait_for_url(re.compile(r"/double-coding/\d+/$"))
    sample = CodingSample.objects.get(name="Pilot double coding")
    assert sample.submissions.count() == 6
    assert set(sample.coders.values_list("username", flat=True)) == {
        first.username,
        "second-analyst",
    }
    assert "seed 42" in page.locator("main").inner_text()
    found += axe_violations(page, "a sample's page")

    # --- the first coder codes with the mouse, and tries the filter -------------------------------
    page.get_by_role("link", name="Code your share of the sample").click()
    page.wait_for_url(re.compile(r"/code/1/$"))
    found += axe_violations(page, "the coder's page")
    page.get_by_label("Show only codes or themes containing").fill(a.label)
    page.get_by_role("button", name="Filter the codes").click()
    page.wait_for_url(re.compile(r"\?filter="))
    assert page.locator(f"#code-{a.pk}").count() == 1
    found += axe_violations(page, "the coder's page, filtered")
    page.get_by_role("link", name="Show every code").click()
    plan_first = [[a], [b], [], [a, c], [c], [b]]
    code_sample(page, plan_first)

    # --- the second coder codes with the keyboard and no JavaScript --------------------------------
    context = browser.new_context(java_script_enabled=False)
    context.set_default_timeout(TIMEOUT_MS)
    other = context.new_page()
    sign_in(other, {**analysed, "user": second})
    other.goto(analysed["analysis"] + "double-coding/")
    other.get_by_role("link", name="Code the sample Pilot double coding").click()
    other.wait_for_url(re.compile(r"/code/1/$"))
    plan_second = [[b], [b], [], [a, c], [c], [a]]
    code_sample(other, plan_second, keyboard=True)
    # the resolve page is open to her now that she has finished
    other.goto(analysed["analysis"] + f"double-coding/{sample.pk}/resolve/")
    assert "Finish your own coding first" not in other.locator("main").inner_text()
    context.close()

    # --- agreement -----------------------------------------------------------------------------
    page.goto(analysed["analysis"] + f"double-coding/{sample.pk}/")
    page.get_by_role("link", name="Agreement between the coders").click()
    assert page.get_by_role("heading", level=1).inner_text() == "Agreement between the coders"
    main = page.locator("main").inner_text()
    assert "6 of 6 submissions have been coded by both coders" in main
    assert "4 of 6 submissions got exactly the same codes" in main
    table = page.get_by_role("table", name=re.compile("Agreement on each code"))
    assert table.locator(f"tr[data-code='{a.pk}']").count() == 1
    assert "Too few uses" in table.inner_text()  # no code reaches 5 uses in 6 submissions
    found += axe_violations(page, "the agreement page")

    # --- resolve one disagreement, then undo it ----------------------------------------------------
    page.get_by_role("link", name="Resolve disagreements and apply the agreed codes").click()
    main = page.locator("main").inner_text()
    assert "disagreed on 2" in main and "fully agreed on 4" in main
    found += axe_violations(page, "the resolve page")
    subs = list(sample.submissions.order_by("pk"))
    target = subs[0]
    before = codes_of(target)
    card = page.locator(f"#submission-{target.pk}")
    assert "Not resolved" in card.inner_text()
    table = card.get_by_role("table")
    assert first.username in table.inner_text() and "second-analyst" in table.inner_text()
    # nothing both chose, so nothing is ticked to start with
    assert card.locator("input[name=codes]:checked").count() == 0
    card.get_by_label(a.label, exact=True).check()
    card.get_by_label(b.label, exact=True).check()
    with page.expect_navigation():
        card.get_by_role("button", name="Save the agreed codes for submission 1").click()
    assert codes_of(target) == {a.pk, b.pk}
    assert SampleResolution.objects.filter(sample=sample, submission=target).exists()
    card = page.locator(f"#submission-{target.pk}")
    assert "Resolved" in card.locator(".nhsuk-tag").inner_text()
    found += axe_violations(page, "the resolve page after a resolution")

    with page.expect_navigation(url=re.compile(r"/resolve/")):
        page.get_by_role("button", name=re.compile("^Undo")).click()
    assert codes_of(target) == before
    card = page.locator(f"#submission-{target.pk}")
    assert "Not resolved" in card.inner_text()
    assert "It has been undone since" in card.inner_text()
    found += axe_violations(page, "the resolve page after undo")

    # --- apply the agreed codes to the four fully agreed submissions -------------------------------
    with page.expect_navigation():
        page.get_by_role("button", name=re.compile("Apply the agreed codes to the 4")).click()
    for sub, plan in zip(subs[1:5], plan_first[1:5], strict=True):
        assert codes_of(sub) == {code.pk for code in plan}
    assert "4 applied to the submissions" in page.locator("main").inner_text()
    found += axe_violations(page, "the resolve page after applying the agreed codes")

    page.goto(analysed["analysis"] + "double-coding/")
    assert "Pilot double coding" in page.get_by_role("table").inner_text()
    found += axe_violations(page, "the list of samples")
    assert_no_violations(found)
