"""The depth study: VGG16_n with tanh in both orders, as n grows.

The paper's appendix A.6 found accuracy rising with VGG16's depth up to
VGG16_11 and falling after, with low skewness in the blocks past the 8th
(figure 14). Two more claims are the project's own extrapolation, not
the paper's: that Swap's gain grows with depth, and that Convention's
first convolution's gradient falls with depth against the last one's
more than Swap's. `DEPTH_CLAIMS` check all four on the runs, with the
rules of `verdicts.RULES`; `depth_table` shows what they rest on.

A depth point is the runs of one (dataset, VGG16_n, order) with tanh;
its accuracy is each run's final accuracy. Its gradient scales come from
the runs that recorded them (`--gradient_batches`): `gradient_runs`,
which may be other runs of the same setting.

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

from bnorder_tf.report import verdicts
from bnorder_tf.report.claims import ClaimResult, accuracy
from bnorder_tf.report.document import Table, mean_std_cell, number_cell
from bnorder_tf.report.significance import mean_std, welch

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


def conv_blocks(gradients):
    """The convolution blocks' names among `gradients`, conv1 first."""
    found = [n for n in gradients if _CONV.fullmatch(n)]
    return sorted(found, key=lambda n: int(_CONV.fullmatch(n).group(1)))


def gradient_ratio(run, key="kernel_grad_abs_mean"):
    """conv1's mean |kernel gradient| over the last conv block's.

    Fully connected blocks are left out: the ratio is between the first
    and the last convolution.

    Args:
        run: a `runs.Run`.
        key: which kernel gradient: `"kernel_grad_abs_mean"` (decay
            included, recorded by every version) or
            `"kernel_loss_grad_abs_mean"` (the loss's alone).

    Returns:
        The ratio, or `None` when the run recorded no such gradient.
    """
    gradients = run.summary.get("gradients") or {}
    blocks = conv_blocks(gradients)
    if len(blocks) < 2 or any(
        key not in gradients[b] for b in (blocks[0], blocks[-1])
    ):
        return None
    first = gradients[blocks[0]][key]
    last = gradients[blocks[-1]][key]
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


def _by_depth(runs):
    """Tanh VGG16_n runs by `(dataset, depth, order)`."""
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
    return chosen


