"""XmR charts as NHSRplotthedots computes them (changebank.analysis.spc).

Most series below use a fixed baseline of 12 points alternating 12, 10 (``fix_after_n_points=12``,
NHSRplotthedots's option): mean 11, average moving range 2, so

    process limits  11 ∓ 2.66 × 2          = 5.68 … 16.32
    near limits     11 ∓ (2 × 2.66 / 3) × 2 = 7.4533 … 14.5467

and the points after the baseline can be placed exactly where a rule starts or stops firing.
Cases ported from NHSRplotthedots's tests/testthat are marked with the file they come from.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from changebank.analysis import spc
from changebank.analysis.spc import (
    BeforeAfter,
    assurance_icon,
    before_after,
    short_period_warnings,
    spc_warnings,
    variation_icon,
    xmr,
)

BASE = [12.0, 10.0] * 6  # ends below the mean, so nothing after it continues a run by accident
MEAN, AMR = 11.0, 2.0
UPL, LPL = MEAN + 2.66 * AMR, MEAN - 2.66 * AMR
NUPL, NLPL = MEAN + 2 * 2.66 / 3 * AMR, MEAN - 2 * 2.66 / 3 * AMR

# set.seed(123); rnorm(20) in R — the data of tests/testthat/test-ptd_spc_standard.R and
# test-ptd_spc.R
RNORM_123 = [
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774,
    1.71506499, 0.46091621, -1.26506123, -0.68685285, -0.44566197,
    1.22408180, 0.35981383, 0.40077145, 0.11068272, -0.55584113,
    1.78691314, 0.49785048, -1.96661716, 0.70135590, -0.47279141,
]  # fmt: skip


def fixed(after, **kw):
    """The fixed 12-point baseline followed by ``after``."""
    return xmr(BASE + list(after), fix_after_n_points=12, **kw)


def flagged(df, column):
    return df.index[df[column]].tolist()


# --------------------------------------------------------------------------------------------
# Limits
# --------------------------------------------------------------------------------------------


def test_limits_of_the_fixed_baseline():
    df = fixed([11.0])
    row = df.iloc[-1]
    assert row["mean"] == pytest.approx(MEAN)
    assert row["amr"] == pytest.approx(AMR)
    assert (row["lpl"], row["upl"]) == pytest.approx((LPL, UPL))
    assert (row["near_lpl"], row["near_upl"]) == pytest.approx((NLPL, NUPL))
    assert df["baseline"].tolist() == [True] * 12 + [False]
    # the period's first moving range is not used
    assert math.isnan(df["moving_range"].iloc[0])
    assert not df["moving_range_used"].iloc[0]
    assert df["moving_range_used"].sum() == 11


def test_mean_and_limits_without_a_fixed_baseline():
    y = [5.0, 9.0, 7.0, 8.0, 6.0]
    df = xmr(y)
    mr = [4, 2, 1, 2]
    assert df["mean"].iloc[0] == pytest.approx(7.0)
    assert df["amr"].iloc[0] == pytest.approx(sum(mr) / 4)
    assert df["upl"].iloc[0] == pytest.approx(7.0 + 2.66 * 2.25)
    assert df["lpl"].iloc[0] == pytest.approx(7.0 - 2.66 * 2.25)


def test_screening_on_and_off_give_different_limits_on_a_series_with_a_big_jump():
    y = [10.0, 11.0] * 5 + [40.0] + [10.0, 11.0] * 5
    mr = np.abs(np.diff(y))  # eighteen 1s, then 29 (up to 40) and 30 (down from 40)
    amr = mr.mean()
    kept = mr[mr < 3.267 * amr]
    assert len(kept) == len(mr) - 2
    off = xmr(y)
    on = xmr(y, screen_outliers=True)
    assert off["amr"].iloc[0] == pytest.approx(amr)
    assert on["amr"].iloc[0] == pytest.approx(kept.mean())
    assert on["upl"].iloc[0] < off["upl"].iloc[0]
    assert on["lpl"].iloc[0] > off["lpl"].iloc[0]
    assert off["moving_range_used"].tolist().count(False) == 1  # only the first point
    assert on["moving_range_used"].tolist().count(False) == 3  # first point + the two jumps
    assert not on["moving_range_used"].iloc[10] and not on["moving_range_used"].iloc[11]
    assert on["outside_limits"].iloc[10] and off["outside_limits"].iloc[10]
    assert on.attrs["screen_outliers"] is True and off.attrs["screen_outliers"] is False


def test_default_is_not_to_screen():
    y = [10.0, 11.0] * 5 + [40.0] + [10.0, 11.0] * 5
    assert xmr(y)["upl"].iloc[0] == xmr(y, screen_outliers=False)["upl"].iloc[0]
    assert xmr(y)["upl"].iloc[0] != xmr(y, screen_outliers=True)["upl"].iloc[0]


def test_screening_is_applied_once_not_repeated():
    # moving ranges: eighteen 1s, a 5 and a 100. First amr = 123 / 20 = 6.15, so only the 100 is
    # at or above 3.267 × 6.15; the new amr is 23 / 19 = 1.21, and R does not screen again
    # (5 > 3.267 × 1.21 is kept)
    y = [0.0]
    for d in [1.0, -1.0] * 9 + [5.0, 100.0]:
        y.append(y[-1] + d)
    df = xmr(y, screen_outliers=True)
    assert df["amr"].iloc[0] == pytest.approx(23 / 19)
    assert df["moving_range_used"].iloc[-2] and not df["moving_range_used"].iloc[-1]


def test_constant_baseline_gives_zero_width_limits_not_nan():
    # deliberate difference: R's screening would drop every zero moving range and give NaN
    df = xmr([5.0] * 14, screen_outliers=True)
    assert df["lpl"].iloc[0] == df["upl"].iloc[0] == 5.0
    assert (df["point_type"] == "common_cause").all()


# --------------------------------------------------------------------------------------------
# Rule 1: outside the limits
# --------------------------------------------------------------------------------------------


def test_point_exactly_on_the_upper_limit_is_not_outside():
    upl = fixed([11.0])["upl"].iloc[-1]
    df = fixed([upl])
    assert not df["outside_limits"].iloc[-1]
    assert df["close_to_limits"].iloc[-1]  # beyond the near limit, alone: no rule
    assert df["rule"].iloc[-1] == ""
    assert df["point_type"].iloc[-1] == "common_cause"


def test_point_just_above_the_upper_limit_is_outside():
    df = fixed([UPL + 0.01])
    assert flagged(df, "outside_limits") == [12]
    assert df["rule"].tolist() == [""] * 12 + ["outside_limits"]
    assert df["special_cause_type"].iloc[-1] == "Above UCL"
    assert df["point_type"].iloc[-1] == "special_cause_improvement"
    assert not df["close_to_limits"].iloc[-1]


def test_point_below_the_lower_limit_is_concern_when_increase_is_better():
    lpl = fixed([11.0])["lpl"].iloc[-1]
    assert fixed([lpl])["rule"].iloc[-1] == ""
    df = fixed([LPL - 0.01])
    assert df["rule"].iloc[-1] == "outside_limits"
    assert df["special_cause_type"].iloc[-1] == "Below LCL"
    assert df["point_type"].iloc[-1] == "special_cause_concern"
    assert fixed([LPL - 0.01], improvement="decrease")["point_type"].iloc[-1] == (
        "special_cause_improvement"
    )


# --------------------------------------------------------------------------------------------
# Rule 2: a trend of 7
# --------------------------------------------------------------------------------------------


def test_seven_increasing_points_are_a_trend_and_all_seven_are_flagged():
    df = fixed([9.0, 9.5, 10.0, 10.5, 11.0, 11.5, 12.0])
    assert flagged(df, "trend") == list(range(12, 19))
    assert set(df["rule"].iloc[12:]) == {"trend"}
    assert set(df["special_cause_type"].iloc[12:]) == {"7 Point Trend (Increasing)"}
    assert (df["point_type"].iloc[:12] == "common_cause").all()


def test_six_increasing_points_are_not_a_trend():
    df = fixed([9.0, 9.5, 10.0, 10.5, 11.0, 11.5])
    assert not df["trend"].any()
    assert (df["rule"] == "").all()


def test_an_equal_step_breaks_a_trend():
    df = fixed([9.0, 9.5, 10.0, 10.0, 10.5, 11.0, 11.5, 12.0])
    assert not df["trend"].any()


def test_seven_decreasing_points_are_a_trend():
    df = fixed([13.0, 12.5, 12.0, 11.5, 10.5, 10.0, 9.5, 9.4])
    # 12 at index 11 is below 13 so it does not start the trend; 13 … 9.4 (8 points) are flagged
    assert flagged(df, "trend") == list(range(12, 20))
    assert set(df["special_cause_type"].iloc[12:]) == {"7 Point Trend (Decreasing)"}
    assert set(df["point_type"].iloc[12:]) == {"special_cause_concern"}


def test_trend_points_are_typed_by_the_trend_direction_not_their_side_of_the_mean():
    # a falling trend entirely above the mean, improvement = increase: concern (R ptd_point_type)
    df = fixed([14.0, 13.5, 13.0, 12.5, 12.0, 11.8, 11.6])
    assert (df["relative_to_mean"].iloc[12:] == 1).all()
    assert set(df["point_type"].iloc[12:]) == {"special_cause_concern"}
    # and a rising trend that starts below the mean is improvement throughout
    df = fixed([11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0])
    assert flagged(df, "trend") == list(range(11, 19))  # the 10 before it starts the trend
    assert df["relative_to_mean"].iloc[11] == -1
    assert set(df["point_type"].iloc[11:]) == {"special_cause_improvement"}


def test_trends_do_not_cross_a_rebase():
    y = [float(i) for i in range(1, 11)]
    assert xmr(y)["trend"].all()
    df = xmr(y, rebase_at=[4])
    assert not df["trend"].any()


# --------------------------------------------------------------------------------------------
# Rule 3: 2 of 3 close to a limit
# --------------------------------------------------------------------------------------------


def test_two_of_three_beyond_the_near_limit_flags_the_two_close_points():
    df = fixed([15.0, 11.5, 15.0])
    assert flagged(df, "close_to_limits") == [12, 14]
    assert flagged(df, "two_in_three") == [12, 14]
    assert df["rule"].iloc[12:].tolist() == ["two_in_three", "", "two_in_three"]
    assert df["special_cause_type"].iloc[12] == "2 in 3 Above CL"
    assert df["point_type"].iloc[13] == "common_cause"  # the middle point is not flagged


def test_two_of_three_low_side():
    df = fixed([7.0, 7.0], improvement="decrease")
    assert flagged(df, "two_in_three") == [12, 13]
    assert set(df["special_cause_type"].iloc[12:]) == {"2 in 3 Below CL"}
    assert set(df["point_type"].iloc[12:]) == {"special_cause_improvement"}


def test_one_of_three_close_is_not_enough():
    df = fixed([15.0, 11.5, 14.5])  # 14.5 is just inside the near limit (14.5467)
    assert flagged(df, "close_to_limits") == [12]
    assert not df["two_in_three"].any()


def test_a_point_exactly_on_the_near_limit_is_not_close():
    nupl = fixed([11.0])["near_upl"].iloc[-1]
    df = fixed([15.0, nupl, 11.5])
    assert flagged(df, "close_to_limits") == [12]
    assert not df["two_in_three"].any()
    assert flagged(fixed([15.0, nupl + 1e-9, 11.5]), "two_in_three") == [12, 13]


def test_two_of_three_needs_all_three_points_on_the_same_side():
    # R ptd_two_in_three: abs(sum(relative_to_mean)) == 3 over the window
    df = fixed([15.0, 10.5, 15.0])
    assert flagged(df, "close_to_limits") == [12, 14]
    assert not df["two_in_three"].any()


def test_outside_points_do_not_count_towards_two_of_three():
    df = fixed([11.5, 15.0, 18.0])  # 18 is outside the limits, not "close" to them
    assert df["rule"].iloc[12:].tolist() == ["", "", "outside_limits"]
    df = fixed([11.5, 15.0, 16.0])  # 16 is just inside: now 2 of 3
    assert df["rule"].iloc[12:].tolist() == ["", "two_in_three", "two_in_three"]


# --------------------------------------------------------------------------------------------
# Rule 4: a run of 7 on one side of the mean
# --------------------------------------------------------------------------------------------


def test_seven_points_above_the_mean_are_a_shift():
    df = fixed([11.5] * 7)
    assert flagged(df, "shift") == list(range(12, 19))
    assert set(df["rule"].iloc[12:]) == {"shift"}
    assert set(df["special_cause_type"].iloc[12:]) == {"7 Points Above CL"}
    assert set(df["point_type"].iloc[12:]) == {"special_cause_improvement"}


def test_six_points_above_the_mean_are_not_a_shift():
    df = fixed([11.5] * 6)
    assert not df["shift"].any()


def test_seven_points_below_the_mean_decrease_is_better():
    df = fixed([10.5] * 9, improvement="decrease")
    assert flagged(df, "shift") == [11, *range(12, 21)]  # the baseline's last 10 joins the run
    assert set(df["special_cause_type"].iloc[11:]) == {"7 Points Below CL"}
    assert set(df["point_type"].iloc[11:]) == {"special_cause_improvement"}


def test_a_point_exactly_on_the_mean_breaks_a_run():
    df = fixed([11.5] * 3 + [MEAN] + [11.5] * 3)
    assert df["relative_to_mean"].iloc[15] == 0
    assert not df["shift"].any()
    # the same series with the middle point just above the mean is a run of 7
    assert fixed([11.5] * 3 + [MEAN + 1e-9] + [11.5] * 3)["shift"].sum() == 7


def test_runs_do_not_cross_a_rebase():
    # 4 points above the mean at the end of period 0, 4 above at the start of period 1
    p0 = [10.0, 12.0, 10.0, 12.0, 10.0, 12.0, 10.0, 13.0, 13.0, 13.0, 13.0]
    p1 = [13.0, 13.0, 13.0, 13.0, 10.0, 12.0, 10.0, 12.0]
    df = xmr(p0 + p1, rebase_at=[len(p0)])
    assert df["relative_to_mean"].iloc[7:15].tolist() == [1] * 8
    assert not df["shift"].any()
    assert flagged(xmr(p0 + p1), "shift") == list(range(7, 15))


# --------------------------------------------------------------------------------------------
# Priority
# --------------------------------------------------------------------------------------------


def test_outside_limits_outranks_a_run():
    df = fixed([11.5] * 3 + [20.0] + [11.5] * 3)
    assert df["shift"].iloc[15] and df["outside_limits"].iloc[15]
    assert df["rule"].iloc[12:].tolist() == ["shift"] * 3 + ["outside_limits"] + ["shift"] * 3
    assert df["special_cause_type"].iloc[15] == "Above UCL"


def test_outside_limits_outranks_a_trend():
    df = fixed([11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0])
    assert df["trend"].iloc[18] and df["outside_limits"].iloc[18]
    assert df["rule"].iloc[18] == "outside_limits"


def test_trend_outranks_two_of_three():
    df = fixed([11.0, 12.0, 13.0, 14.0, 15.0, 16.0, 17.0])
    assert df["two_in_three"].iloc[16] and df["trend"].iloc[16]
    assert df["rule"].iloc[16] == "trend"


def test_trend_outranks_a_run():
    df = fixed([11.2, 11.4, 11.6, 11.8, 12.0, 12.2, 12.4])
    assert df["shift"].iloc[12:].all() and df["trend"].iloc[12:].all()
    assert set(df["rule"].iloc[12:]) == {"trend"}


def test_two_of_three_outranks_a_run():
    df = fixed([11.5, 11.5, 15.0, 11.5, 15.0, 11.5, 11.5])
    assert df["shift"].iloc[12:].all()
    assert df["rule"].iloc[12:].tolist() == [
        "shift", "shift", "two_in_three", "shift", "two_in_three", "shift", "shift"
    ]  # fmt: skip
    assert df["special_cause_flag"].iloc[12:].all()


def test_rule_column_and_flag_agree():
    df = fixed([11.5, 11.5, 15.0, 11.5, 15.0, 11.5, 11.5, 20.0])
    assert (df["special_cause_flag"] == (df["rule"] != "")).all()
    assert ((df["point_type"] == "common_cause") == ~df["special_cause_flag"]).all()
    assert set(df["rule"]) <= {"", *spc.RULES}


# --------------------------------------------------------------------------------------------
# Neutral direction
# --------------------------------------------------------------------------------------------


def test_neutral_points_are_high_or_low():
    df = fixed([UPL + 1, LPL - 1], improvement="neutral")
    assert df["point_type"].iloc[12:].tolist() == [
        "special_cause_neutral_high",
        "special_cause_neutral_low",
    ]


# --------------------------------------------------------------------------------------------
# Rebasing and short periods
# --------------------------------------------------------------------------------------------


def test_rebasing_at_go_live_recomputes_the_limits_per_period():
    before = [20.0, 22.0] * 6  # mean 21, amr 2
    after = [10.0, 13.0] * 7  # mean 11.5, amr 3
    df = xmr(before + after, improvement="decrease", rebase_at=[12])
    assert df["period"].tolist() == [0] * 12 + [1] * 14
    p0, p1 = df.iloc[0], df.iloc[-1]
    assert (p0["mean"], p0["upl"]) == pytest.approx((21.0, 21.0 + 2.66 * 2))
    assert (p1["mean"], p1["lpl"]) == pytest.approx((11.5, 11.5 - 2.66 * 3))
    # the moving range across the rebase (22 → 10) is not used
    assert math.isnan(df["moving_range"].iloc[12])
    assert (df["point_type"] == "common_cause").all()
    # without the rebase the drop is a run of special-cause improvement
    assert (
        xmr(before + after, improvement="decrease")["point_type"].iloc[12:] != "common_cause"
    ).all()


def test_warning_for_a_period_of_fewer_than_13_points():
    before = [20.0, 22.0] * 6  # 12 points
    after = [10.0, 13.0] * 7  # 14 points
    df = xmr(before + after, rebase_at=[12])
    warnings = df.attrs["warnings"]
    assert len(warnings) == 1
    assert "Period 0" in warnings[0] and "12 points" in warnings[0] and "13" in warnings[0]
    assert spc_warnings(df) == warnings
    assert df["short_period_warning"].tolist() == [True] * 12 + [False] * 14
    assert short_period_warnings(26, [12]) == warnings
    assert xmr(before + [21.0] + after, rebase_at=[13]).attrs["warnings"] == []


def test_spc_warnings_rebuilds_the_list_when_attrs_are_lost():
    df = xmr([1.0, 2.0, 3.0, 2.0, 1.0])
    bare = pd.DataFrame(df.to_dict("list"))
    assert bare.attrs == {}
    assert len(spc_warnings(bare)) == 1
    assert "5 points" in spc_warnings(bare)[0]


def test_short_period_warnings_without_computing_the_chart():
    w = short_period_warnings(30, [10, 25])
    assert len(w) == 2
    assert "Period 0" in w[0] and "10 points" in w[0]
    assert "Period 2" in w[1] and "5 points" in w[1]
    assert short_period_warnings(26) == []


def test_rebase_at_zero_is_a_no_op_as_in_r():
    y = RNORM_123
    assert xmr(y, rebase_at=[0])["upl"].tolist() == xmr(y)["upl"].tolist()


# --------------------------------------------------------------------------------------------
# Ported from NHSRplotthedots tests/testthat
# --------------------------------------------------------------------------------------------


def test_ported_ptd_spc_standard_expected_values():
    """tests/testthat/test-ptd_spc_standard.R, "it returns expected values", with the numbers of
    tests/testthat/_snaps/ptd_spc_standard.md (screen_outliers = TRUE, then y[15] <- 10 with
    screening on and off)."""
    r1 = xmr(RNORM_123, screen_outliers=True)
    assert r1["mean"].iloc[0] == pytest.approx(0.1416238, abs=5e-8)
    assert r1["lpl"].iloc[0] == pytest.approx(-3.01138, abs=5e-6)
    assert r1["upl"].iloc[0] == pytest.approx(3.294627, abs=5e-7)
    assert r1["relative_to_mean"].iloc[:14].tolist() == [
        -1, -1, 1, -1, -1, 1, 1, -1, -1, -1, 1, 1, 1, -1
    ]  # fmt: skip
    assert not r1["outside_limits"].any()

    y = list(RNORM_123)
    y[14] = 10.0  # R: data$y[15] <- 10
    r2 = xmr(y, screen_outliers=True)
    assert r2["mean"].iloc[0] == pytest.approx(0.6694159, abs=5e-8)
    assert r2["lpl"].iloc[0] == pytest.approx(-2.383666, abs=5e-7)
    assert r2["upl"].iloc[0] == pytest.approx(3.722497, abs=5e-7)
    assert r2["relative_to_mean"].iloc[:14].tolist() == [
        -1, -1, 1, -1, -1, 1, -1, -1, -1, -1, 1, -1, -1, -1
    ]  # fmt: skip

    r3 = xmr(y, screen_outliers=False)
    assert r3["mean"].iloc[0] == pytest.approx(0.6694159, abs=5e-8)
    assert r3["lpl"].iloc[0] == pytest.approx(-4.596625, abs=5e-7)
    assert r3["upl"].iloc[0] == pytest.approx(5.935457, abs=5e-7)
    # "the range when screen_outliers = FALSE is larger than when TRUE"
    assert r3["upl"].iloc[0] - r3["lpl"].iloc[0] > r2["upl"].iloc[0] - r2["lpl"].iloc[0]


def test_ported_ptd_spc_summary():
    """tests/testthat/test-ptd_spc.R, "it outputs expected content", snapshot in
    tests/testthat/_snaps/ptd_spc.md: the whole series (mean 0.142, limits -3.01 … 3.29, 20
    common cause points) and two groups of 10 (mean 0.0746 / 0.209, limits -2.60 … 2.75 /
    -3.28 … 3.70). R groups by facet there; a rebase at point 10 groups the same way."""
    s1 = xmr(RNORM_123, screen_outliers=True)
    assert (round(s1["mean"].iloc[0], 3), round(s1["lpl"].iloc[0], 2)) == (0.142, -3.01)
    assert round(s1["upl"].iloc[0], 2) == 3.29
    assert (s1["point_type"] == "common_cause").sum() == 20
    assert variation_icon(s1) == "common_cause"

    s3 = xmr(RNORM_123, rebase_at=[10], screen_outliers=True)
    first = s3.groupby("period")[["mean", "lpl", "upl"]].first()
    assert first.loc[0].round(4)["mean"] == 0.0746
    assert first.loc[0].round(2)[["lpl", "upl"]].tolist() == [-2.60, 2.75]
    assert first.loc[1].round(3)["mean"] == 0.209
    assert first.loc[1].round(2)[["lpl", "upl"]].tolist() == [-3.28, 3.70]
    assert (s3["point_type"] == "common_cause").all()
    # n = 10 in each group, below the threshold of 13: R warns, so do we
    assert len(s3.attrs["warnings"]) == 2


@pytest.mark.parametrize("screen", [True, False])
def test_ported_two_of_three_only_on_the_same_side(screen):
    """tests/testthat/test-ptd_spc_standard.R, "it only reports special cause for 2of3 points
    close to the limits when they are on the same side of the mean"."""
    data = [1.0, -1.0] * 8
    data[14] = 5.5  # R: dtf$data[15] <- 5.5
    data[15] = -5.5  # R: dtf$data[16] <- -5.5
    df = xmr(data, screen_outliers=screen)
    assert df["point_type"].iloc[-2:].tolist() == ["common_cause", "common_cause"]


