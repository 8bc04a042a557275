"""Discrete choice experiments: an efficient design, a conditional logit, importance and shares.

**Attributes and coding.** An attribute has ``L ≥ 2`` categorical levels and enters the utility
through ``L − 1`` coded columns. With *effects coding* level ``l < L`` is the unit vector ``e_l``
and the last level is ``(−1, …, −1)``, so the part-worths of an attribute sum to zero; with *dummy
coding* the first level is the reference ``(0, …, 0)`` and level ``l > 1`` is ``e_{l−1}``. An
opt-out ("none of these") alternative has all attribute columns 0 and one alternative-specific
constant, the parameter ``"none"``. ``K`` is the number of parameters.

**The model.** Respondent ``n`` in choice set ``s`` picks alternative ``j`` with the multinomial
(conditional) logit probability ``p_sj = exp(x_sjᵀβ) / Σ_i exp(x_siᵀβ)``: the choice of the
alternative with the highest utility ``x_sjᵀβ + ε_sj`` with i.i.d. Gumbel ``ε``.

**Design efficiency.** The Fisher information of a design of ``S`` sets is
``I(β) = Σ_s X_sᵀ (P_s − p_s p_sᵀ) X_s`` with ``X_s`` the coded ``J × K`` set and
``P_s = diag(p_s)``. The D-error is ``det I(β)^(−1/K)`` (lower is better), at zero priors by default
(the design is then "utility neutral"), at given priors, or averaged over prior draws (the Bayesian
D-error). The D-efficiency reported here is ``1 / (S · D-error) = det(I(β)/S)^(1/K)``, the geometric
mean of the eigenvalues of the information per choice set, so designs of different sizes compare.
:func:`choice_design` searches by seeded coordinate exchange (Meyer and Nachtsheim 1995; Kessels
et al. 2006 for choice designs): from random starts each attribute of each alternative is changed
to the level that lowers the D-error most, pass after pass, until no change helps. Only valid sets
are visited: no two identical alternatives, no repeated set and no dominated alternative (another
alternative at least as good on every ordered attribute and better on one).

**Estimation.** :class:`ConditionalLogit` maximises ``ℓ(β) = Σ_s [x_s,chosenᵀβ − log Σ_j exp(x_sjᵀβ)]``
with statsmodels' ``GenericLikelihoodModel`` (its Newton optimiser, with the analytic score
``Σ_s (x_s,chosen − x̄_s)``, ``x̄_s = Σ_j p_sj x_sj``, and Hessian ``−I(β)``). statsmodels'
own ``ConditionalLogit.fit`` accepts no ``cov_type``, so the respondent-clustered (sandwich)
covariance is computed here: ``V = G/(G−1) · H⁻¹ (Σ_g u_g u_gᵀ) H⁻¹`` with ``H`` the Hessian,
``u_g`` the score summed over the sets of respondent ``g`` and ``G`` the number of respondents.

**Importance and shares.** The part-worths of an attribute are ``C_a β_a`` (its coding matrix
times its coefficients); its relative importance is the range of its part-worths over the sum of
ranges of all attributes, in per cent (the same under both codings). Uncertainty comes from seeded
draws ``β ~ N(β̂, V)`` (the range is not differentiable where two levels tie). The preference
shares of profiles competing in one set are the logit probabilities; their standard errors are by
the delta method, ``∂p/∂β = (P − ppᵀ) Z``, and their intervals are built on the log-odds scale
so they stay within (0, 1).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy.special import expit, logsumexp
from scipy.stats import norm
from sklearn.base import BaseEstimator

Coding = Literal["effects", "dummy"]
_CODINGS = ("effects", "dummy")
_BETTER = (None, "first", "last")
OPT_OUT = "none"  # the name of the opt-out's alternative-specific constant


@dataclass(frozen=True)
class Attribute:
    """An attribute of the alternatives and its levels.

    ``better`` declares an ordered attribute: ``"last"`` when the levels are listed from worst to
    best (for example a quality scale), ``"first"`` when listed from best to worst (for example
    cost or waiting time), ``None`` (the default) for a nominal attribute. Only ordered attributes
    take part in the dominance check.
    """

    name: str
    levels: tuple
    better: Literal["first", "last"] | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"an attribute name should be a non-empty string, got {self.name!r}")
        if isinstance(self.levels, str) or not isinstance(self.levels, Iterable):
            raise TypeError(
                f"the levels of attribute {self.name!r} should be a list, got {self.levels!r}"
            )
        levels = tuple(self.levels)
        object.__setattr__(self, "levels", levels)
        if len(levels) < 2:
            raise ValueError(
                f"attribute {self.name!r} needs at least 2 levels, got {len(levels)}: {list(levels)}"
            )
        if any(_is_missing(v) for v in levels):
            raise ValueError(f"attribute {self.name!r} has a missing level: {list(levels)}")
        if len(set(levels)) != len(levels):
            seen, dup = set(), []
            for v in levels:
                if v in seen:
                    dup.append(v)
                seen.add(v)
            raise ValueError(f"attribute {self.name!r} repeats the level(s) {dup}")
        if self.better not in _BETTER:
            raise ValueError(
                f"better for attribute {self.name!r} should be 'first', 'last' or None, "
                f"got {self.better!r}"
            )

    @property
    def ordered(self) -> bool:
        return self.better is not None

    def index(self, level: Any) -> int:
        """The position of ``level`` among the levels; a clear error when it is not one of them."""
        try:
            return self.levels.index(level)
        except ValueError:
            raise ValueError(
                f"attribute {self.name!r} has no level {level!r}; its levels are {list(self.levels)}"
            ) from None


def _plain(v: Any) -> Any:
    """A NumPy scalar as the Python value, for readable messages."""
    return v.item() if isinstance(v, np.generic) else v


def _is_missing(v: Any) -> bool:
    if v is None:
        return True
    try:
        return bool(pd.isna(v))
    except (TypeError, ValueError):
        return False


def check_attributes(attributes: Any) -> tuple[Attribute, ...]:
    """Attributes as a tuple of :class:`Attribute` from ``Attribute`` objects or ``{name: levels}``."""
    if isinstance(attributes, Attribute):
        attributes = [attributes]
    if isinstance(attributes, Mapping):
        attributes = [Attribute(str(k), tuple(v)) for k, v in attributes.items()]
    if isinstance(attributes, str) or not isinstance(attributes, Iterable):
        raise TypeError(
            "attributes should be a list of Attribute or a dict {name: levels}, "
            f"got {type(attributes).__name__}"
        )
    out = []
    for i, a in enumerate(attributes):
        if not isinstance(a, Attribute):
            raise TypeError(f"attributes[{i}] should be an Attribute, got {type(a).__name__}")
        out.append(a)
    if not out:
        raise ValueError("at least one attribute is needed")
    names = [a.name for a in out]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f"attribute names should be unique, repeated: {dup}")
    reserved = {"set", "block", "alternative", "opt_out"}
    clash = sorted(reserved & set(names))
    if clash:
        raise ValueError(f"attribute names {clash} are reserved for design columns")
    return tuple(out)


def _coding_matrix(n_levels: int, coding: str) -> np.ndarray:
    """``L × (L−1)``: row ``l`` is the coded level ``l``."""
    if coding == "effects":
        return np.vstack([np.eye(n_levels - 1), -np.ones((1, n_levels - 1))])
    return np.vstack([np.zeros((1, n_levels - 1)), np.eye(n_levels - 1)])


def _check_coding(coding: Any) -> str:
    if coding not in _CODINGS:
        raise ValueError(f"coding should be 'effects' or 'dummy', got {coding!r}")
    return coding


class _Coder:
    """Level indices → coded rows; the parameter names."""

    def __init__(self, attributes: tuple[Attribute, ...], coding: str, opt_out: bool) -> None:
        self.attributes = attributes
        self.coding = _check_coding(coding)
        self.opt_out = opt_out
        self.matrices = [_coding_matrix(len(a.levels), coding) for a in attributes]
        names = []
        for a in attributes:
            coded = a.levels[:-1] if coding == "effects" else a.levels[1:]
            names += [f"{a.name}[{level}]" for level in coded]
        self.attribute_slices = []
        start = 0
        for a in attributes:
            self.attribute_slices.append(slice(start, start + len(a.levels) - 1))
            start += len(a.levels) - 1
        if opt_out:
            names.append(OPT_OUT)
        self.names = names
        self.k = len(names)
        # one lookup table per attribute, stacked: code[a][l] is the coded row of level l of a
        self._tables = []
        for a, C, sl in zip(attributes, self.matrices, self.attribute_slices, strict=True):
            T = np.zeros((len(a.levels), self.k))
            T[:, sl] = C
            self._tables.append(T)

    def encode(self, levels: np.ndarray, opt_out_rows: np.ndarray | None = None) -> np.ndarray:
        """``levels``: ``(…, A)`` integer level indices (ignored on opt-out rows) → ``(…, K)``."""
        levels = np.asarray(levels)
        X = np.zeros(levels.shape[:-1] + (self.k,))
        for a, T in enumerate(self._tables):
            X += T[levels[..., a]]
        if opt_out_rows is not None and opt_out_rows.any():
            X[opt_out_rows] = 0.0
            X[opt_out_rows, self.k - 1] = 1.0
        return X

    def levels_of(self, frame: pd.DataFrame, name: str = "X") -> tuple[np.ndarray, np.ndarray]:
        """Level indices ``(n, A)`` and the opt-out mask of a table with one column per attribute.

        A row is an opt-out when every attribute is missing.
        """
        missing_cols = [a.name for a in self.attributes if a.name not in frame.columns]
        if missing_cols:
            raise ValueError(
                f"{name} has no column for attribute(s) {missing_cols}; "
                f"its columns are {list(frame.columns)}"
            )
        n = len(frame)
        idx = np.zeros((n, len(self.attributes)), dtype=int)
        miss = np.zeros((n, len(self.attributes)), dtype=bool)
        for a, attr in enumerate(self.attributes):
            lookup = {level: i for i, level in enumerate(attr.levels)}
            for r, v in enumerate(frame[attr.name].tolist()):
                if _is_missing(v):
                    miss[r, a] = True
                    continue
                try:
                    idx[r, a] = lookup[v]
                except (KeyError, TypeError):
                    raise ValueError(
                        f"{name} row {r}: attribute {attr.name!r} has level {_plain(v)!r}, which is not "
                        f"among its levels {list(attr.levels)}"
                    ) from None
        opt = miss.all(axis=1)
        partial = miss.any(axis=1) & ~opt
        if partial.any():
            r = int(np.flatnonzero(partial)[0])
            gaps = [a.name for a, m in zip(self.attributes, miss[r], strict=True) if m]
            raise ValueError(
                f"{name} row {r} misses attribute(s) {gaps}; only an opt-out row (every "
                "attribute missing) may leave attributes empty"
            )
        if opt.any() and not self.opt_out:
            raise ValueError(
                f"{name} has opt-out rows (every attribute missing) but this model has no opt-out"
            )
        return idx, opt


def _check_priors(priors: Any, names: list[str]) -> np.ndarray:
    """Priors as an ``R × K`` array (``R = 1`` for fixed priors)."""
    k = len(names)
    if priors is None:
        return np.zeros((1, k))
    if isinstance(priors, Mapping):
        unknown = sorted(set(priors) - set(names))
        if unknown:
            raise ValueError(
                f"priors name unknown parameter(s) {unknown}; the parameters are {names}"
            )
        return np.array([[float(priors.get(n, 0.0)) for n in names]])
    arr = np.asarray(priors, dtype=float)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2 or arr.shape[1] != k:
        raise ValueError(
            f"priors should have {k} values (one per parameter {names}) or be an R × {k} array "
            f"of prior draws, got shape {np.shape(priors)}"
        )
    if not np.isfinite(arr).all():
        raise ValueError("priors should be finite numbers")
    return arr


def _set_information(X: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Fisher information of choice sets. ``X``: ``(…, J, K)``; ``B``: ``(R, K)`` → ``(…, R, K, K)``.

    ``X_sᵀ (diag p − p pᵀ) X_s`` with ``p = softmax(X_s β)`` for each prior draw ``β``.
    """
    U = X @ B.T  # (…, J, R)
    U = U - U.max(axis=-2, keepdims=True)
    P = np.exp(U)
    P /= P.sum(axis=-2, keepdims=True)
    M = np.einsum("...jr,...jk,...jl->...rkl", P, X, X)
    xbar = np.einsum("...jr,...jk->...rk", P, X)
    return M - xbar[..., :, None] * xbar[..., None, :]


