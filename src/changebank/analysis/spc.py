"""Statistical process control (SPC): XmR charts as NHS "Making Data Count" draws them.

This is a faithful port of the calculations in the R package NHSRplotthedots
(https://github.com/nhs-r-community/NHSRplotthedots, MIT licence), which implements NHS England's
"Making Data Count" (MDC) rules. Each function below names the R function it copies.

**Limits** (``ptd_spc_standard``). The series is cut into periods at the ``rebase_at`` indices
(R: ``rebase_group = cumsum(rebase)``). In each period the *baseline* is its first
``fix_after_n_points`` points (all of them by default). Over the baseline::

    mean = mean(y)
    mr_i = |y_i − y_(i−1)|          (not defined for the period's first point)
    amr  = mean(mr)
    lpl, upl   = mean ∓ 2.66 · amr            (process limits)
    near limits = mean ∓ (2 · 2.66 / 3) · amr  (= 1.7733… · amr, two thirds of the way)

**Screening moving ranges.** With ``screen_outliers=True`` moving ranges that are *not below*
``3.267 · amr`` are dropped and ``amr`` is recomputed once (R: ``mr < 3.267 * amr`` kept).
NHSRplotthedots screens by default; the Making Data Count Excel tools that most NHS teams use do
not. **Our default is ``screen_outliers=False``**, so our charts match the spreadsheets teams
already have; pass ``screen_outliers=True`` to match NHSRplotthedots's default.

**Special-cause rules** (``ptd_special_cause_type``), each evaluated *within a period* (runs,
trends and 2-of-3 windows never cross a rebase boundary), in priority order:

1. ``outside_limits`` — the point is above ``upl`` or below ``lpl`` (strictly).
2. ``trend`` — the point is one of 7 consecutive points each strictly above (or each strictly
   below) the one before; all 7 (and every point of a longer trend) are flagged. Equal neighbours
   break a trend.
3. ``two_in_three`` — R's rule, exactly: a window of 3 consecutive points, *all three on the same
   side of the mean*, holds at least 2 points that are "close to the limits" (strictly beyond the
   near limits but not outside the process limits); only the close points of such a window are
   flagged. So a point outside the limits does not count towards 2-of-3 (it is flagged by rule 1
   anyway), and two close points with a point on the other side of the mean between them do not
   fire.
4. ``shift`` — the point is one of 7 consecutive points on the same side of the mean (a run);
   all 7 (and every point of a longer run) are flagged. A point exactly on the mean belongs to
   neither side and breaks the run.

The ``rule`` column names the highest-priority rule that fired ("" for none), and
``special_cause_type`` holds R's label ("Above UCL", "7 Point Trend (Increasing)", "2 in 3 Below
CL", "7 Points Above CL", "Common Cause").

**Point type** (``ptd_point_type``). A flagged point has a direction: +1 for "Above"/"Increasing",
−1 for "Below"/"Decreasing". Trend points are typed by the *direction of the trend*, not by their
side of the mean: a point inside a trend takes the sign of the step to its right when the next
point is also in a trend, otherwise the sign of the step from its left (R's ``sdy``). The
direction is multiplied by the improvement direction (+1 increase, −1 decrease): positive is
``special_cause_improvement``, negative ``special_cause_concern``. With ``improvement="neutral"``
the types are ``special_cause_neutral_high`` / ``special_cause_neutral_low``.

**Icons.** :func:`variation_icon` reads the last point (R: ``ptd_get_icons``) and
:func:`assurance_icon` compares a target with the last point's limits (R:
``ptd_calculate_assurance_type``; R's ``consistent_pass`` / ``consistent_fail`` / ``inconsistent``
are our ``pass`` / ``fail`` / ``hit_and_miss``).

**Short periods** (``ptd_add_short_group_warnings``): a period of fewer than 13 points gets a
warning (``df.attrs["warnings"]``, :func:`spc_warnings`, and the ``short_period_warning`` column);
its limits are trial limits.

Deliberate differences from NHSRplotthedots:

* default ``screen_outliers=False`` (see above);
* a baseline whose moving ranges are all zero (a constant baseline) is not screened: R would drop
  every moving range (``0 < 0`` is false) and return NaN limits; we keep ``amr = 0``;
* bad input raises an error instead of producing NaN: missing values (R drops ``NA`` from the
  mean and moving ranges), periods or baselines of one point (R returns NaN limits);
* periods are given as point indices, not dates; ``rebase_at`` may include 0 (a no-op, as in R).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = [
    "ASSURANCE_ICONS",
    "BeforeAfter",
    "IMPROVEMENT_DIRECTIONS",
    "POINT_TYPES",
    "RULES",
    "VARIATION_ICONS",
    "assurance_icon",
    "before_after",
    "short_period_warnings",
    "spc_warnings",
    "variation_icon",
    "xmr",
]

LIMIT = 2.66
"""Process limits are ``mean ± LIMIT · amr`` (R: ``limit``)."""
LIMIT_CLOSE = 2 * (LIMIT / 3)
"""Near limits, two thirds of the way to the process limits (R: ``limitclose``)."""
SCREEN = 3.267
"""Moving ranges at or above ``SCREEN · amr`` are screened out (R: ``3.267``)."""
SHORT_PERIOD = 13
"""Periods with fewer points get a warning (R: ``ptd_spc.warning_threshold``, default 13)."""
RUN_LENGTH = 7

IMPROVEMENT_DIRECTIONS = ("increase", "decrease", "neutral")
RULES = ("outside_limits", "trend", "two_in_three", "shift")
POINT_TYPES = (
    "common_cause",
    "special_cause_improvement",
    "special_cause_concern",
    "special_cause_neutral_high",
    "special_cause_neutral_low",
)
VARIATION_ICONS = (
    "common_cause",
    "improvement_high",
    "improvement_low",
    "concern_high",
    "concern_low",
    "neutral_high",
    "neutral_low",
)
ASSURANCE_ICONS = ("pass", "fail", "hit_and_miss")

_DIRECTION = {"increase": 1, "neutral": 0, "decrease": -1}


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def _check_values(values: Any) -> np.ndarray:
    if isinstance(values, str | bytes):
        raise TypeError("values should be a sequence of numbers in time order, not a string")
    if isinstance(values, pd.DataFrame):
        raise TypeError(
            "values should be a sequence of numbers in time order, got a DataFrame; "
            "pass one column, e.g. df['value']"
        )
    try:
        items = list(values)
    except TypeError:
        raise TypeError(
            f"values should be a sequence of numbers in time order, got {type(values).__name__}"
        ) from None
    out = np.empty(len(items), dtype=float)
    for i, v in enumerate(items):
        if v is None or v is pd.NA or v is pd.NaT:
            raise ValueError(
                f"values[{i}] is missing; an XmR chart needs a value for every point "
                "(remove the point or fill the gap)"
            )
        if isinstance(v, bool | np.bool_) or not isinstance(v, numbers.Real):
            raise TypeError(f"values[{i}] should be a number, got {type(v).__name__}: {v!r:.40}")
        f = float(v)
        if math.isnan(f):
            raise ValueError(
                f"values[{i}] is NaN; an XmR chart needs a value for every point "
                "(remove the point or fill the gap)"
            )
        if math.isinf(f):
            raise ValueError(f"values[{i}] is infinite ({f}); values should be finite numbers")
        out[i] = f
    if len(out) < 2:
        raise ValueError(
            f"an XmR chart needs at least 2 points (a moving range needs two), got {len(out)}"
        )
    return out


def _check_improvement(improvement: Any) -> str:
    if not isinstance(improvement, str) or improvement not in _DIRECTION:
        raise ValueError(
            f"improvement should be one of {', '.join(repr(d) for d in IMPROVEMENT_DIRECTIONS)}, "
            f"got {improvement!r}"
        )
    return improvement


def _check_rebase(rebase_at: Any, n: int) -> list[int]:
    if rebase_at is None:
        return []
    if isinstance(rebase_at, str | bytes):
        raise TypeError("rebase_at should be a list of point indices, not a string")
    if isinstance(rebase_at, numbers.Integral) and not isinstance(rebase_at, bool):
        rebase_at = [rebase_at]
    try:
        items = list(rebase_at)
    except TypeError:
        raise TypeError(
            f"rebase_at should be a list of point indices, got {type(rebase_at).__name__}"
        ) from None
    out: list[int] = []
    for j, r in enumerate(items):
        if isinstance(r, bool | np.bool_) or not isinstance(r, numbers.Integral):
            raise TypeError(
                f"rebase_at[{j}] should be an integer point index, got {type(r).__name__}: {r!r:.40}"
            )
        r = int(r)
        if r < 0 or r >= n:
            raise ValueError(
                f"rebase_at[{j}] = {r} is out of range: there are {n} points, indices 0 to {n - 1}"
            )
        if out and r <= out[-1]:
            raise ValueError(
                f"rebase_at should be strictly increasing, but rebase_at[{j}] = {r} follows "
                f"rebase_at[{j - 1}] = {out[-1]}"
            )
        out.append(r)
    return out


def _check_fix(fix_after_n_points: Any) -> int | None:
    if fix_after_n_points is None:
        return None
    if isinstance(fix_after_n_points, bool) or not isinstance(fix_after_n_points, numbers.Integral):
        raise TypeError(
            "fix_after_n_points should be an integer or None, got "
            f"{type(fix_after_n_points).__name__}: {fix_after_n_points!r:.40}"
        )
    if fix_after_n_points < 2:
        raise ValueError(
            f"fix_after_n_points should be at least 2 (a moving range needs two points), "
            f"got {fix_after_n_points}"
        )
    return int(fix_after_n_points)


def _check_target(target: Any) -> float | None:
    if target is None:
        return None
    if isinstance(target, bool | np.bool_) or not isinstance(target, numbers.Real):
        raise TypeError(f"target should be a number or None, got {type(target).__name__}")
    t = float(target)
    if not math.isfinite(t):
        raise ValueError(f"target should be a finite number, got {t}")
    return t


def _short_warning(k: int, a: int, b: int) -> str:
    """R ``ptd_add_short_group_warnings``'s message, for period ``k`` = points ``a`` … ``b − 1``."""
    return (
        f"Period {k} (points {a} to {b - 1}) has {b - a} points, fewer than {SHORT_PERIOD}: its "
        "limits are trial limits and will change with each point added (fix them with "
        "fix_after_n_points once there are enough points)."
    )


