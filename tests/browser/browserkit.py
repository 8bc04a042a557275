"""What the browser tests share: Debian chromium through Playwright, axe-core, signing in.

Fixtures are in ``conftest.py`` beside this file; test modules import these helpers with
``from browserkit import …``.
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