def _d_errors(info: np.ndarray) -> np.ndarray:
    """``det(I)^(−1/K)`` over the last two axes; ``inf`` for a singular information matrix."""
    k = info.shape[-1]
    sign, logdet = np.linalg.slogdet(info)
    with np.errstate(over="ignore"):
        out = np.exp(-logdet / k)
    scale = max(1.0, float(np.abs(info).max(initial=0.0)))
    # a numerically singular matrix has det ≈ 0 relative to its scale
    singular = (sign <= 0) | (logdet < k * np.log(scale) - 30 * k)
    return np.where(singular, np.inf, out)


def d_error(
    design: pd.DataFrame,
    attributes: Any,
    *,
    coding: Coding = "effects",
    priors: Any = None,
    set_column: str = "set",
) -> float:
    """D-error ``det I(β)^(−1/K)`` of a tidy design (one row per alternative).

    ``I(β) = Σ_s X_sᵀ (diag p_s − p_s p_sᵀ) X_s``, the Fisher information of the conditional logit
    for one respondent answering every set; ``β`` = 0 unless ``priors`` are given (a dict by
    parameter name, ``K`` values, or an ``R × K`` array of draws, whose D-errors are averaged).
    Opt-out rows (every attribute missing) add the constant ``"none"``. ``inf`` when singular.
    """
    attrs = check_attributes(attributes)
    if not isinstance(design, pd.DataFrame):
        raise TypeError(f"design should be a pandas DataFrame, got {type(design).__name__}")
    if set_column not in design.columns:
        raise ValueError(
            f"design has no {set_column!r} column; its columns are {list(design.columns)}"
        )
    _, opt = _Coder(attrs, coding, opt_out=True).levels_of(design, name="design")
    coder = _Coder(attrs, coding, opt_out=bool(opt.any()))
    idx, opt = coder.levels_of(design, name="design")
    X = coder.encode(idx, opt)
    B = _check_priors(priors, coder.names)
    sets = pd.factorize(design[set_column])[0]
    sizes = np.bincount(sets)
    if (sizes < 2).any():
        raise ValueError("every choice set in the design needs at least 2 alternatives")
    info = np.zeros((B.shape[0], coder.k, coder.k))
    for s in range(sizes.size):
        info += _set_information(X[sets == s], B)
    return float(_d_errors(info).mean())


