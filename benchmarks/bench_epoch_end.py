"""Benchmark: what the end of a measured epoch costs against evaluation
alone.

VGG16_11 (Swap, tanh) at width 0.25 over 10,000 32x32x1 images with
labels, batches of 128, alternating repeats in one process, medians:

  (e) evaluation alone: `Trainer.evaluate`, what an epoch that is not
      measured does;
  (t) the two passes a measured epoch made before: `Trainer.evaluate`,
      then `ActivationStatsPass` (no histograms) over the set again;
  (o) the one pass it makes now: `ActivationStatsPass(evaluate=True)`,
      loss, accuracy and every statistic from one read of the set.

Prints t/e and o/e (the issue's floor: o/e <= 1.4).

Usage: python benchmarks/bench_epoch_end.py [--repeats 5] [--images 10000]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from network import build  # noqa: E402

from bnorder_tf.stats import ActivationStatsPass  # noqa: E402
from bnorder_tf.steps import Trainer  # noqa: E402

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
    args = parser.parse_args()
    model = build()
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
    for fn in passes.values():  # trace, compile, fill the cache
        fn()
    times = {name: [] for name in passes}
    for _ in range(args.repeats):
        for name, fn in passes.items():
            times[name].append(seconds(fn))
    e, t, o = (statistics.median(times[k]) for k in "eto")
    print(
        f"VGG16_11 width 0.25, {args.images} images, batch {BATCH}, "
        f"{args.repeats} alternating repeats, medians:\n"
        f"  (e) evaluation alone          {e:6.2f} s  1.00x\n"
        f"  (t) evaluation, then the pass {t:6.2f} s  {t / e:.2f}x\n"
        f"  (o) one pass for both         {o:6.2f} s  {o / e:.2f}x "
        "(floor <= 1.4)"
    )


if __name__ == "__main__":
    main()
