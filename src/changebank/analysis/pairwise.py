"""Pairwise ranking for a wiki survey: Bradley–Terry scores with uncertainty, and adaptive pairs.

A participant sees two ideas and picks one, or says they cannot decide. With ``n`` ideas and a
log-strength ``θ_i`` for each, the Bradley–Terry model says

    P(i beats j) = σ(θ_i − θ_j) = 1 / (1 + exp(−(θ_i − θ_j))).

**Fit.** ``θ`` is the maximum a posteriori estimate under independent Gaussian priors
``θ_i ~ N(0, τ²)`` (``τ`` is ``prior``). With ``W_ij`` the number of times ``i`` beat ``j``, the log
posterior (up to a constant) is

    L(θ) = Σ_{i,j} W_ij log σ(θ_i − θ_j) − Σ_i θ_i² / (2τ²),

which is strictly concave, so Newton's method (with step halving) finds its single maximum. The
prior keeps every strength finite: an idea that has only won, only lost or never been compared gets
a finite strength pulled towards 0, with a wide interval. At the maximum the gradient of the
likelihood part sums to zero over ideas, so ``Σ θ_i = 0``: strengths are centred.

**Cannot decide.** With ``ties="ignore"`` (the default: the answer states no preference) an
undecided pair adds nothing to the likelihood but is counted (``n_undecided_``, ``n_comparisons_``).
With ``ties="half"`` it counts as half a win for each side (``W_ij`` and ``W_ji`` each grow by ½),
which pulls the two strengths together.

**Score.** The score of idea ``i`` is All Our Ideas' "chance to beat a randomly chosen other idea":

    s_i = (1 / (n − 1)) · Σ_{j ≠ i} σ(θ_i − θ_j),

a probability in [0, 1] (0.5 for every idea before any vote). It depends only on differences of
strengths.

**Uncertainty.** The posterior is approximated by a Gaussian at the maximum (Laplace), with
covariance ``Σ = H⁻¹`` where ``H`` is the Hessian of ``−L``:

    H_ii = Σ_j N_ij p_ij (1 − p_ij) + 1/τ²,   H_ij = −N_ij p_ij (1 − p_ij)  (i ≠ j),

with ``N_ij = W_ij + W_ji`` comparisons of the pair and ``p_ij = σ(θ_i − θ_j)``. Standard errors of
strengths are ``√Σ_ii``. For scores, the delta method on the logit scale: with
``q_ij = p_ij (1 − p_ij)``, the gradient of ``s_i`` is ``∂s_i/∂θ_i = Σ_j q_ij / (n − 1)`` and
``∂s_i/∂θ_k = −q_ik / (n − 1)``, so ``Var(s_i) ≈ g_iᵀ Σ g_i``; the interval is
``σ(logit s_i ± z · se_i / (s_i (1 − s_i)))`` with ``z`` the normal quantile for ``level`` (1.96 for
95 %). Working on the logit scale keeps the interval inside (0, 1) and lets it be lopsided near
the ends.

Memory is ``O(n²)`` and each Newton step solves an ``n × n`` system (the fit takes a handful of
steps), which suits the hundreds to low thousands of ideas a wiki survey gathers.

**Adaptive pairs.** :func:`choose_pair` picks the next pair to show: first an idea among those shown
least often (so an idea added late is in every pair until it has caught up), then its partner with
probability proportional to how informative the comparison is (close scores) and how rarely the
partner has been shown.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.special import expit, logit
from scipy.stats import norm
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning

TIE_POLICIES = ("ignore", "half")


@dataclass(frozen=True)
class IdeaScore:
    """One idea's result, for a results page."""

    idea: Hashable
    score: float  # chance to beat a randomly chosen other idea, in [0, 1]
    low: float  # lower end of the interval for the score
    high: float  # upper end
    strength: float  # log-strength θ (centred: the strengths add up to 0)
    strength_se: float
    wins: int
    losses: int
    undecided: int

    @property
    def comparisons(self) -> int:
        return self.wins + self.losses + self.undecided


