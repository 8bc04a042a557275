"""Double coding: drawing samples, blind coding, agreement statistics and resolving disagreements."""

from __future__ import annotations

import re

import numpy as np
import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from sklearn.metrics import cohen_kappa_score

from changebank.listen.models import Question, Submission
from changebank.understand import double
from changebank.understand.models import (
    CodeAssignment,
    CodingDecision,
    CodingSample,
    SampleCoding,
    SampleResolution,
    WorkspaceAction,
)
from changebank.understand.undo import undo, undoable


def make_analyst(name: str) -> User:
    user = User.objects.create_user(name, password="a-long-test-password")
    user.groups.add(Group.objects.get(name="analyst"))
    return user


@pytest.fixture
def second(analyst):
    return make_analyst("bea")


def ticked(html: str) -> list[str]:
    """The values of the ticked checkboxes of a page."""
    return re.findall(r'<input[^>]*type="checkbox" value="(\d+)"\s+checked', html)


def alpha_by_hand(ratings) -> float:
    """Krippendorff's alpha for binary data with every coder coding every unit, from the
    coincidence counts: alpha = 1 - (n - 1) * o01 / (n0 * n1)."""
    R = np.asarray(ratings, dtype=int)  # coders × units
    m = R.shape[0]
    ones = R.sum(axis=0)
    o01 = float(np.sum(ones * (m - ones)) / (m - 1))
    n1 = float(R.sum())
    n0 = R.size - n1
    return 1 - (R.size - 1) * o01 / (n0 * n1)


def new_sample(client, programme, coders, size=30, **extra) -> CodingSample:
    data = {"name": "Pilot", "size": size, "seed": 11, "coders": [c.pk for c in coders], **extra}
    r = client.post(reverse("understand:double_new", args=[programme.slug]), data)
    assert r.status_code == 302, r.content.decode()[:2000]
    return CodingSample.objects.get(pk=int(r.url.rstrip("/").split("/")[-1]))


def code_as(client, user, sample, choices) -> None:
    """``user`` codes position i of ``sample`` with ``choices[i]`` through the coder's page."""
    client.force_login(user)
    slug = sample.programme.slug
    for position, codes in enumerate(choices, start=1):
        r = client.post(
            reverse("understand:double_code", args=[slug, sample.pk, position]),
            {"codes": [c.pk for c in codes], "then": "next"},
        )
        assert r.status_code == 302


# --- drawing a sample -----------------------------------------------------------------------------


def test_allocation_is_proportional():
    assert double.allocate({"a": 30, "b": 10}, 8) == {"a": 6, "b": 2}
    assert double.allocate({"a": 1, "b": 1, "c": 1}, 2) == {"a": 1, "b": 1, "c": 0}
    assert sum(double.allocate({1: 7, 2: 5, 3: 1}, 13).values()) == 13
    with pytest.raises(ValueError):
        double.allocate({"a": 2}, 3)


def test_draw_is_reproducible_uncoded_only_and_stratified(programme, analyst):
    keep = Question.objects.create(programme=programme, key="keep", prompt="Keep?", position=1)
    stop = Question.objects.create(programme=programme, key="stop", prompt="Stop?", position=2)
    Submission.objects.bulk_create(
        Submission(
            programme=programme,
            question=keep if i < 30 else stop,
            text=f"Comment {i}",
            source="import",
            reference=f"R{i}",
            dedupe_key=f"d{i}",
        )
        for i in range(40)
    )
    first = double.draw(programme, 8, seed=5)
    assert first == double.draw(programme, 8, seed=5)
    assert first != double.draw(programme, 8, seed=6)
    assert len(set(first)) == 8
    picked = double.draw(programme, 8, seed=5, stratify=True)
    by_question = Submission.objects.filter(pk__in=picked).values_list("question__key", flat=True)
    assert sorted(by_question) == ["keep"] * 6 + ["stop"] * 2
    assert picked == double.draw(programme, 8, seed=5, stratify=True)

    decided = Submission.objects.filter(programme=programme).order_by("pk")[:35]
    for sub in decided:
        CodingDecision.objects.create(programme=programme, submission=sub)
    uncoded = set(double.draw(programme, 5, seed=1, uncoded_only=True))
    assert uncoded == set(
        Submission.objects.filter(programme=programme)
        .order_by("pk")[35:]
        .values_list("pk", flat=True)
    )
    with pytest.raises(ValueError):
        double.draw(programme, 6, seed=1, uncoded_only=True)


