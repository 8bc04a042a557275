"""Which codes go together, and how each code splits by a label of its texts (such as stance).

Both work on the texts × codes 0/1 matrix ``Y`` (n × k), dense or scipy.sparse, and never form an
n × n product: a million texts and two hundred codes take one sparse k × n by n × k product.

Co-occurrence. With ``C = Yᵀ Y`` (k × k), ``C[a, b]`` is the number of texts coded with both ``a``
and ``b`` and the diagonal ``C[a, a] = |a|`` is each code's size. Two measures put the count in
proportion:

* Jaccard similarity ``J(a, b) = |a ∩ b| / |a ∪ b| = C[a, b] / (|a| + |b| − C[a, b])``, from 0 (never
  together) to 1 (always together); it does not depend on the number of texts.
* Lift ``L(a, b) = P(a and b) / (P(a) P(b)) = n · C[a, b] / (|a| · |b|)``: 1 is what chance would
  give if the codes were independent, above 1 they go together more often than chance, below 1 less.

Split by label. ``counts[j, c]`` is the number of texts with code ``j`` whose label is ``c``:
``Yᵀ L`` with ``L`` the n × m one-hot matrix of the labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp


def _binary_csc(Y: Any) -> sp.csc_matrix:
    """``Y`` as a sparse CSC matrix of int64 0/1 (any non-zero entry counts as 1)."""
    if sp.issparse(Y):
        M = sp.csc_matrix(Y, copy=True)
    else:
        arr = np.asarray(Y)
        if arr.ndim != 2:
            raise ValueError(
                f"Y should be a 2-D array of 0/1 (texts × codes), got shape {arr.shape}"
            )
        M = sp.csc_matrix(arr)
    if M.ndim != 2:
        raise ValueError(f"Y should be 2-D (texts × codes), got shape {M.shape}")
    M.sum_duplicates()
    M.eliminate_zeros()
    M.data = np.ones_like(M.data, dtype=np.int64)
    return M.astype(np.int64)


@dataclass(frozen=True)
class Cooccurrence:
    """How often the chosen codes appear together in the same text."""

    columns: np.ndarray  # the chosen columns of Y, largest first
    sizes: np.ndarray  # texts with each chosen code
    counts: np.ndarray  # m × m: texts with both codes (the diagonal holds the sizes)
    n: int  # texts in Y

    @property
    def jaccard(self) -> np.ndarray:
        """``C[a, b] / (|a| + |b| − C[a, b])``; 0 where neither code is used."""
        union = self.sizes[:, None] + self.sizes[None, :] - self.counts
        return np.divide(
            self.counts, union, out=np.zeros(self.counts.shape, dtype=float), where=union > 0
        )

    @property
    def lift(self) -> np.ndarray:
        """``n · C[a, b] / (|a| · |b|)``; 0 where either code is unused."""
        chance = (self.sizes[:, None] * self.sizes[None, :]).astype(float)
        return np.divide(
            self.n * self.counts.astype(float),
            chance,
            out=np.zeros(self.counts.shape, dtype=float),
            where=chance > 0,
        )

    def pairs(self, limit: int | None = None) -> list[tuple[int, int, int]]:
        """Pairs ``(i, j, count)`` of positions in ``columns`` (i < j) that share at least one
        text, most shared first (ties: higher Jaccard first, then position)."""
        i, j = np.triu_indices(len(self.columns), k=1)
        shared = self.counts[i, j]
        keep = shared > 0
        i, j, shared = i[keep], j[keep], shared[keep]
        jac = self.jaccard[i, j]
        order = np.lexsort((j, i, -jac, -shared))
        out = [(int(i[o]), int(j[o]), int(shared[o])) for o in order]
        return out if limit is None else out[:limit]


def cooccurrence(Y: Any, *, top: int | None = None) -> Cooccurrence:
    """Co-occurrence counts of the ``top`` largest codes (all when None), from a 0/1 matrix ``Y``
    (texts × codes, dense or sparse). Codes no text carries are left out; ties in size keep the
    column order."""
    M = _binary_csc(Y)
    sizes = np.asarray(M.sum(axis=0)).ravel().astype(np.int64)
    order = np.argsort(-sizes, kind="stable")
    order = order[sizes[order] > 0]
    if top is not None:
        if top < 0:
            raise ValueError(f"top should be 0 or more, got {top}")
        order = order[:top]
    chosen = M[:, order]
    counts = np.asarray((chosen.T @ chosen).toarray(), dtype=np.int64)
    return Cooccurrence(columns=order, sizes=sizes[order], counts=counts, n=int(M.shape[0]))


def split_by_label(
    Y: Any, labels: Sequence[Any], categories: Sequence[str] | None = None
) -> tuple[list[str], np.ndarray]:
    """For each code (column of ``Y``), the number of its texts with each label.

    Returns ``(categories, counts)`` with ``counts`` of shape k × m. ``categories`` defaults to the
    labels present, sorted; texts whose label is not among ``categories`` are not counted. ``None``
    labels are read as "".
    """
    M = _binary_csc(Y)
    values = ["" if v is None else str(v) for v in labels]
    if len(values) != M.shape[0]:
        raise ValueError(f"labels has {len(values)} entries but Y has {M.shape[0]} rows")
    cats = sorted(set(values)) if categories is None else [str(c) for c in categories]
    index = {c: i for i, c in enumerate(cats)}
    rows = np.array([i for i, v in enumerate(values) if v in index], dtype=np.int64)
    cols = np.array([index[v] for v in values if v in index], dtype=np.int64)
    L = sp.csr_matrix(
        (np.ones(len(rows), dtype=np.int64), (rows, cols)), shape=(M.shape[0], len(cats))
    )
    counts = np.asarray((M.T @ L).toarray(), dtype=np.int64)
    return cats, counts
