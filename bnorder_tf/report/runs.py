"""Finding run directories and grouping them by their settings."""

import dataclasses
import os

from bnorder_tf.errors import UserError
from bnorder_tf.training.run_dir import (
    FINISHED,
    FLAGS_FILE,
    HISTORY_FILE,
    SUMMARY_FILE,
    last_stats_record,
    read_config,
    read_history,
    read_summary,
)

#: Settings every table shows, in this order.
MAIN_SETTINGS = ("dataset", "model", "activation", "order")


class NotARunError(UserError):
    """A directory holds no finished run (summary.json and flags.txt)."""


@dataclasses.dataclass
class Run:
    """One finished training run, read from its directory.

    Attributes:
        path: the run directory.
        config: the run's `TrainConfig` (from `flags.txt`).
        summary: the `summary.json` dict.
        history: dict from `history.csv` column to its per-epoch values.
        last_stats: the last `stats.jsonl` record, or `None`.
    """

    path: str
    config: object
    summary: dict
    history: dict
    last_stats: dict

    @property
    def variant(self):
        """The order, with NWDBN told apart (`TrainConfig.variant`)."""
        return self.config.variant

    @property
    def settings(self):
        """`TrainConfig.settings()`: the experiment's settings.

        Runs with equal settings are seeds of one setting.
        """
        return self.config.settings()

    @property
    def finished(self):
        """Whether the run ended normally (not diverged)."""
        return self.summary.get("status", FINISHED) == FINISHED


def is_run(path):
    """Whether a directory holds a run: a summary.json and a flags.txt.

    Args:
        path: a directory.

    Returns:
        bool.
    """
    return os.path.isfile(os.path.join(path, SUMMARY_FILE)) and os.path.isfile(
        os.path.join(path, FLAGS_FILE)
    )


def load_run(path):
    """Reads a run directory.

    Args:
        path: the run directory.

    Returns:
        A `Run`.

    Raises:
        MalformedFileError: a damaged summary, history, flags or
            statistics file, naming it.
    """
    return Run(
        path=path,
        config=read_config(path),
        summary=read_summary(path),
        history=read_history(os.path.join(path, HISTORY_FILE)),
        last_stats=last_stats_record(path),
    )


def find_runs(paths):
    """Every run that ended (finished or diverged) in or under `paths`.

    Args:
        paths: run directories, model directories or tuning directories.

    Returns:
        A list of `Run`s, path by path, each path's in sorted directory
        order.

    Raises:
        NotARunError: a path that does not exist or holds no ended run.
        MalformedFileError: a run whose files are damaged.
    """
    runs = []
    for top in paths:
        if not os.path.isdir(top):
            raise NotARunError(f"{top} is not a directory.")
        found = []
        for directory, subdirs, _ in os.walk(top):
            if is_run(directory):
                found.append(load_run(directory))
                subdirs[:] = []  # a run's own subdirectories hold no runs
            subdirs.sort()
        if not found:
            raise NotARunError(
                f"{top} holds no finished run (a directory with summary.json "
                "and flags.txt, as trainers/train.py writes): pass run, model "
                "or tuning directories."
            )
        runs += found
    return runs


@dataclasses.dataclass
class Group:
    """Runs with the same settings (the seeds of one configuration)."""

    settings: dict
    runs: list
    label: str = ""


def group_runs(runs):
    """Groups runs by their settings and labels each group.

    A label is `G<i>` plus the group's model, order and activation (the
    report's table lists the rest).

    Args:
        runs: `Run`s.

    Returns:
        A list of `Group`, sorted by their main settings.
    """
    groups = {}
    for run in runs:
        key = tuple(sorted(run.settings.items()))
        groups.setdefault(key, Group(dict(key), []))
        groups[key].runs.append(run)
    groups = list(groups.values())
    varying = varying_settings(groups)
    groups.sort(
        key=lambda g: tuple(
            str(g.settings.get(k)) for k in MAIN_SETTINGS + tuple(varying)
        )
    )
    for i, group in enumerate(groups, 1):
        parts = [group.settings.get(k, "?") for k in MAIN_SETTINGS[1:]]
        group.label = f"G{i} " + " ".join(parts)
    return groups


def varying_settings(groups):
    """Settings other than the main ones whose value differs between groups.

    Args:
        groups: `Group`s.

    Returns:
        The settings' names, sorted.
    """
    names = sorted({k for g in groups for k in g.settings} - set(MAIN_SETTINGS))
    return [n for n in names if len({g.settings.get(n) for g in groups}) > 1]
