"""The runner: one training loop for every strategy, resumable runs.

`run(config)` trains one model as the paper did (SGD with momentum, the
learning rate multiplied by `lr_decay` at each milestone, weight decay in
the regularizers) and leaves a self-describing run directory
(see `bnorder_tf.run_dir`). Its steps come from the step engine
(`bnorder_tf.steps`), whose compiled steps call `strategy.run` on a
distributed dataset, so one-device, mirrored and multi-worker training
share them (Keras's `fit` fails under MultiWorkerMirroredStrategy in
Keras 3). The summary is built from the epochs' logs kept in memory. It
drives the usual Keras
callbacks (`CSVLogger`, `TensorBoard`, `ActivationStatsCallback`) and
the progress (`EpochProgress`) and commits each epoch with a
`tf.train.CheckpointManager` after its log rows (`EpochCheckpoint`).

Faults it survives: a kill at any instant (rerun the command: it resumes
after the last committed epoch, with the data order an uninterrupted run
would have had), a second process on the same run (refused), a loss that
becomes NaN or infinite (the run ends as `"status": "diverged"`).
"""

import errno
import math
import os
import shutil
import tempfile
import time

import keras
import tensorflow as tf

from bnorder_tf import data as data_lib
from bnorder_tf.distribute import (
    check_global_batch,
    distribute_dataset,
    get_strategy,
    is_chief,
    release_in_background,
)
from bnorder_tf.errors import (
    INTERRUPT_EXIT,
    ConfigError,
    Interrupted,
    TrainingDivergedError,
    WriteError,
)
from bnorder_tf.models import build_model
from bnorder_tf.progress import EpochProgress
from bnorder_tf.run_callbacks import (
    EpochCheckpoint,
    HistoryLogger,
    ResumableEarlyStopping,
    RunSession,
)
from bnorder_tf.run_dir import (
    CHECKPOINT_DIR,
    DIVERGED,
    FINISHED,
    HISTORY_FILE,
    MODEL_FILE,
    SUMMARY_FILE,
    DirectoryLock,
    RunDirectoryError,
    check_resumable,
    check_run_paths,
    dumps_strict,
    history_columns,
    last_stats_record,
    read_history,
    truncate_logs,
    write_atomically,
    write_config,
)
from bnorder_tf.stats import ActivationStatsCallback
from bnorder_tf.stats.metrics import (
    LAYER_COUNT_KEYS,
    LAYER_VALUE_KEYS,
    MODEL_KEYS,
)
from bnorder_tf.steps import Trainer, make_optimizer


def run(config, datasets_override=None, strategy_override=None, verbose=1):
    """Trains, evaluates, measures and exports one model.

    Re-running the same config resumes from the last committed epoch.
    Arguments as for `train`.

    Returns:
        The summary dict written to `summary.json`.
    """
    return train(config, datasets_override, strategy_override, verbose)[1]


def train(config, datasets_override=None, strategy_override=None, verbose=1):
    """`run`, returning the trained model as well.

    Everything the user gave is checked before anything is written: the
    paths, the run directory (finished, or started with other settings),
    the devices and the data.

    Args:
        config: a `TrainConfig`.
        datasets_override: optional `(train, test)` pair of `LoadedData`
            (tests pass small data here).
        strategy_override: optional `tf.distribute.Strategy`.
        verbose: 0 (silent) or 1 (progress bar and a start line).

    Returns:
        `(model, summary)`: the trained Keras model and the summary dict
        written to `summary.json`.

    Raises:
        RunDirectoryError: the run already finished, differs, or has a
            damaged checkpoint.
        RunInUseError: another process trains this run.
        TrainingDivergedError: the loss became NaN or infinite; the
            summary records `"status": "diverged"`, nothing is exported.
        ConfigError, DatasetNotAvailableError: bad settings or data.
    """
    check_run_paths(config)
    check_resumable(config)
    strategy = strategy_override or get_strategy(
        config.strategy, devices=list(config.devices) or None
    )
    check_global_batch(config.batch_size, strategy)
    train_data, test_data = datasets_override or _load_data(config)
    steps_per_epoch = _steps_per_epoch(config, train_data)
    chief = is_chief(strategy)
    run_dir = config.run_dir
    if not chief:
        write_dir = tempfile.mkdtemp(prefix="bnorder_worker_")
        lock = None
    else:
        write_dir = run_dir
        lock = DirectoryLock(run_dir, "run").acquire()
    try:
        if chief:
            check_resumable(config)  # again, now that the run is ours
            write_config(run_dir, config)
        return _train_in(
            config,
            strategy,
            train_data,
            test_data,
            steps_per_epoch,
            chief,
            run_dir,
            write_dir,
            verbose,
        )
    finally:
        if lock is not None:
            lock.release()
        if not chief:
            shutil.rmtree(write_dir, ignore_errors=True)


