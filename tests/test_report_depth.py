"""The depth study's claims and table, on hand-made runs.

Every expected number is worked out here from the runs' accuracies,
gradients and skewness, independently of `bnorder_tf.report.depth`.
"""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bnorder_tf.report.claims import check_claims
from bnorder_tf.report.depth import (
    DepthStudy,
    check_depth_claims,
    conv_skewness,
    depth_table,
    gradient_ratio,
)
from bnorder_tf.report.document import markdown_table
from bnorder_tf.report.runs import Run
from bnorder_tf.training.config import TrainConfig

#: Per (depth, order): the cell's mean accuracy; seeds add -e, 0, +e.
MEANS = {
    (8, "convention"): 0.900,
    (8, "swap"): 0.902,
    (11, "convention"): 0.910,
    (11, "swap"): 0.915,
    (16, "convention"): 0.890,
    (16, "swap"): 0.904,
}
SPREAD = {"convention": 0.002, "swap": 0.004}


def _run(depth, order, accuracy, first_grad=1.0, last_grad=1.0, late=0.1):
    blocks = [f"conv{i}" for i in range(1, depth - 2)] + ["fc1", "fc2"]
    gradients = {
        name: {
            "input_abs_mean": 1.0,
            "kernel_grad_abs_mean": first_grad if i == 0 else last_grad,
            "preactivation_grad_abs_mean": 1.0,
        }
        for i, name in enumerate(blocks)
    }
    layer_stats = {
        name: {
            "skewness": late
            if name[4:].isdigit() and int(name[4:]) > 8
            else 0.5
        }  # fmt: skip
        for name in blocks
    }
    config = TrainConfig(
        dataset="fashion_mnist",
        model=f"vgg16_{depth}",
        order=order,
        activation="tanh",
    )
    summary = {
        "run_name": f"{depth}{order}",
        "epochs": 12,
        "evaluation_split": "test",
        "final_test_accuracy": accuracy,
        "status": "finished",
        "gradients": gradients,
        "layer_stats": layer_stats,
        "stats": {"saturation": 0.5, "skewness": 0.3, "sparsity": 0.5},
    }
    return Run(f"runs/{depth}_{order}", config, summary, {}, None)


def _runs(ratios=None):
    ratios = ratios or {}
    runs = []
    for (depth, order), mean in MEANS.items():
        e = SPREAD[order]
        for offset in (-e, 0.0, e):
            runs.append(
                _run(
                    depth,
                    order,
                    mean + offset,
                    first_grad=ratios.get((depth, order), 1.0),
                )
            )
    return runs


def _result(results, start):
    (found,) = [r for r in results if r.claim.text.startswith(start)]
    return found


def test_the_gain_slope_matches_the_balanced_design_formula():
    study = DepthStudy.from_runs(_runs())
    assert study.depths == [8, 11, 16]
    slope, se, p = study.gain_slope()
    depths = np.array([8.0, 11.0, 16.0])
    gains = np.array(
        [MEANS[(d, "swap")] - MEANS[(d, "convention")] for d in (8, 11, 16)]
    )
    # in a balanced design the interaction is the slope of the cell gains
    expected = np.polyfit(depths, gains, 1)[0]
    assert slope == pytest.approx(expected, rel=1e-9)
    # the residuals: the seeds' offsets (-e, 0, +e in every cell) and each
    # cell mean's distance from its order's straight line
    m = 3  # runs per cell
    rss = 0.0
    for order in ("convention", "swap"):
        means = np.array([MEANS[(d, order)] for d in (8, 11, 16)])
        line = np.polyval(np.polyfit(depths, means, 1), depths)
        rss += 3 * 2 * SPREAD[order] ** 2 + m * np.sum((means - line) ** 2)
    df = 18 - 4
    sigma2 = rss / df
    se_expected = math.sqrt(
        sigma2 * (2 / m) / np.sum((depths - depths.mean()) ** 2)
    )
    assert se == pytest.approx(se_expected, rel=1e-9)
    assert p == pytest.approx(
        2 * scipy_stats.t.sf(abs(expected / se_expected), df), rel=1e-6
    )