@dataclasses.dataclass
class DepthStudy:
    """The tanh VGG16_n runs of one dataset, by depth and order.

    Attributes:
        dataset: the dataset's name.
        runs: dict from `(depth, order)` to the list of runs whose
            accuracy counts.
        gradient_runs: dict from `(depth, order)` to the runs whose
            gradient scales count: those of `runs` that recorded them,
            and the extra runs given for the gradients alone.
    """

    dataset: str
    runs: dict
    gradient_runs: dict = dataclasses.field(default_factory=dict)

    @classmethod
    def from_runs(cls, runs, gradient_runs=()):
        """The study among `runs`: tanh VGG16_n, Convention or Swap.

        Runs of several datasets are never pooled: the first dataset (by
        name) with any such run is taken.

        Args:
            runs: `report.runs.Run`s, finished.
            gradient_runs: more finished runs, counted for their gradient
                scales only (e.g. seeds trained again to record them).

        Returns:
            A `DepthStudy` (with no depths when no run qualifies).
        """
        chosen = _by_depth(runs)
        datasets = sorted({dataset for dataset, _, _ in chosen})
        if not datasets:
            return cls("", {})
        measured = _by_depth(
            [
                r
                for r in list(runs) + list(gradient_runs)
                if r.summary.get("gradients")
            ]
        )
        return cls(
            datasets[0],
            {
                (depth, order): found
                for (dataset, depth, order), found in chosen.items()
                if dataset == datasets[0]
            },
            {
                (depth, order): found
                for (dataset, depth, order), found in measured.items()
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
        """The slope of Swap's gain against depth: a `verdicts.Evidence`.

        Fits accuracy = a + b·swap + c·depth + d·swap·depth to every run
        by least squares; d is the change of the gain per block.

        Returns:
            The test of d (in accuracy per block), or `None` with fewer
            than two depths or no residual degrees of freedom.
        """
        if len(self.depths) < 2:
            return None
        rows, targets = [], []
        for depth in self.depths:
            for swap, order in enumerate(ORDERS):
                for value in self.values(depth, order, accuracy):
                    rows.append([1.0, swap, depth, swap * depth])
                    targets.append(value)
        return verdicts.regression_test(
            rows, targets, 3, "least squares, slope of the gain per block"
        )

    def gradient_values(self, depth, order, value):
        """`value(run)` of each gradient run at `(depth, order)`."""
        found = [
            value(run) for run in self.gradient_runs.get((depth, order), [])
        ]
        return [v for v in found if v is not None]

    def gradient_depths(self):
        """The depths whose gradient runs number two or more in both orders."""
        return sorted(
            {
                depth
                for depth, _ in self.gradient_runs
                if all(
                    len(self.gradient_values(depth, o, gradient_ratio))
                    >= MIN_SEEDS
                    for o in ORDERS
                )
            }
        )

    def gradient_ratio(self, depth, order):
        """`(mean, std, n)` of `gradient_ratio` at a depth, or None."""
        return mean_std(self.gradient_values(depth, order, gradient_ratio))


@dataclasses.dataclass(frozen=True)
class DepthPeakClaim:
    """Accuracy peaks at VGG16_11 in one order (appendix A.6).

    VGG16_11 is compared with each neighbouring depth measured (the
    nearest below and above) by Welch's test: the claim holds when it
    beats both, and is contradicted when a neighbour beats it.
    """

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
            return ClaimResult(
                self, verdicts.Verdict(verdicts.NOT_MEASURED), ours or "no run"
            )
        peak = self.values(study, PAPER_BEST_DEPTH)
        tests = [
            verdicts.welch_test(
                self.values(study, neighbour),
                peak,
                f"Welch's t, VGG16_{PAPER_BEST_DEPTH} − VGG16_{neighbour}",
            )
            for neighbour in (max(below), min(above))
        ]
        return ClaimResult(
            self,
            verdicts.all_of([verdicts.directional(t) for t in tests]),
            ours,
            digits=2,
            scale=100.0,
        )

    def values(self, study, depth):
        return study.values(depth, self.order, accuracy)


@dataclasses.dataclass(frozen=True)
class GainGrowthClaim:
    """Swap's gain over Convention grows with depth (ours, not the paper's)."""

    text = "Swap's gain over Convention grows with depth"
    paper = (
        "not claimed: the project's extrapolation of the paper's gradient "
        "explanation (A.6)"
    )

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
            return ClaimResult(
                self,
                verdicts.Verdict(verdicts.NOT_MEASURED),
                "; ".join(gains) or "no run",
            )
        ours = "; ".join(gains) + "; the test's slope in points per block"
        return ClaimResult(
            self, verdicts.by_interval(fit), ours, digits=3, scale=100.0
        )


@dataclasses.dataclass(frozen=True)
class GradientFallClaim:
    """Convention's conv1 gradient falls with depth more than Swap's (ours).

    Measured by the ratio of conv1's mean |kernel gradient| to the last
    conv block's, per run, and decided by the interval of the difference
    of the slopes of its logarithm against depth (Swap's minus
    Convention's, fitted together as in `DepthStudy.gain_slope`). The
    kernel gradient includes the decay term, the one every version
    recorded.
    """

    text = (
        "Convention's conv1 kernel gradient, relative to the last conv "
        "block's, falls with depth more than Swap's"
    )
    paper = (
        "not claimed: the project's extrapolation of figure 15 (the paper "
        "makes no depth prediction)"
    )

    def check(self, study):
        """The claim on a `DepthStudy`: a `ClaimResult`."""
        depths = study.gradient_depths()
        ours = "; ".join(
            f"{order.capitalize()} "
            + ", ".join(
                f"VGG16_{d}: {mean_std_cell(study.gradient_ratio(d, order))}"
                for d in depths
            )
            for order in ORDERS
        )
        rows, targets = [], []
        for depth in depths:
            for swap, order in enumerate(ORDERS):
                for ratio in study.gradient_values(
                    depth, order, gradient_ratio
                ):
                    if ratio > 0:
                        rows.append([1.0, swap, depth, swap * depth])
                        targets.append(math.log(ratio))
        fit = (
            verdicts.regression_test(
                rows,
                targets,
                3,
                "least squares, Swap's slope of log(conv1/last conv) per "
                "block − Convention's",
            )
            if len(depths) >= 2
            else None
        )
        if fit is None:
            return ClaimResult(
                self, verdicts.Verdict(verdicts.NOT_MEASURED), ours or "no run"
            )
        return ClaimResult(self, verdicts.by_interval(fit), ours, digits=3)


@dataclasses.dataclass(frozen=True)
class LateSkewnessClaim:
    """Blocks past the 8th have lower |skewness| than blocks 1-8.

    Decided by Student's t on each run's difference (mean |skewness| of
    blocks 1-8 minus that of the blocks past the 8th), over every run
    past 8 conv blocks.
    """

    text = (
        "Blocks past the 8th have lower mean absolute skewness than the "
        "blocks before"
    )
    paper = "low skewness after the 8th layer (figure 14)"

    def check(self, study):
        """The claim on a `DepthStudy`: a `ClaimResult`."""
        parts, differences = [], []
        for depth in study.depths:
            for order in ORDERS:
                pairs = study.values(depth, order, conv_skewness)
                if not pairs:
                    continue
                early = statistics.fmean(p[0] for p in pairs)
                late = statistics.fmean(p[1] for p in pairs)
                differences += [p[0] - p[1] for p in pairs]
                parts.append(
                    f"VGG16_{depth} {order.capitalize()}: {early:.3f} "
                    f"(1-8) vs {late:.3f} (9+)"
                )
        ours = "; ".join(parts) or "no run past the 8th block"
        if not differences:
            return ClaimResult(
                self, verdicts.Verdict(verdicts.NOT_MEASURED), ours
            )
        test = verdicts.one_sample_test(
            differences, "Student's t, blocks 1-8 − blocks 9+ per run"
        )
        return ClaimResult(self, verdicts.by_interval(test), ours)


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
        gain = verdicts.welch_test(
            study.values(depth, "convention", accuracy),
            study.values(depth, "swap", accuracy),
        )
        rows.append(
            [
                f"VGG16_{depth}",
                mean_std_cell(study.accuracy(depth, "convention"), scale=100.0),
                mean_std_cell(study.accuracy(depth, "swap"), scale=100.0),
                verdicts.estimate_cell(gain, 2, 100.0),
                number_cell(gain.p, ".2g"),
                mean_std_cell(study.gradient_ratio(depth, "convention"), 2),
                mean_std_cell(study.gradient_ratio(depth, "swap"), 2),
            ]
        )
    return Table(
        [
            "model",
            "Convention (%)",
            "Swap (%)",
            "Swap − Convention (points) [95% interval]",
            "p (Welch)",
            "conv1/last conv kernel gradient, Convention",
            "conv1/last conv kernel gradient, Swap",
        ],
        rows,
    )


__all__ = [
    "DEPTH_CLAIMS",
    "DepthStudy",
    "check_depth_claims",
    "conv_blocks",
    "conv_skewness",
    "depth_of",
    "depth_table",
    "gradient_ratio",
]
