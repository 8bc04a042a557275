"""Theme discovery: fine-grained codes grouped into themes, as analysts do by hand.

:class:`ThemeModel` runs swappable steps (in the manner of BERTopic, without its outlier bin):

1. **embed** the texts (MiniLM by default; any object with ``transform(texts)`` will do);
2. **cluster** a nearest-neighbour graph with Leiden at the most stable resolution
   (:mod:`.graph`), or at the resolution that gives ``n_codes`` when it is set;
3. **tidy**: codes smaller than ``min_code_size`` join their nearest code, so there is no outlier
   bin and every text has a code with a confidence; low-confidence texts are flagged for review;
4. **represent** each code by class-based TF-IDF keywords (:mod:`.keywords`), a label, a one-line
   description and representative quotes;
5. **group** codes into themes (agglomerative clustering of code centroids, the number chosen by
   silhouette unless ``n_themes`` is set);
6. **multi-code**: a text holding several ideas is split into clauses (:mod:`.segment`) and also
   joins the code of any clause that clearly belongs elsewhere.

Large inputs are clustered on a random sample of ``sample_size`` texts; the rest are assigned by a
linear classifier on cheap features (word TF-IDF and WordLlama), which keeps a million texts within
minutes. Results are deterministic for a given ``random_state``.

Analysts' edits are methods (``merge``, ``split``, ``rename``, ``move``), each recorded in
``history_``; ``assign`` maps new texts to existing codes and proposes new codes for what does not
fit, without changing anything already decided.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.cluster import AgglomerativeClustering, KMeans
from sklearn.metrics import silhouette_score

from . import graph as graphs
from ._validation import check_texts
from .embed import normalise_rows
from .keywords import ClassTfidf, label_from_keywords
from .segment import segment_all

EMPTY_LABEL = "No comment given"


@dataclass
class Code:
    """One code: a label, its keywords, a description, quotes and how many texts it holds."""

    label: str
    keywords: list[str]
    description: str
    quotes: list[str]
    size: int
    theme: int = 0
    origin: str = "ai"  # "ai" (found by the model), "human" (edited), "proposed" (from assign)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Theme:
    """A group of codes."""

    label: str
    keywords: list[str]
    codes: list[int] = field(default_factory=list)
    size: int = 0
    origin: str = "ai"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _softmax_confidence(S: np.ndarray, chosen: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax weight of the chosen column of similarity rows ``S``."""
    if S.shape[1] == 0:
        return np.zeros(S.shape[0], np.float32)
    Z = (S - S.max(axis=1, keepdims=True)) / temperature
    P = np.exp(Z)
    P /= P.sum(axis=1, keepdims=True)
    return P[np.arange(len(chosen)), chosen].astype(np.float32)


