"""Distribution strategies by name, and batches every replica can take.

Example:
>>> strategy = get_strategy("one_device")  # the first GPU, else the CPU
>>> strategy.num_replicas_in_sync
1

The other strategies are shown, not run as tests: `mirrored` makes the
process's one strategy over its devices (see `get_strategy`), and
`multi_worker` needs a cluster described by `TF_CONFIG`.

>>> strategy = get_strategy("mirrored")  # all local GPUs  # doctest: +SKIP
>>> strategy = get_strategy("multi_worker")  # doctest: +SKIP
"""

import functools
import json
import os

import tensorflow as tf

from bnorder_tf import choices
from bnorder_tf.errors import ConfigError, lookup

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
        ConfigError: an unknown name (an `UnknownNameError`, listing the
            valid ones); devices that do not exist or repeat;
            `multi_worker` without a `TF_CONFIG`.

    Example:
    A model built in the strategy's scope has its variables on the
    strategy's device:

    >>> import keras
    >>> strategy = get_strategy("one_device", devices=["/cpu:0"])
    >>> strategy.extended.worker_devices
    ('/job:localhost/replica:0/task:0/device:CPU:0',)
    >>> with strategy.scope():
    ...     model = keras.Sequential([keras.Input((4,)),
    ...                               keras.layers.Dense(3)])
    >>> model.weights[0].value.device
    '/job:localhost/replica:0/task:0/device:CPU:0'
    >>> try:
    ...     get_strategy("one_device", devices=["/gpu:99"])
    ... except ConfigError as error:
    ...     print(error)
    --devices: /gpu:99 does not exist here; available: ...
    """
    make = lookup(_MAKERS, name, "strategy")
    if devices:
        devices = check_devices(devices)
    return make(devices, tpu_address)


def _one_device(devices, tpu_address):
    if devices:
        device = devices[0]
    else:
        gpus = tf.config.list_logical_devices("GPU")
        device = gpus[0].name if gpus else "/cpu:0"
    return tf.distribute.OneDeviceStrategy(device)


def _mirrored_on(devices, tpu_address):
    if not devices and not tf.config.list_logical_devices("GPU"):
        devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    return _mirrored(tuple(devices or ()))


def _multi_worker(devices, tpu_address):
    if "TF_CONFIG" not in os.environ:
        raise ConfigError(
            "strategy=multi_worker needs the TF_CONFIG environment "
            "variable describing the cluster and this worker's task."
        )
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tpu(devices, tpu_address):
    resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu_address)
    tf.config.experimental_connect_to_cluster(resolver)
    tf.tpu.experimental.initialize_tpu_system(resolver)
    return tf.distribute.TPUStrategy(resolver)


#: What makes each strategy, by the names of `STRATEGIES`, in their order.
_MAKERS = {
    "one_device": _one_device,
    "mirrored": _mirrored_on,
    "multi_worker": _multi_worker,
    "tpu": _tpu,
}


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
    """Splits the host CPU into `count` logical devices (`/cpu:0` ...).

    This lets `mirrored` be tried without GPUs. Must run before TensorFlow
    starts its runtime; 0 leaves the CPU alone.

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


@functools.cache
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
    """Raises `ConfigError` unless the global batch divides over replicas."""
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise ConfigError(
            f"batch_size={batch_size} (the global batch) does not divide "
            f"over {replicas} replicas; use a multiple of {replicas}."
        )
