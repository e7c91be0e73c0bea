"""Figure 15's claims, table and figure on hand-made gradient runs.

Each run records, per block, mean |x| (the convolution's input), mean
|gradient at tanh's input| and mean |kernel gradient| (with and without
the decay term), as `--gradient_batches` writes them. The expected
verdicts are worked out here with SciPy: a geometric mean per run over
the blocks named, Welch's test on logarithms, Holm's correction over the
directional claims by hand, and two one-sided tests for the similar
scale.
"""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bnorder_tf.report.depth import DepthStudy
from bnorder_tf.report.document import markdown_table
from bnorder_tf.report.figure15 import (
    block_means,
    check_figure15_claims,
    figure15_figure,
    figure15_table,
)
from bnorder_tf.report.runs import Run
from bnorder_tf.report.verdicts import (
    CONTRADICTED,
    HOLDS,
    NOT_MEASURED,
    SIMILAR_FACTOR,
    UNRESOLVED,
)
from bnorder_tf.training.config import TrainConfig
from tests.report import reference

#: Each seed's run scales every value by its factor.
SEED_FACTORS = {"convention": (0.95, 1.0, 1.05), "swap": (0.9, 1.0, 1.1)}
#: Per order, a block's values: |x|, |gradient at tanh's input| (conv1-4,
#: then deeper), |kernel gradient| from the loss.
PAPER = {
    # Swap's x larger, its shallow tanh-input gradient smaller, its kernel
    # gradient within x2 of Convention's: figure 15 as the paper says
    "convention": dict(x=0.5, shallow=2e-3, deep=1e-3, kernel=0.010),
    "swap": dict(x=0.8, shallow=0.5e-3, deep=1e-3, kernel=0.012),
}


def _blocks(depth):
    return [f"conv{i}" for i in range(1, depth - 2)] + ["fc1", "fc2"]


def _run(depth, order, seed, values, loss_gradient=True, conv1_x=None):
    factor = SEED_FACTORS[order][seed]
    gradients = {}
    for name in _blocks(depth):
        index = int(name[4:]) if name.startswith("conv") else None
        shallow = index is not None and index <= 4
        block = {
            "input_abs_mean": factor * values["x"],
            "preactivation_grad_abs_mean": factor
            * values["shallow" if shallow else "deep"],
            "kernel_grad_abs_mean": factor * values["kernel"] * 1.5,
        }
        if loss_gradient:
            block["kernel_loss_grad_abs_mean"] = factor * values["kernel"]
        if index == 1 and conv1_x is not None:
            block["input_abs_mean"] = conv1_x  # the image: not compared
        if index is None:  # dense blocks: far off, never counted
            block = {k: 100.0 for k in block}
        gradients[name] = block
    config = TrainConfig(
        dataset="fashion_mnist",
        model=f"vgg16_{depth}",
        order=order,
        activation="tanh",
        seed=seed,
    )
    summary = {"final_test_accuracy": 0.9, "gradients": gradients}
    return Run(f"runs/{depth}_{order}_s{seed}", config, summary, {}, None)


def _study(per_depth, **kwargs):
    """`per_depth`: {depth: {order: values}}; three seeds each."""
    runs = [
        _run(depth, order, seed, values, **kwargs)
        for depth, orders in per_depth.items()
        for order, values in orders.items()
        for seed in range(3)
    ]
    return DepthStudy.from_runs(runs)


def _per_run(depth, order, values, key, blocks):
    """The geometric mean over `blocks` of each seed's run, by hand."""
    base = {
        "input_abs_mean": [values["x"]] * len(blocks),
        "preactivation_grad_abs_mean": [
            values["shallow" if b <= 4 else "deep"] for b in blocks
        ],
        "kernel_loss_grad_abs_mean": [values["kernel"]] * len(blocks),
    }[key]
    return [
        scipy_stats.gmean([f * v for v in base]) for f in SEED_FACTORS[order]
    ]