def _train_in(
    config,
    strategy,
    train_data,
    test_data,
    steps_per_epoch,
    chief,
    run_dir,
    write_dir,
    verbose,
):
    model, optimizer = _build(config, strategy, train_data, steps_per_epoch)
    trainer = Trainer(
        model,
        optimizer,
        strategy,
        config.batch_size,
        jit_compile=config.jit_compile,
    )
    test_batches = test_data.dataset
    if config.eval_steps:
        test_batches = test_batches.take(config.eval_steps)
    checkpoint, initial_epoch, history = _resume(
        model, optimizer, chief, run_dir, write_dir
    )
    session = checkpoint.session
    callbacks = _callbacks(
        config,
        chief,
        write_dir,
        test_batches,
        train_data.dataset.take(steps_per_epoch),
        history.get("val_accuracy", []),
        checkpoint,
    )
    if verbose:
        callbacks.append(
            EpochProgress(
                config.epochs,
                steps_per_epoch,
                current_logs=trainer.train_metrics.result,
            )
        )
    callback_list = keras.callbacks.CallbackList(
        callbacks,
        add_history=True,
        add_progbar=False,
        model=model,
        verbose=verbose,
        epochs=config.epochs,
        steps=steps_per_epoch,
    )
    if verbose:
        _announce(config, strategy, train_data, run_dir, initial_epoch)
    stats_callback = next(
        (c for c in callbacks if isinstance(c, ActivationStatsCallback)), None
    )
    try:
        model.stop_training = False
        callback_list.on_train_begin()
        diverged_epoch = _train_epochs(
            trainer,
            callback_list,
            stats_callback,
            history,
            range(initial_epoch, config.epochs),
            steps_per_epoch,
            config.steps_per_execution,
            session,
            lambda epoch: distribute_dataset(
                strategy, _epoch_batches(train_data, epoch, steps_per_epoch)
            ),
            trainer.distribute_eval(test_batches),
        )
        summary = _summary(
            config,
            history,
            write_dir,
            strategy,
            stats_callback,
            session,
            train_data.location,
            diverged_epoch,
        )
        _finish(config, model, test_data, summary, chief, write_dir)
        callback_list.on_train_end()
    except (KeyboardInterrupt, Interrupted) as e:
        raise _interrupted(
            e, checkpoint.committed_epochs(), config.epochs
        ) from None
    except (OSError, tf.errors.OpError) as e:
        cause = _disk_error_cause(e)
        if cause is None:
            raise  # not the disk's refusal: a bug, with its traceback
        raise WriteError(
            f"writing the run in {write_dir} failed: {cause} "
            f"({getattr(e, 'filename', None) or type(e).__name__}); free "
            "space or fix permissions, then the same command resumes "
            f"after epoch {checkpoint.committed_epochs()}."
        ) from None
    shutil.rmtree(os.path.join(write_dir, CHECKPOINT_DIR), ignore_errors=True)
    if diverged_epoch is not None:
        raise _diverged(diverged_epoch, run_dir)
    return model, summary


#: The errors with which a disk refuses a write.
_DISK_ERRNOS = (
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EFBIG,
)


def _disk_error_cause(error):
    """The OS's words for a write the disk refused (`"No space left on
    device"`), or `None` for any other error. TensorFlow's file errors
    (a checkpoint's `SaveV2`) carry the same words in their message."""
    if isinstance(error, OSError):
        return os.strerror(error.errno) if error.errno in _DISK_ERRNOS else None
    message = str(error)
    for number in _DISK_ERRNOS:
        if os.strerror(number) in message:
            return os.strerror(number)
    return None


def _interrupted(error, committed, epochs):
    """The one-line `Interrupted` for Ctrl-C or SIGTERM, saying where the
    same command resumes (epochs counted from 1, as the progress bar
    does)."""
    exit_code = getattr(error, "exit_code", INTERRUPT_EXIT)
    if committed >= epochs:
        where = (
            "interrupted after the last epoch, while finishing the run; "
            "the same command finishes it (every epoch is committed)."
        )
    elif committed == 0:
        where = (
            f"interrupted in epoch 1/{epochs}; no epoch was committed, so "
            "the same command starts the run again."
        )
    else:
        where = (
            f"interrupted in epoch {committed + 1}/{epochs}; the same "
            f"command resumes after epoch {committed}."
        )
    return Interrupted(where, exit_code)


