"""The paper's figure 12 without training: skewness of tanh(X), X normal."""

import numpy as np

#: Gauss-Hermite nodes: exact for polynomials of degree < 2 * 200, and
#: tanh's moments under a normal converge far faster than that.
QUADRATURE_POINTS = 200


def tanh_skewness_grid(means, stds, points=QUADRATURE_POINTS):
    """Skewness of tanh(X), X ~ N(mean, std^2), over a grid, by quadrature.

    With Gauss-Hermite nodes t_i and weights w_i,
    E[g(X)] = sum_i w_i g(mean + sqrt(2) std t_i) / sqrt(pi); the skewness
    is E[(Y - E Y)^3] / E[(Y - E Y)^2]^(3/2) with Y = tanh(X), the
    population skewness.

    Args:
        means: 1-D array of means.
        stds: 1-D array of standard deviations (> 0; 0 gives NaN, the
            skewness of a constant being undefined).
        points: int, quadrature nodes.

    Returns:
        float64 array `[len(means), len(stds)]`.

    Example:
    >>> grid = tanh_skewness_grid(np.linspace(-2, 2, 41),
    ...                           np.linspace(0.1, 3, 30))
    >>> grid.shape
    (41, 30)
    >>> float(grid[20, 0])   # mean 0: symmetric, skewness 0
    0.0
    >>> bool(grid[30, 10] < 0)   # mean 1: tanh saturates near +1
    True
    """
    nodes, weights = np.polynomial.hermite.hermgauss(points)
    weights = weights / np.sqrt(np.pi)
    means = np.asarray(means, np.float64)[:, None, None]
    stds = np.asarray(stds, np.float64)[None, :, None]
    y = np.tanh(means + np.sqrt(2.0) * stds * nodes)
    mean_y = np.sum(weights * y, axis=-1, keepdims=True)
    centred = y - mean_y
    m2 = np.sum(weights * centred**2, axis=-1)
    m3 = np.sum(weights * centred**3, axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        skewness = m3 / m2**1.5
    # mean 0 is symmetric: cancel the quadrature's rounding residue
    skewness = np.where(means[..., 0] == 0, 0.0 * skewness, skewness)
    return np.where(stds[..., 0] > 0, skewness, np.nan)
