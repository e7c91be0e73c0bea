"""Draws the statistics guide's figures from the reproduction study's runs.

    .venv/bin/python docs/images/make_figures.py

Reads the finished VGG16_11 tanh runs of `reproduction/fashion_mnist/`
(Convention, NWDBN and Swap, three seeds each) and draws them with the
report's own figure functions (`bnorder_tf.report.figures`): the
saturation, skewness and sparsity of each block, and the per-channel
histograms of one block. The PNG files are committed next to this
script, with a reduced palette to keep them small; run it again only
when the study's runs change.
"""

import os

from PIL import Image

from bnorder_tf.report import figures, runs

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
FINAL = os.path.join(ROOT, "reproduction", "fashion_mnist", "work", "final")
#: The study's run names of each variant, and the label each figure shows.
VARIANTS = {"convention": "Convention", "nwdbn": "NWDBN", "swap": "Swap"}
SEEDS = (0, 1, 2)
#: The block of the histograms: the 8th conv layer, as the paper's figure 1.
HISTOGRAM_BLOCK = "conv8"
CHANNELS = 3
DPI = 80


def _groups():
    paths = [
        os.path.join(FINAL, f"{variant}_s{seed}")
        for variant in VARIANTS
        for seed in SEEDS
    ]
    groups = runs.group_runs(runs.find_runs(paths))
    for group in groups:
        variant = group.runs[0].config.variant
        group.label = VARIANTS[variant]
    order = list(VARIANTS.values())
    return sorted(groups, key=lambda g: order.index(g.label))


def _save(fig, name):
    path = os.path.join(HERE, f"{name}.png")
    fig.savefig(path, dpi=DPI)
    figures.plt.close(fig)
    image = Image.open(path).convert("RGB")
    image.quantize(colors=64, method=Image.Quantize.MEDIANCUT).save(
        path, optimize=True
    )
    print(path, os.path.getsize(path))


def main():
    """Draws every figure into this folder."""
    groups = _groups()
    for key, title, label in (
        ("saturation", "Saturation per block", "saturation"),
        ("skewness", "Skewness per block", "mean |channel skewness|"),
        ("sparsity", "Sparsity per block", "sparsity"),
    ):
        _save(figures.per_layer(groups, key, title, label), f"{key}_per_block")
    _save(
        figures.histograms(groups, HISTOGRAM_BLOCK, CHANNELS),
        "activation_histograms",
    )
    _save(
        figures.histograms(groups, HISTOGRAM_BLOCK, CHANNELS, tap="output"),
        "output_histograms",
    )


if __name__ == "__main__":
    main()
