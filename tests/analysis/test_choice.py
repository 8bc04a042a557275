"""Discrete choice experiments: design efficiency, constraints, blocks, conditional logit recovery,
clustered standard errors, relative importance and shares (hand-checked), input validation."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit, softmax
from sklearn.base import clone
from statsmodels.discrete.conditional_models import ConditionalLogit as StatsmodelsConditionalLogit
from statsmodels.stats.sandwich_covariance import cov_cluster

from changebank.analysis.choice import (
    Attribute,
    ConditionalLogit,
    choice_design,
    d_error,
)

SERVICE = [
    Attribute("cost", ["£0", "£5", "£10"], better="first"),
    Attribute("wait", ["1 week", "4 weeks", "12 weeks"], better="first"),
    Attribute("where", ["GP", "pharmacy", "online"]),
    Attribute("staff", ["doctor", "nurse"]),
]
# effects-coded truth: cost[£0], cost[£5], wait[1 week], wait[4 weeks], where[GP], where[pharmacy],
# staff[doctor]
TRUE_BETA = np.array([0.8, 0.1, 0.6, 0.0, 0.3, -0.2, 0.4])


# -- helpers written independently of the module ----------------------------------------------------
def effects_code(table, attributes, opt_out=False):
    """Effects coding by hand: level l < L-1 -> e_l, the last level -> all -1."""
    cols = []
    for a in attributes:
        L = len(a.levels)
        block = np.zeros((len(table), L - 1))
        for r, v in enumerate(table[a.name]):
            if v is None:
                continue
            i = list(a.levels).index(v)
            block[r] = -1.0 if i == L - 1 else np.eye(L - 1)[i]
        cols.append(block)
    if opt_out:
        cols.append(table["opt_out"].to_numpy(float)[:, None])
    return np.hstack(cols)


def dominated_pairs(profiles, attributes):
    """(i, j) with j at least as good as i on every ordered attribute and better on one."""
    ordered = [a for a in attributes if a.better is not None]
    if not ordered:
        return []

    def goodness(p):
        out = []
        for a in ordered:
            i = list(a.levels).index(p[a.name])
            out.append(i if a.better == "last" else len(a.levels) - 1 - i)
        return np.array(out)

    g = [goodness(p) for p in profiles]
    return [
        (i, j)
        for i, j in itertools.permutations(range(len(g)), 2)
        if (g[j] >= g[i]).all() and (g[j] > g[i]).any()
    ]


def simulate(design_table, attributes, beta, n_respondents, seed, sd=0.0, opt_out=False):
    """Each respondent answers every set, choosing the highest utility x'b + Gumbel noise."""
    rng = np.random.default_rng(seed)
    X = effects_code(design_table, attributes, opt_out)
    sets = design_table["set"].to_numpy()
    frames = []
    for r in range(n_respondents):
        b = beta + sd * rng.standard_normal(beta.size)
        u = X @ b + rng.gumbel(size=len(X))
        chosen = np.zeros(len(X))
        for s in np.unique(sets):
            rows = np.flatnonzero(sets == s)
            chosen[rows[np.argmax(u[rows])]] = 1
        frames.append(design_table.assign(respondent=f"r{r}", chosen=chosen))
    return pd.concat(frames, ignore_index=True)


def random_valid_design(attributes, n_sets, n_alternatives, rng):
    """A random design obeying the same rules: distinct, non-dominated, no repeated set."""
    rows, seen = [], set()
    for s in range(n_sets):
        while True:
            profiles = [{a.name: a.levels[rng.integers(len(a.levels))] for a in attributes}]
            while len(profiles) < n_alternatives:
                profiles.append({a.name: a.levels[rng.integers(len(a.levels))] for a in attributes})
            keys = tuple(sorted(tuple(p.values()) for p in profiles))
            distinct = len(set(keys)) == n_alternatives
            if distinct and keys not in seen and not dominated_pairs(profiles, attributes):
                seen.add(keys)
                break
        rows += [{"set": s + 1, **p} for p in profiles]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def service_design():
    return choice_design(SERVICE, n_sets=12, n_alternatives=3, n_blocks=3, random_state=1)


@pytest.fixture(scope="module")
def simulated_fit(service_design):
    data = simulate(service_design.table, SERVICE, TRUE_BETA, n_respondents=300, seed=7)
    model = ConditionalLogit(SERVICE).fit(data, "chosen", choice_set="set", respondent="respondent")
    return data, model


