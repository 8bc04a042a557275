"""Opinion groups as Pol.is computes them: who votes alike on short statements, what each group
stands for, and what every group agrees on.

Participants agree (1), disagree (-1) or pass (0) on statements. This module follows Pol.is's
Clojure maths (``polismath.math``: ``conversation.clj``, ``pca.clj``, ``clusters.clj``,
``repness.clj``, ``stats.clj``) step by step. One update on an n × m vote matrix ``R`` (missing =
not seen):

1. **Excluded statements.** Columns of excluded statements are set to 0 for everyone, as Pol.is
   does (``zero-out-columns``): they add nothing to the PCA but still count as seen in step 4.
   Pol.is excludes its ``mod-out`` set, which holds the moderated-out statements *and* the
   statements marked ``is_meta`` (``conversation/mod-update``); pass both in
   ``exclude_statements``. Pol.is's data exports mark moderation but not ``is_meta``.
2. **Who is clustered** ("in conversation"): participants with at least ``min(min_votes, m)``
   votes (passes and votes on excluded statements included). If fewer than ``min_participants`` (15)
   qualify, the participants with the most votes are added until 15 are in; ties keep the order of
   Pol.is's ``user-vote-counts`` map (a Clojure hash map; its order is copied for integer voter ids,
   otherwise first-seen order is used). Once in, a participant stays in across
   :meth:`OpinionGroups.partial_fit` updates.
3. **PCA on every participant.** Missing votes are filled with the column mean over the votes cast,
   ``F[i, j] = R[i, j]`` if seen else ``mean_{i' seen}(R[i', j])``; the centre is ``c = mean_i F``
   (the same column means). Two components by power iteration on ``X = F - c``: ``v <- X'Xv / |X'Xv|``
   until it stops moving, then the data are deflated, ``X <- X - (Xv)v'``, for the second one.
4. **Projection, sparsity aware.** For participant i with ``n_i`` seen entries,
   ``p_i = sqrt(m / max(n_i, 1)) * sum_{j seen} (R[i, j] - c_j) * v_j``: people who saw few
   statements are pushed out from the centre instead of collapsing onto it.
5. **Base clusters.** k-means with k = ``n_base_clusters`` (100) on the clustered participants'
   projections, initialised with the first k distinct points in row order (rows are voters in the
   order of their first vote in the input, as in Pol.is's rating matrix), at most 100 Lloyd steps,
   stopping when the sorted centres move less than 0.01; clusters that lose every member are dropped.
6. **Groups.** For each k = 2 … ``min(max_groups, 2 + floor(n_base / 12))``, weighted k-means over the
   base-cluster centres, each weighted by its member count (centre = ``sum w_b x_b / sum w_b``),
   initialised with the first k distinct centres (base clusters in id order), at most 20 steps.
7. **Choice of k** by the silhouette of each clustering of the base centres, unweighted:
   ``s(b) = (b_b - a_b) / max(a_b, b_b)``, ``a_b`` the mean distance to the other centres of its own
   group, ``b_b`` the smallest mean distance to another group's centres, 0 for a lone centre; the
   k with the highest mean wins (ties to the larger k). Across :meth:`~OpinionGroups.partial_fit`
   updates Pol.is smooths k: a new best k is adopted only once it has been best ``k_buffer`` (4)
   updates running.
8. **Representativeness** of statement j for group g (``repness.clj``), counting the group's agrees
   ``a``, disagrees ``d`` and votes seen ``s`` (passes included), and ``A, D, S`` for the other
   groups together::

       pa = (1 + a) / (2 + s)          pd = (1 + d) / (2 + s)
       pat = 2 sqrt(s + 1) ((a + 1) / (s + 1) - 1/2)                  (one-proportion z, +1 pseudocounts)
       ra = pa / ((1 + A) / (2 + S))   rd = pd / ((1 + D) / (2 + S))
       rat = (p1 - p2) / sqrt(p (1 - p) (1/(s+1) + 1/(S+1))),  p1 = (a+1)/(s+1), p2 = (A+1)/(S+1),
             p = (a + A + 2) / (s + S + 2)                              (two-proportion z, 0 if p = 1)

   and likewise ``pdt``, ``rdt``. Significant means one-sided 90 %: ``z > 1.2816``. A statement
   is *repful for* agree if ``rat > rdt``, else disagree; its metric is ``r * r_test * p * p_test``
   on that side. Representative statements per group, as Pol.is picks them: the statements passing
   ``(rat, pat significant) or (rdt, pdt significant)``, sorted by the metric, with the group's
   "best agree" statement put first, at most 5, agrees before disagrees; if none passes, the best
   agree, else the one with the highest ``max(rat, rdt)``.
9. **Group-informed consensus** of statement j: ``prod_g (a_g + 1) / (s_g + 2)`` for agree and
   ``prod_g (d_g + 1) / (s_g + 2)`` for disagree: high only if every group agrees (disagrees).

Pol.is runs step 1–9 on every batch of new votes, warm-started from the previous update (base and
group clusters recentred from their previous members, new clusters seeded at the most distant
points, PCA started from the previous components, k smoothed). :meth:`OpinionGroups.fit` is one
update from nothing; :meth:`OpinionGroups.partial_fit` is Pol.is's warm-started update, so feeding
votes in time order replays a conversation. Because k-means has several local optima, Pol.is's
groups for a long-running conversation depend on that history, and a single ``fit`` on the final
votes can settle on a different (nearby) split.

**Checked against Pol.is.** Pol.is's repository publishes the output of its Clojure maths run from
scratch on the Scoop "biodiversity" conversation (``delphi/real_data/r4tykwac8thvzv35jrn53-
biodiversity/r4tykwac8thvzv35jrn53_math_blob_cold_start.json``). ``fit`` on the same input (the
votes in the export's order, no exclusions) puts the same base-cluster ids (of 100) in the same
two groups, with the same group centres to 5e-9 (the second axis has the opposite sign) and the
same representativeness statistics; the same k-means run within each group also gives Pol.is's
seven subgroups. The ``group-id`` of Pol.is's open-data exports is something else: the production
state after the conversation's whole life of warm-started updates, with meta statements excluded
(for that conversation, the production blob shows seven demographic statements zeroed that the
export does not mark). See ``docs/research/polis-reproduction.md``.

Differences from Pol.is, all deliberate: the power iteration runs to convergence (tolerance 1e-10,
at most ``pca_max_iter``) where Pol.is stops after 100 iterations per update, from a random start
vector when it has no previous components; the components' signs are fixed (largest loading
positive), which changes no group; exact ties in nearest-centre assignment go to the first centre
(Pol.is: the last in its map of clusters).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from numbers import Integral
from typing import Any

import numpy as np
import pandas as pd

Z_90 = 1.2816  # one-sided 90 % critical value of the standard normal, as in Pol.is's stats.clj
BASE_ITERS = 100  # Pol.is :base-iters
GROUP_ITERS = 20  # Pol.is's kmeans default (group clustering passes an ignored :cluster-iters)
SAME_CLUSTERING = 0.01  # centres closer than this count as unchanged (clusters/same-clustering?)
REQUIRED_COLUMNS = ("voter_id", "statement_id", "vote")

__all__ = [
    "Cluster",
    "OpinionGroups",
    "RepresentativeStatement",
    "group_informed_consensus",
    "opinion_groups",
    "prop_test",
    "two_prop_test",
]


# --- the statistics of stats.clj and repness.clj ---------------------------------------------------


def prop_test(successes: Any, n: Any) -> Any:
    """Pol.is's one-proportion z statistic with +1 pseudocounts:
    ``2 sqrt(n + 1) ((successes + 1) / (n + 1) - 1/2)`` (element-wise on arrays)."""
    s = np.asarray(successes, dtype=float) + 1.0
    m = np.asarray(n, dtype=float) + 1.0
    out = 2.0 * np.sqrt(m) * (s / m - 0.5)
    return float(out) if out.ndim == 0 else out


def two_prop_test(succ_in: Any, succ_out: Any, pop_in: Any, pop_out: Any) -> Any:
    """Pol.is's two-proportion z statistic, each count +1:
    ``(p1 - p2) / sqrt(p (1 - p) (1/n1 + 1/n2))`` with ``p1 = s1/n1``, ``p2 = s2/n2``,
    ``p = (s1 + s2) / (n1 + n2)``; 0 where ``p = 1`` (element-wise on arrays)."""
    s1, s2, n1, n2 = (
        np.asarray(x, dtype=float) + 1.0 for x in (succ_in, succ_out, pop_in, pop_out)
    )
    p1, p2 = s1 / n1, s2 / n2
    p = (s1 + s2) / (n1 + n2)
    var = p * (1.0 - p) * (1.0 / n1 + 1.0 / n2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(p == 1.0, 0.0, (p1 - p2) / np.sqrt(np.where(var > 0, var, 1.0)))
    out = np.where((p != 1.0) & (var <= 0), 0.0, out)
    return float(out) if out.ndim == 0 else out


def group_informed_consensus(successes: Any, votes: Any) -> Any:
    """``prod_g (successes_g + 1) / (votes_g + 2)`` over groups (axis 0): Pol.is's group-aware
    consensus. ``successes`` and ``votes`` are groups × statements (or one value per group)."""
    s = np.asarray(successes, dtype=float)
    n = np.asarray(votes, dtype=float)
    if s.shape != n.shape:
        raise ValueError(f"successes has shape {s.shape} but votes has shape {n.shape}")
    if s.ndim == 0 or s.shape[0] == 0:
        raise ValueError("group_informed_consensus needs counts for at least one group")
    if (s < 0).any() or (s > n).any():
        raise ValueError("each count of successes should be between 0 and the number of votes")
    out = np.prod((s + 1.0) / (n + 2.0), axis=0)
    return float(out) if np.ndim(out) == 0 else out


# --- results ---------------------------------------------------------------------------------------


@dataclass
class Cluster:
    """A base cluster (members: voter ids) or a group (members: base-cluster ids)."""

    id: int
    members: tuple
    center: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class RepresentativeStatement:
    """A statement chosen to represent a group, with the side it represents (``repful_for``) and
    all the statistics of both sides."""

    statement_id: Any
    repful_for: str  # "agree" or "disagree": the side with the larger two-proportion z
    n_success: int  # the group's agrees (or disagrees) on it
    n_trials: int  # the group's votes on it, passes included
    p_success: float  # pa (or pd)
    p_test: float  # pat (or pdt)
    repness: float  # ra (or rd)
    repness_test: float  # rat (or rdt)
    best_agree: bool  # Pol.is's "best agree" statement of the group, placed first
    n_agree: int
    n_disagree: int
    pa: float
    pd: float
    pat: float
    pdt: float
    ra: float
    rd: float
    rat: float
    rdt: float
    significant: bool  # (rat and pat) or (rdt and pdt) above 1.2816

    @property
    def metric(self) -> float:
        """Pol.is's sort key: ``repness * repness_test * p_success * p_test``."""
        return self.repness * self.repness_test * self.p_success * self.p_test


