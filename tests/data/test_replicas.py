"""Feeding replicas: padding, splitting, releasing iterators."""

import threading

import numpy as np
import tensorflow as tf

from bnorder_tf.data import replicas
from bnorder_tf.data.replicas import pad_for_replicas


def test_a_slow_iterator_release_does_not_hold_up_the_loop():
    # releasing a distributed iterator can wait for seconds, CPU idle
    # (replicas.release_in_background); here the slow release is a
    # finalizer that waits until the main thread has gone on
    main_thread_went_on = threading.Event()
    released_on = []

    class SlowToRelease:
        def __del__(self):
            main_thread_went_on.wait(60)
            released_on.append(threading.current_thread().name)

    thread = replicas.release_in_background([SlowToRelease()])
    main_thread_went_on.set()  # reached only if the caller did not wait
    thread.join(60)
    assert released_on == ["iterator_release"]

    # a pass over a distributed dataset yields every batch once
    batches = list(replicas.iterate_once(tf.data.Dataset.range(3)))
    assert batches == [0, 1, 2]


def test_pad_for_replicas_pads_and_weights_the_last_batch():
    ds = tf.data.Dataset.from_tensor_slices(
        (np.arange(7, dtype="float32"), np.arange(7))
    ).batch(4)
    batches = list(pad_for_replicas(ds, 2).as_numpy_iterator())
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 0]]
    assert [b[2].tolist() for b in batches] == [[1, 1, 1, 1], [1, 1, 1, 0]]
    single = list(
        pad_for_replicas(ds.unbatch().take(1).batch(1), 2).as_numpy_iterator()
    )
    assert single[0][2].tolist() == [1, 0]


def test_one_cpu_device_is_fed_the_dataset_itself_and_replicas_a_split(
    mirrored,
):
    """On one CPU the batches go to `strategy.run` as the dataset gives them.

    There is no generator-based copy to the device they are on; mirrored
    replicas each get their share of every batch.
    """
    from bnorder_tf.data.replicas import distribute_dataset
    from bnorder_tf.training.distribute import get_strategy

    ds = tf.data.Dataset.from_tensor_slices(np.arange(8, dtype="float32"))
    ds = ds.batch(4)
    one = get_strategy("one_device")
    assert distribute_dataset(one, ds) is ds
    sums = [
        float(one.run(tf.reduce_sum, args=(batch,)))
        for batch in distribute_dataset(one, ds)
    ]
    assert sums == [6.0, 22.0]
    split = distribute_dataset(mirrored, ds)
    assert split is not ds
    shares = [
        [v.numpy().tolist() for v in mirrored.experimental_local_results(b)]
        for b in split
    ]
    assert shares == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