# -- D-error -----------------------------------------------------------------------------------------
def test_d_error_matches_hand_computed_information():
    # one binary attribute, effects coded +1/-1, p = (1/2, 1/2): I = 1/4 * (1 - (-1))^2 = 1 per set
    one = pd.DataFrame({"set": [1, 1], "x": ["a", "b"]})
    assert d_error(one, {"x": ["a", "b"]}) == pytest.approx(1.0)
    # dummy coded 0/1: I = 1/4 per set, D-error 4; three copies of the set: det I = 3/4
    assert d_error(one, {"x": ["a", "b"]}, coding="dummy") == pytest.approx(4.0)
    three = pd.DataFrame({"set": [1, 1, 2, 2, 3, 3], "x": ["a", "b"] * 3})
    assert d_error(three, {"x": ["a", "b"]}, coding="dummy") == pytest.approx(4 / 3)
    # at a prior b the probabilities are expit(±2b): I = 4 p (1 - p)
    b = 0.5
    p = expit(2 * b)
    assert d_error(one, {"x": ["a", "b"]}, priors={"x[a]": b}) == pytest.approx(
        1 / (4 * p * (1 - p))
    )
    # prior draws: the Bayesian D-error is the mean over draws
    draws = np.array([[0.0], [b]])
    assert d_error(one, {"x": ["a", "b"]}, priors=draws) == pytest.approx(
        (1 + 1 / (4 * p * (1 - p))) / 2
    )
    # two binary attributes: {(+,+),(-,-)} and {(+,-),(-,+)} give I = diag(2, 2), D-error 1/2
    two = pd.DataFrame({"set": [1, 1, 2, 2], "u": ["a", "b", "a", "b"], "v": ["a", "b", "b", "a"]})
    assert d_error(two, {"u": ["a", "b"], "v": ["a", "b"]}) == pytest.approx(0.5)
    # the first set alone identifies only u + v: singular
    assert d_error(two.iloc[:2], {"u": ["a", "b"], "v": ["a", "b"]}) == math.inf


def test_design_search_reaches_the_known_optimum_for_three_binary_attributes():
    # for ±1 coding and two alternatives, trace I_s <= |x1 - x2|^2 / 4 <= 3, so
    # det I <= (4 * 3 / 3)^3 and the D-error of 4 sets is at least 1/4
    design = choice_design(
        {"a": [0, 1], "b": [0, 1], "c": [0, 1]}, n_sets=4, n_alternatives=2, random_state=0
    )
    assert design.d_error == pytest.approx(0.25)
    assert design.random_d_error > design.d_error


def test_design_search_improves_on_random_designs(service_design):
    d = service_design
    assert d.d_error < d.random_d_error
    assert d.d_efficiency > d.random_d_efficiency
    assert d.d_efficiency == pytest.approx(1 / (12 * d.d_error))
    # the reported D-error is that of the returned table, recomputed from scratch
    assert d_error(d.table, SERVICE) == pytest.approx(d.d_error, rel=1e-9)
    # and better than every one of 30 random designs following the same rules
    rng = np.random.default_rng(3)
    random_errors = [d_error(random_valid_design(SERVICE, 12, 3, rng), SERVICE) for _ in range(30)]
    assert d.d_error < min(random_errors)


def test_design_information_matches_a_hand_built_matrix(service_design):
    table = service_design.table
    X = effects_code(table, SERVICE)
    info = np.zeros((X.shape[1], X.shape[1]))
    for _, rows in table.groupby("set").groups.items():
        Xs = X[rows]
        Xs = Xs - Xs.mean(axis=0)  # p = 1/J at zero priors
        info += Xs.T @ Xs / len(rows)
    k = X.shape[1]
    assert service_design.d_error == pytest.approx(np.linalg.det(info) ** (-1 / k))
    np.testing.assert_allclose(service_design.coded().to_numpy(), X)


