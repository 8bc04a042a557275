"""Delphi rounds: consensus rules for a panel's ratings of one change, and what members see next.

Each member rates a change on a whole-number scale, 1–9 by default (1–3: remove, 4–6: unsure,
7–9: keep). Members who did not rate it (None or NaN) are left out and counted as missing. With
``n`` ratings:

* ``share_high`` is the fraction in the high band (7–9), ``share_low`` in the low band (1–3);
* **consensus in** when ``share_high ≥ in_share`` (70 %) and ``share_low < out_share`` (15 %);
* **consensus out** for the reverse: ``share_low ≥ in_share`` and ``share_high < out_share``;
* **disagreement** by the RAND/UCLA Appropriateness Method (Fitch et al., *The RAND/UCLA
  Appropriateness Method User's Manual*, RAND 2001):

      IPR   = P70 − P30                          (interpercentile range)
      IPRCP = (P30 + P70) / 2                    (its central point)
      AI    = |c − IPRCP|                        (asymmetry index; c = 5, the centre of 1–9)
      IPRAS = IPRr + CFA · AI                    (IPR adjusted for symmetry; IPRr = 2.35, CFA = 1.5)

  and the panel disagrees when ``IPR > IPRAS``. The constants 2.35 and 1.5 were calibrated for
  1–9 scales; on another scale ``c`` is its midpoint and the constants can be set;
* **no consensus** otherwise.

Disagreement is checked first: a panel that disagrees by the RAND/UCLA rule is reported as
disagreeing whatever its shares. With the default bands, thresholds and percentiles the two cannot
both hold: if at least 70 % rate 7–9, at most 30 % rate below 7, so P30 ≥ x + 0.7 · (7 − x) ≥ 5.2
(``x`` the highest rating below 7) and P70 ≥ 7, while disagreement would need ``9 − P30 ≥ IPR >
2.35 + 1.5 · ((P30 + 7) / 2 − 5)``, that is ``P30 < 5.09``; consensus out is the mirror image.
Shares are compared exactly, as fractions, so 7 ratings of 10 meet a 70 % rule.

**Percentiles.** ``P30`` and ``P70`` are computed by linear interpolation between order statistics
(NumPy's default, Hyndman and Fan's type 7, the same as spreadsheets' ``PERCENTILE``): for sorted
ratings ``x_0 ≤ … ≤ x_{n−1}`` and ``h = (n − 1) · q / 100``, ``P_q = x_⌊h⌋ + (h − ⌊h⌋) · (x_⌊h⌋+1 −
x_⌊h⌋)``. The manual does not tie the rule to one percentile definition that we know of; the worked
example in BMJ Open 2012;2:e001431 (table 1) agrees with this one (the tests reproduce it). Another
NumPy method can be chosen with ``percentile_method``. The median is the middle rating, or the mean
of the two middle ratings when ``n`` is even.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

CONSENSUS_IN = "consensus in"
CONSENSUS_OUT = "consensus out"
DISAGREEMENT = "disagreement"
NO_CONSENSUS = "no consensus"

_PERCENTILE_METHODS = (
    "inverted_cdf",
    "averaged_inverted_cdf",
    "closest_observation",
    "interpolated_inverted_cdf",
    "hazen",
    "weibull",
    "linear",
    "median_unbiased",
    "normal_unbiased",
    "lower",
    "higher",
    "midpoint",
    "nearest",
)


@dataclass(frozen=True)
class RatingSummary:
    """The panel's answers to one change, as shown to members in the next round."""

    counts: dict[int, int]  # every value on the scale, in order, with how many gave it
    n: int  # ratings given
    n_missing: int  # members who did not rate
    median: float  # NaN when no one rated

    @property
    def shares(self) -> dict[int, float]:
        return {v: (c / self.n if self.n else 0.0) for v, c in self.counts.items()}


@dataclass(frozen=True)
class DelphiResult:
    """The panel's ratings of one change, classified by a :class:`DelphiRule`."""

    outcome: str  # CONSENSUS_IN, CONSENSUS_OUT, DISAGREEMENT or NO_CONSENSUS
    n: int
    n_missing: int
    median: float
    p30: float
    p70: float
    ipr: float  # P70 − P30
    iprcp: float  # (P30 + P70) / 2
    asymmetry: float  # |centre of the scale − IPRCP|
    ipras: float  # IPRr + CFA · asymmetry
    share_low: float
    share_high: float
    share_middle: float
    distribution: RatingSummary = field(repr=False)

    @property
    def disagreement(self) -> bool:
        return self.ipr > self.ipras


def _check_scale(scale: Any) -> tuple[int, int]:
    try:
        lo, hi = scale
    except (TypeError, ValueError):
        raise ValueError(f"scale should be a (lowest, highest) pair, got {scale!r}") from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (lo, hi)):
        raise TypeError(f"scale should be two whole numbers, got {scale!r}")
    if lo >= hi:
        raise ValueError(f"scale should go from low to high, got {scale!r}")
    return int(lo), int(hi)


