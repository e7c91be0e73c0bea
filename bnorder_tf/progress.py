"""`EpochProgress`: the training progress a person reads, cheaply.

Keras's own progress bar redraws at most every 0.05 s, reading the
metrics back from the device each time, and when stdout is not a
terminal it writes every redraw as a new line (about 100 KB per epoch in
a log file). This callback draws Keras's `Progbar` at most twice a second
on a terminal, and prints one line per epoch otherwise.
"""

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


class EpochProgress(keras.callbacks.Callback):
    """A progress bar on a terminal, one line per epoch elsewhere.

    The logs given to `on_train_batch_end` may be device tensors: they are
    read only when the bar is redrawn.

    Args:
        epochs: int, the run's number of epochs.
        steps: int, training steps per epoch.
        stream: the file written to (default `sys.stdout`); a terminal
            gets the bar.

    Example:

    >>> callbacks = keras.callbacks.CallbackList(
    ...     [EpochProgress(epochs=12, steps=468)], model=model)
    """

    def __init__(self, epochs, steps, stream=None):
        super().__init__()
        self.epochs = epochs
        self.steps = steps
        self.stream = stream
        self._bar = None
        self._start = None

    @property
    def _out(self):
        return self.stream or sys.stdout

    def _interactive(self):
        return hasattr(self._out, "isatty") and self._out.isatty()

    def on_epoch_begin(self, epoch, logs=None):
        self._start = time.perf_counter()
        self._bar = None
        if self._interactive():
            print(f"Epoch {epoch + 1}/{self.epochs}", file=self._out)
            self._bar = keras.utils.Progbar(
                self.steps, interval=REDRAW_INTERVAL, unit_name="step"
            )

    def on_train_batch_end(self, batch, logs=None):
        if self._bar is not None:
            self._bar.update(batch + 1, list((logs or {}).items()))

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self._bar is not None:
            self._bar.update(self.steps, list(logs.items()), finalize=True)
            return
        seconds = time.perf_counter() - self._start
        print(
            epoch_line(epoch, self.epochs, self.steps, seconds, logs),
            file=self._out,
            flush=True,
        )