@pytest.mark.parametrize(
    "attributes, n_alternatives, opt_out, seed",
    [
        (SERVICE, 3, False, 1),
        (SERVICE, 2, True, 2),
        (
            [
                Attribute("quality", ["low", "mid", "high"], better="last"),
                Attribute("cost", [30, 20, 10], better="last"),
                Attribute("distance", ["near", "far"], better="first"),
            ],
            2,
            False,
            3,
        ),
    ],
)
def test_no_dominated_identical_or_repeated_alternatives(attributes, n_alternatives, opt_out, seed):
    design = choice_design(
        attributes,
        n_sets=8,
        n_alternatives=n_alternatives,
        opt_out=opt_out,
        n_blocks=2,
        random_state=seed,
        n_starts=3,
    )
    names = [a.name for a in attributes]
    keys = []
    for _, rows in design.table.groupby("set"):
        real = rows[~rows["opt_out"]] if opt_out else rows
        assert len(real) == n_alternatives
        profiles = real[names].to_dict("records")
        tuples = [tuple(p.values()) for p in profiles]
        assert len(set(tuples)) == n_alternatives, "identical alternatives in a set"
        assert dominated_pairs(profiles, attributes) == [], "a dominated alternative"
        keys.append(tuple(sorted(tuples)))
        if opt_out:
            assert rows["opt_out"].sum() == 1
            assert rows.loc[rows["opt_out"], names].isna().all(axis=None)
    assert len(set(keys)) == len(keys), "a choice set is repeated"
    assert design.d_error < design.random_d_error


def test_blocks_have_equal_sizes_and_balanced_levels(service_design):
    table = service_design.table
    sets_per_block = table.groupby("block")["set"].nunique()
    assert sets_per_block.tolist() == [4, 4, 4]
    assert (table.groupby("set")["block"].nunique() == 1).all()
    # sets are numbered block by block
    assert table.groupby("block")["set"].min().tolist() == [1, 5, 9]

    # level counts of each set (rows: sets 1..12), then Σ_b Σ_levels (n_b - n / B)^2
    per_set = pd.get_dummies(table[[a.name for a in SERVICE]]).groupby(table["set"]).sum()

    def imbalance(block_of_set):
        per_block = per_set.groupby(per_set.index.map(block_of_set)).sum().to_numpy(float)
        return float(((per_block - per_block.mean(axis=0)) ** 2).sum())

    found = table.groupby("set")["block"].first().to_dict()
    assert imbalance(found) == pytest.approx(service_design.block_imbalance)
    rng = np.random.default_rng(0)
    random_imbalances = [
        imbalance(dict(zip(range(1, 13), rng.permutation(np.repeat([1, 2, 3], 4)), strict=True)))
        for _ in range(200)
    ]
    assert service_design.block_imbalance <= min(random_imbalances)


def test_design_is_reproducible_with_a_seed():
    a = choice_design(SERVICE, n_sets=8, n_alternatives=2, random_state=11, n_starts=2)
    b = choice_design(SERVICE, n_sets=8, n_alternatives=2, random_state=11, n_starts=2)
    pd.testing.assert_frame_equal(a.table, b.table)
    assert a.d_error == b.d_error


def test_priors_change_the_criterion_consistently():
    priors = dict(
        zip(
            choice_design(SERVICE, n_sets=8, random_state=0).parameter_names, TRUE_BETA, strict=True
        )
    )
    design = choice_design(SERVICE, n_sets=8, priors=priors, random_state=0, n_starts=3)
    assert d_error(design.table, SERVICE, priors=priors) == pytest.approx(design.d_error)
    assert design.d_error < design.random_d_error