def test_claims_peak_gain_gradient_and_late_skewness():
    # Convention's first/last ratio falls from 1.0 to 0.25 with depth,
    # Swap's from 1.0 to 0.8: Convention falls more
    ratios = {
        (8, "convention"): 1.0,
        (11, "convention"): 0.5,
        (16, "convention"): 0.25,
        (8, "swap"): 1.0,
        (11, "swap"): 0.9,
        (16, "swap"): 0.8,
    }
    study = DepthStudy.from_runs(_runs(ratios))
    results = check_depth_claims(study)
    peak_c = _result(results, "Accuracy peaks at VGG16_11 in Convention")
    peak_s = _result(results, "Accuracy peaks at VGG16_11 in Swap")
    assert peak_c.holds is True and peak_s.holds is True
    assert "peak at VGG16_11" in peak_c.ours
    gain = _result(results, "Swap's gain")
    # gains 0.2, 0.5, 1.4 points: they grow
    assert gain.holds is True
    assert "VGG16_16: +1.40" in gain.ours
    gradient = _result(results, "Convention's first-layer gradient")
    expected = {
        order: np.polyfit(
            [8, 11, 16], np.log([ratios[(d, order)] for d in (8, 11, 16)]), 1
        )[0]
        for order in ("convention", "swap")
    }
    assert gradient.holds is True
    assert f"Convention {expected['convention']:+.3f}" in gradient.ours
    assert f"Swap {expected['swap']:+.3f}" in gradient.ours
    late = _result(results, "Blocks past the 8th")
    # VGG16_16 has conv9..conv13 at 0.1 against 0.5 before
    assert late.holds is True
    assert "VGG16_16 Convention: 0.500 (1-8) vs 0.100 (9+)" in late.ours


def test_a_claim_that_fails_is_reported_as_not_holding():
    runs = _runs()
    for run in runs:  # VGG16_8 now the most accurate in Convention order
        if run.config.model == "vgg16_8" and run.variant == "convention":
            run.summary["final_test_accuracy"] += 0.05
        if run.config.model == "vgg16_16" and run.variant == "swap":
            # gains -4.8, +0.5 and -6.6 points: they fall
            run.summary["final_test_accuracy"] -= 0.08
        if run.config.model == "vgg16_16":
            for name, values in run.summary["layer_stats"].items():
                values["skewness"] = 0.9 if name.startswith("conv1") else 0.5
    results = check_depth_claims(DepthStudy.from_runs(runs))
    peak = _result(results, "Accuracy peaks at VGG16_11 in Convention")
    assert peak.holds is False and "peak at VGG16_8" in peak.ours
    assert _result(results, "Swap's gain").holds is False
    # conv10..13 at 0.9 after the 8th block: higher, not lower
    assert _result(results, "Blocks past the 8th").holds is False


def test_without_depths_on_both_sides_the_peak_is_not_measured():
    runs = [r for r in _runs() if r.config.model != "vgg16_16"]
    results = check_depth_claims(DepthStudy.from_runs(runs))
    assert _result(results, "Accuracy peaks at VGG16_11 in Swap").holds is None
    assert _result(results, "Blocks past the 8th").holds is None


def test_helpers_and_table():
    run = _run(13, "swap", 0.9, first_grad=2.0, last_grad=4.0, late=0.2)
    assert gradient_ratio(run) == 0.5
    assert conv_skewness(run) == (0.5, 0.2)
    assert conv_skewness(_run(11, "swap", 0.9)) is None  # 8 conv blocks
    table = markdown_table(depth_table(DepthStudy.from_runs(_runs())))
    assert "| VGG16_16 | 89.00 ± 0.20 (n=3) | 90.40 ± 0.40 (n=3) | +1.40" in (
        table
    )


def test_other_depths_never_join_the_vgg16_11_claims():
    results = check_claims(_runs())
    swap_beats = _result(results, "Swap beats Convention in accuracy")
    # only VGG16_11's six runs: 91.0 and 91.5 %
    assert "Convention 91.00 ± 0.20 (n=3); Swap 91.50 ± 0.40 (n=3)" == (
        swap_beats.ours
    )


def test_a_depth_with_one_seed_in_an_order_waits_for_the_others():
    runs = [
        run
        for run in _runs()
        if not (
            run.config.model == "vgg16_16"
            and run.variant == "swap"
            and run.summary["final_test_accuracy"] != MEANS[(16, "swap")]
        )
    ]
    assert DepthStudy.from_runs(runs).depths == [8, 11]