class ThemeModel(BaseEstimator, ClusterMixin):
    """Codes and themes discovered in free text, with confidences and analyst edits.

    Parameters
    ----------
    n_codes : int or None, default None
        How many codes to find; None chooses by stability (recommended).
    n_themes : int or None, default None
        How many themes to group the codes into; None chooses by silhouette.
    embedder : str or object, default "minilm"
        An embedder name for :func:`~.embed.get_embedder` or an object with ``transform(texts)``
        returning L2-normalised rows.
    n_neighbors : int, default 10
        Neighbours per text in the graph.
    resolutions : tuple of float
        Candidate Leiden resolutions for the stability search.
    n_seeds : int, default 10
        Leiden runs per resolution for the stability search.
    min_code_size : int or None, default None
        Smaller clusters join their nearest code; None means ``max(3, n / 1000)``.
    sample_size : int, default 20,000
        Above this many texts, cluster a random sample and assign the rest with a classifier.
    multi_code : bool, default True
        Split texts into clauses and let a text join the code of a clause that belongs elsewhere.
    review_threshold : float, default 0.5
        Texts whose confidence is below this are flagged in ``needs_review_``.
    temperature : float, default 0.05
        Softness of the confidence (a softmax of cosine similarities to code centroids).
    n_keywords, n_quotes : int
        Keywords and representative quotes kept per code.
    random_state : int, default 0

    Attributes
    ----------
    labels_ : ndarray (n,)
        The primary code of each text.
    confidence_ : ndarray (n,)
        How clearly each text belongs to its code (0 to 1).
    needs_review_ : ndarray of bool (n,)
    memberships_ : scipy.sparse.csr_matrix (n × n_codes) of 0/1
        Every code of every text (the primary code plus those of its clauses).
    codes_ : list of :class:`Code`
    themes_ : list of :class:`Theme`
    centroids_ : ndarray (n_codes × d)
    resolution_ : float or None
    stability_ : dict of resolution to mean pairwise ARI
    history_ : list of dict
        Every edit, in order.
    """

    def __init__(
        self,
        n_codes: int | None = None,
        n_themes: int | None = None,
        embedder: Any = "minilm",
        n_neighbors: int = 10,
        resolutions: tuple[float, ...] = graphs.DEFAULT_RESOLUTIONS,
        n_seeds: int = 10,
        min_code_size: int | None = None,
        sample_size: int = 20_000,
        multi_code: bool = True,
        review_threshold: float = 0.5,
        temperature: float = 0.05,
        n_keywords: int = 8,
        n_quotes: int = 3,
        random_state: int = 0,
    ) -> None:
        self.n_codes = n_codes
        self.n_themes = n_themes
        self.embedder = embedder
        self.n_neighbors = n_neighbors
        self.resolutions = resolutions
        self.n_seeds = n_seeds
        self.min_code_size = min_code_size
        self.sample_size = sample_size
        self.multi_code = multi_code
        self.review_threshold = review_threshold
        self.temperature = temperature
        self.n_keywords = n_keywords
        self.n_quotes = n_quotes
        self.random_state = random_state

    # -- steps -----------------------------------------------------------------------------

    def _embedder(self) -> Any:
        emb = getattr(self, "embedder_", None)
        if emb is None:
            if isinstance(self.embedder, str):
                from .embed import get_embedder

                emb = get_embedder(self.embedder)
            else:
                emb = self.embedder
            self.embedder_ = emb
        return emb

    def _embed(self, texts: list[str]) -> np.ndarray:
        return normalise_rows(self._embedder().transform(texts))

    def _check_params(self) -> None:
        if self.n_codes is not None and (not isinstance(self.n_codes, int) or self.n_codes < 1):
            raise ValueError(f"n_codes should be a positive integer or None, got {self.n_codes!r}")
        if self.n_themes is not None and (not isinstance(self.n_themes, int) or self.n_themes < 1):
            raise ValueError(
                f"n_themes should be a positive integer or None, got {self.n_themes!r}"
            )
        if self.n_neighbors < 2:
            raise ValueError(f"n_neighbors should be at least 2, got {self.n_neighbors}")
        if not 0 <= self.review_threshold <= 1:
            raise ValueError(
                f"review_threshold should be between 0 and 1, got {self.review_threshold}"
            )
        if self.sample_size < 100:
            raise ValueError(f"sample_size should be at least 100, got {self.sample_size}")

    def _cluster(self, X: np.ndarray, n_codes: int | None) -> np.ndarray:
        """Leiden labels for embedded rows ``X`` (all non-empty)."""
        n = X.shape[0]
        if n < 3:
            return np.zeros(n, np.int64)
        index, sims = graphs.nearest_neighbours(X, self.n_neighbors)
        graph = graphs.knn_graph(index, sims)
        if n_codes is None:
            choice = graphs.choose_resolution(
                graph, tuple(self.resolutions), self.n_seeds, self.random_state
            )
            self.resolution_ = choice.resolution
            self.stability_ = choice.stability
            return choice.labels
        self.resolution_, labels = graphs.resolution_for_k(graph, n_codes, self.random_state)
        self.stability_ = {}
        return labels

    def _tidy(self, X: np.ndarray, labels: np.ndarray, min_size: int) -> np.ndarray:
        """Clusters smaller than ``min_size`` join the nearest larger one (never an outlier bin)."""
        labels = graphs.relabel_by_size(labels)
        counts = np.bincount(labels)
        big = np.flatnonzero(counts >= min_size)
        if len(big) == 0 or len(big) == len(counts):
            return labels
        C = self._centroids(X, labels, len(counts))[big]
        small = ~np.isin(labels, big)
        labels = labels.copy()
        labels[small] = big[np.argmax(X[small] @ C.T, axis=1)]
        return graphs.relabel_by_size(labels)

    def _to_k(self, X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
        """Exactly ``k`` codes: merge the two closest codes, or split the largest, until so."""
        labels = graphs.relabel_by_size(labels)
        k = min(k, X.shape[0])
        while labels.max() + 1 > k:
            C = self._centroids(X, labels, labels.max() + 1)
            S = C @ C.T
            np.fill_diagonal(S, -np.inf)
            a, b = np.unravel_index(np.argmax(S), S.shape)
            labels[labels == max(a, b)] = min(a, b)
            labels = graphs.relabel_by_size(labels)
        while labels.max() + 1 < k:
            biggest = int(np.argmax(np.bincount(labels)))
            members = np.flatnonzero(labels == biggest)
            km = KMeans(2, n_init=3, random_state=self.random_state).fit(X[members])
            if len(set(km.labels_)) < 2:
                break
            labels[members[km.labels_ == 1]] = labels.max() + 1
        return graphs.relabel_by_size(labels)

    @staticmethod
    def _centroids(X: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
        C = np.zeros((k, X.shape[1]), np.float64)
        np.add.at(C, labels, X)
        return normalise_rows(C)

    def _fit_assigner(self, texts: list[str], labels: np.ndarray) -> None:
        """A linear classifier from cheap features to codes, for texts outside the sample."""
        from sklearn.feature_extraction.text import TfidfVectorizer
        from sklearn.svm import LinearSVC

        from .embed import WordLlamaEmbedder

        self.assign_vectorizer_ = TfidfVectorizer(
            ngram_range=(1, 2), min_df=2, sublinear_tf=True, max_features=200_000, dtype=np.float32
        ).fit(texts)
        self.assign_embedder_ = WordLlamaEmbedder()
        F = self._assign_features(texts)
        rng = np.random.RandomState(self.random_state)
        held = rng.rand(len(texts)) < 0.2
        clf = LinearSVC(C=0.5, random_state=self.random_state).fit(F[~held], labels[~held])
        scores = self._scores(clf, F[held])
        # the softmax temperature that best fits held-out accuracy (log loss)
        truth = np.searchsorted(clf.classes_, labels[held])
        best = (np.inf, 1.0)
        for t in (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0):
            Z = (scores - scores.max(1, keepdims=True)) / t
            logp = Z - np.log(np.exp(Z).sum(1, keepdims=True))
            loss = -logp[np.arange(len(truth)), truth].mean() if len(truth) else 0.0
            if loss < best[0]:
                best = (loss, t)
        self.assign_temperature_ = best[1]
        self.assigner_ = clf

    def _assign_features(self, texts: list[str]) -> sparse.csr_matrix:
        T = self.assign_vectorizer_.transform(texts)
        W = self.assign_embedder_.transform(texts)
        return sparse.hstack([T, sparse.csr_matrix(W)]).tocsr()

    @staticmethod
    def _scores(clf: Any, F: sparse.csr_matrix) -> np.ndarray:
        s = clf.decision_function(F)
        return s[:, None] if s.ndim == 1 else s

    def _assign_rest(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Codes and confidences for texts outside the sample, in chunks."""
        labels = np.empty(len(texts), np.int64)
        conf = np.empty(len(texts), np.float32)
        classes = self.assigner_.classes_
        for start in range(0, len(texts), 50_000):
            chunk = texts[start : start + 50_000]
            S = self._scores(self.assigner_, self._assign_features(chunk))
            if S.shape[1] == 1:  # two codes: LinearSVC gives one score column
                S = np.hstack([-S, S])
            best = np.argmax(S, axis=1)
            labels[start : start + len(chunk)] = classes[best]
            conf[start : start + len(chunk)] = _softmax_confidence(
                S, best, self.assign_temperature_
            )
        return labels, conf

    # -- fit -------------------------------------------------------------------------------

    def fit(self, texts: Any, y: Any = None) -> ThemeModel:
        """Discover codes and themes in ``texts``."""
        self._check_params()
        texts = check_texts(texts)
        if not texts:
            raise ValueError("texts is empty: ThemeModel needs at least one text to find codes")
        n = len(texts)
        self.texts_ = texts
        self.history_: list[dict[str, Any]] = []
        self.resolution_: float | None = None
        self.stability_: dict[float, float] = {}
        empty = np.array([not t.strip() for t in texts])
        content = np.flatnonzero(~empty)
        rng = np.random.RandomState(self.random_state)
        if len(content) > self.sample_size:
            sample = np.sort(rng.choice(content, self.sample_size, replace=False))
        else:
            sample = content
        self.sample_index_ = sample
        min_size = self.min_code_size or max(3, len(sample) // 1000)
        n_codes = max(1, self.n_codes - int(empty.any())) if self.n_codes else None

        labels = np.full(n, -1, np.int64)
        conf = np.zeros(n, np.float32)
        if len(sample):
            X = self._embed([texts[i] for i in sample])
            found = self._cluster(X, n_codes)
            found = self._to_k(X, found, n_codes) if n_codes else self._tidy(X, found, min_size)
            k = int(found.max() + 1)
            C = self._centroids(X, found, k)
            labels[sample] = found
            conf[sample] = _softmax_confidence(X @ C.T, found, self.temperature)
            self.embeddings_ = X
            rest = np.setdiff1d(content, sample)
            if len(rest):
                self._fit_assigner([texts[i] for i in sample], found)
                labels[rest], conf[rest] = self._assign_rest([texts[i] for i in rest])
        else:
            k, C = 0, np.zeros((0, 1), np.float32)
            self.embeddings_ = np.zeros((0, 1), np.float32)
        if empty.any():  # empty answers get a code of their own, with full confidence
            labels[empty] = k
            conf[empty] = 1.0
            C = np.vstack([C, np.zeros((1, C.shape[1]), C.dtype)])
            k += 1
        self.empty_code_ = k - 1 if empty.any() else None
        self.labels_ = labels
        self.confidence_ = conf
        self.centroids_ = C
        self.locked_ = np.zeros(n, bool)
        self.memberships_ = self._memberships(texts, labels, k)
        self._describe(k)
        self._group_themes()
        return self

    def fit_predict(self, texts: Any, y: Any = None) -> np.ndarray:
        return self.fit(texts).labels_

    @property
    def needs_review_(self) -> np.ndarray:
        return self.confidence_ < self.review_threshold

    @property
    def n_codes_(self) -> int:
        return len(self.codes_)

    # -- multi-coding ----------------------------------------------------------------------

    def _segment_codes(self, segments: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """Nearest code and confidence for clause texts."""
        real = self._real_codes()
        if len(segments) == 0 or len(real) == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.float32)
        if len(segments) <= self.sample_size or getattr(self, "assigner_", None) is None:
            S = self._embed(segments) @ self.centroids_[real].T
            best = np.argmax(S, axis=1)
            return real[best], _softmax_confidence(S, best, self.temperature)
        return self._assign_rest(segments)

    def _real_codes(self) -> np.ndarray:
        k = self.centroids_.shape[0]
        return np.array([c for c in range(k) if c != self.empty_code_], dtype=np.int64)

    def _memberships(self, texts: list[str], labels: np.ndarray, k: int) -> sparse.csr_matrix:
        rows, cols = list(range(len(texts))), labels.tolist()
        if self.multi_code and k > 1:
            segments, owners = segment_all(texts)
            owners_arr = np.asarray(owners, np.int64)
            multi = np.bincount(owners_arr, minlength=len(texts))[owners_arr] > 1 if owners else []
            seg_idx = np.flatnonzero(multi)
            seg_texts = [segments[i] for i in seg_idx]
            codes, conf = self._segment_codes(seg_texts)
            for j, code, c in zip(seg_idx, codes, conf, strict=True):
                owner = owners[j]
                clear = c >= max(self.review_threshold, 0.5)
                if code != labels[owner] and clear and len(segments[j].split()) >= 3:
                    rows.append(owner)
                    cols.append(int(code))
        M = sparse.csr_matrix(
            (np.ones(len(rows), np.int8), (rows, cols)), shape=(len(texts), max(k, 1))
        )
        M.data[:] = 1
        return M

    # -- representation --------------------------------------------------------------------

    def _describe(self, k: int, only: list[int] | None = None) -> None:
        """Keywords, labels, descriptions and quotes for codes (all, or those in ``only``)."""
        texts = self.texts_
        if not hasattr(self, "ctfidf_"):
            rng = np.random.RandomState(self.random_state)
            n = len(texts)
            self.keyword_index_ = (
                np.sort(rng.choice(n, 200_000, replace=False)) if n > 200_000 else np.arange(n)
            )
            self.ctfidf_ = ClassTfidf().fit([texts[i] for i in self.keyword_index_])
        counts = self.ctfidf_.class_counts(self.labels_[self.keyword_index_], k)
        keywords = self.ctfidf_.keywords(counts, self.n_keywords)
        sizes = np.bincount(self.labels_[self.labels_ >= 0], minlength=k)
        old = getattr(self, "codes_", [])
        codes = []
        for c in range(k):
            if only is not None and c not in only and c < len(old):
                codes.append(old[c])
                codes[-1].size = int(sizes[c])
                continue
            if c == self.empty_code_:
                codes.append(
                    Code(EMPTY_LABEL, [], "Answers left blank.", [], int(sizes[c]), origin="ai")
                )
                continue
            kw = keywords[c]
            quotes = self._quotes(c)
            codes.append(
                Code(
                    label=label_from_keywords(kw),
                    keywords=kw,
                    description=self._description(kw, int(sizes[c])),
                    quotes=quotes,
                    size=int(sizes[c]),
                )
            )
            if c < len(old):  # an edited code keeps its theme and who shaped it
                codes[-1].theme, codes[-1].origin = old[c].theme, old[c].origin
        self.codes_ = codes

    @staticmethod
    def _description(keywords: list[str], size: int) -> str:
        noun = "text" if size == 1 else "texts"
        if not keywords:
            return f"{size:,} {noun} with no common words."
        words = [f"‘{w}’" for w in keywords[:4]]
        listed = words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]
        return f"{size:,} {noun}, most often mentioning {listed}."

    def _quotes(self, code: int) -> list[str]:
        """The texts nearest the centroid, one of each wording."""
        sample = self.sample_index_
        members = np.flatnonzero(self.labels_[sample] == code)
        if len(members) == 0:
            members_all = np.flatnonzero(self.labels_ == code)
            return [self.texts_[i] for i in members_all[: self.n_quotes]]
        sims = self.embeddings_[members] @ self.centroids_[code]
        order = members[np.argsort(-sims, kind="stable")]
        quotes: list[str] = []
        seen: set[str] = set()
        for j in order:
            text = self.texts_[sample[j]].strip()
            key = " ".join(text.lower().split())
            if key in seen:
                continue
            seen.add(key)
            quotes.append(text)
            if len(quotes) == self.n_quotes:
                break
        return quotes

    def _group_themes(self) -> None:
        """Codes grouped into themes by their centroids."""
        real = self._real_codes()
        k = len(self.codes_)
        theme_of = np.zeros(k, np.int64)
        if len(real) >= 4:
            C = self.centroids_[real]
            if self.n_themes is not None:
                choices = [min(self.n_themes, len(real))]
            else:
                top = min(len(real) - 1, max(2, int(math.sqrt(len(real)) * 2)), 30)
                choices = list(range(2, top + 1))
            best: tuple[float, np.ndarray] | None = None
            for m in choices:
                found = AgglomerativeClustering(n_clusters=m, linkage="ward").fit_predict(C)
                if len(choices) == 1:
                    best = (0.0, found)
                    break
                score = silhouette_score(C, found, metric="cosine")
                if best is None or score > best[0] + 1e-9:
                    best = (score, found)
            assert best is not None
            theme_of[real] = best[1]
        themes_n = int(theme_of[real].max() + 1) if len(real) else 0
        if self.empty_code_ is not None:
            theme_of[self.empty_code_] = themes_n
            themes_n += 1
        self._build_themes(theme_of, themes_n)

    def _build_themes(self, theme_of: np.ndarray, n_themes: int) -> None:
        theme_of = np.asarray(theme_of, np.int64)
        # number themes by size, largest first
        sizes = np.array(
            [
                sum(self.codes_[c].size for c in np.flatnonzero(theme_of == t))
                for t in range(n_themes)
            ]
        )
        order = np.argsort(-sizes, kind="stable")
        rank = np.empty(n_themes, np.int64)
        rank[order] = np.arange(n_themes)
        theme_of = rank[theme_of] if n_themes else theme_of
        text_theme = np.where(self.labels_ >= 0, theme_of[np.maximum(self.labels_, 0)], -1)
        counts = self.ctfidf_.class_counts(text_theme[self.keyword_index_], n_themes)
        keywords = self.ctfidf_.keywords(counts, self.n_keywords)
        old = {t.label: t for t in getattr(self, "themes_", [])}
        themes = []
        for t in range(n_themes):
            members = [int(c) for c in np.flatnonzero(theme_of == t)]
            if members == [self.empty_code_]:
                label = EMPTY_LABEL
            else:
                label = label_from_keywords(keywords[t], 2)
            theme = Theme(label, keywords[t], members, int(sizes[order[t]]) if n_themes else 0)
            if label in old and old[label].origin == "human":
                theme.origin = "human"
            themes.append(theme)
        for c, code in enumerate(self.codes_):
            code.theme = int(theme_of[c])
        self.themes_ = themes

    # -- use -------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "codes_"):
            raise ValueError("this ThemeModel is not fitted yet: call fit(texts) first")

    def transform(self, texts: Any) -> np.ndarray:
        """Cosine similarity of each text to each code's centroid (``n × n_codes``)."""
        self._check_fitted()
        texts = check_texts(texts)
        return self._embed(texts) @ self.centroids_.T if texts else np.zeros((0, self.n_codes_))

    def predict(self, texts: Any) -> np.ndarray:
        """The nearest existing code of each text (empty texts get the empty-answer code)."""
        return self._predict(check_texts(texts))[0]

    def _predict(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        self._check_fitted()
        labels = np.zeros(len(texts), np.int64)
        conf = np.zeros(len(texts), np.float32)
        empty = np.array([not t.strip() for t in texts], bool)
        real = self._real_codes()
        full = np.flatnonzero(~empty)
        if len(full) and len(real):
            S = self._embed([texts[i] for i in full]) @ self.centroids_[real].T
            best = np.argmax(S, axis=1)
            labels[full] = real[best]
            conf[full] = _softmax_confidence(S, best, self.temperature)
        if empty.any():
            labels[empty] = self.empty_code_ if self.empty_code_ is not None else 0
            conf[empty] = 1.0 if self.empty_code_ is not None else 0.0
        return labels, conf

    def assign(self, texts: Any) -> np.ndarray:
        """Codes for new texts; proposes new codes for groups of texts that fit no existing code.

        Existing codes, labels and edits are not changed. New codes are appended to ``codes_``
        with ``origin="proposed"``; ``assign_confidence_`` holds the confidences.
        """
        texts = check_texts(texts)
        labels, conf = self._predict(texts)
        if texts:
            fit_sims = (self.embeddings_ * self.centroids_[self.labels_[self.sample_index_]]).sum(1)
            floor = float(np.quantile(fit_sims, 0.05)) if len(fit_sims) else 0.0
            full = np.array([bool(t.strip()) for t in texts])
            S = self.transform(texts)
            own = S[np.arange(len(texts)), labels]
            misfit = np.flatnonzero(full & (own < floor))
            min_size = self.min_code_size or 3
            if len(misfit) >= 2 * min_size:
                X = self._embed([texts[i] for i in misfit])
                found = self._tidy(X, self._cluster(X, None), min_size)
                sizes = np.bincount(found)
                k = len(self.codes_)
                new_centroids = []
                for c in np.flatnonzero(sizes >= min_size):
                    members = misfit[found == c]
                    labels[members] = k + len(new_centroids)
                    conf[members] = 1.0
                    new_centroids.append(
                        self._centroids(X[found == c], np.zeros(len(members), np.int64), 1)[0]
                    )
                if new_centroids:
                    self._add_proposed(texts, labels, np.vstack(new_centroids), k)
        self.assign_confidence_ = conf
        return labels

    def _add_proposed(
        self, texts: list[str], labels: np.ndarray, centroids: np.ndarray, start: int
    ) -> None:
        real = self._real_codes()
        existing = self.centroids_[real]
        self.centroids_ = np.vstack([self.centroids_, centroids])
        vec = ClassTfidf().fit(texts)
        fresh = np.where(labels >= start, labels - start, -1)
        keywords = vec.keywords(vec.class_counts(fresh, len(centroids)), self.n_keywords)
        proposed = []
        for j in range(len(centroids)):
            members = np.flatnonzero(labels == start + j)
            kw = keywords[j]
            quotes = list(dict.fromkeys(texts[i].strip() for i in members))[: self.n_quotes]
            theme = self.codes_[real[int(np.argmax(existing @ centroids[j]))]].theme
            self.codes_.append(
                Code(
                    label_from_keywords(kw),
                    kw,
                    self._description(kw, len(members)),
                    quotes,
                    len(members),
                    theme,
                    "proposed",
                )
            )
            self.themes_[theme].codes.append(start + j)
            proposed.append(start + j)
        self.memberships_ = sparse.hstack(
            [
                self.memberships_,
                sparse.csr_matrix((self.memberships_.shape[0], len(centroids)), dtype=np.int8),
            ]
        ).tocsr()
        self.history_.append({"action": "propose", "codes": proposed})

    # -- analysts' edits -------------------------------------------------------------------

    def _code_index(self, code: int) -> int:
        self._check_fitted()
        if not isinstance(code, (int, np.integer)) or not 0 <= code < len(self.codes_):
            raise ValueError(
                f"code should be an index from 0 to {len(self.codes_) - 1}, got {code!r}"
            )
        return int(code)

    def rename(self, code: int, label: str, description: str | None = None) -> ThemeModel:
        """Give a code a human label (and description)."""
        code = self._code_index(code)
        if not label or not label.strip():
            raise ValueError("label should not be empty")
        entry = {
            "action": "rename",
            "code": code,
            "from": self.codes_[code].label,
            "to": label.strip(),
        }
        self.codes_[code].label = label.strip()
        if description is not None:
            self.codes_[code].description = description.strip()
        self.codes_[code].origin = "human"
        self.history_.append(entry)
        return self

    def rename_theme(self, theme: int, label: str) -> ThemeModel:
        """Give a theme a human label."""
        if not 0 <= theme < len(self.themes_):
            raise ValueError(
                f"theme should be an index from 0 to {len(self.themes_) - 1}, got {theme!r}"
            )
        self.history_.append(
            {
                "action": "rename_theme",
                "theme": theme,
                "from": self.themes_[theme].label,
                "to": label,
            }
        )
        self.themes_[theme].label = label.strip()
        self.themes_[theme].origin = "human"
        return self

    def move(self, indices: Any, code: int) -> ThemeModel:
        """Move texts (by index) to ``code``; a moved text is locked: later edits keep it there."""
        code = self._code_index(code)
        idx = np.atleast_1d(np.asarray(indices, dtype=np.int64))
        if idx.size and (idx.min() < 0 or idx.max() >= len(self.labels_)):
            raise ValueError(f"indices should be between 0 and {len(self.labels_) - 1}")
        old = np.unique(self.labels_[idx]).tolist()
        self.labels_[idx] = code
        self.confidence_[idx] = 1.0
        self.locked_[idx] = True
        M = self.memberships_.tolil()
        for i in idx:
            M[int(i), :] = 0
            M[int(i), code] = 1
        self.memberships_ = M.tocsr()
        self.history_.append({"action": "move", "texts": idx.tolist(), "from": old, "to": code})
        self._refresh([code, *old])
        return self

    def merge(self, codes: list[int], label: str | None = None) -> ThemeModel:
        """Merge codes into the first of them; later codes are renumbered down."""
        idx = sorted({self._code_index(c) for c in codes})
        if len(idx) < 2:
            raise ValueError("merge needs at least two different codes")
        target, others = idx[0], idx[1:]
        if self.empty_code_ in idx:
            raise ValueError("the empty-answer code cannot be merged")
        sizes = np.array([self.codes_[c].size for c in idx], np.float64)
        centroid = normalise_rows((self.centroids_[idx] * sizes[:, None]).sum(0, keepdims=True))[0]
        keep = np.array([c for c in range(len(self.codes_)) if c not in others])
        mapping = np.full(len(self.codes_), -1, np.int64)
        mapping[keep] = np.arange(len(keep))
        mapping[others] = mapping[target]
        self.labels_ = mapping[self.labels_]
        M = self.memberships_.tocoo()
        self.memberships_ = sparse.csr_matrix(
            (np.ones(M.nnz, np.int8), (M.row, mapping[M.col])), shape=(M.shape[0], len(keep))
        )
        self.memberships_.data[:] = 1
        self.centroids_ = self.centroids_[keep]
        self.centroids_[mapping[target]] = centroid
        if self.empty_code_ is not None:
            self.empty_code_ = int(mapping[self.empty_code_])
        names = [self.codes_[c].label for c in idx]
        self.codes_ = [self.codes_[c] for c in keep]
        for theme in self.themes_:
            theme.codes = sorted({int(mapping[c]) for c in theme.codes})
        self.history_.append(
            {"action": "merge", "codes": idx, "labels": names, "into": int(mapping[target])}
        )
        new = int(mapping[target])
        self.codes_[new].origin = "human"
        self._refresh([new])
        if label:
            self.rename(new, label)
        return self

    def split(self, code: int, n: int = 2) -> ThemeModel:
        """Split a code into ``n`` by k-means on its texts' embeddings; new codes are appended."""
        code = self._code_index(code)
        if code == self.empty_code_:
            raise ValueError("the empty-answer code cannot be split")
        members = np.flatnonzero((self.labels_ == code) & ~self.locked_)
        if n < 2 or len(members) < n:
            raise ValueError(
                f"code {code} has {len(members)} unlocked texts; cannot split into {n}"
            )
        X = self._embed([self.texts_[i] for i in members])
        parts = KMeans(n, n_init=5, random_state=self.random_state).fit_predict(X)
        parts = graphs.relabel_by_size(parts)
        k = len(self.codes_)
        new_ids = [code] + list(range(k, k + n - 1))
        self.labels_[members] = np.asarray(new_ids)[parts]
        C = self._centroids(X, parts, n)
        self.centroids_ = np.vstack([self.centroids_, C[1:]])
        self.centroids_[code] = C[0]
        sims = (X * C[parts]).sum(1)
        self.confidence_[members] = _softmax_confidence(X @ C.T, parts, self.temperature) * (
            sims > 0
        )
        self.memberships_ = sparse.hstack(
            [self.memberships_, sparse.csr_matrix((len(self.labels_), n - 1), dtype=np.int8)]
        ).tolil()
        for i, new in zip(members, np.asarray(new_ids)[parts], strict=True):
            self.memberships_[int(i), code] = 0
            self.memberships_[int(i), int(new)] = 1
        self.memberships_ = self.memberships_.tocsr()
        theme = self.codes_[code].theme
        self.codes_[code].origin = "human"
        for _ in range(n - 1):
            self.codes_.append(Code("", [], "", [], 0, theme, "human"))
        self.themes_[theme].codes.extend(range(k, k + n - 1))
        self.history_.append({"action": "split", "code": code, "into": new_ids})
        self._refresh(new_ids)
        return self

    def move_code(self, code: int, theme: int) -> ThemeModel:
        """Move a code to another theme."""
        code = self._code_index(code)
        if not 0 <= theme < len(self.themes_):
            raise ValueError(
                f"theme should be an index from 0 to {len(self.themes_) - 1}, got {theme!r}"
            )
        old = self.codes_[code].theme
        if code in self.themes_[old].codes:
            self.themes_[old].codes.remove(code)
        self.themes_[theme].codes = sorted({*self.themes_[theme].codes, code})
        self.codes_[code].theme = theme
        self.history_.append({"action": "move_code", "code": code, "from": old, "to": theme})
        return self

    def _refresh(self, codes: list[int]) -> None:
        """Recompute keywords, quotes and sizes of edited codes, keeping human labels."""
        k = len(self.codes_)
        keep_labels = {
            c: (self.codes_[c].label, self.codes_[c].description)
            for c in codes
            if c < k and self.codes_[c].origin == "human" and self.codes_[c].label
        }
        X = self.embeddings_
        found = self.labels_[self.sample_index_]
        for c in set(codes):
            rows = found == c
            if rows.any():
                self.centroids_[c] = normalise_rows(X[rows].sum(0, keepdims=True))[0]
        self._describe(k, only=list(set(codes)))
        for c, (label, description) in keep_labels.items():
            self.codes_[c].label, self.codes_[c].description = label, description

    def summary(self) -> list[dict[str, Any]]:
        """Themes with their codes, for printing or a DataFrame."""
        self._check_fitted()
        rows = []
        for t, theme in enumerate(self.themes_):
            for c in theme.codes:
                code = self.codes_[c]
                rows.append(
                    {
                        "theme": t,
                        "theme_label": theme.label,
                        "code": c,
                        "code_label": code.label,
                        "size": code.size,
                        "keywords": ", ".join(code.keywords[:5]),
                        "origin": code.origin,
                    }
                )
        return rows
