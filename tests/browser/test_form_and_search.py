"""End-to-end checks in a real browser: the public form, finding an answer, accessibility.

Drives Debian's chromium through Playwright's sync API against pytest-django's live server.
"""

from __future__ import annotations

import re

import pytest
from browserkit import (
    ANSWER,
    assert_no_violations,
    axe_violations,
    expect_reference,
    fill_form,
    form_url,
    search,
    sign_in,
    submit_answer,
)

pytestmark = pytest.mark.browser


# --- tests ----------------------------------------------------------------------------------------


def test_contributor_submits_and_analyst_finds_it(page, site):
    from changebank.listen.models import Submission

    reference = submit_answer(page, site)
    submission = Submission.objects.get(reference=reference)
    assert submission.text == ANSWER
    assert submission.consent_given is True

    sign_in(page, site)
    search(page, site, "journeys")
    assert "1 submission matching" in page.locator("#results").inner_text()
    row = page.get_by_role("link", name=ANSWER)
    assert row.count() == 1
    row.click()

    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    assert page.get_by_role("heading", level=1).inner_text().strip() == f"Submission {reference}"
    assert page.locator("blockquote").inner_text().strip() == ANSWER

    # Every word must appear: adding one that is not in the answer finds nothing.
    search(page, site, "virtual parking")
    assert page.locator("#results").inner_text().startswith("0 submissions")


def test_form_can_be_used_with_the_keyboard(page, site):
    page.goto(form_url(site))
    # Tab through the whole form: every question is reachable, the honeypot never is.
    visited = []
    for _ in range(80):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            "() => document.activeElement.id || document.activeElement.textContent.trim()"
        )
        visited.append(focused)
        if focused == "Send my answers":
            break
    assert "Send my answers" in visited, f"submit button never focused: {visited}"
    assert "id_q_keep" in visited
    assert "id_consent" in visited
    assert "id_website" not in visited, "the spam trap is reachable with the keyboard"

    page.locator("#id_q_keep").focus()
    page.keyboard.type(ANSWER)
    page.locator("#id_consent").focus()
    page.keyboard.press("Space")
    assert page.locator("#id_consent").is_checked()
    page.get_by_role("button", name="Send my answers").focus()
    page.keyboard.press("Enter")
    expect_reference(page)


def test_form_works_without_javascript(no_js_page, site):
    page = no_js_page
    page.goto(form_url(site))
    # The NHS.UK template marks <body> with js-enabled from an inline script; here it never runs.
    assert "js-enabled" not in (page.locator("body").get_attribute("class") or "")
    submit_answer(page, site, "Video appointments meant I did not need to take a day off work")

    from changebank.listen.models import Submission

    assert Submission.objects.filter(text__startswith="Video appointments").count() == 1


def test_form_pages_have_no_axe_violations(axe_page, site):
    page = axe_page
    found = []
    page.goto(form_url(site))
    found += axe_violations(page, "the public form")

    page.get_by_role("button", name="Send my answers").click()
    page.wait_for_load_state()
    summary = page.locator(".nhsuk-error-summary")
    assert summary.is_visible()
    assert "There is a problem" in summary.inner_text()
    assert page.title().startswith("Error: ")
    # Each error in the summary links to a field that exists on the page.
    hrefs = summary.locator("a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    assert hrefs == ["#id_q_keep", "#id_consent"], hrefs
    for href in hrefs:
        assert page.locator(href).count() == 1, f"error summary links to missing {href}"
    found += axe_violations(page, "the public form with errors")

    fill_form(page)
    page.get_by_role("button", name="Send my answers").click()
    expect_reference(page)
    found += axe_violations(page, "the thank-you page")
    assert_no_violations(found)


def test_analyst_pages_have_no_axe_violations(axe_page, site):
    page = axe_page
    reference = submit_answer(page, site)
    found = []

    sign_in(page, site)
    search(page, site, "virtual")
    assert page.get_by_role("link", name=ANSWER).count() == 1
    found += axe_violations(page, "the submissions list with a search")

    page.get_by_role("link", name=ANSWER).click()
    page.wait_for_url(re.compile(r"/submissions/\d+/$"))
    assert reference in page.get_by_role("heading", level=1).inner_text()
    found += axe_violations(page, "a submission's page")
    assert_no_violations(found)


def test_understand_pages_work_without_javascript_and_have_no_axe_violations(
    axe_page, no_js_page, site
):
    """The analyst's workspace: themes, a code, renaming it with the keyboard and no JavaScript,
    the review queue and the long list of distinct changes."""
    import csv

    from changebank.demo import FFT_SAMPLE
    from changebank.listen.models import Submission
    from changebank.understand.analyse import analyse_now

    programme = site["programme"]
    with FFT_SAMPLE.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:300]
    Submission.objects.bulk_create(
        Submission(
            programme=programme,
            text=r["FFT answer"],
            source=Submission.Source.IMPORT,
            reference=f"CB-B{i:04d}",
            dedupe_key=f"b{i}",
        )
        for i, r in enumerate(rows)
    )
    assert analyse_now(programme, embedder="wordllama").status == "done"
    base = f"{site['base']}/programmes/{programme.slug}/analysis/"
    code = programme.codes.order_by("-size")[0]

    found = []
    page = axe_page
    sign_in(page, site)
    for path, what in [
        ("", "themes and codes"),
        (f"codes/{code.pk}/", "a code"),
        (f"themes/{code.theme_id}/", "a theme"),
        ("review/", "the review queue"),
        ("changes/", "distinct changes"),
        (f"changes/{programme.distinct_changes.first().pk}/", "a distinct change"),
        ("who/?by=question", "who said it"),
        ("submissions/?stance=keep&coding=ai", "find submissions"),
        (f"runs/{programme.analysis_runs.first().pk}/", "an analysis run"),
    ]:
        page.goto(base + path)
        assert page.get_by_role("heading", level=1).count() == 1
        found += axe_violations(page, what)
    assert_no_violations(found)

    page = no_js_page
    sign_in(page, site)
    page.goto(f"{base}codes/{code.pk}/")
    page.get_by_label("Name", exact=True).fill("Friendly, caring staff")
    page.get_by_label("Name", exact=True).press("Enter")
    page.wait_for_url(re.compile(rf"/codes/{code.pk}/$"))
    assert page.get_by_role("heading", level=1).inner_text().strip() == "Friendly, caring staff"
    code.refresh_from_db()
    assert code.origin == "human"
