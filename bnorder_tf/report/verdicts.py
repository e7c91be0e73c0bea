"""Verdicts in three states, each decided by a named test.

A claim checked on runs reads *holds*, *contradicted* or *not resolved by
these runs*. `RULES` states how each kind of claim is decided; the report
prints it above the claims, and the docs quote it.

Example:
Three seeds per side: a clear gain, then the same gain among nine
comparisons (Holm's correction raises its p-value):

>>> test = welch_test([0.90, 0.91, 0.92], [0.95, 0.96, 0.97])
>>> round(test.estimate, 3), round(test.p, 4)
(0.05, 0.0036)
>>> directional(test).state
'holds'
>>> holm([test.p] + [0.5] * 8)[0] < 0.05
True
>>> directional(welch_test([0.90, 0.93, 0.91], [0.91, 0.92, 0.92])).state
'not resolved by these runs'
"""

import dataclasses
import math

import numpy as np

from bnorder_tf.report.significance import t_two_sided_p

#: The significance level of every test, and the confidence of every
#: interval (95%).
ALPHA = 0.05
HOLDS = "holds"
CONTRADICTED = "contradicted"
UNRESOLVED = "not resolved by these runs"
NOT_MEASURED = "not measured"
#: "A similar scale" (figure 15's kernel gradients): Swap's over
#: Convention's within a factor of 2, fixed before the runs were read.
SIMILAR_FACTOR = 2.0

RULES = (
    "How a verdict is decided (every test two-sided at 5%; every interval "
    "95%). *Directional* claims (one variant above another) use Welch's "
    "t-test over seeds: *holds* when the difference is significant in the "
    "paper's direction, *contradicted* when it is significant the other "
    "way, *not resolved by these runs* otherwise. Their p-values are "
    "Holm-corrected within a family: the pairwise comparisons of the "
    "paper's claims are one family, the figure-15 comparisons another. A "
    "claim of an order over three variants needs both neighbouring pairs. "
    "A *peak* claim holds when the peak beats each neighbouring depth and "
    "is contradicted when a neighbour beats it, each by Welch's test at 5% "
    "(a peak must win every comparison, so none is corrected). *Trend* "
    "claims (a gain against depth) are decided by the slope's interval: "
    "above zero holds, below zero contradicts, across zero is not "
    "resolved. A *similar scale* (a ratio within a factor of "
    f"{SIMILAR_FACTOR:g}) holds when the ratio's 90% interval lies inside "
    f"[1/{SIMILAR_FACTOR:g}, {SIMILAR_FACTOR:g}] (two one-sided tests at "
    "5%) and is contradicted when its 95% interval lies outside. A "
    "*correlation* is decided by Pearson's r between seeds of one setting, "
    "as a directional claim."
)


@dataclasses.dataclass(frozen=True)
class Evidence:
    """The test behind a verdict.

    Attributes:
        name: what was tested, e.g. "Welch's t".
        estimate: the estimate (a difference, a slope, a ratio, r).
        low, high: its 95% confidence interval.
        p: the p-value that decides (after any correction).
        raw_p: the p-value before correction (equal to `p` without one).
    """

    name: str
    estimate: float
    low: float
    high: float
    p: float
    raw_p: float = math.nan

    def corrected(self, p, how):
        """This test with `p` as its corrected p-value, named `how`."""
        return dataclasses.replace(
            self, name=f"{self.name}, {how}", p=p, raw_p=self.p
        )


@dataclasses.dataclass(frozen=True)
class Verdict:
    """A claim's state and the tests that decided it.

    Attributes:
        state: `HOLDS`, `CONTRADICTED`, `UNRESOLVED` or `NOT_MEASURED`.
        tests: the `Evidence`s, in the claim's order.
    """

    state: str
    tests: tuple = ()


def t_quantile(probability, df):
    """The `probability` quantile of Student's t with `df` degrees of freedom.

    Found by bisection on `significance.t_two_sided_p`, to 1e-12.

    Args:
        probability: in (0.5, 1).
        df: degrees of freedom, > 0.

    Returns:
        float.
    """
    target = 2.0 * (1.0 - probability)
    low, high = 0.0, 1.0
    while t_two_sided_p(high, df) > target:
        high *= 2.0
    while high - low > 1e-12 * max(1.0, high):
        middle = (low + high) / 2.0
        if t_two_sided_p(middle, df) > target:
            low = middle
        else:
            high = middle
    return (low + high) / 2.0