def _periods(n: int, rebase_at: list[int]) -> list[tuple[int, int]]:
    starts = [0] + [r for r in rebase_at if r > 0]
    bounds = starts + [n]
    return [(bounds[k], bounds[k + 1]) for k in range(len(starts))]


# --------------------------------------------------------------------------------------------
# The rules, one per R helper in R/ptd_calculate_point_type.R
# --------------------------------------------------------------------------------------------


def _seven_point_one_side_mean(relative_to_mean: np.ndarray) -> np.ndarray:
    """R ``ptd_seven_point_one_side_mean``: 1 where this point and the 6 before it share a
    non-zero side of the mean."""
    v = np.asarray(relative_to_mean, dtype=float)
    vp = np.concatenate([np.zeros(RUN_LENGTH - 1), v])
    out = np.zeros(len(v))
    for i in range(len(v)):
        j = i + RUN_LENGTH - 1
        out[i] = float(vp[j] != 0 and bool(np.all(vp[j - RUN_LENGTH + 1 : j] == vp[j])))
    return out


def _part_of_seven_trend(v: np.ndarray) -> np.ndarray:
    """R ``ptd_part_of_seven_trend``: 1 where this point or one of the next 6 ends a run of 7."""
    v = np.asarray(v, dtype=float)
    vp = np.concatenate([v, np.zeros(RUN_LENGTH - 1)])
    return np.array(
        [float(np.any(np.abs(vp[i : i + RUN_LENGTH]) == 1)) for i in range(len(v))], dtype=float
    )


