"""Embedders: texts to vectors, behind one small interface, all loading offline.

- :class:`WordLlamaEmbedder` (the default): static token embeddings distilled from an LLM, whose
  weights ship inside the ``wordllama`` wheel. Fast on a CPU (tens of thousands of texts a second).
- :class:`TfidfEmbedder`: word and character TF-IDF reduced by truncated SVD (LSA); no extra
  dependency, learns from the texts it is fitted on.
- :class:`SentenceTransformerEmbedder`: a local sentence-transformers model folder (optional extra);
  never downloads.

Every embedder returns L2-normalised ``float32`` rows; an empty text gets a zero vector. Wrap one in
:class:`CachedEmbedder` to keep vectors by text hash, in memory or in a SQLite file, so re-analysis
only embeds what is new.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.decomposition import TruncatedSVD
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import make_union

from ._validation import check_texts


def normalise_rows(X: np.ndarray) -> np.ndarray:
    """Rows scaled to unit length; non-finite values and all-zero rows become zeros."""
    X = np.nan_to_num(np.asarray(X, dtype=np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)


class WordLlamaEmbedder(BaseEstimator, TransformerMixin):
    """WordLlama embeddings, loaded from the installed package with downloads disabled.

    Parameters
    ----------
    dim : int, default 256
        Output dimensions (the wheel ships 256-dimensional weights; smaller values truncate).
    batch_size : int, default 512
    """

    def __init__(self, dim: int = 256, batch_size: int = 512) -> None:
        self.dim = dim
        self.batch_size = batch_size

    @property
    def name(self) -> str:
        return f"wordllama-l2_supercat-{self.dim}"

    def _model(self) -> Any:
        model = getattr(self, "model_", None)
        if model is None:
            try:
                import wordllama
                from wordllama import WordLlama
            except ImportError:  # pragma: no cover - a core dependency
                raise ImportError("wordllama is not installed: pip install wordllama") from None
            folder = Path(wordllama.__file__).parent
            # cache_dir pointing at the package keeps the bundled tokenizer and weights in use;
            # disable_download makes a missing file an error rather than a network call.
            model = WordLlama.load(
                cache_dir=folder,
                disable_download=True,
                dim=256,
                trunc_dim=self.dim if self.dim != 256 else None,
            )
            self.model_ = model
        return model

    def fit(self, texts: Any = None, y: Any = None) -> WordLlamaEmbedder:
        self._model()
        return self

    def _tokenizer(self) -> Any:
        """WordLlama's tokenizer without padding or truncation."""
        tokenizer = getattr(self, "_unpadded_tokenizer", None)
        if tokenizer is None:
            from tokenizers import Tokenizer

            tokenizer = Tokenizer.from_str(self._model().tokenizer.to_str())
            tokenizer.no_padding()
            tokenizer.no_truncation()
            self._unpadded_tokenizer = tokenizer
        return tokenizer

    def transform(self, texts: Any) -> np.ndarray:
        """The mean of each text's token vectors, L2-normalised; empty texts give zero rows.

        Computed as one sparse bag-of-tokens product with the embedding table rather than with
        WordLlama's padded batches: the same vectors (cosine 1 - 2e-7 on FFT comments) about ten
        times faster, since short texts are not padded to the longest in their batch.
        """
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        table = self._model().embedding
        out = np.empty((len(texts), table.shape[1]), dtype=np.float32)
        step = max(1, int(self.batch_size)) * 64
        for start in range(0, len(texts), step):
            chunk = texts[start : start + step]
            encoded = self._tokenizer().encode_batch(chunk, add_special_tokens=False)
            lengths = np.fromiter((len(e.ids) for e in encoded), dtype=np.int64, count=len(chunk))
            ids = np.fromiter(
                (i for e in encoded for i in e.ids), dtype=np.int64, count=int(lengths.sum())
            )
            np.clip(ids, 0, table.shape[0] - 1, out=ids)
            bag = sparse.csr_matrix(
                (np.ones(len(ids), dtype=np.float32), ids, np.r_[0, np.cumsum(lengths)]),
                shape=(len(chunk), table.shape[0]),
            )
            out[start : start + len(chunk)] = bag @ table
        X = normalise_rows(out[:, : self.dim])
        X[[not t.strip() for t in texts]] = 0.0
        return X


