"""The accuracy table: one row per setting, its seeds' mean and spread.

Example:
Two seeds of one setting, made by hand here (a report reads them from
their run directories with `runs.find_runs`):

>>> from bnorder_tf.report.runs import Run, group_runs
>>> from bnorder_tf.training.config import TrainConfig
>>> config = TrainConfig(dataset="cifar10", model="vgg16_11", order="swap",
...                      activation="tanh")
>>> runs = [Run(f"runs/swap_{seed}", config,
...             {"final_test_accuracy": accuracy, "stats": {}}, {}, None)
...         for seed, accuracy in ((1, 0.91), (2, 0.93))]
>>> rows = accuracy_rows(group_runs(runs))
>>> rows[0]["accuracy_mean"], rows[0]["seeds"]
(0.92, 2)
>>> accuracy_table(rows).header[:5]
['group', 'dataset', 'model', 'activation', 'order']
"""

import math
import statistics

from bnorder_tf.report.document import Table
from bnorder_tf.report.runs import MAIN_SETTINGS, varying_settings
from bnorder_tf.stats.results import MODEL_KEYS
from bnorder_tf.training.run_dir import final_accuracy


def accuracy_rows(groups):
    """The rows of the accuracy table, the paper's, one per group of runs.

    Each row holds the group's settings, the mean and standard deviation
    of the final test accuracy over its runs, the number of runs (seeds)
    and the means over its runs of the model-level statistics.

    Args:
        groups: `runs.Group`s, as `runs.group_runs` returns them.

    Returns:
        A list of dicts, one per group, in the groups' order.

    Example:
    Two seeds of Swap and one of Convention, made by hand here (a report
    reads them from their run directories with `runs.find_runs`):

    >>> from bnorder_tf.report.runs import Run, group_runs
    >>> from bnorder_tf.training.config import TrainConfig
    >>> def run(order, accuracy, skewness):
    ...     config = TrainConfig(dataset="cifar10", model="vgg11", order=order)
    ...     summary = {"final_test_accuracy": accuracy,
    ...                "stats": {"skewness": skewness}}
    ...     return Run(f"runs/{order}_{accuracy}", config, summary, {}, None)
    >>> rows = accuracy_rows(group_runs([
    ...     run("swap", 0.91, 0.2), run("swap", 0.93, 0.4),
    ...     run("convention", 0.90, 0.8)]))
    >>> [(row["group"], row["order"], row["seeds"]) for row in rows]
    [('G1', 'convention', 1), ('G2', 'swap', 2)]
    >>> swap = rows[1]
    >>> round(swap["accuracy_mean"], 4), round(swap["accuracy_std"], 4)
    (0.92, 0.0141)
    >>> round(swap["skewness"], 4), swap["saturation"]
    (0.3, nan)
    """
    extra = varying_settings(groups)
    rows = []
    for group in groups:
        accuracies = [
            final_accuracy(r.summary)
            for r in group.runs
            if final_accuracy(r.summary) is not None
        ]
        row = {"group": group.label.split()[0]}
        row.update(
            {k: group.settings.get(k, "") for k in MAIN_SETTINGS + tuple(extra)}
        )
        row["accuracy_mean"] = (
            statistics.fmean(accuracies) if accuracies else math.nan
        )
        row["accuracy_std"] = (
            statistics.stdev(accuracies) if len(accuracies) > 1 else 0.0
        )
        row["seeds"] = len(accuracies)
        for key in MODEL_KEYS:
            values = [
                (r.summary.get("stats") or {}).get(key) for r in group.runs
            ]
            values = [v for v in values if v is not None]
            row[key] = statistics.fmean(values) if values else math.nan
        rows.append(row)
    return rows


def accuracy_table(rows):
    """The rows of `accuracy_rows` as a `document.Table`.

    Args:
        rows: the list `accuracy_rows` returns (not empty).

    Returns:
        A `document.Table`: the group and its settings, the accuracy as
        mean ± std in %, the seeds and the model-level statistics.

    Example:
    Two seeds of one setting, made by hand here, without statistics:

    >>> from bnorder_tf.report.runs import Run, group_runs
    >>> from bnorder_tf.training.config import TrainConfig
    >>> config = TrainConfig(dataset="cifar10", model="vgg11", order="swap")
    >>> runs = [Run(f"runs/swap_{seed}", config,
    ...             {"final_test_accuracy": accuracy}, {}, None)
    ...         for seed, accuracy in ((1, 0.91), (2, 0.93))]
    >>> table = accuracy_table(accuracy_rows(group_runs(runs)))
    >>> table.header
    ['group', 'dataset', 'model', 'activation', 'order', 'accuracy (%)',
     'seeds', 'saturation', 'skewness', 'sparsity']
    >>> table.rows
    [['G1', 'cifar10', 'vgg11', 'tanh', 'swap', '92.00 ± 1.41', '2',
      'not defined', 'not defined', 'not defined']]
    """
    columns = [c for c in rows[0] if c not in ("accuracy_mean", "accuracy_std")]
    header = columns[:-4] + ["accuracy (%)", "seeds", *MODEL_KEYS]
    cells = []
    for row in rows:
        cells.append(
            [_setting_cell(row[c]) for c in columns[:-4]]
            + [
                f"{100 * row['accuracy_mean']:.2f} ± "
                f"{100 * row['accuracy_std']:.2f}",
                str(row["seeds"]),
            ]
            + [_statistic_cell(row[k]) for k in MODEL_KEYS]
        )
    return Table(header, cells)


def _setting_cell(value):
    """A setting as a table cell: "—" for one left at its default (None)."""
    return "—" if value in (None, "None") else str(value)


def _statistic_cell(value):
    """A statistic as a table cell: "not defined" where the runs have none.

    The runs have none for the saturation of an unbounded activation.
    """
    return "not defined" if math.isnan(value) else f"{value:.4f}"