def _seven_point_trend(y: np.ndarray) -> np.ndarray:
    """R ``ptd_seven_point_trend``: +1 (−1) where this point ends 7 points each strictly above
    (below) the one before."""
    y = np.asarray(y, dtype=float)
    out = np.zeros(len(y))
    if len(y) < RUN_LENGTH:
        return out
    for i in range(RUN_LENGTH - 1, len(y)):
        d = np.sign(np.diff(y[i - RUN_LENGTH + 1 : i + 1]))
        if np.all(d == 1):
            out[i] = 1
        elif np.all(d == -1):
            out[i] = -1
    return out


def _two_in_three(close_to_limits: np.ndarray, relative_to_mean: np.ndarray) -> np.ndarray:
    """R ``ptd_two_in_three``: 1 where a window of 3 containing this point has at least 2 points
    close to the limits and all 3 on the same side of the mean."""
    v = np.asarray(close_to_limits, dtype=float)
    if len(v) == 0:
        return np.zeros(0)
    rtm = np.asarray(relative_to_mean, dtype=float)
    vp = np.concatenate([np.zeros(2), v, np.zeros(2)])
    rp = np.concatenate([np.zeros(2), rtm, np.zeros(2)])
    out = np.zeros(len(v))
    for i in range(len(v)):
        out[i] = float(
            any(
                vp[s : s + 3].sum() >= 2 and abs(rp[s : s + 3].sum()) == 3
                for s in (i, i + 1, i + 2)
            )
        )
    return out


