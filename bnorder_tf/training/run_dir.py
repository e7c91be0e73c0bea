"""The run directory: what a run leaves, how an epoch commits, how it resumes.

    <model_dir>/<run_name>/
        flags.txt      the run's `TrainConfig`, usable as a --flagfile
                       (its first line, a comment, names the version)
        data.json      the data: classes, class names, shapes, counts and
                       the normalisation (measured once, reused on resume)
        history.csv    one row per finished epoch, fixed columns
        stats.jsonl    activation statistics of the measured epochs
        tensorboard/   scalars and histograms
        checkpoints/   model, optimizer and epoch counter while training
        model.keras    the trained model
        summary.json   accuracies, statistics, speed and `status`
                       (written last: its presence marks a finished run)
        .lock          held (flock) by the process training the run

An epoch is committed in this order: its `history.csv` row and its
`stats.jsonl` record are appended, then the checkpoint with the epoch
counter is saved. On resume the checkpoint says how many epochs are
committed and the logs are cut back to those epochs, so after a kill at
any instant every epoch appears exactly once.

`data.json` and `summary.json` are built here, beside their readers:
`data_record` and `read_data_record`, `run_summary` (the summary's keys
and their order) and `read_summary`.
"""

import contextlib
import csv
import fcntl
import io
import json
import os
import shutil
import socket
import sys
import tempfile

from bnorder_tf import _tf_start
from bnorder_tf._strict_json import dumps_strict
from bnorder_tf.data.folder import FOLDER_PREFIX, list_folder
from bnorder_tf.errors import (
    ConfigError,
    MalformedFileError,
    RunInUseError,
    UserError,
)
from bnorder_tf.stats import STATS_FILE  # noqa: F401 (re-exported)
from bnorder_tf.stats.results import LAYER_COUNT_KEYS, LAYER_VALUE_KEYS
from bnorder_tf.training.config import TrainConfig
from bnorder_tf.version import __version__

HISTORY_FILE = "history.csv"
SUMMARY_FILE = "summary.json"
FLAGS_FILE = "flags.txt"
DATA_FILE = "data.json"
MODEL_FILE = "model.keras"
CHECKPOINT_DIR = "checkpoints"
LOCK_FILE = ".lock"


class RunDirectoryError(UserError):
    """The run directory holds a finished run, another run or a bad checkpoint.

    Another run: an unfinished one started with other non-resumable
    settings.
    """


# --- files -------------------------------------------------------------------


def write_atomically(path, text):
    """Writes `text` to `path` through a temporary file, fsync and rename.

    A reader never sees half a file.
    """
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# --- paths and locks ---------------------------------------------------------


def check_directory_flag(flag, path, writable=False):
    """Raises `ConfigError` if `path` is not a directory it can use.

    That is, if `path` exists and is not a directory, or, with `writable`,
    if it (or the nearest directory above it that exists, where it would
    be made) cannot be written to.
    """
    if path and os.path.exists(path) and not os.path.isdir(path):
        raise ConfigError(
            f"--{flag}={path} is a file, not a directory: pass a directory."
        )
    if not (path and writable):
        return
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK):
        raise ConfigError(
            f"--{flag}={path} cannot be written to ({existing} is read-only "
            "or not yours): pass a directory you can write to."
        )


def check_inside(flag, name, parent_flag):
    """Raises `ConfigError` unless `name` is one plain directory name.

    Not `.`, `..`, absolute or with a separator, so that it stays inside
    the directory of `parent_flag`.
    """
    if (
        not name
        or os.path.isabs(name)
        or os.sep in name
        or (os.altsep and os.altsep in name)
        or set(name) == {"."}
    ):
        raise ConfigError(
            f"--{flag}={name} must be one directory name inside "
            f"--{parent_flag} (not '.', '..', absolute or with '/')."
        )


class DirectoryLock:
    """An exclusive `flock` on `<directory>/<name>`, held while training there.

    One process at a time trains or tunes in the directory. The kernel
    drops the lock when the process dies, so a killed run never leaves a
    stale lock.

    Args:
        directory: the directory to lock (created if missing).
        what: how the error names the directory ("run", "tuning project").
        name: the lock file's name.

    Raises (on `acquire`):
        RunInUseError: another process holds the lock; the message names
            its pid, host and command.
    """

    def __init__(self, directory, what="run", name=LOCK_FILE):
        self.directory = directory
        self.what = what
        self.path = os.path.join(directory, name)
        self._file = None

    def acquire(self):
        os.makedirs(self.directory, exist_ok=True)
        f = open(self.path, "a+")
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise RunInUseError(
                f"{self.directory} is in use by {holder}: wait for it to "
                f"finish or stop it; one {self.what} directory takes one "
                "process at a time."
            ) from None
        f.seek(0)
        f.truncate()
        command = " ".join([os.path.basename(sys.argv[0]), *sys.argv[1:]])
        f.write(
            f"process {os.getpid()} on {socket.gethostname()} "
            f"({command.strip()[:200]})"
        )
        f.flush()
        self._file = f
        return self

    def release(self):
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None

    def __enter__(self):
        return self.acquire()

    def __exit__(self, *exc):
        self.release()


