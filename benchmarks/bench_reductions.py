"""Benchmark: the statistics' per-tap reductions against other ways to sum.

All compute the same sums, on one tap.

One tanh tap of VGG16_11's first block at width 0.25 (a batch of 128,
32x32 pixels, 16 channels: 2.1 million values), timed in one process,
alternating, medians:

  summarise   `moments._summarise`, what the pass runs: sum |a| and the
              sum of a - c, the largest a and -a, and the sums of
              (a - c)^2 and (a - c)^3, in three XLA variadic reductions of
              two quantities each, the padding rows masked in the per-row
              results;
  previous    what it ran before: sum and max of |a| and max |a - c| in
              one reduction, then the deviations divided by the
              per-channel power of two at or below that maximum and their
              three power sums in a second, padding masked value by value;
  one_read    sum and max of |a| alone: the least that saturation and
              sparsity need;
  tf_ops      the six quantities as TensorFlow ops (`reduce_sum`,
              `reduce_max`), not compiled by XLA;
  xla_ops     the same, XLA-compiled;
  matmul      the power sums and sum |a| as one matrix product with a
              vector of ones (oneDNN's GEMM), maxima left out.

On this CPU XLA's variadic reductions were the fastest way, but their
time depends on the quantities they carry more than on the values they
read: a fourth quantity, or deviations multiplied by a per-channel
scale, made one reduction two to three times slower.

In the record, each way's time per call is against `summarise`'s.

Usage: python benchmarks/bench_reductions.py [--repeats 7] [--no_record]
    [--results_dir DIR]
"""

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import record  # noqa: E402
import tensorflow as tf  # noqa: E402

from bnorder_tf.stats import moments  # noqa: E402

SHAPE = (128, 32, 32, 16)
CALLS = 20


def _tap():
    rng = np.random.default_rng(0)
    return tf.constant(np.tanh(rng.normal(0.3, 1.0, SHAPE)).astype("float32"))


def _six_quantities(a, c):
    d = a - c
    d2 = d * d
    axes = [0, 1, 2]
    abs_a = tf.abs(a)
    return [tf.reduce_sum(t, axes) for t in (abs_a, d, d2, d2 * d)] + [
        tf.reduce_max(abs_a, axes),
        tf.reduce_max(tf.abs(d), axes),
    ]


@tf.function(jit_compile=True, autograph=False)
def _previous(a, c, real):
    mask = tf.reshape(real, [-1, 1, 1, 1])
    d = tf.where(mask, a - c, 0.0)
    abs_a = tf.where(mask, tf.abs(a), 0.0)
    (sum_abs,), (max_abs, max_deviation) = moments._reduce_channels(
        [abs_a], [abs_a, tf.abs(d)], real
    )
    scale = moments._power_of_two_floor(tf.cast(max_deviation, tf.float32))
    d = d / scale
    d2 = d * d
    sums, _ = moments._reduce_channels([d, d2, d2 * d], [], real)
    return sum_abs, max_abs, sums


@tf.function(jit_compile=True, autograph=False)
def _one_read(a, real):
    abs_a = tf.abs(a)
    return moments._reduce_channels([abs_a], [abs_a], real)


@tf.function(autograph=False)
def _matmul(a, c):
    channels = a.shape[-1]
    d = tf.reshape(a - c, [-1, channels])
    d2 = d * d
    columns = tf.concat(
        [tf.abs(tf.reshape(a, [-1, channels])), d, d2, d2 * d], 1
    )
    ones = tf.ones([1, columns.shape[0]], tf.float32)
    return tf.matmul(ones, columns)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=7)
    record.add_arguments(parser)
    args = parser.parse_args()
    a = _tap()
    c = tf.reduce_mean(a, [0, 1, 2])
    real = tf.ones([SHAPE[0]], tf.bool)
    tf_ops = tf.function(_six_quantities, autograph=False)
    xla_ops = tf.function(_six_quantities, jit_compile=True, autograph=False)
    variants = {
        "summarise": lambda: moments._summarise(a, None, c, real),
        "previous": lambda: _previous(a, c, real),
        "one_read": lambda: _one_read(a, real),
        "tf_ops": lambda: tf_ops(a, c),
        "xla_ops": lambda: xla_ops(a, c),
        "matmul": lambda: _matmul(a, c),
    }
    for fn in variants.values():  # trace and compile
        tf.nest.map_structure(lambda t: t.numpy(), fn())
    times = {name: [] for name in variants}
    for _ in range(args.repeats):
        for name, fn in variants.items():
            start = time.perf_counter()
            for _ in range(CALLS):
                result = fn()
            tf.nest.map_structure(lambda t: t.numpy(), result)
            times[name].append((time.perf_counter() - start) / CALLS)
    base = np.median(times["summarise"])
    print(
        f"one tap {SHAPE}, {args.repeats} alternating repeats of {CALLS} "
        "calls, medians:"
    )
    rows = []
    for name, values in times.items():
        median = np.median(values)
        print(f"  {name:10s} {1e3 * median:6.2f} ms  {median / base:.2f}x")
        rows.append(
            dict(measurement=name, value=1e3 * float(median), unit="ms")
        )
    record.save(args, "bench_reductions", rows, baseline="summarise")


if __name__ == "__main__":
    main()