def _part_of_two_in_three(two_in_three: np.ndarray, close_to_limits: np.ndarray) -> np.ndarray:
    """R ``ptd_part_of_two_in_three``: only the close points of a 2-of-3 window are flagged."""
    t = np.asarray(two_in_three, dtype=float)
    c = np.asarray(close_to_limits, dtype=float)
    return ((t == 1) & (np.abs(c) == 1)).astype(float)


def _special_cause(
    y: np.ndarray,
    relative_to_mean: np.ndarray,
    close_to_limits: np.ndarray,
    outside_limits: np.ndarray,
) -> dict[str, np.ndarray]:
    """R ``ptd_special_cause_type`` for one period: rule flags, the winning rule, R's label and
    the point's direction (+1 above / increasing, −1 below / decreasing, 0 common cause)."""
    n = len(y)
    trend = _part_of_seven_trend(_seven_point_trend(y)) != 0
    two = _part_of_two_in_three(_two_in_three(close_to_limits, relative_to_mean), close_to_limits)
    two = two != 0
    shift = _part_of_seven_trend(_seven_point_one_side_mean(relative_to_mean)) != 0
    outside = np.asarray(outside_limits, dtype=bool)

    # R: sdy <- sign(diff(y)); a point inside a trend with the next point also in a trend takes
    # the step to its right, otherwise the step from its left.
    sdy = np.sign(np.diff(y))
    right = np.concatenate([sdy, sdy[-1:]]) if n > 1 else np.zeros(n)
    left = np.concatenate([[0.0], sdy])
    nxt = np.concatenate([trend[1:], [False]])
    sdy = np.where(nxt & trend, right, left)

    rule = np.full(n, "", dtype=object)
    label = np.full(n, "Common Cause", dtype=object)
    direction = np.zeros(n, dtype=int)
    for i in range(n):
        above = relative_to_mean[i] > 0
        if outside[i]:
            rule[i] = "outside_limits"
            up = relative_to_mean[i] == 1
            label[i] = "Above UCL" if up else "Below LCL"
        elif trend[i]:
            rule[i] = "trend"
            up = sdy[i] == 1
            label[i] = f"7 Point Trend ({'In' if up else 'De'}creasing)"
        elif two[i]:
            rule[i] = "two_in_three"
            up = above
            label[i] = f"2 in 3 {'Above' if up else 'Below'} CL"
        elif shift[i]:
            rule[i] = "shift"
            up = above
            label[i] = f"7 Points {'Above' if up else 'Below'} CL"
        else:
            continue
        direction[i] = 1 if up else -1
    return {
        "outside_limits": outside,
        "trend": trend,
        "two_in_three": two,
        "shift": shift,
        "rule": rule,
        "special_cause_type": label,
        "direction": direction,
    }