@dataclass
class ChoiceDesign:
    """A choice design and its efficiency.

    ``table`` has one row per alternative: ``block``, ``set`` (numbered within the whole design,
    block by block), ``alternative`` (1 … J; the opt-out is J + 1 with every attribute None) and one
    column per attribute holding its level (and ``opt_out`` when there is an opt-out).
    ``d_error``/``d_efficiency`` are those of the design found; ``random_d_error`` /
    ``random_d_efficiency`` those of the random start it was improved from.
    ``block_imbalance`` is ``Σ_b Σ_levels (n_b − n / B)²``: how far the level counts of each block
    are from an equal share of the design's.
    """

    table: pd.DataFrame
    attributes: tuple[Attribute, ...]
    coding: str
    opt_out: bool
    parameter_names: list[str]
    priors: np.ndarray
    d_error: float
    d_efficiency: float
    random_d_error: float
    random_d_efficiency: float
    block_imbalance: float
    n_passes: int

    @property
    def n_sets(self) -> int:
        return int(self.table["set"].nunique())

    def coded(self) -> pd.DataFrame:
        """The coded design matrix, one row per alternative, columns named by parameter."""
        coder = _Coder(self.attributes, self.coding, self.opt_out)
        idx, opt = coder.levels_of(self.table, name="design")
        return pd.DataFrame(coder.encode(idx, opt), columns=coder.names, index=self.table.index)