# --- input checks ----------------------------------------------------------------------------------


def _check_votes(votes: Any, name: str = "votes") -> pd.DataFrame:
    """voter_id, statement_id, vote (-1/0/1 as int); the last row of each (voter, statement) pair."""
    if not isinstance(votes, pd.DataFrame):
        raise TypeError(
            f"{name} should be a pandas DataFrame with columns voter_id, statement_id, vote; "
            f"got {type(votes).__name__}"
        )
    missing = [c for c in REQUIRED_COLUMNS if c not in votes.columns]
    if missing:
        raise ValueError(
            f"{name} is missing column(s) {missing}; it has {list(map(str, votes.columns))}"
        )
    if len(votes) == 0:
        raise ValueError(f"{name} has no rows: there are no votes to analyse")
    for col in ("voter_id", "statement_id"):
        blank = votes[col].isna().to_numpy()
        if blank.any():
            rows = np.flatnonzero(blank)[:5].tolist()
            raise ValueError(
                f"{name}.{col} is empty in {int(blank.sum())} row(s), e.g. rows {rows}"
            )
    raw = votes["vote"]
    numeric = pd.to_numeric(raw, errors="coerce")
    bad = ~numeric.isin([-1, 0, 1]).to_numpy()
    if bad.any():
        rows = np.flatnonzero(bad)
        examples = ", ".join(f"row {i}: {raw.iloc[i]!r}" for i in rows[:5])
        raise ValueError(
            f"{name}.vote should be 1 (agree), -1 (disagree) or 0 (pass); "
            f"{len(rows)} row(s) are not ({examples})"
        )
    out = pd.DataFrame(
        {
            "voter_id": votes["voter_id"].to_numpy(),
            "statement_id": votes["statement_id"].to_numpy(),
            "vote": numeric.to_numpy().astype(np.int8),
        }
    )
    return out.drop_duplicates(["voter_id", "statement_id"], keep="last")


