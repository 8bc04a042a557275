"""The active-learning loop: when it retrains, what a round measures and changes, and its pages."""

from __future__ import annotations

import numpy as np
import pytest
from django.contrib.auth.models import Group, User
from django.urls import reverse
from sklearn.metrics import cohen_kappa_score, f1_score

from changebank.analysis.coder import Coder
from changebank.core.models import AuditEvent, Task
from changebank.core.tasks import run_pending
from changebank.understand import board, learning
from changebank.understand.models import (
    Code,
    CodeAssignment,
    CodingDecision,
    CodingSettings,
    Origin,
    TrainingRound,
)
from changebank.understand.undo import undo, undoable

# The analysts' codes for nine submissions, as indexes into the three biggest codes.
PATTERN = [[0], [1], [0, 2], [2], [1], [0], [1, 2], [2], [0]]


def retrain_tasks(programme) -> list[Task]:
    return list(
        Task.objects.filter(name=learning.RETRAIN_TASK, params__programme=programme.pk).order_by(
            "id"
        )
    )


def ai_codes(sub) -> list[int]:
    return sorted(
        CodeAssignment.objects.filter(submission=sub, origin=Origin.AI).values_list(
            "code_id", flat=True
        )
    )


def human_rows(programme) -> list[tuple]:
    return list(
        CodeAssignment.objects.filter(code__programme=programme, origin=Origin.HUMAN)
        .order_by("pk")
        .values_list("pk", "submission_id", "code_id", "primary", "decided_by", "confidence")
    )


def code_nine(programme, subs, analyst) -> tuple[list[int], list[tuple[list[int], list[int]]]]:
    """Code nine submissions by PATTERN; return the codes used and (AI, human) of each."""
    codes = list(programme.codes.order_by("-size", "pk").values_list("pk", flat=True)[:3])
    pairs = []
    for sub, picks in zip(subs[:9], PATTERN, strict=True):
        human = [codes[i] for i in picks]
        pairs.append((ai_codes(sub), sorted(human)))
        board.set_codes(sub, human, analyst)
    return codes, pairs


@pytest.fixture
def quiet(analysed):
    """The analysed programme, retraining only when asked to."""
    programme, subs, _ = analysed
    CodingSettings.objects.update_or_create(programme=programme, defaults={"retrain_every": 1000})
    return programme, subs


# --- when to retrain -----------------------------------------------------------------------------


def test_note_decision_queues_at_the_threshold_and_once(quiet, analyst):
    programme, subs = quiet
    settings = CodingSettings.for_programme(programme)
    settings.retrain_every = 3
    settings.save()
    for sub in subs[:2]:
        CodingDecision.objects.create(programme=programme, submission=sub, human_codes=[1])
        assert learning.note_decision(programme) is None
    CodingDecision.objects.create(programme=programme, submission=subs[2], human_codes=[1])
    row = learning.note_decision(programme)
    assert row is not None and row.status == Task.Status.QUEUED
    assert row.params["programme"] == programme.pk
    # queued (then running): no second task
    CodingDecision.objects.create(programme=programme, submission=subs[3], human_codes=[1])
    assert learning.note_decision(programme) is None
    Task.objects.filter(pk=row.pk).update(status=Task.Status.RUNNING)
    assert learning.note_decision(programme) is None
    assert len(retrain_tasks(programme)) == 1
    # once a round has run, the count starts again from its last decision
    Task.objects.filter(pk=row.pk).update(status=Task.Status.QUEUED)
    assert run_pending() == 1
    round1 = TrainingRound.objects.get(programme=programme)
    assert round1.metrics["last_decision"] == CodingDecision.objects.order_by("-pk")[0].pk
    assert round1.metrics["n_decisions"] == 4
    assert learning.decisions_since(programme).count() == 0
    assert learning.note_decision(programme) is None
    for sub in subs[4:6]:
        CodingDecision.objects.create(programme=programme, submission=sub, human_codes=[1])
    assert learning.note_decision(programme) is None
    CodingDecision.objects.create(programme=programme, submission=subs[6], human_codes=[1])
    assert learning.note_decision(programme) is not None
    assert len(retrain_tasks(programme)) == 2


