"""Streaming per-channel moments, merged with Chan et al.'s pairwise update.

A state summarises the values of one tap, per channel (last axis), in
float64: `count` (values per channel), `mean`, `m2` = sum (x - mean)^2,
`m3` = sum (x - mean)^3, `sum_abs` = sum |x|, `max_abs` = max |x|, and
optionally `hist` (per-channel counts over fixed bins). Its size is
O(channels); the values themselves are never kept.

Padded batches (every replica gets a non-empty batch, and the last batch
the shape of the others) carry a per-sample weight of 0 on the padding:
its values are masked out of every sum, maximum and histogram, and the
batch keeps its shape, so that one compiled program serves every batch.
"""

import functools

import tensorflow as tf

from bnorder_tf._compat import variadic_reduce


def _div(a, b):
    return tf.math.divide_no_nan(a, b)


_SCALAR = tf.TensorSpec([], tf.float32)


@functools.cache  # traced once per kind, not once per reduction
def _reducer(sums, maxes):
    """XLA reducer of `sums` running sums followed by `maxes` running maxima."""
    width = sums + maxes

    def combine(*args):
        acc, new = args[:width], args[width:]
        totals = zip(acc[:sums], new[:sums], strict=True)
        tops = zip(acc[sums:], new[sums:], strict=True)
        return [a + b for a, b in totals] + [tf.maximum(a, b) for a, b in tops]

    return tf.function(combine, autograph=False).get_concrete_function(
        *[_SCALAR] * 2 * width
    )


def _reduce_channels(sums, maxes, real):
    """Per-channel sums and maxima of a few tensors, read once.

    The tensors have one shape, `[batch, ..., channels]`; only their real
    rows count, and the sums are in float64.

    XLA's variadic reduce computes all of them in one loop over the innermost
    spatial axis (at most a row of pixels, summed in float32); the partial
    results, a few per row, are then reduced in float64. Separate
    `reduce_sum` calls would each make their own pass over the tap. The
    padding rows are masked out of the partial results, not value by
    value.

    Returns:
        `(totals, tops)`: float64 sums and float32 maxima, `[channels]`
        each; the maximum of no values is -inf.
    """
    operands = list(sums) + list(maxes)
    rank = operands[0].shape.rank
    if rank == 2:  # dense: every value is its own row
        operands = [t[:, None] for t in operands]
        rank = 3
    rows = variadic_reduce(
        operands,
        init_values=[tf.constant(0.0)] * len(sums)
        + [tf.constant(-float("inf"))] * len(maxes),
        dimensions_to_reduce=[rank - 2],
        reducer=_reducer(len(sums), len(maxes)),
    )
    outer = list(range(rank - 2))
    mask = tf.reshape(real, [-1] + [1] * (rank - 2))
    totals = [
        tf.reduce_sum(tf.cast(tf.where(mask, t, 0.0), tf.float64), axis=outer)
        for t in rows[: len(sums)]
    ]
    tops = [
        tf.reduce_max(tf.where(mask, t, -float("inf")), axis=outer)
        for t in rows[len(sums) :]
    ]
    return totals, tops


def _max_or_zero(top):
    """A float32 maximum as float64, 0 for no values (-inf)."""
    return tf.cast(tf.maximum(top, 0.0), tf.float64)


def _power_of_two_floor(x):
    """The largest power of two <= x, per element of a float32 tensor.

    Exact, from the exponent bits; 1 where x is 0, subnormal, inf or NaN.
    """
    exponent_bits = tf.bitwise.bitwise_and(
        tf.bitcast(x, tf.int32), tf.constant(0x7F800000, tf.int32)
    )
    usable = tf.logical_and(exponent_bits > 0, exponent_bits < 0x7F800000)
    return tf.where(usable, tf.bitcast(exponent_bits, tf.float32), 1.0)


def _row_mask(real, x):
    """`real` (bool `[batch]`) broadcastable against `x`."""
    return tf.reshape(real, [-1] + [1] * (x.shape.rank - 1))


def _abs_sum_max(x, real):
    """Per-channel sum |x| (float64) and max |x| over the real rows.

    Returns:
        `{"sum_abs": ..., "max_abs": ...}`.
    """
    abs_x = tf.abs(x)
    (total,), (top,) = _reduce_channels([abs_x], [abs_x], real)
    return {"sum_abs": total, "max_abs": _max_or_zero(top)}


