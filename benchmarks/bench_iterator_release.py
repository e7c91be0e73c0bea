"""Benchmark: how long the main thread waits to release an iterator.

The iterator is a finished distributed one: dropping it on the main
thread (what a `for` loop over a distributed dataset, and Keras's `fit`,
do) against `bnorder_tf.data.replicas.release_in_background` (what the
package's loops do).

A `MirroredStrategy` over two logical CPUs distributes 64 random images
in batches of 16; each round reads three batches, keeps both cores busy
with matrix products for `--lifetime` seconds (an epoch's training),
then releases the iterator and times what the main thread waited. The
two ways alternate in one process. A last line gives how long the
background releases took to finish, which the main thread did not wait
for.

In the record, each way's wait is against the wait on the main thread;
the background releases' own time has no baseline.

Usage: python benchmarks/bench_iterator_release.py [--rounds 3]
    [--lifetime 6] [--no_record] [--results_dir DIR]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import record  # noqa: E402
import tensorflow as tf  # noqa: E402

from bnorder_tf.data import replicas  # noqa: E402
from bnorder_tf.training import distribute  # noqa: E402


def busy(seconds):
    """Keeps both cores busy, as an epoch's training steps do."""
    a = tf.random.normal([384, 384])
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        a = tf.tanh(tf.linalg.matmul(a, a) / 384.0)


def drop(iterators):
    iterators.clear()


def main_thread_wait(strategy, dataset, lifetime, release):
    iterators = [iter(strategy.experimental_distribute_dataset(dataset))]
    for _ in range(3):
        next(iterators[0])
    busy(lifetime)
    start = time.perf_counter()
    release(iterators)
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--lifetime", type=float, default=6.0)
    record.add_arguments(parser)
    args = parser.parse_args()

    distribute.split_cpu(2)
    strategy = distribute.get_strategy("mirrored", ["/cpu:0", "/cpu:1"])
    images = np.random.default_rng(0).random((64, 16, 16, 3), "float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(16)
    released = []  # the background threads, joined at the end
    ways = {
        "on the main thread": drop,
        "release_in_background": lambda iterators: released.append(
            replicas.release_in_background(iterators)
        ),
    }
    times = {name: [] for name in ways}
    for _ in range(args.rounds):
        for name, release in ways.items():
            times[name].append(
                main_thread_wait(strategy, dataset, args.lifetime, release)
            )
    start = time.perf_counter()
    for thread in released:
        thread.join()
    pending = time.perf_counter() - start

    print(f"iterator lifetime {args.lifetime:g} s, {args.rounds} rounds")
    for name, t in times.items():
        rounded = ", ".join(f"{s:.2f}" for s in t)
        median = statistics.median(t)
        print(f"  {name:22s} main thread waited {median:6.2f} s  ({rounded})")
    print(f"  background releases still running at the end: {pending:.2f} s")
    rows = [
        dict(
            measurement=f"main thread waited, {name}",
            value=statistics.median(t),
            unit="s",
            rounds=t,
        )
        for name, t in times.items()
    ]
    rows.append(
        dict(
            measurement="background releases still running at the end",
            value=pending,
            unit="s",
            baseline=None,
        )
    )
    record.save(
        args, "bench_iterator_release", rows, baseline=rows[0]["measurement"]
    )


if __name__ == "__main__":
    main()
