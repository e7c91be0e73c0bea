"""The verdict rules of `report.verdicts`, on hand-made data.

Every expected number comes from SciPy (or is worked out by hand here),
never from `bnorder_tf.report`: a test, its interval and its p-value, and
the state each rule gives them.
"""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bnorder_tf.report import verdicts
from bnorder_tf.report.verdicts import (
    CONTRADICTED,
    HOLDS,
    NOT_MEASURED,
    UNRESOLVED,
    Evidence,
    Verdict,
)
from tests.report import reference


def _scipy_welch(a, b):
    """SciPy's Welch test of mean(b) - mean(a): (estimate, low, high, p)."""
    found = scipy_stats.ttest_ind(b, a, equal_var=False)
    low, high = found.confidence_interval(0.95)
    return np.mean(b) - np.mean(a), low, high, found.pvalue


def _check_welch(test, a, b):
    estimate, low, high, p = _scipy_welch(a, b)
    assert test.estimate == pytest.approx(estimate, rel=1e-12, abs=1e-15)
    assert test.low == pytest.approx(low, rel=1e-9)
    assert test.high == pytest.approx(high, rel=1e-9)
    assert test.p == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize("probability", [0.9, 0.95, 0.975, 0.995, 0.9995])
@pytest.mark.parametrize("df", [1, 1.47, 2, 3.6, 4, 10, 29, 200])
def test_t_quantile_matches_scipy(probability, df):
    assert verdicts.t_quantile(probability, df) == pytest.approx(
        scipy_stats.t.ppf(probability, df), rel=1e-9
    )


def test_interval_is_the_estimate_plus_minus_t_standard_errors():
    low, high = verdicts.interval(2.0, 0.5, 7)
    half = scipy_stats.t.ppf(0.975, 7) * 0.5
    assert (low, high) == (pytest.approx(2 - half), pytest.approx(2 + half))
    low, high = verdicts.interval(2.0, 0.5, 7, confidence=0.9)
    assert high == pytest.approx(2 + scipy_stats.t.ppf(0.95, 7) * 0.5)
    assert all(math.isnan(x) for x in verdicts.interval(1.0, math.nan, 3))
    assert all(math.isnan(x) for x in verdicts.interval(1.0, 0.1, 0))


@pytest.mark.parametrize(
    "a, b",
    [
        # three seeds a side, as the studies have
        ([0.9157, 0.9182, 0.9154], [0.9171, 0.9210, 0.9190]),
        # unequal sizes and spreads: Welch's df is far from n_a + n_b - 2
        ([1.0, 1.2, 0.7, 1.1, 0.95], [1.4, 2.9, 0.2]),
        ([0.80, 0.82], [0.84, 0.85]),
    ],
)
def test_welch_test_matches_scipy_with_its_interval(a, b):
    _check_welch(verdicts.welch_test(a, b), a, b)


def test_welch_test_without_enough_values_or_spread_has_no_p():
    test = verdicts.welch_test([0.9], [0.91, 0.92])
    assert test.estimate == pytest.approx(0.015)
    assert math.isnan(test.p) and math.isnan(test.low)
    test = verdicts.welch_test([0.9, 0.9], [0.95, 0.95])
    assert math.isnan(test.p)
    assert verdicts.directional(test).state == UNRESOLVED


def test_a_tie_is_not_resolved():
    """Equal means with spread: estimate 0, p 1 (SciPy agrees)."""
    a, b = [0.90, 0.92, 0.91], [0.93, 0.89, 0.91]
    test = verdicts.welch_test(a, b)
    _check_welch(test, a, b)
    assert test.estimate == pytest.approx(0.0, abs=1e-15)
    assert test.p == pytest.approx(1.0)
    assert test.low < 0 < test.high
    assert verdicts.directional(test) == Verdict(UNRESOLVED, (test,))


def test_a_significant_effect_holds():
    # the module's own example: a gain of 0.05, t = 6.12 on 4 df
    a, b = [0.90, 0.91, 0.92], [0.95, 0.96, 0.97]
    test = verdicts.welch_test(a, b)
    _check_welch(test, a, b)
    assert test.p == pytest.approx(0.0036022, abs=1e-7)
    assert 0 < test.low
    assert verdicts.directional(test).state == HOLDS