def test_set_codes_queues_the_retraining(quiet, analyst):
    programme, subs = quiet
    CodingSettings.objects.filter(programme=programme).update(retrain_every=2)
    codes = list(programme.codes.values_list("pk", flat=True)[:2])
    board.set_codes(subs[0], codes[:1], analyst)
    assert retrain_tasks(programme) == []
    board.set_codes(subs[1], codes[1:], analyst)
    (row,) = retrain_tasks(programme)
    assert row.status == Task.Status.QUEUED
    assert "2 new decisions" in row.params["reason"]


# --- a round -------------------------------------------------------------------------------------


def test_a_round_scores_the_old_model_then_retrains(quiet, analyst):
    programme, subs = quiet
    codes, pairs = code_nine(programme, subs, analyst)
    humans_before = human_rows(programme)
    decided = {s.pk for s in subs[:9]}

    row = learning.retrain_now(programme, analyst)
    assert row.status == Task.Status.DONE, row.error
    round1 = TrainingRound.objects.get(programme=programme)
    m = round1.metrics
    assert round1.number == 1 == m["round"] and round1.task_id == row.pk
    assert round1.n_examples == 9 == m["n_examples"]

    # agreement, computed here independently with scikit-learn
    used = sorted({c for a, h in pairs for c in (*a, *h)})
    AI = np.array([[int(c in a) for c in used] for a, _ in pairs])
    HU = np.array([[int(c in h) for c in used] for _, h in pairs])
    assert m["n_compared"] == 9
    assert m["sample_f1"] == pytest.approx(f1_score(HU, AI, average="samples"), abs=1e-4)
    expected = {}
    for j, c in enumerate(used):
        k = cohen_kappa_score(HU[:, j], AI[:, j])
        expected[c] = 1.0 if np.isnan(k) else k
    assert {k["code"]: k["kappa"] for k in m["kappa"]} == pytest.approx(expected, abs=1e-4)
    assert m["mean_kappa"] == pytest.approx(np.mean(list(expected.values())), abs=1e-4)
    assert {k["code"]: k["human"] for k in m["kappa"]} == {
        c: int(HU[:, j].sum()) for j, c in enumerate(used)
    }

    # analysts' codings untouched
    assert human_rows(programme) == humans_before
    assert not CodeAssignment.objects.filter(submission__in=decided, origin=Origin.AI).exists()

    # every other submission recoded by the new model: the codes Coder.predict gives
    assert m["trained"] and m["codes"] == sorted(codes)
    texts = [s.text for s in subs[:9]]
    Y = np.array([[int(i in p) for i in range(3)] for p in PATTERN])
    order = sorted(codes)
    Y = Y[:, [codes.index(c) for c in order]]
    coder = Coder(embedder="wordllama").fit(texts, Y)
    rest = [s for s in sorted(subs, key=lambda s: s.pk) if s.pk not in decided]
    P = coder.predict_proba([s.text for s in rest])
    predicted = coder.predict([s.text for s in rest])
    rows = {}
    for a in CodeAssignment.objects.filter(code__programme=programme, origin=Origin.AI):
        rows.setdefault(a.submission_id, []).append(a)
    assert set(rows) == {s.pk for s in rest}
    for i, sub in enumerate(rest):
        got = rows[sub.pk]
        assert sorted(a.code_id for a in got) == [order[j] for j in np.flatnonzero(predicted[i])]
        for a in got:
            p = P[i, order.index(a.code_id)]
            assert a.confidence == pytest.approx(p, abs=1e-4)
            assert a.needs_review == (p < 0.5)
            assert a.model == "changebank Coder round 1"
            assert a.primary == (a.code_id == order[int(P[i].argmax())])
    assert m["submissions_recoded"] == len(rest)
    assert m["assignments"] == sum(len(v) for v in rows.values())

    # code sizes follow, the queue is the model's, and the round is audited
    for code in programme.codes.all():
        assert code.size == code.assignments.values("submission").distinct().count()
    assert 0 < len(m["next"]) <= learning.NEXT_SIZE
    assert {n["submission"] for n in m["next"]} <= {s.pk for s in rest}
    assert all(n["code"] in codes and n["reason"] for n in m["next"])
    event = AuditEvent.objects.get(action="retrain", object_id=str(round1.pk))
    assert "Training round 1" in event.note and event.actor_label == analyst.username

    # the next round scores the new model on the decisions made since
    target = rest[0]
    was_ai = ai_codes(target)
    board.set_codes(target, [codes[1]], analyst)
    assert CodingDecision.objects.order_by("-pk")[0].training_round == round1
    round2 = TrainingRound.objects.get(
        pk=learning.retrain_now(programme, analyst).result["training_round"]
    )
    assert round2.number == 2 and round2.metrics["n_compared"] == 1
    hit = int(codes[1] in was_ai)
    assert round2.metrics["sample_f1"] == pytest.approx(2 * hit / (len(was_ai) + 1), abs=1e-4)
    assert round2.n_examples == 10


