"""Datasets every replica can take: distribution, padding, iteration.

`distribute_dataset` hands a dataset to a strategy, `pad_for_replicas`
pads the last batch so that no replica gets an empty one, and
`iterate_once` walks a distributed dataset and releases its iterator off
the critical path. Training, evaluation and the statistics pass share them.
"""

import threading

import tensorflow as tf


def distribute_dataset(strategy, dataset):
    """`strategy.experimental_distribute_dataset(dataset)`, except on one CPU.

    A `OneDeviceStrategy` on a CPU gets `dataset` as it is. There the
    distributed iterator only moves each batch to the device it is already
    on, through a generator dataset that adds time to every step, which
    matters most on a small model (`benchmarks/bench_loop.py` measures
    the loop's overhead per step), and that TensorFlow warns of at every
    epoch; `strategy.run` takes the dataset's own batches. On a GPU the
    distributed iterator prefetches to the device, so it stays.

    Args:
        strategy: a `tf.distribute.Strategy`.
        dataset: a batched `tf.data.Dataset`.

    Returns:
        What `strategy.run` can be fed from: iterate it, or pass its
        iterator to a compiled step.
    """
    if isinstance(strategy, tf.distribute.OneDeviceStrategy) and all(
        tf.DeviceSpec.from_string(device).device_type == "CPU"
        for device in strategy.extended.worker_devices
    ):
        return dataset
    return strategy.experimental_distribute_dataset(dataset)


def release_in_background(iterators):
    """Releases finished distributed iterators on a background thread.

    Releasing a distributed (multi-device) iterator can wait, with the CPU
    idle, for tf.data's autotuning thread of each device's pipeline to
    wake up, and that thread's sleep keeps doubling. Under load (another
    process, or training on the same cores) the wait can be as long as the
    iterator's own life, and longer: `benchmarks/bench_iterator_release.py`
    measures it against a release in the background. Every epoch releases
    three (training, evaluation, statistics). The wait releases the GIL,
    so the next pass runs meanwhile. A process waits for the releases
    still running before it exits (once per run, instead of up to three
    waits per epoch).

    Args:
        iterators: a list holding the only references to the iterators;
            it is emptied on the background thread.

    Returns:
        The (non-daemon) `threading.Thread` releasing them.

    Example:
    >>> strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    >>> dataset = tf.data.Dataset.range(6).batch(2)
    >>> iterators = [iter(distribute_dataset(strategy, dataset))]
    >>> [batch.numpy().tolist() for batch in iterators[0]]
    [[0, 1], [2, 3], [4, 5]]
    >>> thread = release_in_background(iterators)
    >>> thread.join()
    >>> iterators
    []
    """
    # a thread each: the releases wait side by side, not one after another
    thread = threading.Thread(target=iterators.clear, name="iterator_release")
    thread.start()
    return thread


def iterate_once(distributed):
    """Yields every batch of `distributed`, then releases its iterator.

    The iterator is released with `release_in_background`.

    Args:
        distributed: what `distribute_dataset` returns.

    Yields:
        Its batches, as a `for` loop over it would.

    Example:
    >>> strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    >>> dataset = tf.data.Dataset.range(4).batch(2)
    >>> for batch in iterate_once(distribute_dataset(strategy, dataset)):
    ...     print(batch.numpy())
    [0 1]
    [2 3]
    """
    iterators = [iter(distributed)]
    yield from iterators[0]
    release_in_background(iterators)


def pad_for_replicas(dataset, num_replicas, batch_size=None):
    """Pads each batch so that every replica gets at least one sample.

    A last batch smaller than the number of replicas leaves some replica an
    empty batch, which crashes or corrupts convolutions and BN under
    `tf.distribute`. Each batch is padded with zeros to a multiple of
    `num_replicas` and gets a per-sample weight: 1 for real samples, 0 for
    padding, so that metrics count every real sample exactly once.

    Args:
        dataset: batched `tf.data.Dataset` of a tensor or a tuple of
            tensors sharing the batch dimension.
        num_replicas: int.
        batch_size: optional int: pad a smaller batch (the last one) to
            at least this size too, so that every batch has the same shape
            and a compiled consumer is traced and compiled once.

    Returns:
        A dataset of `(*tensors, weights)`.

    Example:
    >>> ds = tf.data.Dataset.range(5).batch(2)
    >>> [w.tolist() for _, w in pad_for_replicas(ds, 2).as_numpy_iterator()]
    [[1.0, 1.0], [1.0, 1.0], [1.0, 0.0]]
    """
    least = max(num_replicas, batch_size or 0)

    @tf.autograph.experimental.do_not_convert
    def pad(*tensors):
        size = tf.shape(tensors[0])[0]
        target = (
            (tf.maximum(size, least) + num_replicas - 1)
            // num_replicas
            * num_replicas
        )
        extra = target - size
        padded = tuple(
            tf.pad(t, [[0, extra]] + [[0, 0]] * (t.shape.rank - 1))
            for t in tensors
        )
        weights = tf.concat(
            [tf.ones([size], tf.float32), tf.zeros([extra], tf.float32)], 0
        )
        return (*padded, weights)

    return dataset.map(pad, num_parallel_calls=tf.data.AUTOTUNE)