class _Search:
    """Coordinate exchange over a level-index design ``D`` of shape ``(S, J, A)``."""

    def __init__(
        self,
        coder: _Coder,
        n_sets: int,
        n_alternatives: int,
        B: np.ndarray,
        rng: np.random.Generator,
    ) -> None:
        self.coder = coder
        self.S, self.J = n_sets, n_alternatives
        self.n_levels = np.array([len(a.levels) for a in coder.attributes])
        self.B = B
        self.rng = rng
        self.ordered = [a for a, attr in enumerate(coder.attributes) if attr.ordered]
        self.opt_mask = np.zeros(self.J + coder.opt_out, dtype=bool)
        if coder.opt_out:
            self.opt_mask[-1] = True

    # -- validity ------------------------------------------------------------------------------
    def dominated(self, profiles: np.ndarray) -> bool:
        if not self.ordered:
            return False
        g = np.stack([profiles[:, a] for a in self.ordered], axis=1)
        for a, attr_i in enumerate(self.ordered):
            if self.coder.attributes[attr_i].better == "first":
                g[:, a] = self.n_levels[attr_i] - 1 - g[:, a]
        for i in range(len(g)):
            for j in range(len(g)):
                if i != j and (g[j] >= g[i]).all() and (g[j] > g[i]).any():
                    return True
        return False

    @staticmethod
    def key(profiles: np.ndarray) -> tuple:
        return tuple(sorted(map(tuple, profiles.tolist())))

    def valid(self, profiles: np.ndarray, keys: dict, s: int) -> bool:
        if len({tuple(p) for p in profiles.tolist()}) < len(profiles):
            return False
        other = keys.get(self.key(profiles))
        if other is not None and other != s:
            return False
        return not self.dominated(profiles)

    # -- information ---------------------------------------------------------------------------
    def encode_sets(self, D: np.ndarray) -> np.ndarray:
        """``(…, J, A)`` → ``(…, J (+1), K)`` with the opt-out row appended."""
        if self.coder.opt_out:
            pad = np.zeros(D.shape[:-2] + (1, D.shape[-1]), dtype=int)
            D = np.concatenate([D, pad], axis=-2)
        opt = np.broadcast_to(self.opt_mask, D.shape[:-1])
        return self.coder.encode(D, opt)

    def random_set(self, keys: dict, s: int) -> np.ndarray:
        for _ in range(2000):
            profiles = np.column_stack(
                [self.rng.integers(0, n, size=self.J) for n in self.n_levels]
            )
            if self.valid(profiles, keys, s):
                return profiles
        raise ValueError(
            f"could not draw a valid choice set (all {self.J} alternatives different, none "
            "dominated, no set repeated) in 2000 tries: too few valid sets for "
            f"n_sets={self.S}; use fewer sets, more levels or fewer ordered attributes"
        )

    def random_design(self) -> tuple[np.ndarray, dict]:
        for _ in range(100):
            D = np.zeros((self.S, self.J, len(self.n_levels)), dtype=int)
            keys: dict = {}
            for s in range(self.S):
                D[s] = self.random_set(keys, s)
                keys[self.key(D[s])] = s
            info = _set_information(self.encode_sets(D), self.B).sum(axis=0)
            if np.isfinite(_d_errors(info)).all():
                return D, keys
        raise ValueError(
            "100 random designs all had a singular information matrix: the parameters cannot be "
            "estimated from this many sets; add choice sets"
        )

    def criterion(self, D: np.ndarray) -> float:
        info = _set_information(self.encode_sets(D), self.B).sum(axis=0)
        return float(_d_errors(info).mean())

    def improve(self, D: np.ndarray, keys: dict, max_passes: int) -> tuple[np.ndarray, int]:
        set_info = _set_information(self.encode_sets(D), self.B)  # (S, R, K, K)
        total = set_info.sum(axis=0)
        crit = float(_d_errors(total).mean())
        passes = 0
        for _ in range(max_passes):
            passes += 1
            improved = False
            for s in range(self.S):
                for j in range(self.J):
                    for a, n in enumerate(self.n_levels):
                        current = D[s, j, a]
                        candidates = []
                        for level in range(n):
                            if level == current:
                                continue
                            trial = D[s].copy()
                            trial[j, a] = level
                            if self.valid(trial, keys, s):
                                candidates.append(trial)
                        if not candidates:
                            continue
                        C = np.stack(candidates)
                        infos = _set_information(self.encode_sets(C), self.B)  # (c, R, K, K)
                        totals = total[None] - set_info[s][None] + infos
                        errs = _d_errors(totals).mean(axis=1)
                        best = int(np.argmin(errs))
                        if errs[best] < crit * (1 - 1e-10):
                            del keys[self.key(D[s])]
                            D[s] = C[best]
                            keys[self.key(D[s])] = s
                            set_info[s] = infos[best]
                            total = totals[best]
                            crit = float(errs[best])
                            improved = True
            total = set_info.sum(axis=0)  # no drift from the running updates
            crit = float(_d_errors(total).mean())
            if not improved:
                break
        return D, passes


def _level_counts(D: np.ndarray, n_levels: np.ndarray) -> np.ndarray:
    """``(S, Σ L_a)``: how often each level of each attribute appears in each set."""
    return np.hstack(
        [
            np.stack([np.bincount(D[s, :, a], minlength=n) for s in range(D.shape[0])])
            for a, n in enumerate(n_levels)
        ]
    ).astype(float)


def block_imbalance(counts: np.ndarray, blocks: np.ndarray, n_blocks: int) -> float:
    """``Σ_b ‖T_b − T / B‖²`` with ``T_b`` the level counts of block ``b`` and ``T`` the total."""
    totals = np.stack([counts[blocks == b].sum(axis=0) for b in range(n_blocks)])
    expected = counts.sum(axis=0) / n_blocks
    return float(((totals - expected) ** 2).sum())


