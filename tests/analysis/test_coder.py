"""The Coder on a small real sample of coded NHS comments, and on awkward inputs."""

from __future__ import annotations

import copy
import csv
import pickle

import numpy as np
import pytest
from sklearn.metrics import f1_score

from changebank.analysis.coder import (
    Coder,
    _best_threshold,
    _fast_wordllama,
    expected_f1_sets,
    question_group,
)
from tests.conftest import shared

LONG = ("The staff were kind but the wait in A&E was far too long. " * 200)[:10_000]
AWKWARD = [
    "",
    "   ",
    "Parking",
    "👍🙂",
    "Personal muy amable y atento",
    "Très bien",
    "非常好的服务",
    "staff " * 1700,
    LONG,
]
GOOD, IMPROVE = "What was good?", "How could we improve?"


@pytest.fixture(scope="module")
def coded():
    with shared("pxtextmining", "v6framework_train.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    labels = header[header.index("Comment sentiment") + 1 :]
    rows = rows[:1500]
    Y = np.array([[1 if r[name].strip() == "1" else 0 for name in labels] for r in rows])
    keep = Y.sum(axis=0) >= 15  # codes with enough examples in this small sample
    return [r["FFT answer"] for r in rows], Y[:, keep], [r["FFT question"] for r in rows]


@pytest.fixture(scope="module")
def fitted(coded):
    texts, Y, _ = coded
    return Coder(cv=3).fit(texts[:1200], Y[:1200])  # the defaults, WordLlama features included


@pytest.fixture(scope="module")
def with_questions(coded):
    texts, Y, questions = coded
    return Coder(cv=3, embedder=None).fit(texts[:1200], Y[:1200], questions=questions[:1200])


def test_learns_real_codes_better_than_chance(coded, fitted):
    texts, Y, _ = coded
    P = fitted.predict(texts[1200:])
    assert P.shape == Y[1200:].shape and set(np.unique(P)) <= {0, 1}
    assert f1_score(Y[1200:], P, average="samples", zero_division=0) > 0.5
    assert (P.sum(axis=1) >= 1).all()  # every text gets at least its most likely code
    assert (P.sum(axis=1) <= fitted.max_codes).all()


def test_decision_rules(coded, fitted):
    texts, Y, _ = coded
    pool = texts[1200:]
    ef1 = fitted.predict(pool)
    by_threshold = copy.copy(fitted).set_params(decision="threshold").predict(pool)
    assert (by_threshold.sum(axis=1) >= 1).all()
    assert not (ef1 == by_threshold).all()
    assert f1_score(Y[1200:], ef1, average="samples", zero_division=0) > 0.5
    # objective="recall" under the expected-F1 rule adds the codes that pass their thresholds
    recall = copy.copy(fitted).set_params(objective="recall")
    assert (recall.predict(pool) >= ef1).all()


def test_awkward_inputs(fitted, with_questions):
    for coder in (fitted, with_questions):
        P = coder.predict_proba(AWKWARD)
        assert P.shape == (len(AWKWARD), coder.n_codes_)
        assert np.isfinite(P).all() and (P >= 0).all() and (P <= 1).all()
        Y = coder.predict(AWKWARD)
        assert Y.shape == P.shape and set(np.unique(Y)) <= {0, 1}
        assert (Y.sum(axis=1) >= 1).all()  # empty answers are coded too ("no comment" and so on)
        assert coder.predict([]).shape == (0, coder.n_codes_)
        # None and NaN are empty answers; whitespace is too
        P_empty = coder.predict_proba(["", None, float("nan"), "   "])
        assert np.allclose(P_empty, P_empty[0])
    P = with_questions.predict_proba(AWKWARD, questions=[GOOD] * len(AWKWARD))
    assert np.isfinite(P).all()


def test_pickles_small_without_the_embedding_weights(fitted):
    data = pickle.dumps(fitted)
    assert len(data) < 30_000_000
    again = pickle.loads(data)
    texts = ["The nurses were lovely", "", "Parking"]
    assert np.allclose(again.predict_proba(texts), fitted.predict_proba(texts))


def test_long_text_alone_matches_batch(fitted):
    alone = fitted.predict_proba([LONG])
    batch = fitted.predict_proba(["Parking", LONG, ""])
    assert np.allclose(alone[0], batch[1])


def test_questions_change_the_reading(coded, with_questions):
    texts, Y, questions = coded
    assert with_questions.uses_questions_
    P = with_questions.predict(texts[1200:], questions=questions[1200:])
    assert P.shape == Y[1200:].shape
    assert f1_score(Y[1200:], P, average="samples", zero_division=0) > 0.5
    # "Nothing" means opposite things after "What was good?" and "How could we improve?"
    nothing = with_questions.predict_proba(["Nothing", "Nothing"], questions=[GOOD, IMPROVE])
    assert not np.allclose(nothing[0], nothing[1])
    # one question for all texts, or none known at prediction time
    one = with_questions.predict_proba(["Nothing", "Parking"], questions=GOOD)
    assert np.allclose(one[0], nothing[0])
    assert with_questions.predict(["Nothing"]).shape == (1, with_questions.n_codes_)
    with pytest.raises(ValueError, match="questions has 1 items but there are 2 texts"):
        with_questions.predict(["a", "b"], questions=[GOOD])
    suggestions = with_questions.suggest_next(texts[1200:1300], n=3, questions=questions[1200:1300])
    assert len(suggestions) == 3
    reason = with_questions.explain("Nothing", int(np.argmax(nothing[1])), question=IMPROVE)
    assert reason.startswith("words:")


def test_question_groups():
    assert question_group("What was good?") == "good"
    assert question_group("What did we do well?") == "good"
    assert question_group("How could we improve?") == "improve"
    assert question_group("What could we do better?") == "improve"
    assert question_group("FFT Why?") == "why"
    assert question_group("Why did you give this rating?") == "why"
    assert (
        question_group(
            "Please describe any things about the 111 service that\n"
            "you were particularly satisfied and/or dissatisfied with"
        )
        == "mixed"
    )
    assert question_group(None) == question_group("") == question_group("  ") == "unknown"
    other = question_group("Any other comments?")
    assert other.startswith("q") and other == question_group("any OTHER comments")
    assert other != question_group("Anything else to add?")


def test_expected_f1_rule():
    P = np.array(
        [
            [0.90, 0.05, 0.05, 0.00],  # one clear code
            [0.60, 0.60, 0.55, 0.10],  # spread over three
            [0.00, 0.00, 0.00, 0.00],  # nothing likely: still the first code
            [0.10, 0.20, 0.15, 0.05],  # nothing likely, two nearly tied: both
            [0.99, 0.98, 0.97, 0.96],  # all four
        ]
    )
    Y = expected_f1_sets(P)
    assert (Y.sum(axis=1) >= 1).all()
    assert Y[0].tolist() == [1, 0, 0, 0]
    assert Y[1].tolist() == [1, 1, 1, 0]
    assert Y[3].tolist() == [0, 1, 1, 0]
    assert Y[2].tolist() == [1, 0, 0, 0]
    assert Y[4].tolist() == [1, 1, 1, 1]
    assert expected_f1_sets(P, max_codes=2)[4].sum() == 2
    assert expected_f1_sets(np.zeros((0, 4))).shape == (0, 4)
    rng = np.random.default_rng(0)
    assert (expected_f1_sets(rng.random((500, 30)) ** 4).sum(axis=1) >= 1).all()


def test_suggestions_and_reasons(coded, fitted):
    texts, _, _ = coded
    pool = texts[1200:]
    suggestions = fitted.suggest_next(pool, n=8)
    assert len(suggestions) == 8
    assert len({s.index for s in suggestions}) == 8
    assert all(pool[s.index].strip() for s in suggestions)
    assert all("threshold" in s.reason for s in suggestions)
    code = int(np.argmax(fitted.predict_proba(["The staff were lovely and kind"])[0]))
    reason = fitted.explain("The staff were lovely and kind", code)
    assert reason.startswith("words:")
    assert fitted.explain("", code).startswith("words:")


def test_recall_objective_lowers_thresholds(coded):
    texts, Y, _ = coded
    f1 = Coder(cv=3, min_threshold=0.0, embedder=None).fit(texts[:600], Y[:600])
    recall = Coder(
        cv=3, min_threshold=0.0, objective="recall", recall_target=0.95, embedder=None
    ).fit(texts[:600], Y[:600])
    assert (recall.thresholds_ <= f1.thresholds_ + 1e-9).mean() > 0.8


def test_constant_codes(coded):
    texts, Y, _ = coded
    Y = np.column_stack([Y[:400, :4], np.zeros(400, dtype=int), np.ones(400, dtype=int)])
    coder = Coder(cv=3, embedder=None).fit(texts[:400], Y)
    P = coder.predict_proba(["The staff were lovely", ""])
    assert np.allclose(P[:, 4], 0) and np.allclose(P[:, 5], 1)
    assert coder.predict(["The staff were lovely"])[0, 5] == 1


def test_fast_wordllama_matches_the_embedder():
    from changebank.analysis.embed import WordLlamaEmbedder

    embedder = WordLlamaEmbedder().fit()
    texts = ["The nurses were lovely", "Parking", "👍", "Très bien", "staff " * 300]
    fast = _fast_wordllama(embedder, texts)
    assert np.allclose(fast, embedder.transform(texts), atol=1e-4)


def test_zero_shot_from_a_codebook():
    codebook = [
        {
            "name": "Parking",
            "description": "car parks, parking spaces and charges",
            "examples": ["No spaces in the car park"],
        },
        {
            "name": "Staff attitude",
            "description": "kind, caring, rude or helpful staff",
            "examples": ["The nurses were lovely"],
        },
    ]
    coder = Coder(codebook=codebook).fit(["unused"])
    P = coder.predict(
        ["Could not find anywhere to park my car", "The receptionist was very kind", ""]
    )
    assert P[0].tolist() == [1, 0] and P[1].tolist() == [0, 1] and P[2].tolist() == [0, 0]
    assert Coder(codebook=codebook, embedder=None).fit(["unused"]).predict(["Parking"]).shape == (
        1,
        2,
    )


def test_validation():
    with pytest.raises(ValueError, match="not fitted"):
        Coder().predict(["a"])
    with pytest.raises(ValueError, match="Y has 1 rows but there are 2 texts"):
        Coder().fit(["a", "b"], [[1, 0]])
    with pytest.raises(ValueError, match="codebook"):
        Coder().fit(["a"])
    with pytest.raises(ValueError, match="objective"):
        Coder(objective="precision").fit(["a", "b"], [[1], [0]])
    with pytest.raises(ValueError, match="decision"):
        Coder(decision="vote").fit(["a", "b"], [[1], [0]])
    with pytest.raises(ValueError, match="C should be"):
        Coder(C=0).fit(["a", "b"], [[1], [0]])
    with pytest.raises(ValueError, match="questions has 1 items"):
        Coder().fit(["a", "b"], [[1], [0]], questions=["Why?"])


def test_best_threshold():
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.1])
    assert 0.3 < _best_threshold(y, p, "f1", 0.8) < 0.8
    assert _best_threshold(np.zeros(3, dtype=int), p[:3], "f1", 0.8) == 1.0
