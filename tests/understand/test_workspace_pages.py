"""The theme board, code and theme pages, coding pages and history through the test client."""

from __future__ import annotations

import re

from django.urls import reverse

from changebank.understand.models import CodeAssignment, CodeSpan, Origin, WorkspaceAction


def test_board_code_theme_history_and_coding_pages_render(client, analysed, analyst):
    programme, subs, _ = analysed
    client.force_login(analyst)
    slug = programme.slug
    code = programme.codes.order_by("-size")[0]
    pages = [
        reverse("understand:overview", args=[slug]),
        reverse("understand:overview", args=[slug]) + "?q=staff",
        reverse("understand:code_detail", args=[slug, code.pk]),
        reverse("understand:theme_detail", args=[slug, code.theme_id]),
        reverse("understand:history", args=[slug]),
        reverse("understand:coding_grid", args=[slug]) + "?coding=ai",
        reverse("understand:code_submission", args=[slug, subs[0].pk]),
    ]
    for url in pages:
        r = client.get(url)
        assert r.status_code == 200, url
    board = client.get(pages[0]).content.decode()
    assert code.label in board and f"{code.size}" in board


def test_bulk_accept_in_the_grid_and_undo_from_the_page(client, analysed, analyst):
    programme, subs, _ = analysed
    client.force_login(analyst)
    grid = reverse("understand:coding_grid", args=[programme.slug])
    ai = CodeAssignment.objects.filter(code__programme=programme, origin=Origin.AI)
    confident = ai.filter(confidence__gte=0.6).count()
    assert 0 < confident < ai.count()
    r = client.post(grid, {"action": "threshold", "threshold": "60"})
    assert r.status_code == 302
    assert (
        ai.count() == CodeAssignment.objects.filter(code__programme=programme).count() - confident
    )
    r = client.post(grid, {"action": "threshold", "threshold": "150"})
    assert "between 0 and 100" in client.get(grid).content.decode()

    action = WorkspaceAction.objects.get(programme=programme)
    r = client.post(reverse("understand:undo", args=[programme.slug]), {"action": action.pk})
    assert r.status_code == 302
    assert not CodeAssignment.objects.filter(
        code__programme=programme, origin=Origin.HUMAN
    ).exists()


def test_coding_one_submission_with_a_span_typed_or_selected(client, analysed, analyst):
    programme, subs, _ = analysed
    client.force_login(analyst)
    sub = next(s for s in subs if "staff" in s.text.lower())
    url = reverse("understand:code_submission", args=[programme.slug, sub.pk])
    page = client.get(url).content.decode()
    assert "The AI suggests" in page and "% confident" in page
    code = programme.codes.order_by("label")[0]
    word = re.search(r"(?i)staff", sub.text).group(0)
    r = client.post(url, {"action": "span", "code": code.pk, "words": word, "occurrence": "1"})
    assert r.status_code == 302
    span = CodeSpan.objects.get(assignment__submission=sub)
    assert sub.text[span.start : span.end] == word
    # offsets from a browser selection are UTF-16 code units: an emoji before the words counts 2
    sub.text = "😀 " + sub.text
    sub.save()
    start16 = 3 + span.start
    r = client.post(
        url,
        {
            "action": "span",
            "code": code.pk,
            "words": word,
            "start16": str(start16),
            "end16": str(start16 + len(word)),
        },
    )
    new = CodeSpan.objects.filter(assignment__submission=sub).order_by("-start")[0]
    assert sub.text[new.start : new.end] == word and new.start == span.start + 2
    r = client.post(url, {"action": "span", "code": code.pk, "words": "not in the text at all"})
    assert "is not in the text" in client.get(url).content.decode()
    r = client.post(url, {"action": "save", "codes": [code.pk], "then": "stay"})
    assert set(sub.code_assignments.values_list("code_id", "origin")) == {(code.pk, "human")}
    assert CodeSpan.objects.filter(assignment__submission=sub).count() == 2  # spans kept


def test_search_by_any_respondent_detail_region_and_sector(client, analysed, analyst):
    from changebank.listen.models import Respondent

    programme, subs, _ = analysed
    client.force_login(analyst)
    people = [
        Respondent.objects.create(
            programme=programme,
            external_id=f"r{i}",
            region="North East" if i % 2 else "London",
            sector="Ambulance",
            equality={"age": "35 to 44" if i % 3 == 0 else "65 to 74"},
            attributes={"Ward name": "Ward 7" if i < 3 else "Ward 9"},
        )
        for i in range(6)
    ]
    for i, sub in enumerate(subs[:60]):
        sub.respondent = people[i % 6]
        sub.save(update_fields=["respondent"])
    url = reverse("understand:submissions", args=[programme.slug])

    def found(**params) -> int:
        r = client.get(url, params)
        assert r.status_code == 200
        m = re.search(r'<h2 id="results"[^>]*>([\d,]+) submission', r.content.decode())
        return int(m.group(1).replace(",", ""))

    assert found(detail="equality:age", detail_value="35 to 44") == 20  # people 0 and 3
    assert found(detail="attributes:Ward name", detail_value="ward 7") == 30  # case ignored
    assert found(detail="attributes:Ward name") == 60  # anyone who answered it
    assert found(region="london", sector="Ambulance") == 30
    page = client.get(url, {"detail_value": "Ward 7"}).content.decode()
    assert "Choose which respondent detail" in page
    assert "Equality: What is your age?" in page  # the choices come from the data
