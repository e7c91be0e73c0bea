"""Streaming per-channel moments, merged with Chan et al.'s pairwise update.

A state summarises the values of one tap, per channel (last axis), in
float64: `count` (values per channel), `mean`, `m2` = sum (x - mean)^2,
`m3` = sum (x - mean)^3, `sum_abs` = sum |x|, `max_abs` = max |x|, and
optionally `hist` (per-channel counts over fixed bins). Its size is
O(channels); the values themselves are never kept.

Batches carry a per-sample weight of 1 (a real sample) or 0 (padding
added so that every replica gets a non-empty batch), so padded samples
change nothing.
"""

import tensorflow as tf


def _div(a, b):
    return tf.math.divide_no_nan(a, b)


def batch_state(x, weights, moments=True, histogram=None):
    """Summarises one batch of one tap.

    Args:
        x: tensor `[batch, ..., channels]`.
        weights: float tensor `[batch]` of 0 (padding) or 1.
        moments: bool, whether to compute `mean`, `m2` and `m3` (the
            `output` tap needs only `count`, `sum_abs` and `max_abs`).
        histogram: `None`, or `(low, high, bins)`: also count each
            channel's values in `bins` equal bins over `[low, high]`
            (values outside fall in the edge bins).

    Returns:
        A dict of float64 tensors (`count` is a scalar, the others
        `[channels]`, `hist` `[channels, bins]`).
    """
    axes = list(range(x.shape.rank - 1))
    w = tf.reshape(
        tf.cast(weights, tf.float64), [-1] + [1] * (x.shape.rank - 1)
    )
    per_sample = tf.cast(tf.reduce_prod(tf.shape(x)[1:-1]), tf.float64)
    count = tf.reduce_sum(tf.cast(weights, tf.float64)) * per_sample
    x64 = tf.cast(x, tf.float64)
    abs_x = tf.abs(x64)
    state = {
        "count": count,
        "sum_abs": tf.reduce_sum(w * abs_x, axes),
        "max_abs": tf.reduce_max(w * abs_x, axes),
    }
    if moments:
        mean = _div(tf.reduce_sum(w * x64, axes), count)
        centered = x64 - mean
        weighted_sq = w * tf.square(centered)
        state["mean"] = mean
        state["m2"] = tf.reduce_sum(weighted_sq, axes)
        state["m3"] = tf.reduce_sum(weighted_sq * centered, axes)
    if histogram is not None:
        state["hist"] = _channel_histogram(x, w, *histogram)
    return state


def _channel_histogram(x, w, low, high, bins):
    channels = x.shape[-1]
    scaled = (tf.cast(x, tf.float32) - low) * (bins / (high - low))
    index = tf.clip_by_value(tf.cast(tf.floor(scaled), tf.int32), 0, bins - 1)
    index += tf.range(channels, dtype=tf.int32) * bins
    w = tf.broadcast_to(w, tf.shape(x))
    counts = tf.math.unsorted_segment_sum(
        tf.reshape(w, [-1]), tf.reshape(index, [-1]), channels * bins
    )
    return tf.reshape(counts, [channels, bins])


def merge(a, b):
    """Merges two states of the same tap (Chan, Golub & LeVeque, 1983).

    With n = na + nb and delta = mean_b - mean_a:

        mean = mean_a + delta * nb / n
        m2   = m2_a + m2_b + delta^2 * na * nb / n
        m3   = m3_a + m3_b + delta^3 * na * nb * (na - nb) / n^2
               + 3 * delta * (na * m2_b - nb * m2_a) / n

    Args:
        a: a state from `batch_state` or `merge`.
        b: another state of the same tap.

    Returns:
        The state of the union of both sets of values.
    """
    na, nb = a["count"], b["count"]
    n = na + nb
    merged = {
        "count": n,
        "sum_abs": a["sum_abs"] + b["sum_abs"],
        "max_abs": tf.maximum(a["max_abs"], b["max_abs"]),
    }
    if "mean" in a:
        delta = b["mean"] - a["mean"]
        merged["mean"] = a["mean"] + delta * _div(nb, n)
        merged["m2"] = a["m2"] + b["m2"] + tf.square(delta) * _div(na * nb, n)
        merged["m3"] = (
            a["m3"]
            + b["m3"]
            + delta**3 * _div(na * nb * (na - nb), n * n)
            + 3.0 * delta * _div(na * b["m2"] - nb * a["m2"], n)
        )
    if "hist" in a:
        merged["hist"] = a["hist"] + b["hist"]
    return merged


def empty_state(channels, moments=True, histogram_bins=None):
    """The state of no values at all (the identity of `merge`)."""
    zeros = tf.zeros([channels], tf.float64)
    state = {"count": tf.constant(0.0, tf.float64)}
    keys = ("sum_abs", "max_abs") + (("mean", "m2", "m3") if moments else ())
    for key in keys:
        state[key] = zeros
    if histogram_bins:
        state["hist"] = tf.zeros([channels, histogram_bins], tf.float64)
    return state
