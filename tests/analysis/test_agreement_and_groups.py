"""Agreement and group statistics against published values and scikit-learn / SciPy."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, f1_score

from changebank.analysis.agreement import cohen_kappa, kappa_per_code, krippendorff_alpha, sample_f1
from changebank.analysis.groups import prevalence_by_group, prevalence_over_time

nan = np.nan
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", the 4 coders x 12 items example.
KRIPPENDORFF_EXAMPLE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, nan, nan, nan],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, nan, 3],
    [nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, nan],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, nan],
]


def test_krippendorff_alpha_matches_the_published_example():
    assert krippendorff_alpha(KRIPPENDORFF_EXAMPLE, "nominal") == pytest.approx(0.743, abs=0.001)
    assert krippendorff_alpha(KRIPPENDORFF_EXAMPLE, "interval") == pytest.approx(0.849, abs=0.001)


def test_krippendorff_alpha_edge_cases():
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]]) == 1.0
    with pytest.raises(ValueError, match="no item was coded by two or more coders"):
        krippendorff_alpha([[1, nan], [nan, 2]])
    with pytest.raises(ValueError, match="level"):
        krippendorff_alpha(KRIPPENDORFF_EXAMPLE, "ordinalish")


def test_cohen_kappa_matches_scikit_learn():
    rng = np.random.RandomState(0)
    a = rng.randint(0, 3, 200)
    b = np.where(rng.rand(200) < 0.7, a, rng.randint(0, 3, 200))
    assert cohen_kappa(a, b) == pytest.approx(cohen_kappa_score(a, b))
    assert cohen_kappa(["x", "x"], ["x", "x"]) == 1.0
    with pytest.raises(ValueError, match="different lengths"):
        cohen_kappa([1, 2], [1])


def test_kappa_per_code_and_sample_f1():
    Y_a = np.array([[1, 0], [1, 1], [0, 1], [0, 0]])
    Y_b = np.array([[1, 0], [0, 1], [0, 1], [0, 0]])
    kappas = kappa_per_code(Y_a, Y_b)
    assert kappas[1] == 1.0
    assert kappas[0] == pytest.approx(cohen_kappa_score(Y_a[:, 0], Y_b[:, 0]))
    expected = f1_score(Y_a, Y_b, average="samples", zero_division=1.0)
    assert sample_f1(Y_a, Y_b) == pytest.approx(expected)
    with pytest.raises(ValueError, match="only 0 and 1"):
        sample_f1([[2, 0]], [[1, 0]])


def test_prevalence_by_group_flags_consistent_themes():
    rng = np.random.RandomState(1)
    groups = np.array(["staff"] * 300 + ["patient"] * 300 + ["carer"] * 300)
    everywhere = rng.rand(900) < 0.3  # same rate in every group
    staff_only = (groups == "staff") & (rng.rand(900) < 0.5)
    Y = np.column_stack([everywhere, staff_only]).astype(int)
    result = prevalence_by_group(Y, groups)
    assert result[0].groups == ["carer", "patient", "staff"]
    assert result[0].totals.tolist() == [300, 300, 300]
    assert result[0].consistent is True
    assert result[1].consistent is False
    assert result[1].cramers_v > 0.5 and result[1].p_value < 1e-10
    assert result[1].shares[0] == 0.0


def test_prevalence_needs_groups():
    with pytest.raises(ValueError, match="no respondent group"):
        prevalence_by_group(np.ones((3, 1), dtype=int), [None, "", None])
    with pytest.raises(ValueError, match="groups has 2 entries but Y has 3 rows"):
        prevalence_by_group(np.ones((3, 1), dtype=int), ["a", "b"])


def test_prevalence_over_time():
    periods, shares = prevalence_over_time(
        [[1], [0], [1], [1]], ["2021-01", "2021-01", "2021-02", "2021-02"]
    )
    assert periods == ["2021-01", "2021-02"]
    assert shares[:, 0].tolist() == [0.5, 1.0]


# --- double coding: per-code alpha with missing codings, Light's kappa, undefined values ----------

# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", section A: binary data, two
# observers, no missing data. Published alpha = 0.095.
KRIPPENDORFF_BINARY = [
    [0, 1, 0, 0, 0, 0, 0, 0, 1, 0],
    [1, 1, 1, 0, 0, 1, 0, 0, 0, 0],
]


def test_alpha_per_code_matches_the_published_binary_example_and_a_hand_computed_one():
    from changebank.analysis.agreement import krippendorff_alpha_per_code

    # Code 0: the published example. Code 1, by hand with three coders and missing codings:
    # units (1,1,-) (0,1,1) (0,0,0) (1,-,-) (0,0,1) give coincidences o00=4, o01=o10=2, o11=3,
    # so n0=6, n1=5, n=11 (the lone value of unit 4 is not pairable) and
    # alpha = 1 - (n-1) * o01 / (n0 * n1) = 1 - 10 * 2 / 30 = 1/3.
    # Code 2: nobody used it, so alpha is not defined.
    code1 = [[1, 0, 0, 1, 0], [1, 1, 0, nan, 0], [nan, 1, 0, nan, 1]]
    Y = np.full((3, 10, 3), nan)
    Y[:2, :, 0] = KRIPPENDORFF_BINARY
    Y[:, :5, 1] = code1
    Y[:, :5, 2] = 0
    alphas = krippendorff_alpha_per_code(Y)
    assert alphas[0] == pytest.approx(0.095, abs=0.001)
    assert alphas[1] == pytest.approx(1 / 3)
    assert np.isnan(alphas[2])
    with pytest.raises(ValueError, match="only 0, 1 and NaN"):
        krippendorff_alpha_per_code(np.full((2, 2, 1), 2.0))
    with pytest.raises(ValueError, match="coders × items × codes"):
        krippendorff_alpha_per_code([[0, 1], [1, 0]])


def test_pooled_alpha_counts_every_item_and_code_as_a_unit():
    from changebank.analysis.agreement import krippendorff_alpha_pooled

    # Two codes over the published binary example: code 1 is code 0 with the coders swapped, so
    # pooling doubles every count and leaves alpha = 1 - (n-1) o01 / (n0 n1) with n=40, o01=8,
    # n0=28, n1=12: 1 - 39 * 8 / 336.
    A = np.array(KRIPPENDORFF_BINARY, dtype=float)
    Y = np.stack([A, A[::-1]], axis=2)
    assert krippendorff_alpha_pooled(Y) == pytest.approx(1 - 39 * 8 / 336)
    assert np.isnan(krippendorff_alpha_pooled(np.ones((2, 4, 2))))


def test_light_kappa_is_the_mean_pairwise_cohen_kappa():
    from changebank.analysis.agreement import light_kappa

    rng = np.random.RandomState(3)
    a = rng.randint(0, 2, 60)
    b = np.where(rng.rand(60) < 0.8, a, 1 - a)
    c = np.where(rng.rand(60) < 0.6, a, 1 - a)
    expected = np.mean([cohen_kappa_score(a, b), cohen_kappa_score(a, c), cohen_kappa_score(b, c)])
    assert light_kappa([a, b, c]) == pytest.approx(expected)
    assert light_kappa([a, b]) == pytest.approx(cohen_kappa_score(a, b))
    # a pair that never used the label has no kappa and is left out of the mean
    zeros = np.zeros(60, dtype=int)
    assert light_kappa([zeros, zeros, a]) == pytest.approx(0.0)
    assert np.isnan(light_kappa([zeros, zeros]))
    assert np.isnan(cohen_kappa(zeros, zeros, undefined=nan))
    with pytest.raises(ValueError, match="two or more coders"):
        light_kappa([a])
