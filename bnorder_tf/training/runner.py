"""The runner: one training loop for every strategy, resumable runs.

`run_training(config)` trains one model as the paper did (SGD with
momentum, the learning rate multiplied by `lr_decay` at each milestone,
weight decay in the regularizers) and leaves a self-describing run
directory (see `bnorder_tf.training.run_dir`). Its steps come from the
step engine (`bnorder_tf.training.steps`), whose compiled steps call
`strategy.run` on a distributed dataset, so one-device, mirrored and
multi-worker training share them (Keras's `fit` fails under
MultiWorkerMirroredStrategy in Keras 3). The summary
(`run_dir.run_summary`) is built from the epochs' logs kept in memory.
It drives the usual Keras callbacks (`CSVLogger`, `TensorBoard`,
`ActivationStatsCallback`) and the progress (`EpochProgress`) and
commits each epoch with a `tf.train.CheckpointManager` after its log
rows (`EpochCheckpoint`). A fault becomes one line in
`bnorder_tf.training.faults`.

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
from bnorder_tf.choices import DATASETS
from bnorder_tf.data.replicas import distribute_dataset, release_in_background
from bnorder_tf.data.sources import USER_PREFIX
from bnorder_tf.data.user import UserData, as_user_data, user_source
from bnorder_tf.errors import ConfigError
from bnorder_tf.models import build_model
from bnorder_tf.stats import ActivationStatsCallback
from bnorder_tf.stats.metrics import MODEL_KEYS
from bnorder_tf.training.callbacks import (
    EpochCheckpoint,
    HistoryLogger,
    ResumableEarlyStopping,
    RunSession,
)
from bnorder_tf.training.config import TrainConfig
from bnorder_tf.training.distribute import (
    check_global_batch,
    get_strategy,
    is_chief,
)
from bnorder_tf.training.faults import FAULTS, diverged_error, fault_error
from bnorder_tf.training.progress import EpochProgress
from bnorder_tf.training.run_dir import (
    CHECKPOINT_DIR,
    DATA_FILE,
    HISTORY_FILE,
    MODEL_FILE,
    SUMMARY_FILE,
    DirectoryLock,
    check_resumable,
    check_run_paths,
    data_record,
    dumps_strict,
    evaluation_split,
    history_columns,
    last_stats_record,
    last_value,
    read_data_record,
    read_history,
    run_summary,
    truncate_logs,
    write_atomically,
    write_config,
)
from bnorder_tf.training.steps import Trainer, make_optimizer


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
    one example at a time or batched, or a `bnorder_tf.data.UserData` that
    also gives the number of classes, the input shape or the class names
    (otherwise inferred: the largest label plus one, the images'
    `element_spec`). The trainer measures their normalisation on `train`
    once (recorded in the run's `data.json` and reused on resume),
    shuffles and augments them as the built-in datasets, and the run
    records its dataset as `user:<name>` (`UserData.name`, default
    `user`) in place of `config.dataset`.

    Resume with your own data: rerun the same call. The model, optimizer,
    epoch and logs always resume; the remaining epochs see the batches an
    uninterrupted run would have seen if your datasets yield the same
    examples in the same order each time they are iterated (no unseeded
    shuffle or random map of their own: the trainer shuffles with
    `config.seed` and the epoch).

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
    user = None
    if data is not None:
        user = as_user_data(data)
        if not config.dataset.startswith(USER_PREFIX):
            config = dataclasses.replace(
                config, dataset=f"{USER_PREFIX}{user.name}"
            )
    check_run_paths(config)
    check_resumable(config)
    strategy = strategy_override or get_strategy(
        config.strategy, devices=list(config.devices) or None
    )
    check_global_batch(config.batch_size, strategy)
    train_data, test_data = datasets_override or _load_data(config, user)
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
        self.steps_per_epoch = _steps_per_epoch(config, train_data)
        self.chief = is_chief(strategy)
        self.write_dir = None
        self.test_batches = test_data.dataset
        if config.eval_steps:
            self.test_batches = self.test_batches.take(config.eval_steps)

    @contextlib.contextmanager
    def claim_directory(self):
        """Locks the run directory (the chief) or makes a temporary one."""
        run_dir = self.config.run_dir
        if not self.chief:
            self.write_dir = tempfile.mkdtemp(prefix="bnorder_worker_")
            try:
                yield
            finally:
                shutil.rmtree(self.write_dir, ignore_errors=True)
            return
        self.write_dir = run_dir
        with DirectoryLock(run_dir, "run"):
            check_resumable(self.config)  # again, now that the run is ours
            write_config(run_dir, self.config)
            write_atomically(
                os.path.join(run_dir, DATA_FILE),
                dumps_strict(
                    data_record(self.config, self.train_data, self.test_data),
                    indent=2,
                ),
            )
            yield

    def train(self):
        """Builds or resumes the model, trains it and finishes the run."""
        model, optimizer = _build(
            self.config, self.strategy, self.train_data, self.steps_per_epoch
        )
        trainer = Trainer(
            model,
            optimizer,
            self.strategy,
            self.config.batch_size,
            jit_compile=self.config.jit_compile,
        )
        session = RunSession()
        checkpoint, initial_epoch, history, last_stats = self._resume(
            model, optimizer, session
        )
        epochs = _Epochs(self, trainer, checkpoint, history, session)
        if self.verbose:
            _announce(self, initial_epoch)
        try:
            diverged = epochs.run(range(initial_epoch, self.config.epochs))
            session.stop()
            measured = epochs.stats.last_result if epochs.stats else None
            last_stats = last_stats if measured is None else measured
            summary = self._finish(
                model, history, last_stats, session, diverged
            )
            epochs.callbacks.on_train_end()
        except FAULTS as e:
            raise fault_error(
                e,
                committed=checkpoint.committed_epochs(),
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
        return RunResult(model, summary, self.config.run_dir)

    def _resume(self, model, optimizer, session):
        """Restores the last committed epoch, if any.

        Returns:
            `(checkpoint, initial_epoch, history, last_stats)`: the
            `EpochCheckpoint`, the number of committed epochs, their
            `history.csv` rows by column and their last `stats.jsonl`
            record, read once: this session's are kept in memory as they
            are committed, and the summary is built from them.
        """
        checkpoint = EpochCheckpoint(
            model,
            optimizer,
            os.path.join(self.write_dir, CHECKPOINT_DIR),
            session=session,
        )
        run_dir = self.config.run_dir
        # every worker resumes from the chief's checkpoint
        initial_epoch = checkpoint.restore(
            os.path.join(run_dir, CHECKPOINT_DIR)
        )
        session.start()  # on top of the totals restored
        if self.chief:
            truncate_logs(self.write_dir, initial_epoch)
        history = read_history(os.path.join(run_dir, HISTORY_FILE))
        last_stats = last_stats_record(self.write_dir)
        return checkpoint, initial_epoch, history, last_stats

    def _finish(self, model, history, last_stats, session, diverged_epoch):
        """Saves and exports a model that did not diverge, then the summary.

        The summary is written last: a summary marks a finished run. Its
        wall time ends with the training, before the model is saved.
        """
        export_path = None
        if diverged_epoch is None:
            model.save(os.path.join(self.write_dir, MODEL_FILE))
            accuracy = last_value(history, "val_accuracy")
            export_path = _export(
                self.config, model, self.test_data, accuracy, self.chief
            )
        summary = run_summary(
            self.config,
            history,
            last_stats,
            session,
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
    """The epoch loop: trains, evaluates and commits each epoch.

    An epoch is committed by its callbacks, in this order: the statistics
    (appended to `stats.jsonl`), the history row, TensorBoard, early
    stopping, and the checkpoint last, so that a checkpoint always comes
    after its epoch's rows. An epoch whose statistics are measured takes
    its evaluation from the statistics pass (one read of the evaluation
    set for both); the other epochs evaluate alone.

    Args:
        run: the `_Run`.
        trainer: its `Trainer`.
        checkpoint: its `EpochCheckpoint`, restored.
        history: dict from column to values of the committed epochs;
            each epoch's logs are appended once its callbacks ran.
        session: the `RunSession`, to which each epoch's training is
            added.
    """

    def __init__(self, run, trainer, checkpoint, history, session):
        self.run_state = run
        self.trainer = trainer
        self.checkpoint = checkpoint
        self.history = history
        self.session = session
        callbacks = _callbacks(run, checkpoint, history)
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

    def run(self, epochs):
        """Trains and commits `epochs` (a range).

        Returns:
            The epoch in which the loss became NaN or infinite (training
            stopped there, that epoch uncommitted), or `None`.
        """
        model = self.trainer.model
        model.stop_training = False
        self.callbacks.on_train_begin()
        for epoch in epochs:
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
        run, trainer = self.run_state, self.trainer
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


def _announce(run, initial_epoch):
    config = run.config
    print(
        f"bnorder_tf: {config.model} ({config.order}, "
        f"{config.activation}, width {config.width:g}) on "
        f"{config.dataset} from {run.train_data.location}, strategy "
        f"{config.strategy} with {run.strategy.num_replicas_in_sync} "
        f"replica(s); run directory {config.run_dir}",
        flush=True,
    )
    if initial_epoch:
        print(f"Resuming after epoch {initial_epoch}.", flush=True)


def _epoch_batches(train_data, epoch, steps_per_epoch):
    make = train_data.for_epoch
    dataset = make(epoch) if make else train_data.dataset
    return dataset.take(steps_per_epoch)


def _load_data(config, user=None):
    """The training split and the evaluation split (`_evaluation_split`).

    Both come from one source, so that the normalisation of a `tfds:`,
    `folder:` or user dataset is measured once; a resumed run reuses the
    one its `data.json` recorded.
    """
    preprocessing = None
    record = read_data_record(config.run_dir)
    if (
        record is not None
        and record.get("dataset") == config.dataset
        and config.dataset not in DATASETS
    ):
        preprocessing = data_lib.Preprocessing.from_config(
            record["preprocessing"]
        )
    if user is not None:
        source = user_source(user, preprocessing)
    else:
        source = data_lib.get_source(
            config.dataset,
            config.data_dir,
            image_size=config.image_size,
            preprocessing=preprocessing,
        )
    load = dict(
        batch_size=config.batch_size,
        seed=config.seed,
        validation_examples=config.validation_examples,
    )
    return (
        data_lib.load(source, "train", **load),
        data_lib.load(source, evaluation_split(config), **load),
    )


def _steps_per_epoch(config, train_data):
    steps = train_data.num_examples // config.batch_size
    if config.steps_per_epoch:
        steps = min(steps, config.steps_per_epoch)
    if steps < 1:
        raise ConfigError(
            f"{config.dataset} has {train_data.num_examples} training "
            f"examples, fewer than one batch of {config.batch_size}: lower "
            "--batch_size."
        )
    return steps


#: Keras's dtype policy for each `--mixed_precision`.
_POLICIES = {
    "none": "float32",
    "float16": "mixed_float16",
    "bfloat16": "mixed_bfloat16",
}


def _build(config, strategy, train_data, steps_per_epoch):
    """The model and its built optimizer, under the strategy's scope."""
    keras.utils.set_random_seed(config.seed)
    keras.mixed_precision.set_global_policy(_POLICIES[config.mixed_precision])
    with strategy.scope():
        model = build_model(
            config.model,
            order=config.order,
            activation=config.activation,
            num_classes=train_data.num_classes,
            input_shape=train_data.input_shape,
            width=config.width,
            weight_decay=config.weight_decay,
            bn_gamma_decay=config.bn_gamma_decay,
            bn_beta_decay=config.bn_beta_decay,
            fc_bn=config.fc_bn_value,
            kernel_initializer=config.kernel_initializer,
            bn_synchronized=(
                config.sync_bn and strategy.num_replicas_in_sync > 1
            ),
        )
        optimizer = make_optimizer(config, steps_per_epoch)
        optimizer.build(model.trainable_variables)
        model.optimizer = optimizer
    return model, optimizer


