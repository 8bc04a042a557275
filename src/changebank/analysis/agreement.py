"""Agreement between coders: Cohen's kappa, Krippendorff's alpha and sample-averaged F1.

Sample F1 is the measure i.AI reports for theme mapping (two humans agree at about 0.75).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ._validation import check_label_matrix


def cohen_kappa(a: Any, b: Any, *, undefined: float = 1.0) -> float:
    """Cohen's kappa between two coders' labels for the same items (any hashable labels).

    When both coders give every item the same single label, chance agreement is 1 and kappa is not
    defined (scikit-learn gives NaN there); this returns ``undefined``, 1.0 unless told otherwise.
    """
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"the two codings have different lengths: {a.shape[0]} and {b.shape[0]}")
    if a.size == 0:
        raise ValueError("no items to compare")
    observed = float(np.mean(a == b))
    labels = np.union1d(a, b)
    pa = np.array([np.mean(a == lab) for lab in labels])
    pb = np.array([np.mean(b == lab) for lab in labels])
    expected = float(pa @ pb)
    if expected == 1.0:
        return undefined
    return (observed - expected) / (1.0 - expected)


def kappa_per_code(Y_a: Any, Y_b: Any) -> np.ndarray:
    """Cohen's kappa for each code (column) of two 0/1 coding matrices."""
    A = check_label_matrix(Y_a, name="Y_a")
    B = check_label_matrix(Y_b, n_rows=A.shape[0], name="Y_b")
    if A.shape != B.shape:
        raise ValueError(f"the two codings have different shapes: {A.shape} and {B.shape}")
    return np.array([cohen_kappa(A[:, j], B[:, j]) for j in range(A.shape[1])])


def krippendorff_alpha(data: Any, level: str = "nominal") -> float:
    """Krippendorff's alpha for a coders × items matrix; missing values are NaN (or None).

    ``level`` is ``"nominal"`` or ``"interval"``. Items coded by fewer than two coders are left out,
    as the coefficient requires.
    """
    rel = np.array(data, dtype=float)
    if rel.ndim != 2:
        raise ValueError("data should be a coders × items matrix")
    values = np.unique(rel[~np.isnan(rel)])
    if values.size == 0:
        raise ValueError("no values to compare")
    index = {v: i for i, v in enumerate(values)}
    k = values.size
    coincidence = np.zeros((k, k))
    for item in rel.T:
        present = item[~np.isnan(item)]
        m = present.size
        if m < 2:
            continue
        idx = np.array([index[v] for v in present])
        counts = np.bincount(idx, minlength=k).astype(float)
        pairs = np.outer(counts, counts) - np.diag(counts)
        coincidence += pairs / (m - 1)
    n_c = coincidence.sum(axis=1)
    n = n_c.sum()
    if n == 0:
        raise ValueError("no item was coded by two or more coders")
    if level == "nominal":
        delta = 1.0 - np.eye(k)
    elif level == "interval":
        delta = (values[:, None] - values[None, :]) ** 2
    else:
        raise ValueError("level should be 'nominal' or 'interval'")
    observed = (coincidence * delta).sum()
    expected = (np.outer(n_c, n_c) * delta).sum() / (n - 1)
    if expected == 0:
        return 1.0
    return 1.0 - observed / expected


def sample_f1(Y_true: Any, Y_pred: Any) -> float:
    """Sample-averaged F1 of two multi-label codings; an item both leave empty counts as 1."""
    T = check_label_matrix(Y_true, name="Y_true")
    P = check_label_matrix(Y_pred, n_rows=T.shape[0], name="Y_pred")
    tp = (T & P).sum(axis=1).astype(float)
    denom = T.sum(axis=1) + P.sum(axis=1)
    scores = np.where(denom == 0, 1.0, 2 * tp / np.maximum(denom, 1))
    return float(scores.mean())


def light_kappa(ratings: Any) -> float:
    """Light's kappa: the mean of Cohen's kappa over every pair of coders, for a coders × items
    matrix with no missing values (any hashable labels). Pairs whose kappa is not defined (both
    coders gave one and the same label to every item) are left out; NaN if no pair's is defined.
    With two coders it is Cohen's kappa."""
    rel = np.asarray(ratings)
    if rel.ndim != 2 or rel.shape[0] < 2:
        raise ValueError("ratings should be a coders × items matrix with two or more coders")
    kappas = [
        cohen_kappa(rel[i], rel[j], undefined=np.nan)
        for i in range(rel.shape[0])
        for j in range(i + 1, rel.shape[0])
    ]
    defined = [k for k in kappas if not np.isnan(k)]
    return float(np.mean(defined)) if defined else float("nan")


def _binary_codings(Y: Any) -> np.ndarray:
    """A coders × items × codes array of 0, 1 and NaN (not coded) as float."""
    arr = np.array(Y, dtype=float)
    if arr.ndim != 3:
        raise ValueError(
            f"Y should be a coders × items × codes array of 0/1 (NaN: not coded), got shape {arr.shape}"
        )
    values = np.unique(arr[~np.isnan(arr)])
    if not np.isin(values, [0, 1]).all():
        raise ValueError(f"Y should hold only 0, 1 and NaN, found {values[:5].tolist()}")
    return arr


def _alpha_or_nan(rel: np.ndarray) -> float:
    """Nominal alpha of a coders × units matrix, NaN where it is not defined: no unit coded by two
    or more coders, or a single value across every pairable unit (no expected disagreement)."""
    pairable = (~np.isnan(rel)).sum(axis=0) >= 2
    values = rel[:, pairable]
    values = values[~np.isnan(values)]
    if np.unique(values).size < 2:
        return float("nan")
    return krippendorff_alpha(rel, "nominal")


def krippendorff_alpha_per_code(Y: Any) -> np.ndarray:
    """Krippendorff's alpha (nominal) of each code of a multi-label coding, each code taken as a
    binary variable (present or absent).

    ``Y`` is coders × items × codes: 1 where the coder used the code on the item, 0 where not,
    NaN where the coder did not code the item (missing codings are allowed; items coded by fewer
    than two coders are left out). A code's alpha is NaN where it is not defined: no item coded by
    two coders, or no variation (every coder used it on every item, or nobody used it).
    """
    arr = _binary_codings(Y)
    return np.array([_alpha_or_nan(arr[:, :, j]) for j in range(arr.shape[2])])


def krippendorff_alpha_pooled(Y: Any) -> float:
    """Krippendorff's alpha (nominal) over every item × code decision of a multi-label coding
    (``Y`` as for :func:`krippendorff_alpha_per_code`): each pair of an item and a code is one unit
    whose value is present or absent. NaN where it is not defined."""
    arr = _binary_codings(Y)
    return _alpha_or_nan(arr.reshape(arr.shape[0], -1))
