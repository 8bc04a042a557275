"""Auto-coding: assigning codes from a codebook to texts, with people in charge of the result.

``Coder`` is supervised as soon as there are labelled examples and zero-shot before that:

- **supervised**: word and character TF-IDF features plus a dense WordLlama embedding, one
  class-balanced linear SVM per code, calibrated to probabilities (Platt scaling on cross-validated
  scores). Each text then gets the codes that maximise its expected F1: its most likely codes, one
  to five of them, more when the probabilities are spread over several codes (``decision=
  "expected_f1"``); or, with ``decision="threshold"``, every code passing a per-code threshold chosen
  on out-of-fold predictions (for F1 or to reach a recall target), and at least the most likely
  code. Empty answers are coded too (analysts give them codes such as "no comment").
- **question as context**: when the question each text answers is known (``questions=``), it is
  mapped to a group ("good", "improve", "why", "mixed", or a token of its own) and the features get a
  one-hot of the group and the answer's words crossed with it: "Nothing" means opposite things under
  "What could we improve?" and "What was good?".
- **zero-shot**: texts are compared with each code's name, description and example sentences by
  embedding similarity.

On the pxtextmining v6 comments (fixed 80/20 split, RandomState(42)) the defaults reach macro F1
0.504 and sample F1 0.764 without the question, 0.509 and 0.776 with it (the previous TF-IDF-only,
threshold-rule defaults: 0.492 and 0.749).

``suggest_next(texts, n)`` picks the uncoded texts whose labels would teach the model most (the least
certain ones, spread across codes), each with a confidence and a reason.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from joblib import Parallel, delayed
from scipy import sparse
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import KFold
from sklearn.pipeline import make_union
from sklearn.svm import LinearSVC

from ._validation import check_label_matrix, check_texts

EMPTY_ANSWER = "emptyanswer"
"""What an empty answer is replaced by, so that the model learns the codes of empty answers."""

_CROSS_WEIGHT = 0.5  # weight of the question-group × word features
_CHUNK = 20_000  # texts scored at a time in predict_proba, to bound memory
_WORD = re.compile(r"(?u)\b\w\w+\b")
_IMPROVE_CUES = ("improv", "better", "dissatisf", "unsatisf", "worse", "wrong", "change")
_GOOD_CUES = ("good", "well", "satisf", "best", "like", "liked", "enjoy", "positive", "great")


@dataclass
class Suggestion:
    """A text worth coding next, or a code proposed for a text, with why."""

    index: int
    code: int
    confidence: float
    reason: str


def question_group(question: str | None) -> str:
    """The kind of question a text answers, so that answers to similar questions share features.

    ``"why"`` (why did you say that?), ``"improve"`` (what could be better?), ``"good"`` (what went
    well?), ``"mixed"`` (both, as in "satisfied and/or dissatisfied with"), ``"unknown"`` (no question
    given), otherwise ``"q"`` and a short hash of the question's normalised words.
    """
    if question is None or (isinstance(question, float) and np.isnan(question)):
        return "unknown"
    words = re.findall(r"\w+", str(question).lower())
    if not words:
        return "unknown"
    if "why" in words:
        return "why"
    improve = any(w.startswith(_IMPROVE_CUES) for w in words)
    good = any(w.startswith(("satisf",)) or w in _GOOD_CUES for w in words)
    if improve and good:
        return "mixed"
    if improve:
        return "improve"
    if good:
        return "good"
    digest = hashlib.blake2b(" ".join(words).encode("utf-8"), digest_size=4).hexdigest()
    return f"q{digest}"


def expected_f1_sets(P: np.ndarray, max_codes: int = 5) -> np.ndarray:
    """For each row of probabilities, the top-k codes (1 ≤ k ≤ ``max_codes``) maximising the
    plug-in expected F1 ``2·Σ_{i≤k} p_i / (k + max(1, Σ_all p))``, as a 0/1 matrix.

    Every row gets at least one code; a row whose probability is spread over several codes gets
    several."""
    P = np.asarray(P, dtype=float)
    n, k = P.shape
    Y = np.zeros((n, k), dtype=np.int8)
    if n == 0 or k == 0:
        return Y
    kmax = max(1, min(max_codes, k))
    order = np.argsort(-P, axis=1, kind="stable")[:, :kmax]
    top = np.take_along_axis(P, order, axis=1)
    total = np.maximum(P.sum(axis=1, keepdims=True), 1.0)
    ranks = np.arange(1, kmax + 1)[None, :]
    expected = 2 * np.cumsum(top, axis=1) / (ranks + total)
    best = expected.argmax(axis=1) + 1
    take = ranks <= best[:, None]
    rows = np.repeat(np.arange(n), take.sum(axis=1))
    Y[rows, order[take]] = 1
    return Y


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


def _fit_linear(
    X: sparse.csr_matrix, y: np.ndarray, C: float, random_state: int
) -> tuple[np.ndarray, float]:
    """One class-balanced linear SVM: its weights and intercept (constant labels: zero weights)."""
    positives = int(y.sum())
    if positives == 0 or positives == len(y):
        return np.zeros(X.shape[1]), 1.0 if positives else -1.0
    model = LinearSVC(C=C, class_weight="balanced", random_state=random_state).fit(X, y)
    return model.coef_.ravel().astype(np.float64), float(model.intercept_[0])


def _fast_wordllama(embedder: Any, texts: list[str]) -> np.ndarray:
    """WordLlama embeddings (``WordLlamaEmbedder.transform`` computes them without padding)."""
    return embedder.transform(texts)


class Coder(BaseEstimator, ClassifierMixin):
    """Multi-label auto-coder.

    Parameters
    ----------
    C : float, default 0.3
        Regularisation of each code's linear SVM (smaller is smoother).
    decision : {"expected_f1", "threshold"}, default "expected_f1"
        How codes are chosen from the probabilities: per text, the top 1 to ``max_codes`` codes that
        maximise the expected F1; or per code, its tuned threshold (and the most likely code when no
        code passes, if ``at_least_one``). With ``objective="recall"`` the thresholds also apply under
        ``"expected_f1"``: a code passing its threshold is added.
    max_codes : int, default 5
        Most codes the expected-F1 rule gives one text.
    objective : {"f1", "recall"}, default "f1"
        How each code's threshold is chosen: best F1, or the highest threshold reaching
        ``recall_target`` (NHS trusts have preferred recall).
    recall_target : float, default 0.8
    at_least_one : bool, default True
        Under ``decision="threshold"``, give every text its most likely code even when no code passes
        its threshold (the expected-F1 rule always gives at least one).
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
    embedder : "wordllama", an embedder, or None; default "wordllama"
        Dense sentence features added to the TF-IDF ones (None: TF-IDF only, faster to fit), and the
        embedding for zero-shot coding (which uses WordLlama when this is None). An object needs
        ``transform(texts)`` returning one row per text (and ``fit(texts)`` if it learns).
    n_jobs : int, optional
        Threads for fitting the per-code models (None: one; -1: all cores).
    random_state : int, default 0

    Attributes
    ----------
    n_codes_, mode_ ("supervised" or "zero-shot"), calibration_ (a, b per code), thresholds_ (per
    code), coef_ (features × codes), intercept_, vectorizer_ (word and character
    TF-IDF), uses_questions_, question_groups_, embedder_.
    """

    def __init__(
        self,
        C: float = 0.3,
        decision: str = "expected_f1",
        max_codes: int = 5,
        objective: str = "f1",
        recall_target: float = 0.8,
        at_least_one: bool = True,
        min_examples: int = 3,
        default_threshold: float = 0.5,
        min_threshold: float = 0.2,
        cv: int = 5,
        codebook: list[dict] | None = None,
        embedder: Any = "wordllama",
        n_jobs: int | None = None,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.decision = decision
        self.max_codes = max_codes
        self.objective = objective
        self.recall_target = recall_target
        self.at_least_one = at_least_one
        self.min_examples = min_examples
        self.default_threshold = default_threshold
        self.min_threshold = min_threshold
        self.cv = cv
        self.codebook = codebook
        self.embedder = embedder
        self.n_jobs = n_jobs
        self.random_state = random_state

    def __getstate__(self) -> dict[str, Any]:
        """Pickle without WordLlama's weights (over 100 MB): they load again from the installed
        package when next needed."""
        from .embed import WordLlamaEmbedder

        state = dict(super().__getstate__())
        state.pop("_train_tfidf", None)
        for key in ("embedder", "embedder_"):
            value = state.get(key)
            if type(value) is WordLlamaEmbedder:
                state[key] = WordLlamaEmbedder(**value.get_params())
        return state

    # -- features -----------------------------------------------------------------------------------

    @staticmethod
    def _groups(questions: Any, n: int) -> list[str] | None:
        if questions is None:
            return None
        if isinstance(questions, str):
            return [question_group(questions)] * n  # one question asked of every text
        items = list(questions)
        if len(items) != n:
            raise ValueError(f"questions has {len(items)} items but there are {n} texts")
        return [question_group(q) for q in items]

    def _make_embedder(self) -> Any:
        if self.embedder is None:
            return None
        if isinstance(self.embedder, str):
            from .embed import get_embedder

            return get_embedder(self.embedder)
        return self.embedder

    def _embed(self, texts: list[str]) -> np.ndarray:
        from .embed import WordLlamaEmbedder

        if type(self.embedder_) is WordLlamaEmbedder:
            return _fast_wordllama(self.embedder_, texts)
        E = np.asarray(self.embedder_.transform(texts), dtype=np.float64)
        return np.nan_to_num(E, nan=0.0, posinf=0.0, neginf=0.0)

    @staticmethod
    def _crossed(texts: list[str], groups: list[str]) -> list[str]:
        return [
            " ".join(f"{g}_{w}" for w in (_WORD.findall(t.lower()) or [EMPTY_ANSWER]))
            for t, g in zip(texts, groups, strict=True)
        ]

    def _features(
        self, texts: list[str], groups: list[str] | None = None, fit: bool = False
    ) -> tuple[sparse.csr_matrix, np.ndarray | None]:
        """The sparse features (TF-IDF, question group, words crossed with it) and the dense ones."""
        prepared = [t if t.strip() else EMPTY_ANSWER for t in texts]
        min_df = 2 if len(texts) > 200 else 1
        if fit:
            self.vectorizer_ = make_union(
                TfidfVectorizer(
                    ngram_range=(1, 2), sublinear_tf=True, min_df=min_df, strip_accents="unicode"
                ),
                TfidfVectorizer(
                    analyzer="char_wb", ngram_range=(2, 5), sublinear_tf=True, min_df=min_df
                ),
            )
            blocks = [self.vectorizer_.fit_transform(prepared)]
            self.uses_questions_ = groups is not None
            if groups is not None:
                self.question_groups_ = sorted(set(groups))
                self.cross_vectorizer_ = TfidfVectorizer(
                    token_pattern=r"\S+",  # noqa: S106 (a regex, not a password)  # nosec B106
                    lowercase=False,
                    sublinear_tf=True,
                    min_df=min_df,
                )
                blocks.append(
                    self.cross_vectorizer_.fit_transform(self._crossed(prepared, groups))
                    * _CROSS_WEIGHT
                )
            self.embedder_ = self._make_embedder()
            if self.embedder_ is not None and hasattr(self.embedder_, "fit"):
                self.embedder_.fit(prepared)
        else:
            blocks = [self.vectorizer_.transform(prepared)]
            if self.uses_questions_:
                if groups is None:
                    groups = ["unknown"] * len(texts)
                blocks.append(
                    self.cross_vectorizer_.transform(self._crossed(prepared, groups))
                    * _CROSS_WEIGHT
                )
        if self.uses_questions_:
            assert groups is not None
            index = {g: i for i, g in enumerate(self.question_groups_)}
            rows = [i for i, g in enumerate(groups) if g in index]
            cols = [index[groups[i]] for i in rows]
            blocks.append(
                sparse.csr_matrix(
                    (np.ones(len(rows)), (rows, cols)),
                    shape=(len(texts), len(self.question_groups_)),
                )
            )
        X = sparse.hstack(blocks, format="csr", dtype=np.float64)
        E = self._embed(prepared) if self.embedder_ is not None else None
        return X, E

    @staticmethod
    def _stack(X: sparse.csr_matrix, E: np.ndarray | None) -> sparse.csr_matrix:
        if E is None:
            return X
        return sparse.hstack([X, sparse.csr_matrix(E.astype(np.float64))], format="csr")

    # -- fitting ------------------------------------------------------------------------------------

    def fit(self, texts: Any, Y: Any = None, questions: Any = None) -> Coder:
        """Learn from ``texts`` and their 0/1 code matrix ``Y`` (n × k); without ``Y``, prepare
        zero-shot coding from ``codebook``. ``questions``: the question each text answers (a list,
        one string for all, or None when not known)."""
        texts = check_texts(texts)
        if self.objective not in ("f1", "recall"):
            raise ValueError("objective should be 'f1' or 'recall'")
        if self.decision not in ("expected_f1", "threshold"):
            raise ValueError("decision should be 'expected_f1' or 'threshold'")
        if Y is None:
            return self._fit_zero_shot()
        Y = check_label_matrix(Y, n_rows=len(texts))
        if len(texts) < 2:
            raise ValueError("Coder needs at least 2 labelled texts to learn from")
        groups = self._groups(questions, len(texts))
        if not self.C > 0:
            raise ValueError("C should be a positive number")
        with warnings.catch_warnings():
            # liblinear stops at its iteration limit on some codes; the scores are still usable
            warnings.simplefilter("ignore", ConvergenceWarning)
            return self._fit_supervised(texts, Y, groups)

    def _fit_supervised(self, texts: list[str], Y: np.ndarray, groups: list[str] | None) -> Coder:
        self.mode_ = "supervised"
        self.n_codes_ = Y.shape[1]
        Xs, E = self._features(texts, groups, fit=True)
        X = self._stack(Xs, E)
        oof = self._out_of_fold_scores(X, Y)
        self.calibration_ = np.zeros((self.n_codes_, 2))
        self.thresholds_ = np.full(self.n_codes_, self.default_threshold)
        for j in range(self.n_codes_):
            y = Y[:, j]
            positives = int(y.sum())
            if positives == 0 or positives == len(y):
                # a constant: always (p = 1) or never (p = 0)
                self.calibration_[j] = (0.0, -50.0 if positives else 50.0)
                self.thresholds_[j] = 0.5
                continue
            a, b = _platt(oof[:, j], y)
            self.calibration_[j] = (a, b)
            if positives >= self.min_examples:
                p = _sigmoid(-(oof[:, j] * a + b))
                tuned = _best_threshold(y, p, self.objective, self.recall_target)
                self.thresholds_[j] = max(tuned, self.min_threshold)
        fitted = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(_fit_linear)(X, Y[:, j], self.C, self.random_state)
            for j in range(self.n_codes_)
        )
        self.coef_ = np.column_stack([w for w, _ in fitted])
        self.intercept_ = np.array([b for _, b in fitted])
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
        splits = list(splitter.split(np.zeros(n)))
        parts = [X[train] for train, _ in splits]
        fitted = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(_fit_linear)(parts[f], Y[train, j], self.C, self.random_state)
            for f, (train, _) in enumerate(splits)
            for j in range(Y.shape[1])
        )
        i = 0
        for _, test in splits:
            W = np.column_stack([w for w, _ in fitted[i : i + Y.shape[1]]])
            b = np.array([b for _, b in fitted[i : i + Y.shape[1]]])
            scores[test] = np.asarray(X[test] @ W) + b
            i += Y.shape[1]
        return scores

    def _fit_zero_shot(self) -> Coder:
        if not self.codebook:
            raise ValueError(
                "give labels Y, or a codebook of code names and descriptions for zero-shot coding"
            )
        from .embed import WordLlamaEmbedder

        self.mode_ = "zero-shot"
        self.n_codes_ = len(self.codebook)
        embedder = self._make_embedder()
        self.embedder_ = embedder if embedder is not None else WordLlamaEmbedder()
        if hasattr(self.embedder_, "fit") and isinstance(self.embedder_, WordLlamaEmbedder):
            self.embedder_.fit()
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

    def decision_function(self, texts: Any, questions: Any = None) -> np.ndarray:
        """Each code's SVM score for each text (n × k), before calibration."""
        self._check_fitted()
        if self.mode_ != "supervised":
            raise ValueError("decision_function needs a supervised Coder")
        texts = check_texts(texts)
        groups = self._groups(questions, len(texts))
        S = np.zeros((len(texts), self.n_codes_))
        for start in range(0, len(texts), _CHUNK):
            stop = start + _CHUNK
            Xs, E = self._features(
                texts[start:stop], None if groups is None else groups[start:stop]
            )
            d = Xs.shape[1]
            block = np.asarray(Xs @ self.coef_[:d])
            if E is not None:
                block += E @ self.coef_[d:]
            S[start:stop] = block + self.intercept_
        return S

    def predict_proba(self, texts: Any, questions: Any = None) -> np.ndarray:
        """The probability of each code for each text (n × k)."""
        self._check_fitted()
        texts = check_texts(texts)
        if not texts:
            return np.zeros((0, self.n_codes_))
        if self.mode_ == "zero-shot":
            sims = self.embedder_.transform(texts) @ self.code_vectors_.T
            return np.clip((sims + 1) / 2, 0, 1)  # cosine mapped to [0, 1]
        S = self.decision_function(texts, questions)
        a, b = self.calibration_[:, 0], self.calibration_[:, 1]
        return _sigmoid(-(S * a + b))

    def predict(self, texts: Any, questions: Any = None) -> np.ndarray:
        """0/1 codes for each text (n × k)."""
        texts = check_texts(texts)
        P = self.predict_proba(texts, questions)
        if self.mode_ == "zero-shot":
            Y = np.zeros_like(P, dtype=np.int8)
            if len(texts):
                Y[np.arange(len(texts)), P.argmax(axis=1)] = 1
            Y[[not t.strip() for t in texts]] = 0
            return Y
        # Empty answers are coded too in supervised mode: analysts give them codes such as
        # "no comment", and the model learns that.
        passed = (self.thresholds_ <= P).astype(np.int8)
        if self.decision == "expected_f1":
            Y = expected_f1_sets(P, self.max_codes)
            if self.objective == "recall":
                Y |= passed
            return Y
        Y = passed
        if self.at_least_one and len(texts):
            empty = Y.sum(axis=1) == 0
            Y[np.flatnonzero(empty), P[empty].argmax(axis=1)] = 1
        return Y

    # -- active learning and explanations -----------------------------------------------------------

    def suggest_next(self, texts: Any, n: int = 10, questions: Any = None) -> list[Suggestion]:
        """The ``n`` uncoded texts whose labels would teach the model most: those whose most
        uncertain code is closest to its threshold, taking codes in turn so all are covered."""
        texts = check_texts(texts)
        P = self.predict_proba(texts, questions)
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

    def explain(self, text: str, code: int, n_terms: int = 5, question: str | None = None) -> str:
        """Why ``text`` was given ``code``: the words that weighed most, and the nearest coded example."""
        self._check_fitted()
        if self.mode_ == "zero-shot":
            return f"similar to the description of '{self.codebook[code]['name']}'"
        if not self.coef_[:, code].any():
            return "every training example had the same value for this code"
        groups = self._groups(None if question is None else [question], 1)
        x, _ = self._features([text], groups)
        names = list(self.vectorizer_.get_feature_names_out())
        n_tfidf = len(names)
        if self.uses_questions_:
            for name in self.cross_vectorizer_.get_feature_names_out():
                group, _, word = name.partition("_")
                names.append(f"{word} (after a '{group}' question)")
        contrib = x[:, : len(names)].multiply(self.coef_[: len(names), code].reshape(1, -1)).tocsr()
        top = contrib.indices[np.argsort(-contrib.data)[:n_terms]]
        terms = [names[i].split("__", 1)[-1] for i in top if contrib[0, i] > 0]
        train = getattr(self, "_train_tfidf", None)
        if train is None:
            prepared = [t if t.strip() else EMPTY_ANSWER for t in self.train_texts_]
            train = self._train_tfidf = self.vectorizer_.transform(prepared).tocsr()
        positives = np.flatnonzero(self.train_Y_[:, code])
        nearest = ""
        if positives.size:
            sims = (train[positives] @ x[:, :n_tfidf].T).toarray().ravel()
            nearest = self.train_texts_[positives[int(np.argmax(sims))]]
        reason = f"words: {', '.join(terms[:n_terms]) or 'none stand out'}"
        return reason + (f"; like the coded example “{nearest[:120]}”" if nearest else "")