def test_ported_seven_point_one_side_mean():
    """tests/testthat/test-ptd_calculate_point_type.R, ptd_seven_point_one_side_mean."""
    f = spc._seven_point_one_side_mean
    assert f(np.array([])).tolist() == []
    assert f(np.ones(6)).tolist() == [0] * 6
    assert f(np.array([1] * 6 + [-1])).tolist() == [0] * 7
    assert f(np.array([1] * 8 + [-1])).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 0]
    assert f(np.array([-1] * 8 + [1])).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 0]
    assert f(np.array([-1] + [1] * 8 + [-1])).tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 1, 0]


def test_ported_seven_point_trend():
    """tests/testthat/test-ptd_calculate_point_type.R, ptd_seven_point_trend."""
    f = spc._seven_point_trend
    assert f(np.array([])).tolist() == []
    assert f(np.arange(1, 7)).tolist() == [0] * 6
    assert f(np.array([1, 2, 3, 3, 4, 5, 6])).tolist() == [0] * 7
    assert f(np.arange(1, 8)).tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert f(np.array([2, *range(1, 8), 3])).tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0]
    assert f(np.arange(7, 0, -1)).tolist() == [0, 0, 0, 0, 0, 0, -1]
    assert f(np.array([2, *range(7, 0, -1), 3])).tolist() == [0, 0, 0, 0, 0, 0, 0, -1, 0]


