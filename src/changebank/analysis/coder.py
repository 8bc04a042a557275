"""Auto-coding: assigning codes from a codebook to texts, with people in charge of the result.

``Coder`` is supervised as soon as there are labelled examples and zero-shot before that:

- **supervised**: word and character TF-IDF features, one class-balanced linear SVM per code,
  calibrated to probabilities (Platt scaling on cross-validated scores) and given a per-code threshold
  chosen on out-of-fold predictions to maximise F1 (or to reach a recall target). Every text that says
  something gets at least its most likely code, as analysts' coding does.
- **zero-shot**: texts are compared with each code's name, description and example sentences by
  embedding similarity.

``suggest_next(texts, n)`` picks the uncoded texts whose labels would teach the model most (the least
certain ones, spread across codes), each with a confidence and a reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_union
from sklearn.svm import LinearSVC

from ._validation import check_label_matrix, check_texts


@dataclass
class Suggestion:
    """A text worth coding next, or a code proposed for a text, with why."""

    index: int
    code: int
    confidence: float
    reason: str


def _best_threshold(y: np.ndarray, p: np.ndarray, objective: str, recall_target: float) -> float:
    """The probability cut-off for one code that maximises F1 (or reaches the recall target)."""
    positives = int(y.sum())
    if positives == 0:
        return 1.0
    order = np.argsort(-p, kind="stable")
    ys, ps = y[order], p[order]
    tp = np.cumsum(ys)
    k = np.arange(1, len(ys) + 1)
    precision, recall = tp / k, tp / positives
    if objective == "recall":
        reach = np.flatnonzero(recall >= recall_target)
        i = int(reach[0]) if reach.size else len(ys) - 1
    else:
        f1 = np.where(
            precision + recall > 0, 2 * precision * recall / (precision + recall + 1e-12), 0
        )
        i = int(np.argmax(f1))
    # Halfway between the last score taken and the next one, so ties fall the same way.
    nxt = ps[i + 1] if i + 1 < len(ps) else 0.0
    return float((ps[i] + nxt) / 2)


def _platt(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Platt scaling: fit p = 1 / (1 + exp(a*s + b)) to out-of-fold scores by logistic regression."""
    model = LogisticRegression(C=100.0).fit(scores.reshape(-1, 1), y)
    return float(-model.coef_[0, 0]), float(-model.intercept_[0])


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


