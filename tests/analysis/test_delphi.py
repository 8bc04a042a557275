"""Delphi consensus rules: worked examples computed by hand, the edges of the thresholds,
configuration, the breakdown by stakeholder group and bad input."""

from __future__ import annotations

import math

import numpy as np
import pytest

from changebank.analysis.delphi import (
    CONSENSUS_IN,
    CONSENSUS_OUT,
    DISAGREEMENT,
    NO_CONSENSUS,
    DelphiRule,
    by_group,
    classify,
    distribution,
)


def test_published_rand_ucla_example():
    # BMJ Open 2012;2:e001431, table 1: 15 panellists rate one criterion 4, 5, 6, five 7s,
    # five 8s and two 9s. Median 7, P30 7, P70 8, IPR 1, IPRCP 7.5, AI 2.5,
    # IPRAS = 2.35 + 1.5 · 2.5 = 6.1 > IPR, so no disagreement.
    result = classify([4, 5, 6] + [7] * 5 + [8] * 5 + [9] * 2)
    assert (result.median, result.p30, result.p70) == (7.0, 7.0, 8.0)
    assert result.ipr == pytest.approx(1.0)
    assert result.iprcp == pytest.approx(7.5)
    assert result.asymmetry == pytest.approx(2.5)
    assert result.ipras == pytest.approx(6.1)
    assert not result.disagreement
    # 12 of 15 (80 %) rate 7–9 and none 1–3.
    assert result.share_high == pytest.approx(0.8) and result.share_low == 0.0
    assert result.outcome == CONSENSUS_IN


def test_a_split_panel_disagrees():
    # Sorted ratings 1 1 2 3 7 8 9 9 (n = 8). Linear interpolation: h = (n − 1) q.
    # P30: h = 2.1 → x2 + 0.1 (x3 − x2) = 2 + 0.1 = 2.1.  P70: h = 4.9 → 7 + 0.9 (8 − 7) = 7.9.
    # IPR = 5.8, IPRCP = 5.0, AI = 0, IPRAS = 2.35 < IPR: disagreement. Median (3 + 7)/2 = 5.
    result = classify([9, 1, 7, 2, 9, 1, 8, 3])
    assert result.p30 == pytest.approx(2.1)
    assert result.p70 == pytest.approx(7.9)
    assert result.ipr == pytest.approx(5.8)
    assert result.iprcp == pytest.approx(5.0)
    assert result.ipras == pytest.approx(2.35)
    assert result.median == 5.0
    assert result.disagreement and result.outcome == DISAGREEMENT
    assert (result.share_low, result.share_middle, result.share_high) == (0.5, 0.0, 0.5)


def test_a_lopsided_spread_needs_a_wider_range_to_count_as_disagreement():
    # 1 4 5 6 6 7 7 7 8 9: P30 (h = 2.7) = 5 + 0.7 · (6 − 5) = 5.7; P70 (h = 6.3) = 7 + 0.3 · 0 = 7.
    # IPR = 1.3, IPRCP = 6.35, AI = 1.35, IPRAS = 2.35 + 1.5 · 1.35 = 4.375: no disagreement.
    result = classify([1, 4, 5, 6, 6, 7, 7, 7, 8, 9])
    assert (result.p30, result.p70) == pytest.approx((5.7, 7.0))
    assert result.ipr == pytest.approx(1.3)
    assert result.ipras == pytest.approx(4.375)
    assert result.outcome == NO_CONSENSUS  # only 50 % rate 7–9
    # With IPRr = 0.5 and CFA = 0.5 instead: IPRAS = 0.5 + 0.5 · 1.35 = 1.175 < 1.3.
    strict = classify([1, 4, 5, 6, 6, 7, 7, 7, 8, 9], ipr_required=0.5, asymmetry_factor=0.5)
    assert strict.ipras == pytest.approx(1.175)
    assert strict.outcome == DISAGREEMENT