def test_ported_part_of_seven_trend():
    """tests/testthat/test-ptd_calculate_point_type.R, ptd_part_of_seven_trend (its first two
    cases, plus the flags of the one-side-of-mean case above)."""
    f = spc._part_of_seven_trend
    assert f(np.array([])).tolist() == []
    assert f(np.zeros(6)).tolist() == [0] * 6
    assert f(np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 0])).tolist() == [0] + [1] * 8 + [0]
    assert f(np.array([0, 0, 0, 0, 0, 0, -1])).tolist() == [1] * 7


def test_ported_two_in_three():
    """tests/testthat/test-ptd_calculate_point_type.R, ptd_two_in_three and
    ptd_part_of_two_in_three (all points on one side of the mean, as R's defaults imply)."""

    def two(v):
        v = np.array(v, dtype=float)
        return spc._two_in_three(v, np.ones(len(v))).tolist()

    def part(v):
        v = np.array(v, dtype=float)
        return spc._part_of_two_in_three(spc._two_in_three(v, np.ones(len(v))), v).tolist()

    assert two([]) == []
    assert two([0, 0, 0]) == [0, 0, 0]
    assert two([1, 0, 1]) == two([0, 1, 1]) == two([1, 1, 0]) == [1, 1, 1]
    assert two([0, 0, 1, 0, 1, 0, 0]) == [0, 0, 1, 1, 1, 0, 0]
    assert two([0, 0, 1, 1, 0, 0, 0]) == [0, 1, 1, 1, 1, 0, 0]
    assert part([1, 0, 1]) == [1, 0, 1]
    assert part([0, 0, 1, 0, 1, 0, 0]) == [0, 0, 1, 0, 1, 0, 0]
    assert part([1, 0, 0, 1]) == [0, 0, 0, 0]
    assert part([1, 0, 0, 1, 1]) == [0, 0, 0, 1, 1]