# -- estimation --------------------------------------------------------------------------------------
def test_simulated_respondents_recover_the_coefficients(simulated_fit):
    data, model = simulated_fit
    assert model.parameter_names_ == [
        "cost[£0]",
        "cost[£5]",
        "wait[1 week]",
        "wait[4 weeks]",
        "where[GP]",
        "where[pharmacy]",
        "staff[doctor]",
    ]
    z = np.abs(model.coef_.to_numpy() - TRUE_BETA) / model.se_.to_numpy()
    assert (z < 3).all(), z
    lower, upper = model.conf_int_["lower"].to_numpy(), model.conf_int_["upper"].to_numpy()
    covered = (lower <= TRUE_BETA) & (upper >= TRUE_BETA)
    assert covered.sum() >= 6, covered
    assert model.converged_
    assert model.n_respondents_ == 300
    assert model.n_choice_sets_ == 300 * 12
    assert model.n_obs_ == len(data)
    # McFadden: 1 - l(b)/l(0) with l(0) = 3600 * log(1/3)
    assert model.loglik_null_ == pytest.approx(3600 * np.log(1 / 3))
    assert model.pseudo_r2_ == pytest.approx(1 - model.loglik_ / model.loglik_null_)
    assert 0 < model.pseudo_r2_ < 1
    # z, p and the interval follow from the coefficient and its clustered SE
    np.testing.assert_allclose(model.z_, model.coef_ / model.se_)
    np.testing.assert_allclose(upper - lower, 2 * 1.959963984540054 * model.se_, rtol=1e-9)
    assert (model.p_values_.to_numpy() < 0.05).sum() >= 5
    # true importance from the true part-worths (effects coding: the last level is minus the sum)
    sizes = [len(a.levels) for a in SERVICE]
    ranges, start = [], 0
    for L in sizes:
        b = TRUE_BETA[start : start + L - 1]
        worths = np.append(b, -b.sum())
        ranges.append(worths.max() - worths.min())
        start += L - 1
    true_importance = 100 * np.array(ranges) / sum(ranges)
    imp = model.relative_importance()
    assert imp["attribute"].tolist() == ["cost", "wait", "where", "staff"]
    inside = (imp["lower"] <= true_importance) & (imp["upper"] >= true_importance)
    assert inside.sum() >= 3, (imp, true_importance)


def test_estimates_match_statsmodels_conditional_logit_and_sandwich(simulated_fit):
    data, model = simulated_fit
    X = effects_code(data, SERVICE)
    situation = pd.factorize(data["respondent"] + "/" + data["set"].astype(str))[0]
    reference = StatsmodelsConditionalLogit(data["chosen"].to_numpy(), X, groups=situation).fit()
    np.testing.assert_allclose(model.coef_.to_numpy(), reference.params, atol=1e-3)
    assert model.loglik_ == pytest.approx(reference.llf, abs=1e-4)
    # the clustered covariance is statsmodels' cluster sandwich (no correction) times G/(G-1)
    sm_results = model.results_
    scores = sm_results.model.score_obs(model.coef_.to_numpy())
    h_inv = np.linalg.inv(sm_results.model.hessian(model.coef_.to_numpy()))
    groups = pd.factorize(data["respondent"])[0]
    expected = cov_cluster((scores, h_inv), groups, use_correction=False) * 300 / 299
    np.testing.assert_allclose(model.cov_.to_numpy(), expected, rtol=1e-8, atol=1e-12)
    # the statsmodels summary carries the clustered standard errors
    np.testing.assert_allclose(sm_results.bse, model.se_.to_numpy())
    text = str(model.summary())
    assert "cost[£0]" in text
    # homogeneous respondents: clustering changes little
    ratio = model.se_.to_numpy() / np.sqrt(np.diag(model.cov_model_.to_numpy()))
    assert (np.abs(ratio - 1) < 0.15).all(), ratio


def test_clustered_errors_grow_when_respondents_differ(service_design):
    data = simulate(service_design.table, SERVICE, TRUE_BETA, 300, seed=9, sd=1.0)
    model = ConditionalLogit(SERVICE).fit(data, "chosen", choice_set="set", respondent="respondent")
    naive = np.sqrt(np.diag(model.cov_model_.to_numpy()))
    ratio = model.se_.to_numpy() / naive
    assert ratio.max() > 1.3, ratio
    assert ratio.mean() > 1.05, ratio


def test_opt_out_design_and_estimation():
    design = choice_design(SERVICE, n_sets=12, n_alternatives=2, opt_out=True, random_state=4)
    assert design.parameter_names[-1] == "none"
    beta = np.append(TRUE_BETA, -0.5)
    data = simulate(design.table, SERVICE, beta, 300, seed=5, opt_out=True)
    model = ConditionalLogit(SERVICE).fit(data, "chosen", choice_set="set", respondent="respondent")
    assert model.opt_out_
    assert model.parameter_names_[-1] == "none"
    z = np.abs(model.coef_.to_numpy() - beta) / model.se_.to_numpy()
    assert (z < 3).all(), z
    shares = model.shares(
        [{"cost": "£0", "wait": "1 week", "where": "GP", "staff": "nurse"}], opt_out=True
    )
    assert shares["alternative"].tolist() == ["profile 1", "none"]
    assert shares["share"].sum() == pytest.approx(1.0)


