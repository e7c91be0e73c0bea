"""The depth study: VGG16_n with tanh in both orders, as n grows.

The paper's appendix A.6 found accuracy rising with VGG16's depth up to
VGG16_11 and falling after, with low skewness in the blocks past the 8th
(figure 14). Its explanation of Swap rests on gradients (figure 15):
Convention's bounded block outputs shrink the gradients of the layers
below, while Swap's unbounded BN outputs keep them at scale. If so,
Swap's gain over Convention should grow with depth. `DEPTH_CLAIMS` check
these four predictions on the runs; `depth_table` and the figures of
`depth_figures` show what they rest on.

A depth point is the runs of one (dataset, VGG16_n, order) with tanh;
its accuracy is each run's final accuracy, its gradient scale the mean
|kernel gradient| per block that `--gradient_batches` recorded.

Example:
Two seeds per depth and order, made by hand here (a report reads the
runs from their directories with `runs.find_runs`):

>>> from bnorder_tf.report.runs import Run
>>> from bnorder_tf.training.config import TrainConfig
>>> def run(depth, order, accuracy):
...     config = TrainConfig(dataset="cifar10", model=f"vgg16_{depth}",
...                          order=order, activation="tanh")
...     summary = {"final_test_accuracy": accuracy}
...     return Run(f"runs/{depth}_{order}", config, summary, {}, None)
>>> study = DepthStudy.from_runs([
...     run(depth, order, accuracy + noise)
...     for depth, order, accuracy in [
...         (8, "convention", 0.90), (8, "swap", 0.91),
...         (11, "convention", 0.91), (11, "swap", 0.93)]
...     for noise in (-0.001, 0.001)])
>>> study.depths
[8, 11]
>>> round(study.gain(11).difference, 3)
0.02
>>> DepthStudy.from_runs([]).depths
[]
"""

import dataclasses
import math
import re
import statistics

import numpy as np

from bnorder_tf.report.claims import ClaimResult, accuracy
from bnorder_tf.report.document import Table, mean_std_cell, number_cell
from bnorder_tf.report.significance import mean_std, t_two_sided_p, welch

#: The depth the paper found best (appendix A.6), and the number of conv
#: blocks past which figure 14 finds low skewness.
PAPER_BEST_DEPTH = 11
EIGHTH_BLOCK = 8
ORDERS = ("convention", "swap")
#: Runs a depth needs in each order to count: a spread needs two.
MIN_SEEDS = 2
_VGG16_N = re.compile(r"vgg16_(\d+)")
_CONV = re.compile(r"conv(\d+)")


def depth_of(run):
    """The n of a VGG16_n run, or `None` for any other model."""
    match = _VGG16_N.fullmatch(run.config.model)
    return int(match.group(1)) if match else None


def gradient_ratio(run):
    """First block's mean |kernel gradient| over the last block's.

    Returns:
        The ratio, or `None` when the run recorded no gradient scale.
    """
    gradients = run.summary.get("gradients") or {}
    blocks = list(gradients)
    if len(blocks) < 2:
        return None
    first = gradients[blocks[0]]["kernel_grad_abs_mean"]
    last = gradients[blocks[-1]]["kernel_grad_abs_mean"]
    return first / last if last else None


def conv_skewness(run):
    """`(mean |skewness| of conv blocks 1-8, of conv blocks past the 8th)`.

    Returns:
        The two means over the blocks, or `None` without blocks past the
        8th (or without statistics).
    """
    layers = run.summary.get("layer_stats") or {}
    early, late = [], []
    for name, stats in layers.items():
        match = _CONV.fullmatch(name)
        if match is None or stats.get("skewness") is None:
            continue
        index = int(match.group(1))
        (early if index <= EIGHTH_BLOCK else late).append(stats["skewness"])
    if not early or not late:
        return None
    return statistics.fmean(early), statistics.fmean(late)