def test_ported_assurance_type():
    """tests/testthat/test-ptd_calculate_assurance_type.R: limits (1, 3), (5, 7), (1, 5) against
    a target of 4."""

    def chart(lpl, upl):
        return pd.DataFrame(
            {"value": [2.0], "lpl": [lpl], "upl": [upl], "point_type": ["common_cause"]}
        )

    limits = [(1, 3), (5, 7), (1, 5)]
    inc = [assurance_icon(chart(*lim), 4, "increase") for lim in limits]
    dec = [assurance_icon(chart(*lim), 4, "decrease") for lim in limits]
    neu = [assurance_icon(chart(*lim), 4, "neutral") for lim in limits]
    assert inc == ["fail", "pass", "hit_and_miss"]
    assert dec == ["pass", "fail", "hit_and_miss"]
    assert neu == [None, None, None]
    assert assurance_icon(chart(1, 3), None, "increase") is None


# --------------------------------------------------------------------------------------------
# Icons
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("after", "improvement", "icon"),
    [
        ([11.0], "increase", "common_cause"),
        ([UPL + 1], "increase", "improvement_high"),
        ([LPL - 1], "decrease", "improvement_low"),
        ([UPL + 1], "decrease", "concern_high"),
        ([LPL - 1], "increase", "concern_low"),
        ([UPL + 1], "neutral", "neutral_high"),
        ([LPL - 1], "neutral", "neutral_low"),
    ],
)
def test_variation_icon(after, improvement, icon):
    df = fixed(after, improvement=improvement)
    assert variation_icon(df) == icon


