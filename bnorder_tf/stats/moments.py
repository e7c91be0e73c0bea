"""Streaming per-channel moments, merged with Chan et al.'s pairwise update.

A state summarises the values of one tap, per channel (last axis), in
float64: `count` (values per channel), `mean`, `m2` = sum (x - mean)^2,
`m3` = sum (x - mean)^3, `sum_abs` = sum |x|, `max_abs` = max |x|, and
optionally `hist` (per-channel counts over fixed bins). Its size is
O(channels); the values themselves are never kept.

Batches padded so that every replica gets a non-empty batch carry a
per-sample weight of 0 on the padding; `real_rows` drops those rows before
anything is counted.
"""

import tensorflow as tf


def _div(a, b):
    return tf.math.divide_no_nan(a, b)


def real_rows(x, weights):
    """The rows of `x` whose weight is 1 (padding rows come last)."""
    return x[: tf.cast(tf.reduce_sum(weights), tf.int32)]


def _total(t, reduce=tf.reduce_sum):
    """Reduces `[batch, ..., channels]` to `[channels]`, accumulating in
    float64: the innermost spatial axis (at most a row of pixels) is reduced
    in float32, everything above it in float64."""
    rank = t.shape.rank
    if rank > 2:
        t = reduce(t, axis=rank - 2)
    return reduce(tf.cast(t, tf.float64), axis=list(range(t.shape.rank - 1)))


@tf.function(jit_compile=True)
def _summarise(x, center, moments, histogram):
    """The float32 element-wise work of `batch_state`: one pass over `x`
    once XLA fuses the sibling reductions."""
    axes = list(range(x.shape.rank - 1))
    abs_x = tf.abs(x)
    # 0, not -inf, is the maximum of no values (an empty replica batch)
    top = tf.maximum(tf.reduce_max(abs_x, axis=axes), 0.0)
    out = {"sum_abs": _total(abs_x), "max_abs": tf.cast(top, tf.float64)}
    if moments:
        d = x - center
        d2 = d * d
        out.update(s1=_total(d), s2=_total(d2), s3=_total(d2 * d))
    if histogram is not None:
        low, high, bins = histogram
        channels = x.shape[-1]
        scaled = tf.clip_by_value(
            (x - low) * (bins / (high - low)), 0.0, bins - 1.0
        )
        index = tf.cast(scaled, tf.int32) + tf.range(channels) * bins
        counts = tf.math.unsorted_segment_sum(
            tf.ones_like(x), index, channels * bins
        )
        out["hist"] = tf.reshape(tf.cast(counts, tf.float64), [channels, bins])
    return out


def batch_state(x, moments=True, histogram=None, center=None):
    """Summarises one batch of one tap (padding rows already removed).

    The moments are computed about a per-channel center `c` near the mean
    (the statistics pass uses the mean of the dataset's first batch, else
    this batch's first sample's mean is taken): power sums
    S_k = sum (x - c)^k are accumulated in float64 (see `_total`) and
    turned into central moments exactly,

        delta = S1 / n,  mean = c + delta,
        m2 = S2 - n delta^2,  m3 = S3 - 3 delta S2 + 2 n delta^3,

    which stays accurate for saturated channels (mean 0.999, std 1e-3)
    where raw power sums in float32 lose every digit. The element-wise work
    runs in float32 under XLA, which fuses it into few passes.

    Args:
        x: tensor `[batch, ..., channels]`.
        moments: bool, whether to compute `mean`, `m2` and `m3` (the
            `output` tap needs only `count`, `sum_abs` and `max_abs`).
        histogram: `None`, or `(low, high, bins)`: also count each
            channel's values in `bins` equal bins over `[low, high]`
            (values outside fall in the edge bins).
        center: optional float `[channels]` near the channels' means;
            `None` means this batch's first sample's mean. Unused without
            `moments`.

    Returns:
        A dict of float64 tensors (`count` is a scalar, the others
        `[channels]`, `hist` `[channels, bins]`).
    """
    x = tf.cast(x, tf.float32)
    count = tf.cast(
        tf.reduce_prod(tf.shape(x, out_type=tf.int64)[:-1]), tf.float64
    )
    if moments and center is None:
        first = x[:1]
        center = tf.math.divide_no_nan(
            tf.reduce_sum(first, axis=list(range(x.shape.rank - 1))),
            tf.cast(tf.reduce_prod(tf.shape(first)[:-1]), tf.float32),
        )
    elif moments:
        center = tf.cast(center, tf.float32)
    out = _summarise(x, center if moments else None, moments, histogram)
    state = {
        "count": count,
        "sum_abs": out["sum_abs"],
        "max_abs": out["max_abs"],
    }
    if moments:
        s1, s2, s3 = out["s1"], out["s2"], out["s3"]
        delta = _div(s1, count)
        state["mean"] = tf.cast(center, tf.float64) + delta
        state["m2"] = tf.maximum(s2 - s1 * delta, 0.0)
        state["m3"] = s3 - 3.0 * delta * s2 + 2.0 * count * delta**3
    if histogram is not None:
        state["hist"] = out["hist"]
    return state


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
    """The state of no values at all (the identity of `merge`), with one
    count per channel."""
    zeros = tf.zeros([channels], tf.float64)
    state = {"count": zeros}
    keys = ("sum_abs", "max_abs") + (("mean", "m2", "m3") if moments else ())
    for key in keys:
        state[key] = zeros
    if histogram_bins:
        state["hist"] = tf.zeros([channels, histogram_bins], tf.float64)
    return state