@dataclasses.dataclass
class DepthStudy:
    """The tanh VGG16_n runs of one dataset, by depth and order.

    Attributes:
        dataset: the dataset's name.
        runs: dict from `(depth, order)` to the list of runs.
    """

    dataset: str
    runs: dict

    @classmethod
    def from_runs(cls, runs):
        """The study among `runs`: tanh VGG16_n, Convention or Swap.

        Runs of several datasets are never pooled: the first dataset (by
        name) with any such run is taken.

        Args:
            runs: `report.runs.Run`s, finished.

        Returns:
            A `DepthStudy` (with no depths when no run qualifies).
        """
        chosen = {}
        for run in runs:
            depth = depth_of(run)
            if (
                depth is None
                or run.config.activation != "tanh"
                or run.variant not in ORDERS
            ):
                continue
            key = (run.config.dataset, depth, run.variant)
            chosen.setdefault(key, []).append(run)
        datasets = sorted({dataset for dataset, _, _ in chosen})
        if not datasets:
            return cls("", {})
        return cls(
            datasets[0],
            {
                (depth, order): found
                for (dataset, depth, order), found in chosen.items()
                if dataset == datasets[0]
            },
        )

    @property
    def depths(self):
        """The depths with `MIN_SEEDS` runs or more in both orders, ascending.

        A depth with one run in an order has no spread to compare its gain
        with, so it waits for its other seeds.
        """
        return sorted(
            {
                depth
                for depth, _ in self.runs
                if all(
                    len(self.runs.get((depth, order), ())) >= MIN_SEEDS
                    for order in ORDERS
                )
            }
        )

    def values(self, depth, order, value):
        """`value(run)` of each run at `(depth, order)`, `None`s dropped."""
        found = [value(run) for run in self.runs.get((depth, order), [])]
        return [v for v in found if v is not None]

    def accuracy(self, depth, order):
        """`(mean, std, n)` of the accuracy at a depth and order, or None."""
        return mean_std(self.values(depth, order, accuracy))

    def gain(self, depth):
        """Swap's gain over Convention at a depth: a `Difference`."""
        return welch(
            self.values(depth, "convention", accuracy),
            self.values(depth, "swap", accuracy),
        )

    def gain_slope(self):
        """The slope of Swap's gain against depth, with its p-value.

        Fits accuracy = a + b·swap + c·depth + d·swap·depth to every run
        by least squares; d is the change of the gain per block.

        Returns:
            `(slope, standard error, p)`, or `None` with fewer than two
            depths or no residual degrees of freedom.
        """
        if len(self.depths) < 2:
            return None
        rows, targets = [], []
        for depth in self.depths:
            for swap, order in enumerate(ORDERS):
                for value in self.values(depth, order, accuracy):
                    rows.append([1.0, swap, depth, swap * depth])
                    targets.append(value)
        x, y = np.array(rows), np.array(targets)
        df = len(y) - x.shape[1]
        if df < 1:
            return None
        coefficients, _, rank, _ = np.linalg.lstsq(x, y, rcond=None)
        if rank < x.shape[1]:
            return None
        residual = y - x @ coefficients
        variance = float(residual @ residual) / df
        covariance = variance * np.linalg.inv(x.T @ x)
        slope, se = coefficients[3], math.sqrt(covariance[3, 3])
        p = t_two_sided_p(slope / se, df) if se > 0 else math.nan
        return float(slope), se, float(p)

    def gradient_ratio(self, depth, order):
        """`(mean, std, n)` of `gradient_ratio` at a depth, or None."""
        return mean_std(self.values(depth, order, gradient_ratio))


@dataclasses.dataclass(frozen=True)
class DepthPeakClaim:
    """Accuracy peaks at VGG16_11 in one order (appendix A.6)."""

    order: str

    @property
    def text(self):
        return f"Accuracy peaks at VGG16_11 in {self.order.capitalize()} order"

    paper = "rises up to VGG16_11, falls after (A.6, CIFAR; order not given)"

    def check(self, study):
        """The claim on a `DepthStudy`: a `ClaimResult`."""
        means = {
            depth: study.accuracy(depth, self.order)
            for depth in sorted({d for d, o in study.runs if o == self.order})
        }
        means = {d: m for d, m in means.items() if m is not None}
        ours = "; ".join(
            f"VGG16_{d}: {mean_std_cell(m, scale=100.0)}"
            for d, m in means.items()
        )
        below = [d for d in means if d < PAPER_BEST_DEPTH]
        above = [d for d in means if d > PAPER_BEST_DEPTH]
        if PAPER_BEST_DEPTH not in means or not below or not above:
            return ClaimResult(self, None, ours or "no run")
        peak = max(means, key=lambda d: means[d][0])
        ours += f"; peak at VGG16_{peak}"
        others = [m for d, m in means.items() if d != peak]
        runner_up = max(others, key=lambda m: m[0])
        spread = max(means[peak][1], runner_up[1])
        noise = spread > 0 and means[peak][0] - runner_up[0] < spread
        return ClaimResult(
            self,
            peak == PAPER_BEST_DEPTH,
            ours,
            "within the seeds' noise" if noise else "",
        )


@dataclasses.dataclass(frozen=True)
class GainGrowthClaim:
    """Swap's gain over Convention grows with depth."""

    text = "Swap's gain over Convention grows with depth"
    paper = "predicted by the gradient explanation (figure 15); not measured"

    def check(self, study):
        """The claim on a `DepthStudy`: a `ClaimResult`."""
        gains = []
        for depth in study.depths:
            gain = study.gain(depth)
            gains.append(
                f"VGG16_{depth}: {100 * gain.difference:+.2f} ± "
                f"{number_cell(100 * gain.standard_error, '.2f')} "
                f"(p {number_cell(gain.p, '.2g')})"
            )
        fit = study.gain_slope()
        if fit is None:
            return ClaimResult(self, None, "; ".join(gains) or "no run")
        slope, se, p = fit
        ours = "; ".join(gains) + (
            f"; slope {100 * slope:+.3f} ± {100 * se:.3f} points per block "
            f"(p {p:.2g})"
        )
        caveat = "" if p < 0.05 else "not significant at p < 0.05"
        return ClaimResult(self, slope > 0, ours, caveat)