# --- the run directory -------------------------------------------------------


def check_run_paths(config):
    """Checks the run's directories before anything is written.

    The data directory exists, the run and export directories can be
    written.
    """
    for flag in ("model_dir", "export_dir", "data_dir"):
        check_directory_flag(
            flag, getattr(config, flag), writable=flag != "data_dir"
        )
    check_inside("run_name", config.resolved_run_name, "model_dir")
    if config.data_dir and not os.path.isdir(config.data_dir):
        raise ConfigError(
            f"--data_dir={config.data_dir} does not exist: pass the "
            "directory holding the dataset, or leave --data_dir out to use "
            "the default places."
        )
    if config.dataset.startswith(FOLDER_PREFIX):
        # the layout and class folders; the images are decoded later
        list_folder(config.dataset[len(FOLDER_PREFIX) :])


def check_resumable(config):
    """Raises `RunDirectoryError` if the run directory cannot be resumed.

    That is, if it holds a finished run or an unfinished one with other
    non-resumable settings.
    """
    run_dir = config.run_dir
    if os.path.exists(os.path.join(run_dir, SUMMARY_FILE)):
        raise RunDirectoryError(
            f"{run_dir} holds a finished run (summary.json): pass another "
            "--run_name, or move that directory away to train it again."
        )
    if not os.path.exists(os.path.join(run_dir, FLAGS_FILE)):
        return
    before = read_config(run_dir)
    changed = config.resume_differences(before)
    if changed:
        raise RunDirectoryError(
            f"{run_dir} holds an unfinished run started with other flags "
            f"({', '.join(changed)}): resume it with the flags in "
            f"{os.path.join(run_dir, FLAGS_FILE)}, or pass another "
            "--run_name."
        )


@contextlib.contextmanager
def claim_run_directory(config, chief, data):
    """Takes the run directory for this process, for as long as it trains.

    The chief locks the run directory (`DirectoryLock`), checks again
    that it can be resumed, now that the run is its own, and writes
    `flags.txt` and `data.json`; a worker that is not the chief writes in
    a temporary directory, removed at the end.

    Args:
        config: the run's `TrainConfig`.
        chief: whether this process writes the run directory.
        data: the contents of `data.json` (`data_record`).

    Yields:
        The directory this process writes the run in.
    """
    if not chief:
        write_dir = tempfile.mkdtemp(prefix="bnorder_worker_")
        try:
            yield write_dir
        finally:
            shutil.rmtree(write_dir, ignore_errors=True)
        return
    run_dir = config.run_dir
    with DirectoryLock(run_dir, "run"):
        check_resumable(config)
        write_config(run_dir, config)
        write_atomically(
            os.path.join(run_dir, DATA_FILE), dumps_strict(data, indent=2)
        )
        yield run_dir


def read_config(run_dir):
    """The run's `TrainConfig`, read back from its `flags.txt`.

    Raises:
        MalformedFileError: a missing or unreadable `flags.txt`.
    """
    path = os.path.join(run_dir, FLAGS_FILE)
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise MalformedFileError(f"{path}: cannot read it ({e}).") from None
    try:
        return TrainConfig.from_flags_text(text, source=path)
    except ConfigError as e:
        raise MalformedFileError(str(e)) from None


def flags_text(config):
    """`flags.txt`: a comment naming the version, then `config.to_flags()`.

    Flagfile readers (absl's, `bnorder-train --flagfile`,
    `TrainConfig.from_flags_text`) skip the comment.
    """
    return f"# written by bnorder_tf {__version__}\n{config.to_flags()}"


def write_config(run_dir, config):
    """Writes `config` to the run's `flags.txt`, atomically."""
    write_atomically(os.path.join(run_dir, FLAGS_FILE), flags_text(config))


def data_record(config, train_data, test_data):
    """The contents of the run's `data.json`.

    What the run trained and evaluated on: the dataset, where it was read
    from, its classes, the input shape, the example counts and the
    normalisation (`Preprocessing.to_config()`), which a resumed run
    reuses rather than measuring it again.
    """
    return {
        "bnorder_tf_version": __version__,
        "dataset": config.dataset,
        "location": train_data.location,
        "num_classes": train_data.num_classes,
        "class_names": list(train_data.class_names or []) or None,
        "input_shape": list(train_data.input_shape),
        "preprocessing": train_data.preprocessing.to_config(),
        "train_examples": train_data.num_examples,
        "evaluation_split": evaluation_split(config),
        "evaluation_examples": test_data.num_examples,
    }