def test_an_effect_in_the_opposite_direction_is_contradicted():
    a, b = [0.95, 0.96, 0.97], [0.90, 0.91, 0.92]
    test = verdicts.welch_test(a, b)
    _check_welch(test, a, b)
    assert test.estimate < 0 and test.high < 0 and test.p < 0.05
    assert verdicts.directional(test).state == CONTRADICTED


def test_an_effect_short_of_significance_is_not_resolved():
    """A gain of 0.44 points at p 0.052 (VGG16_11 tanh's p): not resolved."""
    a, b = [0.9150, 0.9164, 0.9178], [0.9186, 0.9208, 0.9230]
    test = verdicts.welch_test(a, b)
    _check_welch(test, a, b)
    assert 0.05 < test.p < 0.1
    assert test.low < 0 < test.high
    assert verdicts.directional(test).state == UNRESOLVED


def test_the_decision_is_at_five_percent_two_sided():
    def at(p, estimate=1.0):
        return verdicts.directional(Evidence("t", estimate, 0.1, 2.0, p))

    assert at(0.0499).state == HOLDS
    assert at(0.05).state == UNRESOLVED
    assert at(0.0499, -1.0).state == CONTRADICTED
    assert at(math.nan).state == UNRESOLVED


def _scipy_ols_slope(x, y):
    """SciPy's least-squares slope: (slope, low, high, p)."""
    fit = scipy_stats.linregress(x, y)
    half = scipy_stats.t.ppf(0.975, len(x) - 2) * fit.stderr
    return fit.slope, fit.slope - half, fit.slope + half, fit.pvalue


def _slope_test(x, y):
    rows = [[1.0, xi] for xi in x]
    return verdicts.regression_test(rows, y, 1, "least squares, slope")


def test_a_non_significant_slope_is_not_resolved_and_its_interval_matches():
    x = [8, 8, 8, 11, 11, 11, 16, 16, 16]
    y = [0.80, 0.95, 0.41, 0.30, 0.62, 0.55, 0.51, 0.33, 0.21]
    test = _slope_test(x, y)
    slope, low, high, p = _scipy_ols_slope(x, y)
    assert test.estimate == pytest.approx(slope, rel=1e-9)
    assert test.low == pytest.approx(low, rel=1e-9)
    assert test.high == pytest.approx(high, rel=1e-9)
    assert test.p == pytest.approx(p, rel=1e-9)
    assert slope < 0 and p > 0.05 and low < 0 < high  # the known answer
    assert verdicts.by_interval(test).state == UNRESOLVED


@pytest.mark.parametrize("sign, state", [(1, HOLDS), (-1, CONTRADICTED)])
def test_a_significant_slope_holds_or_contradicts_by_its_sign(sign, state):
    x = np.array([8, 8, 8, 11, 11, 11, 16, 16, 16], float)
    noise = np.array([0.02, -0.01, -0.01, 0.0, 0.015, -0.015, -0.02, 0.0, 0.02])
    y = 0.5 + sign * 0.05 * x + noise
    test = _slope_test(x, y)
    slope, low, high, p = _scipy_ols_slope(x, y)
    assert test.estimate == pytest.approx(slope, rel=1e-9)
    assert (test.low, test.high) == (
        pytest.approx(low, rel=1e-9),
        pytest.approx(high, rel=1e-9),
    )
    assert test.p == pytest.approx(p, rel=1e-6) and p < 1e-6
    assert verdicts.by_interval(test).state == state


def test_regression_of_an_interaction_matches_an_independent_fit():
    """The depth study's design: the gain's slope is the interaction.

    Checked against a fit made here with NumPy's own normal equations and
    SciPy's t distribution.
    """
    rng = np.random.default_rng(3)
    depth = np.repeat([8.0, 11.0, 16.0], 6)
    swap = np.tile([0.0, 0.0, 0.0, 1.0, 1.0, 1.0], 3)
    y = 0.9 + 0.01 * swap - 0.001 * depth + rng.normal(0, 0.003, 18)
    design = np.column_stack([np.ones(18), swap, depth, swap * depth])
    test = verdicts.regression_test(design, y, 3, "interaction")
    beta = np.linalg.solve(design.T @ design, design.T @ y)
    residual = y - design @ beta
    covariance = residual @ residual / 14 * np.linalg.inv(design.T @ design)
    se = math.sqrt(covariance[3, 3])
    half = scipy_stats.t.ppf(0.975, 14) * se
    assert test.estimate == pytest.approx(beta[3], rel=1e-9)
    assert test.low == pytest.approx(beta[3] - half, rel=1e-9)
    assert test.high == pytest.approx(beta[3] + half, rel=1e-9)
    assert test.p == pytest.approx(
        2 * scipy_stats.t.sf(abs(beta[3]) / se, 14), rel=1e-6
    )


