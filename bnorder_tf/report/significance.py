"""Pearson's r and Welch's t with their p-values, in NumPy alone.

SciPy is not a dependency of the package; the tests check these against
it.

Example:
>>> c = pearson([0.1, 0.4, 0.5, 0.9], [0.80, 0.82, 0.85, 0.86])
>>> round(c.r, 3), c.df
(0.925, 2)
"""

import dataclasses
import math
import statistics

import numpy as np


def betainc(a, b, x):
    """The regularized incomplete beta function I_x(a, b).

    Evaluated by its continued fraction (Lentz's method), until a step
    changes the fraction by a relative amount below 1e-15.

    Args:
        a: float > 0.
        b: float > 0.
        x: float; the function is 0 at or below 0 and 1 at or above 1.

    Returns:
        float.
    """
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    if x > (a + 1.0) / (a + b + 2.0):  # the fraction converges fast below
        return 1.0 - betainc(b, a, 1.0 - x)
    log_front = (
        math.lgamma(a + b)
        - math.lgamma(a)
        - math.lgamma(b)
        + a * math.log(x)
        + b * math.log1p(-x)
    )
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    fraction = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            fraction *= c * d
        if abs(c * d - 1.0) < 1e-15:
            break
    return math.exp(log_front) * fraction / a


def t_two_sided_p(t, df):
    """P(|T| >= |t|) for Student's t with `df` degrees of freedom."""
    if not math.isfinite(t):
        return 0.0 if math.isinf(t) else math.nan
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def mean_std(values):
    """`(mean, sample standard deviation, count)` of the values given.

    `None`s are left out; one value has a standard deviation of 0.

    Args:
        values: numbers, or `None` where a run has no value.

    Returns:
        The tuple, or `None` when no value is left.
    """
    values = [v for v in values if v is not None]
    if not values:
        return None
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return statistics.fmean(values), spread, len(values)


@dataclasses.dataclass(frozen=True)
class Correlation:
    """Pearson's r with its two-sided p-value (H0: r = 0).

    Attributes:
        r: the correlation.
        p: the p-value from Student's t with `df` degrees of freedom.
        n: the number of points.
        df: degrees of freedom, `n - 2` less one per extra stratum.
    """

    r: float
    p: float
    n: int
    df: int


def pearson(x, y, strata=None):
    """Pearson's r of `x` and `y`, or, with `strata`, within strata.

    Within strata, each stratum's means are removed first, so that
    differences between strata (say, between activations) cannot make the
    correlation. That is the partial correlation given the strata, with one
    degree of freedom fewer per stratum after the first.

    Args:
        x: a sequence of numbers.
        y: a sequence of numbers, as long as `x`.
        strata: optional hashable labels, one per point.

    Returns:
        A `Correlation` (r and p NaN with fewer than 3 points or no spread).
    """
    x, y = np.asarray(x, float), np.asarray(y, float)
    n, lost = len(x), 0
    if strata is not None:
        index = {label: i for i, label in enumerate(dict.fromkeys(strata))}
        stratum = np.array([index[label] for label in strata])
        for i in range(len(index)):
            chosen = stratum == i
            x[chosen] -= x[chosen].mean()
            y[chosen] -= y[chosen].mean()
        lost = len(index) - 1
    df = n - 2 - lost
    dx, dy = x - x.mean(), y - y.mean()
    spread = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if df < 1 or spread == 0.0:
        return Correlation(math.nan, math.nan, n, df)
    r = max(-1.0, min(1.0, float(dx @ dy) / spread))
    t = math.inf if abs(r) == 1.0 else r * math.sqrt(df / (1.0 - r * r))
    return Correlation(r, t_two_sided_p(t, df), n, df)


@dataclasses.dataclass(frozen=True)
class Difference:
    """Welch's comparison of two means, `b - a`.

    Attributes:
        difference: mean of b minus mean of a.
        standard_error: `sqrt(var_a / n_a + var_b / n_b)`.
        p: two-sided p-value of Welch's t-test (NaN without spread).
    """

    difference: float
    standard_error: float
    p: float


def welch(a, b):
    """Welch's t-test of `mean(b) - mean(a)` (unequal variances)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    difference = float(b.mean() - a.mean())
    if len(a) < 2 or len(b) < 2:
        return Difference(difference, math.nan, math.nan)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0.0:
        return Difference(difference, 0.0, math.nan)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return Difference(
        difference, se, float(t_two_sided_p(difference / se, float(df)))
    )
