"""Convention beside Swap: the two orders of one dataset, model and
activation, each tuned on its own (so their learning rates and decays may
differ), and what swapping changed.

Example:

>>> pairs = order_pairs(group_runs(runs))
>>> print(markdown_table(gap_table(pairs)))
"""

import dataclasses
import statistics

from bnorder_tf.report.claims import accuracy, model_stat
from bnorder_tf.report.document import Table
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
    """The pairs among `groups`: each (dataset, model, activation) with
    exactly one Convention group and one Swap group (NWDBN and NoBN are
    not Convention here), in the groups' order."""
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
    """Per pair: each order's test accuracy (mean ± std over seeds), the
    gap Swap - Convention in points with its standard error and Welch's
    p-value, and each order's mean |channel skewness|.

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
            gap_text = f"{gap.difference:+.2f} ± {gap.standard_error:.2f}"
            p_text = f"{gap.p:.2g}"
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