def test_new_sample_form_validates_with_clear_messages(client, analysed, analyst, second):
    programme, subs, _ = analysed
    client.force_login(analyst)
    url = reverse("understand:double_new", args=[programme.slug])
    page = client.get(url)
    assert page.status_code == 200
    assert "ana" in page.content.decode() and "bea" in page.content.decode()

    r = client.post(url, {"name": "", "size": 10, "coders": [analyst.pk]})
    html = r.content.decode()
    assert r.status_code == 400
    assert "There is a problem" in html
    assert "Enter a name for the sample." in html
    assert "Choose at least two different coders" in html
    assert 'href="#id_coders"' in html

    r = client.post(url, {"name": "Too big", "size": 401, "coders": [analyst.pk, second.pk]})
    assert r.status_code == 400
    assert "between 1 and 400, the number of submissions in this programme" in r.content.decode()
    r = client.post(url, {"name": "Zero", "size": 0, "coders": [analyst.pk, second.pk]})
    assert "between 1 and 400" in r.content.decode()
    r = client.post(url, {"name": "Words", "size": "ten", "coders": [analyst.pk, second.pk]})
    assert "Enter the sample size as a whole number" in r.content.decode()

    # people who may not code submissions cannot be chosen
    panel = User.objects.create_user("pat", password="a-long-test-password")
    panel.groups.add(Group.objects.get(name="panel member"))
    r = client.post(url, {"name": "Panel", "size": 5, "coders": [analyst.pk, panel.pk]})
    assert r.status_code == 400
    assert not CodingSample.objects.exists()

    # submissions an analyst has coded are left out when asked
    for sub in subs[:395]:
        CodingDecision.objects.create(programme=programme, submission=sub)
    r = client.post(
        url, {"name": "Uncoded", "size": 6, "uncoded_only": "on", "coders": [analyst.pk, second.pk]}
    )
    assert "between 1 and 5, the number of submissions not yet coded by an analyst" in (
        r.content.decode()
    )
    sample = new_sample(client, programme, [analyst, second], size=5, uncoded_only="on")
    assert set(sample.submissions.values_list("pk", flat=True)) == {s.pk for s in subs[395:]}
    assert double.draw_settings(sample)["seed"] == 11
    assert double.draw_settings(sample)["uncoded_only"] is True


# --- coding and agreement -------------------------------------------------------------------------


def test_coders_code_blind_and_only_coders_may(client, analysed, analyst, second):
    programme, _, _ = analysed
    client.force_login(analyst)
    sample = new_sample(client, programme, [analyst, second], size=4)
    code = programme.codes.order_by("-size").first()
    other = make_analyst("cy")
    client.force_login(other)
    url = reverse("understand:double_code", args=[programme.slug, sample.pk, 1])
    assert client.get(url).status_code == 403
    assert client.post(url, {"codes": [code.pk]}).status_code == 403

    # bea codes the first submission; ana then sees none of bea's codes, nor the AI's
    code_as(client, second, sample, [[code]])
    client.force_login(analyst)
    start = client.get(reverse("understand:double_code_start", args=[programme.slug, sample.pk]))
    assert start.url == url
    html = client.get(url).content.decode()
    assert "0 of 4 coded" in html
    assert 'type="checkbox"' in html and not ticked(html)
    first = sample.submissions.order_by("pk").first()
    assert CodeAssignment.objects.filter(submission=first).exists()  # the AI did code it

    # the filter narrows the codes, and keeps chosen codes it hides
    r = client.post(url, {"codes": [code.pk], "then": "stay"})
    assert r.url == url
    html = client.get(url + "?filter=zzzz-no-such-code").content.decode()
    assert "No code matches" in html
    assert f'name="keep" value="{code.pk}"' in html
    html = client.get(url).content.decode()
    assert "1 of 4 coded" in html
    assert ticked(html) == [str(code.pk)]
    # saving does not touch the submission's own codes
    assert not SampleResolution.objects.exists()
    assert not CodingDecision.objects.filter(submission=first).exists()


