"""The active-learning loop in a real browser: settings, "code these next" with undo, a retraining
round run by the in-process worker, the agreement panel, each page checked with axe."""

from __future__ import annotations

import re
import time

import pytest
from browserkit import assert_no_violations, axe_violations, sign_in

pytestmark = pytest.mark.browser


def wait_for_round(programme, number: int, timeout: float = 180) -> object:
    from changebank.core.tasks import wait_for_in_process_worker
    from changebank.understand.models import TrainingRound

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = TrainingRound.objects.filter(programme=programme, number=number).first()
        if found is not None:
            wait_for_in_process_worker(30)  # let the task record that it has finished
            return found
        time.sleep(0.5)
    raise AssertionError(f"training round {number} did not appear within {timeout} seconds")


def test_active_learning_loop(axe_page, no_js_page, analysed):
    from changebank.understand import board, learning
    from changebank.understand.models import CodeAssignment, CodingDecision, CodingSettings, Origin

    page, fft = axe_page, analysed["fft"]
    panel, queue = f"{analysed['analysis']}learning/", f"{analysed['analysis']}next/"
    found: list[str] = []
    sign_in(page, analysed)

    # The panel before any round, then the settings form: a mistake, then retrain every 3.
    page.goto(panel)
    assert page.get_by_role("heading", level=1).inner_text() == (
        "Agreement between the AI and analysts"
    )
    status = page.locator("#status").inner_text()
    assert "0 decisions since the last retraining, retrains after 20" in status
    found += axe_violations(page, "the agreement panel before any round")
    every = page.get_by_label("Retrain the model after this many new decisions")
    every.fill("0")
    page.get_by_role("button", name="Save the settings").click()
    assert "There is a problem" in page.locator(".nhsuk-error-summary").inner_text()
    found += axe_violations(page, "the settings form with an error")
    every.fill("3")
    page.get_by_role("button", name="Save the settings").click()
    page.wait_for_url(panel)
    assert "Settings saved." in page.locator("[role=status]").first.inner_text()
    assert CodingSettings.for_programme(fft).retrain_every == 3
    assert "retrains after 3" in page.locator("#status").inner_text()
    assert "Retrain after 3 new decisions (was 20)" in page.locator("#history ~ div").inner_text()

    # The queue before any round: the analysis's least certain, each with a link to code it.
    page.goto(queue)
    assert page.get_by_role("heading", level=1).inner_text() == "Code these next"
    assert "least sure about" in page.locator(".nhsuk-lede-text").inner_text()
    first = page.locator("#queue > li").first
    heading = first.locator("h2").inner_text()
    reference = re.match(r"Submission (\S+)", heading).group(1)
    sub = fft.submissions.get(reference=reference, text=first.locator("blockquote").inner_text())
    assert first.get_by_role("link", name=f"Code submission {reference}").get_attribute("href") == (
        f"/programmes/{fft.slug}/analysis/coding/{sub.pk}/"
    )
    assert first.locator("table caption").inner_text().startswith("The AI's suggestions")
    found += axe_violations(page, "code these next, before any round")

    # Confirm the AI's codes from the queue, undo it with the Undo control, confirm again.
    ai = sorted(sub.code_assignments.values_list("code_id", flat=True))
    first.get_by_role("button", name=re.compile("^The AI is right")).click()
    page.wait_for_url(re.compile(r"/next/"))
    assert "coded as the AI suggested" in page.locator("[role=status]").first.inner_text()
    assert CodingDecision.objects.filter(programme=fft).count() == 1
    assert not sub.code_assignments.filter(origin=Origin.AI).exists()
    found += axe_violations(page, "code these next, with the undo control")
    page.get_by_role("button", name=re.compile(r"^Undo\W+Confirmed the AI's codes")).click()
    assert "Undone" in page.locator("[role=status]").first.inner_text()
    assert CodingDecision.objects.filter(programme=fft).count() == 0
    assert sorted(sub.code_assignments.filter(origin=Origin.AI).values_list("code_id", flat=True))
    assert sorted(sub.code_assignments.values_list("code_id", flat=True)) == ai

    # Without JavaScript: confirm one from the queue (the same plain forms).
    sign_in(no_js_page, analysed)
    no_js_page.goto(queue)
    no_js_page.locator("#queue > li").first.get_by_role(
        "button", name=re.compile("^The AI is right")
    ).click()
    assert "coded as the AI suggested" in no_js_page.locator("[role=status]").first.inner_text()
    assert CodingDecision.objects.filter(programme=fft).count() == 1

    # Two more decisions, differing from the AI: the third starts a round in the background.
    codes = list(fft.codes.order_by("-size", "pk").values_list("pk", flat=True)[:3])
    open_subs = list(learning.undecided(fft).order_by("pk")[:2])
    board.set_codes(open_subs[0], [codes[1], codes[2]], analysed["user"])
    board.set_codes(open_subs[1], [codes[2], codes[1]], analysed["user"])
    round1 = wait_for_round(fft, 1)
    assert round1.metrics["n_compared"] == 3
    expected = learning.agreement(
        CodingDecision.objects.filter(programme=fft).values_list("ai_codes", "human_codes")
    )
    assert round1.metrics["sample_f1"] == expected["sample_f1"]

    # The panel now shows the round in the table, the chart and the per-code kappa.
    page.goto(panel)
    assert (
        "0 decisions since the last retraining, retrains after 3"
        in page.locator("#status").inner_text()
    )
    cells = page.locator("#rounds tbody tr").first.locator("th, td").all_inner_texts()
    assert cells[0] == "1" and cells[2] == "3"
    assert cells[3] == f"{expected['sample_f1']:.2f}"
    assert cells[4] == f"{expected['mean_kappa']:.2f}"
    chart = page.get_by_role(
        "img", name="Sample F1 and mean kappa of the AI against the analysts, by training round"
    )
    assert chart.count() == 1
    assert page.locator("#kappas tbody tr").count() == len(round1.metrics["kappa"])
    found += axe_violations(page, "the agreement panel after round 1")

    # The queue now comes from the retrained model: two codes had two examples to learn from.
    assert round1.metrics["trained"], round1.metrics.get("skipped")
    assert CodeAssignment.objects.filter(
        code__programme=fft, origin=Origin.AI, model="changebank Coder round 1"
    ).exists()
    page.goto(queue)
    assert "the model of round 1" in page.locator(".nhsuk-lede-text").inner_text()
    assert "The model is unsure whether" in page.locator("#queue").inner_text()
    found += axe_violations(page, "code these next, after round 1")

    # Retrain now: a second round, started from the panel.
    page.goto(panel)
    page.get_by_role("button", name="Retrain now").click()
    page.wait_for_url(panel)
    assert "Retraining" in page.locator("[role=status]").first.inner_text()
    round2 = wait_for_round(fft, 2)
    assert round2.metrics["n_decisions"] == 0
    page.goto(panel)
    assert page.locator("#rounds tbody tr").count() == 2
    found += axe_violations(page, "the agreement panel after round 2")
    assert_no_violations(found)
