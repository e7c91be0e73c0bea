"""The paper's tables and figures from run and tuning directories.

    python -m bnorder_tf.report runs/ tuning_runs/search --out report/

writes `report.md`, a self-contained `report.html` (figures embedded) and
the figures as PNG files. Runs are grouped by their `flags.txt`: runs that
differ only in the seed (or paths, or distribution) are the seeds of one
setting.

`tanh_skewness_grid` (figure 12) needs no runs at all.
"""

import math
import os
import re
import statistics

from bnorder_tf.errors import ConfigError
from bnorder_tf.report import figures, verdicts
from bnorder_tf.report.analytic import tanh_skewness_grid
from bnorder_tf.report.claims import (
    SKEWNESS_ACCURACY,
    check_claims,
    claims_table,
    is_bounded,
)
from bnorder_tf.report.depth import (
    PAPER_BEST_DEPTH,
    DepthStudy,
    check_depth_claims,
    depth_table,
)
from bnorder_tf.report.document import (
    Document,
    Section,
    Table,
    read_notes,
    to_html,
    to_markdown,
)
from bnorder_tf.report.figure15 import (
    check_figure15_claims,
    figure15_figure,
    figure15_table,
)
from bnorder_tf.report.pairs import gap_table, order_pairs
from bnorder_tf.report.runs import (
    MAIN_SETTINGS,
    NotARunError,
    find_runs,
    group_runs,
    varying_settings,
)
from bnorder_tf.stats.results import MODEL_KEYS
from bnorder_tf.training.run_dir import final_accuracy

REPORT_MD = "report.md"
REPORT_HTML = "report.html"
DEFAULT_TITLE = "bnorder_tf report"


