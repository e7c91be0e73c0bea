"""The report's figures: what they draw and what they say instead."""

import numpy as np

from bnorder_tf.training.config import TrainConfig


def test_histogram_figure_draws_densities_and_skips_runs_without():
    from bnorder_tf.report import figures
    from bnorder_tf.report.runs import Group, Run

    def group(label, histogram, edges):
        stats = {
            "layers": {
                "conv1": {"histogram": histogram, "histogram_edges": edges}
            }
        }
        run = Run(
            path=label,
            config=TrainConfig(),
            summary={},
            history={},
            last_stats=stats,
        )
        return Group({}, [run], label)

    bare = group("G1", None, None)  # a run made with --histogram_bins=0
    assert figures.histograms([bare], "conv1", channels=2) is None
    drawn = group("G2", [[1, 3], [2, 2]], [-1.0, 0.0, 1.0])
    fig = figures.histograms([bare, drawn], "conv1", channels=2)
    # one column (G2 only); each channel drawn as counts / channel total
    steps = [ax.patches[0].get_data() for ax in fig.axes]
    np.testing.assert_allclose(steps[0].values, [0.25, 0.75])
    np.testing.assert_allclose(steps[1].values, [0.5, 0.5])
    np.testing.assert_allclose(steps[0].edges, [-1.0, 0.0, 1.0])
    figures.plt.close(fig)


def test_pair_figure_says_a_statistic_is_undefined_instead_of_an_empty_plot():
    """ReLU has no saturation: its panel says so.

    The skewness panel plots each order's per-block means over seeds.
    """
    from types import SimpleNamespace

    from bnorder_tf.report import figures

    def group(skewness_per_seed):
        return SimpleNamespace(
            runs=[
                SimpleNamespace(
                    last_stats={
                        "layers": {
                            f"conv{i + 1}": {"saturation": None, "skewness": s}
                            for i, s in enumerate(seed)
                        }
                    }
                )
                for seed in skewness_per_seed
            ]
        )

    pair = SimpleNamespace(
        name="vgg16_11 relu",
        convention=group([(2.0, 1.0), (4.0, 3.0)]),
        swap=group([(1.5, 2.5)]),
    )
    fig = figures.pairs_per_layer(
        [pair], (("saturation", "saturation"), ("skewness", "|skewness|"))
    )
    saturation, skewness = fig.axes
    assert not saturation.lines
    assert [t.get_text() for t in saturation.texts] == ["not defined"]
    assert [list(line.get_ydata()) for line in skewness.lines] == [
        [3.0, 2.0],
        [1.5, 2.5],
    ]
