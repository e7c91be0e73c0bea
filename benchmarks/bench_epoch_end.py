"""Benchmark: what the end of a measured epoch costs against evaluation alone.

VGG16_11 (Swap, tanh) at width 0.25 over 10,000 32x32x1 images with
labels, batches of 128, alternating repeats in one process, medians:

  (e) evaluation alone: `Trainer.evaluate`, what an epoch that is not
      measured does;
  (t) the two passes a measured epoch made before: `Trainer.evaluate`,
      then `ActivationStatsPass` (no histograms) over the set again;
  (o) the one pass it makes now: `ActivationStatsPass(evaluate=True)`,
      loss, accuracy and every statistic from one read of the set;
  (c) with `--policy` mixed_bfloat16 or mixed_float16 only: (o) with
      `precision="compute"`, the statistics of the 16-bit activations the
      evaluation's own forward pass computes. (o) is then the default,
      `precision="float32"`: the 16-bit forward pass for the loss and
      accuracy, plus a float32 forward pass for the statistics.

Prints t/e, o/e (the issue's floor: o/e <= 1.4) and c/e.

Usage: python benchmarks/bench_epoch_end.py [--repeats 5] [--images 10000]
    [--policy float32|mixed_bfloat16|mixed_float16] [--no_record]
    [--results_dir DIR]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import record  # noqa: E402
import tensorflow as tf  # noqa: E402
from network import build  # noqa: E402

from bnorder_tf.stats import ActivationStatsPass  # noqa: E402
from bnorder_tf.training.steps import Trainer  # noqa: E402

BATCH = 128


def dataset(images):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(images, 32, 32, 1)).astype("float32")
    y = rng.integers(0, 10, images)
    options = tf.data.Options()
    options.autotune.enabled = False  # it stalled some runs for seconds
    return (
        tf.data.Dataset.from_tensor_slices((x, y))
        .batch(BATCH)
        .cache()
        .with_options(options)
    )


def seconds(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument(
        "--policy",
        default="float32",
        choices=("float32", "mixed_bfloat16", "mixed_float16"),
        help="Keras dtype policy the network trains and evaluates in.",
    )
    record.add_arguments(parser)
    args = parser.parse_args()
    mixed = args.policy != "float32"
    model = build(args.policy)
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    strategy = tf.distribute.get_strategy()
    trainer = Trainer(model, optimizer, strategy, BATCH)
    data = dataset(args.images)
    distributed = trainer.distribute_eval(data)
    stats_alone = ActivationStatsPass(model, histogram_bins=0)
    one_pass = ActivationStatsPass(model, histogram_bins=0, evaluate=True)
    passes = {
        "e": lambda: trainer.evaluate(distributed),
        "t": lambda: (trainer.evaluate(distributed), stats_alone(data)),
        "o": lambda: one_pass(data),
    }
    if mixed:
        as_computed = ActivationStatsPass(
            model, histogram_bins=0, evaluate=True, precision="compute"
        )
        passes["c"] = lambda: as_computed(data)
    for fn in passes.values():  # trace, compile, fill the cache
        fn()
    times = {name: [] for name in passes}
    for _ in range(args.repeats):
        for name, fn in passes.items():
            times[name].append(seconds(fn))
    median = {name: statistics.median(values) for name, values in times.items()}
    e, t, o = (median[k] for k in "eto")
    print(
        f"VGG16_11 width 0.25, {args.policy}, {args.images} images, batch "
        f"{BATCH}, {args.repeats} alternating repeats, medians:\n"
        f"  (e) evaluation alone          {e:6.2f} s  1.00x\n"
        f"  (t) evaluation, then the pass {t:6.2f} s  {t / e:.2f}x\n"
        f"  (o) one pass for both         {o:6.2f} s  {o / e:.2f}x "
        "(floor <= 1.4)"
    )
    if mixed:
        c = median["c"]
        print(
            f"  (c) (o) in compute precision  {c:6.2f} s  {c / e:.2f}x "
            "(statistics of the 16-bit activations)"
        )
    rows = [
        dict(measurement="(e) evaluation alone", value=e, unit="s"),
        dict(measurement="(t) evaluation, then the pass", value=t, unit="s"),
        dict(measurement="(o) one pass for both", value=o, unit="s"),
    ]
    if mixed:
        rows.append(
            dict(
                measurement="(c) (o) in compute precision",
                value=median["c"],
                unit="s",
            )
        )
    # one record name per policy: the page shows the newest of each
    name = "bench_epoch_end" + (f"_{args.policy}" if mixed else "")
    record.save(args, name, rows, baseline=rows[0]["measurement"])


if __name__ == "__main__":
    main()
