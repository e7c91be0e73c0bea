"""The report's figures (matplotlib, headless).

Each function draws one figure from groups of runs and returns it, or
`None` when the runs hold nothing to draw.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from bnorder_tf.report.analytic import tanh_skewness_grid  # noqa: E402
from bnorder_tf.training.run_dir import final_accuracy


def _layer_series(group, key):
    """Layer names and, per layer, a statistic's mean over a group's runs.

    Each run's value is its last stats record's (its last epoch).
    """
    records = [r.last_stats for r in group.runs if r.last_stats]
    if not records:
        return [], []
    layers = list(records[0]["layers"])
    values = []
    for layer in layers:
        column = [rec["layers"][layer].get(key) for rec in records]
        column = [v for v in column if v is not None]
        values.append(np.mean(column) if column else np.nan)
    return layers, values


def per_layer(groups, key, title, ylabel):
    """One line per group: a statistic of each block at the last epoch.

    Args:
        groups: `runs.Group`s.
        key: the statistic's key in a stats record's layers
            (`"saturation"`, `"skewness"`, `"sparsity"`).
        title: the figure's title.
        ylabel: the y axis's label.

    Returns:
        The figure, or `None` when no group has the statistic.
    """
    fig, ax = plt.subplots(figsize=(8, 4.5))
    drawn = False
    for group in groups:
        layers, values = _layer_series(group, key)
        if layers and not np.all(np.isnan(values)):
            ax.plot(layers, values, marker="o", label=group.label)
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    ax.set_title(title)
    ax.set_xlabel("block")
    ax.set_ylabel(ylabel)
    ax.tick_params(axis="x", rotation=45)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def pairs_per_layer(pairs, keys):
    """Per-block statistics of each Convention/Swap pair (paper figure 13).

    One row per pair, one column per `(key, label)` in `keys`: the
    statistic of each block at the last epoch, Convention dashed and Swap
    solid.

    Args:
        pairs: `pairs.Pair`s.
        keys: `(key, label)` pairs: a per-layer statistic and its title.

    Returns:
        The figure, or `None` when no pair has per-layer statistics.
    """
    rows = [
        pair
        for pair in pairs
        if _layer_series(pair.convention, keys[0][0])[0]
        and _layer_series(pair.swap, keys[0][0])[0]
    ]
    if not rows:
        return None
    fig, axes = plt.subplots(
        len(rows),
        len(keys),
        squeeze=False,
        figsize=(5.5 * len(keys), 2.8 * len(rows)),
    )
    for i, pair in enumerate(rows):
        for j, (key, label) in enumerate(keys):
            ax = axes[i, j]
            ax.set_title(f"{pair.name}: {label}", fontsize=9)
            series = [
                (_layer_series(group, key), style, name)
                for group, style, name in (
                    (pair.convention, "--", "Convention"),
                    (pair.swap, "-", "Swap"),
                )
            ]
            if all(np.all(np.isnan(values)) for (_, values), _, _ in series):
                # saturation of an unbounded activation (ReLU)
                ax.text(0.5, 0.5, "not defined", ha="center", va="center")
                ax.set_axis_off()
                continue
            for (layers, values), style, name in series:
                ax.plot(layers, values, style, marker="o", label=name)
            ax.tick_params(axis="x", rotation=60, labelsize=6)
            ax.grid(alpha=0.3)
    plotted = [ax for ax in axes.flat if ax.lines]
    if plotted:
        plotted[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


#: The histograms a stats record holds: tap -> (counts key, edges key).
HISTOGRAM_KEYS = {
    "activation": ("histogram", "histogram_edges"),
    "output": ("output_histogram", "output_histogram_edges"),
}


def histograms(groups, layer, channels=4, tap="activation"):
    """Per-channel histograms of one block's activation or output.

    The activation is the paper's figure 1, the output its figure 8 (the
    BN output in Swap). One column per group (Convention beside Swap),
    drawn from its first run, one row per channel; runs measured without
    histograms are left out.

    Args:
        groups: `runs.Group`s.
        layer: the block's name.
        channels: int, the channels (rows) drawn.
        tap: `"activation"` or `"output"` (keys of `HISTOGRAM_KEYS`).

    Returns:
        The figure, or `None` when no group has the histograms.
    """
    counts_key, edges_key = HISTOGRAM_KEYS[tap]
    columns = [
        g
        for g in groups
        if g.runs[0].last_stats
        and layer in g.runs[0].last_stats["layers"]
        and g.runs[0].last_stats["layers"][layer].get(counts_key) is not None
    ]
    if not columns:
        return None
    fig, axes = plt.subplots(
        channels,
        len(columns),
        squeeze=False,
        figsize=(3.2 * len(columns), 1.8 * channels),
        sharex="col",
    )
    for col, group in enumerate(columns):
        stats = group.runs[0].last_stats["layers"][layer]
        edges = np.asarray(stats[edges_key])
        counts = np.asarray(stats[counts_key], float)
        for row in range(min(channels, len(counts))):
            ax = axes[row, col]
            density = counts[row] / max(counts[row].sum(), 1.0)
            ax.stairs(density, edges, fill=True, alpha=0.7)
            ax.set_ylabel(f"ch {row}", fontsize=8)
            if row == 0:
                ax.set_title(group.label, fontsize=8)
        axes[-1, col].set_xlabel(f"{tap} value")
    fig.suptitle(
        f"{tap.capitalize()} histograms of {layer}, per channel "
        "(fraction of values per bin, last epoch)"
    )
    fig.tight_layout()
    return fig


def versus_accuracy(groups, key):
    """One point per run: a model-level statistic against test accuracy.

    Args:
        groups: `runs.Group`s.
        key: the model-level statistic (`"sparsity"`, `"skewness"`).

    Returns:
        `(figure, r)` with Pearson's r over all points (NaN without
        spread), or `(None, None)` with fewer than two runs.
    """
    points = [
        (
            run.summary["stats"][key],
            final_accuracy(run.summary),
            group.label,
        )
        for group in groups
        for run in group.runs
        if (run.summary.get("stats") or {}).get(key) is not None
        and final_accuracy(run.summary) is not None
    ]
    if len(points) < 2:
        return None, None
    x = np.array([p[0] for p in points])
    y = np.array([p[1] for p in points])
    r = float(np.corrcoef(x, y)[0, 1]) if x.std() and y.std() else np.nan
    fig, ax = plt.subplots(figsize=(6, 4.5))
    for label in dict.fromkeys(p[2] for p in points):
        sel = [i for i, p in enumerate(points) if p[2] == label]
        ax.scatter(x[sel], y[sel], label=label)
    ax.set_title(f"{key.capitalize()} vs test accuracy (r = {r:.3f})")
    ax.set_xlabel(f"model-level {key}")
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig, r


def loss_curves(groups):
    """Training and test loss per epoch, mean over each group's runs.

    Args:
        groups: `runs.Group`s.

    Returns:
        The figure, or `None` when no run has a loss history.
    """
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    drawn = False
    for group in groups:
        for ax, key in zip(axes, ("loss", "val_loss"), strict=True):
            curves = [
                [np.nan if v is None else v for v in run.history[key]]
                for run in group.runs
                if run.history.get(key)
            ]
            if not curves:
                continue
            length = min(len(c) for c in curves)
            mean = np.mean([c[:length] for c in curves], axis=0)
            ax.plot(
                np.arange(1, length + 1), mean, marker=".", label=group.label
            )
            drawn = True
    if not drawn:
        plt.close(fig)
        return None
    for ax, title in zip(axes, ("Training loss", "Test loss"), strict=True):
        ax.set_title(title + " (mean over seeds)")
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("loss (cross-entropy + weight decay)")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


GRADIENT_PANELS = (
    ("input_abs_mean", "mean |input of the weight layer|"),
    ("kernel_grad_abs_mean", "mean |gradient of the kernel|"),
    ("preactivation_grad_abs_mean", "mean |gradient at the activation input|"),
)


def _block_order(name):
    """Conv blocks by number, then the fully connected ones by number."""
    kind = name.rstrip("0123456789")
    number = name[len(kind) :]
    return (kind != "conv", kind, int(number) if number else 0)


def gradient_scale(groups):
    """Figure 15: the three gradient scales per block, one line per group.

    Only groups whose runs recorded them (`--gradient_batches`) are drawn,
    from the first such run.

    Args:
        groups: `runs.Group`s.

    Returns:
        The figure, or `None` when no run recorded gradient scales.
    """
    series = []
    for group in groups:
        recorded = [
            r.last_stats["gradients"]
            for r in group.runs
            if r.last_stats and r.last_stats.get("gradients")
        ]
        if recorded:
            series.append((group.label, recorded[0]))
    if not series:
        return None
    # blocks aligned by name: a shallower model's line stops where its
    # blocks do, rather than running across the deeper model's
    blocks = list(dict.fromkeys(n for _, g in series for n in g))
    blocks.sort(key=_block_order)
    fig, axes = plt.subplots(1, 3, figsize=(14, 4))
    for ax, (key, title) in zip(axes, GRADIENT_PANELS, strict=True):
        for label, gradients in series:
            # NaN where a model has no such block: the line breaks there
            values = [gradients.get(n, {}).get(key, np.nan) for n in blocks]
            ax.plot(range(len(blocks)), values, marker="o", label=label)
        ax.set_xticks(range(len(blocks)), blocks)
        ax.set_title(title, fontsize=9)
        ax.set_yscale("log")
        ax.set_xlabel("block")
        ax.tick_params(axis="x", rotation=45)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Gradient scale per block (last epoch)")
    fig.tight_layout()
    return fig


def tanh_skewness(means=None, stds=None):
    """Figure 12: skewness of tanh(X), X ~ N(mean, std), by quadrature.

    Args:
        means: 1-D array of means (default: -3 to 3).
        stds: 1-D array of standard deviations (default: 0.05 to 3).

    Returns:
        The figure.
    """
    means = np.linspace(-3, 3, 61) if means is None else means
    stds = np.linspace(0.05, 3, 60) if stds is None else stds
    grid = tanh_skewness_grid(means, stds)
    fig, ax = plt.subplots(figsize=(6.5, 5))
    limit = np.nanmax(np.abs(grid))
    image = ax.pcolormesh(
        stds,
        means,
        grid,
        cmap="RdBu_r",
        vmin=-limit,
        vmax=limit,
        shading="auto",
    )
    fig.colorbar(image, ax=ax, label="skewness of tanh(X)")
    ax.set_xlabel("std of X")
    ax.set_ylabel("mean of X")
    ax.set_title(
        "Skewness of tanh(X), X ~ N(mean, std²): an off-centre "
        "input saturates one side",
        fontsize=9,
    )
    fig.tight_layout()
    return fig


def depth_accuracy(study):
    """Accuracy against VGG16_n's depth, both orders, ± std over seeds.

    Args:
        study: a `depth.DepthStudy`.

    Returns:
        The figure.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for order, marker in (("convention", "s"), ("swap", "o")):
        points = [
            (depth, study.accuracy(depth, order))
            for depth in sorted({d for d, o in study.runs if o == order})
        ]
        points = [(d, m) for d, m in points if m is not None]
        if points:
            ax.errorbar(
                [d for d, _ in points],
                [100 * m[0] for _, m in points],
                yerr=[100 * m[1] for _, m in points],
                marker=marker,
                capsize=4,
                label=order.capitalize(),
            )
    ax.set_xlabel("n of VGG16_n")
    ax.set_ylabel("accuracy (%)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


def depth_gain(study):
    """Swap's gain over Convention against depth, ± its standard error.

    With the fitted line of `DepthStudy.gain_slope`, when it has one.

    Args:
        study: a `depth.DepthStudy`.

    Returns:
        The figure, or `None` when the study has no depth.
    """
    if not study.depths:
        return None
    gains = [study.gain(depth) for depth in study.depths]
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.errorbar(
        study.depths,
        [100 * g.difference for g in gains],
        yerr=[100 * g.standard_error for g in gains],
        marker="o",
        capsize=4,
        label="Swap - Convention",
    )
    ax.axhline(0.0, color="gray", lw=0.8)
    fit = study.gain_slope()
    if fit is not None:
        mean_depth = float(np.mean(study.depths))
        mean_gain = float(np.mean([100 * g.difference for g in gains]))
        xs = np.array([min(study.depths), max(study.depths)], float)
        ax.plot(
            xs,
            mean_gain + 100 * fit.estimate * (xs - mean_depth),
            ls="--",
            label=f"slope {100 * fit.estimate:+.3f} points/block "
            f"[{100 * fit.low:+.3f}, {100 * fit.high:+.3f}]",
        )
    ax.set_xlabel("n of VGG16_n")
    ax.set_ylabel("gain (points)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _depth_panels(study, series, ylabel, log=False, mark_block=None):
    """One panel per order, one line per depth of `series(run)`.

    `series(run)` is a dict from block name to value; each line averages
    it over the depth's runs.
    """
    lines = {}
    for (depth, order), runs in sorted(study.runs.items()):
        found = [series(run) for run in runs]
        found = [f for f in found if f]
        if found:
            blocks = list(found[0])
            means = [np.mean([f[b] for f in found if b in f]) for b in blocks]
            lines.setdefault(order, []).append((depth, blocks, means))
    if not lines:
        return None
    fig, axes = plt.subplots(1, 2, figsize=(13, 4), sharey=True)
    for ax, order in zip(axes, ("convention", "swap"), strict=True):
        for depth, blocks, means in lines.get(order, []):
            ax.plot(range(1, len(blocks) + 1), means, marker="o",
                    label=f"VGG16_{depth}")  # fmt: skip
        if mark_block:
            ax.axvline(mark_block + 0.5, color="gray", ls=":", lw=1)
        ax.set_title(order.capitalize())
        ax.set_xlabel("block (first to last)")
        if log:
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel(ylabel)
    fig.tight_layout()
    return fig


def depth_skewness(study):
    """Mean |channel skewness| per conv block at the last epoch, by depth.

    One line per depth, one panel per order, a dotted line after the 8th
    block (paper figure 14).

    Args:
        study: a `depth.DepthStudy`.

    Returns:
        The figure, or `None` when no run has conv blocks' skewness.
    """
    return _depth_panels(
        study,
        lambda run: {
            name: stats["skewness"]
            for name, stats in (run.summary.get("layer_stats") or {}).items()
            if name.startswith("conv") and stats.get("skewness") is not None
        },
        "mean |channel skewness|",
        mark_block=8,
    )
