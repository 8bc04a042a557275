"""The framework pages in a real browser, on 400 real FFT comments imported and analysed: the matrix
by organisation, by an equality answer and with codes, keep or never again, codes that go together,
and a reference profile entered with the keyboard and no JavaScript. Every page is checked with axe.
"""

from __future__ import annotations

import re
from urllib.parse import quote

import pytest
from browserkit import assert_no_violations, axe_violations, sign_in

pytestmark = pytest.mark.browser

AGES = ["25 to 34", "35 to 44", "45 to 54"]


def give_equality_answers(fft) -> int:
    """Give the first 150 respondents an age band and a sex; the rest say nothing. Returns the
    number of submissions whose respondent gave no age."""
    from changebank.listen.models import Respondent

    people = list(Respondent.objects.filter(programme=fft).order_by("id")[:150])
    assert len(people) == 150
    for i, person in enumerate(people):
        person.equality = {"age": AGES[i % 3], "sex": "Female" if i % 2 else "Male"}
    Respondent.objects.bulk_update(people, ["equality"])
    return fft.submissions.exclude(respondent__in=people).count()


def heading(page) -> str:
    assert page.get_by_role("heading", level=1).count() == 1
    return page.get_by_role("heading", level=1).inner_text().strip()


def test_framework_pages_work_and_have_no_axe_violations(axe_page, no_js_page, analysed):
    from changebank.understand.models import ReferenceShare

    fft, base = analysed["fft"], analysed["analysis"]
    no_age = give_equality_answers(fft)
    age = quote("equality:age")

    found: list[str] = []
    page = axe_page
    sign_in(page, analysed)
    page.goto(base + "who/?by=organisation")
    assert heading(page) == "Framework matrix"
    assert page.title().startswith("Framework matrix: ")
    caption = page.locator("caption").first.inner_text()
    assert caption == "Themes by organisation"
    # the trusts of the demo data head the columns, largest first; each theme has the flag
    headers = page.locator("thead th").all_inner_texts()
    assert headers[1].startswith("NEAS") and headers[2].startswith("NHFT"), headers
    assert headers[-1] == "Consistent across all groups"
    flags = page.locator("tbody tr td:last-child").all_inner_texts()
    assert flags and set(flags) <= {"Yes", "No"}
    found += axe_violations(page, "the framework matrix by organisation")

    page.goto(f"{base}who/?by={age}")
    assert page.locator("caption").first.inner_text() == "Themes by equality: age"
    headers = " ".join(page.locator("thead th").all_inner_texts())
    assert all(band in headers for band in AGES)
    assert f"{no_age} submissions have no answer about age" in page.locator("main").inner_text()
    found += axe_violations(page, "the framework matrix by an equality answer")

    page.goto(f"{base}who/?by={quote('attribute:Service type 2')}&rows=codes")
    assert page.locator("caption").first.inner_text() == "Codes by ‘Service type 2’"
    found += axe_violations(page, "the framework matrix with codes by an imported column")

    page.goto(base + "who/stance/")
    assert heading(page) == "Keep or never again in each theme"
    total = page.locator("tfoot tr").inner_text()
    assert total.startswith("All submissions")
    assert f"\t{fft.submissions.count()}\t" in total
    found += axe_violations(page, "keep or never again")

    page.goto(base + "who/together/")
    assert heading(page) == "Codes that go together"
    assert page.locator("table").first.locator("tbody tr").count() == min(15, fft.codes.count())
    found += axe_violations(page, "codes that go together")
    page.goto(base + "who/together/?measure=lift")
    found += axe_violations(page, "codes that go together, with lift")

    # A mistake in the reference profile: the error summary links to the field.
    page.goto(f"{base}who/representation/?by={age}")
    assert heading(page) == "Representation check"
    found += axe_violations(page, "the representation check")
    page.locator("#id_share_0").fill("lots")
    page.get_by_role("button", name="Save the reference profile").click()
    page.wait_for_load_state()
    summary = page.locator(".nhsuk-error-summary")
    assert "Row 1, share: enter the share of ‘Under 18’ as a number" in summary.inner_text()
    assert page.title().startswith("Error: ")
    found += axe_violations(page, "the representation check with an error")

    # Without JavaScript, with the keyboard: fill in shares and press Enter.
    page = no_js_page
    sign_in(page, analysed)
    page.goto(f"{base}who/?by=organisation")
    link = page.locator("tbody tr").first.locator("td a").first
    link.focus()
    page.keyboard.press("Enter")
    page.wait_for_url(re.compile(r"/analysis/submissions/\?theme=\d+&organisation="))

    page.goto(f"{base}who/representation/?by={age}")
    assert "js-enabled" not in (page.locator("body").get_attribute("class") or "")

    def share_of(group: str):
        field = page.locator(f'input[name^="group_"][value="{group}"]')
        assert field.count() == 1, group
        return page.locator("#" + field.get_attribute("id").replace("group_", "share_"))

    for group, share in [("25 to 34", "30"), ("35 to 44", "30"), ("45 to 54", "20")]:
        share_of(group).fill(share)
    page.get_by_label("Source of the reference shares (optional)").fill("Made-up local figures")
    last = share_of("75 or over")
    last.fill("10")
    last.press("Enter")
    page.wait_for_url(re.compile(r"/who/representation/\?by=equality%3Aage$"))
    assert (
        "Reference profile for Equality: age saved: 4 groups." in page.locator("main").inner_text()
    )
    row = page.locator("tbody tr", has=page.locator("th", has_text="75 or over")).first
    assert row.locator("td").last.inner_text().strip() == "Not yet reached"
    assert "Not yet reached: 75 or over." in page.locator(".nhsuk-warning-callout").inner_text()
    assert "χ² =" in page.locator("main").inner_text()
    saved = ReferenceShare.objects.filter(programme=fft, attribute="equality:age")
    assert sorted(saved.values_list("group", "share")) == [
        ("25 to 34", 30.0),
        ("35 to 44", 30.0),
        ("45 to 54", 20.0),
        ("75 or over", 10.0),
    ]

    page = axe_page
    page.goto(f"{base}who/representation/?by={age}")
    assert page.locator(".nhsuk-warning-callout").count() == 1
    found += axe_violations(page, "the representation check with a reference profile")
    assert_no_violations(found)