def test_coding_does_not_change_fit_importance_or_shares(simulated_fit):
    data, effects = simulated_fit
    dummy = ConditionalLogit(SERVICE, coding="dummy").fit(
        data, "chosen", choice_set="set", respondent="respondent"
    )
    assert dummy.parameter_names_[0] == "cost[£5]"
    assert dummy.loglik_ == pytest.approx(effects.loglik_, abs=1e-6)
    pe, pd_ = effects.part_worths(), dummy.part_worths()
    # part-worths differ by a constant per attribute
    diff = (pe["part_worth"] - pd_["part_worth"]).groupby(pe["attribute"]).agg(np.ptp)
    assert (diff < 1e-6).all()
    np.testing.assert_allclose(
        effects.relative_importance()["importance"], dummy.relative_importance()["importance"]
    )
    profiles = [
        {"cost": "£0", "wait": "12 weeks", "where": "GP", "staff": "nurse"},
        {"cost": "£10", "wait": "1 week", "where": "online", "staff": "doctor"},
    ]
    np.testing.assert_allclose(effects.shares(profiles)["share"], dummy.shares(profiles)["share"])
    np.testing.assert_allclose(
        effects.shares(profiles)["se"], dummy.shares(profiles)["se"], rtol=1e-5
    )


# -- hand-checked importance and shares ---------------------------------------------------------------
TINY = [
    Attribute("cost", ["£10", "£20", "£30"], better="first"),
    Attribute("wait", ["1 week", "4 weeks"], better="first"),
]


def tiny_data():
    """30 respondents, three pairs each differing in one attribute only, so the likelihood
    separates: b(£20) = log(10/20), b(£30) = log(5/25), b(4 weeks) = log(6/24) against the
    reference levels, with dummy coding."""
    rows = []
    pairs = [
        (("£10", "1 week"), ("£20", "1 week"), 10),
        (("£10", "1 week"), ("£30", "1 week"), 5),
        (("£10", "1 week"), ("£10", "4 weeks"), 6),
    ]
    for r in range(30):
        for s, (first, second, n_second) in enumerate(pairs, start=1):
            pick_second = r < n_second
            rows.append(
                dict(respondent=r, set=s, cost=first[0], wait=first[1], chosen=int(not pick_second))
            )
            rows.append(
                dict(respondent=r, set=s, cost=second[0], wait=second[1], chosen=int(pick_second))
            )
    return pd.DataFrame(rows)


@pytest.mark.parametrize("coding", ["dummy", "effects"])
def test_importance_and_shares_by_hand(coding):
    model = ConditionalLogit(TINY, coding=coding).fit(
        tiny_data(), "chosen", choice_set="set", respondent="respondent"
    )
    pw = model.part_worths().set_index(["attribute", "level"])["part_worth"]
    assert pw["cost", "£20"] - pw["cost", "£10"] == pytest.approx(np.log(10 / 20), abs=1e-6)
    assert pw["cost", "£30"] - pw["cost", "£10"] == pytest.approx(np.log(5 / 25), abs=1e-6)
    assert pw["wait", "4 weeks"] - pw["wait", "1 week"] == pytest.approx(np.log(6 / 24), abs=1e-6)
    # ranges log 5 and log 4: importance 100 log 5 / log 20 and 100 log 4 / log 20
    imp = model.relative_importance(n_draws=500).set_index("attribute")
    assert imp.loc["cost", "importance"] == pytest.approx(100 * np.log(5) / np.log(20), abs=1e-4)
    assert imp.loc["wait", "importance"] == pytest.approx(100 * np.log(4) / np.log(20), abs=1e-4)
    assert imp["importance"].sum() == pytest.approx(100)
    assert (imp["lower"] <= imp["importance"]).all() and (imp["importance"] <= imp["upper"]).all()
    assert (imp["se"] > 0).all()
    # utilities 0, -log 2, -log 20: weights 1, 1/2, 1/20, shares 20/31, 10/31, 1/31
    profiles = [
        {"cost": "£10", "wait": "1 week"},
        {"cost": "£20", "wait": "1 week"},
        {"cost": "£30", "wait": "4 weeks"},
    ]
    shares = model.shares(profiles)
    np.testing.assert_allclose(shares["share"], [20 / 31, 10 / 31, 1 / 31], atol=1e-6)
    assert shares["cost"].tolist() == ["£10", "£20", "£30"]
    assert ((shares["lower"] < shares["share"]) & (shares["share"] < shares["upper"])).all()
    # the delta-method SE against a numerical Jacobian of the shares
    beta, V = model.coef_.to_numpy(), model.cov_.to_numpy()
    Z = np.array(
        [
            [0, 0, 0],  # dummy coding by hand: cost[£20], cost[£30], wait[4 weeks]
            [1, 0, 0],
            [0, 1, 1],
        ],
        dtype=float,
    )
    if coding == "effects":  # cost[£10], cost[£20], wait[1 week]
        Z = np.array([[1, 0, 1], [0, 1, 1], [-1, -1, -1]], dtype=float)
    eps = 1e-6
    jac = np.column_stack(
        [
            (softmax(Z @ (beta + eps * e)) - softmax(Z @ (beta - eps * e))) / (2 * eps)
            for e in np.eye(3)
        ]
    )
    np.testing.assert_allclose(shares["se"], np.sqrt(np.diag(jac @ V @ jac.T)), rtol=1e-5)


