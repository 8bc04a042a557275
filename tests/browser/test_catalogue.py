"""The public catalogue in a real browser: a contributor answers the public form and keeps their
reference; the analysts code it into a theme and a distinct change that is being adopted and
publish the theme from the publishing page; a reader browses, searches and filters the catalogue,
opens the theme and change permalinks and adds an experience; the contributor enters their
reference on "you said, we did" (once with JavaScript off) and sees the change is being adopted.
axe-core runs on every kind of page."""

from __future__ import annotations

import os
import re

import pytest
from browserkit import (
    assert_no_violations,
    axe_violations,
    expect_reference,
    fill_form,
    form_url,
    sign_in,
)

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("CHANGEBANK_SCREENSHOTS")


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/catalogue-{name}.png", full_page=True)


ANSWER = (
    "The virtual ward let my father come home early; Nurse Jenny rang him on 07700 900123 "
    "every morning instead of him staying in hospital."
)


def analyse(programme, reference):
    """What the analysts would do: approve the answer, code it into a theme, group it into a
    distinct change, adopt the change and publish an evaluation; and a second theme."""
    from changebank.evaluate.models import Evaluation, Stage, TrackedChange
    from changebank.listen.models import Submission
    from changebank.understand.models import Code, CodeAssignment, DistinctChange, Theme

    answers = Submission.objects.filter(programme=programme, reference=reference)
    assert answers.count() == 1
    answers.update(moderation_status=Submission.Moderation.APPROVED)
    theme = Theme.objects.create(
        programme=programme,
        label="Virtual wards",
        meaning="Care at home, with a daily call and remote monitoring, instead of a hospital bed.",
    )
    code = Code.objects.create(programme=programme, theme=theme, label="Virtual ward visits")
    change = DistinctChange.objects.create(
        programme=programme,
        code=code,
        name="Keep virtual wards",
        text="Keep virtual wards so older people can recover at home",
        count=1,
    )
    for s in answers:
        CodeAssignment.objects.create(submission=s, code=code)
        change.members.add(s)
    tracked = TrackedChange.objects.create(
        programme=programme,
        change=change,
        title="Virtual wards for older people",
        stage=Stage.ADOPTING,
        rsa="amplify",
    )
    evaluation = Evaluation.objects.create(
        programme=programme,
        title="Virtual wards: a before-and-after study",
        summary="A study.",
        public=True,
    )
    evaluation.changes.add(tracked)
    other = Theme.objects.create(programme=programme, label="Car parking")
    parking = Code.objects.create(programme=programme, theme=other, label="Parking charges")
    other_change = DistinctChange.objects.create(
        programme=programme, code=parking, text="Free parking for NHS staff", count=0
    )
    return theme, change, other, other_change


