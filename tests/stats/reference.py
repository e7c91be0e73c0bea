"""Independent references for the statistics tests.

A plain-NumPy, three-pass implementation of the paper's Algorithm 1
(mean, then variance, then third moment, each a pass over mini-batches)
and Algorithm 2 (saturation), written from the paper and the design notes,
sharing no code with `bnorder_tf.stats` (`pass_taps` only runs the model).
"""

import numpy as np


def pass_taps(model, batches, precision="float32"):
    """The taps a statistics pass reads, concatenated.

    The model's compiled forward pass over the same batches. Eager ops, or
    all the images at once, round differently (a compiled graph fuses
    ops, and oneDNN picks its kernels by shape and CPU), which matters in
    16 bits and at tight tolerances.

    Args:
        model: the model measured.
        batches: an iterable of image batches.
        precision: the pass's `precision` (`"float32"` or `"compute"`).

    Returns:
        `{tap name: {"activation": array, "output": array}}`.
    """
    import tensorflow as tf

    from bnorder_tf.stats import ModelTaps

    model_taps = ModelTaps(model, precision=precision)
    forward = tf.function(lambda x: model_taps(x, training=False)[1])
    per_batch = [forward(batch) for batch in batches]
    return {
        name: {
            key: np.concatenate(
                [np.asarray(taps[name][key]) for taps in per_batch]
            )
            for key in per_batch[0][name]
        }
        for name in per_batch[0]
    }


def per_channel(values):
    """`[N, ..., C]` -> `[M, C]` float64."""
    values = np.asarray(values, dtype=np.float64)
    return values.reshape(-1, values.shape[-1])


def three_pass_skewness(batches):
    """Algorithm 1: signed per-channel skewness, three passes over batches."""
    batches = [per_channel(b) for b in batches]
    m = sum(b.shape[0] for b in batches)
    mean = sum(b.sum(axis=0) for b in batches) / m
    var = sum(((b - mean) ** 2).sum(axis=0) for b in batches) / m
    third = sum(((b - mean) ** 3).sum(axis=0) for b in batches) / m
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(m * (m - 1)) / (m - 2) * third / var**1.5


def saturation(batches, bound):
    """Algorithm 2: mean |x| / bound over every value."""
    values = np.concatenate([per_channel(b) for b in batches])
    return float(np.mean(np.abs(values)) / bound)


def empirical_saturation(batches):
    """Algorithm 2, empirical branch: mean |x| / channel max |x|."""
    values = np.abs(np.concatenate([per_channel(b) for b in batches]))
    top = values.max(axis=0)
    ratio = np.divide(values, top, out=np.zeros_like(values), where=top > 0)
    return float(ratio.mean())


def sparsity(batches):
    return 1.0 - empirical_saturation(batches)


#: How far two batchings (or two splits over replicas) of the same images
#: may move a statistic: float32 rounding alone. A tap of the tests'
#: models passes through at most 3 weight layers summing at most 7
#: products each (depth of accumulation n = 7); a float32 sum of n terms
#: rounds by at most n * eps relative, and the kernels block a batch of
#: 1, of 37 or a replica's share differently (Eigen and oneDNN alike), so
#: the taps may differ by that much. A ratio of two such sums (sparsity)
#: by 2 * n * eps = 14 eps, rounded up here.
BATCHING_RTOL = 16 * float(np.finfo(np.float32).eps)


def skewness_bound(acts, skewness):
    """How far float32 rounding of the taps may move each channel's skewness.

    skewness = m3 / s^3: moving every tap x by at most d moves m3 / s^3 by
    at most 3 d / s and 3 |skewness| d / s, with d at most
    `BATCHING_RTOL` * max |x| of the channel.

    Args:
        acts: `[M, C]` taps, per channel (`per_channel`).
        skewness: the `[C]` skewness measured.

    Returns:
        `[C]` bounds (infinite for a channel without spread).
    """
    spread = acts.std(axis=0)
    return (
        (3 + 3 * np.abs(skewness))
        * BATCHING_RTOL
        * np.abs(acts).max(axis=0)
        / np.where(spread > 0, spread, np.inf)
    )


def assert_skewness_within_rounding(got, expected, acts):
    """`got` equals `expected` up to `skewness_bound` (NaN where it is)."""
    defined = ~np.isnan(expected)
    np.testing.assert_array_equal(~np.isnan(got), defined)
    moved = np.abs(got - expected)
    bound = skewness_bound(acts, expected)
    assert np.all(moved[defined] <= bound[defined] + 1e-12), (moved, bound)