def _callbacks(run, checkpoint, history):
    """The run's callbacks, in the order an epoch is committed.

    The statistics (appended to stats.jsonl), the history row,
    TensorBoard, early stopping (given the committed epochs' accuracies),
    and the checkpoint last.
    """
    config, write_dir = run.config, run.write_dir
    callbacks = []
    if config.stats_every:
        callbacks.append(
            ActivationStatsCallback(
                run.test_batches,
                every=config.stats_every,
                log_dir=write_dir,
                gradient_dataset=run.train_data.dataset.take(
                    run.steps_per_epoch
                ),
                gradient_batches=config.gradient_batches,
                histogram_bins=config.histogram_bins,
                histogram_every=config.histogram_every,
                averaged_blocks=_averaged_blocks(config, run.train_data),
                write_files=run.chief,
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
            ResumableEarlyStopping(
                config.early_stopping, history.get("val_accuracy", [])
            )
        )
    return callbacks + [checkpoint]  # last: the epoch's rows are written


def _averaged_blocks(config, train_data):
    """`config.averaged_blocks`, with `auto` decided by the input size.

    For a dataset that is not built in, as the paper's choice for the
    built-in ones: conv blocks only above 32x32 inputs (where VGG's FC
    blocks have no BN), all blocks otherwise.
    """
    if config.model_stats_blocks != "auto" or config.dataset in DATASETS:
        return config.averaged_blocks
    return "conv" if max(train_data.input_shape[:2]) > 32 else "all"


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