def test_variation_icon_reads_only_the_last_point():
    df = fixed([UPL + 1, 11.0])
    assert df["point_type"].iloc[-2] == "special_cause_improvement"
    assert variation_icon(df) == "common_cause"


def test_variation_icon_improvement_argument_overrides_attrs():
    df = fixed([UPL + 1])
    bare = pd.DataFrame(df.to_dict("list"))
    with pytest.raises(ValueError, match="improvement is not known"):
        variation_icon(bare)
    assert variation_icon(bare, "increase") == "improvement_high"


@pytest.mark.parametrize(
    ("target", "improvement", "icon"),
    [
        (20.0, "increase", "fail"),
        (20.0, "decrease", "pass"),
        (3.0, "increase", "pass"),
        (3.0, "decrease", "fail"),
        (11.0, "increase", "hit_and_miss"),
        (11.0, "decrease", "hit_and_miss"),
        (UPL, "increase", "hit_and_miss"),  # on the limit is not beyond it
        (LPL, "decrease", "hit_and_miss"),
        (20.0, "neutral", None),
        (None, "increase", None),
    ],
)
def test_assurance_icon(target, improvement, icon):
    df = fixed([11.0], improvement=improvement)
    assert assurance_icon(df, target, improvement) == icon


def test_assurance_icon_uses_the_last_period_and_the_target_given_to_xmr():
    before = [20.0, 22.0] * 7
    after = [10.0, 13.0] * 7
    df = xmr(before + after, improvement="decrease", rebase_at=[14], target=15.0)
    assert df["target"].iloc[0] == 15.0
    # last period: mean 11.5, limits 3.52 … 19.48, so 15 is hit and miss; against the first
    # period (mean 21, lpl 15.68) the process would consistently fail a target of 15
    assert assurance_icon(df) == "hit_and_miss"
    assert assurance_icon(df.iloc[:14]) == "fail"