def test_regression_without_residual_df_or_with_a_singular_design_is_none():
    assert _slope_test([1, 2], [3, 4]) is None
    assert _slope_test([5, 5, 5], [1, 2, 3]) is None


def test_by_interval_reads_the_interval_not_the_p_value():
    def state(low, high, p=0.5):
        return verdicts.by_interval(Evidence("t", 0.0, low, high, p)).state

    assert state(0.01, 0.2) == HOLDS
    assert state(-0.2, -0.01) == CONTRADICTED
    assert state(-0.1, 0.03) == UNRESOLVED
    assert state(math.nan, math.nan) == UNRESOLVED


def test_one_sample_test_matches_scipy():
    values = [0.31, 0.42, 0.25, 0.38]
    test = verdicts.one_sample_test(values, "t")
    found = scipy_stats.ttest_1samp(values, 0.0)
    low, high = found.confidence_interval(0.95)
    assert test.estimate == pytest.approx(np.mean(values))
    assert (test.low, test.high) == (pytest.approx(low), pytest.approx(high))
    assert test.p == pytest.approx(found.pvalue, rel=1e-9)
    assert verdicts.by_interval(test).state == HOLDS


def test_holm_on_a_hand_worked_example():
    # sorted: 0.005 x 4 = 0.02; 0.01 x 3 = 0.03; 0.03 x 2 = 0.06;
    # 0.04 x 1 = 0.04, raised to the running maximum 0.06
    adjusted = verdicts.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    # capped at 1, and monotone in the raw p-values
    assert verdicts.holm([0.5, 0.6]) == pytest.approx([1.0, 1.0])
    assert verdicts.holm([0.2]) == [0.2]
    assert verdicts.holm([]) == []


def test_holm_leaves_nan_out_of_the_family():
    adjusted = verdicts.holm([math.nan, 0.2, 0.6])
    assert math.isnan(adjusted[0])
    assert adjusted[1:] == pytest.approx([0.4, 0.6])


def test_holm_matches_its_definition_on_random_p_values():
    rng = np.random.default_rng(0)
    for m in (1, 2, 5, 9, 20):
        p = rng.uniform(0, 0.2, m)
        assert verdicts.holm(list(p)) == pytest.approx(
            list(reference.holm(p)), rel=1e-12
        )


def test_corrected_evidence_keeps_the_raw_p():
    test = verdicts.welch_test([0.90, 0.91, 0.92], [0.95, 0.96, 0.97])
    corrected = test.corrected(0.0288, "Holm over 8")
    assert corrected.name == "Welch's t, Holm over 8"
    assert corrected.p == 0.0288 and corrected.raw_p == test.p
    assert (corrected.estimate, corrected.low) == (test.estimate, test.low)
    assert verdicts.p_cell(corrected) == "0.029 (0.0036 uncorrected)"
    assert verdicts.p_cell(test) == "0.0036"


def test_all_of_needs_every_part():
    holds, unresolved, contradicted, missing = (
        Verdict(state, (Evidence(state, 1.0, 0.0, 2.0, 0.01),))
        for state in (HOLDS, UNRESOLVED, CONTRADICTED, NOT_MEASURED)
    )
    assert verdicts.all_of([holds, holds]).state == HOLDS
    assert verdicts.all_of([holds, unresolved]).state == UNRESOLVED
    assert verdicts.all_of([holds, contradicted]).state == CONTRADICTED
    assert verdicts.all_of([unresolved, contradicted]).state == CONTRADICTED
    assert verdicts.all_of([holds, missing]).state == NOT_MEASURED
    assert verdicts.all_of([]).state == NOT_MEASURED
    both = verdicts.all_of([holds, contradicted])
    assert both.tests == holds.tests + contradicted.tests


