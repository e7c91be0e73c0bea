"""Benchmark: the statistics pass against predict and the paper's three passes.

Times, on VGG16_11 at width 0.25 over 10,000 32x32 images (medians over
repeats, all alternating in one process):

  (a) `model.predict` over the set (a plain forward pass),
  (f) the pass's own loop and forward pass with no statistics: one
      compiled step per batch over the distributed dataset returning the
      taps' tensors' first values (where the pass's time goes: (f) - (a)
      is the loop, (b) - (f) the reductions and merges),
  (b) the default per-epoch pass: `ActivationStatsPass` with
      `histogram_bins=0` (what `ActivationStatsCallback` runs in every
      measured epoch but every `histogram_every`-th and the last),
  (h) the pass with 50-bin per-channel histograms (those epochs),
  (c) a faithful TensorFlow version of the paper's Algorithm 1/2: one
      forward pass per moment (mean, then variance, then third moment),
      each compiled, with saturation and sparsity folded into those passes.

Prints b/a (floor <= 1.35 on 2 CPU cores, target <= 1.15 on a GPU), h/a,
the histograms' own cost h - b, and c/h (target >= 2.5: the paper's
algorithm against ours with the same outputs but histograms), from the
medians, the minima and as the median of per-repeat ratios. The dataset
is an in-memory cache with tf.data's autotuner off: with it on, some runs
stalled for whole seconds with the CPU idle, in all of them alike. Then
runs (b) in fresh processes over 2,000 and 20,000 images streamed from a
generator and prints each one's peak memory growth: it must not depend on
the dataset size.

With `--breakdown`, it also says where the default pass's time goes: in a
fresh process each, (b) runs with the per-tap work of its one XLA program
(`moments._summarise`) replaced by less, alternating with (a):

  none       no per-tap work: the taps are computed but never read,
  one_read   each tap read once, for its per-channel sum and max of |x|
             (the least that saturation needs),
  full       the real program (the moments, with exact power-of-two scaling).

In the record, the times are against (a); the memory growths and the
breakdown's ratios have no baseline.

Usage: python benchmarks/bench_stats.py [--repeats 3] [--images 10000]
           [--breakdown] [--no_record] [--results_dir DIR]
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import record  # noqa: E402
import tensorflow as tf  # noqa: E402

from bnorder_tf import build_model  # noqa: E402
from bnorder_tf.data.replicas import pad_for_replicas  # noqa: E402
from bnorder_tf.stats import (  # noqa: E402
    ActivationStatsPass,
    model_blocks,
    moments,
)
from bnorder_tf.stats.taps import forward_with_taps, model_chain  # noqa: E402

BATCH = 250
#: The record's name of each timed function.
LABELS = {
    "predict": "(a) model.predict",
    "loop_forward": "(f) the pass's loop and forward pass alone",
    "default_pass": "(b) the pass, no histograms",
    "histogram_pass": "(h) the pass with 50-bin histograms",
    "three_pass": "(c) the paper's three passes",
}


def make_model():
    return build_model(
        "vgg16_11",
        order="swap",
        activation="tanh",
        num_classes=100,
        input_shape=(32, 32, 3),
        width=0.25,
    )


def three_pass(model):
    """The paper's algorithm: a separate forward pass per moment."""
    layers = model_chain(model)
    blocks = model_blocks(model)
    names = [b.name for b in blocks]
    widths = {b.name: b.compute_output_shape(b.input.shape)[-1] for b in blocks}

    def zeros():
        return {n: tf.zeros([widths[n]]) for n in names}

    def per_channel(t):
        return tf.reshape(t, [-1, t.shape[-1]])

    def flat_taps(x):
        _, taps = forward_with_taps(layers, x)
        return (
            {n: per_channel(taps[n]["activation"]) for n in names},
            {n: per_channel(taps[n]["output"]) for n in names},
        )

    # Each pass is a compiled step per batch driven from Python, as
    # `model.predict` and `activation_stats` run (a whole-dataset
    # tf.function runs the same forward pass about 25% slower here).
    @tf.function(reduce_retracing=True)
    def step_one(x, sums, tops):  # means, and channel max |x| (empirical)
        a, o = flat_taps(x)
        sums = {n: sums[n] + tf.reduce_sum(a[n], 0) for n in names}
        tops = {
            n: tf.maximum(tops[n], tf.reduce_max(tf.abs(o[n]), 0))
            for n in names
        }
        return sums, tops

    @tf.function(reduce_retracing=True)
    def step_two(x, means, tops, var, sat, ratio):  # variance, saturation,
        a, o = flat_taps(x)  # sparsity
        var = {
            n: var[n] + tf.reduce_sum(tf.square(a[n] - means[n]), 0)
            for n in names
        }
        sat = {n: sat[n] + tf.reduce_sum(tf.abs(a[n]), 0) for n in names}
        ratio = {
            n: ratio[n]
            + tf.reduce_sum(tf.math.divide_no_nan(tf.abs(o[n]), tops[n]), 0)
            for n in names
        }
        return var, sat, ratio

    @tf.function(reduce_retracing=True)
    def step_three(x, means, third):  # third moment
        a, _ = flat_taps(x)
        return {
            n: third[n] + tf.reduce_sum((a[n] - means[n]) ** 3, 0)
            for n in names
        }

    def pass_one(ds):
        sums, tops, count = zeros(), zeros(), 0
        for x in ds:
            sums, tops = step_one(x, sums, tops)
            count += int(x.shape[0])
        return sums, tops, float(count)

    def pass_two(ds, means, tops):
        var, sat, ratio = zeros(), zeros(), zeros()
        for x in ds:
            var, sat, ratio = step_two(x, means, tops, var, sat, ratio)
        return var, sat, ratio

    def pass_three(ds, means):
        third = zeros()
        for x in ds:
            third = step_three(x, means, third)
        return third

    def run(ds):
        sums, tops, count = pass_one(ds)
        # values per channel: images times the tap's spatial size
        per_image = {
            b.name: float(np.prod(b.compute_output_shape(b.input.shape)[1:-1]))
            for b in blocks
        }
        m = {n: count * per_image[n] for n in names}
        means = {n: sums[n] / m[n] for n in names}
        var, sat, ratio = pass_two(ds, means, tops)
        third = pass_three(ds, means)
        out = {}
        for n in names:
            v, t = var[n] / m[n], third[n] / m[n]
            skew = tf.sqrt(m[n] * (m[n] - 1)) / (m[n] - 2) * t / v**1.5
            out[n] = float(tf.reduce_mean(tf.abs(skew)))
        return out

    return run


