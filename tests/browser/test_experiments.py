"""Discrete choice experiments and the prioritised long list in a real browser: an analyst defines
a three-attribute experiment (after a validation error), generates its design and opens it; one
respondent answers every set with the mouse and another without JavaScript, with the keyboard;
with simulated answers from 60 more respondents the results show the importance of each attribute
and the shares of profiles the analyst composes; then the long list, sorted by a column. axe runs
on every page."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest
from browserkit import assert_no_violations, axe_violations, sign_in

pytestmark = pytest.mark.browser

SHOTS = os.environ.get("CHANGEBANK_SCREENSHOTS")  # a folder, to look at the pages

ATTRIBUTES = [
    ("Waiting time", ["6 weeks", "3 weeks", "1 week"], True),
    ("Who you see", ["Any clinician", "Your own GP"], False),
    ("How", ["Phone", "Video", "In person"], False),
]
#: Utilities of the simulated respondents, per level (the first level of each is 0).
TRUE = [[0.0, 0.7, 1.4], [0.0, 0.5], [0.0, -0.4, 0.4]]


def shot(page, name: str) -> None:
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/dce-{name}.png", full_page=True)


def h1(page) -> str:
    return page.get_by_role("heading", level=1).inner_text().strip()


def submit(page, name: str) -> None:
    """Click a button whose form redirects (possibly to the same address) and wait for it."""
    with page.expect_navigation():
        page.get_by_role("button", name=name, exact=True).click()


def answer_with_the_mouse(page, url: str, found: list | None = None) -> int:
    page.goto(url)
    n = 0
    while "Thank you" not in h1(page):
        n += 1
        total = int(
            re.search(r"Choice \d+ of (\d+)", page.locator("#progress-text").inner_text()).group(1)
        )
        assert page.locator("#progress-text").inner_text() == f"Choice {n} of {total}"
        table = page.get_by_role("table", name=re.compile(rf"^Choice {n} of {total}"))
        assert table.get_by_role("columnheader", name="Option A").count() == 1
        assert table.get_by_role("rowheader", name="Waiting time").count() == 1
        if found is not None and n == 1:
            found += axe_violations(page, "a choice set")
            shot(page, "take")
            # no choice made: the error summary links to the options
            submit(page, "Save and continue")
            assert page.locator(".nhsuk-error-summary a[href='#chosen']").count() == 1
            found += axe_violations(page, "a choice set with an error")
            shot(page, "take-error")
        page.get_by_label("Option B").check()
        submit(page, "Save and finish" if n == total else "Save and continue")
    return n


def answer_with_the_keyboard(page, url: str) -> int:
    """No JavaScript, no mouse: focus an option, Space to choose, Tab to the button, Enter."""
    page.goto(url)
    n = 0
    while "Thank you" not in h1(page):
        n += 1
        page.locator("#chosen").focus()
        page.keyboard.press("ArrowDown")  # moves to, and chooses, option B
        assert page.locator("#chosen-2").is_checked()
        page.keyboard.press("Space")
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.type") == "submit"
        with page.expect_navigation():
            page.keyboard.press("Enter")
    return n


def simulate(experiment, respondents: int) -> None:
    from changebank.decide.models import ChoiceAnswer

    rng = np.random.default_rng(5)
    rows = []
    for r in range(respondents):
        block = r % experiment.n_blocks
        for s in experiment.design["sets"]:
            if s["block"] != block:
                continue
            u = [sum(TRUE[k][lv] for k, lv in enumerate(alt)) for alt in s["alternatives"]]
            u = np.array(u) + rng.gumbel(size=len(u))
            rows.append(
                ChoiceAnswer(
                    experiment=experiment,
                    respondent=f"simulated-{r}",
                    block=block,
                    choice_set=s["set"],
                    chosen=int(np.argmax(u)),
                )
            )
    ChoiceAnswer.objects.bulk_create(rows)


def test_a_discrete_choice_experiment(axe_page, page, no_js_page, site):
    from changebank.decide.models import ChoiceAnswer, ChoiceExperiment

    analyst = axe_page
    base = site["base"]
    slug = site["programme"].slug
    found: list[str] = []
    sign_in(analyst, site)

    analyst.goto(f"{base}/programmes/{slug}/decide/experiments/")
    assert h1(analyst) == "Discrete choice experiments"
    assert "No experiments yet" in analyst.content()
    found += axe_violations(analyst, "the experiments")

    # one attribute only: refused, with the error summary linking to the first attribute
    analyst.get_by_label("Title").fill("How should follow-up appointments work?")
    analyst.get_by_label("Name of attribute 1").fill(ATTRIBUTES[0][0])
    analyst.get_by_label("Levels of attribute 1, one per line, worst first").fill(
        "\n".join(ATTRIBUTES[0][1])
    )
    submit(analyst, "Save the experiment")
    summary = analyst.locator(".nhsuk-error-summary")
    assert "Enter at least 2 attributes" in summary.inner_text()
    assert summary.locator("a[href='#id_attr-0-name']").count() == 1
    assert analyst.title().startswith("Error: ")
    found += axe_violations(analyst, "the experiment form with an error")
    shot(analyst, "form-error")

    # the whole definition (what was typed is kept)
    assert analyst.get_by_label("Name of attribute 1").input_value() == "Waiting time"
    for i, (name, levels, ordered) in enumerate(ATTRIBUTES, start=1):
        analyst.get_by_label(f"Name of attribute {i}").fill(name)
        analyst.get_by_label(f"Levels of attribute {i}, one per line, worst first").fill(
            "\n".join(levels)
        )
        box = analyst.get_by_label(f"The levels of attribute {i} are ordered")
        box.check() if ordered else box.uncheck()
    analyst.get_by_label("Number of choice sets").fill("8")
    analyst.get_by_label("2 (option A or B)").check()
    analyst.get_by_label("Number of blocks").fill("2")
    submit(analyst, "Save the experiment")
    experiment = ChoiceExperiment.objects.get()
    assert h1(analyst) == experiment.title
    assert [a["name"] for a in experiment.attributes] == [a[0] for a in ATTRIBUTES]
    found += axe_violations(analyst, "a new experiment")

    submit(analyst, "Generate the design")
    experiment.refresh_from_db()
    assert len(experiment.design["sets"]) == 8
    efficiency = analyst.locator("#d-efficiency").inner_text()
    assert re.match(r"^0\.\d{3}, against 0\.\d{3} for a random design", efficiency), efficiency
    assert analyst.get_by_role("table", name=re.compile(r"^Choice set 1")).count() == 1
    found += axe_violations(analyst, "the design")
    shot(analyst, "design")

    analyst.get_by_role("link", name="Change the attributes, levels or choice sets").click()
    analyst.wait_for_url(re.compile(r"/change/$"))
    found += axe_violations(analyst, "changing an experiment")
    analyst.go_back()

    submit(analyst, "Open the experiment")
    public_url = analyst.locator("a.cb-mono").inner_text().strip()
    assert public_url.endswith(f"/decide/choose/{experiment.slug}/")

    # the results page before there are enough answers
    analyst.goto(f"{base}/programmes/{slug}/decide/experiments/{experiment.slug}/results/")
    assert analyst.get_by_role("heading", name="Not enough answers yet").count() == 1
    found += axe_violations(analyst, "results with too few answers")

    # a respondent with the mouse (axe on the public pages), and one without JavaScript
    assert answer_with_the_mouse(analyst, public_url, found) == 4
    found += axe_violations(analyst, "the thanks")
    assert answer_with_the_mouse(page, public_url) == 4
    assert answer_with_the_keyboard(no_js_page, public_url) == 4
    assert "Thank you" in h1(no_js_page)
    answers = ChoiceAnswer.objects.filter(experiment=experiment)
    assert answers.count() == 12
    assert answers.values("respondent").distinct().count() == 3
    assert set(answers.values_list("chosen", flat=True)) == {1}  # everyone chose option B

    # 60 more respondents, simulated
    simulate(experiment, 60)
    analyst.goto(f"{base}/programmes/{slug}/decide/experiments/{experiment.slug}/results/")
    assert h1(analyst) == "Results of the choice experiment"
    importance = analyst.get_by_role("table", name="Relative importance of each attribute")
    assert importance.locator("tbody tr").count() == 3
    assert importance.locator("tbody tr").first.locator("th").inner_text() == "Waiting time"
    assert analyst.get_by_role("img", name=re.compile("Relative importance")).count() == 1
    coefficients = analyst.get_by_role("table", name=re.compile("^Coefficients"))
    assert coefficients.locator("tbody tr").count() == 5
    shares = analyst.get_by_role("table", name=re.compile("preference shares"))
    assert shares.locator("tbody tr").count() == 2
    found += axe_violations(analyst, "the results")
    shot(analyst, "results")

    # a third profile
    for label, level in (
        ("Waiting time", "3 weeks"),
        ("Who you see", "Your own GP"),
        ("How", "Video"),
    ):
        analyst.get_by_label(f"{label} (profile 3)").select_option(label=level)
    analyst.get_by_role("button", name="Compare the profiles").click()
    analyst.wait_for_url(re.compile(r"p2-0=1"))
    shares = analyst.get_by_role("table", name=re.compile("preference shares"))
    assert shares.locator("tbody tr").count() == 3
    values = [
        float(v.rstrip("%"))
        for v in shares.locator("tbody tr td:nth-last-child(3)").all_inner_texts()
    ]
    assert abs(sum(values) - 100) < 0.5
    found += axe_violations(analyst, "the results with three profiles")

    analyst.goto(f"{base}/programmes/{slug}/decide/experiments/")
    assert analyst.get_by_role("link", name=experiment.title, exact=True).count() == 1
    found += axe_violations(analyst, "the experiments, with one")

    # closed: the public page says so
    analyst.goto(f"{base}/programmes/{slug}/decide/experiments/{experiment.slug}/")
    submit(analyst, "Close the experiment")
    page.goto(public_url)
    assert "This experiment is closed" in h1(page)
    analyst.goto(public_url)
    found += axe_violations(analyst, "a closed experiment")
    assert_no_violations(found)


def test_the_long_list(axe_page, site):
    from datetime import timedelta

    from django.utils import timezone

    from changebank.decide.models import (
        Conversation,
        DelphiAnswer,
        DelphiRound,
        Idea,
        PairPrompt,
        PairwiseSurvey,
        Panel,
        PanelMember,
        Statement,
        StatementVote,
        Status,
    )
    from changebank.understand.models import DistinctChange

    programme = site["programme"]
    changes = [
        DistinctChange.objects.create(programme=programme, text=text, count=count)
        for text, count in (
            ("Keep video appointments for follow-ups", 12),
            ("Free parking for staff", 7),
            ("Repeat prescriptions online", 3),
        )
    ]
    panel = Panel.objects.create(programme=programme, name="Lived experience panel")
    members = [PanelMember.objects.create(panel=panel, name=f"Member {i}") for i in range(8)]
    delphi = DelphiRound.objects.create(
        panel=panel,
        number=1,
        status=Status.CLOSED,
        scales=[{"key": "benefit", "label": "Benefit", "low": "None", "high": "Great"}],
        closes_at=timezone.now() - timedelta(days=1),
    )
    delphi.changes.set(changes[:2])
    for m, high in zip(members, [9, 8, 8, 7, 9, 8, 7, 6], strict=True):
        DelphiAnswer.objects.create(
            round=delphi, member=m, change=changes[0], ratings={"benefit": high}, rsa="amplify"
        )
        DelphiAnswer.objects.create(
            round=delphi, member=m, change=changes[1], ratings={"benefit": 10 - high}, rsa="let_go"
        )

    survey = PairwiseSurvey.objects.create(
        programme=programme, slug="which", question="Which should we keep?", status=Status.OPEN
    )
    ideas = [Idea.objects.create(survey=survey, text=c.text, change=c) for c in changes]
    now = timezone.now()
    for k, (winner, loser) in enumerate([(0, 1)] * 6 + [(2, 1)] * 4 + [(0, 2)] * 3 + [(1, 2)]):
        PairPrompt.objects.create(
            survey=survey,
            session_key=f"voter-{k % 3}",
            left=ideas[winner],
            right=ideas[loser],
            choice="left",
            answered_at=now,
        )
    conversation = Conversation.objects.create(
        programme=programme, slug="keep", topic="What should we keep?", status=Status.OPEN
    )
    statement = Statement.objects.create(
        conversation=conversation, text="Video follow-ups should stay", change=changes[0]
    )
    for k in range(5):
        StatementVote.objects.create(statement=statement, participant=f"p{k}", vote=1)

    page = axe_page
    found: list[str] = []
    sign_in(page, site)
    page.goto(f"{site['base']}/programmes/{programme.slug}/decide/long-list/")
    assert h1(page) == "The prioritised long list"
    table = page.get_by_role("table", name=re.compile("^The long list"))
    first = table.locator("tbody tr").first
    assert "Keep video appointments" in first.inner_text()
    assert "Consensus in" in first.inner_text()
    assert "100% agree" in first.inner_text()  # 5 votes: too few for opinion groups
    assert re.search(r"\b\d+%\s+\d+% to \d+%, 9 votes", first.inner_text())  # pairwise
    assert "Free parking" in table.locator("tbody tr").last.inner_text()  # consensus out: last
    found += axe_violations(page, "the long list")
    shot(page, "long-list")

    with page.expect_navigation():
        table.get_by_role("link", name=re.compile("^Submissions")).click()
    table = page.get_by_role("table", name=re.compile("^The long list"))
    assert (
        page.get_by_role("columnheader", name=re.compile("^Submissions")).get_attribute("aria-sort")
        == "descending"
    )
    assert "Keep video appointments" in table.locator("tbody tr").first.inner_text()
    page.get_by_label("Delphi classification").select_option(label="Consensus out")
    page.get_by_role("button", name="Show changes").click()
    page.wait_for_url(re.compile(r"classification=out"))
    assert (
        page.get_by_role("table", name=re.compile("^The long list")).locator("tbody tr").count()
        == 1
    )
    found += axe_violations(page, "the long list, filtered and sorted")
    with page.expect_download() as download:
        page.get_by_role("link", name=re.compile("^Download the filtered list as CSV")).click()
    assert download.value.suggested_filename.endswith(".csv")
    assert_no_violations(found)
