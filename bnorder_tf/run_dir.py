"""The run directory: what a training run leaves, and how it resumes.

    <model_dir>/<run_name>/
        flags.txt      the resolved flags, usable as a --flagfile
        history.csv    one row per epoch (CSVLogger)
        stats.jsonl    activation statistics per epoch
        tensorboard/   scalars and histograms
        backup/        BackupAndRestore checkpoint while training
        model.keras    the trained model
        summary.json   accuracies, statistics, speed (written last: its
                       presence marks a finished run)
"""

import csv
import json
import os
import tempfile

from bnorder_tf.stats.callback import STATS_FILE

HISTORY_FILE = "history.csv"
SUMMARY_FILE = "summary.json"
FLAGS_FILE = "flags.txt"
MODEL_FILE = "model.keras"
#: Flags that may change when a run is resumed.
RESUMABLE_CHANGES = ("epochs", "export_dir")


class RunDirectoryError(RuntimeError):
    """The run directory holds a finished run or a different one."""


def prepare_run_dir(config, chief):
    """Creates (or checks, to resume) the run directory.

    Non-chief workers get a temporary directory instead, so that only the
    chief writes the run directory.

    Args:
        config: the run's `TrainConfig`.
        chief: bool, whether this process writes the run directory.

    Returns:
        `(run_dir, write_dir)`: the run directory, and where this process
        writes (the run directory itself on the chief).

    Raises:
        RunDirectoryError: the directory holds a finished run, or a run
            started with other flags.
    """
    run_dir = os.path.join(config.model_dir, config.resolved_run_name)
    flags_text = config.to_flags()
    if not chief:
        return run_dir, tempfile.mkdtemp(prefix="bnorder_worker_")
    if os.path.exists(os.path.join(run_dir, SUMMARY_FILE)):
        raise RunDirectoryError(
            f"{run_dir} holds a finished run (summary.json): pass another "
            "--run_name, or move that directory away to train it again."
        )
    flags_path = os.path.join(run_dir, FLAGS_FILE)
    if os.path.exists(flags_path):
        with open(flags_path) as f:
            before = _comparable(f.read())
        if before != _comparable(flags_text):
            changed = sorted(
                {
                    line.split("=")[0]
                    for line in before ^ _comparable(flags_text)
                }
            )
            raise RunDirectoryError(
                f"{run_dir} holds an unfinished run started with other flags "
                f"({', '.join(changed)}): resume it with the flags in "
                f"{flags_path}, or pass another --run_name."
            )
    os.makedirs(run_dir, exist_ok=True)
    write_atomically(flags_path, flags_text)
    return run_dir, run_dir


def _comparable(flags_text):
    return {
        line
        for line in flags_text.splitlines()
        if line and line.split("=")[0][2:] not in RESUMABLE_CHANGES
    }


def write_atomically(path, text):
    """Writes `text` to `path` through a temporary file and a rename, so a
    reader never sees half a file."""
    tmp = f"{path}.tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def truncate_logs(run_dir, first_epoch):
    """Drops log rows of epochs >= `first_epoch` (re-run after a resume),
    so the history shows every epoch once."""
    history = os.path.join(run_dir, HISTORY_FILE)
    if os.path.exists(history):
        with open(history, newline="") as f:
            rows = list(csv.reader(f))
        kept = rows[:1] + [
            row for row in rows[1:]
            if row and row[0].isdigit() and int(row[0]) < first_epoch
        ]  # fmt: skip
        if not first_epoch:
            kept = []
        with open(history, "w", newline="") as f:
            csv.writer(f).writerows(kept)
    stats = os.path.join(run_dir, STATS_FILE)
    if os.path.exists(stats):
        kept = []
        with open(stats) as f:
            for line in f:
                try:
                    if json.loads(line)["epoch"] < first_epoch:
                        kept.append(line)
                except (ValueError, KeyError):
                    pass  # a line cut short by a kill
        with open(stats, "w") as f:
            f.writelines(kept)


def read_history(path):
    """`history.csv` as a dict from column to its list of values (floats,
    `None` where a value is missing)."""
    if not os.path.exists(path):
        return {}
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for row in rows:
        for key, value in row.items():
            try:
                columns.setdefault(key, []).append(float(value))
            except (TypeError, ValueError):
                columns.setdefault(key, []).append(None)
    return columns


def read_summary(run_dir):
    """The run's `summary.json` as a dict, or `None` before it finished."""
    path = os.path.join(run_dir, SUMMARY_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


def last_stats_record(run_dir):
    """The last line of the run's `stats.jsonl` as a dict, or `None`."""
    path = os.path.join(run_dir, STATS_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    return json.loads(lines[-1]) if lines else None