def test_log_ratio_test_is_welch_on_logarithms():
    a, b = [1.0, 1.2, 0.9], [2.1, 2.6, 1.8]
    test = verdicts.log_ratio_test(a, b, "ratio")
    estimate, low, high, p = _scipy_welch(np.log(a), np.log(b))
    assert test.estimate == pytest.approx(math.exp(estimate))
    assert test.estimate == pytest.approx(
        scipy_stats.gmean(b) / scipy_stats.gmean(a)
    )
    assert (test.low, test.high) == (
        pytest.approx(math.exp(low)),
        pytest.approx(math.exp(high)),
    )
    assert test.p == pytest.approx(p, rel=1e-9)


def _tost(a, b, factor):
    """SciPy's two one-sided tests of log(b) - log(a) within ±log(factor).

    Returns:
        (the larger one-sided p, the 90% interval, the 95% interval).
    """
    la, lb = np.log(a), np.log(b)
    bound = math.log(factor)
    above = scipy_stats.ttest_ind(
        lb + bound, la, equal_var=False, alternative="greater"
    ).pvalue
    below = scipy_stats.ttest_ind(
        lb - bound, la, equal_var=False, alternative="less"
    ).pvalue
    found = scipy_stats.ttest_ind(lb, la, equal_var=False)
    return (
        max(above, below),
        found.confidence_interval(0.90),
        found.confidence_interval(0.95),
    )


CONVENTION_SCALE = [0.010, 0.011, 0.0095]


@pytest.mark.parametrize(
    "swap, state",
    [
        # a ratio near 1.15, tight: inside [1/2, 2]
        ([0.0115, 0.0120, 0.0112], HOLDS),
        # a ratio near 0.87: inside from below
        ([0.0085, 0.0090, 0.0088], HOLDS),
        # ten times larger: far outside
        ([0.100, 0.110, 0.105], CONTRADICTED),
        # a tenth: far outside, below
        ([0.0010, 0.0011, 0.0012], CONTRADICTED),
        # near 1.5 but so spread out that the interval is wide
        ([0.005, 0.030, 0.012], UNRESOLVED),
    ],
)
def test_similar_scale_by_two_one_sided_tests(swap, state):
    verdict = verdicts.similar_scale(CONVENTION_SCALE, swap, "logs")
    p, narrow, wide = _tost(CONVENTION_SCALE, swap, verdicts.SIMILAR_FACTOR)
    (ratio,) = verdict.tests
    assert ratio.estimate == pytest.approx(
        scipy_stats.gmean(swap) / scipy_stats.gmean(CONVENTION_SCALE)
    )
    assert ratio.low == pytest.approx(math.exp(wide.low), rel=1e-9)
    assert ratio.high == pytest.approx(math.exp(wide.high), rel=1e-9)
    assert ratio.p == pytest.approx(p, rel=1e-6)
    bound = math.log(verdicts.SIMILAR_FACTOR)
    inside = -bound < narrow.low and narrow.high < bound
    outside = wide.low > bound or wide.high < -bound
    expected = HOLDS if inside else CONTRADICTED if outside else UNRESOLVED
    assert expected == state  # the case is what its comment says
    assert verdict.state == state
    # TOST at 5% holds exactly when the 90% interval is inside the bounds
    assert (p < 0.05) is inside


def test_similar_scale_without_spread_or_seeds_is_not_resolved():
    assert verdicts.similar_scale([1.0], [1.1, 1.2], "x").state == UNRESOLVED
    assert (
        verdicts.similar_scale([1.0, 1.0], [1.1, 1.1], "x").state == UNRESOLVED
    )


def test_cells():
    test = Evidence("t", 0.00443, -0.00012, 0.00898, 0.0523)
    assert verdicts.estimate_cell(test, 2, 100.0) == "+0.44 [-0.01, +0.90]"
    ratio = Evidence("r", 1.153, 0.91, 1.46, 0.01)
    assert verdicts.estimate_cell(ratio, 2, ratio=True) == (
        "×1.15 [×0.91, ×1.46]"
    )
    assert verdicts.estimate_cell(Evidence("t", math.nan, 0, 0, 0)) == "—"
    assert verdicts.p_cell(Evidence("t", 1.0, 0, 2, math.nan)) == "—"


def test_the_rules_are_written_once_and_name_each_kind_of_claim():
    for words in (
        "Welch's t-test",
        "Holm-corrected",
        "slope's interval",
        "peak",
        "two one-sided tests",
        "Pearson's r",
        f"factor of {verdicts.SIMILAR_FACTOR:g}",
    ):
        assert words in verdicts.RULES, words