@dataclasses.dataclass(frozen=True)
class GradientFallClaim:
    """Convention's first-layer gradient falls with depth more than Swap's.

    Measured by the ratio of the first block's mean |kernel gradient| to
    the last block's, per depth and order, and the slope of its logarithm
    against depth in each order.
    """

    text = (
        "Convention's first-layer gradient scale falls with depth more "
        "than Swap's"
    )
    paper = "Convention's lower layers get smaller gradients (figure 15)"

    def slopes(self, study):
        """Per order, the least-squares slope of log(ratio) against depth.

        Args:
            study: a `DepthStudy`.

        Returns:
            A dict from order to the slope over the depths that recorded
            gradients, or `None` when an order has fewer than two such
            depths.
        """
        slopes = {}
        for order in ORDERS:
            points = [
                (depth, math.log(ratio))
                for depth in study.depths
                for ratio in study.values(depth, order, gradient_ratio)
                if ratio > 0
            ]
            if len({depth for depth, _ in points}) < 2:
                return None
            depths, logs = zip(*points, strict=True)
            slopes[order] = float(np.polyfit(depths, logs, 1)[0])
        return slopes

    def check(self, study):
        """The claim on a `DepthStudy`: a `ClaimResult`."""
        ours = "; ".join(
            f"{order.capitalize()} "
            + ", ".join(
                f"VGG16_{d}: {mean_std_cell(study.gradient_ratio(d, order))}"
                for d in study.depths
            )
            for order in ORDERS
        )
        slopes = self.slopes(study)
        if slopes is None:
            return ClaimResult(self, None, ours or "no run")
        ours += (
            "; slope of log(first/last) per block: Convention "
            f"{slopes['convention']:+.3f}, Swap {slopes['swap']:+.3f}"
        )
        return ClaimResult(self, slopes["convention"] < slopes["swap"], ours)


@dataclasses.dataclass(frozen=True)
class LateSkewnessClaim:
    """Blocks past the 8th have lower |skewness| than blocks 1-8."""

    text = (
        "Blocks past the 8th have lower mean absolute skewness than the "
        "blocks before"
    )
    paper = "low skewness after the 8th layer (figure 14)"

    def check(self, study):
        """The claim on a `DepthStudy`: a `ClaimResult`."""
        parts, verdicts = [], []
        for depth in study.depths:
            for order in ORDERS:
                pairs = study.values(depth, order, conv_skewness)
                if not pairs:
                    continue
                early = statistics.fmean(p[0] for p in pairs)
                late = statistics.fmean(p[1] for p in pairs)
                verdicts.append(late < early)
                parts.append(
                    f"VGG16_{depth} {order.capitalize()}: {early:.3f} "
                    f"(1-8) vs {late:.3f} (9+)"
                )
        ours = "; ".join(parts) or "no run past the 8th block"
        if not verdicts:
            return ClaimResult(self, None, ours)
        return ClaimResult(self, all(verdicts), ours)


#: The depth study's claims, each checked on a `DepthStudy`.
DEPTH_CLAIMS = (
    DepthPeakClaim("convention"),
    DepthPeakClaim("swap"),
    GainGrowthClaim(),
    GradientFallClaim(),
    LateSkewnessClaim(),
)


def check_depth_claims(study, claims=DEPTH_CLAIMS):
    """Checks each depth claim on a `DepthStudy`: `ClaimResult`s."""
    return [claim.check(study) for claim in claims]


def depth_table(study):
    """Accuracy, Swap's gain and the gradient ratio per depth: a `Table`."""
    rows = []
    for depth in study.depths:
        gain = study.gain(depth)
        rows.append(
            [
                f"VGG16_{depth}",
                mean_std_cell(study.accuracy(depth, "convention"), scale=100.0),
                mean_std_cell(study.accuracy(depth, "swap"), scale=100.0),
                f"{100 * gain.difference:+.2f} ± "
                f"{number_cell(100 * gain.standard_error, '.2f')}",
                number_cell(gain.p, ".2g"),
                mean_std_cell(study.gradient_ratio(depth, "convention"), 3),
                mean_std_cell(study.gradient_ratio(depth, "swap"), 3),
            ]
        )
    return Table(
        [
            "model",
            "Convention (%)",
            "Swap (%)",
            "Swap - Convention (points ± s.e.)",
            "p (Welch)",
            "first/last gradient, Convention",
            "first/last gradient, Swap",
        ],
        rows,
    )


__all__ = [
    "DEPTH_CLAIMS",
    "DepthStudy",
    "check_depth_claims",
    "conv_skewness",
    "depth_of",
    "depth_table",
    "gradient_ratio",
]