def test_clustered_standard_errors_by_hand():
    model = ConditionalLogit(TINY, coding="dummy").fit(
        tiny_data(), "chosen", choice_set="set", respondent="respondent"
    )
    # each coefficient rests on 30 binary choices with p = n/30: information 30 p (1 - p); one
    # choice per respondent for each, so the sandwich diagonal is G/(G-1) / (30 p (1 - p))
    for name, n in (("cost[£20]", 10), ("cost[£30]", 5), ("wait[4 weeks]", 6)):
        p = n / 30
        assert model.se_[name] ** 2 == pytest.approx(30 / 29 / (30 * p * (1 - p)), rel=1e-6)
        assert model.cov_model_.loc[name, name] == pytest.approx(1 / (30 * p * (1 - p)), rel=1e-6)


def test_relative_importance_is_seeded():
    model = ConditionalLogit(TINY).fit(
        tiny_data(), "chosen", choice_set="set", respondent="respondent"
    )
    a = model.relative_importance(n_draws=300, random_state=1)
    b = model.relative_importance(n_draws=300, random_state=1)
    pd.testing.assert_frame_equal(a, b)


def test_predict_proba_sums_to_one_per_set(simulated_fit):
    data, model = simulated_fit
    first = data[data["respondent"] == "r0"]
    proba = model.predict_proba(first, choice_set="set")
    sums = pd.Series(proba).groupby(first["set"].to_numpy()).sum()
    np.testing.assert_allclose(sums, 1.0)


def test_estimator_follows_scikit_learn_conventions():
    model = ConditionalLogit(TINY, coding="dummy", alpha=0.1)
    assert model.get_params()["coding"] == "dummy"
    copy = clone(model)
    assert copy.alpha == 0.1 and not hasattr(copy, "coef_")
    fitted = model.fit(tiny_data(), "chosen", choice_set="set", respondent="respondent")
    assert fitted is model
    width = model.conf_int_["upper"] - model.conf_int_["lower"]
    np.testing.assert_allclose(width, 2 * 1.6448536269514722 * model.se_)


# -- validation ---------------------------------------------------------------------------------------
def test_attribute_validation():
    with pytest.raises(ValueError, match="'x' needs at least 2 levels"):
        Attribute("x", ["only"])
    with pytest.raises(ValueError, match="repeats the level"):
        Attribute("x", ["a", "a"])
    with pytest.raises(ValueError, match="better for attribute 'x'"):
        Attribute("x", ["a", "b"], better="up")
    with pytest.raises(TypeError, match="should be a list"):
        Attribute("x", "ab")
    with pytest.raises(ValueError, match="unique"):
        choice_design([Attribute("x", [1, 2]), Attribute("x", [1, 2])], n_sets=2)
    with pytest.raises(ValueError, match="reserved"):
        choice_design({"set": [1, 2]}, n_sets=2)


