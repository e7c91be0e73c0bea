"""The paper's figure 15, as the paper states it, measured per conv block.

Appendix A.6 explains why Swap trains well although its tanh saturates:

1. in Swap, the gradient at tanh's input vanishes in the shallow layers
   and is smaller than Convention's;
2. Swap's convolution inputs x are larger, because BN's output is
   unbounded;
3. so the convolution weights' gradients end up on a scale similar to
   Convention's.

`FIGURE15_CLAIMS` check the three on the runs that recorded the gradient
scale (`--gradient_batches`), at each depth, per run summarised over conv
blocks by a geometric mean (the blocks' scales differ by orders of
magnitude). What was fixed before the runs were read: the shallow blocks
are conv1-conv4 (the first half of VGG16_11's eight), x is compared from
conv2 on (conv1's input is the image, the same in both orders), "similar"
means within a factor of `verdicts.SIMILAR_FACTOR`, and the kernel
gradient is the loss's alone (`kernel_loss_grad_abs_mean`, as PyTorch's
`.grad`), without the decay term.
"""

import dataclasses
import math
import re

import numpy as np

from bnorder_tf.report import verdicts
from bnorder_tf.report.claims import ClaimResult, correct_family
from bnorder_tf.report.document import Table
from bnorder_tf.report.significance import mean_std

#: The shallow blocks of claim 1: conv1 to conv4.
SHALLOW_BLOCKS = 4
INPUT = "input_abs_mean"
PREACTIVATION_GRADIENT = "preactivation_grad_abs_mean"
KERNEL_LOSS_GRADIENT = "kernel_loss_grad_abs_mean"
#: The three panels: key, title.
PANELS = (
    (INPUT, "mean |x|, the convolution's input"),
    (PREACTIVATION_GRADIENT, "mean |gradient at tanh's input|"),
    (KERNEL_LOSS_GRADIENT, "mean |gradient of the kernel| (loss only)"),
)
_CONV = re.compile(r"conv(\d+)")


def conv_index(name):
    """The number of a block named conv<n>, or `None`."""
    match = _CONV.fullmatch(name)
    return int(match.group(1)) if match else None


def block_means(run, key, first=1, last=None):
    """Geometric mean of `key` over conv blocks `first`..`last` of a run.

    Returns:
        The mean, or `None` when the run recorded none of them.
    """
    gradients = run.summary.get("gradients") or {}
    values = [
        values[key]
        for name, values in gradients.items()
        if conv_index(name) is not None
        and first <= conv_index(name) <= (last or math.inf)
        and values.get(key)
    ]
    return math.exp(np.mean(np.log(values))) if values else None


@dataclasses.dataclass(frozen=True)
class RatioClaim:
    """Swap's value over Convention's, above or below 1 (Welch on logs).

    Attributes:
        text: the claim.
        paper: what the paper says.
        key: the gradient record's key.
        first, last: the conv blocks summarised.
        larger: whether the claim is that Swap's is larger.
    """

    text: str
    paper: str
    key: str
    first: int = 1
    last: int = None
    larger: bool = True

    def check(self, study, depth):
        """The claim at one depth of a `depth.DepthStudy`."""
        claim = _AtDepth(f"VGG16_{depth}: {self.text}", self.paper)
        conv, swap = _per_order(
            study,
            depth,
            lambda r: block_means(r, self.key, self.first, self.last),
        )
        if conv is None:
            return _not_measured(claim, "no run")
        # oriented so that a positive estimate is the claim's direction
        low, high = (conv, swap) if self.larger else (swap, conv)
        name = "Welch's t, log(" + (
            "Swap / Convention)" if self.larger else "Convention / Swap)"
        )
        test = verdicts.welch_test(np.log(low), np.log(high), name)
        ours = f"Swap / Convention {_geometric_ratio(conv, swap):.2f}"
        return ClaimResult(claim, verdicts.directional(test), ours)


@dataclasses.dataclass(frozen=True)
class SimilarScaleClaim:
    """Swap's kernel gradients on a scale similar to Convention's."""

    text: str = (
        "the conv kernels' loss gradients are on a similar scale in both "
        f"orders (within ×{verdicts.SIMILAR_FACTOR:g})"
    )
    paper: str = "similar scale (figure 15)"

    def check(self, study, depth):
        """The claim at one depth of a `depth.DepthStudy`."""
        claim = _AtDepth(f"VGG16_{depth}: {self.text}", self.paper)
        conv, swap = _per_order(
            study, depth, lambda r: block_means(r, KERNEL_LOSS_GRADIENT)
        )
        if conv is None:
            return _not_measured(
                claim, "no run recorded the loss-only gradient"
            )
        verdict = verdicts.similar_scale(conv, swap, "Welch's t on logs")
        ours = f"Swap / Convention {_geometric_ratio(conv, swap):.2f}"
        return ClaimResult(claim, verdict, ours, digits=2, ratio=True)


@dataclasses.dataclass(frozen=True)
class _AtDepth:
    text: str
    paper: str


