"""Class-based TF-IDF: the words that set one group of texts apart from the others.

For each class (a code or a theme) the term counts of its texts are summed; a term scores
``tf(t, c) · log(1 + A / f(t))`` where ``tf`` is the term's share of the class's words, ``A`` the
average number of words per class and ``f(t)`` the term's count over all classes (as in BERTopic).
Labels are built from the top terms, leaving out a word already inside a higher-ranked phrase.
"""

from __future__ import annotations

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

#: Words that say nothing about a topic in feedback on services, on top of English stop words.
_EXTRA = """just really did didn don doesn got get getting went going make made said told
    lot lots bit thing things way ve ll im dont didnt cant wasnt isnt also would could
    should one two us like"""
FEEDBACK_STOP_WORDS = frozenset(_EXTRA.split())


#: A word: starts with a letter, at least two characters.
WORD_PATTERN = r"(?u)\b[^\W\d_][\w'’-]*[^\W_]\b"


class ClassTfidf:
    """Fit on texts once, then score any grouping of them.

    Parameters
    ----------
    ngram_range : tuple, default (1, 2)
    min_df : int, default 2 (1 for fewer than 50 texts)
    max_features : int, default 50,000
    """

    def __init__(
        self, ngram_range: tuple[int, int] = (1, 2), min_df: int = 2, max_features: int = 50_000
    ) -> None:
        self.ngram_range = ngram_range
        self.min_df = min_df
        self.max_features = max_features

    def fit(self, texts: list[str]) -> ClassTfidf:
        stop = list(ENGLISH_STOP_WORDS | FEEDBACK_STOP_WORDS)
        min_df = self.min_df if len(texts) >= 50 else 1
        self.vectorizer_ = CountVectorizer(
            ngram_range=self.ngram_range,
            min_df=min_df,
            max_features=self.max_features,
            stop_words=stop,
            token_pattern=WORD_PATTERN,
            dtype=np.float32,
        )
        try:
            self.counts_ = self.vectorizer_.fit_transform(texts).tocsr()
        except ValueError:  # no usable words at all (empty texts, emoji only)
            self.vectorizer_ = None
            self.counts_ = sparse.csr_matrix((len(texts), 0), dtype=np.float32)
            self.terms_ = np.array([], dtype=object)
            return self
        self.terms_ = self.vectorizer_.get_feature_names_out()
        return self

    def class_counts(self, labels: np.ndarray, n_classes: int) -> sparse.csr_matrix:
        """Summed term counts per class (``n_classes × n_terms``); a label < 0 counts nowhere."""
        n = len(labels)
        keep = labels >= 0
        M = sparse.csr_matrix(
            (np.ones(int(keep.sum()), np.float32), (labels[keep], np.flatnonzero(keep))),
            shape=(n_classes, n),
        )
        return (M @ self.counts_).tocsr()

    def keywords(self, class_counts: sparse.csr_matrix, n: int = 8) -> list[list[str]]:
        """The top ``n`` terms of every class."""
        if class_counts.shape[1] == 0:
            return [[] for _ in range(class_counts.shape[0])]
        totals = np.asarray(class_counts.sum(axis=1)).ravel()
        tf = sparse.diags(1.0 / np.maximum(totals, 1.0)) @ class_counts
        freq = np.asarray(class_counts.sum(axis=0)).ravel()
        avg = max(float(totals.mean()), 1.0)
        idf = np.log1p(avg / np.maximum(freq, 1.0))
        scores = (tf @ sparse.diags(idf)).tocsr()
        out = []
        for row in range(scores.shape[0]):
            start, end = scores.indptr[row], scores.indptr[row + 1]
            cols, vals = scores.indices[start:end], scores.data[start:end]
            ranked = cols[np.lexsort((cols, -vals))]
            out.append(_dedupe([str(self.terms_[c]) for c in ranked[: n * 3]], n))
        return out


def _dedupe(terms: list[str], n: int) -> list[str]:
    """Top terms, skipping a word already inside a chosen phrase and a phrase made of chosen words."""
    chosen: list[str] = []
    words: set[str] = set()
    for term in terms:
        parts = term.split()
        if len(parts) == 1 and term in words:
            continue
        if len(parts) > 1 and all(p in words for p in parts):
            continue
        chosen.append(term)
        words.update(parts)
        if len(chosen) == n:
            break
    return chosen


def label_from_keywords(keywords: list[str], n: int = 3) -> str:
    """A short label: the top terms, the first capitalised ("Staff friendly, helpful, kind")."""
    if not keywords:
        return "Unlabelled"
    top = keywords[:n]
    return ", ".join([top[0][:1].upper() + top[0][1:], *top[1:]])