def interval(estimate, standard_error, df, confidence=1.0 - ALPHA):
    """`(low, high)`: `estimate ± t * standard_error`."""
    if not (math.isfinite(standard_error) and df > 0):
        return math.nan, math.nan
    half = t_quantile(0.5 + confidence / 2.0, df) * standard_error
    return estimate - half, estimate + half


def welch_test(a, b, name="Welch's t"):
    """Welch's test of `mean(b) - mean(a)`, with its 95% interval.

    Args:
        a: the first sample (two values or more).
        b: the second sample (two values or more).
        name: the test's name in the report.

    Returns:
        A `Evidence` (NaN p-value and interval with fewer than two values on
        a side or no spread).
    """
    a, b = np.asarray(a, float), np.asarray(b, float)
    estimate = float(b.mean() - a.mean()) if len(a) and len(b) else math.nan
    if len(a) < 2 or len(b) < 2:
        return Evidence(name, estimate, math.nan, math.nan, math.nan)
    se, df = _welch_terms(a, b)
    if se == 0.0:  # no spread to test against: nothing is resolved
        return Evidence(name, estimate, math.nan, math.nan, math.nan)
    low, high = interval(estimate, se, df)
    return Evidence(
        name, estimate, low, high, float(t_two_sided_p(estimate / se, df))
    )


def one_sample_test(values, name):
    """Student's t-test of `mean(values)` against zero, with its interval.

    Returns:
        An `Evidence` (NaN p-value and interval with fewer than two values
        or no spread).
    """
    values = np.asarray(values, float)
    estimate = float(values.mean()) if len(values) else math.nan
    if len(values) < 2 or values.std() == 0.0:
        return Evidence(name, estimate, math.nan, math.nan, math.nan)
    se = float(values.std(ddof=1)) / math.sqrt(len(values))
    df = len(values) - 1
    low, high = interval(estimate, se, df)
    return Evidence(
        name, estimate, low, high, float(t_two_sided_p(estimate / se, df))
    )


def regression_test(rows, targets, column, name):
    """Least squares of `targets` on `rows`; the test of one coefficient.

    Args:
        rows: the design matrix, one row per observation.
        targets: the observations.
        column: index of the coefficient tested.
        name: the test's name in the report.

    Returns:
        An `Evidence` of the coefficient, its 95% interval and p-value, or
        `None` without residual degrees of freedom or with a singular
        design.
    """
    x, y = np.asarray(rows, float), np.asarray(targets, float)
    df = len(y) - x.shape[1]
    if df < 1:
        return None
    coefficients, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
    if rank < x.shape[1]:
        return None
    residual = y - x @ coefficients
    covariance = float(residual @ residual) / df * np.linalg.inv(x.T @ x)
    estimate = float(coefficients[column])
    se = math.sqrt(covariance[column, column])
    if se == 0.0:
        return Evidence(name, estimate, math.nan, math.nan, math.nan)
    low, high = interval(estimate, se, df)
    return Evidence(
        name, estimate, low, high, float(t_two_sided_p(estimate / se, df))
    )


def holm(p_values):
    """Holm's step-down adjusted p-values, in the order given.

    NaN p-values (a test that could not run) are left out of the family
    and stay NaN.

    Args:
        p_values: a sequence of floats.

    Returns:
        A list of adjusted p-values, each at most 1.
    """
    ranked = sorted((p, i) for i, p in enumerate(p_values) if not math.isnan(p))
    adjusted = [math.nan] * len(p_values)
    running = 0.0
    for rank, (p, i) in enumerate(ranked):
        running = max(running, min(1.0, (len(ranked) - rank) * p))
        adjusted[i] = running
    return adjusted


def directional(test):
    """The verdict of a claim that `test.estimate` is above zero.

    Returns:
        A `Verdict` with `test`.
    """
    if math.isnan(test.p):
        return Verdict(UNRESOLVED, (test,))
    if test.p < ALPHA:
        return Verdict(HOLDS if test.estimate > 0 else CONTRADICTED, (test,))
    return Verdict(UNRESOLVED, (test,))


def by_interval(test):
    """The verdict, by its interval, of a claim that `test.estimate` > 0.

    Returns:
        A `Verdict`: holds when the interval lies above zero, contradicted
        when below, not resolved when it contains zero.
    """
    if math.isnan(test.low):
        return Verdict(UNRESOLVED, (test,))
    if test.low > 0:
        return Verdict(HOLDS, (test,))
    if test.high < 0:
        return Verdict(CONTRADICTED, (test,))
    return Verdict(UNRESOLVED, (test,))


