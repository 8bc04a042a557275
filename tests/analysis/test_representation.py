"""The pure parts of the framework pages: the representation check, code co-occurrence and the split
of each code by a label (stance). Small cases computed by hand."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import scipy.sparse as sp

from changebank.analysis import compare_to_reference, cooccurrence, split_by_label
from changebank.analysis.representation import (
    NONE_EXPECTED,
    NOT_IN_REFERENCE,
    NOT_REACHED,
    REACHED,
    UNDER_REPRESENTED,
)

# --- representation ---------------------------------------------------------------------------


def test_shares_ratios_flags_and_chi_square_by_hand():
    # Reference A 50, B 30, C 20; contributors A 30, B 10 and 5 in D, a group outside the reference.
    r = compare_to_reference({"A": 30, "B": 10, "D": 5}, {"A": 50, "B": 30, "C": 20})
    assert r.total == 45
    assert [g.group for g in r.groups] == ["A", "B", "C", "D"]
    a, b, c, d = r.groups
    assert a.count == 30 and a.share == pytest.approx(100 * 30 / 45)
    assert a.expected == pytest.approx(22.5) and a.ratio == pytest.approx((200 / 3) / 50)
    assert a.status == REACHED
    # 22.2% < 0.8 × 30% = 24%
    assert b.share == pytest.approx(100 * 10 / 45) and b.status == UNDER_REPRESENTED
    assert b.ratio == pytest.approx((1000 / 45) / 30)
    assert c.count == 0 and c.share == 0 and c.ratio == 0 and c.status == NOT_REACHED
    assert c.expected == pytest.approx(9.0)
    assert d.reference is None and d.ratio is None and d.expected is None
    assert d.status == NOT_IN_REFERENCE
    assert r.not_reached == ["C"] and r.under_represented == ["B"]
    assert [g.flagged for g in r.groups] == [False, True, True, False]
    # Shares add up to 100, so D is left out of the test: 40 contributors, expected 20, 12, 8.
    assert r.tested == 40 and r.left_out == 5 and r.rest_share == 0
    assert r.chi2 == pytest.approx(10**2 / 20 + 2**2 / 12 + 8**2 / 8)  # 13.333…
    assert r.dof == 2
    assert r.p_value == pytest.approx(math.exp(-r.chi2 / 2))  # chi-square with 2 df
    assert r.low_expected is False


def test_factor_is_a_parameter():
    r = compare_to_reference({"A": 30, "B": 10}, {"A": 50, "B": 30, "C": 20}, factor=0.5)
    assert r.groups[1].status == REACHED  # 25% ≥ 0.5 × 30%
    assert r.factor == 0.5
    r = compare_to_reference({"A": 30, "B": 10}, {"A": 50, "B": 30, "C": 20}, factor=1.0)
    assert r.groups[1].status == UNDER_REPRESENTED  # 25% < 30%
    assert r.groups[0].status == REACHED  # 75% ≥ 50%


def test_shares_that_add_up_to_less_than_100_leave_a_rest_category():
    # A 40 and B 20 (60 in all): the other 40 per cent is "everyone else", observed C = 5.
    r = compare_to_reference({"A": 10, "B": 5, "C": 5}, {"A": 40, "B": 20})
    assert r.reference_total == 60 and r.rest_share == 40
    assert r.tested == 20 and r.left_out == 0
    # expected 8, 4, 8
    assert r.chi2 == pytest.approx(2**2 / 8 + 1**2 / 4 + 3**2 / 8)  # 1.875
    assert r.p_value == pytest.approx(math.exp(-1.875 / 2))
    assert r.low_expected is True  # 4 < 5
    assert [g.status for g in r.groups] == [REACHED, REACHED, NOT_IN_REFERENCE]
    assert r.groups[0].ratio == pytest.approx(50 / 40)


def test_shares_a_little_over_100_are_scaled_for_the_test():
    r = compare_to_reference({"A": 6, "B": 4}, {"A": 60.25, "B": 40.25})
    assert r.reference_total == pytest.approx(100.5) and r.rest_share == 0
    ea, eb = 10 * 60.25 / 100.5, 10 * 40.25 / 100.5
    assert r.chi2 == pytest.approx((6 - ea) ** 2 / ea + (4 - eb) ** 2 / eb)
    assert r.dof == 1
    # The ratio uses the shares as entered.
    assert r.groups[0].ratio == pytest.approx(60 / 60.25)


def test_empty_inputs():
    r = compare_to_reference({}, {})
    assert r.groups == [] and r.total == 0 and r.chi2 is None and r.p_value is None
    # A reference but no contributors: every group with a share is not yet reached; no test.
    r = compare_to_reference({}, {"A": 70, "B": 30})
    assert r.not_reached == ["A", "B"] and r.chi2 is None and r.tested == 0
    assert all(g.share == 0 and g.expected == 0 for g in r.groups)
    # Contributors with no reference: shares only.
    r = compare_to_reference({"A": 3, "B": 1}, {})
    assert [(g.group, g.share, g.status) for g in r.groups] == [
        ("A", 75.0, NOT_IN_REFERENCE),
        ("B", 25.0, NOT_IN_REFERENCE),
    ]
    # A reference of 0 shares leaves nothing to test, and groups with count 0 and share 0.
    r = compare_to_reference({"A": 0}, {"A": 0, "B": 0})
    assert [g.status for g in r.groups] == [NONE_EXPECTED, NONE_EXPECTED] and r.chi2 is None


def test_zero_reference_share_with_contributors_and_a_single_category():
    r = compare_to_reference({"A": 5, "B": 5}, {"A": 100, "B": 0})
    assert r.groups[1].ratio is None and r.groups[1].status == REACHED
    # One category (A): the test needs two.
    assert r.chi2 is None and r.dof == 0 and r.tested == 5


def test_group_names_match_ignoring_case_and_spaces():
    r = compare_to_reference({"female ": 3, "Female": 2, "Male": 5}, {"FEMALE": 50, "male": 50})
    assert [(g.group, g.count) for g in r.groups] == [("FEMALE", 5), ("male", 5)]
    assert r.chi2 == 0


def test_outside_groups_come_largest_first():
    r = compare_to_reference({"Z": 1, "Y": 4, "X": 4}, {"A": 10})
    assert [g.group for g in r.groups] == ["A", "X", "Y", "Z"]


@pytest.mark.parametrize(
    ("counts", "reference", "kwargs", "message"),
    [
        ({"A": -1}, {}, {}, "whole number"),
        ({"A": 1.5}, {}, {}, "whole number"),
        ({}, {"A": 101}, {}, "0–100"),
        ({}, {"A": -0.1}, {}, "0–100"),
        ({}, {"A": float("nan")}, {}, "finite"),
        ({}, {"A": 50, "a ": 10}, {}, "twice"),
        ({}, {"A": 50}, {"factor": 0}, "factor"),
        ({"": 1}, {}, {}, "empty name"),
    ],
)
def test_bad_input_is_refused(counts, reference, kwargs, message):
    with pytest.raises(ValueError, match=message):
        compare_to_reference(counts, reference, **kwargs)


# --- co-occurrence --------------------------------------------------------------------------------

# texts × codes a, b, c, d (d unused)
Y = np.array(
    [
        [1, 1, 0, 0],  # a b
        [1, 1, 1, 0],  # a b c
        [1, 0, 0, 0],  # a
        [0, 0, 1, 0],  # c
        [0, 0, 0, 0],  # nothing
        [0, 1, 0, 0],  # b
    ]
)


def test_cooccurrence_counts_jaccard_and_lift_by_hand():
    co = cooccurrence(Y)
    assert co.columns.tolist() == [0, 1, 2]  # d is unused; a and b tie at 3 and keep their order
    assert co.sizes.tolist() == [3, 3, 2] and co.n == 6
    assert co.counts.tolist() == [[3, 2, 1], [2, 3, 1], [1, 1, 2]]
    # Jaccard: ab 2 / (3 + 3 − 2), ac 1 / (3 + 2 − 1)
    assert co.jaccard[0, 1] == pytest.approx(0.5)
    assert co.jaccard[0, 2] == pytest.approx(0.25) and co.jaccard[1, 2] == pytest.approx(0.25)
    assert np.diag(co.jaccard).tolist() == [1.0, 1.0, 1.0]
    # Lift: ab 6 · 2 / (3 · 3), ac 6 · 1 / (3 · 2)
    assert co.lift[0, 1] == pytest.approx(4 / 3) and co.lift[0, 2] == pytest.approx(1.0)
    assert co.pairs() == [(0, 1, 2), (0, 2, 1), (1, 2, 1)]
    assert co.pairs(limit=1) == [(0, 1, 2)]


def test_cooccurrence_top_and_sparse_input_agree():
    dense = cooccurrence(Y, top=2)
    sparse = cooccurrence(sp.csr_matrix(Y), top=2)
    assert dense.columns.tolist() == sparse.columns.tolist() == [0, 1]
    assert dense.counts.tolist() == sparse.counts.tolist() == [[3, 2], [2, 3]]
    empty = cooccurrence(np.zeros((3, 2)))
    assert empty.counts.shape == (0, 0) and empty.pairs() == []
    with pytest.raises(ValueError):
        cooccurrence(np.zeros(3))


def test_cooccurrence_of_a_million_texts_stays_sparse():
    rng = np.random.default_rng(0)
    n, k, nnz = 1_000_000, 200, 2_000_000
    rows = rng.integers(0, n, nnz)
    cols = np.minimum(rng.geometric(0.05, nnz) - 1, k - 1)  # a few large codes, a long tail
    Ys = sp.csr_matrix((np.ones(nnz, dtype=np.int8), (rows, cols)), shape=(n, k))
    start = time.perf_counter()
    co = cooccurrence(Ys, top=15)
    assert time.perf_counter() - start < 20
    binary = (Ys > 0).astype(np.int64).tocsc()
    sizes = np.asarray(binary.sum(axis=0)).ravel()
    assert co.sizes.tolist() == sorted(sizes.tolist(), reverse=True)[:15]
    a, b = co.columns[:2]
    both = int(binary[:, a].multiply(binary[:, b]).sum())
    assert co.counts[0, 1] == both and np.diag(co.counts).tolist() == co.sizes.tolist()


def test_split_by_label_by_hand():
    labels = ["keep", "keep", "concern", None, "keep", "mixed"]
    cats, counts = split_by_label(Y, labels, ["keep", "concern", "mixed", "neutral"])
    assert cats == ["keep", "concern", "mixed", "neutral"]
    assert counts.tolist() == [[2, 1, 0, 0], [2, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 0]]
    cats, counts = split_by_label(sp.csc_matrix(Y), labels)
    assert cats == ["", "concern", "keep", "mixed"]
    assert counts[2].tolist() == [1, 0, 1, 0]
    with pytest.raises(ValueError, match="labels has 2 entries"):
        split_by_label(Y, ["keep", "keep"])