def _check_id(value: Any, where: str) -> Hashable:
    if value is None:
        raise ValueError(f"{where} has no idea (None)")
    if isinstance(value, float) and math.isnan(value):
        raise ValueError(f"{where} has no idea (NaN)")
    try:
        hash(value)
    except TypeError:
        raise TypeError(
            f"{where}: an idea should be hashable (a number, string, ...), "
            f"got {type(value).__name__}"
        ) from None
    return value


def _check_pairs(pairs: Any, name: str) -> list[tuple[Hashable, Hashable]]:
    """A list of (a, b) with a ≠ b, each a hashable, non-missing id."""
    if pairs is None:
        return []
    if isinstance(pairs, (str, bytes)):
        raise TypeError(f"{name} should be a list of (winner, loser) pairs, not one string")
    try:
        items = list(pairs)
    except TypeError:
        raise TypeError(
            f"{name} should be a list of (winner, loser) pairs, got {type(pairs).__name__}"
        ) from None
    out = []
    for k, pair in enumerate(items):
        where = f"{name}[{k}]"
        if isinstance(pair, (str, bytes)):
            raise TypeError(f"{where} should be a pair of ideas, got the string {pair!r:.40}")
        try:
            a, b = pair
        except (TypeError, ValueError):
            raise ValueError(f"{where} should be a pair of two ideas, got {pair!r:.60}") from None
        a, b = _check_id(a, where), _check_id(b, where)
        if a == b:
            raise ValueError(f"{where} compares idea {a!r:.40} with itself")
        out.append((a, b))
    return out


