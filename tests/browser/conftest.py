"""Fixtures of the browser tests: one chromium per module, a page per test, a programme and an
analyst, and the same programme with the demo data analysed."""

from __future__ import annotations

import pytest
from browserkit import ANALYST_PASSWORD, CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS, sync_api


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


@pytest.fixture
def analysed(site, tmp_path):
    """``site`` plus the first 400 rows of the bundled demo data (real FFT comments, with trust,
    service and question), imported as the demo imports them and analysed. Returns ``site`` with
    ``fft`` (the programme) and ``analysis`` (its workspace URL)."""
    from changebank.demo import FFT_MAPPING, FFT_SAMPLE
    from changebank.listen.importers.loader import import_file
    from changebank.listen.models import Programme
    from changebank.understand.analyse import analyse_now

    lines = FFT_SAMPLE.read_text(encoding="utf-8").splitlines(keepends=True)
    sample = tmp_path / "fft_sample_400.csv"
    sample.write_text("".join(lines[:401]), encoding="utf-8")
    fft = Programme.objects.create(
        title="Friends and Family Test comments", slug="fft-demo", visibility="public"
    )
    import_file(sample, fft, mapping=FFT_MAPPING)
    assert analyse_now(fft, embedder="wordllama").status == "done"
    return {**site, "fft": fft, "analysis": f"{site['base']}/programmes/fft-demo/analysis/"}