def test_agreement_of_two_coders_matches_scikit_learn(client, analysed, analyst, second):
    programme, _, _ = analysed
    client.force_login(analyst)
    sample = new_sample(client, programme, [analyst, second], size=30)
    c0, c1, c2, c3, c4 = programme.codes.order_by("-size", "pk")[:5]
    rng = np.random.RandomState(0)
    a0 = rng.rand(30) < 0.4
    b0 = np.where(rng.rand(30) < 0.8, a0, ~a0)
    a1 = rng.rand(30) < 0.3
    b1 = np.where(rng.rand(30) < 0.7, a1, ~a1)
    few_a = np.isin(np.arange(30), [1, 2])
    few_b = np.isin(np.arange(30), [2])
    never_b = np.arange(30) % 3 == 0  # ana never uses c4, bea uses it on every third one

    def choices(x0, x1, few, c4_used):
        return [
            [
                c
                for c, on in ((c0, x0[i]), (c1, x1[i]), (c2, True), (c3, few[i]), (c4, c4_used[i]))
                if on
            ]
            for i in range(30)
        ]

    code_as(client, analyst, sample, choices(a0, a1, few_a, np.zeros(30, bool)))
    code_as(client, second, sample, choices(b0, b1, few_b, never_b))

    result = double.agreement(sample)
    assert [c.username for c in result.coders] == ["ana", "bea"]
    assert len(result.complete) == 30
    rows = {row.code.pk: row for row in result.codes}
    for code, a, b in ((c0, a0, b0), (c1, a1, b1), (c4, np.zeros(30, bool), never_b)):
        row = rows[code.pk]
        assert row.kappa == pytest.approx(cohen_kappa_score(a, b))
        assert row.alpha == pytest.approx(alpha_by_hand([a, b]))
        assert row.agreement == pytest.approx(np.mean(a == b))
        assert row.uses == [int(a.sum()), int(b.sum())]
    assert rows[c4.pk].kappa == pytest.approx(0.0)
    assert rows[c2.pk].kappa is None and rows[c2.pk].alpha is None
    assert "Not defined" in rows[c2.pk].note
    assert rows[c3.pk].few and rows[c3.pk].kappa is None and "Too few uses" in rows[c3.pk].note
    # overall: every submission × code used by anyone as one unit
    A = np.column_stack([a0, a1, np.ones(30, bool), few_a, np.zeros(30, bool)]).ravel()
    B = np.column_stack([b0, b1, np.ones(30, bool), few_b, never_b]).ravel()
    assert result.alpha == pytest.approx(alpha_by_hand([A, B]))
    assert result.kappa == pytest.approx(cohen_kappa_score(A, B))
    assert result.decisions_agreed == pytest.approx(np.mean(A == B))

    # the page shows the same numbers, rounded, with their bands and explanations
    html = client.get(
        reverse("understand:double_agreement", args=[programme.slug, sample.pk])
    ).content.decode()
    for code, a, b in ((c0, a0, b0), (c1, a1, b1)):
        row_html = re.search(rf'data-code="{code.pk}">(.*?)</tr>', html, re.S).group(1)
        kappa = re.search(r'cb-kappa">(-?\d\.\d\d)', row_html).group(1)
        alpha = re.search(r'cb-alpha">(-?\d\.\d\d)', row_html).group(1)
        assert kappa == f"{cohen_kappa_score(a, b):.2f}"
        assert alpha == f"{alpha_by_hand([a, b]):.2f}"
        assert double.landis_koch(cohen_kappa_score(a, b)) in row_html
    assert "Too few uses" in html and "Not defined" in html
    assert "Landis and Koch" in html and "Krippendorff" in html
    assert "Cohen's kappa" in html and "Mean pairwise" not in html