def read_data_record(run_dir):
    """The run's `data.json` as a dict, or `None` when it has none.

    Raises:
        MalformedFileError: a `data.json` that is not a JSON object.
    """
    path = os.path.join(run_dir, DATA_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            record = json.load(f)
        problem = None if isinstance(record, dict) else "not an object"
    except (OSError, ValueError) as e:
        problem = str(e)
    if problem is None and "preprocessing" not in record:
        problem = "no preprocessing"
    if problem:
        raise MalformedFileError(
            f"{path} is damaged ({problem}); move the run directory away "
            "and train it again."
        )
    return record


def history_columns(stats_every, model_stats_keys):
    """The fixed `history.csv` columns of a run.

    The epoch's losses and accuracies, the learning rate, and the
    model-level statistics when the run measures them (empty cells in
    epochs it does not).
    """
    columns = ["loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"]
    if stats_every:
        columns += list(model_stats_keys)
    return columns


def truncate_logs(run_dir, first_epoch):
    """Drops the log rows of epochs >= `first_epoch`.

    Those rows were written before the checkpoint of that epoch was
    committed; dropping them makes the history show every epoch once.
    `first_epoch == 0` removes the logs.
    """
    history = os.path.join(run_dir, HISTORY_FILE)
    if os.path.exists(history):
        with open(history, newline="") as f:
            rows = list(csv.reader(f))
        kept = rows[:1] + [
            row
            for row in rows[1:]
            if row and row[0].isdigit() and int(row[0]) < first_epoch
        ]
        if not first_epoch:
            kept = []
        text = io.StringIO(newline="")
        csv.writer(text).writerows(kept)
        write_atomically(history, text.getvalue())
    stats = os.path.join(run_dir, STATS_FILE)
    if os.path.exists(stats):
        kept = []
        with open(stats) as f:
            for line in f:
                try:
                    if json.loads(line)["epoch"] < first_epoch:
                        kept.append(line)
                except (ValueError, KeyError, TypeError):
                    pass  # a line cut short by a kill
        write_atomically(stats, "".join(kept))


# --- readers (report, tuner, resume) -----------------------------------------


def read_history(path):
    """`history.csv` as a dict from column to its list of values.

    The values are floats, `None` where a cell is empty.

    Raises:
        MalformedFileError: a row whose fields do not match the header.
    """
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return {}
    header = rows[0]
    columns = {key: [] for key in header}
    for number, row in enumerate(rows[1:], 2):
        if len(row) != len(header):
            raise MalformedFileError(
                f"{path}: line {number} has {len(row)} fields under a "
                f"header of {len(header)}; the file is damaged."
            )
        for key, value in zip(header, row, strict=True):
            try:
                columns[key].append(float(value))
            except ValueError:
                columns[key].append(None)
    return columns


def read_stats_records(run_dir):
    """Every record of the run's `stats.jsonl`, in order (`[]` if none).

    Raises:
        MalformedFileError: a line that is not a JSON object.
    """
    path = os.path.join(run_dir, STATS_FILE)
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if not isinstance(record, dict):
                raise MalformedFileError(
                    f"{path}: line {number} is not a JSON object."
                )
            records.append(record)
    return records


def last_stats_record(run_dir):
    """The last record of the run's `stats.jsonl`, or `None`."""
    records = read_stats_records(run_dir)
    return records[-1] if records else None


# --- summary.json: its keys, how it is built and read ------------------------

#: `summary.json` fields every finished run has (`status` came later:
#: a summary without it is read as `finished`), besides its accuracy
#: (`final_accuracy`).
SUMMARY_FIELDS = ("run_name", "epochs")
#: The summary's keys that carry the evaluation split in their name, as
#: templates of the split (`FINAL_ACCURACY.format("test")`).
SPLIT_KEYS = FINAL_ACCURACY, BEST_ACCURACY, FINAL_LOSS = (
    "final_{}_accuracy",
    "best_{}_accuracy",
    "final_{}_loss",
)
#: `summary.json` `status` values.
FINISHED, DIVERGED = "finished", "diverged"


def evaluation_split(config):
    """The split a run evaluates on: `"validation"` or `"test"`."""
    return "validation" if config.validation_examples else "test"


def last_value(history, column):
    """The last committed value of a `history.csv` column, or `None`."""
    return (history.get(column) or [None])[-1]


def run_summary(
    config,
    history,
    last_stats,
    session,
    *,
    replicas,
    data_location,
    diverged_epoch,
    data=None,
    export_path=None,
):
    """The dict written to `summary.json`.

    The accuracy and loss keys name the split they were measured on:
    `final_test_accuracy` or, with `--validation_examples`,
    `final_validation_accuracy`.

    Args:
        config: the run's `TrainConfig`.
        history: dict from `history.csv` column to the committed values.
        last_stats: the last `stats.jsonl` record, or `None`.
        session: the `RunSession` with the run's time and image totals.
        replicas: replicas in sync.
        data_location: where the training data came from.
        diverged_epoch: the epoch whose loss became NaN or infinite, or
            `None`.
        data: optional `LoadedData` of training: its classes and its
            normalisation are recorded.
        export_path: the exported model's directory (`None` on a worker
            that is not the chief); a finished run records it last.

    Returns:
        The summary dict.
    """
    accuracies = history.get("val_accuracy", [])
    diverged = diverged_epoch is not None
    split = evaluation_split(config)
    measured = not diverged and last_stats
    summary = {
        "bnorder_tf_version": __version__,
        "backend": _tf_start.backend(),
        "run_name": config.resolved_run_name,
        "status": DIVERGED if diverged else FINISHED,
        "diverged_epoch": diverged_epoch,
        "dataset": config.dataset,
        "data_source": data_location,
        "num_classes": data.num_classes if data else None,
        "preprocessing": data.preprocessing.to_config() if data else None,
        "model": config.model,
        "order": config.order,
        "activation": config.activation,
        "seed": config.seed,
        # the split of the val_* columns and of the accuracy keys
        "evaluation_split": split,
        "epochs": len(accuracies),
        FINAL_ACCURACY.format(split): (
            None if diverged else last_value(history, "val_accuracy")
        ),
        BEST_ACCURACY.format(split): max(accuracies) if accuracies else None,
        FINAL_LOSS.format(split): (
            None if diverged else last_value(history, "val_loss")
        ),
        "stats": last_stats["model"] if measured else None,
        # the epoch `stats`, `layer_stats` and `gradients` were measured in:
        # the last one, unless early stopping ended the run in between
        "stats_epoch": last_stats["epoch"] if measured else None,
        "layer_stats": {} if diverged else _layer_scalars(last_stats),
        "gradients": None if diverged else (last_stats or {}).get("gradients"),
        "wall_seconds": session.wall_seconds(),
        "train_images_per_second": session.images_per_second(),
        "replicas": replicas,
    }
    if not diverged:  # a diverged run exports nothing
        summary["export_path"] = export_path
    return summary


def _layer_scalars(stats_record):
    if not stats_record:
        return {}
    keys = LAYER_VALUE_KEYS + LAYER_COUNT_KEYS
    return {
        name: {k: layer[k] for k in keys}
        for name, layer in stats_record["layers"].items()
    }


def read_summary(run_dir):
    """The run's `summary.json` as a dict, or `None` before it finished.

    Raises:
        MalformedFileError: a summary that is empty, not JSON, not an
            object or missing `SUMMARY_FIELDS`, naming the file.
    """
    path = os.path.join(run_dir, SUMMARY_FILE)
    if not os.path.exists(path):
        return None
    try:
        with open(path) as f:
            summary = json.load(f)
    except (OSError, ValueError) as e:
        raise MalformedFileError(
            f"{path} is not valid JSON ({e}): the run's summary is damaged; "
            "move the run directory away and train it again."
        ) from None
    if isinstance(summary, dict):
        _name_the_split(summary)
        required = (*SUMMARY_FIELDS, _accuracy_key(summary))
        missing = [k for k in required if k not in summary]
    else:
        missing = list(SUMMARY_FIELDS)
    if missing:
        raise MalformedFileError(
            f"{path} lacks {', '.join(missing)}: not a summary bnorder_tf "
            "wrote; move the run directory away and train it again."
        )
    summary.setdefault("status", FINISHED)
    return summary


def _accuracy_key(summary):
    return FINAL_ACCURACY.format(summary.get("evaluation_split", "test"))


def _name_the_split(summary):
    """Renames an older summary's `*_test_*` keys after their split.

    They held the validation accuracy of a run with
    `--validation_examples`.
    """
    split = summary.get("evaluation_split", "test")
    if split == "test":
        return
    for key in SPLIT_KEYS:
        old, new = key.format("test"), key.format(split)
        if old in summary and new not in summary:
            summary[new] = summary.pop(old)


def final_accuracy(summary):
    """The accuracy at the end of a run, on the split it evaluated on.

    Args:
        summary: a dict from `read_summary`.

    Returns:
        `summary["final_test_accuracy"]`, or `final_validation_accuracy`
        for a run evaluated on held-out training images; `None` for a
        run that diverged.
    """
    return summary.get(_accuracy_key(summary))