def all_of(verdicts):
    """The verdict of a claim that needs every one of `verdicts`.

    Contradicted when any is, holds when all do, not resolved otherwise;
    the tests of all are kept.
    """
    tests = tuple(t for v in verdicts for t in v.tests)
    states = {v.state for v in verdicts}
    if NOT_MEASURED in states or not verdicts:
        return Verdict(NOT_MEASURED, tests)
    if CONTRADICTED in states:
        return Verdict(CONTRADICTED, tests)
    if states == {HOLDS}:
        return Verdict(HOLDS, tests)
    return Verdict(UNRESOLVED, tests)


def log_ratio_test(a, b, name):
    """Welch's test on logarithms: the ratio of b's geometric mean to a's.

    The estimate and interval are returned as ratios (`exp` of the
    difference of the logarithms); the p-value tests a ratio of 1.

    Args:
        a: positive values, one per run.
        b: positive values, one per run.
        name: the test's name in the report.

    Returns:
        An `Evidence` whose estimate, low and high are ratios.
    """
    test = welch_test(np.log(a), np.log(b), name)
    return dataclasses.replace(
        test,
        estimate=math.exp(test.estimate),
        low=math.exp(test.low),
        high=math.exp(test.high),
    )


def similar_scale(a, b, name, factor=SIMILAR_FACTOR):
    """Whether b's scale is within `factor` of a's (two one-sided tests).

    Args:
        a: positive values, one per run.
        b: positive values, one per run.
        name: the test's name in the report.
        factor: the bound: similar means a ratio in [1/factor, factor].

    Returns:
        A `Verdict` whose `Evidence` has the ratio, its 95% interval and the
        larger of the two one-sided p-values.
    """
    la, lb = np.log(np.asarray(a, float)), np.log(np.asarray(b, float))
    test = welch_test(la, lb, name)
    if math.isnan(test.p) or len(la) < 2 or len(lb) < 2:
        return Verdict(UNRESOLVED, (test,))
    se, df = _welch_terms(la, lb)
    bound = math.log(factor)
    # one-sided p-values of "the log-ratio is at or below -bound" and "at
    # or above +bound"
    t_low, t_high = (test.estimate + bound) / se, (test.estimate - bound) / se
    p = max(_one_sided_above(t_low, df), _one_sided_above(-t_high, df))
    narrow = interval(test.estimate, se, df, 1.0 - 2 * ALPHA)
    ratio = Evidence(
        f"{name}, two one-sided tests (bounds ×{factor:g})",
        math.exp(test.estimate),
        math.exp(test.low),
        math.exp(test.high),
        p,
    )
    if -bound < narrow[0] and narrow[1] < bound:
        return Verdict(HOLDS, (ratio,))
    if test.low > bound or test.high < -bound:
        return Verdict(CONTRADICTED, (ratio,))
    return Verdict(UNRESOLVED, (ratio,))


def _welch_terms(a, b):
    """Welch's standard error of `mean(b) - mean(a)` and its degrees of freedom.

    The degrees of freedom are NaN when neither sample has spread.
    """
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    if va + vb == 0.0:
        return 0.0, math.nan
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return math.sqrt(va + vb), df


def _one_sided_above(t, df):
    """P(T >= t) for Student's t."""
    two_sided = t_two_sided_p(t, df)
    return two_sided / 2.0 if t > 0 else 1.0 - two_sided / 2.0


def estimate_cell(test, digits=2, scale=1.0, ratio=False):
    """`estimate [low, high]`, the scale applied (`×` for ratios)."""
    if math.isnan(test.estimate):
        return "—"
    prefix = "×" if ratio else ""
    sign = "" if ratio else "+"

    def number(x):
        if math.isnan(x):
            return "—"
        return f"{prefix}{scale * x:{sign}.{digits}f}"

    return f"{number(test.estimate)} [{number(test.low)}, {number(test.high)}]"


def p_cell(test):
    """The deciding p-value, with the uncorrected one when they differ."""
    if math.isnan(test.p):
        return "—"
    if math.isnan(test.raw_p) or test.raw_p == test.p:
        return f"{test.p:.2g}"
    return f"{test.p:.2g} ({test.raw_p:.2g} uncorrected)"


__all__ = [
    "ALPHA",
    "CONTRADICTED",
    "HOLDS",
    "NOT_MEASURED",
    "RULES",
    "SIMILAR_FACTOR",
    "Evidence",
    "UNRESOLVED",
    "Verdict",
    "all_of",
    "by_interval",
    "directional",
    "holm",
    "interval",
    "log_ratio_test",
    "one_sample_test",
    "regression_test",
    "similar_scale",
    "t_quantile",
    "welch_test",
]