def _resume(model, optimizer, chief, run_dir, write_dir):
    """Restores the last committed epoch, if any.

    Returns:
        `(checkpoint, initial_epoch, history)`: the `EpochCheckpoint`
        (with this session's `RunSession`), the number of committed epochs,
        and their `history.csv` rows by column, read once: this session's
        rows are added in memory as they are committed, and the summary
        is built from them.
    """
    checkpoint = EpochCheckpoint(
        model, optimizer, os.path.join(write_dir, CHECKPOINT_DIR)
    )
    # every worker resumes from the chief's checkpoint
    initial_epoch = checkpoint.restore(os.path.join(run_dir, CHECKPOINT_DIR))
    checkpoint.session = RunSession(checkpoint)
    if chief:
        truncate_logs(write_dir, initial_epoch)
    history = read_history(os.path.join(run_dir, HISTORY_FILE))
    return checkpoint, initial_epoch, history


def _diverged(epoch, run_dir):
    return TrainingDivergedError(
        f"training diverged in epoch {epoch} (the loss became NaN or "
        f"infinite); {os.path.join(run_dir, SUMMARY_FILE)} records it and "
        "nothing was exported: try a lower --learning_rate."
    )


def _announce(config, strategy, train_data, run_dir, initial_epoch):
    print(
        f"bnorder_tf: {config.model} ({config.order}, "
        f"{config.activation}, width {config.width:g}) on "
        f"{config.dataset} from {train_data.location}, strategy "
        f"{config.strategy} with {strategy.num_replicas_in_sync} "
        f"replica(s); run directory {run_dir}",
        flush=True,
    )
    if initial_epoch:
        print(f"Resuming after epoch {initial_epoch}.", flush=True)


def _finish(config, model, test_data, summary, chief, write_dir):
    """Saves and exports a model that did not diverge, then writes the
    summary, last: a summary marks a finished run."""
    if summary["status"] == FINISHED:
        model.save(os.path.join(write_dir, MODEL_FILE))
        _export(config, model, test_data, summary, chief)
    write_atomically(
        os.path.join(write_dir, SUMMARY_FILE), dumps_strict(summary, indent=2)
    )


def _epoch_batches(train_data, epoch, steps_per_epoch):
    make = train_data.for_epoch
    dataset = make(epoch) if make else train_data.dataset
    return dataset.take(steps_per_epoch)


def _load_data(config):
    """The training split and the evaluation split (`_evaluation_split`)."""
    load = dict(
        batch_size=config.batch_size,
        data_dir=config.data_dir,
        seed=config.seed,
        validation_examples=config.validation_examples,
    )
    return (
        data_lib.load(config.dataset, "train", **load),
        data_lib.load(config.dataset, _evaluation_split(config), **load),
    )


def _evaluation_split(config):
    return "validation" if config.validation_examples else "test"


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