class BradleyTerry(BaseEstimator):
    """Bradley–Terry strengths and scores from pairwise votes, fitted by maximum a posteriori.

    See the module docstring for the model, the prior, the score and the intervals.

    Parameters
    ----------
    prior : float, default 2.0
        Standard deviation ``τ`` of the Gaussian prior on each log-strength. A weak prior: an
        idea one prior standard deviation (2) stronger than another beats it with chance
        ``σ(2) ≈ 0.88``. Larger is weaker.
    ties : {"ignore", "half"}, default "ignore"
        How "cannot decide" answers enter the likelihood: not at all (they are still counted), or
        as half a win for each side.
    level : float, default 0.95
        Coverage of the score intervals.
    tol : float, default 1e-9
        Newton's method stops when no strength moves by more than this.
    max_iter : int, default 100

    Attributes
    ----------
    ids_ : list
        The ideas, in the order of ``ideas`` if given, then in order of first appearance.
    strengths_ : ndarray of shape (n,)
        Log-strengths ``θ`` (centred, adding up to 0).
    strength_se_ : ndarray
        Their standard errors ``√Σ_ii``. These include uncertainty about the common level of all
        strengths, which the scores do not depend on.
    covariance_ : ndarray of shape (n, n)
        ``Σ = H⁻¹``, the Laplace approximation to the posterior covariance of ``θ``.
    scores_ : ndarray
        Chance to beat a randomly chosen other idea.
    score_se_ : ndarray
        Delta-method standard errors of the scores.
    score_low_, score_high_ : ndarray
        The ``level`` interval for each score.
    wins_, losses_, n_undecided_ : ndarray of int
        Per idea: votes won, votes lost, "cannot decide" answers.
    n_comparisons_ : ndarray of int
        Per idea: ``wins_ + losses_ + n_undecided_``.
    n_iter_ : int
        Newton steps taken.
    """

    def __init__(
        self,
        prior: float = 2.0,
        ties: str = "ignore",
        level: float = 0.95,
        tol: float = 1e-9,
        max_iter: int = 100,
    ) -> None:
        self.prior = prior
        self.ties = ties
        self.level = level
        self.tol = tol
        self.max_iter = max_iter

    def _check_params(self) -> None:
        if not (
            isinstance(self.prior, (int, float)) and math.isfinite(self.prior) and self.prior > 0
        ):
            raise ValueError(
                "prior should be a positive number (the prior standard deviation), "
                f"got {self.prior!r}"
            )
        if self.ties not in TIE_POLICIES:
            raise ValueError(f"ties should be one of {TIE_POLICIES}, got {self.ties!r}")
        if not (isinstance(self.level, (int, float)) and 0 < self.level < 1):
            raise ValueError(f"level should be between 0 and 1 (0.95 for 95 %), got {self.level!r}")
        if not (isinstance(self.max_iter, int) and self.max_iter >= 1):
            raise ValueError(f"max_iter should be a positive integer, got {self.max_iter!r}")

    def fit(self, pairs: Any, undecided: Any = (), ideas: Any = None) -> BradleyTerry:
        """Fit to ``pairs``, an iterable of ``(winner, loser)``; ``undecided`` holds the pairs a
        participant could not decide on; ``ideas`` lists every idea, including any not yet compared
        (they get the prior: strength near 0 and a wide interval). Ideas are any hashable ids."""
        self._check_params()
        votes = _check_pairs(pairs, "pairs")
        draws = _check_pairs(undecided, "undecided")
        if not votes and not draws:
            raise ValueError("no comparisons to fit: pairs (and undecided) are empty")
        index: dict[Hashable, int] = {}
        if ideas is not None:
            if isinstance(ideas, (str, bytes)):
                raise TypeError("ideas should be a list of ideas, not one string")
            for k, idea in enumerate(ideas):
                index.setdefault(_check_id(idea, f"ideas[{k}]"), len(index))
            known = set(index)
            for name, rows in (("pairs", votes), ("undecided", draws)):
                for k, (a, b) in enumerate(rows):
                    for x in (a, b):
                        if x not in known:
                            raise ValueError(
                                f"{name}[{k}] names idea {x!r:.40}, which is not in ideas"
                            )
        for a, b in votes + draws:
            index.setdefault(a, len(index))
            index.setdefault(b, len(index))
        n = len(index)
        self.ids_ = list(index)

        win = np.array([index[a] for a, _ in votes], dtype=np.intp)
        lose = np.array([index[b] for _, b in votes], dtype=np.intp)
        da = np.array([index[a] for a, _ in draws], dtype=np.intp)
        db = np.array([index[b] for _, b in draws], dtype=np.intp)
        W = np.zeros((n, n))
        np.add.at(W, (win, lose), 1.0)
        if self.ties == "half":
            np.add.at(W, (da, db), 0.5)
            np.add.at(W, (db, da), 0.5)
        self.wins_ = np.bincount(win, minlength=n)
        self.losses_ = np.bincount(lose, minlength=n)
        self.n_undecided_ = np.bincount(da, minlength=n) + np.bincount(db, minlength=n)
        self.n_comparisons_ = self.wins_ + self.losses_ + self.n_undecided_

        theta, H, self.n_iter_ = _newton(W, 1.0 / float(self.prior) ** 2, self.tol, self.max_iter)
        self.strengths_ = theta
        self.covariance_ = np.linalg.inv(H)
        self.covariance_ = (self.covariance_ + self.covariance_.T) / 2
        self.strength_se_ = np.sqrt(np.diag(self.covariance_))

        P = expit(theta[:, None] - theta[None, :])
        np.fill_diagonal(P, 0.0)
        self.scores_ = P.sum(axis=1) / (n - 1)
        Q = P * (1.0 - P)
        G = (np.diag(Q.sum(axis=1)) - Q) / (n - 1)
        var = ((G @ self.covariance_) * G).sum(axis=1)
        self.score_se_ = np.sqrt(np.maximum(var, 0.0))
        z = float(norm.ppf(0.5 + self.level / 2))
        s = np.clip(self.scores_, 1e-12, 1 - 1e-12)
        half = z * self.score_se_ / (s * (1 - s))
        self.score_low_ = expit(logit(s) - half)
        self.score_high_ = expit(logit(s) + half)
        return self

    def score_dict(self) -> dict[Hashable, float]:
        """``{idea: chance to beat a randomly chosen other idea}``."""
        return {i: float(s) for i, s in zip(self.ids_, self.scores_, strict=True)}

    def results(self) -> list[IdeaScore]:
        """One :class:`IdeaScore` per idea, highest score first (ties keep the ``ids_`` order)."""
        order = np.argsort(-self.scores_, kind="stable")
        return [
            IdeaScore(
                idea=self.ids_[i],
                score=float(self.scores_[i]),
                low=float(self.score_low_[i]),
                high=float(self.score_high_[i]),
                strength=float(self.strengths_[i]),
                strength_se=float(self.strength_se_[i]),
                wins=int(self.wins_[i]),
                losses=int(self.losses_[i]),
                undecided=int(self.n_undecided_[i]),
            )
            for i in order
        ]


