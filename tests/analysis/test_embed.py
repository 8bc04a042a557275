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


def _tiny_sentence_transformer(folder, hidden=16, layers=2, heads=2, seed=0):
    """A tiny BERT sentence-transformers folder with random weights, built here (never downloaded),
    and the tensors, so the test can compute the expected vectors independently."""
    import json

    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors

    words = [
        "the",
        "staff",
        "were",
        "kind",
        "nurses",
        "parking",
        "was",
        "awful",
        "waiting",
        "long",
        "food",
        "good",
        "bad",
    ]
    vocab = {t: i for i, t in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", special_tokens=[("[CLS]", 2), ("[SEP]", 3)]
    )
    folder.mkdir()
    tok.save(str(folder / "tokenizer.json"))
    config = {
        "model_type": "bert",
        "hidden_act": "gelu",
        "hidden_size": hidden,
        "num_hidden_layers": layers,
        "num_attention_heads": heads,
        "intermediate_size": 2 * hidden,
        "max_position_embeddings": 64,
        "type_vocab_size": 2,
        "vocab_size": len(vocab),
        "layer_norm_eps": 1e-12,
    }
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "1_Pooling").mkdir()
    (folder / "1_Pooling" / "config.json").write_text(
        json.dumps({"pooling_mode_mean_tokens": True})
    )
    rng = np.random.RandomState(seed)
    shapes = {
        "embeddings.word_embeddings.weight": (len(vocab), hidden),
        "embeddings.position_embeddings.weight": (64, hidden),
        "embeddings.token_type_embeddings.weight": (2, hidden),
        "embeddings.LayerNorm.weight": (hidden,),
        "embeddings.LayerNorm.bias": (hidden,),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}."
        for n in ("query", "key", "value"):
            shapes[p + f"attention.self.{n}.weight"] = (hidden, hidden)
            shapes[p + f"attention.self.{n}.bias"] = (hidden,)
        shapes.update(
            {
                p + "attention.output.dense.weight": (hidden, hidden),
                p + "attention.output.dense.bias": (hidden,),
                p + "attention.output.LayerNorm.weight": (hidden,),
                p + "attention.output.LayerNorm.bias": (hidden,),
                p + "intermediate.dense.weight": (2 * hidden, hidden),
                p + "intermediate.dense.bias": (2 * hidden,),
                p + "output.dense.weight": (hidden, 2 * hidden),
                p + "output.dense.bias": (hidden,),
                p + "output.LayerNorm.weight": (hidden,),
                p + "output.LayerNorm.bias": (hidden,),
            }
        )
    tensors = {
        k: (rng.randn(*v) * 0.3 + (1.0 if k.endswith("LayerNorm.weight") else 0.0)).astype(
            np.float32
        )
        for k, v in shapes.items()
    }
    header, blobs, offset = {}, [], 0
    for name, arr in tensors.items():
        data = arr.tobytes()
        header[name] = {
            "dtype": "F32",
            "shape": list(arr.shape),
            "data_offsets": [offset, offset + len(data)],
        }
        blobs.append(data)
        offset += len(data)
    head = json.dumps(header).encode()
    with (folder / "model.safetensors").open("wb") as fh:
        fh.write(len(head).to_bytes(8, "little") + head + b"".join(blobs))
    return tok, config, tensors


def _reference_bert(text, tok, config, t):
    """A plain, loop-by-loop BERT forward pass with mean pooling: the expected vector."""
    from scipy.special import erf

    def norm(x, w, b):
        mu, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + config["layer_norm_eps"]) * w + b

    ids = tok.encode(text).ids
    x = (
        t["embeddings.word_embeddings.weight"][ids]
        + t["embeddings.position_embeddings.weight"][: len(ids)]
    )
    x = norm(
        x + t["embeddings.token_type_embeddings.weight"][0],
        t["embeddings.LayerNorm.weight"],
        t["embeddings.LayerNorm.bias"],
    )
    heads, size = (
        config["num_attention_heads"],
        config["hidden_size"] // config["num_attention_heads"],
    )
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (
            x @ t[p + f"attention.self.{n}.weight"].T + t[p + f"attention.self.{n}.bias"]
            for n in ("query", "key", "value")
        )
        out = []
        for h in range(heads):
            s = slice(h * size, (h + 1) * size)
            scores = q[:, s] @ k[:, s].T / np.sqrt(size)
            w = np.exp(scores - scores.max(1, keepdims=True))
            out.append((w / w.sum(1, keepdims=True)) @ v[:, s])
        a = (
            np.concatenate(out, 1) @ t[p + "attention.output.dense.weight"].T
            + t[p + "attention.output.dense.bias"]
        )
        x = norm(
            x + a,
            t[p + "attention.output.LayerNorm.weight"],
            t[p + "attention.output.LayerNorm.bias"],
        )
        u = x @ t[p + "intermediate.dense.weight"].T + t[p + "intermediate.dense.bias"]
        u = 0.5 * u * (1 + erf(u / np.sqrt(2)))
        f = u @ t[p + "output.dense.weight"].T + t[p + "output.dense.bias"]
        x = norm(x + f, t[p + "output.LayerNorm.weight"], t[p + "output.LayerNorm.bias"])
    v = x.mean(0)
    return v / np.linalg.norm(v)


def test_sentence_transformers_folder_runs_offline_with_a_tiny_model(tmp_path):
    """A local model folder built inside the test (never downloaded) loads and embeds; without the
    sentence-transformers package it runs on changebank's NumPy encoder, checked here against a
    plain reference implementation of the same network."""
    tok, config, tensors = _tiny_sentence_transformer(tmp_path / "tiny")
    embedder = SentenceTransformerEmbedder(model_path=tmp_path / "tiny").fit()
    texts = [
        "The staff were kind",
        "parking was awful",
        "",
        "waiting long, food bad 🙂",
        "kind " * 3000,
    ]
    X = embedder.transform(texts)
    assert X.shape == (5, 16) and X.dtype == np.float32
    assert np.allclose(X[2], 0)
    assert np.allclose(np.linalg.norm(X[[0, 1, 3, 4]], axis=1), 1, atol=1e-5)
    for i in (0, 1, 3):
        expected = _reference_bert(texts[i], tok, config, tensors)
        assert float(X[i] @ expected) > 0.9999, texts[i]
    assert np.array_equal(X, embedder.transform(texts))
    assert embedder.name == "sentence-transformers-tiny"
    assert get_embedder("sentence-transformers", model_path=tmp_path / "tiny").fit().transform(
        ["good"]
    ).shape == (1, 16)