@tf.function(jit_compile=True, autograph=False)
def _bin_index(x, histogram, real):
    """Each value's bin, offset by its channel's first bin.

    One bincount over the flattened tensor then counts every channel at
    once; the values of padding rows get the index one past the last bin,
    which the bincount drops.

    Its own XLA program, compiled only for passes with histograms: fused,
    it reads the tap once (as TensorFlow ops, each step wrote a tensor of
    the tap's size and the histogram pass took twice as long), and the
    main program (`_summarise`) stays the same with or without them.
    """
    low, high, bins = histogram
    channels = x.shape[-1]
    scaled = tf.clip_by_value(
        (x - low) * (bins / (high - low)), 0.0, bins - 1.0
    )
    # NaN (a diverged model) would cast to a negative index; its
    # statistics are reported missing anyway
    scaled = tf.where(tf.math.is_nan(scaled), tf.zeros_like(scaled), scaled)
    index = tf.cast(scaled, tf.int32) + tf.range(channels) * bins
    return tf.where(_row_mask(real, x), index, channels * bins)


def _bincount(bin_index, channels, bins):
    # bincount outside XLA: XLA lowers it to a slower scatter; indices
    # >= maxlength (padding) are not counted
    hist = tf.math.bincount(
        tf.reshape(bin_index, [-1]),
        minlength=channels * bins,
        maxlength=channels * bins,
    )
    return tf.reshape(tf.cast(hist, tf.float64), [channels, bins])


@tf.function(jit_compile=True, autograph=False)
def _summarise(activation, output, center, real):
    """The float32 element-wise work of `block_state`, one XLA program.

    The same with or without histograms: a pass with histograms and one
    without (the statistics callback runs both) compile it once.

    The activation's power sums S_k = sum (a - c)^k, its sum |a| and its
    largest and smallest values (the largest |a - c| follows from them
    exactly, rounding being monotonic) in three reductions of two
    quantities each: XLA runs them faster than one of three quantities
    followed by one of three deviations divided by a per-channel scale
    (`benchmarks/bench_reductions.py` measures both).
    """
    d = activation - center
    d2 = d * d
    (sum_abs, s1), _ = _reduce_channels([tf.abs(activation), d], [], real)
    _, (top, negated_bottom) = _reduce_channels(
        [], [activation, -activation], real
    )
    (s2, s3), _ = _reduce_channels([d2, d2 * d], [], real)
    out = {
        "activation": dict(
            sum_abs=sum_abs,
            top=top,
            negated_bottom=negated_bottom,
            s1=s1,
            s2=s2,
            s3=s3,
        )
    }
    if output is not None:
        out["output"] = _abs_sum_max(output, real)
    return out


@tf.function(jit_compile=True, autograph=False)
def _rescaled_power_sums(activation, center, real, max_deviation):
    """S_1, S_2, S_3 of the deviations, rescaled per channel.

    The deviations are divided, per channel, by the power of two at or
    below their largest magnitude (exactly: only the exponent changes), so
    that their powers neither underflow nor overflow float32; the sums are
    scaled back in float64.
    """
    scale = _power_of_two_floor(max_deviation)
    d = (activation - center) / scale
    d2 = d * d
    sums, _ = _reduce_channels([d, d2, d2 * d], [], real)
    scale = tf.cast(scale, tf.float64)
    return tuple(total * scale**k for k, total in enumerate(sums, start=1))


#: A batch's largest |deviation| per channel, 0 aside, for which its float32
#: power sums need no rescaling: from 2^-24 (its cube at least 2^-72, so
#: cubes lost below float32's 2^-126, even 2^26 of them, weigh at most
#: 2^-28 of it) up to 2^38 (a row of 2^13 cubes stays finite).
EXACT_DEVIATIONS = (2.0**-24, 2.0**38)


def needs_rescaling(max_deviation):
    """Whether some channel's largest |deviation| is outside `EXACT_DEVIATIONS`.

    Zero does not count, nor does NaN: rescaling would not mend it.

    Args:
        max_deviation: float32 `[channels]`, each channel's largest
            |x - center| in a batch (0 for no values).

    Returns:
        A scalar bool tensor.
    """
    low, high = EXACT_DEVIATIONS
    tiny = tf.logical_and(max_deviation > 0.0, max_deviation < low)
    return tf.reduce_any(tf.logical_or(tiny, max_deviation >= high))