def loop_and_forward(stats_pass):
    """(f): the statistics pass's loop and taps, without statistics."""

    @tf.function(reduce_retracing=True)
    def step(images, weights):
        _, tensors = stats_pass.model_taps(images, training=False)
        return [t["output"][0, ..., 0] for t in tensors.values()]

    def run(ds):
        padded = pad_for_replicas(ds, 1)
        for (
            images,
            weights,
        ) in stats_pass.strategy.experimental_distribute_dataset(padded):
            step(images, weights)

    return run


def repeat_times(fns, repeats):
    """Seconds per call of each function, the functions alternating."""
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return times


def _no_reads(activation, output, center, real):
    zeros = tf.zeros([activation.shape[-1]], tf.float64)
    # one value per channel, so that the taps are still computed
    first = tf.reshape(activation, [-1, activation.shape[-1]])[0] * 0
    extremes = dict(top=first, negated_bottom=first)
    no_moments = dict(s1=zeros, s2=zeros, s3=zeros)
    out = {"activation": dict(sum_abs=zeros, **extremes, **no_moments)}
    if output is not None:
        out["output"] = dict(sum_abs=zeros, max_abs=zeros)
    return out


def _one_read(activation, output, center, real):
    out = _no_reads(activation, output, center, real)
    abs_a = tf.abs(activation)
    (sum_abs,), (top,) = moments._reduce_channels([abs_a], [abs_a], real)
    out["activation"].update(sum_abs=sum_abs, top=top)
    return out


#: --breakdown's variants of the pass's per-tap program.
BREAKDOWN = {
    "none": tf.function(_no_reads),
    "one_read": tf.function(_one_read, jit_compile=True),
    "full": None,
}


def breakdown_child(variant, images, repeats):
    """Median per-repeat ratio of (b), with `variant`'s program, to (a)."""
    if BREAKDOWN[variant] is not None:
        moments._summarise = BREAKDOWN[variant]
    model = make_model()
    ds = in_memory_images(images)
    stats_pass = ActivationStatsPass(model, histogram_bins=0)
    times = repeat_times(
        {
            "predict": lambda: model.predict(ds, verbose=0),
            "pass": lambda: stats_pass(ds),
        },
        repeats + 1,
    )
    ratios = [
        b / a
        for a, b in zip(times["predict"][1:], times["pass"][1:], strict=True)
    ]
    print(json.dumps({"variant": variant, "ratio": statistics.median(ratios)}))


