"""Distribution strategies by name, and batches every replica can take.

Example:

>>> strategy = get_strategy("mirrored")      # all local GPUs
>>> strategy = get_strategy("multi_worker")  # cluster from TF_CONFIG
"""

import functools
import json
import os
import threading

import tensorflow as tf

from bnorder_tf import choices
from bnorder_tf.errors import ConfigError

#: The names `get_strategy` accepts.
STRATEGIES = choices.STRATEGIES


def get_strategy(name="one_device", devices=None, tpu_address=""):
    """Returns the `tf.distribute.Strategy` for a name.

    Args:
        name: `"one_device"` (the first GPU, else the CPU), `"mirrored"`
            (`devices`, or every local GPU, or the CPU),
            `"multi_worker"` (`MultiWorkerMirroredStrategy`, cluster from
            the `TF_CONFIG` environment variable) or `"tpu"`.
        devices: optional list of device names for `one_device` (the first)
            and `mirrored`.
        tpu_address: the TPU's address for `tpu` (empty: the local one).

    Returns:
        A `tf.distribute.Strategy`. `mirrored` returns the same object for
        the same devices within a process, so that several models (tuning
        trials, tests) can be trained one after another.

    Raises:
        ConfigError: an unknown name, listing the valid ones; devices that
            do not exist or repeat; `multi_worker` without a `TF_CONFIG`.
    """
    if name not in STRATEGIES:
        raise ConfigError(
            f"Unknown strategy {name!r}; valid values are: "
            f"{', '.join(STRATEGIES)}."
        )
    if devices:
        devices = check_devices(devices)
    if name == "one_device":
        if devices:
            device = devices[0]
        else:
            gpus = tf.config.list_logical_devices("GPU")
            device = gpus[0].name if gpus else "/cpu:0"
        return tf.distribute.OneDeviceStrategy(device)
    if name == "mirrored":
        if not devices and not tf.config.list_logical_devices("GPU"):
            devices = [d.name for d in tf.config.list_logical_devices("CPU")]
        return _mirrored(tuple(devices or ()))
    if name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ConfigError(
                "strategy=multi_worker needs the TF_CONFIG environment "
                "variable describing the cluster and this worker's task."
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu_address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


def _device_key(name):
    spec = tf.DeviceSpec.from_string(name)
    return (spec.device_type or "").upper(), spec.device_index or 0


def check_devices(devices):
    """Checks that each device exists on this host and none repeats.

    Args:
        devices: device names such as `/gpu:0` or `/cpu:1`.

    Returns:
        The list of device names.

    Raises:
        ConfigError: a device that does not exist (listing those that do)
            or one named twice.
    """
    available = {
        _device_key(d.name): d.name for d in tf.config.list_logical_devices()
    }
    seen = set()
    for name in devices:
        try:
            key = _device_key(name)
        except ValueError:
            key = None
        if key not in available:
            raise ConfigError(
                f"--devices: {name} does not exist here; available: "
                f"{', '.join(available.values())} (--logical_cpus=N splits "
                "the CPU into N devices)."
            )
        if key in seen:
            raise ConfigError(f"--devices names {name} twice.")
        seen.add(key)
    return list(devices)


def split_cpu(count):
    """Splits the host CPU into `count` logical devices (`/cpu:0` ...),
    so that `mirrored` can be tried without GPUs. Must run before
    TensorFlow starts its runtime; 0 leaves the CPU alone.

    Raises:
        ConfigError: TensorFlow already started with another split.
    """
    if not count:
        return
    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration()] * count
        )
    except RuntimeError:
        started = len(tf.config.list_logical_devices("CPU"))
        if started != count:
            raise ConfigError(
                f"--logical_cpus={count}: TensorFlow already runs with "
                f"{started} logical CPU(s) in this process; split the CPU "
                "before any TensorFlow work."
            ) from None


@functools.lru_cache(maxsize=None)
def _mirrored(devices):
    # One MirroredStrategy per device set and process: two strategies over
    # the same devices reuse collective instance keys, so the second model
    # trained in a process aborts with "Collective instance 100 expected
    # type ..." (tensorflow/tensorflow#62790). Sharing the strategy is safe.
    return tf.distribute.MirroredStrategy(devices=list(devices) or None)


def is_chief(strategy=None):
    """Whether this process writes files: always, except on non-chief workers.

    Under several workers every worker runs the same program, but only the
    chief (task `chief`, or `worker` 0 when there is no chief) writes the
    run directory.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        config = json.loads(os.environ.get("TF_CONFIG", "{}"))
        task = config.get("task", {})
        task_type, task_id = task.get("type"), task.get("index", 0)
        cluster = config.get("cluster", {})
    else:
        task_type, task_id = resolver.task_type, resolver.task_id
        cluster = resolver.cluster_spec().as_dict()
    if not task_type:
        return True
    if task_type == "chief":
        return True
    return task_type == "worker" and task_id == 0 and "chief" not in cluster


def check_global_batch(batch_size, strategy):
    """Raises `ConfigError` unless the global batch divides over the
    replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(
            f"batch_size={batch_size} (the global batch) does not divide "
            f"over {replicas} replicas; use a multiple of {replicas}."
        )


def distribute_dataset(strategy, dataset):
    """`strategy.experimental_distribute_dataset(dataset)`, except for a
    `OneDeviceStrategy` on a CPU, which gets `dataset` as it is.

    There the distributed iterator only moves each batch to the device it
    is already on, through a generator dataset that cost about 0.4 ms per
    step on a tiny model (and that TensorFlow warns of at every epoch);
    `strategy.run` takes the dataset's own batches. On a GPU the
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
    wake up (its sleep doubles up to 60 s). It happened under load
    (another process, or training on the same cores):
    `benchmarks/bench_iterator_release.py` measured 4.2 s to release an
    iterator that lived 6 s; iterators that lived 4 s took 0 to 22 s;
    a test of Keras's `fit` under a `MirroredStrategy` spent 80 s there.
    Every epoch releases three (training, evaluation, statistics). The
    wait releases the GIL, so the next pass runs meanwhile. A process
    waits for the releases still running before it exits (once per run,
    instead of up to three waits per epoch).

    Args:
        iterators: a list holding the only references to the iterators;
            it is emptied on the background thread.

    Returns:
        The (non-daemon) `threading.Thread` releasing them.

    Example:

    >>> iterators = [iter(distribute_dataset(strategy, dataset))]
    >>> for batch in iterators[0]:
    ...     step(batch)
    >>> thread = release_in_background(iterators)
    """
    # a thread each: the releases wait side by side, not one after another
    thread = threading.Thread(target=iterators.clear, name="iterator_release")
    thread.start()
    return thread


def iterate_once(distributed):
    """Yields every batch of `distributed`, then releases its iterator with
    `release_in_background`.

    Args:
        distributed: what `distribute_dataset` returns.

    Yields:
        Its batches, as a `for` loop over it would.

    Example:

    >>> for batch in iterate_once(distribute_dataset(strategy, dataset)):
    ...     step(batch)
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