def _assign_blocks(counts: np.ndarray, n_blocks: int, rng: np.random.Generator) -> np.ndarray:
    """Equal-size blocks balancing level counts: random start, then best pairwise swaps.

    Swapping set ``s`` (block ``b``) and ``t`` (block ``c``) changes the imbalance by
    ``2 d·(e_b − e_c) + 2‖d‖²`` with ``d = n_t − n_s`` and ``e_b = T_b − T/B``.
    """
    S = counts.shape[0]
    blocks = rng.permutation(np.repeat(np.arange(n_blocks), S // n_blocks))
    if n_blocks == 1:
        return blocks
    expected = counts.sum(axis=0) / n_blocks
    diff = counts[None, :, :] - counts[:, None, :]  # diff[s, t] = n_t − n_s
    sq = (diff**2).sum(axis=2)
    for _ in range(10 * S * S):
        totals = np.stack([counts[blocks == b].sum(axis=0) for b in range(n_blocks)])
        e = (totals - expected)[blocks]  # (S, M): the excess of each set's block
        delta = 2 * np.einsum("stm,stm->st", diff, e[:, None, :] - e[None, :, :]) + 2 * sq
        delta[blocks[:, None] == blocks[None, :]] = np.inf
        s, t = np.unravel_index(int(np.argmin(delta)), delta.shape)
        if delta[s, t] >= -1e-9:
            break
        blocks[s], blocks[t] = blocks[t], blocks[s]
    return blocks


def choice_design(
    attributes: Any,
    *,
    n_sets: int,
    n_alternatives: int = 2,
    opt_out: bool = False,
    n_blocks: int = 1,
    coding: Coding = "effects",
    priors: Any = None,
    n_starts: int = 10,
    max_passes: int = 20,
    random_state: int | np.random.Generator | None = None,
) -> ChoiceDesign:
    """An efficient choice design by seeded coordinate exchange.

    ``attributes``: a list of :class:`Attribute` or ``{name: levels}``. ``n_sets`` choice sets of
    ``n_alternatives`` different profiles each (usually 2 or 3), plus an opt-out when ``opt_out``;
    split into ``n_blocks`` blocks of equal size (each respondent answers one block), chosen to
    balance the levels across blocks. The D-error (see the module docstring) is minimised at
    ``priors`` (zero by default; a dict by parameter name, ``K`` values, or an ``R × K`` array of
    prior draws for a Bayesian design) from ``n_starts`` random starts, each improved for at most
    ``max_passes`` passes; the best design is returned with the D-error of its random start.
    """
    attrs = check_attributes(attributes)
    coding = _check_coding(coding)
    for name, value, low in (
        ("n_sets", n_sets, 1),
        ("n_alternatives", n_alternatives, 2),
        ("n_blocks", n_blocks, 1),
        ("n_starts", n_starts, 1),
        ("max_passes", max_passes, 0),
    ):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"{name} should be an integer ≥ {low}, got {value!r}")
    if not isinstance(opt_out, bool | np.bool_):
        raise TypeError(f"opt_out should be True or False, got {opt_out!r}")
    if n_sets % n_blocks:
        raise ValueError(
            f"n_sets={n_sets} cannot be split into {n_blocks} blocks of the same size; "
            "choose n_sets divisible by n_blocks"
        )
    n_profiles = math.prod(len(a.levels) for a in attrs)
    if n_alternatives > n_profiles:
        raise ValueError(
            f"n_alternatives={n_alternatives} is more than the {n_profiles} possible profiles; "
            "alternatives in a set must differ"
        )
    n_possible = math.comb(n_profiles, n_alternatives)
    if n_sets > n_possible:
        raise ValueError(
            f"n_sets={n_sets} is more than the {n_possible} possible choice sets of "
            f"{n_alternatives} different profiles ({n_profiles} profiles); use fewer sets"
        )
    coder = _Coder(attrs, coding, bool(opt_out))
    B = _check_priors(priors, coder.names)
    rank = n_sets * (n_alternatives - 1 + bool(opt_out))
    if rank < coder.k:
        raise ValueError(
            f"{n_sets} sets of {n_alternatives} alternatives carry at most {rank} independent "
            f"comparisons but the model has {coder.k} parameters; add choice sets"
        )
    rng = np.random.default_rng(random_state)
    search = _Search(coder, n_sets, n_alternatives, B, rng)
    best = None
    for _ in range(n_starts):
        D0, keys = search.random_design()
        start_error = search.criterion(D0)
        D, passes = search.improve(D0.copy(), keys, max_passes)
        err = search.criterion(D)
        if best is None or err < best[1]:
            best = (D, err, start_error, passes)
    D, err, start_error, passes = best
    counts = _level_counts(D, search.n_levels)
    blocks = _assign_blocks(counts, n_blocks, rng)
    imbalance = block_imbalance(counts, blocks, n_blocks)
    order = np.argsort(blocks, kind="stable")
    rows = []
    for new_s, s in enumerate(order, start=1):
        for j in range(n_alternatives):
            row = {"block": int(blocks[s]) + 1, "set": new_s, "alternative": j + 1}
            for a, attr in enumerate(attrs):
                row[attr.name] = attr.levels[D[s, j, a]]
            if opt_out:
                row["opt_out"] = False
            rows.append(row)
        if opt_out:
            row = {"block": int(blocks[s]) + 1, "set": new_s, "alternative": n_alternatives + 1}
            row.update({attr.name: None for attr in attrs})
            row["opt_out"] = True
            rows.append(row)
    table = pd.DataFrame(rows)
    for attr in attrs:  # keep levels as given (no silent float conversion of ints with None)
        table[attr.name] = table[attr.name].astype(object)
    return ChoiceDesign(
        table=table,
        attributes=attrs,
        coding=coding,
        opt_out=bool(opt_out),
        parameter_names=list(coder.names),
        priors=B if B.shape[0] > 1 else B[0],
        d_error=err,
        d_efficiency=1.0 / (n_sets * err),
        random_d_error=start_error,
        random_d_efficiency=1.0 / (n_sets * start_error),
        block_imbalance=imbalance,
        n_passes=passes,
    )


def _lazy_generic_model() -> type:
    """The statsmodels likelihood model, built on first use (statsmodels imports slowly)."""
    from statsmodels.base.model import GenericLikelihoodModel

    class ConditionalLogitLikelihood(GenericLikelihoodModel):
        """Rows are alternatives; ``situation`` numbers each choice situation 0 … S−1.

        The log-likelihood of row ``r`` in situation ``s`` is ``y_r (x_rᵀβ − log Σ_j exp(x_jᵀβ))``,
        so the rows of a situation sum to its log-likelihood.
        """

        def __init__(self, endog: Any, exog: Any, situation: np.ndarray, **kwds: Any) -> None:
            super().__init__(endog, exog, missing="none", **kwds)
            self.situation = np.asarray(situation)
            self.n_situations = int(self.situation.max()) + 1
            self.df_model = float(self.exog.shape[1])  # no constant: every parameter counts
            self.df_resid = float(self.exog.shape[0] - self.exog.shape[1])  # rows: alternatives
            self.k_constant = 0

        def _probs(self, params: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            u = self.exog @ params
            top = np.full(self.n_situations, -np.inf)
            np.maximum.at(top, self.situation, u)
            e = np.exp(u - top[self.situation])
            denom = np.bincount(self.situation, weights=e, minlength=self.n_situations)
            lse = top + np.log(denom)
            return e / denom[self.situation], lse

        def _xbar(self, p: np.ndarray) -> np.ndarray:
            k = self.exog.shape[1]
            xbar = np.zeros((self.n_situations, k))
            np.add.at(xbar, self.situation, p[:, None] * self.exog)
            return xbar

        def loglikeobs(self, params: np.ndarray) -> np.ndarray:
            _, lse = self._probs(params)
            return self.endog * (self.exog @ params - lse[self.situation])

        def loglike(self, params: np.ndarray) -> float:
            return float(self.loglikeobs(params).sum())

        def score_obs(self, params: np.ndarray) -> np.ndarray:
            p, _ = self._probs(params)
            return self.endog[:, None] * (self.exog - self._xbar(p)[self.situation])

        def score(self, params: np.ndarray) -> np.ndarray:
            p, _ = self._probs(params)
            return self.exog.T @ (self.endog - p)

        def hessian(self, params: np.ndarray) -> np.ndarray:
            p, _ = self._probs(params)
            xbar = self._xbar(p)
            return -(self.exog.T @ (p[:, None] * self.exog) - xbar.T @ xbar)

    return ConditionalLogitLikelihood


def _column_or_array(X: pd.DataFrame, value: Any, name: str) -> np.ndarray:
    if isinstance(value, str) and value in X.columns:
        return X[value].to_numpy()
    if isinstance(value, str):
        raise ValueError(
            f"{name}={value!r} is not a column of X; its columns are {list(X.columns)}"
        )
    arr = np.asarray(value, dtype=object) if value is not None else None
    if arr is None or arr.ndim != 1:
        raise ValueError(
            f"{name} should be a column name of X or a 1-D array with one entry per row"
        )
    if arr.shape[0] != len(X):
        raise ValueError(f"{name} has {arr.shape[0]} entries but X has {len(X)} rows")
    return arr


class ConditionalLogit(BaseEstimator):
    """Conditional (multinomial) logit for choice data, with respondent-clustered standard errors.

    ``fit(X, y, choice_set=…, respondent=…)`` takes one row per alternative shown: ``X`` a
    DataFrame with one column per attribute holding its level (an opt-out row has every attribute
    missing and gets the constant ``"none"``), ``y`` 1 for the chosen alternative and 0 otherwise
    (exactly one per choice situation), ``choice_set`` and ``respondent`` identifying the situation
    (a set number may be shared by respondents). Each of ``y``, ``choice_set`` and ``respondent``
    may be a column name of ``X``.

    The likelihood is maximised by statsmodels' ``GenericLikelihoodModel`` (Newton, analytic score
    and Hessian); the covariance is the respondent-clustered sandwich with factor ``G/(G−1)``.

    Learned attributes: ``coef_``, ``se_``, ``z_``, ``p_values_`` (Series by parameter name),
    ``conf_int_`` (DataFrame ``lower``/``upper`` at level ``1 − alpha``), ``cov_`` (clustered),
    ``cov_model_`` (the inverse information, not clustered), ``loglik_``, ``loglik_null_`` (all
    coefficients zero), ``pseudo_r2_`` (McFadden, ``1 − ℓ(β̂)/ℓ(0)``), ``n_respondents_``,
    ``n_choice_sets_`` (situations answered), ``n_obs_`` (rows), ``parameter_names_``,
    ``converged_`` and ``results_`` (the statsmodels results, carrying the clustered covariance).
    """

    def __init__(
        self,
        attributes: Any,
        *,
        coding: Coding = "effects",
        alpha: float = 0.05,
        max_iter: int = 100,
    ) -> None:
        self.attributes = attributes
        self.coding = coding
        self.alpha = alpha
        self.max_iter = max_iter

    # -- fitting -------------------------------------------------------------------------------
    def fit(self, X: Any, y: Any, *, choice_set: Any, respondent: Any) -> ConditionalLogit:
        attrs = check_attributes(self.attributes)
        _check_coding(self.coding)
        if not (isinstance(self.alpha, float | int) and 0 < self.alpha < 1):
            raise ValueError(f"alpha should be between 0 and 1, got {self.alpha!r}")
        if not isinstance(X, pd.DataFrame):
            raise TypeError(
                f"X should be a pandas DataFrame with one column per attribute, got "
                f"{type(X).__name__}"
            )
        X = X.reset_index(drop=True)
        if len(X) == 0:
            raise ValueError("X has no rows")
        chosen = _column_or_array(X, y, "y")
        sets = _column_or_array(X, choice_set, "choice_set")
        resp = _column_or_array(X, respondent, "respondent")
        for name, arr in (("choice_set", sets), ("respondent", resp)):
            gaps = [i for i, v in enumerate(arr) if _is_missing(v)]
            if gaps:
                raise ValueError(
                    f"{name} is missing in {len(gaps)} row(s), the first row {gaps[0]}"
                )
        try:
            yv = np.asarray(chosen, dtype=float)
        except (TypeError, ValueError):
            raise ValueError("y should hold 0 and 1 (1 = chosen)") from None
        if not np.isin(yv, [0.0, 1.0]).all():
            bad = pd.unique(yv[~np.isin(yv, [0.0, 1.0])])[:5].tolist()
            raise ValueError(f"y should hold only 0 and 1 (1 = chosen), found {bad}")

        situation_keys = pd.MultiIndex.from_arrays([pd.Index(resp), pd.Index(sets)])
        situation, uniques = pd.factorize(situation_keys)
        n_situations = len(uniques)
        size = np.bincount(situation, minlength=n_situations)
        n_chosen = np.bincount(situation, weights=yv, minlength=n_situations)
        bad = np.flatnonzero(n_chosen != 1)
        if bad.size:
            r, s = map(_plain, uniques[bad[0]])
            raise ValueError(
                f"each choice situation needs exactly one chosen alternative; respondent {r!r}, "
                f"set {s!r} has {int(n_chosen[bad[0]])} ({bad.size} situation(s) in all)"
            )
        few = np.flatnonzero(size < 2)
        if few.size:
            r, s = map(_plain, uniques[few[0]])
            raise ValueError(
                f"respondent {r!r}, set {s!r} has only one alternative; a choice needs at least 2"
            )
        groups, respondents = pd.factorize(pd.Index(resp))
        if len(respondents) < 2:
            raise ValueError("clustered standard errors need at least 2 respondents")

        probe = _Coder(attrs, self.coding, opt_out=True)
        _, opt = probe.levels_of(X)
        coder = _Coder(attrs, self.coding, opt_out=bool(opt.any()))
        idx, opt = coder.levels_of(X)
        Xc = coder.encode(idx, opt)
        self._check_identified(Xc, situation, n_situations, coder, idx, opt)

        Model = _lazy_generic_model()
        exog = pd.DataFrame(Xc, columns=coder.names)
        model = Model(pd.Series(yv, name="chosen"), exog, situation)
        start = np.zeros(coder.k)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # convergence is checked below, with a clear message
            fitted = model.fit(
                start_params=start, method="newton", maxiter=self.max_iter, disp=False
            )
        params = np.asarray(fitted.params, dtype=float)
        converged = bool(fitted.mle_retvals.get("converged", False))
        H = model.hessian(params)
        H_inv = np.linalg.inv(H)
        scores = model.score_obs(params)
        G = len(respondents)
        u = np.zeros((G, coder.k))
        np.add.at(u, groups, scores)
        meat = u.T @ u
        cov = G / (G - 1) * H_inv @ meat @ H_inv
        cov = (cov + cov.T) / 2
        if not converged or np.abs(params).max(initial=0) > 30:
            warnings.warn(
                "the conditional logit did not converge to finite coefficients (a level that is "
                "always or never chosen?); estimates and standard errors are unreliable",
                RuntimeWarning,
                stacklevel=2,
            )

        names = list(coder.names)
        se = np.sqrt(np.clip(np.diag(cov), 0, None))
        z = np.divide(params, se, out=np.full_like(params, np.nan), where=se > 0)
        crit = norm.ppf(1 - self.alpha / 2)
        self.parameter_names_ = names
        self.coef_ = pd.Series(params, index=names, name="coef")
        self.cov_ = pd.DataFrame(cov, index=names, columns=names)
        self.cov_model_ = pd.DataFrame(-H_inv, index=names, columns=names)
        self.se_ = pd.Series(se, index=names, name="se")
        self.z_ = pd.Series(z, index=names, name="z")
        self.p_values_ = pd.Series(2 * norm.sf(np.abs(z)), index=names, name="p")
        self.conf_int_ = pd.DataFrame(
            {"lower": params - crit * se, "upper": params + crit * se}, index=names
        )
        self.loglik_ = float(model.loglike(params))
        self.loglik_null_ = float(-np.log(size).sum())
        self.pseudo_r2_ = 1.0 - self.loglik_ / self.loglik_null_
        self.n_respondents_ = G
        self.n_choice_sets_ = n_situations
        self.n_obs_ = len(X)
        self.converged_ = converged
        self.opt_out_ = coder.opt_out
        self.results_ = self._clustered_results(model, fitted, cov, groups, G)
        self._coder = coder
        return self

    @staticmethod
    def _check_identified(
        Xc: np.ndarray,
        situation: np.ndarray,
        n_situations: int,
        coder: _Coder,
        idx: np.ndarray,
        opt: np.ndarray,
    ) -> None:
        """Within-situation variation must identify every parameter."""
        means = np.zeros((n_situations, Xc.shape[1]))
        np.add.at(means, situation, Xc)
        means /= np.bincount(situation, minlength=n_situations)[:, None]
        W = Xc - means[situation]
        if np.linalg.matrix_rank(W) == Xc.shape[1]:
            return
        unseen = []
        for a, attr in enumerate(coder.attributes):
            shown = set(idx[~opt, a].tolist())
            unseen += [f"{attr.name}={lv!r}" for i, lv in enumerate(attr.levels) if i not in shown]
        detail = (
            f"level(s) never shown: {', '.join(unseen)}"
            if unseen
            else "levels are collinear in the sets"
        )
        raise ValueError(
            "the coefficients are not identified by the choices: the attribute levels do not vary "
            f"enough within choice sets ({detail})"
        )

    @staticmethod
    def _clustered_results(model: Any, fitted: Any, cov: np.ndarray, groups: Any, G: int) -> Any:
        """statsmodels results whose ``summary()``, ``bse`` and ``conf_int()`` use ``cov``."""
        from statsmodels.base.model import GenericLikelihoodModelResults, LikelihoodModelResults

        base = LikelihoodModelResults(model, np.asarray(fitted.params), normalized_cov_params=cov)
        base.mle_retvals = fitted.mle_retvals
        base.mle_settings = fitted.mle_settings
        res = GenericLikelihoodModelResults(model, base)
        res.cov_type = "cluster"
        res.cov_kwds = {
            "description": f"Standard errors clustered by respondent ({G} clusters), "
            "sandwich with factor G/(G-1)"
        }
        res.n_groups = G
        return res

    def _check_fitted(self) -> None:
        if not hasattr(self, "coef_"):
            raise RuntimeError("this ConditionalLogit is not fitted yet; call fit first")

    # -- reporting -----------------------------------------------------------------------------
    def summary_frame(self) -> pd.DataFrame:
        """Coefficients with clustered SE, z, p and the confidence interval, one row each."""
        self._check_fitted()
        return pd.DataFrame(
            {
                "coef": self.coef_,
                "se": self.se_,
                "z": self.z_,
                "p": self.p_values_,
                "ci_lower": self.conf_int_["lower"],
                "ci_upper": self.conf_int_["upper"],
            }
        )

    def summary(self) -> Any:
        """statsmodels' summary table, with the clustered standard errors."""
        self._check_fitted()
        return self.results_.summary(title="Conditional logit (clustered by respondent)")

    def _part_worth_matrix(self) -> tuple[list[tuple[str, Any]], np.ndarray, list[slice]]:
        """Rows (attribute, level), the matrix A with part-worths = A β, and rows per attribute."""
        coder = self._coder
        rows, blocks, spans, start = [], [], [], 0
        for attr, C, sl in zip(
            coder.attributes, coder.matrices, coder.attribute_slices, strict=True
        ):
            block = np.zeros((len(attr.levels), coder.k))
            block[:, sl] = C
            blocks.append(block)
            rows += [(attr.name, level) for level in attr.levels]
            spans.append(slice(start, start + len(attr.levels)))
            start += len(attr.levels)
        return rows, np.vstack(blocks), spans

    def part_worths(self) -> pd.DataFrame:
        """Utility of every level (``C_a β_a``) with its clustered standard error."""
        self._check_fitted()
        rows, A, _ = self._part_worth_matrix()
        pw = A @ self.coef_.to_numpy()
        se = np.sqrt(np.clip(np.einsum("ik,kl,il->i", A, self.cov_.to_numpy(), A), 0, None))
        return pd.DataFrame(
            {
                "attribute": [r[0] for r in rows],
                "level": [r[1] for r in rows],
                "part_worth": pw,
                "se": se,
            }
        )

    def relative_importance(
        self, *, n_draws: int = 2000, random_state: int | None = 0
    ) -> pd.DataFrame:
        """Relative importance of each attribute in per cent, with simulated uncertainty.

        ``importance_a = 100 · range_a / Σ_b range_b`` with ``range_a = max_l w_al − min_l w_al``
        over the part-worths ``w_a = C_a β_a``. ``se`` is the standard deviation and
        ``lower``/``upper`` the ``alpha/2`` and ``1 − alpha/2`` quantiles of the importance over
        ``n_draws`` seeded draws ``β ~ N(β̂, V_clustered)``.
        """
        self._check_fitted()
        if isinstance(n_draws, bool) or not isinstance(n_draws, int | np.integer) or n_draws < 2:
            raise ValueError(f"n_draws should be an integer ≥ 2, got {n_draws!r}")
        rows, A, spans = self._part_worth_matrix()

        def importance(betas: np.ndarray) -> np.ndarray:
            pw = betas @ A.T  # (n, levels)
            ranges = np.stack([np.ptp(pw[:, sp], axis=1) for sp in spans], axis=1)
            total = ranges.sum(axis=1, keepdims=True)
            return 100 * np.divide(ranges, total, out=np.zeros_like(ranges), where=total > 0)

        point = importance(self.coef_.to_numpy()[None])[0]
        rng = np.random.default_rng(random_state)
        draws = rng.multivariate_normal(
            self.coef_.to_numpy(), self.cov_.to_numpy(), size=n_draws, method="eigh"
        )
        sims = importance(draws)
        q = [self.alpha / 2, 1 - self.alpha / 2]
        lower, upper = np.quantile(sims, q, axis=0)
        return pd.DataFrame(
            {
                "attribute": [a.name for a in self._coder.attributes],
                "importance": point,
                "se": sims.std(axis=0, ddof=1),
                "lower": lower,
                "upper": upper,
            }
        )

    def _design_rows(self, profiles: Any, name: str) -> tuple[np.ndarray, pd.DataFrame]:
        if isinstance(profiles, pd.DataFrame):
            frame = profiles.reset_index(drop=True)
        else:
            if isinstance(profiles, Mapping) or not isinstance(profiles, Sequence):
                raise TypeError(
                    f"{name} should be a list of dicts {{attribute: level}} or a DataFrame"
                )
            for i, p in enumerate(profiles):
                if p is not None and not isinstance(p, Mapping):
                    raise TypeError(f"{name}[{i}] should be a dict {{attribute: level}} or None")
            frame = pd.DataFrame(
                [
                    {a.name: None for a in self._coder.attributes} if p is None else dict(p)
                    for p in profiles
                ]
            )
        known = {a.name for a in self._coder.attributes}
        unknown = [c for c in frame.columns if c not in known]
        if unknown:
            raise ValueError(
                f"unknown attribute(s) {unknown} in {name}; the attributes are {sorted(known)}"
            )
        idx, opt = self._coder.levels_of(frame, name=name)
        return self._coder.encode(idx, opt), frame

    def shares(self, profiles: Any, *, opt_out: bool = False) -> pd.DataFrame:
        """Preference shares of ``profiles`` competing in one choice set, with uncertainty.

        ``profiles``: a list of dicts ``{attribute: level}`` (or a DataFrame, one row each);
        ``opt_out=True`` adds the no-choice alternative (models fitted with one). ``share`` is the
        logit probability ``p = softmax(Z β̂)``; ``se`` is by the delta method,
        ``Var p = J V Jᵀ`` with ``J = (diag p − p pᵀ) Z``; ``lower``/``upper`` are
        ``expit(logit p ± z · se / (p (1 − p)))``.
        """
        self._check_fitted()
        Z, frame = self._design_rows(profiles, "profiles")
        if len(Z) < 1:
            raise ValueError("profiles is empty")
        labels = [f"profile {i + 1}" for i in range(len(Z))]
        if opt_out:
            if not self.opt_out_:
                raise ValueError("this model was fitted without an opt-out alternative")
            row = np.zeros((1, Z.shape[1]))
            row[0, -1] = 1.0
            Z = np.vstack([Z, row])
            labels.append(OPT_OUT)
        beta = self.coef_.to_numpy()
        u = Z @ beta
        p = np.exp(u - logsumexp(u))
        Jac = (np.diag(p) - np.outer(p, p)) @ Z
        var = np.einsum("ik,kl,il->i", Jac, self.cov_.to_numpy(), Jac)
        se = np.sqrt(np.clip(var, 0, None))
        crit = norm.ppf(1 - self.alpha / 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            logit = np.log(p) - np.log1p(-p)
            se_logit = se / (p * (1 - p))
            lower = np.where(p < 1, expit(logit - crit * se_logit), 1.0)
            upper = np.where(p < 1, expit(logit + crit * se_logit), 1.0)
        out = pd.DataFrame({"alternative": labels})
        for a in self._coder.attributes:
            values = frame[a.name].tolist() + ([None] if opt_out else [])
            out[a.name] = pd.Series(values, dtype=object)
        out["share"] = p
        out["se"] = se
        out["lower"] = lower
        out["upper"] = upper
        return out

    def predict_proba(self, X: Any, *, choice_set: Any) -> np.ndarray:
        """Choice probability of every row of ``X`` within its choice set (rows of a set sum to 1)."""
        self._check_fitted()
        if not isinstance(X, pd.DataFrame):
            raise TypeError(f"X should be a pandas DataFrame, got {type(X).__name__}")
        X = X.reset_index(drop=True)
        sets = pd.factorize(pd.Index(_column_or_array(X, choice_set, "choice_set")))[0]
        cols = [c for c in X.columns if c in {a.name for a in self._coder.attributes}]
        Z, _ = self._design_rows(X[cols], "X")
        u = Z @ self.coef_.to_numpy()
        top = np.full(sets.max() + 1, -np.inf)
        np.maximum.at(top, sets, u)
        e = np.exp(u - top[sets])
        return e / np.bincount(sets, weights=e)[sets]