def in_memory_images(images):
    """`images` random 32x32x3 images in batches of `BATCH`, cached.

    tf.data's autotuner is off: with it on, some runs stalled for whole
    seconds with the CPU idle, in all of them alike.
    """
    rng = np.random.default_rng(0)
    array = rng.normal(size=(images, 32, 32, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(array).batch(BATCH).cache()
    options = tf.data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def run_child(*args):
    """Runs this file with `args` in a fresh process; its last JSON line."""
    out = subprocess.run(
        [sys.executable, __file__, *map(str, args)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_child(images):
    """Peak RSS growth of one stats pass over a streamed dataset (KiB)."""
    model = make_model()
    ds = tf.data.Dataset.range(images // BATCH).map(
        lambda i: tf.random.stateless_normal([BATCH, 32, 32, 3], [i, 0])
    )
    stats_pass = ActivationStatsPass(model)
    stats_pass(ds.take(1))  # compile and warm up
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats_pass(ds)
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"images": images, "peak_growth_kib": after - before}))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also time the pass with less per-tap work (see above)",
    )
    parser.add_argument(
        "--memory-child", type=int, default=0, help=argparse.SUPPRESS
    )
    parser.add_argument(
        "--breakdown-child", choices=BREAKDOWN, help=argparse.SUPPRESS
    )
    record.add_arguments(parser)
    args = parser.parse_args()
    if args.memory_child:
        return memory_child(args.memory_child)
    if args.breakdown_child:
        return breakdown_child(args.breakdown_child, args.images, args.repeats)

    model = make_model()
    ds = in_memory_images(args.images)
    default_pass = ActivationStatsPass(model, histogram_bins=0)
    histogram_pass = ActivationStatsPass(model, histogram_bins=50)
    paper = three_pass(model)
    forward = loop_and_forward(default_pass)
    fns = {
        "predict": lambda: model.predict(ds, verbose=0),
        "loop_forward": lambda: forward(ds),
        "default_pass": lambda: default_pass(ds),
        "histogram_pass": lambda: histogram_pass(ds),
        "three_pass": lambda: paper(ds),
    }
    for fn in fns.values():  # compile and warm up
        fn()
    ours, theirs = default_pass(ds).layers, paper(ds)
    gap = max(
        abs(ours[n].skewness - theirs[n]) / abs(theirs[n]) for n in theirs
    )
    print(f"  (b) and (c) agree: largest relative skewness gap {gap:.1e}")
    times = repeat_times(fns, args.repeats)
    medians = {k: statistics.median(v) for k, v in times.items()}
    minima = {k: min(v) for k, v in times.items()}
    print(
        f"VGG16_11 width 0.25, {args.images} images of 32x32, batch "
        f"{BATCH}, {args.repeats} repeats (median / min):"
    )
    rows = []
    for name in fns:
        print(f"  {name:17s} {medians[name]:7.2f} s / {minima[name]:5.2f} s")
        paired = statistics.median(
            t / a for t, a in zip(times[name], times["predict"], strict=True)
        )
        rows.append(
            dict(
                measurement=LABELS[name],
                value=medians[name],
                unit="s",
                min=minima[name],
                paired_ratio=paired,
            )
        )
    print(
        f"  histograms on their own (h - b): "
        f"{medians['histogram_pass'] - medians['default_pass']:.2f} s; "
        f"loop (f - a): {medians['loop_forward'] - medians['predict']:.2f} s; "
        f"reductions and merges (b - f): "
        f"{medians['default_pass'] - medians['loop_forward']:.2f} s"
    )
    ratios = (
        ("b/a", "default_pass", "predict", "<= 1.35 on 2 cores"),
        ("h/a", "histogram_pass", "predict", "-"),
        ("f/a", "loop_forward", "predict", "-"),
        ("c/h", "three_pass", "histogram_pass", ">= 2.5"),
    )
    for label, top, bottom, target in ratios:
        paired = statistics.median(
            t / b for t, b in zip(times[top], times[bottom], strict=True)
        )
        print(
            f"  {label:4s} {top} / {bottom}: medians "
            f"{medians[top] / medians[bottom]:.2f}, minima "
            f"{minima[top] / minima[bottom]:.2f}, median of per-repeat "
            f"ratios {paired:.2f} (target {target})"
        )
    rows.append(
        dict(
            measurement="skewness gap between (b) and (c)",
            value=float(gap),
            unit="relative",
            baseline=None,
        )
    )
    for n in (2000, 20000):
        child = run_child("--memory-child", n)
        print(
            f"  peak memory growth over {child['images']:6d} streamed "
            f"images: {child['peak_growth_kib'] / 1024:.1f} MiB"
        )
        rows.append(
            dict(
                measurement=f"peak memory growth, {n} streamed images",
                value=child["peak_growth_kib"] / 1024,
                unit="MiB",
                baseline=None,
            )
        )
    if args.breakdown:
        print("  where (b)'s time goes, (b)/(a) with its per-tap program:")
        for variant in BREAKDOWN:
            child = run_child(
                "--breakdown-child",
                variant,
                "--images",
                args.images,
                "--repeats",
                args.repeats,
            )
            print(f"    {variant:9s} {child['ratio']:.2f}")
            rows.append(
                dict(
                    measurement=f"breakdown: (b)/(a) with {variant}",
                    value=child["ratio"],
                    unit="ratio",
                    baseline=None,
                )
            )
    record.save(
        args,
        "bench_stats",
        rows,
        baseline=LABELS["predict"],
        internal=("memory_child", "breakdown_child"),
    )


if __name__ == "__main__":
    main()
