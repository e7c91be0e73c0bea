"""Feeding replicas: padding, splitting, releasing iterators."""

import threading

import tensorflow as tf

from bnorder_tf.data import replicas


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