def _point_type(direction: np.ndarray, improvement: str) -> np.ndarray:
    """R ``ptd_point_type``."""
    imp = _DIRECTION[improvement]
    out = np.full(len(direction), "common_cause", dtype=object)
    if imp == 0:
        out[direction > 0] = "special_cause_neutral_high"
        out[direction < 0] = "special_cause_neutral_low"
    else:
        v = direction * imp
        out[v > 0] = "special_cause_improvement"
        out[v < 0] = "special_cause_concern"
    return out


def _mean(x: np.ndarray) -> float:
    """Mean with a correctly rounded sum (R's ``mean`` accumulates in long double)."""
    return math.fsum(x) / len(x)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def xmr(
    values: Sequence[float] | Iterable[float],
    improvement: str = "increase",
    rebase_at: Sequence[int] | None = None,
    screen_outliers: bool = False,
    *,
    fix_after_n_points: int | None = None,
    target: float | None = None,
) -> pd.DataFrame:
    """An XmR (individuals) chart, as NHSRplotthedots ``ptd_spc`` computes it.

    Copies ``ptd_spc_standard`` (limits), ``ptd_calculate_point_type`` /
    ``ptd_special_cause_type`` / ``ptd_point_type`` (rules and point types) and
    ``ptd_add_short_group_warnings`` (short periods); see the module docstring for the rules and
    the few deliberate differences.

    Parameters
    ----------
    values : sequence of float
        The measurements in time order, no gaps.
    improvement : {"increase", "decrease", "neutral"}
        Which direction is better (R: ``improvement_direction``).
    rebase_at : sequence of int, optional
        Indices where a new period starts; limits are recalculated from each (R: ``rebase``).
    screen_outliers : bool, default False
        Drop moving ranges ≥ 3.267 × amr before computing the limits. NHSRplotthedots's default
        is True; ours is False to match the Making Data Count Excel tools.
    fix_after_n_points : int, optional
        Compute each period's mean and limits from its first ``n`` points only (the baseline)
        and extend them over the rest of the period (R: ``fix_after_n_points``).
    target : float, optional
        Kept as a ``target`` column and used by :func:`assurance_icon` by default.

    Returns
    -------
    pandas.DataFrame
        One row per point with columns ``value``, ``period`` (0, 1, … per rebase),
        ``baseline`` (the point is in its period's baseline), ``moving_range`` (NaN at a
        period's first point), ``moving_range_used`` (counted in ``amr``), ``mean``, ``amr``,
        ``lpl``, ``upl``, ``near_lpl``, ``near_upl``, ``relative_to_mean`` (−1, 0, +1),
        ``close_to_limits``, the per-rule flags ``outside_limits``, ``trend``,
        ``two_in_three``, ``shift``, ``rule`` (highest-priority rule that fired, or ""),
        ``special_cause_type`` (R's label), ``special_cause_flag``, ``point_type``,
        ``short_period_warning`` and ``target``. ``df.attrs`` holds ``improvement``,
        ``screen_outliers``, ``rebase_at``, ``fix_after_n_points``, ``target`` and
        ``warnings`` (a list of strings).

    Raises
    ------
    TypeError
        A value, rebase index or option of the wrong type (the message names its index).
    ValueError
        Missing/NaN/infinite values, fewer than 2 points, an unknown ``improvement``, rebase
        indices out of range or not increasing, or a period of a single point.
    """
    y = _check_values(values)
    improvement = _check_improvement(improvement)
    n = len(y)
    rebases = _check_rebase(rebase_at, n)
    if not isinstance(screen_outliers, bool | np.bool_):
        raise TypeError(
            f"screen_outliers should be True or False, got {type(screen_outliers).__name__}"
        )
    fix = _check_fix(fix_after_n_points)
    tgt = _check_target(target)
    periods = _periods(n, rebases)
    for k, (a, b) in enumerate(periods):
        if b - a < 2:
            raise ValueError(
                f"period {k} (starting at index {a}) has only {b - a} point; each period needs "
                "at least 2 points for a moving range — move or remove that rebase index"
            )

    cols: dict[str, list[Any]] = {
        name: []
        for name in (
            "period",
            "baseline",
            "moving_range",
            "moving_range_used",
            "mean",
            "amr",
            "lpl",
            "upl",
            "near_lpl",
            "near_upl",
            "relative_to_mean",
            "close_to_limits",
            "outside_limits",
            "trend",
            "two_in_three",
            "shift",
            "rule",
            "special_cause_type",
            "point_type",
            "short_period_warning",
        )
    }
    warnings: list[str] = []
    for k, (a, b) in enumerate(periods):
        yp = y[a:b]
        m = b - a
        n_base = m if fix is None else min(fix, m)
        base = yp[:n_base]
        mean = _mean(base)
        mr_all = np.concatenate([[np.nan], np.abs(np.diff(yp))])
        mr = np.abs(np.diff(base))
        used = np.ones(len(mr), dtype=bool)
        amr = _mean(mr)
        if screen_outliers and amr > 0:
            used = mr < SCREEN * amr
            amr = _mean(mr[used])
        lpl = mean - LIMIT * amr
        upl = mean + LIMIT * amr
        nlpl = mean - LIMIT_CLOSE * amr
        nupl = mean + LIMIT_CLOSE * amr

        outside = (yp > upl) | (yp < lpl)
        rtm = np.sign(yp - mean).astype(int)
        close = ~outside & ((yp < nlpl) | (yp > nupl))
        sc = _special_cause(yp, rtm, close, outside)

        short = m < SHORT_PERIOD
        if short:
            warnings.append(_short_warning(k, a, b))

        used_col = np.zeros(m, dtype=bool)
        used_col[1:n_base] = used
        cols["period"] += [k] * m
        cols["baseline"] += [i < n_base for i in range(m)]
        cols["moving_range"] += mr_all.tolist()
        cols["moving_range_used"] += used_col.tolist()
        cols["mean"] += [mean] * m
        cols["amr"] += [amr] * m
        cols["lpl"] += [lpl] * m
        cols["upl"] += [upl] * m
        cols["near_lpl"] += [nlpl] * m
        cols["near_upl"] += [nupl] * m
        cols["relative_to_mean"] += rtm.tolist()
        cols["close_to_limits"] += close.tolist()
        cols["outside_limits"] += sc["outside_limits"].tolist()
        cols["trend"] += sc["trend"].tolist()
        cols["two_in_three"] += sc["two_in_three"].tolist()
        cols["shift"] += sc["shift"].tolist()
        cols["rule"] += sc["rule"].tolist()
        cols["special_cause_type"] += sc["special_cause_type"].tolist()
        cols["point_type"] += _point_type(sc["direction"], improvement).tolist()
        cols["short_period_warning"] += [short] * m

    df = pd.DataFrame({"value": y, **cols})
    df["special_cause_flag"] = df["rule"] != ""
    df["target"] = np.nan if tgt is None else tgt
    order = [
        "value",
        "period",
        "baseline",
        "moving_range",
        "moving_range_used",
        "mean",
        "amr",
        "lpl",
        "upl",
        "near_lpl",
        "near_upl",
        "relative_to_mean",
        "close_to_limits",
        "outside_limits",
        "trend",
        "two_in_three",
        "shift",
        "rule",
        "special_cause_type",
        "special_cause_flag",
        "point_type",
        "short_period_warning",
        "target",
    ]
    df = df[order]
    df.attrs.update(
        {
            "improvement": improvement,
            "screen_outliers": bool(screen_outliers),
            "rebase_at": [r for r in rebases if r > 0],
            "fix_after_n_points": fix,
            "target": tgt,
            "warnings": warnings,
        }
    )
    return df