def block_state(
    activation,
    output,
    center,
    histogram,
    output_histogram=None,
    weights=None,
):
    """Summarises one batch of one block's two taps.

    The moments of the activation tap are computed about a per-channel
    center `c` near the mean (the statistics pass uses the mean of the
    dataset's first batch), exactly, as `_central_moments` says.

    Args:
        activation: the activation tap, `[batch, ..., channels]`.
        output: the output tap of the same shape, or `None` when it is the
            activation tap itself (Convention and NoBN blocks).
        center: float `[channels]` near the channels' means.
        histogram: `None`, or `(low, high, bins)`: count each channel's
            activation values in `bins` equal bins over `[low, high]`
            (values outside fall in the edge bins).
        output_histogram: `None`, or `(low, high, bins)` for the output
            tap's values (with `output`); when `output` is `None` the
            output state gets the activation's histogram.
        weights: `None` (every row counts), or float `[batch]`: 1 for a
            sample, 0 for a padding row, whose values are not counted.

    Returns:
        `(activation_state, output_state)`: dicts of float64 tensors,
        `[channels]` each (`count` too, as in `empty_state`: every
        channel counts the same values), `hist` `[channels, bins]` when
        asked; the output state has only `count`, `sum_abs`, `max_abs`
        and its `hist` when asked.
    """
    activation = tf.cast(activation, tf.float32)
    if output is not None:
        output = tf.cast(output, tf.float32)
    if weights is None:
        weights = tf.ones(tf.shape(activation)[:1])
    real = weights > 0
    count = tf.fill([activation.shape[-1]], _count(activation, weights))
    center = tf.cast(center, tf.float32)
    summary = _summarise(activation, output, center, real)
    state = _central_moments(
        activation, center, real, count, summary["activation"]
    )
    if histogram is not None:
        state["hist"] = _histogram(activation, histogram, real)
    if output is None:
        keys = ("count", "sum_abs", "max_abs", "hist")
        return state, {k: state[k] for k in keys if k in state}
    output_state = dict(count=count, **summary["output"])
    if output_histogram is not None:
        output_state["hist"] = _histogram(output, output_histogram, real)
    return state, output_state


def _count(activation, weights):
    """The values of each channel in a batch: real rows x values per row."""
    values_per_row = tf.reduce_prod(
        tf.shape(activation, out_type=tf.int64)[1:-1]
    )
    return tf.reduce_sum(tf.cast(weights, tf.float64)) * tf.cast(
        values_per_row, tf.float64
    )


def _central_moments(activation, center, real, count, summary):
    """The activation's state from `_summarise`'s sums about `center`.

    The power sums S_k = sum (x - c)^k, accumulated in float64 (see
    `_reduce_channels`), are turned into central moments exactly,

        delta = S1 / n,  mean = c + delta,
        m2 = S2 - n delta^2,  m3 = S3 - 3 delta S2 + 2 n delta^3,

    which stays accurate for saturated channels (mean 0.999, std 1e-3)
    where raw power sums in float32 lose every digit. The deviations are
    raised to powers as they are when that is exact to float32's
    precision: each channel's largest |deviation| in the batch is 0 or
    within `EXACT_DEVIATIONS`. Otherwise (the tiny activations, 1e-21, deep
    in an untrained network) each channel's deviations are first divided
    by the power of two at or below their largest magnitude: exactly (only
    the exponent changes), so that their cubes do not underflow float32.
    Short of underflow and overflow, the two ways give the same sums, a
    power of two apart.
    """
    top, negated_bottom = summary["top"], summary["negated_bottom"]
    max_deviation = tf.maximum(
        tf.maximum(top - center, center + negated_bottom), 0.0
    )
    s1, s2, s3 = tf.cond(
        needs_rescaling(max_deviation),
        lambda: _rescaled_power_sums(activation, center, real, max_deviation),
        lambda: (summary["s1"], summary["s2"], summary["s3"]),
    )
    delta = _div(s1, count)
    return {
        "count": count,
        "sum_abs": summary["sum_abs"],
        "max_abs": _max_or_zero(tf.maximum(top, negated_bottom)),
        "mean": tf.cast(center, tf.float64) + delta,
        "m2": tf.maximum(s2 - s1 * delta, 0.0),
        "m3": s3 - 3.0 * delta * s2 + 2.0 * count * delta**3,
    }


def _histogram(x, histogram, real):
    """Per-channel counts of `x`'s real rows in `histogram`'s bins."""
    return _bincount(_bin_index(x, histogram, real), x.shape[-1], histogram[2])


def merge(a, b):
    """Merges two states of the same tap (Chan, Golub & LeVeque, 1983).

    With n = na + nb and delta = mean_b - mean_a:

        mean = mean_a + delta * nb / n
        m2   = m2_a + m2_b + delta^2 * na * nb / n
        m3   = m3_a + m3_b + delta^3 * na * nb * (na - nb) / n^2
               + 3 * delta * (na * m2_b - nb * m2_a) / n

    Args:
        a: a state from `block_state` or `merge`.
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
    """The state of no values at all (the identity of `merge`).

    Its tensors are `[channels]`, as `block_state`'s are.
    """
    zeros = tf.zeros([channels], tf.float64)
    state = {"count": zeros}
    keys = ("sum_abs", "max_abs") + (("mean", "m2", "m3") if moments else ())
    for key in keys:
        state[key] = zeros
    if histogram_bins:
        state["hist"] = tf.zeros([channels, histogram_bins], tf.float64)
    return state
