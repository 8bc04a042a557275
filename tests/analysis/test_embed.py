"""Embedders on real comments and awkward inputs; the default loads with the network blocked."""

from __future__ import annotations

import socket

import numpy as np
import pytest

from changebank.analysis.embed import (
    CachedEmbedder,
    SentenceTransformerEmbedder,
    TfidfEmbedder,
    WordLlamaEmbedder,
    get_embedder,
)

AWKWARD = [
    "",
    "ok",
    "👍👍 brilliant 🙂",
    "Muy buen servicio, gracias",
    "Très bien",
    "x" * 10_000,
    "   ",
]
REAL = [
    "The staff were kind and listened to me.",
    "Nurses were caring and took time to listen.",
    "Parking was impossible and expensive.",
    "Car park too small, could not find a space.",
]


@pytest.fixture
def no_network(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted during the test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_wordllama_loads_offline_and_handles_awkward_text(no_network):
    X = WordLlamaEmbedder().fit().transform(AWKWARD)
    assert X.shape == (len(AWKWARD), 256) and X.dtype == np.float32
    assert np.isfinite(X).all()
    assert not X[0].any() and not X[-1].any()  # empty and blank texts: zero vectors
    assert np.allclose(np.linalg.norm(X[1:-1], axis=1), 1.0, atol=1e-5)


def test_wordllama_puts_similar_comments_together():
    X = WordLlamaEmbedder().fit().transform(REAL)
    sims = X @ X.T
    assert sims[0, 1] > sims[0, 2] and sims[2, 3] > sims[1, 3]


def test_tfidf_embedder_learns_from_the_texts():
    texts = REAL * 10 + AWKWARD
    emb = TfidfEmbedder(n_components=8).fit(texts)
    X = emb.transform(REAL + [""])
    assert X.shape == (5, 8)
    assert not X[-1].any()
    with pytest.raises(ValueError, match="not fitted"):
        TfidfEmbedder().transform(["a"])
    with pytest.raises(ValueError, match="at least one non-empty text"):
        TfidfEmbedder().fit(["", " "])


def test_cache_embeds_each_text_once(tmp_path):
    path = tmp_path / "cache.sqlite"
    first = CachedEmbedder(WordLlamaEmbedder(), path=path).fit()
    A = first.transform(REAL + REAL)
    assert first.misses_ == 4 and first.hits_ == 4
    again = CachedEmbedder(WordLlamaEmbedder(), path=path).fit()  # a new process, the same file
    B = again.transform(REAL)
    assert again.misses_ == 0 and again.hits_ == 4
    assert np.array_equal(A[:4], B)


def test_input_validation_messages():
    with pytest.raises(TypeError, match="not one string"):
        WordLlamaEmbedder().fit().transform("one string")
    with pytest.raises(TypeError, match=r"texts\[1\] should be a string, got int"):
        WordLlamaEmbedder().fit().transform(["fine", 3])
    assert WordLlamaEmbedder().fit().transform([None, float("nan")]).shape == (2, 256)
    with pytest.raises(ValueError, match="unknown embedder 'bert'"):
        get_embedder("bert")


def test_sentence_transformers_needs_a_local_folder(tmp_path):
    with pytest.raises(ValueError, match="no sentence-transformers model folder"):
        SentenceTransformerEmbedder(model_path=tmp_path / "missing").fit()
