"""The runner: the epoch loop of every strategy, resumable runs.

`run_training(config)` trains one model as the paper did (SGD with
momentum, the learning rate multiplied by `lr_decay` at each milestone,
weight decay in the regularizers) and leaves a self-describing run
directory (`bnorder_tf.training.run_dir`). Its compiled steps
(`bnorder_tf.training.steps`) call `strategy.run` on a distributed
dataset, so one-device, mirrored and multi-worker training share them
(Keras's `fit` fails under MultiWorkerMirroredStrategy in Keras 3). The
data and the model come from `prepare`, the callbacks that commit each
epoch from `callbacks`, the one-line errors from `faults`; the summary
is built from the epochs' logs kept in memory.

Faults it survives: a kill at any instant (rerun the command: it resumes
after the last committed epoch, with the data order an uninterrupted run
would have had), a second process on the same run (refused), a loss that
becomes NaN or infinite (the run ends as `"status": "diverged"`).
"""

import contextlib
import dataclasses
import math
import os
import shutil
import tempfile
import time

import keras
import tensorflow as tf

from bnorder_tf import data as data_lib
from bnorder_tf.data.replicas import distribute_dataset, release_in_background
from bnorder_tf.data.user import UserData
from bnorder_tf.stats import ActivationStatsCallback
from bnorder_tf.training import prepare
from bnorder_tf.training.callbacks import (
    EpochCheckpoint,
    RunSession,
    epoch_callbacks,
)
from bnorder_tf.training.config import TrainConfig
from bnorder_tf.training.distribute import (
    check_global_batch,
    get_strategy,
    is_chief,
)
from bnorder_tf.training.faults import FAULTS, diverged_error, fault_error
from bnorder_tf.training.progress import EpochProgress, announce
from bnorder_tf.training.run_dir import (
    CHECKPOINT_DIR,
    HISTORY_FILE,
    MODEL_FILE,
    SUMMARY_FILE,
    check_resumable,
    check_run_paths,
    claim_run_directory,
    data_record,
    dumps_strict,
    evaluation_split,
    last_stats_record,
    last_value,
    read_history,
    run_summary,
    truncate_logs,
    write_atomically,
)


@dataclasses.dataclass(frozen=True)
class RunResult:
    """What `run_training` returns.

    Attributes:
        model: the trained `keras.Model` (also saved as `model.keras` in
            the run directory, and exported, unless it diverged).
        summary: the dict written to `summary.json`.
        run_dir: the run directory.
    """

    model: keras.Model
    summary: dict
    run_dir: str


