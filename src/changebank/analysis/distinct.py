"""Distinct changes: grouping exact duplicates, near duplicates and paraphrases.

Three passes, cheapest first:

1. **exact**: the same words after case, punctuation and spacing are normalised;
2. **near duplicates**: MinHash signatures of word shingles with locality-sensitive hashing find
   candidate pairs whose estimated Jaccard similarity passes ``lexical_threshold``;
3. **paraphrases** (when embeddings are given): within each block (for example a code), texts whose
   cosine similarity to a group's leader passes ``semantic_threshold`` join that group. Leaders are
   taken most-repeated first, so groups do not chain from one meaning to another.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from ._validation import check_texts

_WORD = re.compile(r"\w+", re.UNICODE)
_PRIME = 4_294_967_291  # the largest prime below 2**32: a*x + b stays inside 64 bits


def normalise(text: str) -> str:
    """Words only, case-folded; a text with no words (only emoji, say) keeps its symbols."""
    words = _WORD.findall(text.casefold())
    return " ".join(words) if words else "".join(text.split())


def shingles(text: str, size: int = 3) -> set[int]:
    """Hashes of the word ``size``-grams of a normalised text (the words themselves when short)."""
    words = text.split()
    if len(words) < size:
        grams = [" ".join(words)] if words else []
    else:
        grams = [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]
    return {zlib.crc32(g.encode()) for g in grams}


class _UnionFind:
    def __init__(self, n: int) -> None:
        self.parent = np.arange(n)

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


class DistinctChanges(BaseEstimator):
    """Group texts that say the same thing.

    Parameters
    ----------
    lexical_threshold : float, default 0.7
        Estimated Jaccard similarity of word 3-gram sets above which two texts are near duplicates.
    semantic_threshold : float, default 0.9
        Cosine similarity to a group's leader above which a text joins it as a paraphrase.
    num_perm : int, default 64
        MinHash permutations (bands × rows).
    bands : int, default 16
    random_state : int, default 0

    Attributes
    ----------
    labels_ : ndarray of shape (n_texts,)
        Group of each text; empty texts get -1.
    groups_ : list of ndarray
        Members of each group, largest first (group ``g`` holds texts with ``labels_ == g``).
    representatives_ : ndarray
        For each group, the member closest to the group's centre (or its most common wording).
    """

    def __init__(
        self,
        lexical_threshold: float = 0.7,
        semantic_threshold: float = 0.9,
        num_perm: int = 64,
        bands: int = 16,
        random_state: int = 0,
    ) -> None:
        self.lexical_threshold = lexical_threshold
        self.semantic_threshold = semantic_threshold
        self.num_perm = num_perm
        self.bands = bands
        self.random_state = random_state

    def _signatures(self, sets: list[set[int]]) -> np.ndarray:
        rng = np.random.RandomState(self.random_state)
        a = rng.randint(1, _PRIME, size=self.num_perm, dtype=np.int64).astype(np.uint64)
        b = rng.randint(0, _PRIME, size=self.num_perm, dtype=np.int64).astype(np.uint64)
        prime = np.uint64(_PRIME)
        sig = np.full((len(sets), self.num_perm), np.iinfo(np.uint64).max, dtype=np.uint64)
        for i, s in enumerate(sets):
            if s:
                x = np.fromiter(s, dtype=np.uint64, count=len(s))[:, None] % prime
                sig[i] = ((x * a + b) % prime).min(axis=0)
        return sig

    def fit(self, texts: Any, embeddings: Any = None, blocks: Any = None) -> DistinctChanges:
        """Find the groups. ``embeddings`` (n × d, unit rows) enable the paraphrase pass;
        ``blocks`` (one label per text, such as its code) limit paraphrase matching to a block."""
        texts = check_texts(texts)
        n = len(texts)
        if self.num_perm % self.bands:
            raise ValueError(
                f"num_perm ({self.num_perm}) should be a multiple of bands ({self.bands})"
            )
        norm = [normalise(t) for t in texts]
        uf = _UnionFind(n)
        # 1. exact
        first: dict[str, int] = {}
        for i, t in enumerate(norm):
            if t:
                uf.union(first.setdefault(t, i), i)
        # 2. near duplicates, among one representative per exact group
        reps = sorted(first.values())
        sets = [shingles(norm[i]) for i in reps]
        sig = self._signatures(sets)
        rows = self.num_perm // self.bands
        for band in range(self.bands):
            buckets: dict[bytes, list[int]] = {}
            chunk = np.ascontiguousarray(sig[:, band * rows : (band + 1) * rows])
            for j in range(len(reps)):
                buckets.setdefault(chunk[j].tobytes(), []).append(j)
            for members in buckets.values():
                if 1 < len(members) <= 500:
                    base = members[0]
                    for other in members[1:]:
                        if np.mean(sig[base] == sig[other]) >= self.lexical_threshold:
                            uf.union(reps[base], reps[other])
        roots = np.array([uf.find(i) for i in range(n)])
        # 3. paraphrases, by leader clustering within blocks
        if embeddings is not None:
            E = np.asarray(embeddings, dtype=np.float32)
            if E.shape[0] != n:
                raise ValueError(f"embeddings has {E.shape[0]} rows but there are {n} texts")
            block = np.zeros(n, dtype=int) if blocks is None else np.asarray(blocks)
            if block.shape[0] != n:
                raise ValueError(f"blocks has {block.shape[0]} entries but there are {n} texts")
            roots = self._merge_paraphrases(roots, E, block, norm)
        self._finish(roots, norm, embeddings)
        return self

    def _merge_paraphrases(
        self, roots: np.ndarray, E: np.ndarray, block: np.ndarray, norm: list[str]
    ) -> np.ndarray:
        result = roots.copy()
        for b in np.unique(block):
            idx = np.flatnonzero((block == b) & np.array([bool(t) for t in norm]))
            group_roots, sizes = np.unique(roots[idx], return_counts=True)
            order = np.argsort(-sizes, kind="stable")
            leaders: list[int] = []
            leader_vecs = np.zeros((len(order), E.shape[1]), dtype=np.float32)
            merge: dict[int, int] = {}
            for gi in order:
                root = int(group_roots[gi])
                vec = E[root]
                if not vec.any():
                    continue
                if leaders:
                    sims = leader_vecs[: len(leaders)] @ vec
                    best = int(np.argmax(sims))
                    if sims[best] >= self.semantic_threshold:
                        merge[root] = leaders[best]
                        continue
                leader_vecs[len(leaders)] = vec
                leaders.append(root)
            if merge:
                mapped = np.array([merge.get(int(r), int(r)) for r in roots[idx]])
                result[idx] = mapped
        return result

    def _finish(self, roots: np.ndarray, norm: list[str], embeddings: Any) -> None:
        n = len(norm)
        valid = np.array([bool(t) for t in norm], dtype=bool)
        counts = Counter(roots[valid].tolist())
        ordered = sorted(counts, key=lambda r: (-counts[r], r))
        relabel = {r: g for g, r in enumerate(ordered)}
        self.labels_ = np.array([relabel[r] if valid[i] else -1 for i, r in enumerate(roots)])
        self.groups_ = [np.flatnonzero(self.labels_ == g) for g in range(len(ordered))]
        reps = []
        for members in self.groups_:
            if embeddings is not None and len(members) > 2:
                E = np.asarray(embeddings)[members]
                centre = E.mean(axis=0)
                reps.append(int(members[int(np.argmax(E @ centre))]))
            else:
                wording = Counter(norm[i] for i in members).most_common(1)[0][0]
                reps.append(int(next(i for i in members if norm[i] == wording)))
        self.representatives_ = np.array(reps, dtype=int)
        self.n_texts_ = n

    def fit_predict(self, texts: Any, embeddings: Any = None, blocks: Any = None) -> np.ndarray:
        return self.fit(texts, embeddings, blocks).labels_
