"""The callbacks that commit a run's epochs, and the run's time totals.

`EpochCheckpoint` saves each finished epoch with a
`tf.train.CheckpointManager`, with the run's time and image totals
(`RunSession`); `HistoryLogger` is Keras's `CSVLogger` with fixed
columns; `ResumableEarlyStopping` is Keras's `EarlyStopping` that
carries on where a resumed run stopped. `epoch_callbacks` orders them,
with the statistics and TensorBoard, so that an epoch's rows are
written before its checkpoint.
"""

import os
import time

import keras
import tensorflow as tf

from bnorder_tf.stats import ActivationStatsCallback
from bnorder_tf.stats.results import MODEL_KEYS
from bnorder_tf.training.run_dir import (
    HISTORY_FILE,
    RunDirectoryError,
    history_columns,
)


def epoch_callbacks(
    config,
    write_dir,
    checkpoint,
    *,
    committed_accuracies,
    stats_dataset,
    gradient_dataset,
    averaged_blocks,
    write_files,
):
    """A run's callbacks, in the order they commit an epoch.

    The statistics (appended to `stats.jsonl`), the history row,
    TensorBoard, early stopping, and the checkpoint last: a checkpoint
    always comes after its epoch's rows.

    Args:
        config: the run's `TrainConfig`.
        write_dir: where this process writes the run.
        checkpoint: the run's `EpochCheckpoint`.
        committed_accuracies: `val_accuracy` of the committed epochs, for
            early stopping.
        stats_dataset: the evaluation batches the statistics measure.
        gradient_dataset: the training batches of the gradient scale.
        averaged_blocks: the blocks of the model-level statistics.
        write_files: whether the statistics write their files (the chief).

    Returns:
        A list of callbacks.
    """
    callbacks = []
    if config.stats_every:
        callbacks.append(
            ActivationStatsCallback(
                stats_dataset,
                every=config.stats_every,
                log_dir=write_dir,
                gradient_dataset=gradient_dataset,
                gradient_batches=config.gradient_batches,
                histogram_bins=config.histogram_bins,
                histogram_every=config.histogram_every,
                averaged_blocks=averaged_blocks,
                write_files=write_files,
                evaluate=True,  # a measured epoch's evaluation, in one pass
                precision=config.stats_precision,
            )
        )
    columns = history_columns(config.stats_every, MODEL_KEYS)
    callbacks += [
        HistoryLogger(os.path.join(write_dir, HISTORY_FILE), columns),
        keras.callbacks.TensorBoard(
            os.path.join(write_dir, "tensorboard"), write_graph=False
        ),
    ]
    if config.early_stopping:
        callbacks.append(
            ResumableEarlyStopping(config.early_stopping, committed_accuracies)
        )
    return callbacks + [checkpoint]


class RunSession:
    """The run's time and images over all its sessions.

    The totals up to the last committed epoch are `tf.Variable`s, which
    `EpochCheckpoint` saves with each epoch and restores on resume; this
    session's time and images count on top of them, from `start()`. The
    runner owns it: it starts it once the checkpoint is restored, adds
    each epoch's training (`add_training`) and reads the totals for the
    summary.

    Attributes:
        variables: dict from the checkpoint's key (`wall_seconds`,
            `train_seconds`, `trained_images`) to the `tf.Variable` of
            that total up to the last commit.

    Example:
    >>> session = RunSession()
    >>> session.start()
    >>> session.add_training(seconds=2.0, images=64)
    >>> session.images_per_second()
    32.0
    """

    def __init__(self):
        self.variables = {
            "wall_seconds": tf.Variable(0.0, dtype=tf.float64, trainable=False),
            "train_seconds": tf.Variable(
                0.0, dtype=tf.float64, trainable=False
            ),
            "trained_images": tf.Variable(0, dtype=tf.int64, trainable=False),
        }
        self.start()

    def start(self):
        """Counts this session from now, on top of the totals restored."""
        self.started = time.time()
        self.stopped = None
        self.wall_before = float(self.variables["wall_seconds"].numpy())
        self.train_before = float(self.variables["train_seconds"].numpy())
        self.images_before = int(self.variables["trained_images"].numpy())
        self.train_seconds = 0.0
        self.trained_images = 0

    def add_training(self, seconds, images):
        """Adds an epoch's training steps: their seconds and images."""
        self.train_seconds += seconds
        self.trained_images += images

    def stop(self):
        """Stops this session's clock: the run's time ends here."""
        self.stopped = time.time()

    def wall_seconds(self):
        """The run's wall-clock seconds over all its sessions, until now.

        Until `stop()`, once it is called.
        """
        end = self.stopped if self.stopped is not None else time.time()
        return self.wall_before + end - self.started

    def images_per_second(self):
        """The images trained per second of training steps, or `None`."""
        seconds = self.train_before + self.train_seconds
        images = self.images_before + self.trained_images
        return images / seconds if seconds else None

    def commit(self):
        """Sets the variables to the totals until now, for a checkpoint."""
        totals = self.variables
        totals["wall_seconds"].assign(self.wall_seconds())
        totals["train_seconds"].assign(self.train_before + self.train_seconds)
        totals["trained_images"].assign(
            self.images_before + self.trained_images
        )