def run_training(
    config: TrainConfig,
    *,
    data: tuple[tf.data.Dataset, tf.data.Dataset] | UserData | None = None,
    datasets_override: tuple[data_lib.LoadedData, data_lib.LoadedData]
    | None = None,
    strategy_override: tf.distribute.Strategy | None = None,
    verbose: int = 1,
) -> RunResult:
    """Trains, evaluates, measures and exports one model.

    Re-running the same config resumes from the last committed epoch.
    Everything the user gave is checked before anything is written: the
    paths, the run directory (finished, or started with other settings),
    the devices and the data.

    The data is `config.dataset` (a built-in name, `tfds:<name>` or
    `folder:<path>`), or your own `tf.data` datasets given as `data`:
    `(train, test)` datasets of `(uint8 image [H, W, C], integer label)`,
    or a `bnorder_tf.data.UserData`, whose docstring says what the
    trainer does with them and what resuming guarantees. The run records
    its dataset as `user:<name>` (`UserData.name`, default `user`).

    Args:
        config: a `TrainConfig`.
        data: optional `(train, test)` pair of `tf.data.Dataset`, or a
            `UserData`: your own data in place of `config.dataset`.
        datasets_override: optional `(train, test)` pair of `LoadedData`,
            pipelines already built (tests pass small data here).
        strategy_override: optional `tf.distribute.Strategy`.
        verbose: 0 (silent) or 1 (progress bar and a start line).

    Returns:
        A `RunResult`: the trained model, the summary written to
        `summary.json` and the run directory.

    Raises:
        RunDirectoryError: the run already finished, differs, or has a
            damaged checkpoint.
        RunInUseError: another process trains this run.
        TrainingDivergedError: the loss became NaN or infinite; the
            summary records `"status": "diverged"`, nothing is exported.
        ConfigError, DatasetNotAvailableError: bad settings or data.

    Example:
    One epoch of a small VGG on 64 random 16x16 images of 3 classes (a
    real run trains for `config.epochs` on real images):

    >>> import tempfile
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> images = rng.integers(0, 256, (64, 16, 16, 3), dtype=np.uint8)
    >>> labels = rng.integers(0, 3, 64)
    >>> train = tf.data.Dataset.from_tensor_slices((images, labels))
    >>> test = train.take(32)
    >>> workdir = tempfile.TemporaryDirectory()
    >>> config = TrainConfig(model="vgg16_8", width=0.0625, epochs=1,
    ...                      batch_size=16, lr_milestones=(1,),
    ...                      histogram_bins=0, model_dir=workdir.name + "/runs",
    ...                      export_dir=workdir.name + "/savedmodels",
    ...                      run_name="mine")
    >>> result = run_training(config, data=(train, test), verbose=0)
    >>> result.summary["dataset"], result.summary["num_classes"]
    ('user:user', 3)
    >>> workdir.cleanup()
    """
    if data is not None and datasets_override is not None:
        raise TypeError("Give data or datasets_override, not both.")
    config, user = prepare.user_data(config, data)
    check_run_paths(config)
    check_resumable(config)
    strategy = strategy_override or get_strategy(
        config.strategy, devices=list(config.devices) or None
    )
    check_global_batch(config.batch_size, strategy)
    train_data, test_data = datasets_override or prepare.load_data(config, user)
    run = _Run(config, strategy, train_data, test_data, verbose)
    with run.claim_directory():
        return run.train()


class _Run:
    """One training run's state, from its directories to its summary.

    Attributes:
        config: the `TrainConfig`.
        strategy: the `tf.distribute.Strategy`.
        train_data: `LoadedData` of training.
        test_data: `LoadedData` of evaluation.
        test_batches: the evaluation batches (`--eval_steps` of them).
        verbose: 0 or 1.
        steps_per_epoch: training steps per epoch.
        chief: whether this process writes the run directory.
        write_dir: where this process writes (the run directory, or a
            temporary directory on a worker that is not the chief).
    """

    def __init__(self, config, strategy, train_data, test_data, verbose):
        self.config = config
        self.strategy = strategy
        self.train_data = train_data
        self.test_data = test_data
        self.verbose = verbose
        self.steps_per_epoch = prepare.steps_per_epoch(config, train_data)
        self.chief = is_chief(strategy)
        self.write_dir = None
        self.test_batches = test_data.dataset
        if config.eval_steps:
            self.test_batches = self.test_batches.take(config.eval_steps)

    @contextlib.contextmanager
    def claim_directory(self):
        """Takes the run directory (`run_dir.claim_run_directory`)."""
        record = data_record(self.config, self.train_data, self.test_data)
        with claim_run_directory(self.config, self.chief, record) as where:
            self.write_dir = where
            yield

    def train(self):
        """Builds or resumes the model, trains it and finishes the run."""
        trainer = prepare.build_trainer(
            self.config, self.strategy, self.train_data, self.steps_per_epoch
        )
        epochs = _Epochs(self, trainer)
        if self.verbose:
            announce(
                self.config,
                self.train_data.location,
                self.strategy.num_replicas_in_sync,
                epochs.initial_epoch,
            )
        try:
            diverged = epochs.train_remaining()
            summary = self._finish(epochs, diverged)
            epochs.callbacks.on_train_end()
        except FAULTS as e:
            raise fault_error(
                e,
                committed=epochs.checkpoint.committed_epochs(),
                epochs=self.config.epochs,
                write_dir=self.write_dir,
                strategy=self.strategy,
            ) from None
        shutil.rmtree(
            os.path.join(self.write_dir, CHECKPOINT_DIR), ignore_errors=True
        )
        if diverged is not None:
            summary_path = os.path.join(self.config.run_dir, SUMMARY_FILE)
            raise diverged_error(diverged, summary_path)
        return RunResult(trainer.model, summary, self.config.run_dir)

    def _finish(self, epochs, diverged_epoch):
        """Saves and exports a model that did not diverge, then the summary.

        The summary is written last: a summary marks a finished run. Its
        wall time ends with the training, before the model is saved.
        """
        epochs.session.stop()
        model = epochs.trainer.model
        export_path = None
        if diverged_epoch is None:
            model.save(os.path.join(self.write_dir, MODEL_FILE))
            accuracy = last_value(epochs.history, "val_accuracy")
            export_path = _export(
                self.config, model, self.test_data, accuracy, self.chief
            )
        summary = run_summary(
            self.config,
            epochs.history,
            epochs.last_stats(),
            epochs.session,
            replicas=self.strategy.num_replicas_in_sync,
            data_location=self.train_data.location,
            diverged_epoch=diverged_epoch,
            data=self.train_data,
            export_path=export_path,
        )
        write_atomically(
            os.path.join(self.write_dir, SUMMARY_FILE),
            dumps_strict(summary, indent=2),
        )
        return summary


