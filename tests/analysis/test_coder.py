"""The Coder on a small real sample of coded NHS comments, and on awkward inputs."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.metrics import f1_score

from changebank.analysis.coder import Coder, _best_threshold
from tests.conftest import shared

AWKWARD = ["", "Parking", "👍🙂", "Personal muy amable y atento", "Très bien", "staff " * 1700]


@pytest.fixture(scope="module")
def coded():
    with shared("pxtextmining", "v6framework_train.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    header = list(rows[0])
    labels = header[header.index("Comment sentiment") + 1 :]
    rows = rows[:1500]
    Y = np.array([[1 if r[name].strip() == "1" else 0 for name in labels] for r in rows])
    keep = Y.sum(axis=0) >= 15  # codes with enough examples in this small sample
    return [r["FFT answer"] for r in rows], Y[:, keep]


@pytest.fixture(scope="module")
def fitted(coded):
    texts, Y = coded
    return Coder(cv=3).fit(texts[:1200], Y[:1200])


def test_learns_real_codes_better_than_chance(coded, fitted):
    texts, Y = coded
    P = fitted.predict(texts[1200:])
    assert P.shape == Y[1200:].shape and set(np.unique(P)) <= {0, 1}
    assert f1_score(Y[1200:], P, average="samples", zero_division=0) > 0.5
    assert (P.sum(axis=1) >= 1).all()  # every text gets at least its most likely code


def test_awkward_inputs(fitted):
    P = fitted.predict_proba(AWKWARD)
    assert P.shape == (len(AWKWARD), fitted.n_codes_)
    assert np.isfinite(P).all() and (P >= 0).all() and (P <= 1).all()
    assert fitted.predict([]).shape == (0, fitted.n_codes_)


def test_suggestions_and_reasons(coded, fitted):
    texts, _ = coded
    pool = texts[1200:]
    suggestions = fitted.suggest_next(pool, n=8)
    assert len(suggestions) == 8
    assert len({s.index for s in suggestions}) == 8
    assert all(pool[s.index].strip() for s in suggestions)
    assert all("threshold" in s.reason for s in suggestions)
    code = int(np.argmax(fitted.predict_proba(["The staff were lovely and kind"])[0]))
    reason = fitted.explain("The staff were lovely and kind", code)
    assert reason.startswith("words:")


def test_recall_objective_lowers_thresholds(coded):
    texts, Y = coded
    f1 = Coder(cv=3, min_threshold=0.0).fit(texts[:600], Y[:600])
    recall = Coder(cv=3, min_threshold=0.0, objective="recall", recall_target=0.95).fit(
        texts[:600], Y[:600]
    )
    assert (recall.thresholds_ <= f1.thresholds_ + 1e-9).mean() > 0.8


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


def test_validation():
    with pytest.raises(ValueError, match="not fitted"):
        Coder().predict(["a"])
    with pytest.raises(ValueError, match="Y has 1 rows but there are 2 texts"):
        Coder().fit(["a", "b"], [[1, 0]])
    with pytest.raises(ValueError, match="codebook"):
        Coder().fit(["a"])
    with pytest.raises(ValueError, match="objective"):
        Coder(objective="precision").fit(["a", "b"], [[1], [0]])


def test_best_threshold():
    y = np.array([1, 1, 0, 0])
    p = np.array([0.9, 0.8, 0.3, 0.1])
    assert 0.3 < _best_threshold(y, p, "f1", 0.8) < 0.8
    assert _best_threshold(np.zeros(3, dtype=int), p[:3], "f1", 0.8) == 1.0