def _check_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise TypeError(f"{name} should be an integer, got {type(value).__name__}: {value!r}")
    if value < minimum:
        raise ValueError(f"{name} should be at least {minimum}, got {value}")
    return int(value)


# --- k-means as clusters.clj does it ---------------------------------------------------------------


def _weighted_mean(X: np.ndarray, w: np.ndarray | None) -> np.ndarray:
    if w is None:
        return X.mean(axis=0)
    return (w[:, None] * X).sum(axis=0) / w.sum()


def _first_distinct(X: np.ndarray, k: int) -> np.ndarray:
    """Row indices of the first k distinct rows of X, in row order."""
    _, first = np.unique(X, axis=0, return_index=True)
    return np.sort(first)[:k]


def _sq_dists(X: np.ndarray, C: np.ndarray) -> np.ndarray:
    return ((X[:, None, :] - C[None, :, :]) ** 2).sum(axis=2)


def _cluster_step(
    ids: list, X: np.ndarray, clusters: list[Cluster], w: np.ndarray | None
) -> list[Cluster]:
    """Every point to its nearest centre; empty clusters dropped; centres to the (weighted) mean."""
    C = np.array([c.center for c in clusters])
    nearest = _sq_dists(X, C).argmin(axis=1)
    out = []
    for j, c in enumerate(clusters):
        idx = np.flatnonzero(nearest == j)
        if idx.size:
            wj = None if w is None else w[idx]
            out.append(Cluster(c.id, tuple(ids[i] for i in idx), _weighted_mean(X[idx], wj)))
    return out


def _same_clustering(a: list[Cluster], b: list[Cluster]) -> bool:
    """clusters/same-clustering?: the sorted centres, paired in order, all closer than 0.01."""

    def ordered(cs: list[Cluster]) -> np.ndarray:
        C = np.array([c.center for c in cs])
        return C[np.lexsort(C.T[::-1])]

    A, B = ordered(a), ordered(b)
    n = min(len(A), len(B))
    return bool((np.sqrt(((A[:n] - B[:n]) ** 2).sum(axis=1)) < SAME_CLUSTERING).all())


def _recenter(
    X: np.ndarray, clusters: list[Cluster], index: dict, w: np.ndarray | None, drop_empty: bool
) -> list[Cluster]:
    out = []
    for c in clusters:
        rows = [index[m] for m in c.members if m in index]
        if rows:
            rows_a = np.array(rows)
            wr = None if w is None else w[rows_a]
            out.append(Cluster(c.id, c.members, _weighted_mean(X[rows_a], wr)))
        elif not drop_empty:
            out.append(c)
    return out