class EpochCheckpoint(keras.callbacks.Callback):
    """Commits each finished epoch: model, optimizer and the run's counters.

    They are saved by a `tf.train.CheckpointManager` at the end of the
    epoch. Place it after the callbacks that write the epoch's log rows:
    a checkpoint then always comes after its epoch's rows.

    Args:
        model: the model to save and restore.
        optimizer: the optimizer to save and restore.
        directory: where this process saves its checkpoints.
        max_to_keep: checkpoints kept.
        session: the `RunSession` whose totals are saved with each epoch
            and restored (default: a new one).

    Attributes:
        epoch: `tf.Variable`, the number of committed epochs.
        session: the `RunSession`.
    """

    def __init__(
        self, model, optimizer, directory, max_to_keep=1, *, session=None
    ):
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.session = session or RunSession()
        self.checkpoint = tf.train.Checkpoint(
            model=model,
            optimizer=optimizer,
            epoch=self.epoch,
            **self.session.variables,
        )
        self.directory = directory
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep
        )

    def restore(self, directory=None):
        """Restores the newest checkpoint, if any.

        Restores from `directory` (default: this one's): the model, the
        optimizer, the epoch counter and the session's totals.

        Returns:
            The number of committed epochs (0 if none).

        Raises:
            RunDirectoryError: the checkpoint is damaged (truncated,
                unreadable), saying how to start the run over.
        """
        directory = directory or self.directory
        path = tf.train.latest_checkpoint(directory)
        if path is not None:
            self._restore_from(path)
        return int(self.epoch.numpy())

    def _restore_from(self, path):
        try:
            self.checkpoint.restore(path).assert_existing_objects_matched()
        except (
            tf.errors.OpError,
            ValueError,
            AssertionError,
            IndexError,
            KeyError,
        ) as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else ""
            raise RunDirectoryError(
                f"{path} is damaged ({type(e).__name__}: {first[:120]}): "
                "move the run directory away (or delete it) to start the "
                "run over."
            ) from None

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.assign(epoch + 1)
        self.session.commit()
        self.manager.save(checkpoint_number=epoch + 1)

    def committed_epochs(self):
        """The epochs committed on disk, whatever a failed save left in `epoch`.

        The newest saved checkpoint's number; 0 if none.
        """
        latest = self.manager.latest_checkpoint
        return int(latest.rsplit("-", 1)[1]) if latest else 0


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """Keras's `EarlyStopping` on `val_accuracy`, resumed where a run stopped.

    Its best value and the epochs waited since are taken from the
    committed epochs' accuracies.

    Args:
        patience: epochs without improvement before stopping.
        committed: `val_accuracy` of the epochs committed before.
    """

    def __init__(self, patience, committed=()):
        super().__init__(monitor="val_accuracy", mode="max", patience=patience)
        self.committed = [v for v in committed if v is not None]

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        if self.committed:
            best = max(self.committed)
            self.best = best
            self.wait = len(self.committed) - 1 - self.committed.index(best)
            if self.wait >= self.patience:  # it had stopped before a kill
                self.model.stop_training = True


class HistoryLogger(keras.callbacks.CSVLogger):
    """Keras's `CSVLogger` with columns fixed in advance.

    Rows of epochs that lack a value (statistics measured every few
    epochs) get an empty cell, and every row has as many fields as the
    header.

    Args:
        filename: the CSV file, appended to.
        columns: the column names after `epoch`.
    """

    def __init__(self, filename, columns):
        super().__init__(filename, append=True)
        self.columns = list(columns)

    def on_train_begin(self, logs=None):
        super().on_train_begin(logs)
        self.keys = list(self.columns)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        row = {k: logs.get(k) for k in self.columns}
        super().on_epoch_end(
            epoch, {k: "" if v is None else v for k, v in row.items()}
        )
        os.fsync(self.csv_file.fileno())