def _expected(per_depth):
    """Per depth: the two directional tests (oriented, raw) by SciPy."""
    tests = []
    for depth, orders in per_depth.items():
        n = depth - 3
        conv, swap = orders["convention"], orders["swap"]
        x_conv = _per_run(
            depth, "convention", conv, "input_abs_mean", range(2, n + 1)
        )
        x_swap = _per_run(
            depth, "swap", swap, "input_abs_mean", range(2, n + 1)
        )
        g_conv = _per_run(
            depth,
            "convention",
            conv,
            "preactivation_grad_abs_mean",
            range(1, 5),
        )
        g_swap = _per_run(
            depth, "swap", swap, "preactivation_grad_abs_mean", range(1, 5)
        )
        tests.append(
            scipy_stats.ttest_ind(
                np.log(x_swap), np.log(x_conv), equal_var=False
            )
        )
        # oriented so that a positive difference is Swap's smaller gradient
        tests.append(
            scipy_stats.ttest_ind(
                np.log(g_conv), np.log(g_swap), equal_var=False
            )
        )
    return tests


def _state(statistic, p):
    if p < 0.05:
        return HOLDS if statistic > 0 else CONTRADICTED
    return UNRESOLVED


def test_figure15_as_the_paper_states_it_holds_at_each_depth():
    per_depth = {11: PAPER, 16: PAPER}
    study = _study(per_depth)
    assert study.gradient_depths() == [11, 16]
    results = check_figure15_claims(study)
    assert [r.claim.text.split(":")[0] for r in results] == ["VGG16_11"] * 3 + [
        "VGG16_16"
    ] * 3
    expected = _expected(per_depth)
    adjusted = reference.holm([t.pvalue for t in expected])
    directional = [r for r in results if "similar scale" not in r.claim.text]
    for result, test, p in zip(directional, expected, adjusted, strict=True):
        (found,) = result.verdict.tests
        low, high = test.confidence_interval(0.95)
        # Welch's interval is centred on the difference of the mean logs
        assert found.estimate == pytest.approx((low + high) / 2, rel=1e-9)
        assert (found.low, found.high) == (
            pytest.approx(low, rel=1e-9),
            pytest.approx(high, rel=1e-9),
        )
        assert found.raw_p == pytest.approx(test.pvalue, rel=1e-9)
        assert found.p == pytest.approx(p, rel=1e-9)
        assert "Holm over the 4 figure-15 comparisons" in found.name
        assert result.state == _state(test.statistic, p) == HOLDS
    # |x| 0.8 against 0.5 (seeds' factors average out in the geometric
    # mean only approximately: by hand)
    x_ratio = scipy_stats.gmean(
        [0.8 * f for f in SEED_FACTORS["swap"]]
    ) / scipy_stats.gmean([0.5 * f for f in SEED_FACTORS["convention"]])
    assert f"Swap / Convention {x_ratio:.2f}" == results[0].ours
    assert results[0].verdict.tests[0].estimate == pytest.approx(
        math.log(x_ratio)
    )
    for similar in (results[2], results[5]):
        assert "similar scale" in similar.claim.text
        (ratio,) = similar.verdict.tests
        assert ratio.estimate == pytest.approx(
            1.2
            * scipy_stats.gmean(SEED_FACTORS["swap"])
            / scipy_stats.gmean(SEED_FACTORS["convention"])
        )
        assert similar.state == HOLDS


def test_figure15_contradicted_tied_and_far_apart():
    """Against the paper at VGG16_16, as the paper says at VGG16_11.

    At VGG16_16: Swap's x smaller (contradicted), the tanh-input
    gradients equal (not resolved), the kernel gradients ten times apart
    (contradicted).
    """
    other = {
        "convention": PAPER["convention"],
        "swap": dict(x=0.3, shallow=2e-3, deep=1e-3, kernel=0.100),
    }
    per_depth = {11: PAPER, 16: other}
    results = check_figure15_claims(_study(per_depth))
    expected = _expected(per_depth)
    adjusted = reference.holm([t.pvalue for t in expected])
    states = [
        _state(t.statistic, p) for t, p in zip(expected, adjusted, strict=True)
    ]
    assert states == [HOLDS, HOLDS, CONTRADICTED, UNRESOLVED]
    assert [r.state for r in results] == [
        HOLDS,
        HOLDS,
        HOLDS,
        CONTRADICTED,
        UNRESOLVED,
        CONTRADICTED,
    ]
    # the tie: equal gradients in both orders give an estimate of
    # log(1) plus the seeds' factors alone
    (tie,) = results[4].verdict.tests
    assert tie.raw_p == pytest.approx(expected[3].pvalue, rel=1e-9)
    assert tie.low < 0 < tie.high
    (far,) = results[5].verdict.tests
    assert far.low > SIMILAR_FACTOR