def spc_warnings(df: pd.DataFrame) -> list[str]:
    """The warnings :func:`xmr` attached to its result (periods of fewer than 13 points).

    Read from ``df.attrs["warnings"]``; if the attrs were lost (some pandas operations drop
    them) they are rebuilt from the ``period`` column.
    """
    if "warnings" in df.attrs:
        return list(df.attrs["warnings"])
    if "period" not in df.columns:
        raise ValueError("df should be a DataFrame returned by xmr() (no 'period' column)")
    out = []
    for k, idx in df.groupby("period", sort=True).groups.items():
        if len(idx) < SHORT_PERIOD:
            out.append(_short_warning(int(k), int(min(idx)), int(max(idx)) + 1))
    return out


def short_period_warnings(n_points: int, rebase_at: Sequence[int] | None = None) -> list[str]:
    """The short-period warnings :func:`xmr` would give for a series of ``n_points`` points
    rebased at ``rebase_at``, without computing the chart (R ``ptd_add_short_group_warnings``)."""
    if isinstance(n_points, bool) or not isinstance(n_points, numbers.Integral):
        raise TypeError(f"n_points should be an integer, got {type(n_points).__name__}")
    rebases = _check_rebase(rebase_at, int(n_points))
    return [
        _short_warning(k, a, b)
        for k, (a, b) in enumerate(_periods(int(n_points), rebases))
        if b - a < SHORT_PERIOD
    ]