class Coder(BaseEstimator, ClassifierMixin):
    """Multi-label auto-coder.

    Parameters
    ----------
    C : float, default 0.1
        Regularisation of each code's linear SVM (smaller is smoother).
    objective : {"f1", "recall"}, default "f1"
        How each code's threshold is chosen: best F1, or the highest threshold reaching
        ``recall_target`` (NHS trusts have preferred recall).
    recall_target : float, default 0.8
    at_least_one : bool, default True
        Give every non-empty text its most likely code even when no code passes its threshold.
    min_examples : int, default 3
        Codes with fewer positive examples use the default threshold ``default_threshold``.
    default_threshold : float, default 0.5
    min_threshold : float, default 0.2
        No tuned threshold goes below this (rare codes otherwise get near-zero cut-offs that
        flood texts with them).
    cv : int, default 5
        Folds for the out-of-fold scores behind calibration and thresholds.
    codebook : list of dict, optional
        ``[{"name", "description", "examples": [...]}, ...]`` for zero-shot coding when ``fit`` is
        given no labels (``Y=None``); the code order is the column order of the predictions.
    embedder : estimator, optional
        For zero-shot coding and reasons (default: WordLlama).
    random_state : int, default 0

    Attributes
    ----------
    n_codes_, thresholds_ (per code), calibration_ (a, b per code), mode_ ("supervised" or
    "zero-shot"), vectorizer_, estimators_.
    """

    def __init__(
        self,
        C: float = 0.1,
        objective: str = "f1",
        recall_target: float = 0.8,
        at_least_one: bool = True,
        min_examples: int = 3,
        default_threshold: float = 0.5,
        min_threshold: float = 0.2,
        cv: int = 5,
        codebook: list[dict] | None = None,
        embedder: Any = None,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.objective = objective
        self.recall_target = recall_target
        self.at_least_one = at_least_one
        self.min_examples = min_examples
        self.default_threshold = default_threshold
        self.min_threshold = min_threshold
        self.cv = cv
        self.codebook = codebook
        self.embedder = embedder
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------------------

    def _features(self, texts: list[str], fit: bool = False) -> sparse.csr_matrix:
        if fit:
            self.vectorizer_ = make_union(
                TfidfVectorizer(
                    ngram_range=(1, 2), sublinear_tf=True, min_df=1, strip_accents="unicode"
                ),
                TfidfVectorizer(
                    analyzer="char_wb",
                    ngram_range=(2, 5),
                    sublinear_tf=True,
                    min_df=2 if len(texts) > 200 else 1,
                ),
            )
            return self.vectorizer_.fit_transform(texts).tocsr()
        return self.vectorizer_.transform(texts).tocsr()

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, class_weight="balanced", random_state=self.random_state)

    def fit(self, texts: Any, Y: Any = None) -> Coder:
        """Learn from ``texts`` and their 0/1 code matrix ``Y`` (n × k); without ``Y``, prepare
        zero-shot coding from ``codebook``."""
        texts = check_texts(texts)
        if self.objective not in ("f1", "recall"):
            raise ValueError("objective should be 'f1' or 'recall'")
        if Y is None:
            return self._fit_zero_shot()
        Y = check_label_matrix(Y, n_rows=len(texts))
        if len(texts) < 2:
            raise ValueError("Coder needs at least 2 labelled texts to learn from")
        self.mode_ = "supervised"
        self.n_codes_ = Y.shape[1]
        X = self._features(texts, fit=True)
        scores = self._out_of_fold_scores(X, Y)
        self.calibration_ = np.zeros((self.n_codes_, 2))
        self.thresholds_ = np.full(self.n_codes_, self.default_threshold)
        self.estimators_: list[Any] = []
        for j in range(self.n_codes_):
            y = Y[:, j]
            positives = int(y.sum())
            if positives == 0 or positives == len(y):
                self.estimators_.append(float(positives > 0))  # a constant: always or never
                continue
            a, b = _platt(scores[:, j], y)
            self.calibration_[j] = (a, b)
            if positives >= self.min_examples:
                p = _sigmoid(-(scores[:, j] * a + b))
                tuned = _best_threshold(y, p, self.objective, self.recall_target)
                self.thresholds_[j] = max(tuned, self.min_threshold)
            self.estimators_.append(self._svm().fit(X, y))
        self.train_texts_ = texts
        self.train_Y_ = Y
        return self

    def _out_of_fold_scores(self, X: sparse.csr_matrix, Y: np.ndarray) -> np.ndarray:
        n = X.shape[0]
        scores = np.zeros(Y.shape, dtype=float)
        folds = min(self.cv, n)
        if folds < 2:
            return scores
        splitter = KFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        for train, test in splitter.split(np.zeros(n)):
            for j in range(Y.shape[1]):
                y = Y[train, j]
                if 0 < y.sum() < len(y):
                    scores[test, j] = self._svm().fit(X[train], y).decision_function(X[test])
                else:
                    scores[test, j] = 1.0 if y.sum() else -1.0
        return scores

    def _fit_zero_shot(self) -> Coder:
        if not self.codebook:
            raise ValueError(
                "give labels Y, or a codebook of code names and descriptions for zero-shot coding"
            )
        from .embed import WordLlamaEmbedder

        self.mode_ = "zero-shot"
        self.n_codes_ = len(self.codebook)
        self.embedder_ = self.embedder if self.embedder is not None else WordLlamaEmbedder().fit()
        centroids = []
        for i, code in enumerate(self.codebook):
            if not isinstance(code, dict) or not code.get("name"):
                raise ValueError(f"codebook[{i}] should be a dict with at least a 'name'")
            phrases = [code["name"], code.get("description", ""), *code.get("examples", [])]
            E = self.embedder_.transform([p for p in phrases if p and p.strip()])
            centre = E.mean(axis=0)
            centroids.append(centre / (np.linalg.norm(centre) or 1.0))
        self.code_vectors_ = np.vstack(centroids)
        self.thresholds_ = np.full(self.n_codes_, self.default_threshold)
        return self

    # -- prediction ---------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "mode_"):
            raise ValueError("this Coder is not fitted yet: call fit(texts, Y) first")

    def predict_proba(self, texts: Any) -> np.ndarray:
        """The probability of each code for each text (n × k)."""
        self._check_fitted()
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.n_codes_))
        if self.mode_ == "zero-shot":
            sims = self.embedder_.transform(texts) @ self.code_vectors_.T
            return np.clip((sims + 1) / 2, 0, 1)  # cosine mapped to [0, 1]
        X = self._features(texts)
        P = np.zeros((len(texts), self.n_codes_))
        for j, est in enumerate(self.estimators_):
            if isinstance(est, float):
                P[:, j] = est
            else:
                a, b = self.calibration_[j]
                P[:, j] = _sigmoid(-(est.decision_function(X) * a + b))
        return P

    def predict(self, texts: Any) -> np.ndarray:
        """0/1 codes for each text (n × k)."""
        texts = check_texts(texts)
        P = self.predict_proba(texts)
        if self.mode_ == "zero-shot":
            Y = np.zeros_like(P, dtype=np.int8)
            if len(texts):
                Y[np.arange(len(texts)), P.argmax(axis=1)] = 1
            Y[[not t.strip() for t in texts]] = 0
        else:
            Y = (self.thresholds_ <= P).astype(np.int8)
            if self.at_least_one and len(texts):
                empty = Y.sum(axis=1) == 0
                Y[np.flatnonzero(empty), P[empty].argmax(axis=1)] = 1
        # Empty answers are coded too in supervised mode: analysts give them codes such as
        # "no comment", and the model learns that.
        return Y

    # -- active learning and explanations -----------------------------------------------------------

    def suggest_next(self, texts: Any, n: int = 10) -> list[Suggestion]:
        """The ``n`` uncoded texts whose labels would teach the model most: those whose most
        uncertain code is closest to its threshold, taking codes in turn so all are covered."""
        texts = check_texts(texts)
        P = self.predict_proba(texts)
        if not len(texts):
            return []
        margin = np.abs(P - self.thresholds_)
        code = margin.argmin(axis=1)
        uncertainty = margin[np.arange(len(texts)), code]
        order = np.argsort(uncertainty, kind="stable")
        order = [i for i in order if texts[i].strip()]
        picked: list[int] = []
        by_code: dict[int, list[int]] = {}
        for i in order:
            by_code.setdefault(int(code[i]), []).append(int(i))
        queues = sorted(by_code.values(), key=lambda q: uncertainty[q[0]])
        while len(picked) < n and any(queues):
            for q in queues:
                if q and len(picked) < n:
                    picked.append(q.pop(0))
        return [
            Suggestion(
                i,
                int(code[i]),
                float(P[i, code[i]]),
                f"uncertain about code {int(code[i])}: probability {P[i, code[i]]:.2f} "
                f"against a threshold of {self.thresholds_[code[i]]:.2f}",
            )
            for i in picked
        ]

    def explain(self, text: str, code: int, n_terms: int = 5) -> str:
        """Why ``text`` was given ``code``: the words that weighed most, and the nearest coded example."""
        self._check_fitted()
        if self.mode_ == "zero-shot":
            return f"similar to the description of '{self.codebook[code]['name']}'"
        est = self.estimators_[code]
        if isinstance(est, float):
            return "every training example had the same value for this code"
        x = self._features([text])
        contrib = x.multiply(est.coef_.reshape(1, -1)).tocsr()
        names = self.vectorizer_.get_feature_names_out()
        top = contrib.indices[np.argsort(-contrib.data)[:n_terms]]
        terms = [names[i].split("__", 1)[-1] for i in top if contrib[0, i] > 0]
        X_train = self._features(self.train_texts_)
        positives = np.flatnonzero(self.train_Y_[:, code])
        nearest = ""
        if positives.size:
            sims = (X_train[positives] @ x.T).toarray().ravel()
            nearest = self.train_texts_[positives[int(np.argmax(sims))]]
        reason = f"words: {', '.join(terms[:n_terms]) or 'none stand out'}"
        return reason + (f"; like the coded example “{nearest[:120]}”" if nearest else "")
