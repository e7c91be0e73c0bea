"""Convention beside Swap, and what swapping the order changed.

A pair is the two orders of one dataset, model and activation, each tuned
on its own (so their learning rates and decays may differ).

Example:
Two seeds of each order, made by hand here (a report reads them from
their run directories with `runs.find_runs`):

>>> from bnorder_tf.report.runs import Run, group_runs
>>> from bnorder_tf.training.config import TrainConfig
>>> def run(order, seed, accuracy, skewness):
...     config = TrainConfig(dataset="cifar10", model="vgg16_11",
...                          order=order, activation="tanh", seed=seed)
...     summary = {"final_test_accuracy": accuracy,
...                "stats": {"skewness": skewness}}
...     return Run(f"runs/{order}_{seed}", config, summary, {}, None)
>>> runs = [run("convention", 1, 0.89, 0.2), run("convention", 2, 0.91, 0.2),
...         run("swap", 1, 0.91, 0.4), run("swap", 2, 0.93, 0.4)]
>>> pairs = order_pairs(group_runs(runs))
>>> [(pair.name, len(pair.swap.runs)) for pair in pairs]
[('vgg16_11 tanh', 2)]
>>> table = gap_table(pairs)
>>> for column, cell in zip(table.header, table.rows[0], strict=True):
...     print(f"{column}: {cell}")
dataset: cifar10
model: vgg16_11
activation: tanh
Convention (%): 90.00 ± 1.41
Swap (%): 92.00 ± 1.41
Swap - Convention (points ± s.e.): +2.00 ± 1.41
p (Welch): 0.29
seeds: 2
|skewness| Convention: 0.200 ± 0.000
|skewness| Swap: 0.400 ± 0.000
"""

import dataclasses
import statistics

from bnorder_tf.report.claims import accuracy, model_stat
from bnorder_tf.report.document import Table, number_cell
from bnorder_tf.report.significance import welch

#: What makes two groups a pair: equal in these, Convention and Swap.
PAIR_SETTINGS = ("dataset", "model", "activation")


@dataclasses.dataclass
class Pair:
    """The Convention and Swap groups of one dataset, model and activation.

    Attributes:
        dataset, model, activation: what the two share.
        convention, swap: the two `runs.Group`s.
    """

    dataset: str
    model: str
    activation: str
    convention: object
    swap: object

    @property
    def name(self):
        return f"{self.model} {self.activation}"


def order_pairs(groups):
    """The Convention/Swap pairs among `groups`, in the groups' order.

    A pair is a (dataset, model, activation) with exactly one Convention
    group and one Swap group (NWDBN and NoBN are not Convention here).

    Args:
        groups: `runs.Group`s, as `runs.group_runs` returns them.

    Returns:
        A list of `Pair`s.
    """
    by_key = {}
    for group in groups:
        run = group.runs[0]
        key = tuple(group.settings.get(k) for k in PAIR_SETTINGS)
        by_key.setdefault(key, {}).setdefault(run.variant, []).append(group)
    pairs = []
    for key, orders in by_key.items():
        if (
            len(orders.get("convention", ()))
            == len(orders.get("swap", ()))
            == 1
        ):
            pairs.append(Pair(*key, orders["convention"][0], orders["swap"][0]))
    return pairs


def _values(group, value):
    values = [value(run) for run in group.runs]
    return [v for v in values if v is not None]


def _mean_std(values, scale=1.0, digits=2):
    if not values:
        return "no run"
    values = [scale * v for v in values]
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def gap_table(pairs):
    """The table of the pairs: what swapping the order changed in each.

    Per pair: each order's test accuracy (mean ± std over seeds), the gap
    Swap - Convention in points with its standard error and Welch's
    p-value, and each order's mean |channel skewness|.

    Args:
        pairs: `Pair`s, as `order_pairs` returns them.

    Returns:
        A `document.Table`.
    """
    skewness = model_stat("skewness")
    rows = []
    for pair in pairs:
        convention = _values(pair.convention, accuracy)
        swap = _values(pair.swap, accuracy)
        if convention and swap:
            gap = welch([100 * v for v in convention], [100 * v for v in swap])
            error = number_cell(gap.standard_error, ".2f")
            gap_text = f"{gap.difference:+.2f} ± {error}"
            p_text = number_cell(gap.p, ".2g")
        else:
            gap_text = p_text = ""
        rows.append(
            [
                pair.dataset,
                pair.model,
                pair.activation,
                _mean_std(convention, 100.0),
                _mean_std(swap, 100.0),
                gap_text,
                p_text,
                str(min(len(convention), len(swap))),
                _mean_std(_values(pair.convention, skewness), digits=3),
                _mean_std(_values(pair.swap, skewness), digits=3),
            ]
        )
    return Table(
        [
            "dataset",
            "model",
            "activation",
            "Convention (%)",
            "Swap (%)",
            "Swap - Convention (points ± s.e.)",
            "p (Welch)",
            "seeds",
            "|skewness| Convention",
            "|skewness| Swap",
        ],
        rows,
    )