class _Epochs:
    """The epoch loop: resumes, then trains, evaluates and commits epochs.

    An epoch is committed by its callbacks (`epoch_callbacks`). An epoch
    whose statistics are measured takes its evaluation from the
    statistics pass (one read of the evaluation set for both); the other
    epochs evaluate alone. The committed epochs' logs are read once, on
    resume; this session's are kept in memory as they are committed.

    Attributes:
        run: the `_Run`.
        trainer: its `Trainer`.
        session: the `RunSession`: the run's time and images.
        checkpoint: the `EpochCheckpoint`, restored.
        initial_epoch: the epochs committed before this session.
        history: dict from `history.csv` column to the committed epochs'
            values.
        stats: the `ActivationStatsCallback`, or `None`.
        callbacks: the `keras.callbacks.CallbackList`.
    """

    def __init__(self, run, trainer):
        self.run = run
        self.trainer = trainer
        self.session = RunSession()
        self.checkpoint = EpochCheckpoint(
            trainer.model,
            trainer.optimizer,
            os.path.join(run.write_dir, CHECKPOINT_DIR),
            session=self.session,
        )
        self._resume()
        callbacks = epoch_callbacks(
            run.config,
            run.write_dir,
            self.checkpoint,
            committed_accuracies=self.history.get("val_accuracy", []),
            stats_dataset=run.test_batches,
            gradient_dataset=run.train_data.dataset.take(run.steps_per_epoch),
            averaged_blocks=prepare.averaged_blocks(run.config, run.train_data),
            write_files=run.chief,
        )
        self.stats = next(
            (c for c in callbacks if isinstance(c, ActivationStatsCallback)),
            None,
        )
        if run.verbose:
            callbacks.append(
                EpochProgress(
                    run.config.epochs,
                    run.steps_per_epoch,
                    current_logs=trainer.train_metrics.result,
                )
            )
        self.callbacks = keras.callbacks.CallbackList(
            callbacks,
            add_history=True,
            add_progbar=False,
            model=trainer.model,
            verbose=run.verbose,
            epochs=run.config.epochs,
            steps=run.steps_per_epoch,
        )
        self.distributed_test = trainer.distribute_eval(run.test_batches)

    def _resume(self):
        """Restores the last committed epoch, if any, and reads its logs.

        Every worker restores the chief's checkpoint; the chief cuts its
        logs back to the committed epochs.
        """
        run_dir, write_dir = self.run.config.run_dir, self.run.write_dir
        self.initial_epoch = self.checkpoint.restore(
            os.path.join(run_dir, CHECKPOINT_DIR)
        )
        self.session.start()  # on top of the totals restored
        if self.run.chief:
            truncate_logs(write_dir, self.initial_epoch)
        self.history = read_history(os.path.join(run_dir, HISTORY_FILE))
        self._resumed_stats = last_stats_record(write_dir)

    def last_stats(self):
        """The last statistics record: this session's, else the resumed one."""
        measured = self.stats.last_result if self.stats else None
        return self._resumed_stats if measured is None else measured

    def train_remaining(self):
        """Trains and commits the epochs after `initial_epoch`.

        Returns:
            The epoch in which the loss became NaN or infinite (training
            stopped there, that epoch uncommitted), or `None`.
        """
        model = self.trainer.model
        model.stop_training = False
        self.callbacks.on_train_begin()
        for epoch in range(self.initial_epoch, self.run.config.epochs):
            if model.stop_training:  # early stopping, before or after resume
                break
            self.callbacks.on_epoch_begin(epoch)
            logs = self._train(epoch)
            # a NaN or infinite loss is found here, once per epoch, rather
            # than read back after every step
            if not _finite(logs):
                return epoch
            evaluation = self._evaluate(epoch)
            logs.update({f"val_{k}": v for k, v in evaluation.items()})
            if not _finite(logs):
                return epoch
            logs["learning_rate"] = float(self.trainer.optimizer.learning_rate)
            self.callbacks.on_epoch_end(epoch, logs)
            row = {"epoch": epoch, **logs}
            for key in set(self.history) | set(row):
                column = self.history.setdefault(key, [None] * epoch)
                column.append(row.get(key))
        return None

    def _train(self, epoch):
        """One epoch's training steps; returns its loss and accuracy."""
        run, trainer = self.run, self.trainer
        dataset = _epoch_batches(run.train_data, epoch, run.steps_per_epoch)
        # the only reference, so that its release can wait off this thread
        iterators = [iter(distribute_dataset(run.strategy, dataset))]
        trainer.train_metrics.reset_state()
        start = time.perf_counter()
        steps = run.steps_per_epoch
        for first, count in _executions(steps, run.config.steps_per_execution):
            self.callbacks.on_train_batch_begin(first)
            if count == 1:
                trainer.train_step(iterators[0])
            else:
                trainer.train_steps(iterators[0], tf.constant(count))
            # no logs: Keras's CallbackList would read every one back from
            # the device before calling the callbacks, a host round trip
            # per step (the progress bar reads the metrics when it redraws)
            self.callbacks.on_train_batch_end(first + count - 1)
        release_in_background(iterators)
        logs = {k: float(v) for k, v in trainer.train_metrics.result().items()}
        self.session.add_training(
            seconds=time.perf_counter() - start,
            images=steps * trainer.global_batch_size,
        )
        return logs

    def _evaluate(self, epoch):
        """Loss and accuracy on the evaluation set.

        On a measured epoch they come from the statistics pass (one read
        of the set for both).
        """
        if self.stats is not None and self.stats.should_measure(epoch):
            return self.stats.measure(epoch).evaluation
        return self.trainer.evaluate(self.distributed_test)


