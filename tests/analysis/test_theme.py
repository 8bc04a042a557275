"""ThemeModel on small real samples: BANKING77 questions and FFT comments."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from sklearn.metrics import normalized_mutual_info_score

from changebank.analysis import ThemeModel
from changebank.analysis.graph import relabel_by_size
from changebank.analysis.keywords import ClassTfidf, label_from_keywords
from changebank.demo import FFT_SAMPLE
from tests.conftest import shared

FAST = {"embedder": "wordllama", "n_seeds": 4}


@pytest.fixture(scope="module")
def banking() -> tuple[list[str], np.ndarray]:
    """600 BANKING77 questions from 12 intents (50 each)."""
    with shared("banking77/train.csv").open(encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    intents = sorted({r["category"] for r in rows})[:12]
    picked = [r for i in intents for r in [x for x in rows if x["category"] == i][:50]]
    return [r["text"] for r in picked], np.array([intents.index(r["category"]) for r in picked])


@pytest.fixture(scope="module")
def fft() -> list[str]:
    with FFT_SAMPLE.open(encoding="utf-8") as fh:
        return [r["FFT answer"] for r in csv.DictReader(fh)][:800]


@pytest.fixture(scope="module")
def fitted(banking: tuple[list[str], np.ndarray]) -> ThemeModel:
    return ThemeModel(**FAST).fit(banking[0])


def test_codes_recover_intents_without_being_told_how_many(fitted, banking):
    texts, y = banking
    assert fitted.labels_.shape == (len(texts),)
    assert normalized_mutual_info_score(y, fitted.labels_) > 0.6
    assert 4 <= fitted.n_codes_ <= 60
    assert fitted.resolution_ in fitted.stability_


def test_every_text_has_a_code_and_confidence(fitted, banking):
    assert (fitted.labels_ >= 0).all() and (fitted.labels_ < fitted.n_codes_).all()
    assert ((fitted.confidence_ >= 0) & (fitted.confidence_ <= 1)).all()
    assert fitted.needs_review_.dtype == bool
    sizes = np.bincount(fitted.labels_, minlength=fitted.n_codes_)
    assert [c.size for c in fitted.codes_] == sizes.tolist()
    assert sizes.min() >= 3  # small clusters were folded into their nearest code


def test_codes_are_described_and_grouped_into_themes(fitted):
    for code in fitted.codes_:
        assert code.label and code.keywords and code.quotes
        assert code.description.startswith(f"{code.size:,} text")
        assert 0 <= code.theme < len(fitted.themes_)
    listed = sorted(c for t in fitted.themes_ for c in t.codes)
    assert listed == list(range(fitted.n_codes_))
    assert sum(t.size for t in fitted.themes_) == len(fitted.labels_)
    # a code about cards is labelled with a card word
    card_codes = [c for c in fitted.codes_ if any("card" in k for k in c.keywords)]
    assert card_codes


def test_deterministic_for_a_random_state(banking):
    texts = banking[0][:300]
    a = ThemeModel(**FAST, random_state=3).fit(texts)
    b = ThemeModel(**FAST, random_state=3).fit(texts)
    assert np.array_equal(a.labels_, b.labels_)
    assert [c.label for c in a.codes_] == [c.label for c in b.codes_]


def test_number_of_codes_can_be_set(banking):
    for k in (5, 20):
        model = ThemeModel(n_codes=k, n_themes=3, **FAST).fit(banking[0])
        assert model.n_codes_ == k
        assert len(model.themes_) == 3


def test_awkward_texts(fft):
    texts = [
        *fft[:200],
        "",
        "   ",
        "Brilliant",
        "😀👍",
        "Le personnel était très gentil et attentionné",
        "El tiempo de espera fue demasiado largo",
        "The staff were kind. " * 500,  # 10,500 characters
        None,
    ]
    model = ThemeModel(**FAST).fit(texts)
    assert len(model.labels_) == len(texts)
    empty = model.empty_code_
    assert empty is not None and model.codes_[empty].label == "No comment given"
    assert model.labels_[200] == model.labels_[201] == model.labels_[-1] == empty
    assert model.labels_[202] != empty and model.labels_[-2] != empty


def test_tiny_inputs():
    assert ThemeModel(**FAST).fit(["only one"]).labels_.tolist() == [0]
    model = ThemeModel(**FAST).fit(["", ""])
    assert model.labels_.tolist() == [0, 0] and model.codes_[0].label == "No comment given"
    model = ThemeModel(**FAST).fit(["same words"] * 12)
    assert model.n_codes_ >= 1


def test_bad_input_is_explained():
    with pytest.raises(ValueError, match="texts is empty"):
        ThemeModel().fit([])
    with pytest.raises(TypeError, match=r"texts\[1\] should be a string"):
        ThemeModel().fit(["a", 3])
    with pytest.raises(ValueError, match="n_codes"):
        ThemeModel(n_codes=0).fit(["a"])
    with pytest.raises(ValueError, match="not fitted"):
        ThemeModel().predict(["a"])


def test_texts_with_two_ideas_join_two_codes(fft):
    model = ThemeModel(**FAST).fit(fft)
    M = model.memberships_
    assert M.shape == (len(fft), model.n_codes_)
    assert (M[np.arange(len(fft)), model.labels_] == 1).all()
    counts = np.asarray(M.sum(axis=1)).ravel()
    assert (counts > 1).any()
    multi = np.flatnonzero(counts > 1)
    # every multi-coded text has more than one clause
    from changebank.analysis.segment import segment

    assert all(len(segment(fft[i])) > 1 for i in multi)
    single = ThemeModel(**FAST, multi_code=False).fit(fft)
    assert np.asarray(single.memberships_.sum(axis=1)).ravel().max() == 1


def test_merge_rename_split_move(banking):
    model = ThemeModel(n_codes=8, **FAST).fit(banking[0])
    sizes = [c.size for c in model.codes_]
    model.merge([1, 3], label="Cards and top-ups")
    assert model.n_codes_ == 7
    assert model.codes_[1].label == "Cards and top-ups" and model.codes_[1].origin == "human"
    assert model.codes_[1].size == sizes[1] + sizes[3]
    assert model.centroids_.shape[0] == 7 and model.memberships_.shape[1] == 7
    assert model.labels_.max() == 6

    model.rename(0, "Money transfers", "Questions about sending money")
    model.split(1, 2)
    assert model.n_codes_ == 8
    assert model.codes_[1].size + model.codes_[7].size == sizes[1] + sizes[3]
    assert model.codes_[1].label == "Cards and top-ups"  # a human label survives the split
    assert model.codes_[7].keywords and model.codes_[7].origin == "human"
    assert model.codes_[7].theme == model.codes_[1].theme

    texts_in_2 = np.flatnonzero(model.labels_ == 2)[:3]
    model.move(texts_in_2, 0)
    assert (model.labels_[texts_in_2] == 0).all() and model.locked_[texts_in_2].all()
    assert model.codes_[0].label == "Money transfers"
    model.move_code(0, len(model.themes_) - 1)
    assert 0 in model.themes_[-1].codes
    actions = [h["action"] for h in model.history_]
    assert actions == ["merge", "rename", "rename", "split", "move", "move_code"]
    with pytest.raises(ValueError, match="code should be an index"):
        model.rename(99, "x")
    with pytest.raises(ValueError, match="at least two"):
        model.merge([2, 2])


def test_assign_keeps_decisions_and_proposes_new_codes(banking):
    texts, y = banking
    first = [t for t, label in zip(texts, y, strict=True) if label < 8]
    later = [t for t, label in zip(texts, y, strict=True) if label >= 8]
    model = ThemeModel(**FAST).fit(first)
    model.rename(0, "Named by an analyst")
    before = model.labels_.copy()
    k = model.n_codes_
    new = model.assign(first[:20] + later)
    assert np.array_equal(model.labels_, before)
    assert model.codes_[0].label == "Named by an analyst"
    assert (new[:20] < k).all()  # known kinds of text go to existing codes
    proposed = [c for c in model.codes_[k:]]
    assert proposed and all(c.origin == "proposed" for c in proposed)
    assert (new[20:] >= k).mean() > 0.3
    assert len(model.assign_confidence_) == len(new)
    assert model.predict(first[:5]).max() < model.n_codes_


def test_large_inputs_are_sampled_and_the_rest_assigned(fft):
    model = ThemeModel(**FAST, sample_size=300).fit(fft)
    assert len(model.sample_index_) == 300
    assert len(model.labels_) == len(fft)
    rest = np.setdiff1d(np.arange(len(fft)), model.sample_index_)
    real = rest[[bool(fft[i].strip()) for i in rest]]
    assert (model.labels_[real] >= 0).all()
    assert 0 < model.assign_temperature_ <= 1


def test_default_embedder_is_minilm(banking):
    texts, y = banking
    model = ThemeModel(random_state=0).fit(texts[:300])
    assert type(model.embedder_).__name__ == "MiniLMEmbedder"
    assert normalized_mutual_info_score(y[:300], model.labels_) > 0.6


def test_helpers():
    assert relabel_by_size(np.array([5, 5, 2, 9, 9, 9])).tolist() == [1, 1, 2, 0, 0, 0]
    vec = ClassTfidf().fit(
        ["nurses were kind", "nurses kind", "parking was awful", "awful parking"]
    )
    kw = vec.keywords(vec.class_counts(np.array([0, 0, 1, 1]), 2), 3)
    assert "parking" in kw[1] and "nurses" in kw[0]
    assert label_from_keywords(["staff", "kind"]) == "Staff, kind"
    assert label_from_keywords([]) == "Unlabelled"
