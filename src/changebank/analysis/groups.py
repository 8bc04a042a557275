"""Who said it: how common each code or theme is in each respondent group, and whether it differs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.stats import chi2_contingency

from ._validation import check_label_matrix


@dataclass
class Prevalence:
    """Counts and shares of one code across groups, with a test of whether groups differ."""

    code: int
    groups: list[str]
    counts: np.ndarray  # texts in each group with the code
    totals: np.ndarray  # texts in each group
    chi2: float
    p_value: float
    cramers_v: float
    consistent: bool  # raised in every group, with no evidence that groups differ

    @property
    def shares(self) -> np.ndarray:
        return np.divide(
            self.counts, self.totals, out=np.zeros(len(self.totals)), where=self.totals > 0
        )


def prevalence_by_group(
    Y: Any, groups: Any, *, alpha: float = 0.05, min_share: float = 0.0
) -> list[Prevalence]:
    """For each code (column of the 0/1 matrix ``Y``), counts and shares by ``groups``.

    ``consistent`` is True when the code was raised in every group (share above ``min_share``) and a
    chi-square test finds no difference between groups at level ``alpha``.
    """
    M = check_label_matrix(Y)
    g = np.asarray([("" if v is None else str(v)) for v in groups])
    if g.shape[0] != M.shape[0]:
        raise ValueError(f"groups has {g.shape[0]} entries but Y has {M.shape[0]} rows")
    names = sorted(set(g.tolist()) - {""})
    if not names:
        raise ValueError("no respondent group is known for any text")
    masks = [g == name for name in names]
    totals = np.array([m.sum() for m in masks])
    out = []
    for j in range(M.shape[1]):
        col = M[:, j]
        counts = np.array([int(col[m].sum()) for m in masks])
        table = np.vstack([counts, totals - counts])
        keep = table.sum(axis=0) > 0
        table = table[:, keep]
        if table.shape[1] < 2 or (table.sum(axis=1) == 0).any():
            chi2, p, v = 0.0, 1.0, 0.0
        else:
            chi2, p, _, _ = chi2_contingency(table, correction=False)
            v = float(np.sqrt(chi2 / (table.sum() * (min(table.shape) - 1))))
        shares = counts / np.maximum(totals, 1)
        consistent = bool((shares > min_share).all() and counts.min() > 0 and p >= alpha)
        out.append(Prevalence(j, names, counts, totals, float(chi2), float(p), v, consistent))
    return out


def prevalence_over_time(Y: Any, periods: Any) -> tuple[list[str], np.ndarray]:
    """Share of texts with each code per period (for example "2021-03"): (periods, shares)."""
    M = check_label_matrix(Y)
    p = np.asarray([str(v) for v in periods])
    names = sorted(set(p.tolist()))
    shares = np.vstack([M[p == name].mean(axis=0) for name in names])
    return names, shares