def _callbacks(
    config,
    chief,
    write_dir,
    test_batches,
    train_batches,
    committed_accuracies,
    checkpoint,
):
    """The run's callbacks, in the order an epoch is committed: the
    statistics (appended to stats.jsonl), the history
    row, TensorBoard, early stopping (given the committed epochs'
    accuracies), and the checkpoint last."""
    callbacks = []
    if config.stats_every:
        callbacks.append(
            ActivationStatsCallback(
                test_batches,
                every=config.stats_every,
                log_dir=write_dir,
                gradient_dataset=train_batches,
                gradient_batches=config.gradient_batches,
                histogram_bins=config.histogram_bins,
                histogram_every=config.histogram_every,
                averaged_blocks=config.averaged_blocks,
                write_files=chief,
                evaluate=True,  # a measured epoch's evaluation, in one pass
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
    return callbacks + [checkpoint]  # last: the epoch's rows are written


def _train_epochs(
    trainer,
    callback_list,
    stats,
    history,
    epochs,
    steps_per_epoch,
    steps_per_execution,
    session,
    distributed_train,
    distributed_test,
):
    """Trains and evaluates the given epochs, driving the callbacks.

    An epoch whose statistics are measured takes its evaluation from the
    statistics pass (one read of the evaluation set for both); the other
    epochs evaluate alone.

    Args:
        stats: the run's `ActivationStatsCallback` (one of
            `callback_list`'s), or `None` when no epoch is measured.
        steps_per_execution: int, training steps per compiled call.
        history: dict from column to values of the committed epochs;
            each epoch's logs are appended once its callbacks ran.
        distributed_train: function `epoch -> distributed dataset`.

    Returns:
        The epoch in which the loss became NaN or infinite (training
        stopped there, that epoch uncommitted), or `None`.
    """
    model = trainer.model
    metrics = trainer.train_metrics
    for epoch in epochs:
        if model.stop_training:  # early stopping, before or after a resume
            break
        callback_list.on_epoch_begin(epoch)
        # the only reference, so that its release can wait off this thread
        iterators = [iter(distributed_train(epoch))]
        metrics.reset_state()
        epoch_start = time.perf_counter()
        for first, count in _executions(steps_per_epoch, steps_per_execution):
            callback_list.on_train_batch_begin(first)
            if count == 1:
                trainer.train_step(iterators[0])
            else:
                trainer.train_steps(iterators[0], tf.constant(count))
            # no logs: Keras's CallbackList would read every one back from
            # the device before calling the callbacks, a host round trip
            # per step (the progress bar reads the metrics when it redraws)
            callback_list.on_train_batch_end(first + count - 1)
        release_in_background(iterators)
        logs = {k: float(v) for k, v in metrics.result().items()}
        session.train_seconds += time.perf_counter() - epoch_start
        session.trained_images += steps_per_epoch * trainer.global_batch_size
        # a NaN or infinite loss is found here, once per epoch, rather
        # than read back after every step
        if not all(math.isfinite(v) for v in logs.values()):
            return epoch
        if stats is not None and stats.measures(epoch):
            # loss, accuracy and statistics from one read of the set
            evaluation = stats.measure(epoch).evaluation
        else:
            evaluation = trainer.evaluate(distributed_test)
        logs.update({f"val_{k}": v for k, v in evaluation.items()})
        if not all(math.isfinite(v) for v in logs.values()):
            return epoch
        logs["learning_rate"] = float(trainer.optimizer.learning_rate)
        callback_list.on_epoch_end(epoch, logs)
        row = {"epoch": epoch, **logs}
        for key in set(history) | set(row):
            history.setdefault(key, [None] * epoch).append(row.get(key))
    return None


def _executions(steps, steps_per_execution):
    """`(first step, steps)` of each compiled call of an epoch: calls of
    `steps_per_execution` steps, the last one shorter if need be."""
    for first in range(0, steps, steps_per_execution):
        yield first, min(steps_per_execution, steps - first)


def _layer_scalars(stats_record):
    if not stats_record:
        return {}
    keys = LAYER_VALUE_KEYS + LAYER_COUNT_KEYS
    return {
        name: {k: layer[k] for k in keys}
        for name, layer in stats_record["layers"].items()
    }


def _summary(
    config,
    history,
    run_dir,
    strategy,
    stats_callback,
    session,
    data_location,
    diverged_epoch,
):
    accuracies = history.get("val_accuracy", [])
    last_stats = stats_callback.last_result if stats_callback else None
    if last_stats is None:
        last_stats = last_stats_record(run_dir)
    diverged = diverged_epoch is not None
    summary = {
        "run_name": config.resolved_run_name,
        "status": DIVERGED if diverged else FINISHED,
        "diverged_epoch": diverged_epoch,
        "dataset": config.dataset,
        "data_source": data_location,
        "model": config.model,
        "order": config.order,
        "activation": config.activation,
        "seed": config.seed,
        # the split of the val_* columns and of final_test_accuracy
        "evaluation_split": _evaluation_split(config),
        "epochs": len(accuracies),
        "final_test_accuracy": None
        if diverged
        else (accuracies[-1] if accuracies else None),
        "best_test_accuracy": max(accuracies) if accuracies else None,
        "final_test_loss": None
        if diverged
        else ((history.get("val_loss") or [None])[-1]),
        "stats": None if diverged or not last_stats else last_stats["model"],
        # the epoch `stats`, `layer_stats` and `gradients` were measured in:
        # the last one, unless early stopping ended the run in between
        "stats_epoch": None
        if diverged or not last_stats
        else last_stats["epoch"],
        "layer_stats": {} if diverged else _layer_scalars(last_stats),
        "gradients": None if diverged else (last_stats or {}).get("gradients"),
        "wall_seconds": session.wall_seconds(),
        "train_images_per_second": session.images_per_second(),
        "replicas": strategy.num_replicas_in_sync,
    }
    return summary


def _export(config, model, test, summary, chief):
    from bnorder_tf.export import export_savedmodel

    export_dir = config.export_dir if chief else tempfile.mkdtemp()
    path = export_savedmodel(
        model,
        export_dir,
        config.resolved_run_name,
        preprocessing=test.preprocessing,
        class_names=test.class_names,
        metadata={
            "flags": config.to_flags().splitlines(),
            "test_accuracy": summary["final_test_accuracy"],
        },
    )
    summary["export_path"] = path if chief else None
    if not chief:
        shutil.rmtree(export_dir, ignore_errors=True)


__all__ = [
    "EpochCheckpoint",
    "HistoryLogger",
    "RunDirectoryError",
    "run",
    "train",
]
