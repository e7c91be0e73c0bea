"""`EpochProgress`: the training progress a person reads, cheaply.

`announce` prints the run's first line: what trains, on what, where.

Keras's own progress bar redraws many times a second, reading the
metrics back from the device each time, and when stdout is not a
terminal it writes every redraw as a new line, which floods a log file.
This callback reads the metrics and draws Keras's `Progbar` at most once
per `REDRAW_INTERVAL` on a terminal, and prints one line per epoch
otherwise.
"""

import math
import sys
import time

import keras

#: Seconds between two redraws of the bar on a terminal.
REDRAW_INTERVAL = 0.5


def _format(value):
    value = float(value)
    return f"{value:.4e}" if 0 < abs(value) < 1e-3 else f"{value:.4f}"


def epoch_line(epoch, epochs, steps, seconds, logs):
    """The line printed for an epoch when stdout is not a terminal.

    Example:
    >>> epoch_line(0, 12, 468, 36.2, {"loss": 0.61})
    'Epoch 1/12 - 468 steps - 36s (77 ms/step) - loss: 0.6100'
    """
    values = "".join(f" - {k}: {_format(v)}" for k, v in logs.items())
    per_step = 1000 * seconds / max(steps, 1)
    return (
        f"Epoch {epoch + 1}/{epochs} - {steps} steps - {seconds:.0f}s "
        f"({per_step:.0f} ms/step){values}"
    )


def announce(config, data_location, replicas, initial_epoch):
    """Prints what the run trains, on which data, where; and its resume.

    Args:
        config: the run's `TrainConfig`.
        data_location: where the training data comes from.
        replicas: the strategy's replicas in sync.
        initial_epoch: the epochs committed before; a second line says
            the run resumes after them.
    """
    print(
        f"bnorder_tf: {config.model} ({config.order}, "
        f"{config.activation}, width {config.width:g}) on "
        f"{config.dataset} from {data_location}, strategy "
        f"{config.strategy} with {replicas} replica(s); run directory "
        f"{config.run_dir}",
        flush=True,
    )
    if initial_epoch:
        print(f"Resuming after epoch {initial_epoch}.", flush=True)


class EpochProgress(keras.callbacks.Callback):
    """A progress bar on a terminal, one line per epoch elsewhere.

    The bar reads the epoch's metrics itself, from `current_logs`, and only
    when it redraws: the training loop passes no logs to
    `on_train_batch_end`, since Keras's `CallbackList` would read every log
    back from the device before calling any callback (a host round trip
    per step).

    Args:
        epochs: int, the run's number of epochs.
        steps: int, training steps per epoch.
        current_logs: optional function returning the epoch's metrics so
            far (`{name: scalar tensor or float}`), called at most once per
            `REDRAW_INTERVAL`; without it the bar shows the steps only.
        stream: the file written to (default `sys.stdout`); a terminal
            gets the bar.

    Example:
    The training loop passes `current_logs=trainer.train_metrics.result`.
    A stream that is not a terminal gets one line per epoch:

    >>> import io
    >>> out = io.StringIO()
    >>> progress = EpochProgress(epochs=12, steps=468, stream=out)
    >>> callbacks = keras.callbacks.CallbackList([progress])
    >>> callbacks.on_epoch_begin(0)
    >>> callbacks.on_epoch_end(0, {"loss": 0.61})
    >>> print(out.getvalue(), end="")
    Epoch 1/12 - 468 steps - ...s (... ms/step) - loss: 0.6100
    """

    def __init__(self, epochs, steps, current_logs=None, stream=None):
        super().__init__()
        self.epochs = epochs
        self.steps = steps
        self.current_logs = current_logs
        self.stream = stream
        self._interactive_epoch = False
        self._bar = None
        self._start = None
        self._last_draw = -math.inf

    @property
    def _out(self):
        return self.stream or sys.stdout

    def _interactive(self):
        return hasattr(self._out, "isatty") and self._out.isatty()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._interactive_epoch = self._interactive()
        self._bar = None
        self._last_draw = -math.inf
        if self._interactive_epoch:
            print(f"Epoch {epoch + 1}/{self.epochs}", file=self._out)

    def _draw(self, step, values, finalize=False):
        if self._bar is None:
            # the values are the epoch's means so far, shown as they are
            # (Keras's bar would average them again over the steps)
            self._bar = keras.utils.Progbar(
                self.steps,
                interval=0,
                unit_name="step",
                stateful_metrics=list(values),
            )
        self._bar.update(step, list(values.items()), finalize=finalize)

    def on_train_batch_end(self, batch, logs=None):
        if not self._interactive_epoch:
            return
        now = time.perf_counter()
        if now - self._last_draw < REDRAW_INTERVAL:
            return
        self._last_draw = now
        current = self.current_logs() if self.current_logs else {}
        self._draw(batch + 1, {k: float(v) for k, v in current.items()})

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._interactive_epoch:
            self._draw(self.steps, logs, finalize=True)
            return
        seconds = time.perf_counter() - self._start
        print(
            epoch_line(epoch, self.epochs, self.steps, seconds, logs),
            file=self._out,
            flush=True,
        )
