"""The progress bar reads the metrics only when it redraws."""

import io

import keras
import pytest

from bnorder_tf.training import progress
from bnorder_tf.training.progress import EpochProgress
from tests.helpers import FakeTerminal


class Clock:
    def __init__(self):
        self.now = 0.0

    def perf_counter(self):
        return self.now


def test_a_terminal_bar_reads_the_metrics_at_most_twice_a_second(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock.perf_counter)
    reads = []

    def current_logs():
        reads.append(clock.now)
        return {"loss": 0.5, "accuracy": 0.25}

    drawn = []

    class Bar:  # Keras's Progbar, recording what it is asked to draw
        def __init__(self, target, stateful_metrics=None, **kwargs):
            self.stateful = set(stateful_metrics or ())

        def update(self, step, values, finalize=False):
            drawn.append((step, dict(values), finalize, self.stateful))

    monkeypatch.setattr(keras.utils, "Progbar", Bar)
    terminal = FakeTerminal()
    bar = EpochProgress(
        2, steps=100, current_logs=current_logs, stream=terminal
    )
    callbacks = keras.callbacks.CallbackList([bar])
    callbacks.on_epoch_begin(0)
    for step in range(100):  # 10 ms per step: one second in all
        clock.now += 0.01
        callbacks.on_train_batch_end(step)
    # the first step, then every 0.5 s: 0.01, 0.51
    assert reads == pytest.approx([0.01, 0.51])
    callbacks.on_epoch_end(0, {"loss": 0.4, "accuracy": 0.3})
    assert len(reads) == 2  # the epoch's logs are given
    assert terminal.getvalue() == "Epoch 1/2\n"
    current = {"loss": 0.5, "accuracy": 0.25}
    # epoch means so far, shown as they are (stateful), not averaged
    assert drawn == [
        (1, current, False, {"loss", "accuracy"}),
        (51, current, False, {"loss", "accuracy"}),
        (100, {"loss": 0.4, "accuracy": 0.3}, True, {"loss", "accuracy"}),
    ]


def test_elsewhere_one_line_per_epoch_and_no_read_before_it(monkeypatch):
    reads = []
    log = io.StringIO()  # not a terminal: a log file
    bar = EpochProgress(
        3, steps=50, current_logs=lambda: reads.append(1) or {}, stream=log
    )
    callbacks = keras.callbacks.CallbackList([bar])
    callbacks.on_epoch_begin(1)
    for step in range(50):
        callbacks.on_train_batch_end(step)
    callbacks.on_epoch_end(1, {"loss": 0.25})
    assert reads == []
    lines = log.getvalue().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Epoch 2/3 - 50 steps - ")
    assert lines[0].endswith("- loss: 0.2500")
