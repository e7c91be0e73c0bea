"""The analytic tanh skewness grid, against Monte Carlo."""

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bnorder_tf.report import tanh_skewness_grid


def test_tanh_skewness_grid_matches_monte_carlo():
    rng = np.random.default_rng(0)
    means, stds = np.array([-1.5, 0.0, 0.4, 2.0]), np.array([0.3, 1.0, 2.5])
    grid = tanh_skewness_grid(means, stds)
    assert grid.shape == (4, 3)
    for i, mean in enumerate(means):
        for j, std in enumerate(stds):
            sample = np.tanh(rng.normal(mean, std, 2_000_000))
            expected = scipy_stats.skew(sample)
            # Monte Carlo's standard error of the skewness is about
            # sqrt(6 / n) * (a few) for these bounded samples
            assert grid[i, j] == pytest.approx(expected, abs=1e-2), (mean, std)
    assert np.all(grid[1] == 0.0)  # mean 0: symmetric
    assert np.all(grid[3] < 0) and np.all(grid[0] > 0)  # saturating side
    assert np.isnan(tanh_skewness_grid([0.5], [0.0])[0, 0])