class TfidfEmbedder(BaseEstimator, TransformerMixin):
    """Latent semantic analysis: word (1–2) and character (3–5) TF-IDF, reduced by truncated SVD."""

    def __init__(
        self, n_components: int = 256, max_features: int = 200_000, random_state: int = 0
    ) -> None:
        self.n_components = n_components
        self.max_features = max_features
        self.random_state = random_state

    @property
    def name(self) -> str:
        return f"tfidf-lsa-{self.n_components}"

    def fit(self, texts: Any, y: Any = None) -> TfidfEmbedder:
        texts = check_texts(texts)
        if not any(t.strip() for t in texts):
            raise ValueError("TfidfEmbedder needs at least one non-empty text to fit")
        self.vectorizer_ = make_union(
            TfidfVectorizer(
                ngram_range=(1, 2),
                min_df=2 if len(texts) > 50 else 1,
                sublinear_tf=True,
                max_features=self.max_features,
                strip_accents="unicode",
            ),
            TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(3, 5),
                min_df=2 if len(texts) > 50 else 1,
                sublinear_tf=True,
                max_features=self.max_features,
            ),
        )
        V = self.vectorizer_.fit_transform(texts)
        k = max(1, min(self.n_components, V.shape[1] - 1, V.shape[0] - 1))
        self.svd_ = TruncatedSVD(n_components=k, random_state=self.random_state).fit(V)
        return self

    def transform(self, texts: Any) -> np.ndarray:
        texts = check_texts(texts)
        if not hasattr(self, "svd_"):
            raise ValueError("TfidfEmbedder is not fitted yet: call fit(texts) first")
        if not texts:
            return np.zeros((0, self.svd_.n_components), dtype=np.float32)
        return normalise_rows(self.svd_.transform(self.vectorizer_.transform(texts)))


class SentenceTransformerEmbedder(BaseEstimator, TransformerMixin):
    """A sentence-transformers model from a local folder; never downloads.

    With the ``sentence-transformers`` package installed (``pip install changebank[transformers]``)
    the folder is loaded with it. Without it, a BERT-family folder with mean pooling
    (``config.json``, ``model.safetensors``, ``tokenizer.json``, the usual layout of
    sentence-transformers models such as all-MiniLM-L6-v2) runs on changebank's NumPy encoder
    (:mod:`.minilm`), so no torch is needed.
    """

    def __init__(
        self, model_path: str | Path = "", batch_size: int = 64, device: str = "cpu"
    ) -> None:
        self.model_path = model_path
        self.batch_size = batch_size
        self.device = device

    @property
    def name(self) -> str:
        return f"sentence-transformers-{Path(str(self.model_path)).name}"

    def fit(self, texts: Any = None, y: Any = None) -> SentenceTransformerEmbedder:
        folder = Path(str(self.model_path))
        if not str(self.model_path) or not folder.is_dir():
            raise ValueError(f"no sentence-transformers model folder at '{self.model_path}'")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            self.model_ = self._numpy_model(folder)
            self.backend_ = "numpy"
            return self
        self.model_ = SentenceTransformer(str(folder), device=self.device, local_files_only=True)
        self.backend_ = "sentence-transformers"
        return self

    def _numpy_model(self, folder: Path) -> Any:
        from .minilm import MiniLMEmbedder

        missing = [
            f
            for f in ("config.json", "model.safetensors", "tokenizer.json")
            if not (folder / f).is_file()
        ]
        if missing:
            raise ImportError(
                f"{folder} lacks {', '.join(missing)}, so it needs the sentence-transformers "
                "package: pip install changebank[transformers]"
            )
        import json

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        positions = int(config.get("max_position_embeddings", 512))
        sbert = folder / "sentence_bert_config.json"
        if sbert.is_file():  # the length the model was trained to read
            limit = json.loads(sbert.read_text(encoding="utf-8")).get("max_seq_length", positions)
            positions = min(positions, int(limit))
        pooling = folder / "1_Pooling" / "config.json"
        if pooling.is_file():
            mode = json.loads(pooling.read_text(encoding="utf-8"))
            if not mode.get("pooling_mode_mean_tokens", False):
                raise ImportError(
                    f"{folder} does not use mean pooling, so it needs the sentence-transformers "
                    "package: pip install changebank[transformers]"
                )
        model = MiniLMEmbedder(
            model_path=str(folder), batch_size=self.batch_size, max_length=min(256, positions)
        )
        return model.fit()

    def transform(self, texts: Any) -> np.ndarray:
        texts = check_texts(texts)
        if not hasattr(self, "model_"):
            self.fit()
        if self.backend_ == "numpy":
            return self.model_.transform(texts)
        if not texts:
            return np.zeros((0, self.model_.get_sentence_embedding_dimension()), dtype=np.float32)
        X = self.model_.encode(
            texts, batch_size=self.batch_size, convert_to_numpy=True, show_progress_bar=False
        )
        X = normalise_rows(X)
        X[[not t.strip() for t in texts]] = 0.0
        return X