def _finite(logs):
    return all(math.isfinite(v) for v in logs.values())


def _epoch_batches(train_data, epoch, steps_per_epoch):
    make = train_data.for_epoch
    dataset = make(epoch) if make else train_data.dataset
    return dataset.take(steps_per_epoch)


def _executions(steps, steps_per_execution):
    """`(first step, steps)` of each compiled call of an epoch.

    Calls of `steps_per_execution` steps, the last one shorter if need be.
    """
    for first in range(0, steps, steps_per_execution):
        yield first, min(steps_per_execution, steps - first)


def _export(config, model, test_data, accuracy, chief):
    """Exports the model as the next version of `savedmodels/<run name>/`.

    Its metadata records the run's flags and final `accuracy`. A worker
    that is not the chief exports to a temporary directory, which it
    removes.

    Returns:
        The version's directory, or `None` on a worker not the chief.
    """
    from bnorder_tf.serving.export import export_savedmodel

    export_dir = config.export_dir if chief else tempfile.mkdtemp()
    path = export_savedmodel(
        model,
        export_dir,
        config.resolved_run_name,
        preprocessing=test_data.preprocessing,
        class_names=test_data.class_names,
        metadata={
            "flags": config.to_flags().splitlines(),
            f"{evaluation_split(config)}_accuracy": accuracy,
        },
    )
    if chief:
        return path
    shutil.rmtree(export_dir, ignore_errors=True)
    return None


__all__ = ["RunResult", "run_training"]
