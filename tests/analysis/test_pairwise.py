"""Bradley–Terry scores and adaptive pairs: hand-worked cases, simulations with known strengths,
and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import brentq
from scipy.special import expit
from scipy.stats import spearmanr
from sklearn.exceptions import ConvergenceWarning

from changebank.analysis.pairwise import BradleyTerry, bradley_terry, choose_pair


def true_scores(theta: np.ndarray) -> np.ndarray:
    """Chance to beat a random other idea under the true strengths."""
    P = expit(theta[:, None] - theta[None, :])
    np.fill_diagonal(P, 0.0)
    return P.sum(axis=1) / (len(theta) - 1)


def simulate_votes(theta, n_votes, rng, ids=None):
    """Random pairs of distinct ideas; the winner drawn from the Bradley–Terry model."""
    n = len(theta)
    ids = list(range(n)) if ids is None else ids
    a = rng.integers(0, n, n_votes)
    b = (a + rng.integers(1, n, n_votes)) % n
    a_wins = rng.random(n_votes) < expit(theta[a] - theta[b])
    return [
        (ids[i], ids[j]) if w else (ids[j], ids[i])
        for i, j, w in zip(a.tolist(), b.tolist(), a_wins, strict=True)
    ]


# --- hand-worked cases ------------------------------------------------------------------------------


def test_two_ideas_with_a_weak_prior_give_the_win_rate_and_its_delta_method_error():
    # a beats b 3 times out of 4. With a negligible prior the MAP is the MLE: σ(θ_a − θ_b) = 3/4,
    # so θ_a = −θ_b = log(3)/2, and a's chance to beat "a random other idea" (only b) is 3/4.
    # Var(θ_a − θ_b) = 1 / (N p (1 − p)) = 1 / (4 · 3/16) = 4/3, and ds/dd = p(1 − p) = 3/16,
    # so se(s_a) = 3/16 · √(4/3) = √(3/64).
    model = BradleyTerry(prior=1000.0).fit([("a", "b")] * 3 + [("b", "a")])
    assert model.ids_ == ["a", "b"]
    assert model.scores_ == pytest.approx([0.75, 0.25], abs=1e-5)
    assert model.strengths_ == pytest.approx([math.log(3) / 2, -math.log(3) / 2], abs=1e-5)
    assert model.score_se_ == pytest.approx([math.sqrt(3 / 64)] * 2, rel=1e-4)
    # The interval is σ(logit s ± 1.96 se / (s (1 − s))).
    half = 1.959964 * math.sqrt(3 / 64) / (0.75 * 0.25)
    assert model.score_low_[0] == pytest.approx(expit(math.log(3) - half), abs=1e-5)
    assert model.score_high_[0] == pytest.approx(expit(math.log(3) + half), abs=1e-5)
    assert model.wins_.tolist() == [3, 1] and model.losses_.tolist() == [1, 3]
    assert model.n_comparisons_.tolist() == [4, 4]


def test_the_prior_shrinks_towards_even_by_the_stated_equation():
    # With prior τ the posterior is maximised where 3 − 4σ(d) − d / (2τ²) = 0 for d = θ_a − θ_b
    # (θ_a = −θ_b = d/2, so the prior term is −d² / (4τ²)).
    tau = 1.0
    d = brentq(lambda d: 3 - 4 * expit(d) - d / (2 * tau**2), 0, 5)
    model = BradleyTerry(prior=tau).fit([("a", "b")] * 3 + [("b", "a")])
    assert model.strengths_ == pytest.approx([d / 2, -d / 2], abs=1e-8)
    assert model.scores_[0] == pytest.approx(expit(d), abs=1e-8)
    assert 0.5 < model.scores_[0] < 0.75


def test_scores_are_the_mean_chance_to_beat_each_other_idea():
    pairs = [("a", "b"), ("a", "c"), ("b", "c"), ("c", "a"), ("a", "b"), ("d", "a"), ("b", "d")]
    model = BradleyTerry().fit(pairs)
    theta = model.strengths_
    for i in range(4):
        others = [expit(theta[i] - theta[j]) for j in range(4) if j != i]
        assert model.scores_[i] == pytest.approx(np.mean(others))
    assert theta.sum() == pytest.approx(0.0, abs=1e-9)
    assert bradley_terry(pairs) == pytest.approx(model.score_dict())
    assert all(0.0 <= s <= 1.0 for s in bradley_terry(pairs).values())


def test_unbeaten_and_never_compared_ideas_stay_finite():
    model = BradleyTerry(prior=2.0).fit([("a", "b")] * 5, ideas=["a", "b", "new"])
    assert np.isfinite(model.strengths_).all() and np.isfinite(model.strength_se_).all()
    assert model.scores_[0] < 1.0 and model.scores_[1] > 0.0
    # No votes: the gradient for "new" is −θ/τ², so θ = 0, and with θ_a = −θ_b its score is 0.5.
    assert model.strengths_[2] == pytest.approx(0.0, abs=1e-9)
    assert model.scores_[2] == pytest.approx(0.5)
    assert model.n_comparisons_[2] == 0
    # ...with a wide interval: the prior alone.
    assert model.score_low_[2] < 0.25 and model.score_high_[2] > 0.75


def test_cannot_decide_is_counted_and_either_ignored_or_half_a_win():
    pairs = [("a", "b"), ("a", "b")]
    undecided = [("b", "a")]
    ignored = BradleyTerry(prior=1000.0).fit(pairs, undecided=undecided)
    plain = BradleyTerry(prior=1000.0).fit(pairs)
    assert ignored.strengths_ == pytest.approx(plain.strengths_)
    assert ignored.n_undecided_.tolist() == [1, 1]
    assert ignored.n_comparisons_.tolist() == [3, 3]
    # Half a win each: a has 2.5 wins of 3, so with a negligible prior σ(d) = 5/6.
    half = BradleyTerry(prior=1000.0, ties="half").fit(pairs, undecided=undecided)
    assert half.scores_[0] == pytest.approx(5 / 6, abs=1e-5)
    assert half.n_comparisons_.tolist() == [3, 3]
    # Only "cannot decide" answers: nothing in the likelihood, so every score stays at 0.5.
    only = BradleyTerry().fit([], undecided=[("a", "b"), ("b", "c")])
    assert only.scores_ == pytest.approx([0.5, 0.5, 0.5])


def test_ids_of_any_hashable_type_and_a_results_table():
    pairs = [((1, "x"), 7), (7, "seven"), ((1, "x"), "seven"), ("seven", 7)]
    assert BradleyTerry().fit(pairs).ids_ == [(1, "x"), 7, "seven"]  # order of first appearance
    model = BradleyTerry().fit(pairs, ideas=["unseen", 7, "seven", (1, "x")])
    assert model.ids_ == ["unseen", 7, "seven", (1, "x")]  # the order of ideas
    table = model.results()
    assert [row.score for row in table] == sorted(model.scores_.tolist(), reverse=True)
    assert table[0].idea == (1, "x") and table[0].wins == 2 and table[0].losses == 0
    assert all(row.low <= row.score <= row.high for row in table)
    assert {row.idea: row.comparisons for row in table} == {
        "unseen": 0,
        7: 3,
        (1, "x"): 2,
        "seven": 3,
    }


# --- simulations with known strengths -----------------------------------------------------------------


def test_recovers_known_strengths_from_thousands_of_votes():
    rng = np.random.default_rng(2024)
    n = 20
    theta = np.linspace(-1.5, 1.5, n)
    ids = [f"idea-{k:02d}" for k in rng.permutation(n)]  # the names say nothing about strength
    pairs = simulate_votes(theta, 4000, rng, ids)
    model = BradleyTerry().fit(pairs)
    order = [model.ids_.index(i) for i in ids]
    fitted = model.strengths_[order]
    assert spearmanr(fitted, theta).statistic >= 0.9
    best = ids[int(np.argmax(theta))]
    top_two = [row.idea for row in model.results()[:2]]
    assert best in top_two
    assert np.abs(model.scores_[order] - true_scores(theta)).max() < 0.05
    assert model.n_comparisons_.sum() == 2 * 4000


def test_intervals_cover_the_true_scores_near_the_nominal_rate():
    covered, total, widths = 0, 0, []
    for rep in range(30):
        rng = np.random.default_rng(rep)
        theta = rng.normal(0.0, 1.0, 15)
        model = BradleyTerry(level=0.95).fit(simulate_votes(theta, 1500, rng), ideas=range(15))
        truth = true_scores(theta)
        covered += int(((model.score_low_ <= truth) & (truth <= model.score_high_)).sum())
        total += 15
        widths.append(np.mean(model.score_high_ - model.score_low_))
    coverage = covered / total
    # About 95 %: at least 85 % (the brief), and not so wide that they cover everything.
    assert 0.85 <= coverage <= 0.99
    assert np.mean(widths) < 0.2


def test_a_lower_level_gives_narrower_intervals():
    rng = np.random.default_rng(5)
    pairs = simulate_votes(rng.normal(0, 1, 8), 300, rng)
    wide = BradleyTerry(level=0.95).fit(pairs)
    narrow = BradleyTerry(level=0.5).fit(pairs)
    assert ((narrow.score_high_ - narrow.score_low_) < (wide.score_high_ - wide.score_low_)).all()


def test_adaptive_pairs_with_simulated_votes_recover_the_ranking():
    rng = np.random.default_rng(11)
    n = 25
    theta = np.linspace(-2, 2, n)
    counts = dict.fromkeys(range(n), 0)
    scores = None
    pairs = []
    for r in range(3000):
        a, b = choose_pair(counts, scores, rng)
        counts[a] += 1
        counts[b] += 1
        pairs.append((a, b) if rng.random() < expit(theta[a] - theta[b]) else (b, a))
        if r % 500 == 499:
            scores = bradley_terry(pairs, ideas=range(n))
    model = BradleyTerry().fit(pairs, ideas=range(n))
    assert spearmanr(model.strengths_, theta).statistic >= 0.9
    assert n - 1 in [row.idea for row in model.results()[:2]]


# --- adaptive pairs ----------------------------------------------------------------------------------


def test_a_new_idea_catches_up_with_the_median_idea_within_bounded_rounds():
    rng = np.random.default_rng(3)
    n = 30
    theta = np.linspace(-2, 2, n)
    s = true_scores(theta)
    counts = dict.fromkeys(range(n), 0)
    scores = {i: float(s[i]) for i in range(n)}
    for _ in range(1500):
        a, b = choose_pair(counts, scores, rng)
        counts[a] += 1
        counts[b] += 1
    shown = list(counts.values())
    assert max(shown) - min(shown) <= 3  # showings are kept balanced
    median_then, least_then = float(np.median(shown)), min(shown)
    counts["new"] = 0
    rounds, with_new = 0, []
    while counts["new"] < np.median([v for k, v in counts.items() if k != "new"]):
        a, b = choose_pair(counts, scores, rng)
        counts[a] += 1
        counts[b] += 1
        rounds += 1
        with_new.append("new" in (a, b))
        assert rounds <= median_then + n, "the new idea did not catch up"
    # It was in every pair until it had caught up with the least-shown idea.
    assert all(with_new[:least_then])


def test_the_least_shown_idea_is_always_in_the_pair():
    rng = np.random.default_rng(0)
    counts = {"a": 10, "b": 12, "late": 0, "d": 10}
    pairs = [choose_pair(counts, rng=rng) for _ in range(200)]
    assert all("late" in p and p[0] != p[1] for p in pairs)
    # ...on either side, so neither position is favoured.
    assert 60 < sum(p[0] == "late" for p in pairs) < 140


def test_close_contests_and_rarely_shown_partners_are_favoured():
    rng = np.random.default_rng(1)
    counts = {"mid": 0, "close": 0, "far": 0}
    scores = {"mid": 0.5, "close": 0.55, "far": 0.97}
    pairs = [frozenset(choose_pair(counts, scores, rng)) for _ in range(3000)]
    close = pairs.count(frozenset({"mid", "close"}))
    far = pairs.count(frozenset({"mid", "far"}))
    assert close > 2 * far > 0  # far-apart pairs are rarer but still shown
    # The documented weights: the first idea uniformly, its partner ∝ 4 p (1 − p).
    eta = {k: math.log(v / (1 - v)) for k, v in scores.items()}

    def w(i, j):
        p = expit(eta[i] - eta[j])
        return 4 * p * (1 - p)

    def chance(i, j):  # P(the pair {i, j}) with three ideas and equal counts
        (k,) = set(scores) - {i, j}
        return (w(i, j) / (w(i, j) + w(i, k)) + w(j, i) / (w(j, i) + w(j, k))) / 3

    for pair, seen in ((("mid", "close"), close), (("mid", "far"), far)):
        expected = 3000 * chance(*pair)
        assert abs(seen - expected) < 4 * math.sqrt(expected)

    counts = {"first": 0, "shown_once": 1, "shown_often": 5}
    partners = [set(choose_pair(counts, rng=rng)) - {"first"} for _ in range(2000)]
    often = sum(p == {"shown_often"} for p in partners)
    once = sum(p == {"shown_once"} for p in partners)
    assert once > 10 * often  # weights e^-1 against e^-5
    flat = [set(choose_pair(counts, rng=rng, catch_up=0)) - {"first"} for _ in range(2000)]
    assert 800 < sum(p == {"shown_often"} for p in flat) < 1200


def test_pairs_are_seeded_and_respect_exclusions():
    counts = {k: 3 for k in "abcde"}
    first = [choose_pair(counts, rng=np.random.default_rng(42)) for _ in range(5)]
    again = [choose_pair(counts, rng=np.random.default_rng(42)) for _ in range(5)]
    assert first == again
    gen = np.random.default_rng(7)
    seq = [choose_pair(counts, rng=gen) for _ in range(20)]
    assert len(set(seq)) > 1
    assert choose_pair(counts, rng=7) == choose_pair(counts, rng=7)

    seen = [("a", "b"), ("c", "a"), ("a", "d")]
    for _ in range(100):
        pair = choose_pair(counts, rng=gen, exclude=seen)
        assert frozenset(pair) not in {frozenset(p) for p in seen}
    everything = [(x, y) for x in "abcde" for y in "abcde" if x < y]
    assert choose_pair(counts, rng=gen, exclude=everything) is None
    # The least-shown idea is skipped when it has no pair left.
    stuck = {"a": 0, "b": 5, "c": 5}
    assert set(choose_pair(stuck, rng=gen, exclude=[("a", "b"), ("a", "c")])) == {"b", "c"}


# --- bad input ----------------------------------------------------------------------------------------


def test_bad_votes_are_reported_clearly():
    with pytest.raises(ValueError, match=r"pairs\[1\] compares idea 'a' with itself"):
        bradley_terry([("a", "b"), ("a", "a")])
    with pytest.raises(ValueError, match="no comparisons to fit"):
        bradley_terry([])
    with pytest.raises(ValueError, match=r"pairs\[0\] has no idea \(None\)"):
        bradley_terry([(None, "b")])
    with pytest.raises(TypeError, match="hashable"):
        bradley_terry([(["a"], "b")])
    with pytest.raises(TypeError, match="not one string"):
        bradley_terry("ab")
    with pytest.raises(TypeError, match="the string 'ab'"):
        bradley_terry(["ab"])
    with pytest.raises(ValueError, match="pair of two ideas"):
        bradley_terry([("a", "b", "c")])
    with pytest.raises(ValueError, match=r"undecided\[0\] compares idea 'b' with itself"):
        bradley_terry([("a", "b")], undecided=[("b", "b")])
    with pytest.raises(ValueError, match="'c', which is not in ideas"):
        bradley_terry([("a", "c")], ideas=["a", "b"])


def test_bad_settings_are_reported_clearly():
    pairs = [("a", "b")]
    with pytest.raises(ValueError, match="prior should be a positive number"):
        BradleyTerry(prior=0).fit(pairs)
    with pytest.raises(ValueError, match="ties should be one of"):
        BradleyTerry(ties="coin").fit(pairs)
    with pytest.raises(ValueError, match="level should be between 0 and 1"):
        BradleyTerry(level=95).fit(pairs)
    with pytest.warns(ConvergenceWarning, match="did not converge in 1 Newton steps"):
        BradleyTerry(max_iter=1).fit(pairs * 3 + [("b", "a")])
    with pytest.raises(ValueError, match="at least two ideas"):
        choose_pair({"a": 0})
    with pytest.raises(ValueError, match=r"counts\['a'\] should be a non-negative number, got -1"):
        choose_pair({"a": -1, "b": 0})
    with pytest.raises(
        ValueError, match=r"scores\['b'\] should be a probability from 0 to 1, got 1.5"
    ):
        choose_pair({"a": 0, "b": 0}, {"b": 1.5})
    with pytest.raises(TypeError, match="counts should be a mapping"):
        choose_pair([0, 1])
    with pytest.raises(ValueError, match="catch_up should be a non-negative number"):
        choose_pair({"a": 0, "b": 0}, catch_up=-1)