def test_conv1_input_and_deep_tanh_gradients_are_not_compared():
    """Blocks outside a claim change nothing.

    conv1's x is the image and gradients past conv4 are not shallow:
    making them go against the claims changes nothing.
    """
    deep = {
        "convention": dict(PAPER["convention"], deep=1e-4),
        "swap": dict(PAPER["swap"], deep=1e-2),
    }
    plain = check_figure15_claims(_study({11: PAPER}))
    changed = check_figure15_claims(_study({11: deep}, conv1_x=5.0))
    # conv1's x of 5.0 in both orders: the same for each run, left out
    for a, b in zip(plain[:2], changed[:2], strict=True):
        assert a.verdict.tests[0].estimate == pytest.approx(
            b.verdict.tests[0].estimate
        )
        assert b.state == HOLDS
    run = _run(11, "swap", 1, PAPER["swap"], conv1_x=5.0)
    assert block_means(run, "input_abs_mean", first=2) == pytest.approx(0.8)
    assert block_means(run, "input_abs_mean") == pytest.approx(
        scipy_stats.gmean([5.0] + [0.8] * 7)
    )
    assert block_means(run, "preactivation_grad_abs_mean", last=4) == (
        pytest.approx(0.5e-3)
    )


def test_without_the_loss_gradient_the_similar_scale_is_not_measured():
    """Runs that did not record the loss-only kernel gradient.

    The code before it was recorded: the directional claims are
    measured, the similar scale is not (the decayed gradient never stands
    in for it).
    """
    results = check_figure15_claims(_study({11: PAPER}, loss_gradient=False))
    assert [r.state for r in results] == [HOLDS, HOLDS, NOT_MEASURED]
    assert "loss-only" in results[2].ours


def test_without_gradient_runs_there_is_no_claim():
    runs = [
        _run(11, order, seed, PAPER[order])
        for order in ("convention", "swap")
        for seed in range(3)
    ]
    for run in runs:
        del run.summary["gradients"]
    study = DepthStudy.from_runs(runs)
    assert study.gradient_depths() == []
    assert check_figure15_claims(study) == []
    assert figure15_figure(study) is None


def test_gradient_runs_alone_count_for_the_gradients_only():
    """Runs given as gradient runs join figure 15, not the accuracy."""
    plain = [
        _run(11, order, seed, PAPER[order])
        for order in ("convention", "swap")
        for seed in range(3)
    ]
    for run in plain:
        del run.summary["gradients"]
    extra = [
        _run(11, order, seed, PAPER[order])
        for order in ("convention", "swap")
        for seed in range(3)
    ]
    study = DepthStudy.from_runs(plain, gradient_runs=extra)
    assert study.gradient_depths() == [11]
    assert all(len(r) == 3 for r in study.runs.values())
    assert [r.state for r in check_figure15_claims(study)] == [HOLDS] * 3


def test_table_per_block_and_figure_aligned_by_name():
    study = _study({11: PAPER, 16: PAPER})
    table = figure15_table(study, 11)
    assert [row[0] for row in table.rows] == [f"conv{i}" for i in range(1, 9)]
    conv1 = table.rows[0]
    # the mean over seeds of each order: |x|, tanh-input gradient, kernel
    assert conv1[1:] == [
        f"{0.5:.3g}",
        f"{0.8:.3g}",
        f"{2e-3:.3g}",
        f"{0.5e-3:.3g}",
        f"{0.010:.3g}",
        f"{0.012:.3g}",
    ]
    assert "mean \\|x\\|" in markdown_table(table)  # "|" escaped
    figure = figure15_figure(study)
    try:
        axes = figure.axes
        assert len(axes) == 3
        for ax in axes:
            labels = [t.get_text() for t in ax.get_xticklabels()]
            assert labels == [f"conv{i}" for i in range(1, 14)]
            lines = {line.get_label(): line for line in ax.get_lines()}
            # VGG16_11's line stops at conv8; VGG16_16's runs to conv13
            assert list(lines["VGG16_11 Convention"].get_xdata()) == list(
                range(8)
            )
            assert list(lines["VGG16_16 Swap"].get_xdata()) == list(range(13))
        x_swap = lines_of(axes[0])["VGG16_16 Swap"].get_ydata()
        assert x_swap == pytest.approx([0.8] * 13)
    finally:
        import matplotlib.pyplot as plt

        plt.close(figure)


def lines_of(ax):
    return {line.get_label(): line for line in ax.get_lines()}