def _clean_start(
    ids: list, X: np.ndarray, last: list[Cluster], k: int, w: np.ndarray | None
) -> list[Cluster]:
    """clusters/clean-start-clusters: last update's clusters recentred on the current positions of
    their members, identical ones merged, then the most distant point split off as a new cluster
    until there are k clusters (or as many as distinct points)."""
    index = {p: i for i, p in enumerate(ids)}
    members_now = [Cluster(c.id, tuple(m for m in c.members if m in index), c.center) for c in last]
    clusters = _recenter(X, members_now, index, w, drop_empty=True)
    if not clusters:
        new_id = max((c.id for c in last), default=-1) + 1
        return [Cluster(new_id, tuple(ids), _weighted_mean(X, w))]
    merged: list[Cluster] = []
    position: dict[bytes, int] = {}  # identical centres, found by their bytes
    for c in clusters:
        key = np.ascontiguousarray(c.center, dtype=float).tobytes()
        twin = position.get(key)
        if twin is None:
            position[key] = len(merged)
            merged.append(c)
            continue
        m = merged[twin]
        na, nb = len(m.members), len(c.members)
        keep_id = m.id if na > nb else c.id
        center = (m.center * na + c.center * nb) / (na + nb)
        merged[twin] = Cluster(keep_id, m.members + c.members, center)
    possible = min(k, len(np.unique(X, axis=0)))
    clusters = merged
    for _ in range(len(ids) + k + 1):  # each pass seeds one more point; the bound only guards
        clusters = _recenter(X, clusters, index, w, drop_empty=False)
        if possible <= len(clusters):
            break
        C = np.array([c.center for c in clusters])
        nearest = np.sqrt(_sq_dists(X, C).min(axis=1))
        i = len(nearest) - 1 - int(np.argmax(nearest[::-1]))  # Clojure's max-key keeps the last
        if nearest[i] <= 0:
            break
        pid = ids[i]
        clusters = [
            Cluster(c.id, tuple(m for m in c.members if m != pid), c.center) for c in clusters
        ]
        clusters.append(Cluster(max(c.id for c in clusters) + 1, (pid,), X[i].copy()))
    return clusters


def _kmeans(
    ids: list,
    X: np.ndarray,
    k: int,
    *,
    last: list[Cluster] | None,
    max_iters: int,
    weights: np.ndarray | None = None,
) -> list[Cluster]:
    """clusters/kmeans: warm-started from ``last`` if given, else the first k distinct points."""
    if last:
        clusters = _clean_start(ids, X, last, k, weights)
    else:
        clusters = [Cluster(i, (), X[r].copy()) for i, r in enumerate(_first_distinct(X, k))]
    for remaining in range(max_iters, -1, -1):
        new = _cluster_step(ids, X, clusters, weights)
        if remaining == 0 or _same_clustering(clusters, new):
            return sorted(new, key=lambda c: c.id)
        clusters = new
    raise AssertionError("unreachable")  # pragma: no cover


_M32 = 0xFFFFFFFF


def _murmur3_hash_long(x: int) -> int:
    """Clojure's ``hash`` of a long (``clojure.lang.Murmur3/hashLong``), as an unsigned 32-bit int."""

    def rotl(v: int, r: int) -> int:
        return ((v << r) | (v >> (32 - r))) & _M32

    def mix_k1(k: int) -> int:
        return (rotl((k * 0xCC9E2D51) & _M32, 15) * 0x1B873593) & _M32

    def mix_h1(h: int, k: int) -> int:
        return (rotl(h ^ k, 13) * 5 + 0xE6546B64) & _M32

    if x == 0:
        return 0
    x &= 0xFFFFFFFFFFFFFFFF
    h = mix_h1(mix_h1(0, mix_k1(x & _M32)), mix_k1(x >> 32))
    h ^= 8
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & _M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & _M32
    return h ^ (h >> 16)


def _clojure_map_order(keys: list) -> np.ndarray:
    """Positions of ``keys`` in the order a Clojure map built from them (``(into {} ...)``, keys in
    this order) yields its entries: insertion order up to 8 entries (an array map), beyond that a
    persistent hash map, whose trie is walked by the key's hash 5 bits at a time from the lowest.
    Exact for integer keys (Pol.is's participant ids); for other keys the insertion order is kept.
    Checked against the key order of ``user-vote-counts`` in a math blob Pol.is wrote
    (compdemocracy/polis, delphi/real_data/r4tykwac8thvzv35jrn53-biodiversity)."""
    positions = np.arange(len(keys))
    if len(keys) <= 8 or not all(
        isinstance(k, Integral) and not isinstance(k, bool) and -(2**63) <= k < 2**63 for k in keys
    ):
        return positions

    def trie_path(i: int) -> tuple:
        h = _murmur3_hash_long(int(keys[i]))
        return tuple((h >> shift) & 31 for shift in range(0, 35, 5))

    return np.array(
        sorted(positions, key=trie_path), dtype=int
    )  # stable: full collisions keep order