def test_three_coders_get_mean_pairwise_kappa(analysed, analyst, second):
    programme, _, _ = analysed
    third = make_analyst("cy")
    sample = double.create_sample(
        programme, name="Three", size=25, coders=[analyst, second, third], user=analyst, seed=3
    )
    code = programme.codes.order_by("-size", "pk").first()
    rng = np.random.RandomState(4)
    base = rng.rand(25) < 0.5
    marks = [np.where(rng.rand(25) < p, base, ~base) for p in (0.9, 0.8, 0.7)]
    subs = double.submissions_of(sample)
    for coder, used in zip([analyst, second, third], marks, strict=True):
        for sub, on in zip(subs, used, strict=True):
            double.save_coding(sample, sub, coder, [code.pk] if on else [])
    result = double.agreement(sample)
    assert result.pairwise
    (row,) = result.codes
    pairs = [(0, 1), (0, 2), (1, 2)]
    assert row.kappa == pytest.approx(
        np.mean([cohen_kappa_score(marks[i], marks[j]) for i, j in pairs])
    )
    assert row.alpha == pytest.approx(alpha_by_hand(marks))
    assert row.agreement == pytest.approx(np.mean((marks[0] == marks[1]) & (marks[1] == marks[2])))

    # only the coders of a sample may code it
    outsider = make_analyst("dee")
    with pytest.raises(Exception, match="Only the coders"):
        double.save_coding(sample, subs[0], outsider, [])


# --- resolving ------------------------------------------------------------------------------------


def test_resolving_applies_the_codes_undoably_and_agreed_ones_in_one_go(
    client, analysed, analyst, second
):
    programme, _, _ = analysed
    client.force_login(analyst)
    sample = new_sample(client, programme, [analyst, second], size=6)
    c0, c1, c2 = programme.codes.order_by("-size", "pk")[:3]
    # they disagree on submissions 1 and 2, agree on 3 to 6 (6: both say no code applies)
    code_as(client, analyst, sample, [[c0], [c0, c1], [c2], [c1], [c0, c2], []])
    url = reverse("understand:double_resolve", args=[programme.slug, sample.pk])

    # bea has not finished: the resolve page hides ana's codes from her
    client.force_login(second)
    code_as(client, second, sample, [[c1], [c0]])
    html = client.get(url).content.decode()
    assert "Finish your own coding first" in html and "Each coder's codes" not in html
    code_as(client, second, sample, [[c1], [c0], [c2], [c1], [c0, c2], []])

    client.force_login(analyst)
    html = client.get(url).content.decode()
    assert "disagreed on 2" in html and "fully agreed on 4" in html
    assert html.count("Not resolved") == 2
    subs = double.submissions_of(sample)
    first, second_sub = subs[0], subs[1]
    # pre-ticked: the codes both chose (submission 2: c0)
    assert re.search(rf'id="agreed-{second_sub.pk}-{c0.pk}"[^>]*checked', html)
    assert not re.search(rf'id="agreed-{second_sub.pk}-{c1.pk}"[^>]*checked', html)

    before = set(first.code_assignments.values_list("code_id", flat=True))
    actions = WorkspaceAction.objects.count()
    r = client.post(url, {"submission": first.pk, "codes": [c1.pk], "other": c2.pk})
    assert r.status_code == 302 and r.url.endswith(f"#submission-{first.pk}")
    assert set(first.code_assignments.values_list("code_id", flat=True)) == {c1.pk, c2.pk}
    assert set(first.code_assignments.values_list("origin", flat=True)) == {"human"}
    resolution = SampleResolution.objects.get(sample=sample, submission=first)
    assert set(resolution.codes.values_list("pk", flat=True)) == {c1.pk, c2.pk}
    assert WorkspaceAction.objects.count() == actions + 1
    decision = CodingDecision.objects.get(submission=first)
    assert sorted(decision.human_codes) == sorted([c1.pk, c2.pk])
    html = client.get(url).content.decode()
    assert html.count("Not resolved") == 1 and "Resolved by ana" in html
    assert "Undo" in html

    # undo puts the submission's codes back and the submission is unresolved again
    undo(undoable(programme), analyst)
    assert set(first.code_assignments.values_list("code_id", flat=True)) == before
    html = client.get(url).content.decode()
    assert html.count("Not resolved") == 2 and "It has been undone since" in html

    # apply the agreed codes of the four fully agreed submissions, in one request
    actions = WorkspaceAction.objects.count()
    r = client.post(url, {"action": "apply_agreed"})
    assert r.status_code == 302
    assert WorkspaceAction.objects.count() == actions + 4
    expected = [{c2.pk}, {c1.pk}, {c0.pk, c2.pk}, set()]
    for sub, codes in zip(subs[2:], expected, strict=True):
        assert set(sub.code_assignments.values_list("code_id", flat=True)) == codes
    html = client.get(url).content.decode()
    assert "4 applied to the submissions" in html
    assert "Apply the agreed codes" not in html
    # nothing left to apply: a second click does nothing
    client.post(url, {"action": "apply_agreed"})
    assert WorkspaceAction.objects.count() == actions + 4