EMBEDDERS = {
    "wordllama": WordLlamaEmbedder,
    "tfidf": TfidfEmbedder,
    "sentence-transformers": SentenceTransformerEmbedder,
}


def get_embedder(name: str = "wordllama", **params: Any) -> BaseEstimator:
    """An embedder by name: ``wordllama`` (default), ``minilm``, ``tfidf`` or ``sentence-transformers``."""
    if name == "minilm":
        from .minilm import MiniLMEmbedder

        return MiniLMEmbedder(**params)
    try:
        return EMBEDDERS[name](**params)
    except KeyError:
        raise ValueError(
            f"unknown embedder '{name}'; choose one of: minilm, {', '.join(EMBEDDERS)}"
        ) from None


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class CachedEmbedder(BaseEstimator, TransformerMixin):
    """Keeps each text's vector by the hash of its text, so re-analysis embeds only new texts.

    ``path`` names a SQLite file for a cache that outlives the process; without it the cache is in
    memory. Entries are kept per embedder name, so switching embedders never mixes vectors.
    """

    def __init__(self, embedder: Any = None, path: str | Path | None = None) -> None:
        self.embedder = embedder
        self.path = path

    @property
    def name(self) -> str:
        return str(getattr(self._inner(), "name", type(self._inner()).__name__))

    def _inner(self) -> Any:
        if self.embedder is None:
            self.embedder = WordLlamaEmbedder()
        return self.embedder

    def _db(self) -> sqlite3.Connection | None:
        if self.path is None:
            return None
        db = getattr(self, "db_", None)
        if db is None:
            db = sqlite3.connect(str(self.path))
            db.execute("PRAGMA journal_mode=WAL")
            db.execute(
                "CREATE TABLE IF NOT EXISTS embedding (model TEXT, key BLOB, vector BLOB, "
                "PRIMARY KEY (model, key))"
            )
            self.db_ = db
        return db

    def fit(self, texts: Any = None, y: Any = None) -> CachedEmbedder:
        inner = self._inner()
        if texts is not None and isinstance(inner, TfidfEmbedder):
            inner.fit(texts)
        elif not isinstance(inner, TfidfEmbedder):
            inner.fit()
        self.memory_ = getattr(self, "memory_", {})
        self.hits_ = self.misses_ = 0
        return self

    def transform(self, texts: Any) -> np.ndarray:
        texts = check_texts(texts)
        if not hasattr(self, "memory_"):
            self.fit()
        inner = self._inner()
        model = inner.name
        keys = [text_key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        for k in set(keys):
            if (model, k) in self.memory_:
                found[k] = self.memory_[model, k]
        db = self._db()
        missing = [k for k in set(keys) if k not in found]
        if db is not None and missing:
            for start in range(0, len(missing), 900):
                chunk = missing[start : start + 900]
                rows = db.execute(
                    f"SELECT key, vector FROM embedding WHERE model = ? AND key IN ({','.join('?' * len(chunk))})",  # noqa: S608 (placeholders only)  # nosec B608
                    [model, *chunk],
                ).fetchall()
                for k, blob in rows:
                    found[k] = np.frombuffer(blob, dtype=np.float32)
        todo_index: dict[bytes, int] = {}
        todo_texts = []
        for k, t in zip(keys, texts, strict=True):
            if k not in found and k not in todo_index:
                todo_index[k] = len(todo_texts)
                todo_texts.append(t)
        self.hits_ += len(texts) - len(todo_texts)
        self.misses_ += len(todo_texts)
        if todo_texts:
            new = inner.transform(todo_texts)
            for k, i in todo_index.items():
                found[k] = new[i]
            if db is not None:
                db.executemany(
                    "INSERT OR REPLACE INTO embedding VALUES (?, ?, ?)",
                    [(model, k, new[i].tobytes()) for k, i in todo_index.items()],
                )
                db.commit()
        if db is None:
            for k, v in found.items():
                self.memory_[model, k] = v
        if not texts:
            return inner.transform([])
        return np.vstack([found[k] for k in keys]).astype(np.float32)
