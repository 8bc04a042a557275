"""Distinct changes on real comments: exact, near-duplicate and paraphrase grouping."""

from __future__ import annotations

import csv

import numpy as np
import pytest

from changebank.analysis.distinct import DistinctChanges, normalise
from changebank.analysis.embed import WordLlamaEmbedder
from tests.conftest import shared


def test_exact_and_near_duplicates():
    texts = [
        "Keep the video appointments, they saved me time, and my mum could join the call from home as well.",
        "keep the video appointments they saved me time and my mum could join the call from home as well",
        # a near duplicate: one word changed in a long sentence
        "Keep the video appointments, they saved me time, and my mum could join the call from home too.",
        "Parking at the hospital was impossible.",
        "",
        "👍",
    ]
    model = DistinctChanges().fit(texts)
    labels = model.labels_
    assert labels[0] == labels[1] == labels[2]
    assert labels[3] != labels[0]
    assert labels[4] == -1
    assert len(model.groups_) == 3
    assert model.groups_[0].tolist() == [0, 1, 2]  # largest first


def test_paraphrases_join_with_embeddings_but_only_within_a_block():
    texts = [
        "Nothing to improve.",
        "Nothing to improve",
        "Nothing really, all fine.",
        "Nothing at all.",
    ]
    E = WordLlamaEmbedder().fit().transform(texts)
    joined = DistinctChanges(semantic_threshold=0.8).fit(texts, E)
    assert joined.labels_[0] == joined.labels_[1]  # exact
    assert joined.labels_[3] == joined.labels_[2]  # "Nothing at all" ~ "Nothing really, all fine"
    assert joined.labels_[2] != joined.labels_[0]
    apart = DistinctChanges(semantic_threshold=0.8).fit(texts, E, blocks=[0, 0, 0, 1])
    assert apart.labels_[3] != apart.labels_[2]


def test_real_comments_collapse_the_common_non_answers():
    with shared("pxtextmining", "v6framework_train.csv").open(encoding="utf-8") as fh:
        texts = [row["FFT answer"] for row in csv.DictReader(fh)]
    model = DistinctChanges().fit(texts)
    sizes = [len(g) for g in model.groups_]
    assert sizes == sorted(sizes, reverse=True)
    assert len(model.groups_) < len(texts) * 0.75
    top = normalise(texts[model.representatives_[0]])
    assert top in {"did not answer", "nothing"}
    assert sum(sizes) == sum(1 for t in texts if normalise(t))


def test_validation():
    with pytest.raises(ValueError, match="multiple of bands"):
        DistinctChanges(num_perm=10, bands=3).fit(["a"])
    with pytest.raises(ValueError, match="embeddings has 1 rows but there are 2 texts"):
        DistinctChanges().fit(["a b", "c d"], np.zeros((1, 4)))


def test_awkward_texts():
    from changebank.demo import FFT_SAMPLE

    with FFT_SAMPLE.open(encoding="utf-8") as fh:
        comments = [r["FFT answer"] for r in csv.DictReader(fh) if len(r["FFT answer"]) > 40]
    long_text = " ".join(comments)[:10_000]  # a 10,000-character submission of real sentences
    texts = [
        "",
        "   ",
        "Brilliant",
        "brilliant!",
        "😀👍",
        "😀👍",
        "Le personnel était très gentil",
        "le personnel était très gentil.",
        long_text,
        long_text[:5_000] + " and also " + long_text[5_000:],
        None,
    ]
    model = DistinctChanges().fit(texts)
    labels = model.labels_
    assert labels[0] == labels[1] == labels[-1] == -1  # empty answers are not changes
    assert labels[2] == labels[3]  # single words differing in case and punctuation
    assert labels[4] == labels[5] and labels[4] >= 0  # emoji-only answers still group
    assert labels[6] == labels[7]  # non-English text
    assert labels[8] == labels[9]  # two 10,000-character near copies
    assert len({labels[2], labels[4], labels[6], labels[8]}) == 4
    assert sorted(len(g) for g in model.groups_) == [2, 2, 2, 2]