def _log_posterior(theta: np.ndarray, W: np.ndarray, precision: float) -> float:
    diff = theta[:, None] - theta[None, :]
    return float(-(W * np.logaddexp(0.0, -diff)).sum() - precision * (theta @ theta) / 2)


def _newton(
    W: np.ndarray, precision: float, tol: float, max_iter: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Maximise ``L`` (module docstring) by Newton's method with step halving.
    Returns (θ, the Hessian of −L at θ, steps taken)."""
    n = W.shape[0]
    N = W + W.T
    wins = W.sum(axis=1)
    theta = np.zeros(n)
    current = _log_posterior(theta, W, precision)

    def grad_hess(t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        P = expit(t[:, None] - t[None, :])
        g = wins - (N * P).sum(axis=1) - precision * t
        Q = N * P * (1.0 - P)
        H = -Q
        H[np.diag_indices(n)] = Q.sum(axis=1) - np.diag(Q) + precision
        return g, H

    steps, converged = 0, False
    while steps < max_iter and not converged:
        steps += 1
        g, H = grad_hess(theta)
        delta = np.linalg.solve(H, g)
        step = 1.0
        while True:
            candidate = theta + step * delta
            value = _log_posterior(candidate, W, precision)
            if value >= current - 1e-12 * abs(current) or step < 1e-8:
                break
            step /= 2
        theta, current = candidate, value
        converged = bool(np.max(np.abs(step * delta)) < tol)
    if not converged:
        warnings.warn(
            f"Bradley–Terry fit did not converge in {max_iter} Newton steps; raise max_iter",
            ConvergenceWarning,
            stacklevel=3,
        )
    _, H = grad_hess(theta)
    return theta, H, steps


def bradley_terry(
    pairs: Iterable[tuple[Hashable, Hashable]],
    *,
    undecided: Iterable[tuple[Hashable, Hashable]] = (),
    ideas: Iterable[Hashable] | None = None,
    prior: float = 2.0,
    ties: str = "ignore",
) -> dict[Hashable, float]:
    """Scores from pairwise votes: ``{idea: chance to beat a randomly chosen other idea}``.

    ``pairs`` is an iterable of ``(winner_id, loser_id)``. Strengths ``θ`` are the maximum a
    posteriori Bradley–Terry log-strengths under a ``N(0, prior²)`` prior, and the score of idea
    ``i`` is the mean over all other ideas ``j`` of ``P(i beats j) = σ(θ_i − θ_j)``:

        s_i = (1 / (n − 1)) · Σ_{j ≠ i} σ(θ_i − θ_j),   a probability in [0, 1].

    ``undecided`` and ``ties`` treat "cannot decide" answers, and ``ideas`` adds ideas not yet
    compared, as in :meth:`BradleyTerry.fit`. For standard errors and intervals use
    :class:`BradleyTerry` itself.
    """
    model = BradleyTerry(prior=prior, ties=ties).fit(pairs, undecided=undecided, ideas=ideas)
    return model.score_dict()


def _check_mapping(
    values: Any, name: str, *, low: float, high: float, what: str
) -> dict[Hashable, float]:
    if not isinstance(values, Mapping):
        raise TypeError(f"{name} should be a mapping {{idea: number}}, got {type(values).__name__}")
    out = {}
    for key, value in values.items():
        _check_id(key, f"{name} key")
        if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
            raise TypeError(f"{name}[{key!r:.40}] should be a number, got {value!r:.40}")
        v = float(value)
        if not (math.isfinite(v) and low <= v <= high):
            raise ValueError(f"{name}[{key!r:.40}] should be {what}, got {value!r}")
        out[key] = v
    return out


def choose_pair(
    counts: Mapping[Hashable, int],
    scores: Mapping[Hashable, float] | None = None,
    rng: np.random.Generator | int | None = None,
    *,
    exclude: Iterable[tuple[Hashable, Hashable]] = (),
    catch_up: float = 1.0,
) -> tuple[Hashable, Hashable] | None:
    """The next pair of ideas to show, or None when every pair is excluded.

    ``counts`` maps every idea that may be shown to how often it has been shown (or compared) so
    far; ``scores`` (optional) maps ideas to their chance to beat a random other idea, as from
    :func:`bradley_terry` (an idea without a score counts as 0.5); ``exclude`` lists pairs not to
    show (in either order), such as the pairs this participant has already seen; ``rng`` is a
    NumPy generator or a seed.

    1. The first idea ``i`` is drawn uniformly from the ideas with the fewest comparisons ``c_min``
       (among those with a pair left to show). A new idea with no comparisons is therefore in every
       pair until it has as many as the least-compared other idea.
    2. Its partner ``j ≠ i`` is drawn with probability proportional to

           w_j = 4 p_ij (1 − p_ij) · exp(−catch_up · (c_j − c_min)),
           p_ij = σ(logit s_i − logit s_j),

       with scores clipped to [0.01, 0.99]. The first factor is the Fisher information of one vote
       about the two ideas' difference (1 for equal scores, small for far-apart ones, never 0), so
       close contests are favoured; it is 1 for all when ``scores`` is None. The second favours
       partners that have been shown less (``catch_up = 0`` ignores counts).
    3. The two are returned in random order, so neither position is favoured.

    The same idea is never paired with itself.
    """
    if not (isinstance(catch_up, (int, float)) and math.isfinite(catch_up) and catch_up >= 0):
        raise ValueError(f"catch_up should be a non-negative number, got {catch_up!r}")
    c = _check_mapping(counts, "counts", low=0.0, high=math.inf, what="a non-negative number")
    if len(c) < 2:
        raise ValueError(f"counts should name at least two ideas to make a pair, got {len(c)}")
    s = {}
    if scores is not None:
        s = _check_mapping(scores, "scores", low=0.0, high=1.0, what="a probability from 0 to 1")
    gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)

    ids = list(c)
    position = {idea: k for k, idea in enumerate(ids)}
    n = len(ids)
    blocked = np.zeros((n, n), dtype=bool)
    np.fill_diagonal(blocked, True)
    for a, b in _check_pairs(exclude, "exclude"):
        if a in position and b in position:
            blocked[position[a], position[b]] = blocked[position[b], position[a]] = True
    available = ~blocked.all(axis=1)
    if not available.any():
        return None

    count = np.array([c[i] for i in ids])
    least = count[available].min()
    first_choices = np.flatnonzero(available & (count == least))
    i = int(gen.choice(first_choices))

    if s:
        eta = logit(np.clip([s.get(idea, 0.5) for idea in ids], 0.01, 0.99))
        p = expit(eta[i] - eta)
        log_info = np.log(4.0 * p * (1.0 - p))
    else:
        log_info = np.zeros(n)
    log_weight = log_info - float(catch_up) * (count - least)
    log_weight[blocked[i]] = -np.inf
    weight = np.exp(log_weight - log_weight.max())  # no underflow to all zeros
    j = int(gen.choice(n, p=weight / weight.sum()))
    return (ids[i], ids[j]) if gen.random() < 0.5 else (ids[j], ids[i])