def test_exactly_70_percent_is_consensus_and_exactly_15_percent_against_is_not():
    # 7 of 10 rate 7–9 and 1 of 10 rates 1–3: consensus in (≥ 70 %, < 15 %).
    # P30 = 6 + 0.7 · 1 = 6.7, P70 = 8, IPRCP = 7.35, IPRAS = 2.35 + 1.5 · 2.35 = 5.875.
    edge = classify([1, 5, 6, 7, 7, 8, 8, 8, 9, 9])
    assert edge.share_high == 0.7 and edge.share_low == 0.1
    assert edge.ipras == pytest.approx(5.875)
    assert edge.outcome == CONSENSUS_IN
    # 6 of 10: not enough.
    assert classify([1, 5, 6, 6, 7, 8, 8, 8, 9, 9]).outcome == NO_CONSENSUS
    # 21 of 30 is also exactly 70 %.
    assert classify([7] * 21 + [5] * 9).outcome == CONSENSUS_IN
    # 14 of 20 rate 7–9 but 3 of 20 (exactly 15 %) rate 1–3: "< 15 %" fails.
    against = [1, 1, 1, 5, 5, 5] + [7] * 4 + [8] * 5 + [9] * 5
    result = classify(against)
    assert (result.share_high, result.share_low) == (0.7, 0.15)
    assert result.outcome == NO_CONSENSUS
    # One of those three moves to the middle: 10 % against, consensus in.
    assert classify([5] + against[1:]).outcome == CONSENSUS_IN


def test_consensus_out_is_the_mirror_image():
    ratings = [1, 1, 2, 2, 3, 3, 3, 5, 6, 9]  # 70 % rate 1–3, 10 % rate 7–9
    result = classify(ratings)
    assert result.outcome == CONSENSUS_OUT
    mirrored = classify([10 - r for r in ratings])
    assert mirrored.outcome == CONSENSUS_IN
    assert mirrored.ipr == pytest.approx(result.ipr)
    assert mirrored.ipras == pytest.approx(result.ipras)
    assert mirrored.median == 10 - result.median


def test_thresholds_and_bands_are_configurable():
    ratings = [1, 5, 6, 6, 7, 8, 8, 8, 9, 9]  # 60 % rate 7–9, 10 % rate 1–3
    assert classify(ratings).outcome == NO_CONSENSUS
    assert classify(ratings, in_share=0.6).outcome == CONSENSUS_IN
    assert classify(ratings, in_share=0.6, out_share=0.1).outcome == NO_CONSENSUS
    # A wider high band (6–9) counts the 6s too: 80 %.
    wide = classify(ratings, high=(6, 9))
    assert wide.share_high == 0.8 and wide.outcome == CONSENSUS_IN
    # The same rule as an object, and on a 1–5 scale whose centre is 3.
    rule = DelphiRule(scale=(1, 5), low=(1, 2), high=(4, 5), in_share=0.75, out_share=0.1)
    five = rule.classify([4, 4, 5, 5, 5, 3, 4, 5])  # 7 of 8 rate 4–5
    assert rule.centre == 3.0
    assert five.outcome == CONSENSUS_IN
    assert five.asymmetry == pytest.approx(abs(3 - five.iprcp))
    # Another NumPy percentile definition: "lower" takes x_⌊h⌋, so P30 = x2 = 2, P70 = x4 = 7.
    lower = classify([9, 1, 7, 2, 9, 1, 8, 3], percentile_method="lower")
    assert (lower.p30, lower.p70) == (2.0, 7.0)


def test_missing_ratings_are_left_out_and_counted():
    result = classify([9, None, 8, float("nan"), 7, np.nan, 8])
    assert result.n == 4 and result.n_missing == 3
    assert result.share_high == 1.0 and result.outcome == CONSENSUS_IN
    assert result.distribution.n_missing == 3
    assert classify(np.array([9.0, 8.0, 7.0])).outcome == CONSENSUS_IN  # whole-number floats


def test_distribution_for_the_next_round():
    summary = distribution([9, 1, 7, None, 9, 5, 5])
    assert summary.counts == {1: 1, 2: 0, 3: 0, 4: 0, 5: 2, 6: 0, 7: 1, 8: 0, 9: 2}
    assert list(summary.counts) == list(range(1, 10))
    assert summary.n == 6 and summary.n_missing == 1
    assert summary.median == 6.0  # middle of 1 5 5 7 9 9
    assert summary.shares[9] == pytest.approx(2 / 6)
    assert math.isnan(distribution([None, None]).median)
    assert distribution([2, 3], scale=(1, 3)).counts == {1: 0, 2: 1, 3: 1}
    assert classify([9, 1, 7, 9, 5, 5]).distribution == distribution([9, 1, 7, 9, 5, 5])


