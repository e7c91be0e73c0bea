"""The report's p-values and within-strata correlation, checked.

The p-values against SciPy, and the within-strata correlation against an
ordinary least-squares fit with one intercept per stratum.
"""

import numpy as np
import pytest
from scipy import special
from scipy import stats as scipy_stats

from bnorder_tf.report.significance import betainc, pearson, welch


def test_incomplete_beta_matches_scipy():
    rng = np.random.default_rng(0)
    for a, b, x in zip(
        rng.uniform(0.05, 60, 500),
        rng.uniform(0.05, 60, 500),
        rng.uniform(0, 1, 500),
        strict=True,
    ):
        assert betainc(a, b, x) == pytest.approx(
            special.betainc(a, b, x), abs=1e-12
        )
    assert betainc(2.0, 3.0, 0.0) == 0.0 and betainc(2.0, 3.0, 1.0) == 1.0


@pytest.mark.parametrize("n, slope", [(5, 0.0), (12, 0.4), (40, -0.2)])
def test_pearson_matches_scipy(n, slope):
    rng = np.random.default_rng(n)
    x = rng.normal(size=n)
    y = slope * x + rng.normal(scale=0.5, size=n)
    expected = scipy_stats.pearsonr(x, y)
    result = pearson(x, y)
    assert result.r == pytest.approx(expected.statistic, abs=1e-12)
    assert result.p == pytest.approx(expected.pvalue, rel=1e-9)
    assert (result.n, result.df) == (n, n - 2)


def test_pearson_within_strata_is_the_slope_test_of_a_fit_per_stratum():
    """Three strata whose means correlate strongly, each weakly negative within.

    Pooling says +, strata say -.
    """
    rng = np.random.default_rng(1)
    labels = np.repeat(["tanh", "softsign", "lecun"], 6)
    shift = np.repeat([0.0, 2.0, 4.0], 6)
    x = shift + rng.normal(size=18)
    y = shift - 0.6 * (x - shift) + rng.normal(scale=0.3, size=18)
    assert pearson(x, y).r > 0.8
    within = pearson(x, y, strata=list(labels))
    # y ~ slope * x + one intercept per stratum
    design = np.column_stack(
        [x]
        + [(labels == s).astype(float) for s in ("tanh", "softsign", "lecun")]
    )
    coef, residual, *_ = np.linalg.lstsq(design, y, rcond=None)
    df = 18 - 4
    covariance = residual[0] / df * np.linalg.inv(design.T @ design)
    t = coef[0] / np.sqrt(covariance[0, 0])
    assert within.df == df
    assert within.r < 0
    assert within.p == pytest.approx(2 * scipy_stats.t.sf(abs(t), df), rel=1e-9)
    assert within.r * np.sqrt(df / (1 - within.r**2)) == pytest.approx(t)


def test_pearson_without_spread_or_points_is_nan():
    assert np.isnan(pearson([1.0, 1.0, 1.0], [0.1, 0.2, 0.3]).r)
    assert np.isnan(pearson([1.0, 2.0], [0.1, 0.2]).p)


def test_welch_matches_scipy():
    a = np.array([0.9157, 0.9182, 0.9154])
    b = np.array([0.9171, 0.9210, 0.9190])
    expected = scipy_stats.ttest_ind(b, a, equal_var=False)
    result = welch(a, b)
    assert result.difference == pytest.approx(b.mean() - a.mean())
    assert result.standard_error == pytest.approx(
        np.sqrt(a.var(ddof=1) / 3 + b.var(ddof=1) / 3)
    )
    assert result.p == pytest.approx(expected.pvalue, rel=1e-9)


@pytest.mark.parametrize("within_noise", [True, False])
def test_correlation_claim_is_decided_within_each_setting(within_noise):
    """Two activations whose means alone make a strong pooled r.

    The verdict is the correlation within each setting, seed against
    seed: not resolved when it is not significant (the noisy case: r =
    0.33, p = 0.47 by an independent fit), holds when it is.
    """
    from types import SimpleNamespace

    from bnorder_tf.report.claims import CorrelationClaim
    from bnorder_tf.report.verdicts import HOLDS, UNRESOLVED

    x = [0, 1, 2, 3, 10, 11, 12, 13]
    if within_noise:
        y = [0.80, 0.83, 0.79, 0.82, 0.90, 0.88, 0.92, 0.91]
    else:
        y = [0.80, 0.81, 0.82, 0.83, 0.90, 0.91, 0.92, 0.93]
    runs = [
        SimpleNamespace(
            x=xi,
            y=yi,
            variant="swap",
            config=SimpleNamespace(
                dataset="d",
                model="m",
                activation="tanh" if i < 4 else "softsign",
            ),
        )
        for i, (xi, yi) in enumerate(zip(x, y, strict=True))
    ]
    claim = CorrelationClaim(
        "y rises with x", "", lambda r: r.x, lambda r: r.y, lambda r: True
    )
    result = claim.check({"all": runs})
    pooled = scipy_stats.pearsonr(x, y)
    assert pooled.statistic > 0.9 and pooled.pvalue < 0.01
    assert f"pooled r = {pooled.statistic:.2f}" in result.ours
    (evidence,) = result.verdict.tests
    if not within_noise:  # a perfect line in each activation
        assert evidence.estimate == pytest.approx(1.0)
        assert result.state == HOLDS
        return
    # y ~ slope * x + one intercept per activation
    design = np.column_stack([x, np.ones(8), np.repeat([0.0, 1.0], 4)])
    coef, residual, *_ = np.linalg.lstsq(design, np.array(y), rcond=None)
    covariance = residual[0] / 5 * np.linalg.inv(design.T @ design)
    t = coef[0] / np.sqrt(covariance[0, 0])
    p = 2 * scipy_stats.t.sf(abs(t), 5)
    assert evidence.estimate == pytest.approx(t / np.sqrt(t * t + 5))
    assert evidence.estimate == pytest.approx(0.33, abs=0.005)
    assert evidence.p == pytest.approx(p, rel=1e-9)
    assert p == pytest.approx(0.47, abs=0.005)
    assert result.state == UNRESOLVED