# --------------------------------------------------------------------------------------------
# Before / after
# --------------------------------------------------------------------------------------------


def test_before_after_improvement():
    y = BASE + [14.0, 15.0, 14.5, 15.0, 14.0, 15.5, 14.8, 15.0]
    ba = before_after(y, 12, "increase")
    assert isinstance(ba, BeforeAfter)
    assert (ba.n_before, ba.n_after) == (12, 8)
    assert ba.mean_before == pytest.approx(11.0)
    assert ba.mean_after == pytest.approx(sum(y[12:]) / 8)
    assert ba.change == pytest.approx(ba.mean_after - 11.0)
    assert ba.change_pct == pytest.approx(100 * ba.change / 11.0)
    assert ba.special_cause_improvement_after and not ba.special_cause_concern_after
    assert "rose from 11 to 14.7" in ba.summary
    assert "special-cause improvement appeared on or after go-live" in ba.summary
    assert ba.summary.endswith(".") and ba.summary.count(". ") == 0


def test_before_after_concern_when_decrease_is_better():
    y = BASE + [14.0, 15.0, 14.5, 15.0, 14.0, 15.5, 14.8, 15.0]
    ba = before_after(y, 12, "decrease")
    assert ba.special_cause_concern_after and not ba.special_cause_improvement_after
    assert "concern" in ba.summary