def _check_chart(df: Any, name: str = "df") -> pd.DataFrame:
    if not isinstance(df, pd.DataFrame):
        raise TypeError(
            f"{name} should be the DataFrame returned by xmr(), got {type(df).__name__}"
        )
    missing = [c for c in ("value", "lpl", "upl", "point_type") if c not in df.columns]
    if missing:
        raise ValueError(f"{name} should be the DataFrame returned by xmr(); missing {missing}")
    if len(df) == 0:
        raise ValueError(f"{name} has no rows")
    return df


def _improvement_of(df: pd.DataFrame, improvement: str | None) -> str:
    if improvement is None:
        improvement = df.attrs.get("improvement")
        if improvement is None:
            raise ValueError(
                "improvement is not known: pass improvement='increase', 'decrease' or 'neutral'"
            )
    return _check_improvement(improvement)


def variation_icon(df: pd.DataFrame, improvement: str | None = None) -> str:
    """The Making Data Count variation icon for the last point (R ``ptd_get_icons``).

    ``special_cause_improvement`` is ``improvement_high`` when increase is better, else
    ``improvement_low``; ``special_cause_concern`` is ``concern_low`` when increase is better,
    else ``concern_high``; neutral points give ``neutral_high`` / ``neutral_low``; otherwise
    ``common_cause``. ``improvement`` defaults to the one :func:`xmr` was called with.
    """
    df = _check_chart(df)
    improvement = _improvement_of(df, improvement)
    last = df["point_type"].iloc[-1]
    increase = improvement == "increase"
    if last == "special_cause_improvement":
        return "improvement_high" if increase else "improvement_low"
    if last == "special_cause_concern":
        return "concern_low" if increase else "concern_high"
    if last == "special_cause_neutral_high":
        return "neutral_high"
    if last == "special_cause_neutral_low":
        return "neutral_low"
    if last == "common_cause":
        return "common_cause"
    raise ValueError(f"df['point_type'] has an unknown value at the last row: {last!r}")


def assurance_icon(
    df: pd.DataFrame, target: float | None = None, improvement: str | None = None
) -> str | None:
    """Whether the process will meet a target, from the last point's limits (R
    ``ptd_calculate_assurance_type``).

    * target above ``upl``: ``"fail"`` when increase is better, ``"pass"`` when decrease is;
    * target below ``lpl``: ``"pass"`` when increase is better, ``"fail"`` when decrease is;
    * otherwise (between or on the limits) ``"hit_and_miss"`` (R: ``inconsistent``);
    * ``None`` when there is no target or the direction is neutral.

    ``target`` and ``improvement`` default to the ones :func:`xmr` was called with.
    """
    df = _check_chart(df)
    if target is None:
        target = df.attrs.get("target")
    improvement = _improvement_of(df, improvement)
    tgt = _check_target(target)
    if tgt is None or improvement == "neutral":
        return None
    increase = improvement == "increase"
    lpl = float(df["lpl"].iloc[-1])
    upl = float(df["upl"].iloc[-1])
    if tgt > upl:
        return "fail" if increase else "pass"
    if tgt < lpl:
        return "pass" if increase else "fail"
    return "hit_and_miss"


