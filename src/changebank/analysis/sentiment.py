"""Sentiment and stance: how people feel about a service, and what they want done about a change.

- :class:`SentimentModel`: the five-point comment sentiment of the NHS pxtextmining project
  (1 very positive, 2 positive, 3 mixed or neutral, 4 negative, 5 very negative). Word (1–2) and
  character (2–5, within word boundaries) TF-IDF with sublinear term frequency, optionally with the
  kind of question asked folded in; a class-balanced linear SVM; its five scores turned into
  probabilities by a multinomial logistic regression fitted on out-of-fold scores.
  :meth:`SentimentModel.pretrained` loads the model shipped in ``analysis/models/``, trained on the
  labelled rows of pxtextmining's ``v6framework`` Friends and Family Test comments
  (see ``models/NOTICE``). The demo data ``changebank/demo/data/fft_sample.csv`` is a sample of the
  same file, so the shipped model has seen most of the demo comments: do not use them to judge it.
- :class:`StanceModel`: whether a submission asks to **keep** something (a benefit to keep, spread
  or restart), raises a **concern** (something that should never happen again or must not come
  back), does both (**mixed**), or takes no stance (**neutral**). There is no labelled stance data,
  so it is rule-based on top of the sentiment model, the question asked and a cue lexicon; see its
  docstring.

Every model loads offline from the installed package. Saved models are an ``.npz`` of arrays plus a
JSON header (the vocabularies and settings) stored as UTF-8 bytes inside it, read with
``allow_pickle=False``: no pickle, so nothing in a model file can run code, and a file written with
one scikit-learn version loads with another.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import IO, Any

import numpy as np
from scipy import sparse
from scipy.optimize import minimize_scalar
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import normalize
from sklearn.svm import LinearSVC

from ._validation import check_texts
from .segment import segment_all

#: The five-point scale, as pxtextmining's analysts used it.
SENTIMENT_LABELS = {
    1: "very positive",
    2: "positive",
    3: "mixed or neutral",
    4: "negative",
    5: "very negative",
}
#: Stance labels, in the column order of :meth:`StanceModel.predict_proba`.
STANCES = ("keep", "concern", "mixed", "neutral")

FORMAT = "changebank-sentiment"
FORMAT_VERSION = 1
PRETRAINED_FILE = "sentiment.npz"
#: Fewer training examples of some value than this and probabilities come from one temperature.
MIN_PER_CLASS_TO_CALIBRATE = 20

# Vectoriser settings that the saved vocabularies depend on; fixed so a saved model rebuilds exactly.
_WORD = {"analyzer": "word", "ngram_range": (1, 2), "lowercase": True, "strip_accents": "unicode"}
_CHAR = {"analyzer": "char_wb", "ngram_range": (2, 5), "lowercase": True, "strip_accents": None}

# -- questions ------------------------------------------------------------------------------------

_ASKS_BOTH = re.compile(r"\bdissatisf|\band/or\b|good.{0,40}\b(?:bad|improve|better)\b", re.I)
_ASKS_IMPROVE = re.compile(
    r"\b(?:improve\w*|better|change\w*|differently|wrong|worse|bad|poor|problems?|concerns?|"
    r"complain\w*|stop|never (?:\w+ )?again|(?:not|never) (?:return|come back|happen)|go back)\b",
    re.I,
)
_ASKS_GOOD = re.compile(
    r"\b(?:good|well|best|like|liked|enjoy\w*|positive|keep|continue|benefit\w*|helpful|"
    r"satisf\w*|pleased|valued?)\b",
    re.I,
)
_ASKS_WHY = re.compile(r"\b(?:why|reason\w*|explain)\b", re.I)


def question_type(question: str | None) -> str:
    """The kind of question a text answers: ``"good"`` (what was good, what to keep),
    ``"improve"`` (how could we improve, what should stop), ``"both"`` (satisfied and/or
    dissatisfied), ``"why"`` (why that rating) or ``""`` (unknown or none).

    >>> question_type("What could we do better?"), question_type("FFT Why?")
    ('improve', 'why')
    """
    q = question or ""
    if _ASKS_BOTH.search(q):
        return "both"
    improve, good = bool(_ASKS_IMPROVE.search(q)), bool(_ASKS_GOOD.search(q))
    if improve and good:
        return "both"
    if improve:
        return "improve"
    if good:
        return "good"
    if _ASKS_WHY.search(q):
        return "why"
    return ""


def _question_types(questions: Any, n: int) -> list[str]:
    """One question type per text; ``questions`` is None, one string for all, or one per text."""
    if questions is None:
        return [""] * n
    if isinstance(questions, str):
        return [question_type(questions)] * n
    qs = check_texts(questions, "questions")
    if len(qs) != n:
        raise ValueError(f"questions has {len(qs)} items but there are {n} texts")
    return [question_type(q) for q in qs]


def _with_question(texts: list[str], qtypes: list[str]) -> list[str]:
    # A token such as "qtok_improve" before the answer gives the word model the question as a
    # feature and, through word bigrams, its pairing with the first word ("qtok_good nothing").
    return [f"qtok_{q} {t}" if q else t for t, q in zip(texts, qtypes, strict=True)]


# -- TF-IDF that rebuilds from arrays -------------------------------------------------------------


class _FrozenTfidf:
    """A fitted word or character TF-IDF vectoriser rebuilt from its terms and idf weights.

    It computes what ``TfidfVectorizer(sublinear_tf=True, norm="l2")`` computes, in the same order
    of operations, so a saved model gives the same features as the fitted one.
    """

    def __init__(self, settings: dict[str, Any], terms: list[str], idf: np.ndarray) -> None:
        if len(terms) != len(idf):
            raise ValueError(f"{len(terms)} terms but {len(idf)} idf weights")
        self.settings = settings
        self.terms = list(terms)
        self.idf_ = np.asarray(idf, dtype=np.float64)
        self._counter = CountVectorizer(
            **settings,
            vocabulary={t: i for i, t in enumerate(self.terms)},
            dtype=np.float64,
        )

    def transform(self, texts: list[str]) -> sparse.csr_matrix:
        X = sparse.csr_matrix(self._counter.transform(texts), dtype=np.float64)
        np.log(X.data, X.data)
        X.data += 1.0
        X.data *= self.idf_[X.indices]
        return normalize(X, norm="l2", copy=False)

    def get_feature_names_out(self) -> np.ndarray:
        return np.asarray(self.terms, dtype=object)


def _terms(vectorizer: Any) -> list[str]:
    return [str(t) for t in vectorizer.get_feature_names_out()]


def _temperature(scores: np.ndarray, index: np.ndarray) -> float:
    """The scale t > 0 for which softmax(t × scores) best predicts ``index`` (log loss)."""
    rows = np.arange(len(index))

    def loss(log_t: float) -> float:
        P = _softmax(np.exp(log_t) * scores)
        return float(-np.mean(np.log(P[rows, index] + 1e-12)))

    return float(np.exp(minimize_scalar(loss, bounds=(-4.0, 4.0), method="bounded").x))


def _softmax(Z: np.ndarray) -> np.ndarray:
    Z = Z - Z.max(axis=1, keepdims=True)
    np.exp(Z, out=Z)
    return Z / Z.sum(axis=1, keepdims=True)


def _check_sentiment(y: Any, n: int) -> np.ndarray:
    """Sentiment labels as ints 1..5, with messages that say what was wrong."""
    arr = np.asarray(y, dtype=object)
    if arr.ndim != 1:
        raise ValueError(
            f"y should be a 1-D list of sentiment values 1..5, got an array of shape {arr.shape}"
        )
    if len(arr) != n:
        raise ValueError(f"y has {len(arr)} values but there are {n} texts")
    values = np.zeros(n, dtype=float)
    for i, v in enumerate(arr):
        if v is None or (isinstance(v, float) and np.isnan(v)):
            raise ValueError(
                f"y[{i}] is missing: leave unlabelled texts (blank sentiment) out of fit"
            )
        try:
            values[i] = float(v)
        except (TypeError, ValueError):
            raise ValueError(
                f"y[{i}] should be a sentiment value 1..5 (1 very positive, 5 very negative), "
                f"got {v!r:.40}"
            ) from None
    bad = sorted({v for v in values.tolist() if v not in (1, 2, 3, 4, 5)})
    if bad:
        shown = ", ".join(f"{v:g}" for v in bad[:5])
        raise ValueError(
            "y should hold whole numbers from 1 (very positive) to 5 (very negative); "
            f"found {shown}"
        )
    return values.astype(np.int64)


# -- the sentiment model --------------------------------------------------------------------------


class SentimentModel(BaseEstimator, ClassifierMixin):
    """Five-point comment sentiment (1 very positive … 5 very negative), as in pxtextmining.

    Parameters
    ----------
    C : float, default 0.1
        Regularisation of the linear SVM (smaller is smoother).
    use_question : bool, default True
        Fold the kind of question answered (see :func:`question_type`) into the features: "Nothing"
        answers "What could we do better?" very positively and "What was good?" very negatively.
        Without questions at prediction time the model reads the text alone.
    decision : {"argmax", "median"}, default "argmax"
        ``"argmax"`` predicts the most probable value (best accuracy); ``"median"`` predicts the
        median of the predicted distribution, which minimises the expected absolute error on the
        ordinal scale (slightly lower MAE, slightly lower accuracy).
    class_weight : {"balanced", None}, default "balanced"
        Weighting of the SVM's classes; "balanced" helps the rare very negative comments.
    min_df : int, default 2
        Terms seen in fewer texts are dropped (1 is used when fitting on 200 texts or fewer).
    word_max_features, char_max_features : int or None, default 20,000 and 40,000
        Caps on the two vocabularies, which bound the size of a saved model.
    cv : int, default 5
        Folds for the out-of-fold scores the probability calibration is fitted on (a multinomial
        logistic regression from the five SVM scores; with fewer than 20 examples of some value,
        a single temperature instead, which keeps the SVM's ranking).
    random_state : int, default 0

    Attributes
    ----------
    classes_ : array [1, 2, 3, 4, 5]
        The column order of :meth:`predict_proba`.
    seen_classes_ : the values present in the training labels (others get probability 0).
    vectorizers_ : (word, char) TF-IDF vectorisers; fitted scikit-learn ones after ``fit``, rebuilt
        from saved terms and idf weights after :meth:`load`.
    coef_, intercept_ : the linear SVM (one row per seen class).
    calibration_coef_, calibration_intercept_ : the multinomial logistic regression from SVM
        scores to probabilities.
    info_ : dict of facts about the training data, saved with the model.

    Examples
    --------
    >>> model = SentimentModel.pretrained()
    >>> model.predict(["The staff were wonderful, thank you"])  # doctest: +SKIP
    array([1])
    """

    classes_ = np.arange(1, 6)

    def __init__(
        self,
        C: float = 0.1,
        use_question: bool = True,
        decision: str = "argmax",
        class_weight: str | None = "balanced",
        min_df: int = 2,
        word_max_features: int | None = 20_000,
        char_max_features: int | None = 40_000,
        cv: int = 5,
        random_state: int = 0,
    ) -> None:
        self.C = C
        self.use_question = use_question
        self.decision = decision
        self.class_weight = class_weight
        self.min_df = min_df
        self.word_max_features = word_max_features
        self.char_max_features = char_max_features
        self.cv = cv
        self.random_state = random_state

    # -- fitting ------------------------------------------------------------------------------------

    def _check_params(self) -> None:
        if self.decision not in ("argmax", "median"):
            raise ValueError(f"decision should be 'argmax' or 'median', got {self.decision!r}")
        if self.class_weight not in ("balanced", None):
            raise ValueError(
                f"class_weight should be 'balanced' or None, got {self.class_weight!r}"
            )
        if not self.C > 0:
            raise ValueError(f"C should be positive, got {self.C!r}")

    def _qtypes(self, questions: Any, n: int) -> list[str]:
        qtypes = _question_types(questions, n)  # checked even when not used
        return qtypes if self.use_question else [""] * n

    def _features(self, texts: list[str], qtypes: list[str]) -> sparse.csr_matrix:
        word, char = self.vectorizers_
        return sparse.hstack(
            [word.transform(_with_question(texts, qtypes)), char.transform(texts)], format="csr"
        )

    def _svm(self) -> LinearSVC:
        return LinearSVC(C=self.C, class_weight=self.class_weight, random_state=self.random_state)

    def fit(self, texts: Any, y: Any, questions: Any = None) -> SentimentModel:
        """Learn from ``texts``, their sentiment ``y`` (1..5) and, optionally, the question each
        text answers (one string per text, or one string for all)."""
        self._check_params()
        texts = check_texts(texts)
        y = _check_sentiment(y, len(texts))
        qtypes = self._qtypes(questions, len(texts))
        seen = np.unique(y)
        if len(seen) < 2:
            raise ValueError(
                "SentimentModel needs at least two different sentiment values to learn from, "
                f"got only {seen.tolist()}"
            )
        min_df = self.min_df if len(texts) > 200 else 1
        word = TfidfVectorizer(
            **_WORD, sublinear_tf=True, min_df=min_df, max_features=self.word_max_features
        )
        char = TfidfVectorizer(
            **_CHAR, sublinear_tf=True, min_df=min_df, max_features=self.char_max_features
        )
        try:
            word.fit(_with_question(texts, qtypes))
            char.fit(texts)
        except ValueError as error:  # scikit-learn's "empty vocabulary"
            raise ValueError(
                f"SentimentModel found no words to learn from in these {len(texts)} texts ({error})"
            ) from None
        self.vectorizers_ = (word, char)
        X = self._features(texts, qtypes)

        svm = self._svm().fit(X, y)
        coef, intercept = svm.coef_, np.atleast_1d(svm.intercept_)
        if len(seen) == 2:  # one score for two classes: make it one per class
            coef, intercept = np.vstack([-coef, coef]), np.concatenate([-intercept, intercept])
        self.seen_classes_ = seen
        self.coef_ = np.asarray(coef, dtype=np.float64)
        self.intercept_ = np.asarray(intercept, dtype=np.float64)

        scores = self._out_of_fold_scores(X, y, seen)
        smallest = int(min((y == c).sum() for c in seen))
        if smallest >= MIN_PER_CLASS_TO_CALIBRATE:
            calibrator = LogisticRegression(C=1.0, max_iter=1000).fit(scores, y)
            cal_coef, cal_intercept = calibrator.coef_, calibrator.intercept_
            if len(seen) == 2:  # sigmoid(z) is softmax([0, z])
                cal_coef = np.vstack([np.zeros_like(cal_coef), cal_coef])
                cal_intercept = np.concatenate([[0.0], cal_intercept])
        else:  # too few examples to learn a k × k map: one temperature keeps the SVM's ranking
            t = _temperature(scores, np.searchsorted(seen, y))
            cal_coef, cal_intercept = t * np.eye(len(seen)), np.zeros(len(seen))
        self.calibration_coef_ = np.asarray(cal_coef, dtype=np.float64)
        self.calibration_intercept_ = np.asarray(cal_intercept, dtype=np.float64)
        self.info_ = {
            "n_texts": len(texts),
            "class_counts": {int(c): int((y == c).sum()) for c in seen},
            "questions": bool(self.use_question and any(qtypes)),
            "n_features": int(X.shape[1]),
        }
        return self

    def _out_of_fold_scores(
        self, X: sparse.csr_matrix, y: np.ndarray, seen: np.ndarray
    ) -> np.ndarray:
        """SVM scores for each training text from a model that did not see it (for calibration)."""
        smallest = int(min((y == c).sum() for c in seen))
        folds = min(self.cv, smallest)
        if folds < 2:  # too few examples of some value: in-sample scores, overconfident but usable
            return self._decision(X)
        scores = np.zeros((len(y), len(seen)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        for train, test in splitter.split(np.zeros(len(y)), y):
            s = self._svm().fit(X[train], y[train]).decision_function(X[test])
            scores[test] = np.column_stack([-s, s]) if s.ndim == 1 else s
        return scores

    # -- prediction ---------------------------------------------------------------------------------

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise ValueError(
                "this SentimentModel is not fitted yet: call fit(texts, y) or use "
                "SentimentModel.pretrained()"
            )

    def _decision(self, X: sparse.csr_matrix) -> np.ndarray:
        return np.asarray(X @ self.coef_.T) + self.intercept_

    def _proba(self, texts: list[str], qtypes: list[str]) -> np.ndarray:
        P = np.zeros((len(texts), len(self.classes_)))
        if not texts:
            return P
        scores = self._decision(self._features(texts, qtypes))
        seen = _softmax(scores @ self.calibration_coef_.T + self.calibration_intercept_)
        P[:, self.seen_classes_ - 1] = seen
        return P

    def predict_proba(self, texts: Any, questions: Any = None) -> np.ndarray:
        """The probability of each sentiment value 1..5 for each text (n × 5)."""
        self._check_fitted()
        texts = check_texts(texts)
        return self._proba(texts, self._qtypes(questions, len(texts)))

    def _decide(self, P: np.ndarray) -> np.ndarray:
        if self.decision == "median":
            index = (np.cumsum(P, axis=1) >= 0.5 - 1e-12).argmax(axis=1)
        else:
            index = P.argmax(axis=1)
        return self.classes_[index].astype(np.int64)

    def predict(self, texts: Any, questions: Any = None) -> np.ndarray:
        """The sentiment of each text, 1 (very positive) to 5 (very negative)."""
        self._check_params()
        return self._decide(self.predict_proba(texts, questions))

    def predict_with_confidence(
        self, texts: Any, questions: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each text's sentiment and the probability of that value."""
        self._check_params()
        P = self.predict_proba(texts, questions)
        labels = self._decide(P)
        return labels, P[np.arange(len(labels)), labels - 1]

    def score(self, texts: Any, y: Any, questions: Any = None) -> float:
        """Accuracy of :meth:`predict` against ``y``."""
        texts = check_texts(texts)
        y = _check_sentiment(y, len(texts))
        return float(np.mean(self.predict(texts, questions) == y)) if len(y) else 0.0

    # -- saving and loading -------------------------------------------------------------------------

    def save(self, path: str | Path | IO[bytes]) -> None:
        """Write the fitted model to an ``.npz`` file (arrays, and a JSON header as bytes)."""
        self._check_fitted()
        word, char = self.vectorizers_
        header = {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "params": self.get_params(),
            "seen_classes": self.seen_classes_.tolist(),
            "word_terms": _terms(word),
            "char_terms": _terms(char),
            "info": getattr(self, "info_", {}),
        }
        arrays = {
            "header": np.frombuffer(
                json.dumps(header, ensure_ascii=False).encode("utf-8"), np.uint8
            ),
            "word_idf": np.asarray(word.idf_, dtype=np.float64),
            "char_idf": np.asarray(char.idf_, dtype=np.float64),
            "coef": self.coef_,
            "intercept": self.intercept_,
            "calibration_coef": self.calibration_coef_,
            "calibration_intercept": self.calibration_intercept_,
        }
        if isinstance(path, (str, Path)):
            with open(path, "wb") as fh:  # a path is used as given (np.savez would add ".npz")
                np.savez_compressed(fh, **arrays)
        else:
            np.savez_compressed(path, **arrays)

    @classmethod
    def load(cls, path: str | Path | IO[bytes]) -> SentimentModel:
        """A model written by :meth:`save`; no pickle is read."""
        try:
            with np.load(path, allow_pickle=False) as z:
                header = json.loads(bytes(z["header"]).decode("utf-8"))
                arrays = {k: z[k] for k in z.files if k != "header"}
        except (KeyError, ValueError, OSError) as error:
            raise ValueError(f"{path} is not a saved SentimentModel ({error})") from None
        if header.get("format") != FORMAT:
            raise ValueError(f"{path} is not a saved SentimentModel")
        if header.get("version", 0) > FORMAT_VERSION:
            raise ValueError(
                f"{path} was saved by a newer changebank (format version {header['version']})"
            )
        model = cls(**header["params"])
        model.vectorizers_ = (
            _FrozenTfidf(_WORD, header["word_terms"], arrays["word_idf"]),
            _FrozenTfidf(_CHAR, header["char_terms"], arrays["char_idf"]),
        )
        model.seen_classes_ = np.asarray(header["seen_classes"], dtype=np.int64)
        model.coef_ = arrays["coef"]
        model.intercept_ = arrays["intercept"]
        model.calibration_coef_ = arrays["calibration_coef"]
        model.calibration_intercept_ = arrays["calibration_intercept"]
        model.info_ = header.get("info", {})
        return model

    @classmethod
    def pretrained(cls) -> SentimentModel:
        """The model shipped with changebank (``analysis/models/sentiment.npz``), loaded offline.

        Trained on all labelled rows of pxtextmining's ``v6framework_train.csv`` (NHS Friends and
        Family Test comments from two trusts; MIT licence, © NHS England, see ``models/NOTICE``).
        ``tools/train_sentiment.py`` rebuilds it and reports its held-out figures.
        """
        resource = (
            resources.files("changebank.analysis").joinpath("models").joinpath(PRETRAINED_FILE)
        )
        if not resource.is_file():
            raise FileNotFoundError(
                f"the bundled sentiment model is missing ({resource}); "
                "rebuild it with tools/train_sentiment.py"
            )
        with resource.open("rb") as fh:
            return cls.load(fh)


# -- stance ---------------------------------------------------------------------------------------

_NEGATION = re.compile(
    r"\b(?:not|never|no|cannot|without|stop|\w+n't|dont|didnt|cant|wont|mustnt|shouldnt|couldnt)\b"
)
# Cues whose direction a negation in the three words before them flips: "never stop the home
# visits" keeps something, "we must not go back to Monday to Friday" is a concern.
_KEEP_FLIPPABLE = {
    "keep": r"\bkeep(?:s|ing)?\b(?!\s+(?:\w+\s+)?(?:waiting|on hold|ringing|cancel\w*|chasing|asking))",
    "continue": r"\bcontinu(?:e|ed|es|ing)\b",
    "retain": r"\bretain(?:s|ed|ing)?\b",
    "carry on": r"\bcarr(?:y|ied|ying) on\b",
    "bring back": r"\bbr(?:ing|ought) (?:\w+ )?back\b",
    "go back to": r"\b(?:go|going|went|return(?:ing)?) back to\b",
    "spread": r"\b(?:spread|roll(?:ed)? out|rolled out|extend)\b",
    "more of": r"\bmore of (?:this|that|the)\b",
}
_KEEP_FIXED = {
    "benefit": r"\bbenefi(?:t|ts|tted|ted|cial)\b",
    "worth keeping": r"\bworth (?:keeping|continuing|holding on to)\b",
    "don't lose": r"\b(?:don'?t|do not|mustn'?t|must not|never) (?:lose|drop|scrap|end|stop)\b",
    "keep up the good work": r"\bkeep (?:it up|up the (?:good|great) work)\b",
    "amplify": r"\bamplif(?:y|ied)\b",
}
_CONCERN_FLIPPABLE = {
    "stop": r"(?<!bus )\bstop(?:s|ped|ping)?\b",
    "get rid of": r"\b(?:get|got) rid of\b",
    "scrap": r"\b(?:scrap(?:s|ped|ping)?|abolish(?:es|ed|ing)?|ban(?:s|ned|ning)?)\b",
    "let go of": r"\blet go of\b",
}
_CONCERN_FIXED = {
    "never again": r"\bnever (?:\w+ )?(?:again|happen\w*|be repeated|repeat\w*)\b",
    "must not return": r"\b(?:must|should|will|can)\s*(?:not|n'?t)\s+(?:be allowed to )?"
    r"(?:return|come back|happen|be repeated|go on|continue)\b",
    "not go back to": r"\b(?:not|never|n'?t) (?:\w+ ){0,2}(?:go|going) back to\b",
    "no more": r"\bno more\b",
    "unacceptable": r"\bunacceptable\b",
    "put an end to": r"\b(?:put an end to|do away with)\b",
}
_KEEP_RE = {k: re.compile(v) for k, v in {**_KEEP_FLIPPABLE, **_KEEP_FIXED}.items()}
_CONCERN_RE = {k: re.compile(v) for k, v in {**_CONCERN_FLIPPABLE, **_CONCERN_FIXED}.items()}
_FLIPPABLE = set(_KEEP_FLIPPABLE) | set(_CONCERN_FLIPPABLE)

_NON_ANSWER = re.compile(
    r"^(?:n ?a|none|nil|no|nope|no comments?|nothing(?: else)?(?: to (?:add|say|comment))?|"
    r"not applicable|no answer|did not answer|didn'?t answer|not answered|"
    r"(?:i )?(?:don'?t|do not) know|dunno|not sure|unsure|no idea|"
    r"(?:see|as|same as|look at)(?: my)?(?: answer)? (?:above|before|previous(?: answers?)?)|"
    r"see previous(?: answers?)?|already (?:said|answered|covered)(?: above)?|"
    r"nothing(?: really| at all| (?:that )?i can think of| (?:that )?comes to mind)+|"
    r"can'?t think of anything|cannot think of anything|nothing i can think of)$"
)
_CONTRAST = re.compile(r"\b(?:but|however|although|though|whereas|except|apart from)\b", re.I)
_NOTHING = re.compile(r"^(?:nothing|none|no|nil)(?: (?:at all|really|whatsoever))*$")


def _normal(text: str) -> str:
    text = text.lower().replace("’", "'").replace("‘", "'")
    return re.sub(r"\s+", " ", re.sub(r"[^\w\s'/]|_", " ", text)).strip().replace("n/a", "n a")


def stance_cues(text: str) -> tuple[list[str], list[str]]:
    """The keep cues and concern cues found in ``text`` (after negation flips a cue's direction).

    >>> stance_cues("Please never stop the home visits")
    (['not stop'], [])
    """
    low = text.lower().replace("’", "'").replace("‘", "'")
    keep: list[str] = []
    concern: list[str] = []
    taken: list[tuple[int, int]] = []  # spans already used, so "must not return" is one cue

    def overlaps(a: int, b: int) -> bool:
        return any(a < e and s < b for s, e in taken)

    for lexicon, is_keep in ((_CONCERN_RE, False), (_KEEP_RE, True)):
        # Fixed (multi-word, negation-aware) cues first, then flippable ones.
        names = sorted(lexicon, key=lambda k: k in _FLIPPABLE)
        for name in names:
            for m in lexicon[name].finditer(low):
                if overlaps(m.start(), m.end()):
                    continue
                taken.append((m.start(), m.end()))
                before = " ".join(low[: m.start()].split()[-3:])
                negated = name in _FLIPPABLE and bool(_NEGATION.search(before))
                if is_keep != negated:
                    keep.append(f"not {name}" if negated else name)
                else:
                    concern.append(f"not {name}" if negated else name)
    return keep, concern


@dataclass
class Stance:
    """The stance of one submission, how sure the model is, and why."""

    stance: str
    confidence: float
    reason: str


class StanceModel(BaseEstimator, ClassifierMixin):
    """Keep / concern / mixed / neutral, from sentiment, the question asked and cue words.

    A class rather than only a function so that a team's own :class:`SentimentModel` can be
    plugged in, the weights below can be set and searched like any scikit-learn parameter, and it
    sits in pipelines with the other estimators; :func:`stance` is the one-line version with the
    bundled model. There is no labelled stance data, so nothing is learned: ``fit`` only gets the
    sentiment model ready, and the weights are parameters chosen by hand and documented here.

    How a text is read (evidence for each stance, then normalised to sum to one):

    - **non-answers** ("", "n/a", "nothing", "no comment", "don't know", "see above", text with no
      letters or digits) are **neutral**, except "nothing"/"none" in answer to a question about
      what was good, which is a **concern** (nothing was good).
    - **sentiment** (:class:`SentimentModel` probabilities of the whole text): P(1)+P(2) is evidence
      for keep, P(4)+P(5) for concern; P(3), "mixed or neutral", goes to mixed when the text has
      several clauses, a contrast word ("but", "however", "although", "except"…) or cues on both
      sides, and to neutral when it is one plain statement without cues (in the pxtextmining
      labels a 3 is mostly "great crew but a long wait" or a short factual remark).
    - **clauses**: the text is split into clauses (sentences and "but / however / although"); if
      one clause is clearly positive and another clearly negative, min(best positive, best
      negative) × ``clause_weight`` is evidence for mixed.
    - **cues** (``cue_weight`` each, at most two per side): keep cues "keep", "continue", "retain",
      "carry on", "benefit", "bring back", "go back to" (a wish to restart something), "spread",
      "roll out", "more of this", "worth keeping", "keep up", "amplify"; concern cues "never
      again", "never happen", "must not / should not return, come back, happen, be repeated",
      "should stop" / "stop", "get rid of", "scrap", "abolish", "let go of", "no more",
      "unacceptable", "put an end to", "not go back to". A negation (not, never, don't, must not,
      without…) in the three words before "keep", "continue", "stop", "go back to" and the like
      flips its direction: "never stop the home visits" is keep. "Kept waiting" is not a keep cue.
      Cues on both sides are also evidence for mixed.
    - **question** (``question_weight``): "What was good?" leans keep, "How could we improve?" /
      "What could we do better?" leans concern (see :func:`question_type`); "Why?" and "satisfied
      and/or dissatisfied" questions lean neither.

    The confidence is the normalised evidence for the predicted stance: a ranking of how clear-cut
    a text is, not a calibrated probability (there is no labelled stance data to calibrate on).

    Parameters
    ----------
    sentiment : SentimentModel, optional
        Default: :meth:`SentimentModel.pretrained`.
    cue_weight : float, default 0.5
    question_weight : float, default 0.15
    clause_weight : float, default 1.0
    clear : float, default 0.6
        A clause is clearly positive (negative) when P(1)+P(2) (P(4)+P(5)) reaches this.
    """

    classes_ = np.asarray(STANCES)

    def __init__(
        self,
        sentiment: SentimentModel | None = None,
        cue_weight: float = 0.5,
        question_weight: float = 0.15,
        clause_weight: float = 1.0,
        clear: float = 0.6,
    ) -> None:
        self.sentiment = sentiment
        self.cue_weight = cue_weight
        self.question_weight = question_weight
        self.clause_weight = clause_weight
        self.clear = clear

    def fit(self, texts: Any = None, y: Any = None, questions: Any = None) -> StanceModel:
        """Get the sentiment model ready; ``texts``, ``y`` and ``questions`` are only checked
        (there are no learned stance weights)."""
        if texts is not None:
            texts = check_texts(texts)
            _question_types(questions, len(texts))
            if y is not None:
                labels = check_texts(y, "y")
                if len(labels) != len(texts):
                    raise ValueError(f"y has {len(labels)} values but there are {len(texts)} texts")
                unknown = sorted(set(labels) - set(STANCES))
                if unknown:
                    raise ValueError(
                        f"y should hold stances {', '.join(STANCES)}; found {unknown[:5]}"
                    )
        self.sentiment_ = self.sentiment if self.sentiment is not None else _pretrained()
        self.sentiment_._check_fitted()
        return self

    def _evidence(self, texts: list[str], qtypes: list[str]) -> tuple[np.ndarray, list[str]]:
        if not hasattr(self, "sentiment_"):
            self.fit()
        model = self.sentiment_
        n = len(texts)
        E = np.zeros((n, len(STANCES)))
        if not n:
            return E, []
        mq = qtypes if model.use_question else [""] * n
        P = model._proba(texts, mq)
        pos, mid, neg = P[:, :2].sum(axis=1), P[:, 2], P[:, 3:].sum(axis=1)

        segments, owners = segment_all(texts)
        best_pos, best_neg, n_segments = np.zeros(n), np.zeros(n), np.zeros(n, dtype=int)
        if segments:
            S = model._proba(segments, [mq[i] for i in owners])
            seg_pos, seg_neg = S[:, :2].sum(axis=1), S[:, 3:].sum(axis=1)
            for p, q, i in zip(seg_pos, seg_neg, owners, strict=True):
                best_pos[i], best_neg[i] = max(best_pos[i], p), max(best_neg[i], q)
                n_segments[i] += 1

        reasons = []
        for i, text in enumerate(texts):
            norm = _normal(text)
            q = qtypes[i]
            if not re.search(r"[^\W_]", norm) or _NON_ANSWER.match(norm):
                if q == "good" and _NOTHING.match(norm):
                    E[i] = (0.0, 3.0, 0.0, 0.3)
                    reasons.append("says nothing was good")
                else:
                    E[i] = (0.0, 0.0, 0.0, 3.0)
                    reasons.append("no answer" if not norm else f"a non-answer ({norm[:30]})")
                continue
            keep, concern = stance_cues(text)
            both_clauses = (
                n_segments[i] > 1 and best_pos[i] >= self.clear and best_neg[i] >= self.clear
            )
            conflict = min(best_pos[i], best_neg[i]) if both_clauses else 0.0
            both_cues = bool(keep and concern)
            # "3, mixed or neutral" is mostly mixed in a text of several clauses or with a
            # contrast ("great crew but a long wait") and mostly neutral in one plain statement.
            several = n_segments[i] > 1 or bool(_CONTRAST.search(text))
            both = 1.0 if both_cues or several else 0.0
            k = pos[i] + self.cue_weight * min(len(keep), 2)
            c = neg[i] + self.cue_weight * min(len(concern), 2)
            if q == "good":
                k += self.question_weight
            elif q == "improve":
                c += self.question_weight
            m = mid[i] * both + self.clause_weight * conflict
            if both_cues:  # asks to keep one thing and end another
                m += self.cue_weight * (min(len(keep), 2) + min(len(concern), 2))
            u = mid[i] * (1.0 - both) * (0.0 if keep or concern else 1.0)
            E[i] = (k, c, m, u)
            label = int(np.argmax(P[i])) + 1
            why = [f"sentiment {label} ({SENTIMENT_LABELS[label]}, p={P[i, label - 1]:.2f})"]
            if keep:
                why.append("keep cues: " + ", ".join(keep))
            if concern:
                why.append("concern cues: " + ", ".join(concern))
            if conflict:
                why.append(f"a clearly positive and a clearly negative clause ({conflict:.2f})")
            if q in ("good", "improve"):
                why.append(f"answers a '{q}' question")
            reasons.append("; ".join(why))
        return E, reasons

    def predict_proba(self, texts: Any, questions: Any = None) -> np.ndarray:
        """Normalised evidence for keep, concern, mixed and neutral (n × 4, columns as
        ``classes_``). Not calibrated probabilities: see the class docstring."""
        texts = check_texts(texts)
        E, _ = self._evidence(texts, _question_types(questions, len(texts)))
        total = E.sum(axis=1, keepdims=True)
        return np.divide(E, total, out=np.full_like(E, 0.25), where=total > 0)

    def predict(self, texts: Any, questions: Any = None) -> np.ndarray:
        """The stance of each text: "keep", "concern", "mixed" or "neutral"."""
        return self.predict_with_confidence(texts, questions)[0]

    def predict_with_confidence(
        self, texts: Any, questions: Any = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Each text's stance and the normalised evidence for it (its confidence)."""
        P = self.predict_proba(texts, questions)
        best = P.argmax(axis=1)
        return self.classes_[best], P[np.arange(len(best)), best]

    def assess(self, texts: Any, questions: Any = None) -> list[Stance]:
        """Stance, confidence and a short reason for each text."""
        texts = check_texts(texts)
        E, reasons = self._evidence(texts, _question_types(questions, len(texts)))
        out = []
        for e, reason in zip(E, reasons, strict=True):
            total = e.sum()
            p = e / total if total > 0 else np.full(len(STANCES), 0.25)
            best = int(p.argmax())
            out.append(Stance(STANCES[best], float(p[best]), reason))
        return out

    def score(self, texts: Any, y: Any, questions: Any = None) -> float:
        """Share of texts whose stance matches ``y``."""
        labels = check_texts(y, "y")
        predicted = self.predict(texts, questions)
        if len(labels) != len(predicted):
            raise ValueError(f"y has {len(labels)} values but there are {len(predicted)} texts")
        return float(np.mean(predicted == np.asarray(labels))) if labels else 0.0


@lru_cache(maxsize=1)
def _pretrained() -> SentimentModel:
    return SentimentModel.pretrained()


def stance(texts: Any, questions: Any = None) -> list[Stance]:
    """Stance, confidence and reason for each text, with the bundled sentiment model.

    >>> [s.stance for s in stance(["Please keep the video appointments", "n/a"])]  # doctest: +SKIP
    ['keep', 'neutral']
    """
    return StanceModel().assess(texts, questions)
