"""End-to-end checks in a real browser: the public form, finding an answer, accessibility.

Drives Debian's chromium through Playwright's sync API against pytest-django's live server.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

# Playwright's sync API runs an asyncio event loop in this thread, which trips Django's
# "async unsafe" guard on every ORM call made by the test itself. This is the standard
# setting for Playwright with pytest-django; it must be set before any database access.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = Path("/usr/bin/chromium")
AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"

if not CHROMIUM.exists():
    pytest.skip(f"Debian chromium not installed at {CHROMIUM}", allow_module_level=True)
if not AXE.exists():
    pytest.skip(f"axe-core not installed at {AXE}; run `npm install`", allow_module_level=True)

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) not installed")

pytestmark = pytest.mark.browser

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
REFERENCE = re.compile(r"^CB-[A-Z0-9]{4}-[A-Z0-9]{4}$")
ANSWER = "The virtual ward visits saved my father three bus journeys a week"
ANALYST_PASSWORD = "a-long-browser-test-password"
TIMEOUT_MS = 15_000


# --- fixtures -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser():
    # launch() starts chromium with a fresh temporary profile (user data dir) of its own,
    # removed when the browser closes; each test then gets a new, isolated context.
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


def _new_page(browser, **context_options):
    context = browser.new_context(**context_options)
    context.set_default_timeout(TIMEOUT_MS)
    return context, context.new_page()


@pytest.fixture
def page(browser):
    context, page = _new_page(browser)
    yield page
    context.close()


@pytest.fixture
def axe_page(browser):
    # The site sends `Content-Security-Policy: script-src 'self' 'nonce-…'`. add_script_tag(path=…)
    # inlines axe-core into a <script> without the nonce, which that policy blocks, so the axe runs
    # use a context with bypass_csp=True. This is the usual way to inject axe; it only relaxes CSP
    # for the test browser and changes nothing the site sends.
    context, page = _new_page(browser, bypass_csp=True)
    yield page
    context.close()


@pytest.fixture
def no_js_page(browser):
    context, page = _new_page(browser, java_script_enabled=False)
    yield page
    context.close()


@pytest.fixture
def site(transactional_db, live_server):
    """A public programme with every kind of question and consent wording, and an analyst."""
    from django.contrib.auth.models import Group, User
    from django.core.cache import cache

    from changebank.core.roles import ensure_roles
    from changebank.listen.models import Programme, Question, Workstream

    cache.clear()  # the form's per-address rate limit lives in the (shared) local-memory cache
    ensure_roles()
    programme = Programme.objects.create(
        title="Beneficial changes: what should we keep?",
        slug="keep-it",
        visibility=Programme.Visibility.PUBLIC,
        consent_text="I agree that my answers can be used to decide which changes to keep.",
    )
    Question.objects.create(
        programme=programme,
        key="keep",
        position=1,
        required=True,
        stance="keep",
        prompt="What change made during COVID-19 would you keep?",
        hint="Describe the change and what difference it made.",
    )
    Question.objects.create(
        programme=programme,
        key="never-again",
        position=2,
        stance="never_again",
        prompt="What should never come back?",
    )
    Question.objects.create(
        programme=programme,
        key="helped",
        position=3,
        kind=Question.Kind.RATING,
        prompt="How much did the change you would keep help?",
        hint="1 means not at all, 5 means a great deal.",
    )
    Question.objects.create(
        programme=programme,
        key="setting",
        position=4,
        kind=Question.Kind.CHOICE,
        choices=["At home", "In hospital", "Somewhere else"],
        prompt="Where did it happen?",
    )
    Workstream.objects.create(programme=programme, name="Digital and virtual care")
    Workstream.objects.create(programme=programme, name="Primary care")
    user = User.objects.create_user("browser-analyst", password=ANALYST_PASSWORD)
    user.groups.add(Group.objects.get(name="analyst"))
    return {"base": live_server.url, "programme": programme, "user": user}


# --- helpers --------------------------------------------------------------------------------------


def form_url(site) -> str:
    return f"{site['base']}/programmes/{site['programme'].slug}/take-part/"


def fill_form(page, answer: str = ANSWER) -> None:
    page.locator("#id_q_keep").fill(answer)
    page.get_by_label("I agree").check()


def expect_reference(page) -> str:
    page.wait_for_url(re.compile(r"/take-part/done/$"))
    reference = page.locator("strong#reference").inner_text().strip()
    assert REFERENCE.match(reference), f"unexpected reference {reference!r}"
    return reference


def submit_answer(page, site, answer: str = ANSWER) -> str:
    page.goto(form_url(site))
    fill_form(page, answer)
    page.get_by_role("button", name="Send my answers").click()
    return expect_reference(page)


def sign_in(page, site) -> None:
    page.goto(f"{site['base']}/sign-in/")
    page.locator("#id_username").fill(site["user"].username)
    page.locator("#id_password").fill(ANALYST_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/submissions/"))


def search(page, site, words: str) -> None:
    page.goto(f"{site['base']}/submissions/")
    page.get_by_label("Search the text").fill(words)
    page.get_by_role("button", name="Find submissions").click()
    page.wait_for_url(re.compile(r"/submissions/\?"))


def describe_violations(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"[{v['id']}] ({v.get('impact')}) {v['help']} <{v.get('helpUrl', '')}>")
        for node in v["nodes"]:
            lines.append(f"    target: {json.dumps(node['target'])}")
            lines.append(f"    html:   {node['html']}")
            if node.get("failureSummary"):
                summary = node["failureSummary"].replace("\n", "\n            ")
                lines.append(f"    why:    {summary}")
    return "\n".join(lines)


def axe_violations(page, what: str) -> list[str]:
    """Run axe-core on the page; return a readable report for each violation (empty if none)."""
    page.add_script_tag(path=str(AXE))
    results = page.evaluate(
        """tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})""", AXE_TAGS
    )
    violations = results["violations"]
    if not violations:
        return []
    return [f"on {what} ({page.url}):\n" + describe_violations(violations)]


def assert_no_violations(found: list[str]) -> None:
    assert not found, "axe found accessibility violations\n" + "\n\n".join(found)


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