def accuracy_rows(groups):
    """The rows of the accuracy table, the paper's, one per group of runs.

    Each row holds the group's settings, the mean and standard deviation
    of the final test accuracy over its runs, the number of runs (seeds)
    and the means over its runs of the model-level statistics.

    Args:
        groups: `runs.Group`s, as `runs.group_runs` returns them.

    Returns:
        A list of dicts, one per group, in the groups' order.
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


def _choose_layer(groups, layer):
    for group in groups:
        stats = group.runs[0].last_stats
        if stats:
            layers = list(stats["layers"])
            if layer is None:
                return layers[len(layers) // 2]
            if layer in layers:
                return layer
            raise ConfigError(
                f"--layer={layer}: the runs have blocks {', '.join(layers)}."
            )
    return layer


def build_report(
    paths,
    out,
    layer=None,
    channels=4,
    claims=False,
    markdown_name=REPORT_MD,
    title=DEFAULT_TITLE,
    intro=None,
    notes=None,
    gradient_paths=(),
):
    """Reads runs, writes `report.md`, `report.html` and PNG figures.

    Args:
        paths: run, model or tuning directories.
        out: output directory (created).
        layer: block whose per-channel histograms to draw (default: the
            middle one).
        channels: histogram channels per run.
        claims: bool, add the table of the paper's claims checked on the
            runs (`bnorder_tf.report.claims`).
        markdown_name: file name of the Markdown report in `out`.
        title: the report's title.
        intro: an optional paragraph put before the count of runs.
        notes: an optional Markdown file of `## ` sections of prose (see
            `document.read_notes`), put after the tables.
        gradient_paths: run directories counted for their gradient scales
            alone (figure 15 and the depth study's gradient ratio), e.g.
            seeds trained again with `--gradient_batches`: they join no
            accuracy table or claim.

    Returns:
        The path of `report.md`.

    Raises:
        NotARunError: a path holds no finished run.
        MalformedFileError: a run's files are damaged (named).
        ConfigError: the notes file is missing or has no heading first.
    """
    notes = read_notes(notes) if notes else []
    runs = find_runs(paths)
    diverged = [run for run in runs if not run.finished]
    runs = [run for run in runs if run.finished]
    if not runs:
        raise NotARunError(
            "No run finished without diverging: "
            + ", ".join(run.path for run in diverged)
        )
    groups = group_runs(runs)
    pairs = order_pairs(groups)
    gradient_runs = [
        run
        for run in (find_runs(gradient_paths) if gradient_paths else [])
        if run.finished
    ]
    study = DepthStudy.from_runs(runs, gradient_runs)
    layer = _choose_layer(groups, layer)
    sections = (
        _table_sections(groups, pairs, runs, diverged, claims, study) + notes
    )
    os.makedirs(out, exist_ok=True)
    drawn = _figures(groups, pairs, layer, channels) + _depth_figures(study)
    for name, heading, caption, fig in drawn:
        if fig is None:
            continue
        path = os.path.join(out, f"{name}.png")
        fig.savefig(path, dpi=110)
        figures.plt.close(fig)
        sections.append(Section(heading, caption, image=path))
    count = (
        f"{len(runs)} run(s) in {len(groups)} setting(s), grouped by their "
        "flags.txt (runs differing only in the seed and operational flags "
        "are one setting)."
    )
    document = Document(
        title, f"{intro}\n\n{count}" if intro else count, sections
    )
    md_path = os.path.join(out, markdown_name)
    with open(md_path, "w") as f:
        f.write(to_markdown(document))
    with open(os.path.join(out, REPORT_HTML), "w") as f:
        f.write(to_html(document))
    return md_path


def _table_sections(groups, pairs, runs, diverged, claims, study):
    """The report's tables as `Section`s.

    The accuracy table, the pairs, the depth study (with two depths or
    more), the claims table when asked, and the list of diverged runs.
    """
    sections = [
        Section(
            "Test accuracy",
            "Final test accuracy, mean ± standard deviation "
            "over seeds, with the model-level statistics of the last epoch "
            "(means over seeds).",
            table=accuracy_table(accuracy_rows(groups)),
        )
    ]
    if pairs:
        sections.append(
            Section(
                "Convention and Swap, pair by pair",
                "Each dataset, model and activation trained in both orders, "
                "each order with its own tuned learning rate and decay: test "
                "accuracy (mean ± std over seeds), Swap's gain with its "
                "standard error and Welch's two-sided p-value, and the mean "
                "absolute channel skewness of each order.",
                table=gap_table(pairs),
            )
        )
    has_depths = len(study.depths) >= 2
    if has_depths:
        sections.append(
            Section(
                "Depth",
                f"VGG16_n with tanh on {study.dataset}, each depth and order "
                "tuned on its own: test accuracy (mean ± std over seeds), "
                "Swap's gain with its 95% interval and Welch's p-value, "
                "and the ratio of conv1's mean |kernel gradient| (decay "
                "included) to the last conv block's at the last epoch, over "
                "the runs that recorded it (paper appendix A.6).",
                table=depth_table(study),
            )
        )
    if PAPER_BEST_DEPTH in study.gradient_depths():
        sections.append(
            Section(
                "Figure 15, per block",
                f"VGG16_{PAPER_BEST_DEPTH} with tanh: per conv block, mean "
                "|x| (the convolution's input), mean |gradient at tanh's "
                "input| and mean |gradient of the kernel| from the loss "
                "alone (no decay term), each the mean over the seeds that "
                "recorded them, at the last epoch.",
                table=figure15_table(study, PAPER_BEST_DEPTH),
            )
        )
    if claims:
        sections.append(
            Section(
                "The paper's claims",
                "Each claim checked on the finished runs. " + verdicts.RULES,
                table=claims_table(check_claims(runs)),
            )
        )
        if has_depths:
            sections.append(
                Section(
                    "The depth claims",
                    "The paper's appendix A.6 on depth, and two "
                    "extrapolations of the project's own, each decided by "
                    "the rule stated above for its kind.",
                    table=claims_table(check_depth_claims(study)),
                )
            )
        figure15 = check_figure15_claims(study)
        if figure15:
            sections.append(
                Section(
                    "Figure 15's claims, at each depth",
                    "The paper's explanation (appendix A.6) checked on the "
                    "runs that recorded the gradient scale: per run, the "
                    "geometric mean over the conv blocks named; the kernel "
                    "gradient is the loss's alone.",
                    table=claims_table(figure15),
                )
            )
    if diverged:
        sections.append(
            Section(
                "Diverged runs",
                "Left out of every table and figure: their "
                "loss became NaN or infinite (summary.json status "
                '"diverged"): '
                + ", ".join(
                    f"{run.path} (epoch {run.summary.get('diverged_epoch')})"
                    for run in diverged
                )
                + ".",
            )
        )
    return sections


def _figures(groups, pairs, layer, channels):
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


def _depth_figures(study):
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


__all__ = [
    "NotARunError",
    "accuracy_rows",
    "accuracy_table",
    "build_report",
    "tanh_skewness_grid",
]