def test_before_after_no_change():
    y = BASE + [12.0, 10.0, 12.0, 10.0]
    ba = before_after(y, 12, "increase")
    assert ba.change == 0 and ba.change_pct == 0
    assert not ba.special_cause_improvement_after and not ba.special_cause_concern_after
    assert "stayed at 11" in ba.summary and "no special-cause" in ba.summary


def test_before_after_from_a_dataframe_uses_its_point_types():
    y = BASE + [14.0, 15.0, 14.5, 15.0, 14.0, 15.5, 14.8, 15.0]
    rebased = xmr(y, rebase_at=[12])  # the after period judged against its own limits
    ba = before_after(rebased, 12)
    assert ba.improvement == "increase"
    assert not ba.special_cause_improvement_after
    assert before_after(xmr(y, fix_after_n_points=12), 12).special_cause_improvement_after


def test_before_after_zero_baseline_mean_has_no_percentage():
    ba = before_after([1.0, -1.0, 1.0, -1.0, 2.0, 3.0], 4)
    assert ba.mean_before == 0 and ba.change_pct is None
    assert "%" not in ba.summary


@pytest.mark.parametrize("go", [0, 1, 6, -1])
def test_before_after_bad_go_live(go):
    with pytest.raises(ValueError, match=f"go_live_index = {go}"):
        before_after([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], go)