@dataclass(frozen=True)
class BeforeAfter:
    """Before and after a change went live (see :func:`before_after`)."""

    go_live_index: int
    n_before: int
    n_after: int
    mean_before: float
    mean_after: float
    change: float
    """``mean_after − mean_before``."""
    change_pct: float | None
    """The change as a percentage of ``mean_before`` (None when ``mean_before`` is 0)."""
    improvement: str
    special_cause_improvement_after: bool
    """A point on or after go-live is special-cause improvement."""
    special_cause_concern_after: bool
    """A point on or after go-live is special-cause concern."""
    summary: str


def _fmt(x: float) -> str:
    if x == 0:
        return "0"
    if abs(x) >= 1000:
        return f"{x:,.0f}"
    s = f"{x:.3g}" if abs(x) < 1 else f"{x:.1f}"
    return s.removesuffix(".0")


def before_after(
    values_or_df: pd.DataFrame | Sequence[float] | Iterable[float],
    go_live_index: int,
    improvement: str | None = None,
    *,
    screen_outliers: bool = False,
) -> BeforeAfter:
    """Compare the mean before and after go-live and say whether special cause appeared.

    Given raw values, the chart is :func:`xmr` with ``fix_after_n_points=go_live_index``: the
    limits come from the points before go-live and are extended after it, so a change that
    worked shows as special cause on or after go-live (MDC's "fix the baseline, then look for
    signals"). Given a DataFrame from :func:`xmr`, its point types are used as they are (if it
    was rebased at go-live, the after period is judged against its own limits).
    ``improvement`` defaults to ``"increase"`` for values, or the DataFrame's own direction.
    """
    if isinstance(go_live_index, bool) or not isinstance(go_live_index, numbers.Integral):
        raise TypeError(f"go_live_index should be an integer, got {type(go_live_index).__name__}")
    go = int(go_live_index)
    if isinstance(values_or_df, pd.DataFrame):
        df = _check_chart(values_or_df, "values_or_df")
        improvement = _improvement_of(df, improvement)
        y = df["value"].to_numpy(dtype=float)
    else:
        improvement = _check_improvement("increase" if improvement is None else improvement)
        y = _check_values(values_or_df)
        df = None
    n = len(y)
    if go < 1 or go > n - 1:
        raise ValueError(
            f"go_live_index = {go} is out of range: it should leave at least one point before "
            f"and one after, so 1 to {n - 1} for {n} points"
        )
    if df is None:
        if go < 2:
            raise ValueError(
                f"go_live_index = {go} leaves {go} point before go-live; the baseline needs at "
                "least 2"
            )
        df = xmr(y, improvement, screen_outliers=screen_outliers, fix_after_n_points=go)
    before, after = y[:go], y[go:]
    mb, ma = _mean(before), _mean(after)
    change = ma - mb
    pct = None if mb == 0 else 100.0 * change / abs(mb)
    types = df["point_type"].iloc[go:]
    imp_after = bool((types == "special_cause_improvement").any())
    con_after = bool((types == "special_cause_concern").any())

    if change == 0:
        moved = f"the mean stayed at {_fmt(mb)}"
    else:
        verb = "rose" if change > 0 else "fell"
        pct_s = "" if pct is None else f", {pct:+.1f}%"
        moved = f"the mean {verb} from {_fmt(mb)} to {_fmt(ma)} ({change:+.3g}{pct_s})"
    if improvement == "neutral":
        neutral = types.isin(["special_cause_neutral_high", "special_cause_neutral_low"]).any()
        signal = (
            "special-cause variation appeared on or after go-live"
            if neutral
            else "there was no special-cause variation on or after go-live"
        )
    elif imp_after and con_after:
        signal = "both special-cause improvement and concern appeared on or after go-live"
    elif imp_after:
        signal = "special-cause improvement appeared on or after go-live"
    elif con_after:
        signal = "special-cause concern appeared on or after go-live"
    else:
        signal = "there was no special-cause variation on or after go-live, only common cause"
    summary = f"After go-live (point {go + 1} of {n}) {moved}, and {signal}."
    return BeforeAfter(
        go_live_index=go,
        n_before=len(before),
        n_after=len(after),
        mean_before=mb,
        mean_after=ma,
        change=change,
        change_pct=pct,
        improvement=improvement,
        special_cause_improvement_after=imp_after,
        special_cause_concern_after=con_after,
        summary=summary,
    )