def test_catalogue_search_and_you_said_we_did(axe_page, no_js_page, site):
    page, base = axe_page, site["base"]
    programme = site["programme"]
    found: list[str] = []

    # A contributor answers the public form and keeps their reference number.
    page.goto(form_url(site))
    fill_form(page, ANSWER)
    page.get_by_role("radio", name="Patient", exact=True).check()
    page.get_by_role("button", name="Send my answers").click()
    reference = expect_reference(page)
    theme, change, other, other_change = analyse(programme, reference)

    # An analyst publishes both themes, the second without inviting experiences.
    sign_in(page, site)
    page.goto(f"{base}/programmes/{programme.slug}/share/catalogue/")
    found += axe_violations(page, "the publishing page")
    page.get_by_role("button", name="Publish ‘Virtual wards’").click()
    page.wait_for_url(re.compile(rf"/share/catalogue/#theme-{theme.pk}$"))
    assert "‘Virtual wards’ is published" in page.locator("[role=status]").inner_text()
    page.get_by_label("Invite experiences on ‘Car parking’").uncheck()
    page.get_by_role("button", name="Publish ‘Car parking’").click()
    page.wait_for_url(re.compile(rf"#theme-{other.pk}$"))
    assert page.get_by_role("button", name="Withdraw ‘Car parking’").count() == 1
    found += axe_violations(page, "the publishing page after publishing")
    shot(page, "publishing")
    page.context.clear_cookies()  # from here on, a reader

    # A reader browses the catalogue.
    page.goto(f"{base}/catalogue/")
    results = page.locator("#results").inner_text()
    assert "2 themes and 2 distinct changes" in results
    card = page.locator("#themes > li").filter(has_text="Virtual wards").first
    assert "1 person raised this, mostly patients (1)" in card.inner_text()
    assert "07700" not in page.content() and "Jenny" not in page.content()
    assert "[PHONE]" in card.inner_text()  # consented, approved, redacted
    found += axe_violations(page, "the catalogue")
    shot(page, "list")

    # … searches …
    page.get_by_label("Search the catalogue (optional)").fill("virtual ward")
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r"q=virtual\+ward"))
    assert (
        "1 theme and 1 distinct change match your search" in page.locator("#results").inner_text()
    )
    assert "Car parking" not in page.locator("#themes").inner_text()
    found += axe_violations(page, "search results")

    # … filters the changes by status and RSA category …
    page.get_by_role("link", name=re.compile(r"Distinct changes \(1\)")).click()
    page.wait_for_url(re.compile(r"show=changes"))
    page.get_by_label("Search the catalogue (optional)").fill("")
    page.get_by_label("Status (optional)").select_option("adopting")
    page.get_by_label("RSA category (optional)").select_option("amplify")
    page.get_by_role("button", name="Search", exact=True).click()
    page.wait_for_url(re.compile(r"stage=adopting"))
    changes = page.locator("#changes").inner_text()
    assert "Virtual wards for older people" in changes and "Free parking" not in changes
    assert "Adopting" in changes
    found += axe_violations(page, "the changes, filtered")

    # … opens the change's permalink, then its theme's.
    page.get_by_role("link", name="Virtual wards for older people", exact=True).click()
    page.wait_for_url(re.compile(rf"/catalogue/changes/{change.pk}/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Virtual wards for older people"
    summary = page.locator(".nhsuk-summary-list").inner_text()
    assert "Adopting" in summary and "Amplify" in summary
    assert "Virtual wards: a before-and-after study" in summary
    found += axe_violations(page, "a change's permalink")
    shot(page, "change")
    page.locator(".nhsuk-summary-list").get_by_role(
        "link", name="Virtual wards", exact=True
    ).click()
    page.wait_for_url(re.compile(rf"/catalogue/themes/{theme.pk}/$"))
    assert page.get_by_role("heading", level=1).inner_text() == "Virtual wards"
    assert "Care at home" in page.content()
    assert page.get_by_role("table", name="People who raised this theme, by group").count() == 1
    found += axe_violations(page, "a theme's permalink")
    shot(page, "theme")

    # Adds an experience: a mistake first.
    page.get_by_role("button", name="Send my experience").click()
    page.wait_for_url(re.compile(r"/experience/$"))
    assert "Enter your experience" in page.locator(".nhsuk-error-summary").inner_text()
    assert page.title().startswith("Error:")
    found += axe_violations(page, "the experience form with errors")
    page.get_by_label("Your experience", exact=True).fill(
        "My mother was on a virtual ward too; the daily calls meant she slept in her own bed."
    )
    page.get_by_role("radio", name="Carer").check()
    page.get_by_label("I agree to how my experience will be used").check()
    page.get_by_role("button", name="Send my experience").click()
    page.wait_for_url(re.compile(r"/experience/done/$"))
    added = page.locator("strong#reference").inner_text().strip()
    found += axe_violations(page, "the thank-you page")

    from changebank.listen.models import Submission
    from changebank.share.models import Experience

    experience = Experience.objects.select_related("submission").get(theme=theme)
    assert experience.submission.reference == added
    assert experience.submission.source == Submission.Source.EXPERIENCE
    assert experience.submission.moderation_status == Submission.Moderation.PENDING
    assert experience.submission.consent_given is True
    page.goto(f"{base}/catalogue/themes/{other.pk}/")
    assert page.get_by_role("button", name="Send my experience").count() == 0

    # The contributor, on "you said, we did".
    page.goto(f"{base}/you-said-we-did/")
    found += axe_violations(page, "the you-said-we-did form")
    page.get_by_label("Your reference number").fill("CB-2222-2222")
    page.get_by_role("button", name="Find my answers").click()
    page.wait_for_url(re.compile(r"reference="))
    assert "We could not find that reference number" in page.content()
    found += axe_violations(page, "a reference not found")
    page.get_by_label("Your reference number").fill(" " + reference.lower().replace("-", " "))
    page.get_by_role("button", name="Find my answers").click()
    page.wait_for_url(re.compile(r"reference=.*cb"))
    main = page.locator("main").inner_text()
    assert reference in main and "[PHONE]" in main and "07700" not in main
    assert "Virtual wards for older people" in main and "Adopting" in main
    assert "Free parking" not in main
    found += axe_violations(page, "what became of an answer")
    shot(page, "you-said")

    # … and once more without JavaScript.
    no_js = no_js_page
    no_js.goto(f"{base}/catalogue/")
    no_js.get_by_role("link", name=re.compile("you said, we did")).click()
    no_js.wait_for_url(re.compile(r"/you-said-we-did/$"))
    no_js.get_by_label("Your reference number").fill(reference)
    no_js.get_by_role("button", name="Find my answers").click()
    no_js.wait_for_url(re.compile(r"reference="))
    main = no_js.locator("main").inner_text()
    assert "Virtual wards for older people" in main and "Adopting" in main
    assert no_js.locator("main").get_by_role("link", name="Virtual wards", exact=True).count() >= 1

    assert_no_violations(found)