def test_too_few_codes_skips_training_and_keeps_suggestions(quiet, analyst):
    programme, subs = quiet
    code = programme.codes.order_by("-size")[0]
    board.set_codes(subs[0], [code.pk], analyst)
    board.set_codes(subs[1], [code.pk], analyst)
    before = list(
        CodeAssignment.objects.filter(code__programme=programme, origin=Origin.AI)
        .order_by("pk")
        .values_list("pk", "submission_id", "code_id", "confidence", "model")
    )
    row = learning.retrain_now(programme, analyst)
    assert row.status == Task.Status.DONE, row.error
    m = TrainingRound.objects.get(programme=programme).metrics
    assert m["trained"] is False and "at least 2 such codes" in m["skipped"]
    assert m["n_compared"] == 2 and m["n_examples"] == 2
    after = list(
        CodeAssignment.objects.filter(code__programme=programme, origin=Origin.AI)
        .order_by("pk")
        .values_list("pk", "submission_id", "code_id", "confidence", "model")
    )
    assert after == before


def test_decided_without_codes_stays_uncoded_and_earlier_actions_undo(quiet, analyst):
    programme, subs = quiet
    codes, _ = code_nine(programme, subs, analyst)
    board.set_codes(subs[9], [], analyst)  # "none of the codes"
    source = programme.codes.exclude(pk__in=codes).order_by("-size")[0]
    source_pk, target = source.pk, Code.objects.get(pk=codes[0])
    kept = set(target.assignments.filter(origin=Origin.AI).values_list("submission_id", "pk"))
    merge = board.merge_codes(source, target, analyst)
    assert learning.retrain_now(programme, analyst).status == Task.Status.DONE
    assert not CodeAssignment.objects.filter(submission=subs[9]).exists()
    # the retraining rewrote the rows the merge watched; a row for the same submission and code
    # keeps its key, so putting the old rows back cannot collide
    now = set(target.assignments.filter(origin=Origin.AI).values_list("submission_id", "pk"))
    assert kept & now
    assert undoable(programme) == merge
    undo(merge, analyst)
    assert Code.objects.filter(pk=source_pk).exists()
    undo(undoable(programme), analyst)  # the "no codes" decision
    assert not CodingDecision.objects.filter(submission=subs[9]).exists()


def test_agreement_counts_but_does_not_compare_decisions_without_ai_codes():
    out = learning.agreement([([1, 2], [1]), ([], [3]), ([3], [3])], {1: "One"})
    assert out["n_decisions"] == 3 and out["n_compared"] == 2
    assert out["sample_f1"] == pytest.approx((2 / 3 + 1) / 2, abs=1e-4)
    assert [k["code"] for k in out["kappa"]] == [1, 2, 3]
    assert out["kappa"][0]["label"] == "One" and out["kappa"][1]["label"] == "Code 2"
    assert learning.agreement([])["sample_f1"] is None
    assert learning.kappa_band(0.7) == "substantial"
    assert learning.kappa_band(-0.1).startswith("poor")