def test_results_by_stakeholder_group():
    ratings = [9, 8, 8, 7, 9, 2, 1, 3, 1, 5, 7]
    groups = ["staff"] * 5 + ["patient"] * 4 + [None, ""]
    results = by_group(ratings, groups)
    assert list(results) == ["patient", "staff"]
    assert results["staff"].outcome == CONSENSUS_IN and results["staff"].n == 5
    assert results["patient"].outcome == CONSENSUS_OUT and results["patient"].n == 4
    # The whole panel, unknown groups included, is split: sorted 1 1 2 3 5 7 7 8 8 9 9 give
    # P30 = x3 = 3, P70 = x7 = 8 (h = 3 and 7), IPR 5 > IPRAS = 2.35 + 1.5 · 0.5 = 3.1.
    whole = classify(ratings)
    assert (whole.p30, whole.p70, whole.ipras) == pytest.approx((3.0, 8.0, 3.1))
    assert whole.outcome == DISAGREEMENT
    # A custom rule applies in every group, and a group in which no one rated is left out.
    rule = DelphiRule(in_share=1.0, out_share=0.1)
    strict = by_group([9, 8, 7, 6, None], ["staff", "staff", "staff", "staff", "carer"], rule)
    assert list(strict) == ["staff"] and strict["staff"].outcome == NO_CONSENSUS


def test_ratings_outside_the_scale_and_other_bad_input_are_reported():
    with pytest.raises(ValueError, match=r"ratings\[2\] is 10, outside the 1–9 scale"):
        classify([9, 8, 10])
    with pytest.raises(ValueError, match=r"ratings\[0\] is 0, outside the 1–9 scale"):
        classify([0, 5])
    with pytest.raises(ValueError, match=r"ratings\[1\] is 7.5, not a whole number"):
        classify([7, 7.5])
    with pytest.raises(ValueError, match=r"ratings\[0\] is 6, outside the 1–5 scale"):
        classify([6], low=(1, 2), high=(4, 5), scale=(1, 5))
    with pytest.raises(TypeError, match=r"ratings\[0\] should be a number"):
        classify(["7"])
    with pytest.raises(TypeError, match=r"ratings\[1\] should be a number"):
        classify([7, True])
    with pytest.raises(TypeError, match="not one string"):
        classify("789")
    with pytest.raises(ValueError, match="no ratings to classify"):
        classify([None, float("nan")])
    with pytest.raises(ValueError, match="no ratings to classify"):
        classify([])
    with pytest.raises(ValueError, match=r"ratings\[3\] is 12"):
        by_group([9, 9, 9, 12], ["a", "a", "b", "b"])
    with pytest.raises(ValueError, match="groups has 2 entries but ratings has 3"):
        by_group([9, 9, 9], ["a", "b"])
    with pytest.raises(ValueError, match="no stakeholder group"):
        by_group([9, 9], [None, ""])


def test_bad_rules_are_reported():
    with pytest.raises(ValueError, match="should be less than in_share"):
        DelphiRule(in_share=0.5, out_share=0.5)
    with pytest.raises(ValueError, match="in_share should be a fraction above 0"):
        DelphiRule(in_share=70)
    with pytest.raises(ValueError, match=r"the low band \(1, 7\) should lie below"):
        DelphiRule(low=(1, 7))
    with pytest.raises(ValueError, match=r"high \(7, 10\) is not inside the scale 1–9"):
        classify([9], high=(7, 10))
    with pytest.raises(ValueError, match="scale should go from low to high"):
        DelphiRule(scale=(9, 1))
    with pytest.raises(ValueError, match="percentile_method should be one of"):
        DelphiRule(percentile_method="excel")
    with pytest.raises(ValueError, match="asymmetry_factor should be a non-negative number"):
        DelphiRule(asymmetry_factor=-1)