# --------------------------------------------------------------------------------------------
# Input checks
# --------------------------------------------------------------------------------------------


def test_accepts_series_arrays_and_ints():
    a = xmr(pd.Series([1, 2, 3, 2]))
    b = xmr(np.array([1.0, 2.0, 3.0, 2.0]))
    c = xmr([np.int64(1), 2, 3.0, 2])
    assert a["upl"].tolist() == b["upl"].tolist() == c["upl"].tolist()
    assert a["value"].dtype == float


@pytest.mark.parametrize(
    ("values", "exc", "match"),
    [
        ([1.0, "2", 3.0], TypeError, r"values\[1\] should be a number, got str"),
        ([1.0, 2.0, None], ValueError, r"values\[2\] is missing"),
        ([1.0, float("nan"), 3.0], ValueError, r"values\[1\] is NaN"),
        ([1.0, 2.0, float("inf")], ValueError, r"values\[2\] is infinite"),
        ([1.0, True, 3.0], TypeError, r"values\[1\] should be a number, got bool"),
        ([1.0], ValueError, "at least 2 points.*got 1"),
        ([], ValueError, "at least 2 points.*got 0"),
        ("1234", TypeError, "not a string"),
        (5, TypeError, "got int"),
    ],
)
def test_bad_values(values, exc, match):
    with pytest.raises(exc, match=match):
        xmr(values)


@pytest.mark.parametrize("improvement", ["up", "Increase", None, 1])
def test_bad_improvement(improvement):
    with pytest.raises(ValueError, match="improvement should be one of 'increase', 'decrease'"):
        xmr([1.0, 2.0, 3.0], improvement)


@pytest.mark.parametrize(
    ("rebase_at", "exc", "match"),
    [
        ([5], ValueError, r"rebase_at\[0\] = 5 is out of range: there are 5 points"),
        ([2, -1], ValueError, r"rebase_at\[1\] = -1 is out of range"),
        ([3, 2], ValueError, r"strictly increasing, but rebase_at\[1\] = 2 follows"),
        ([2, 2], ValueError, r"rebase_at\[1\] = 2 follows rebase_at\[0\] = 2"),
        ([2.5], TypeError, r"rebase_at\[0\] should be an integer point index, got float"),
        ([4], ValueError, r"period 1 \(starting at index 4\) has only 1 point"),
        ("2", TypeError, "not a string"),
    ],
)
def test_bad_rebase(rebase_at, exc, match):
    with pytest.raises(exc, match=match):
        xmr([1.0, 2.0, 3.0, 4.0, 5.0], rebase_at=rebase_at)


def test_bad_options():
    with pytest.raises(ValueError, match="fix_after_n_points should be at least 2"):
        xmr([1.0, 2.0, 3.0], fix_after_n_points=1)
    with pytest.raises(TypeError, match="fix_after_n_points should be an integer"):
        xmr([1.0, 2.0, 3.0], fix_after_n_points=2.0)
    with pytest.raises(TypeError, match="screen_outliers should be True or False"):
        xmr([1.0, 2.0, 3.0], screen_outliers="yes")
    with pytest.raises(ValueError, match="target should be a finite number"):
        xmr([1.0, 2.0, 3.0], target=float("nan"))
    with pytest.raises(TypeError, match="should be the DataFrame returned by xmr"):
        variation_icon([1, 2, 3])


def test_columns_and_attrs():
    df = xmr([1.0, 3.0, 2.0, 4.0], "decrease", target=2.5)
    for col in ("mean", "lpl", "upl", "point_type", "rule", "outside_limits", "trend"):
        assert col in df.columns
    assert {"two_in_three", "shift", "special_cause_type", "special_cause_flag"} <= set(df)
    assert df.attrs["improvement"] == "decrease"
    assert df.attrs["target"] == 2.5
    assert df.attrs["rebase_at"] == []
    assert set(df["point_type"]) <= set(spc.POINT_TYPES)
    assert len(df) == 4
