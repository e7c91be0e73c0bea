"""Finding run directories and grouping them by their settings."""

import dataclasses
import os

from bnorder_tf.run_dir import (
    FLAGS_FILE,
    HISTORY_FILE,
    SUMMARY_FILE,
    last_stats_record,
    read_history,
    read_summary,
)

#: Flags that do not change what a run measures: runs differing only in
#: these belong to one group (the seeds of one setting).
NOT_SETTINGS = frozenset({
    "seed", "run_name", "model_dir", "export_dir", "data_dir", "devices",
    "strategy", "stats_every", "gradient_batches", "mixed_precision",
    "sync_bn", "jit_compile", "histogram_bins",
})  # fmt: skip
#: Settings every table shows, in this order.
MAIN_SETTINGS = ("dataset", "model", "activation", "order")


class NotARunError(ValueError):
    """A directory holds no finished run (summary.json and flags.txt)."""


@dataclasses.dataclass
class Run:
    """One finished training run, read from its directory.

    Attributes:
        path: the run directory.
        flags: dict of flag name to string value (from `flags.txt`).
        summary: the `summary.json` dict.
        history: dict from `history.csv` column to its per-epoch values.
        last_stats: the last `stats.jsonl` record, or `None`.
    """

    path: str
    flags: dict
    summary: dict
    history: dict
    last_stats: dict

    @property
    def variant(self):
        """The order, with NWDBN told apart (Convention whose BN gamma and
        beta get no weight decay)."""
        order = self.flags.get("order")
        if (order == "convention"
                and float(self.flags.get("bn_gamma_decay", "nan")) == 0
                and float(self.flags.get("bn_beta_decay", "nan")) == 0):
            return "nwdbn"
        return order

    @property
    def settings(self):
        """The flags that define the setting (every flag but the seed,
        paths and distribution), with the variant as the order."""
        settings = {k: v for k, v in self.flags.items()
                    if k not in NOT_SETTINGS}  # fmt: skip
        settings["order"] = self.variant
        return settings


def _read_flags(path):
    flags = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("--") and "=" in line:
                name, value = line[2:].split("=", 1)
                flags[name] = value
    return flags


def is_run(path):
    return os.path.isfile(os.path.join(path, SUMMARY_FILE)) and \
        os.path.isfile(os.path.join(path, FLAGS_FILE))  # fmt: skip


def load_run(path):
    return Run(
        path=path,
        flags=_read_flags(os.path.join(path, FLAGS_FILE)),
        summary=read_summary(path),
        history=read_history(os.path.join(path, HISTORY_FILE)),
        last_stats=last_stats_record(path),
    )


def find_runs(paths):
    """Every finished run in or under the given directories (run
    directories, model directories, tuning directories).

    Raises:
        NotARunError: a path that does not exist or holds no finished run.
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
    """Groups runs by their settings and labels each group `G<i>` plus
    its model, order and activation (the report's table lists the rest).

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
    groups.sort(key=lambda g: tuple(str(g.settings.get(k))
                                    for k in MAIN_SETTINGS + tuple(varying)))
    for i, group in enumerate(groups, 1):
        parts = [group.settings.get(k, "?") for k in MAIN_SETTINGS[1:]]
        group.label = f"G{i} " + " ".join(parts)
    return groups


def varying_settings(groups):
    """Settings other than the main ones whose value differs between
    groups."""
    names = sorted({k for g in groups for k in g.settings} -
                   set(MAIN_SETTINGS))  # fmt: skip
    return [n for n in names
            if len({g.settings.get(n) for g in groups}) > 1]  # fmt: skip