def _per_order(study, depth, value):
    """`(convention values, swap values)` at a depth, or `(None, None)`.

    `None` when either order has fewer than two gradient runs.
    """
    conv, swap = (
        study.gradient_values(depth, order, value)
        for order in ("convention", "swap")
    )
    if len(conv) < 2 or len(swap) < 2:
        return None, None
    return conv, swap


def _not_measured(claim, ours):
    return ClaimResult(claim, verdicts.Verdict(verdicts.NOT_MEASURED), ours)


def _geometric_ratio(conv, swap):
    return math.exp(np.mean(np.log(swap)) - np.mean(np.log(conv)))


#: The directional claims (one Holm family) and the similar-scale claim.
DIRECTIONAL_CLAIMS = (
    RatioClaim(
        "Swap's convolution inputs |x| are larger (conv2 on)",
        "larger: BN's output is unbounded",
        INPUT,
        first=2,
    ),
    RatioClaim(
        f"Swap's gradient at tanh's input is smaller in conv1-conv"
        f"{SHALLOW_BLOCKS}",
        "smaller, vanishing in the shallow layers",
        PREACTIVATION_GRADIENT,
        last=SHALLOW_BLOCKS,
        larger=False,
    ),
)
SCALE_CLAIM = SimilarScaleClaim()


def check_figure15_claims(study):
    """The three claims at every depth with gradient runs in both orders.

    Args:
        study: a `depth.DepthStudy`.

    Returns:
        `ClaimResult`s, by depth then claim; the directional claims'
        p-values Holm-corrected as one family.
    """
    directional, similar = [], []
    for depth in study.gradient_depths():
        directional += [c.check(study, depth) for c in DIRECTIONAL_CLAIMS]
        similar.append(SCALE_CLAIM.check(study, depth))
    measured = [r for r in directional if r.state != verdicts.NOT_MEASURED]
    size = sum(len(r.verdict.tests) for r in measured)
    corrected = iter(
        correct_family(measured, f"Holm over the {size} figure-15 comparisons")
    )
    directional = [
        next(corrected) if r.state != verdicts.NOT_MEASURED else r
        for r in directional
    ]
    per_depth = len(DIRECTIONAL_CLAIMS)
    out = []
    for i, result in enumerate(similar):
        out += directional[i * per_depth : (i + 1) * per_depth] + [result]
    return out


def figure15_table(study, depth):
    """Per conv block, both orders' three scales at one depth: a `Table`.

    Each cell is the mean over the depth's gradient runs (seeds).
    """
    blocks = _blocks(study, [depth])
    rows = []
    for block in blocks:
        row = [block]
        for key, _ in PANELS:
            for order in ("convention", "swap"):
                found = mean_std(
                    study.gradient_values(
                        depth, order, lambda r, k=key, b=block: _value(r, b, k)
                    )
                )
                row.append(f"{found[0]:.3g}" if found else "—")
        rows.append(row)
    header = ["block"]
    for _, title in PANELS:
        header += [f"{title}, Convention", "Swap"]
    return Table(header, rows)


def _value(run, block, key):
    return ((run.summary.get("gradients") or {}).get(block) or {}).get(key)


def _blocks(study, depths):
    names = {
        name
        for (depth, _), runs in study.gradient_runs.items()
        if depth in depths
        for run in runs
        for name in (run.summary.get("gradients") or {})
        if conv_index(name) is not None
    }
    return sorted(names, key=conv_index)


def figure15_figure(study):
    """Three panels as figure 15: per conv block, aligned by name.

    One line per depth and order (Convention solid, Swap dashed), each
    the mean over the depth's gradient runs; fully connected blocks are
    left out, and a depth's line stops at its last conv block.

    Args:
        study: a `depth.DepthStudy`.

    Returns:
        The figure, or `None` when no run recorded gradient scales.
    """
    from bnorder_tf.report.figures import plt

    depths = sorted({d for d, _ in study.gradient_runs})
    blocks = _blocks(study, depths)
    if not blocks:
        return None
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    positions = {name: i for i, name in enumerate(blocks)}
    for ax, (key, title) in zip(axes, PANELS, strict=True):
        for i, depth in enumerate(depths):
            for order, style in (("convention", "-"), ("swap", "--")):
                points = []
                for block in blocks:
                    found = study.gradient_values(
                        depth, order, lambda r, b=block, k=key: _value(r, b, k)
                    )
                    if found:
                        points.append((positions[block], np.mean(found)))
                if points:
                    x, y = zip(*points, strict=True)
                    label = f"VGG16_{depth} {order.capitalize()}"
                    color = colors[i % len(colors)]
                    ax.plot(x, y, style, marker="o", ms=3, color=color,
                            label=label)  # fmt: skip
        ax.set_xticks(range(len(blocks)), blocks, rotation=45)
        ax.set_yscale("log")
        ax.set_title(title, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    return fig


__all__ = [
    "DIRECTIONAL_CLAIMS",
    "SCALE_CLAIM",
    "block_means",
    "check_figure15_claims",
    "figure15_figure",
    "figure15_table",
]
