"""The callbacks that commit a run's epochs.

`EpochCheckpoint` saves each finished epoch with a
`tf.train.CheckpointManager`, with the run's time and image totals
(`RunSession`); `HistoryLogger` is Keras's `CSVLogger` with fixed
columns; `ResumableEarlyStopping` is Keras's `EarlyStopping` that
carries on where a resumed run stopped. The runner
(`bnorder_tf.training.runner`) orders them so that an epoch's rows are
written before its checkpoint.
"""

import os
import time

import keras
import tensorflow as tf

from bnorder_tf.training.run_dir import RunDirectoryError


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

    Attributes:
        epoch: `tf.Variable`, the number of committed epochs.
        wall_seconds: `tf.Variable`, the run's wall-clock seconds over all
            its sessions up to the last commit.
        train_seconds: `tf.Variable`, the run's training seconds over all
            its sessions up to the last commit.
        trained_images: `tf.Variable`, the images the run trained on over
            all its sessions up to the last commit.
    """

    def __init__(self, model, optimizer, directory, max_to_keep=1):
        super().__init__()
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.wall_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.train_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False)
        self.trained_images = tf.Variable(0, dtype=tf.int64, trainable=False)
        self.checkpoint = tf.train.Checkpoint(
            model=model,
            optimizer=optimizer,
            epoch=self.epoch,
            wall_seconds=self.wall_seconds,
            train_seconds=self.train_seconds,
            trained_images=self.trained_images,
        )
        self.directory = directory
        self.manager = tf.train.CheckpointManager(
            self.checkpoint, directory, max_to_keep=max_to_keep
        )
        #: This session's timer and counters (`RunSession`), started by
        #: `restore` from the totals it restored.
        self.session = None

    def restore(self, directory=None):
        """Restores the newest checkpoint and starts this session's timer.

        Restores from `directory` (default: this one's) and starts
        `session` from the totals restored, so that they cover every
        session of the run.

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
        self.session = RunSession(self)
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
        if self.session is not None:
            self.session.update_totals(self)
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


class RunSession:
    """Time and images of this session, added to the checkpoint's totals.

    The totals are restored from the checkpoint, so the summary covers
    every session of a run.
    """

    def __init__(self, checkpoint):
        self.started = time.time()
        self.wall_before = float(checkpoint.wall_seconds.numpy())
        self.train_before = float(checkpoint.train_seconds.numpy())
        self.images_before = int(checkpoint.trained_images.numpy())
        self.train_seconds = 0.0
        self.trained_images = 0

    def wall_seconds(self):
        return self.wall_before + time.time() - self.started

    def update_totals(self, checkpoint):
        checkpoint.wall_seconds.assign(self.wall_seconds())
        checkpoint.train_seconds.assign(self.train_before + self.train_seconds)
        checkpoint.trained_images.assign(
            self.images_before + self.trained_images
        )

    def images_per_second(self):
        seconds = self.train_before + self.train_seconds
        images = self.images_before + self.trained_images
        return images / seconds if seconds else None


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