def _check_band(band: Any, name: str, scale: tuple[int, int]) -> tuple[int, int]:
    try:
        lo, hi = band
    except (TypeError, ValueError):
        raise ValueError(f"{name} should be a (lowest, highest) pair, got {band!r}") from None
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in (lo, hi)):
        raise TypeError(f"{name} should be two whole numbers, got {band!r}")
    lo, hi = int(lo), int(hi)
    if lo > hi:
        raise ValueError(f"{name} should go from low to high, got {band!r}")
    if lo < scale[0] or hi > scale[1]:
        raise ValueError(f"{name} {band!r} is not inside the scale {scale[0]}–{scale[1]}")
    return lo, hi


def _check_share(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} should be a fraction such as 0.7, got {value!r}")
    if not (0 < value <= 1):
        raise ValueError(f"{name} should be a fraction above 0 and at most 1, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class DelphiRule:
    """A configurable consensus rule (the defaults are those in the module docstring).

    Parameters
    ----------
    scale : (int, int), default (1, 9)
        Lowest and highest rating.
    low, high : (int, int), default (1, 3) and (7, 9)
        The bands that count against and for the change.
    in_share : float, default 0.70
        Share of ratings in one band needed for consensus (at least).
    out_share : float, default 0.15
        Share in the other band that must not be reached (strictly less).
    ipr_required : float, default 2.35
        IPRr, the IPR needed for disagreement when the ratings are symmetric about the centre.
    asymmetry_factor : float, default 1.5
        CFA, the correction factor for asymmetry.
    percentile_method : str, default "linear"
        NumPy's percentile method for P30 and P70.
    """

    scale: tuple[int, int] = (1, 9)
    low: tuple[int, int] = (1, 3)
    high: tuple[int, int] = (7, 9)
    in_share: float = 0.70
    out_share: float = 0.15
    ipr_required: float = 2.35
    asymmetry_factor: float = 1.5
    percentile_method: str = "linear"

    def __post_init__(self) -> None:
        scale = _check_scale(self.scale)
        low = _check_band(self.low, "low", scale)
        high = _check_band(self.high, "high", scale)
        if low[1] >= high[0]:
            raise ValueError(f"the low band {low} should lie below the high band {high}")
        in_share = _check_share(self.in_share, "in_share")
        out_share = _check_share(self.out_share, "out_share")
        if out_share >= in_share:
            raise ValueError(
                f"out_share ({out_share}) should be less than in_share ({in_share}), or a change "
                "could be in and out at once"
            )
        for name in ("ipr_required", "asymmetry_factor"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
                raise ValueError(f"{name} should be a non-negative number, got {value!r}")
        if self.percentile_method not in _PERCENTILE_METHODS:
            raise ValueError(
                f"percentile_method should be one of NumPy's ({', '.join(_PERCENTILE_METHODS)}), "
                f"got {self.percentile_method!r}"
            )
        for name, value in (("scale", scale), ("low", low), ("high", high)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "in_share", in_share)
        object.__setattr__(self, "out_share", out_share)

    @property
    def centre(self) -> float:
        return (self.scale[0] + self.scale[1]) / 2

    def classify(self, ratings: Any) -> DelphiResult:
        """Classify one change's ratings (see the module docstring)."""
        x, missing = _check_ratings(ratings, self.scale)
        n = x.size
        if n == 0:
            raise ValueError("no ratings to classify (every rating is missing)")
        p30, p70 = (float(v) for v in np.percentile(x, [30, 70], method=self.percentile_method))
        ipr = p70 - p30
        iprcp = (p30 + p70) / 2
        asymmetry = abs(self.centre - iprcp)
        ipras = self.ipr_required + self.asymmetry_factor * asymmetry
        n_low = int(((x >= self.low[0]) & (x <= self.low[1])).sum())
        n_high = int(((x >= self.high[0]) & (x <= self.high[1])).sum())
        share_in, share_out = Fraction(str(self.in_share)), Fraction(str(self.out_share))
        low, high = Fraction(n_low, n), Fraction(n_high, n)
        if ipr > ipras:
            outcome = DISAGREEMENT
        elif high >= share_in and low < share_out:
            outcome = CONSENSUS_IN
        elif low >= share_in and high < share_out:
            outcome = CONSENSUS_OUT
        else:
            outcome = NO_CONSENSUS
        return DelphiResult(
            outcome=outcome,
            n=n,
            n_missing=missing,
            median=float(np.median(x)),
            p30=p30,
            p70=p70,
            ipr=ipr,
            iprcp=iprcp,
            asymmetry=asymmetry,
            ipras=ipras,
            share_low=n_low / n,
            share_high=n_high / n,
            share_middle=(n - n_low - n_high) / n,
            distribution=_summary(x, missing, self.scale),
        )


def _check_ratings(ratings: Any, scale: tuple[int, int]) -> tuple[np.ndarray, int]:
    """Whole numbers on the scale as an int array, and how many were missing (None or NaN)."""
    if isinstance(ratings, (str, bytes)):
        raise TypeError("ratings should be a list of numbers, not one string")
    if isinstance(ratings, np.ndarray) and ratings.ndim != 1:
        raise ValueError(
            f"ratings should be one rating per member (1-D), got shape {ratings.shape}"
        )
    try:
        items = list(ratings)
    except TypeError:
        raise TypeError(
            f"ratings should be a list of numbers, got {type(ratings).__name__}"
        ) from None
    values, missing = [], 0
    lo, hi = scale
    for k, r in enumerate(items):
        if r is None or (isinstance(r, (float, np.floating)) and math.isnan(r)):
            missing += 1
            continue
        if isinstance(r, (bool, np.bool_)) or not isinstance(
            r, (int, float, np.integer, np.floating)
        ):
            raise TypeError(
                f"ratings[{k}] should be a number on the {lo}–{hi} scale, got {r!r:.40}"
            )
        if r != int(r):
            raise ValueError(f"ratings[{k}] is {r}, not a whole number on the {lo}–{hi} scale")
        if not lo <= r <= hi:
            raise ValueError(f"ratings[{k}] is {r}, outside the {lo}–{hi} scale")
        values.append(int(r))
    return np.array(values, dtype=int), missing


def _summary(x: np.ndarray, missing: int, scale: tuple[int, int]) -> RatingSummary:
    counts = np.bincount(x - scale[0], minlength=scale[1] - scale[0] + 1)
    return RatingSummary(
        counts={v: int(c) for v, c in zip(range(scale[0], scale[1] + 1), counts, strict=True)},
        n=int(x.size),
        n_missing=missing,
        median=float(np.median(x)) if x.size else math.nan,
    )


def classify(
    ratings: Iterable[Any],
    low: tuple[int, int] = (1, 3),
    high: tuple[int, int] = (7, 9),
    in_share: float = 0.70,
    out_share: float = 0.15,
    *,
    scale: tuple[int, int] = (1, 9),
    ipr_required: float = 2.35,
    asymmetry_factor: float = 1.5,
    percentile_method: str = "linear",
) -> DelphiResult:
    """Classify one change's ratings as consensus in, consensus out, disagreement or no consensus.

    A shortcut for ``DelphiRule(...).classify(ratings)``; the rules and formulas are in the module
    docstring. ``ratings`` holds one whole number per member (None or NaN for members who did not
    rate); a rating outside ``scale`` is an error.
    """
    rule = DelphiRule(
        scale=scale,
        low=low,
        high=high,
        in_share=in_share,
        out_share=out_share,
        ipr_required=ipr_required,
        asymmetry_factor=asymmetry_factor,
        percentile_method=percentile_method,
    )
    return rule.classify(ratings)


def by_group(
    ratings: Iterable[Any], groups: Iterable[Hashable], rule: DelphiRule | None = None
) -> dict[str, DelphiResult]:
    """The rule applied within each stakeholder group: ``{group: result}``, groups sorted by name.

    ``groups`` gives each rating's group (for example "staff", "patient", "carer"); ratings whose
    group is None or "" are left out of the breakdown, and a group none of whose members rated is
    left out too. Use :func:`classify` (or ``rule.classify``) for the whole panel.
    """
    rule = rule or DelphiRule()
    if isinstance(ratings, (str, bytes)):
        raise TypeError("ratings should be a list of numbers, not one string")
    r = list(ratings)
    g = ["" if v is None else str(v) for v in groups]
    if len(g) != len(r):
        raise ValueError(f"groups has {len(g)} entries but ratings has {len(r)}")
    _check_ratings(r, rule.scale)  # a bad rating is reported by its place in the whole list
    names = sorted(set(g) - {""})
    if not names:
        raise ValueError("no stakeholder group is known for any rating")
    out = {}
    for name in names:
        members = [rating for rating, group in zip(r, g, strict=True) if group == name]
        if _check_ratings(members, rule.scale)[0].size:
            out[name] = rule.classify(members)
    return out


def distribution(ratings: Iterable[Any], scale: tuple[int, int] = (1, 9)) -> RatingSummary:
    """The panel's answers for the next round: how many gave each value on the scale (every value
    listed, zeros included), how many rated, how many did not, and the median (NaN if none)."""
    checked = _check_scale(scale)
    x, missing = _check_ratings(ratings, checked)
    return _summary(x, missing, checked)