def test_pages_and_permissions(client, analysed, analyst, second):
    programme, _, _ = analysed
    list_url = reverse("understand:double_coding", args=[programme.slug])
    assert client.get(list_url).status_code == 302  # sign in first
    panel = User.objects.create_user("pat", password="a-long-test-password")
    panel.groups.add(Group.objects.get(name="panel member"))
    client.force_login(panel)
    assert client.get(list_url).status_code == 403

    client.force_login(analyst)
    html = client.get(list_url).content.decode()
    assert "No sample has been drawn yet" in html
    assert reverse("understand:overview", args=[programme.slug]) in html
    sample = new_sample(client, programme, [analyst, second], size=3)
    html = client.get(list_url).content.decode()
    assert "Pilot" in html and "ana: 0 of 3" in html
    detail = reverse("understand:double_sample", args=[programme.slug, sample.pk])
    html = client.get(detail).content.decode()
    assert "seed 11" in html and "Drew a sample of 3 submissions" in html
    for name in ("double_agreement", "double_resolve"):
        r = client.get(reverse(f"understand:{name}", args=[programme.slug, sample.pk]))
        assert r.status_code == 200

    # deleting needs the tick box, and keeps an audit record
    assert client.post(detail, {"action": "delete"}).status_code == 302
    assert CodingSample.objects.filter(pk=sample.pk).exists()
    client.post(detail, {"action": "delete", "confirm": "yes"})
    assert not CodingSample.objects.filter(pk=sample.pk).exists()
    assert not SampleCoding.objects.exists()
    from changebank.core.models import AuditEvent

    assert AuditEvent.objects.filter(
        object_type="understand.codingsample", object_id=str(sample.pk), action="delete"
    ).exists()


def test_interpretation_bands():
    bands = [(-0.1, "Poor"), (0.0, "Slight"), (0.2, "Slight"), (0.21, "Fair"), (0.4, "Fair")]
    bands += [(0.55, "Moderate"), (0.61, "Substantial"), (0.8, "Substantial")]
    bands += [(0.81, "Almost perfect"), (1.0, "Almost perfect"), (None, "")]
    for value, band in bands:
        assert double.landis_koch(value) == band, value
    assert double.krippendorff_band(0.8) == "Reliable"
    assert double.krippendorff_band(0.7) == "Tentative conclusions only"
    assert double.krippendorff_band(0.5) == "Not reliable"
    assert double.krippendorff_band(float("nan")) == ""