# --- pages ---------------------------------------------------------------------------------------


@pytest.fixture
def panel_member(db):
    from changebank.core.roles import ensure_roles

    ensure_roles()
    user = User.objects.create_user("pat", password="a-long-test-password")
    user.groups.add(Group.objects.get(name="panel member"))
    return user


def test_panel_before_and_after_a_round(client, quiet, analyst):
    programme, subs = quiet
    client.force_login(analyst)
    url = reverse("understand:learning", args=[programme.slug])
    page = client.get(url).content.decode()
    assert "0 decisions since the last retraining, retrains after 1,000" in page
    assert "No training rounds yet" in page
    codes, _ = code_nine(programme, subs, analyst)
    learning.retrain_now(programme, analyst)
    board.set_codes(subs[20], [codes[0]], analyst)
    response = client.get(url)
    assert response.status_code == 200
    page = response.content.decode()
    m = TrainingRound.objects.get(programme=programme).metrics
    assert "1 decision since the last retraining, retrains after 1,000" in page
    assert 'role="img"' in page and '<title id="chart-title">' in page
    assert f"{m['sample_f1']:.2f}" in page and f"{m['mean_kappa']:.2f}" in page
    assert '<table class="nhsuk-table" id="rounds">' in page
    assert '<table class="nhsuk-table" id="kappas">' in page
    assert learning.kappa_band(m["kappa"][0]["kappa"]).capitalize() in page
    overall = learning.overall_agreement(programme)
    assert overall["n_decisions"] == 10
    assert f"{overall['n_compared']} of 10" in page
    assert "Retrain now" in page and 'name="retrain_every"' in page


def test_settings_form_validates_saves_and_is_audited(client, quiet, analyst):
    programme, _ = quiet
    client.force_login(analyst)
    url = reverse("understand:learning", args=[programme.slug])
    bad = client.post(url, {"action": "settings", "retrain_every": "0", "accept_threshold": "2"})
    assert bad.status_code == 200
    text = bad.content.decode()
    assert "There is a problem" in text
    assert "Retrain after at least 1 decision" in text and "a confidence of 1 or less" in text
    assert CodingSettings.for_programme(programme).retrain_every == 1000
    good = client.post(
        url, {"action": "settings", "retrain_every": "5", "accept_threshold": "0.8"}, follow=True
    )
    assert "Settings saved." in good.content.decode()
    settings = CodingSettings.for_programme(programme)
    assert (settings.retrain_every, settings.accept_threshold) == (5, 0.8)
    event = AuditEvent.objects.get(object_type="understand.codingsettings")
    assert event.before == {"retrain_every": 1000, "accept_threshold": 0.9}
    assert "Retrain after 5 new decisions (was 1,000)" in good.content.decode()


def test_lowering_the_threshold_below_the_count_starts_a_round(client, quiet, analyst):
    programme, subs = quiet
    code_nine(programme, subs, analyst)
    client.force_login(analyst)
    url = reverse("understand:learning", args=[programme.slug])
    page = client.post(
        url, {"action": "settings", "retrain_every": "5", "accept_threshold": "0.9"}, follow=True
    ).content.decode()
    assert "retraining has started" in page
    assert len(retrain_tasks(programme)) == 1