def _silhouette(D: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette over the points of distance matrix D; 0 for a point alone in its cluster."""
    groups, lab = np.unique(labels, return_inverse=True)
    if len(groups) < 2:
        return 0.0
    onehot = np.eye(len(groups))[lab]
    sizes = onehot.sum(axis=0)
    sums = D @ onehot  # points × groups: total distance to each group's points
    own = sizes[lab] - 1
    a = np.divide(sums[np.arange(len(lab)), lab], own, out=np.zeros(len(lab)), where=own > 0)
    mean_to = sums / sizes
    mean_to[np.arange(len(lab)), lab] = np.inf
    b = mean_to.min(axis=1)
    top = np.maximum(a, b)
    s = np.divide(b - a, top, out=np.zeros(len(lab)), where=top > 0)
    s[own == 0] = 0.0
    return float(s.mean())


# --- the estimator ---------------------------------------------------------------------------------


class OpinionGroups:
    """Opinion groups, representative statements and group-informed consensus, as Pol.is.

    Parameters
    ----------
    min_votes
        Votes a participant needs to be clustered: ``min(min_votes, number of statements)``.
    n_base_clusters
        k of the first k-means (Pol.is: 100), on the participants' 2-D projections.
    max_groups
        The largest number of groups tried (Pol.is: 5); k runs from 2 to
        ``min(max_groups, 2 + n_base // 12)``.
    random_state
        Seeds the power iteration's start vector (Pol.is starts from a random vector too).
    exclude_statements
        Statement ids to leave out of the maths, as Pol.is does with its ``mod-out`` set
        (moderated-out and ``is_meta`` comments): their columns are zeroed (step 1 of the module
        docstring) and they are never representative or reported in ``consensus_``. Ids without
        votes are ignored.
    min_participants
        If fewer participants qualify, the most active are added up to this many (Pol.is: 15).
    k_buffer
        Updates in a row a new best k must win before :meth:`partial_fit` adopts it (Pol.is: 4).
    pca_max_iter
        Power iterations per component at most (stops earlier when converged).

    Attributes (after ``fit``)
    --------------------------
    groups_ : dict voter_id -> group index (0 … n_groups_ - 1) for the clustered voters.
    n_groups_ : int.
    projection_ : DataFrame indexed by voter_id, columns ``x``, ``y``: every voter's projection.
    clustered_ : list of the voter ids that were clustered (the "in conversation" set).
    base_clusters_ : list of :class:`Cluster` (members: voter ids), sorted by id.
    group_clusterings_ : dict k -> list of :class:`Cluster` (members: base-cluster ids).
    silhouette_ : dict k -> silhouette of that clustering of the base centres.
    components_ : 2 × n_statements array, the principal components; ``center_`` the column means.
    statements_ : the statement ids, in column order; ``voters_``: voter ids in row order.
    repness_ : DataFrame, one row per (group, statement): counts, pa, pd, pat, pdt, ra, rd, rat,
        rdt, repful_for, and the significance flags.
    representative_ : dict group -> list of :class:`RepresentativeStatement`, as Pol.is picks them.
    consensus_ : DataFrame indexed by statement_id, columns ``agree`` and ``disagree``.
    k_smoother_ : dict with Pol.is's ``last_k``, ``last_k_count`` and ``smoothed_k``.
    n_updates_ : how many updates (``fit`` counts one) built this state.
    """

    def __init__(
        self,
        min_votes: int = 7,
        n_base_clusters: int = 100,
        max_groups: int = 5,
        random_state: int | None = 0,
        exclude_statements: Iterable | None = None,
        min_participants: int = 15,
        k_buffer: int = 4,
        pca_max_iter: int = 1000,
    ) -> None:
        self.min_votes = min_votes
        self.n_base_clusters = n_base_clusters
        self.max_groups = max_groups
        self.random_state = random_state
        self.exclude_statements = exclude_statements
        self.min_participants = min_participants
        self.k_buffer = k_buffer
        self.pca_max_iter = pca_max_iter

    # public API

    def fit(self, votes: pd.DataFrame) -> OpinionGroups:
        """One Pol.is update from nothing on ``votes`` (columns voter_id, statement_id, vote: 1
        agree, -1 disagree, 0 pass). Where a (voter, statement) pair appears more than once, the
        last row wins, so pass the votes in time order."""
        self._check_params()
        frame = _check_votes(votes)
        self._reset()
        self._add_votes(frame)
        self._update()
        return self

    def partial_fit(self, votes: pd.DataFrame) -> OpinionGroups:
        """A warm-started Pol.is update with new ``votes`` (same columns as :meth:`fit`; a later vote
        on the same pair replaces the earlier one). Without a previous fit, the same as ``fit``."""
        if not hasattr(self, "n_updates_"):
            return self.fit(votes)
        self._check_params()
        self._add_votes(_check_votes(votes))
        self._update()
        return self

    def predict(self, voter_ids: Iterable) -> np.ndarray:
        """Group index of each voter id; -1 for voters who are not clustered or unknown."""
        self._check_fitted()
        return np.array([self.groups_.get(v, -1) for v in voter_ids], dtype=int)

    # internals

    def _check_params(self) -> None:
        _check_int("min_votes", self.min_votes, 1)
        _check_int("n_base_clusters", self.n_base_clusters, 1)
        _check_int("max_groups", self.max_groups, 2)
        _check_int("min_participants", self.min_participants, 0)
        _check_int("k_buffer", self.k_buffer, 1)
        _check_int("pca_max_iter", self.pca_max_iter, 1)
        if self.random_state is not None:
            _check_int("random_state", self.random_state, 0)
        ex = self.exclude_statements
        if isinstance(ex, str | bytes) or (ex is not None and not isinstance(ex, Iterable)):
            raise TypeError(
                f"exclude_statements should be a list (or set) of statement ids, got {ex!r:.60}"
            )

    def _check_fitted(self) -> None:
        if not hasattr(self, "groups_"):
            raise RuntimeError("this OpinionGroups is not fitted yet: call fit(votes) first")

    def _reset(self) -> None:
        for name in list(vars(self)):
            if name.endswith("_") and not name.startswith("_"):
                delattr(self, name)
        self._voters: list = []
        self._row: dict = {}
        self._statements: list = []
        self._col: dict = {}
        self._R = np.zeros((0, 0))
        self._in_conv = np.zeros(0, dtype=bool)
        self._base: list[Cluster] | None = None
        self._groupings: dict[int, list[Cluster]] = {}
        self._smoother: dict = {}
        self._components: np.ndarray | None = None
        self._rng = np.random.RandomState(self.random_state)
        self.n_updates_ = 0

    def _add_votes(self, frame: pd.DataFrame) -> None:
        for v in pd.unique(frame["voter_id"]):
            if v not in self._row:
                self._row[v] = len(self._voters)
                self._voters.append(v)
        for s in pd.unique(frame["statement_id"]):
            if s not in self._col:
                self._col[s] = len(self._statements)
                self._statements.append(s)
        n, m = len(self._voters), len(self._statements)
        if self._R.shape != (n, m):
            R = np.full((n, m), np.nan)
            R[: self._R.shape[0], : self._R.shape[1]] = self._R
            self._R = R
            grown = np.zeros(n, dtype=bool)
            grown[: self._in_conv.size] = self._in_conv
            self._in_conv = grown
        rows = np.array([self._row[v] for v in frame["voter_id"]])
        cols = np.array([self._col[s] for s in frame["statement_id"]])
        self._R[rows, cols] = frame["vote"].to_numpy(dtype=float)

    def _excluded_columns(self) -> np.ndarray:
        ex = set(() if self.exclude_statements is None else self.exclude_statements)
        return np.array([j for j, s in enumerate(self._statements) if s in ex], dtype=int)

    def _pca(self, M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Column-mean fill, centre, two components by power iteration (pca.clj)."""
        n, m = M.shape
        seen = ~np.isnan(M)
        counts = seen.sum(axis=0)
        means = np.divide(
            np.where(seen, M, 0.0).sum(axis=0), counts, out=np.zeros(m), where=counts > 0
        )
        F = np.where(seen, M, means)
        center = F.mean(axis=0)
        X = F - center
        comps = np.zeros((2, m))
        for c in range(min(2, n, m)):
            v = None
            if self._components is not None and c < len(self._components):
                prev = self._components[c]
                if np.any(prev != 0):
                    v = np.concatenate([prev, np.ones(m - prev.size)])
            if v is None:
                v = self._rng.rand(m)
            pc = self._power_iteration(X, v)
            if not pc.any():
                break
            biggest = np.argmax(np.abs(pc))
            pc = pc if pc[biggest] >= 0 else -pc
            comps[c] = pc
            X = X - np.outer(X @ pc, pc)
        return center, comps

    def _power_iteration(self, X: np.ndarray, v: np.ndarray) -> np.ndarray:
        norm = np.linalg.norm(v)
        if norm == 0:
            return v
        v = v / norm
        for _ in range(self.pca_max_iter):
            product = X.T @ (X @ v)
            eig = np.linalg.norm(product)
            if eig <= 1e-12:
                return np.zeros_like(v)
            new = product / eig
            if np.linalg.norm(new - v) < 1e-10:
                return new
            v = new
        return v

    def _update(self) -> None:
        R = self._R
        n, m = R.shape
        M = R.copy()
        excluded = self._excluded_columns()
        M[:, excluded] = 0.0

        # who is clustered (conversation.clj :in-conv), sticky across updates
        counts = (~np.isnan(R)).sum(axis=1)
        self._in_conv |= counts >= min(self.min_votes, m)
        short = self.min_participants - int(self._in_conv.sum())
        if short > 0:
            # Pol.is sorts its user-vote-counts map by count, stably, so ties keep the map's own
            # order: Clojure's hash-map order for integer participant ids (see _clojure_map_order)
            seq = _clojure_map_order(self._voters)
            order = seq[np.argsort(-counts[seq], kind="stable")]
            extra = [i for i in order if not self._in_conv[i]][:short]
            self._in_conv[extra] = True

        # PCA and the sparsity-aware projection (pca.clj)
        center, comps = self._pca(M)
        self._components = comps
        seen = ~np.isnan(M)
        deltas = np.where(seen, M - center, 0.0)
        scale = np.sqrt(m / np.maximum(seen.sum(axis=1), 1))
        proj = (deltas @ comps.T) * scale[:, None]

        # base clusters, then groups over the base centres weighted by size (clusters.clj)
        rows = np.flatnonzero(self._in_conv)
        ids = [self._voters[i] for i in rows]
        self._base = _kmeans(
            ids, proj[rows], self.n_base_clusters, last=self._base, max_iters=BASE_ITERS
        )
        bids = [b.id for b in self._base]
        centres = np.array([b.center for b in self._base])
        sizes = np.array([len(b.members) for b in self._base], dtype=float)
        D = np.sqrt(_sq_dists(centres, centres))
        max_k = min(self.max_groups, 2 + len(bids) // 12)
        silhouettes = {}
        for k in range(2, max_k + 1):
            clusters = _kmeans(
                bids,
                centres,
                k,
                last=self._groupings.get(k),
                max_iters=GROUP_ITERS,
                weights=sizes,
            )
            self._groupings[k] = clusters
            where = {b: g for g, c in enumerate(clusters) for b in c.members}
            silhouettes[k] = _silhouette(D, np.array([where[b] for b in bids]))
        best = max(sorted(silhouettes), key=lambda k: (silhouettes[k], k))
        same = self._smoother.get("last_k") == best
        count = self._smoother.get("last_k_count", 0) + 1 if same else 1
        smoothed = best if count >= self.k_buffer else self._smoother.get("smoothed_k", best)
        if smoothed not in silhouettes:  # fewer base clusters than before: that k was not run
            smoothed = best
        self._smoother = {"last_k": best, "last_k_count": count, "smoothed_k": smoothed}

        groups = self._groupings[smoothed]
        members_of = {b.id: b.members for b in self._base}
        self.groups_ = {
            p: g for g, c in enumerate(groups) for b in c.members for p in members_of[b]
        }
        self.n_groups_ = len(groups)
        self.projection_ = pd.DataFrame(
            proj, index=pd.Index(self._voters, name="voter_id"), columns=["x", "y"]
        )
        self.clustered_ = ids
        self.base_clusters_ = list(self._base)
        self.group_clusterings_ = dict(self._groupings)
        self.silhouette_ = silhouettes
        self.components_ = comps
        self.center_ = center
        self.statements_ = list(self._statements)
        self.voters_ = list(self._voters)
        self.k_smoother_ = dict(self._smoother)
        self._excluded = excluded
        self._stats: dict | None = None  # repness_ and the rest, worked out when first read
        self.n_updates_ += 1

    @property
    def repness_(self) -> pd.DataFrame:
        """One row per (group, statement): counts, pa, pd, pat, pdt, ra, rd, rat, rdt, flags."""
        return self._statistics()["repness"]

    @property
    def representative_(self) -> dict[int, list[RepresentativeStatement]]:
        """Group -> the representative statements Pol.is would show for it."""
        return self._statistics()["representative"]

    @property
    def consensus_(self) -> pd.DataFrame:
        """Group-informed consensus per statement, columns ``agree`` and ``disagree``."""
        return self._statistics()["consensus"]

    def _statistics(self) -> dict:
        """repness_, representative_ and consensus_ of the latest update (repness.clj,
        conversation.clj), worked out on first use so a replay of many updates does not pay
        for statistics nobody reads."""
        if getattr(self, "_stats", None) is not None:
            return self._stats
        if not hasattr(self, "groups_"):
            raise AttributeError("this OpinionGroups is not fitted yet: call fit(votes) first")
        excluded = self._excluded
        keep = np.setdiff1d(np.arange(len(self._statements)), excluded)
        statements = [self._statements[j] for j in keep]
        V = self._R[:, keep]
        g = self.n_groups_
        na = np.zeros((g, keep.size))
        nd = np.zeros((g, keep.size))
        ns = np.zeros((g, keep.size))
        members = [[] for _ in range(g)]
        for p, gi in self.groups_.items():
            members[gi].append(self._row[p])
        for gi, rows in enumerate(members):
            sub = V[np.array(rows, dtype=int)]
            na[gi] = (sub == 1).sum(axis=0)
            nd[gi] = (sub == -1).sum(axis=0)
            ns[gi] = (~np.isnan(sub)).sum(axis=0)
        consensus = pd.DataFrame(
            {
                "agree": np.prod((na + 1.0) / (ns + 2.0), axis=0),
                "disagree": np.prod((nd + 1.0) / (ns + 2.0), axis=0),
            },
            index=pd.Index(statements, name="statement_id"),
        )
        rest_a, rest_d, rest_s = na.sum(0) - na, nd.sum(0) - nd, ns.sum(0) - ns
        pa, pd_ = (1 + na) / (2 + ns), (1 + nd) / (2 + ns)
        stats = {
            "n_agree": na,
            "n_disagree": nd,
            "n_votes": ns,
            "pa": pa,
            "pd": pd_,
            "pat": prop_test(na, ns),
            "pdt": prop_test(nd, ns),
            "ra": pa / ((1 + rest_a) / (2 + rest_s)),
            "rd": pd_ / ((1 + rest_d) / (2 + rest_s)),
            "rat": two_prop_test(na, rest_a, ns, rest_s),
            "rdt": two_prop_test(nd, rest_d, ns, rest_s),
        }
        stats = {k: np.asarray(v, dtype=float).reshape(g, keep.size) for k, v in stats.items()}
        agree_sig = (stats["rat"] > Z_90) & (stats["pat"] > Z_90)
        disagree_sig = (stats["rdt"] > Z_90) & (stats["pdt"] > Z_90)
        table = pd.DataFrame(
            {
                "group": np.repeat(np.arange(g), keep.size),
                "statement_id": statements * g,
                **{k: v.ravel() for k, v in stats.items()},
            }
        )
        for col in ("n_agree", "n_disagree", "n_votes"):
            table[col] = table[col].astype(int)
        table["repful_for"] = np.where(table["rat"] > table["rdt"], "agree", "disagree")
        table["agree_significant"] = agree_sig.ravel()
        table["disagree_significant"] = disagree_sig.ravel()
        table["significant"] = table["agree_significant"] | table["disagree_significant"]
        columns = {k: table[k].to_numpy() for k in table.columns}
        representative = {}
        for gi in range(g):
            rows = slice(gi * keep.size, (gi + 1) * keep.size)
            records = [{k: v[i] for k, v in columns.items()} for i in range(rows.start, rows.stop)]
            representative[gi] = _select_representative(records)
        self._stats = {"repness": table, "representative": representative, "consensus": consensus}
        return self._stats


def _finalize(row: Mapping, best_agree: bool = False) -> RepresentativeStatement:
    """repness/finalize-cmt-stats: the side with the larger two-proportion z."""
    agree = row["rat"] > row["rdt"]
    side = (
        ("n_agree", "pa", "pat", "ra", "rat") if agree else ("n_disagree", "pd", "pdt", "rd", "rdt")
    )
    return RepresentativeStatement(
        statement_id=row["statement_id"],
        repful_for="agree" if agree else "disagree",
        n_success=int(row[side[0]]),
        n_trials=int(row["n_votes"]),
        p_success=float(row[side[1]]),
        p_test=float(row[side[2]]),
        repness=float(row[side[3]]),
        repness_test=float(row[side[4]]),
        best_agree=best_agree,
        n_agree=int(row["n_agree"]),
        n_disagree=int(row["n_disagree"]),
        **{k: float(row[k]) for k in ("pa", "pd", "pat", "pdt", "ra", "rd", "rat", "rdt")},
        significant=bool(row["significant"]),
    )


def _beats_best_agree(row: Mapping, best: Mapping | None) -> bool:
    """repness/beats-best-agr?"""
    if row["n_agree"] == 0 and row["n_disagree"] == 0:
        return False
    if best is not None and best["ra"] > 1.0:
        return (
            row["ra"] * row["rat"] * row["pa"] * row["pat"]
            > best["ra"] * best["rat"] * best["pa"] * best["pat"]
        )
    if best is not None:
        return row["pa"] * row["pat"] > best["pa"] * best["pat"]
    return bool(row["pat"] > Z_90 or (row["ra"] > 1.0 and row["pa"] > 0.5))


def _select_representative(records: list[dict]) -> list[RepresentativeStatement]:
    """repness/select-rep-comments for one group; ``records`` are its statements in column order."""
    sufficient: list[RepresentativeStatement] = []
    best: dict | None = None
    best_agree: dict | None = None
    for row in records:
        if row["significant"]:
            sufficient.append(_finalize(row))
        if not sufficient and (best is None or max(row["rat"], row["rdt"]) > best["_test"]):
            best = {**row, "_test": max(row["rat"], row["rdt"])}
        if _beats_best_agree(row, best_agree):
            best_agree = row
    # As in Pol.is, the best-agree statement is finalised like any other, so it can come out as
    # repful for disagree when its disagree test is the larger.
    head = [_finalize(best_agree, best_agree=True)] if best_agree is not None else []
    if not sufficient:
        if head:
            return head
        return [_finalize(best)] if best is not None else []
    chosen_id = head[0].statement_id if head else object()
    ranked = sorted((s for s in sufficient if s.statement_id != chosen_id), key=lambda s: -s.metric)
    top = (head + ranked)[:5]
    return [s for s in top if s.repful_for == "agree"] + [
        s for s in top if s.repful_for == "disagree"
    ]


def opinion_groups(
    votes: pd.DataFrame,
    *,
    exclude_statements: Iterable | None = None,
    min_votes: int = 7,
    n_base_clusters: int = 100,
    max_groups: int = 5,
    random_state: int | None = 0,
) -> dict:
    """``{voter_id: group index}`` for the voters Pol.is would cluster (see :class:`OpinionGroups`).

    ``votes`` is a DataFrame with columns voter_id, statement_id and vote (1 agree, -1 disagree,
    0 pass), one row per vote; where a (voter, statement) pair appears more than once the last row
    is kept, so pass the votes in time order. ``exclude_statements`` lists the statements Pol.is
    leaves out of the maths: moderated-out and meta ones. This is one Pol.is update from scratch
    (:meth:`OpinionGroups.fit`); Pol.is's own ``group-id`` for a conversation that ran for a while
    comes from many warm-started updates and can differ (see the module docstring).
    """
    model = OpinionGroups(
        min_votes=min_votes,
        n_base_clusters=n_base_clusters,
        max_groups=max_groups,
        random_state=random_state,
        exclude_statements=exclude_statements,
    )
    return dict(model.fit(votes).groups_)