def test_design_validation():
    two_by_two = {"a": [0, 1], "b": [0, 1]}
    with pytest.raises(ValueError, match="more than the 6 possible choice sets"):
        choice_design(two_by_two, n_sets=7)
    with pytest.raises(ValueError, match="more than the 4 possible profiles"):
        choice_design(two_by_two, n_sets=1, n_alternatives=5)
    with pytest.raises(ValueError, match="divisible by n_blocks"):
        choice_design(SERVICE, n_sets=10, n_blocks=3)
    with pytest.raises(ValueError, match="7 parameters; add choice sets"):
        choice_design(SERVICE, n_sets=3, n_alternatives=2)
    with pytest.raises(ValueError, match="coding should be"):
        choice_design(SERVICE, n_sets=8, coding="orthogonal")
    with pytest.raises(ValueError, match="n_alternatives should be an integer ≥ 2"):
        choice_design(SERVICE, n_sets=8, n_alternatives=1)
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['colour\[red\]'\]"):
        choice_design(SERVICE, n_sets=8, priors={"colour[red]": 1.0})
    with pytest.raises(ValueError, match="priors should have 7 values"):
        choice_design(SERVICE, n_sets=8, priors=[1.0, 2.0])
    # every set of 3 of the 4 profiles holds a dominated one
    ordered = [Attribute("a", [0, 1], better="last"), Attribute("b", [0, 1], better="last")]
    with pytest.raises(ValueError, match="could not draw a valid choice set"):
        choice_design(ordered, n_sets=1, n_alternatives=3)


def test_estimation_validation():
    data = tiny_data()
    fit = ConditionalLogit(TINY).fit
    kw = dict(choice_set="set", respondent="respondent")
    with pytest.raises(ValueError, match=r"no column for attribute\(s\) \['wait'\]"):
        fit(data.drop(columns="wait"), "chosen", **kw)
    bad = data.copy()
    bad.loc[0, "cost"] = "£99"
    with pytest.raises(ValueError, match="'£99', which is not among its levels"):
        fit(bad, "chosen", **kw)
    two = data.copy()
    two.loc[[0, 1], "chosen"] = 1
    with pytest.raises(
        ValueError, match="exactly one chosen alternative; respondent 0, set 1 has 2"
    ):
        fit(two, "chosen", **kw)
    with pytest.raises(ValueError, match="only 0 and 1"):
        fit(data.assign(chosen=data["chosen"] * 2), "chosen", **kw)
    with pytest.raises(ValueError, match="'picked' is not a column of X"):
        fit(data, "picked", **kw)
    with pytest.raises(ValueError, match="respondent is missing"):
        fit(data.assign(respondent=None), "chosen", **kw)
    never = data[data["set"] != 2]  # £30 is never shown
    with pytest.raises(ValueError, match=r"not identified.*cost='£30'"):
        fit(never, "chosen", **kw)
    with pytest.raises(TypeError, match="pandas DataFrame"):
        fit(data.to_numpy(), "chosen", **kw)
    with pytest.raises(RuntimeError, match="not fitted"):
        ConditionalLogit(TINY).shares([{"cost": "£10", "wait": "1 week"}])
    model = ConditionalLogit(TINY).fit(data, "chosen", **kw)
    with pytest.raises(ValueError, match=r"unknown attribute\(s\) \['colour'\]"):
        model.shares([{"cost": "£10", "wait": "1 week", "colour": "red"}])
    with pytest.raises(ValueError, match="opt-out rows .* but this model has no opt-out"):
        model.shares([None, {"cost": "£10", "wait": "1 week"}])
    with pytest.raises(ValueError, match="fitted without an opt-out"):
        model.shares([{"cost": "£10", "wait": "1 week"}], opt_out=True)
    with pytest.raises(ValueError, match=r"misses attribute\(s\) \['wait'\]"):
        model.shares([{"cost": "£10"}, {"cost": "£20", "wait": "1 week"}])


def test_a_level_always_chosen_warns():
    rows = []
    for r in range(20):
        rows += [
            dict(respondent=r, set=1, cost="£10", wait="1 week", chosen=1),
            dict(respondent=r, set=1, cost="£20", wait="1 week", chosen=0),
            dict(respondent=r, set=2, cost="£10", wait="1 week", chosen=int(r < 8)),
            dict(respondent=r, set=2, cost="£30", wait="4 weeks", chosen=int(r >= 8)),
            dict(respondent=r, set=3, cost="£20", wait="1 week", chosen=int(r < 12)),
            dict(respondent=r, set=3, cost="£30", wait="1 week", chosen=int(r >= 12)),
        ]
    with pytest.warns(RuntimeWarning, match="did not converge"):
        ConditionalLogit(TINY).fit(
            pd.DataFrame(rows), "chosen", choice_set="set", respondent="respondent"
        )