def test_retrain_now_and_permissions(client, quiet, analyst, panel_member):
    programme, _ = quiet
    url = reverse("understand:learning", args=[programme.slug])
    client.force_login(panel_member)
    assert client.get(url).status_code == 200
    assert "Retrain now" not in client.get(url).content.decode()
    client.post(url, {"action": "retrain"})
    client.post(url, {"action": "settings", "retrain_every": "2", "accept_threshold": "0.9"})
    assert retrain_tasks(programme) == []
    assert CodingSettings.for_programme(programme).retrain_every == 1000
    client.force_login(analyst)
    page = client.post(url, {"action": "retrain"}, follow=True).content.decode()
    assert "Retraining is queued" in page and "Retraining now" in page
    assert "Check progress again" in page and 'http-equiv="refresh"' not in page
    assert 'http-equiv="refresh"' in client.get(url + "?auto=1").content.decode()
    client.post(url, {"action": "retrain"})
    assert len(retrain_tasks(programme)) == 1  # not twice
    client.logout()
    assert client.get(url).status_code == 302


def test_queue_before_and_after_a_round(client, quiet, analyst):
    programme, subs = quiet
    client.force_login(analyst)
    url = reverse("understand:next", args=[programme.slug])
    items, method = learning.next_queue(programme)
    assert method == "confidence" and items
    # least confident first, codes taken in turn
    first = [CodeAssignment.objects.get(submission=i["submission"], primary=True) for i in items]
    n_codes = len({a.code_id for a in first})
    assert n_codes > 1
    assert len({a.code_id for a in first[:n_codes]}) == n_codes
    per_code = {}
    for a in first:
        per_code.setdefault(a.code_id, []).append(a.confidence)
    assert all(v == sorted(v) for v in per_code.values())
    page = client.get(url).content.decode()
    sub = programme.submissions.get(pk=items[0]["submission"])
    assert f"Submission {sub.reference}" in page
    coding = reverse("understand:code_submission", kwargs={"slug": programme.slug, "pk": sub.pk})
    assert f'href="{coding}"' in page

    codes, _ = code_nine(programme, subs, analyst)
    learning.retrain_now(programme, analyst)
    items, method = learning.next_queue(programme)
    assert method == "model"
    stored = TrainingRound.objects.get(programme=programme).metrics["next"]
    assert [i["submission"] for i in items] == [i["submission"] for i in stored]
    page = client.get(url).content.decode()
    assert "least sure about" in page and "The model is unsure whether" in page
    # confirming the AI's codes from the queue is a decision, and can be undone
    target = programme.submissions.get(pk=items[0]["submission"])
    was = ai_codes(target)
    response = client.post(url, {"action": "confirm", "submission": target.pk}, follow=True)
    assert "coded as the AI suggested" in response.content.decode()
    decision = CodingDecision.objects.order_by("-pk")[0]
    assert decision.submission_id == target.pk and decision.human_codes == was == decision.ai_codes
    assert target.pk not in [i["submission"] for i in learning.next_queue(programme)[0]]
    assert "Undo" in response.content.decode()
    undo(undoable(programme), analyst)
    assert ai_codes(target) == was
    assert target.pk in [i["submission"] for i in learning.next_queue(programme)[0]]


def test_queue_confirm_needs_permission(client, quiet, panel_member):
    programme, subs = quiet
    client.force_login(panel_member)
    url = reverse("understand:next", args=[programme.slug])
    assert client.get(url).status_code == 200
    client.post(url, {"action": "confirm", "submission": subs[0].pk})
    assert not CodingDecision.objects.exists()


def test_candidates_give_what_suggest_next_gives():
    import csv

    from changebank.demo import FFT_SAMPLE

    with FFT_SAMPLE.open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))[:1200]
    texts = [r["FFT answer"] for r in rows]
    Y = np.zeros((300, 4), dtype=np.int8)
    Y[np.arange(300), [len(t) % 4 for t in texts[:300]]] = 1
    coder = Coder(embedder="wordllama").fit(texts[:300], Y)
    rest = texts[300:]
    everything = coder.suggest_next(rest, 25)
    pool = learning.candidates(coder.predict_proba(rest), coder.thresholds_, rest, 25)
    assert len(pool) < len(rest)
    picked = coder.suggest_next([rest[i] for i in pool], 25)
    assert [int(pool[s.index]) for s in picked] == [s.index for s in everything]
    assert [s.code for s in picked] == [s.code for s in everything]
