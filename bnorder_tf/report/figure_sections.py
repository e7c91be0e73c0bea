"""The report's figures: file name, heading, caption and the figure.

Each list holds `(file name, heading, caption, figure or None)`; a
`None` figure (nothing to draw) is left out of the report.
"""

import re

from bnorder_tf.report import figures
from bnorder_tf.report.claims import SKEWNESS_ACCURACY, is_bounded
from bnorder_tf.report.figure15 import figure15_figure


def report_figures(groups, pairs, layer, channels):
    """`(file name, heading, caption, figure or None)` of every figure."""
    return (
        _per_layer_figures(groups)
        + _pair_figures(pairs)
        + _histogram_figures(groups, layer, channels)
        + _correlation_figures(groups)
        + _bounded_correlation_figures(groups)
        + [
            (
                "loss",
                "Loss curves",
                "Training and test loss per epoch, mean "
                "over seeds (paper figures 16, 17).",
                figures.loss_curves(groups),
            ),
            (
                "gradients",
                "Gradient scale",
                "Mean |input|, |kernel gradient| "
                "and |gradient at the activation input| per block (paper "
                "figure 15).",
                figures.gradient_scale(groups),
            ),
            (
                "tanh_skewness",
                "Skewness of tanh of a normal",
                "Computed by quadrature, no training involved (paper figure "
                "12).",
                figures.tanh_skewness(),
            ),
        ]
    )


def depth_figures(study):
    """The depth study's figures, with two depths or more."""
    if len(study.depths) < 2:
        return []
    return [
        (
            "depth_accuracy",
            "Accuracy against depth",
            "Test accuracy of VGG16_n with tanh in each order, mean ± std "
            "over seeds (paper appendix A.6).",
            figures.depth_accuracy(study),
        ),
        (
            "depth_gain",
            "Swap's gain against depth",
            "Swap's accuracy minus Convention's per depth, ± standard error, "
            "with the least-squares slope over every run.",
            figures.depth_gain(study),
        ),
        (
            "depth_gradients",
            "Figure 15, by depth",
            "Per conv block, aligned by name: mean |x|, |gradient at "
            "tanh's input| and |kernel gradient| (loss only) at the last "
            "epoch, averaged over the seeds that recorded them; Convention "
            "solid, Swap dashed, one colour per depth (paper figure 15).",
            figure15_figure(study),
        ),
        (
            "depth_skewness",
            "Skewness per block, by depth",
            "Mean absolute channel skewness of each conv block at the last "
            "epoch, one line per depth; the dotted line follows the 8th "
            "block (paper figure 14).",
            figures.depth_skewness(study),
        ),
    ]


#: The per-block figures: key, heading, caption, y label.
PER_LAYER_FIGURES = (
    (
        "saturation",
        "Saturation per block",
        "Mean |activation| / bound of each block at the last epoch "
        "(paper figures 3, 9, 13).",
        "saturation",
    ),
    (
        "skewness",
        "Skewness per block",
        "Mean absolute channel skewness of each block's activation "
        "(paper figures 4, 10, 13).",
        "mean |channel skewness|",
    ),
    (
        "sparsity",
        "Sparsity per block",
        "1 - mean |output| / channel max |output| of each block.",
        "sparsity",
    ),
)


def _per_layer_figures(groups):
    return [
        (key, heading, caption, figures.per_layer(groups, key, heading, label))
        for key, heading, caption, label in PER_LAYER_FIGURES
    ]


def _pair_figures(pairs):
    return [
        (
            "pairs_per_block",
            "Convention and Swap per block, pair by pair",
            "Saturation and mean absolute channel skewness of each block at "
            "the last epoch, Convention dashed and Swap solid, one row per "
            "dataset, model and activation (paper figures 3, 4, 13).",
            figures.pairs_per_layer(
                pairs,
                (("saturation", "saturation"), ("skewness", "|skewness|")),
            )
            if pairs
            else None,
        )
    ]


def _histogram_figures(groups, layer, channels):
    return [
        (
            "histograms",
            f"Activation histograms of {layer}",
            f"Per-channel distributions of {layer}'s activation, one column "
            "per setting, first run of each (paper figure 1).",
            figures.histograms(groups, layer, channels),
        ),
        (
            "output_histograms",
            f"Block output histograms of {layer}",
            f"Per-channel distributions of {layer}'s output: the BN output in "
            "Swap, the activation again in Convention (paper figure 8).",
            figures.histograms(groups, layer, channels, tap="output"),
        ),
    ]


def _correlation_figures(groups):
    """Sparsity and skewness against accuracy, one pair per dataset.

    Accuracies of different datasets are not comparable, so their runs
    are never pooled.
    """
    by_dataset = {}
    for group in groups:
        by_dataset.setdefault(group.settings["dataset"], []).append(group)
    drawn = []
    for dataset, dataset_groups in sorted(by_dataset.items()):
        suffix = f"_{_file_part(dataset)}" if len(by_dataset) > 1 else ""
        for key in ("sparsity", "skewness"):
            fig, r = figures.versus_accuracy(dataset_groups, key)
            drawn.append(
                (
                    f"{key}_vs_accuracy{suffix}",
                    f"{key.capitalize()} vs accuracy on {dataset}",
                    f"One point per run of {dataset}; Pearson r = {r:.3f} "
                    "(paper figures 5, 7)."
                    if fig
                    else "",
                    fig,
                )
            )
    return drawn


def _file_part(dataset):
    """A dataset's name as part of a file name.

    `imagenet_resized/32x32` -> `imagenet_resized-32x32`,
    `folder:/data/birds` -> `folder-data-birds`.
    """
    return re.sub(r"[^A-Za-z0-9_.]+", "-", dataset).strip("-")


def _bounded_correlation_figures(groups):
    """Skewness against accuracy over the runs with a bounded activation.

    One figure per dataset whose bounded runs span several (model,
    activation): Pearson's r pooled, between orders and seed against seed,
    with p-values, as the claim `SKEWNESS_ACCURACY` computes them.
    """
    by_dataset = {}
    for group in groups:
        if is_bounded(group.runs[0]):
            by_dataset.setdefault(group.settings["dataset"], []).append(group)
    drawn = []
    for dataset, bounded in sorted(by_dataset.items()):
        found = SKEWNESS_ACCURACY.correlations(
            [run for group in bounded for run in group.runs]
        )
        settings = {
            (g.settings["model"], g.settings["activation"]) for g in bounded
        }
        if found is None or len(settings) < 2:
            continue
        pooled, orders, seeds = found
        fig, _ = figures.versus_accuracy(bounded, "skewness")
        drawn.append(
            (
                f"skewness_vs_accuracy_bounded_{_file_part(dataset)}",
                f"Skewness vs accuracy on {dataset}, bounded activations",
                f"One point per run with a bounded activation; pooled "
                f"Pearson r = {pooled.r:.3f} (p = {pooled.p:.2g}, n = "
                f"{pooled.n}). Within each (model, activation), their means "
                f"removed, which leaves the Convention/Swap contrast: r = "
                f"{orders.r:.3f} (p = {orders.p:.2g}). Seed against seed "
                f"within each (model, activation, order): r = "
                f"{seeds.r:.3f} (p = {seeds.p:.2g}, {seeds.df} df). The "
                "pooled r also counts differences between activations, "
                "orders and their tuned learning rates that have nothing "
                "to do with skewness.",
                fig,
            )
        )
    return drawn
