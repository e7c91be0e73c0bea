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
from bnorder_tf.report.verdicts import (
    CONTRADICTED,
    HOLDS,
    NOT_MEASURED,
    UNRESOLVED,
)
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


def _runs(ratios=None, means=MEANS):
    """Three seeds per (depth, order) of `means`.

    The seeds' late-block skewness spreads with their accuracy (0.1 on
    average), so that a per-run difference has a spread to test.
    """
    ratios = ratios or {}
    runs = []
    for (depth, order), mean in means.items():
        e = SPREAD[order]
        for offset in (-e, 0.0, e):
            runs.append(
                _run(
                    depth,
                    order,
                    mean + offset,
                    first_grad=ratios.get((depth, order), 1.0),
                    late=0.1 + 10 * offset,
                )
            )
    return runs


def _result(results, start):
    (found,) = [r for r in results if r.claim.text.startswith(start)]
    return found


def test_the_gain_slope_matches_the_balanced_design_formula():
    study = DepthStudy.from_runs(_runs())
    assert study.depths == [8, 11, 16]
    fit = study.gain_slope()
    slope, p = fit.estimate, fit.p
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
    half = scipy_stats.t.ppf(0.975, df) * se_expected
    assert fit.low == pytest.approx(expected - half, rel=1e-9)
    assert fit.high == pytest.approx(expected + half, rel=1e-9)
    assert p == pytest.approx(
        2 * scipy_stats.t.sf(abs(expected / se_expected), df), rel=1e-6
    )
    # gains of 0.2, 0.5 and 1.4 points: the slope's interval holds zero
    assert fit.low < 0 < fit.high


def _welch(a, b):
    """SciPy's Welch test of mean(b) - mean(a): (estimate, low, high, p)."""
    found = scipy_stats.ttest_ind(b, a, equal_var=False)
    low, high = found.confidence_interval(0.95)
    return np.mean(b) - np.mean(a), low, high, found.pvalue


def _cell(means, depth, order):
    e = SPREAD[order]
    return [means[(depth, order)] + x for x in (-e, 0.0, e)]


def _check_evidence(test, expected):
    estimate, low, high, p = expected
    assert test.estimate == pytest.approx(estimate, rel=1e-9)
    assert (test.low, test.high) == (
        pytest.approx(low, rel=1e-9),
        pytest.approx(high, rel=1e-9),
    )
    assert test.p == pytest.approx(p, rel=1e-6)


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
    for order in ("convention", "swap"):
        peak = _result(
            results, f"Accuracy peaks at VGG16_11 in {order.capitalize()}"
        )
        # VGG16_11 against each neighbour, by Welch's test (SciPy's)
        assert peak.state == HOLDS
        below, above = peak.verdict.tests
        peak_values = _cell(MEANS, 11, order)
        _check_evidence(below, _welch(_cell(MEANS, 8, order), peak_values))
        _check_evidence(above, _welch(_cell(MEANS, 16, order), peak_values))
        assert "VGG16_11 − VGG16_8" in below.name
        assert "VGG16_11 − VGG16_16" in above.name
    assert (
        "VGG16_11: 91.00 ± 0.20 (n=3)"
        in _result(results, "Accuracy peaks at VGG16_11 in Convention").ours
    )
    gain = _result(results, "Swap's gain")
    # gains 0.2, 0.5, 1.4 points: they rise, but not in a line the seeds
    # can tell from flat (the slope is tested in
    # test_the_gain_slope_matches_the_balanced_design_formula)
    assert gain.state == UNRESOLVED
    assert gain.verdict.tests[0].low < 0 < gain.verdict.tests[0].high
    assert "VGG16_16: +1.40 ± 0.26" in gain.ours
    assert "extrapolation" in gain.claim.paper
    gradient = _result(results, "Convention's conv1 kernel gradient")
    # the log-ratio is the same for every seed of a cell: the difference
    # of slopes is the difference of the cells' straight lines
    slopes = {
        order: np.polyfit(
            [8, 11, 16], np.log([ratios[(d, order)] for d in (8, 11, 16)]), 1
        )[0]
        for order in ("convention", "swap")
    }
    (test,) = gradient.verdict.tests
    assert test.estimate == pytest.approx(
        slopes["swap"] - slopes["convention"], rel=1e-9
    )
    # its interval: residuals are the cells' distances from their line
    depths = np.array([8.0, 11.0, 16.0])
    rss = 0.0
    for order in ("convention", "swap"):
        logs = np.log([ratios[(d, order)] for d in (8, 11, 16)])
        line = np.polyval(np.polyfit(depths, logs, 1), depths)
        rss += 3 * np.sum((logs - line) ** 2)
    se = math.sqrt(rss / 14 * (2 / 3) / np.sum((depths - depths.mean()) ** 2))
    half = scipy_stats.t.ppf(0.975, 14) * se
    assert (test.low, test.high) == (
        pytest.approx(test.estimate - half, rel=1e-9),
        pytest.approx(test.estimate + half, rel=1e-9),
    )
    assert gradient.state == HOLDS and test.low > 0
    assert "Convention VGG16_8: 1.00 ± 0.00 (n=3), VGG16_11: 0.50" in (
        gradient.ours
    )
    assert "extrapolation" in gradient.claim.paper
    late = _result(results, "Blocks past the 8th")
    # VGG16_16 has conv9..conv13 at 0.1 on average against 0.5 before:
    # one difference per run
    differences = [
        0.5 - (0.1 + 10 * x)
        for order in ("convention", "swap")
        for x in (-SPREAD[order], 0.0, SPREAD[order])
    ]
    found = scipy_stats.ttest_1samp(differences, 0.0)
    (test,) = late.verdict.tests
    _check_evidence(
        test, (np.mean(differences), *found.confidence_interval(), found.pvalue)
    )
    assert late.state == HOLDS
    assert "VGG16_16 Convention: 0.500 (1-8) vs 0.100 (9+)" in late.ours


def test_a_gain_that_grows_in_a_line_holds_and_one_that_falls_contradicts():
    for sign, state in ((1, HOLDS), (-1, CONTRADICTED)):
        # gains of 0.2, 0.5 and 1.0 points (or their opposites): exactly
        # 0.1 point per block, so the seeds alone make the residuals
        means = {
            (depth, order): 0.9 + (sign * gain / 100 if order == "swap" else 0)
            for depth, gain in ((8, 0.2), (11, 0.5), (16, 1.0))
            for order in ("convention", "swap")
        }
        study = DepthStudy.from_runs(_runs(means=means))
        gain = _result(check_depth_claims(study), "Swap's gain")
        (test,) = gain.verdict.tests
        # a balanced design: the residual variance is the seeds' pooled
        # variance, (2 e^2 + 2 e^2) per order over 18 - 4 df
        sigma2 = sum(2 * SPREAD[o] ** 2 for o in ("convention", "swap")) * 3
        sigma2 /= 14
        se = math.sqrt(
            sigma2 * (2 / 3) / np.sum((np.array([8, 11, 16]) - 35 / 3) ** 2)
        )
        half = scipy_stats.t.ppf(0.975, 14) * se
        _check_evidence(
            test,
            (
                sign * 0.001,
                sign * 0.001 - half,
                sign * 0.001 + half,
                2 * scipy_stats.t.sf(0.001 / se, 14),
            ),
        )
        assert gain.state == state


def test_claims_that_fail_are_contradicted():
    runs = _runs()
    late_runs = 0
    for run in runs:  # VGG16_8 now the most accurate in Convention order
        if run.config.model == "vgg16_8" and run.variant == "convention":
            run.summary["final_test_accuracy"] += 0.05
        if run.config.model == "vgg16_16" and run.variant == "swap":
            # gains -4.8, +0.5 and -6.6 points: they fall
            run.summary["final_test_accuracy"] -= 0.08
        if run.config.model == "vgg16_16":
            # conv1 and conv10-13 at 0.9 (+ 0.01 per run past the 8th),
            # the rest at 0.5: blocks 1-8 average 0.55, 9-13 0.82 + ...
            for name, values in run.summary["layer_stats"].items():
                late = int(name[4:]) > 8 if name[4:].isdigit() else False
                values["skewness"] = (
                    0.9 if name.startswith("conv1") else 0.5
                ) + (0.01 * late_runs if late else 0.0)
            late_runs += 1
    results = check_depth_claims(DepthStudy.from_runs(runs))
    peak = _result(results, "Accuracy peaks at VGG16_11 in Convention")
    # VGG16_8 beats VGG16_11 by 4 points: contradicted, whatever VGG16_16
    assert peak.state == CONTRADICTED
    below, above = peak.verdict.tests
    _check_evidence(
        below,
        _welch(
            [x + 0.05 for x in _cell(MEANS, 8, "convention")],
            _cell(MEANS, 11, "convention"),
        ),
    )
    assert below.high < 0 and above.low > 0
    # the gain's slope, by an independent least-squares fit of the gains
    # per cell (a balanced design: the interaction is their slope)
    gain = _result(results, "Swap's gain")
    gains = np.array([0.902 - 0.950, 0.915 - 0.910, 0.824 - 0.890])
    (test,) = gain.verdict.tests
    assert test.estimate == pytest.approx(
        np.polyfit([8.0, 11.0, 16.0], gains, 1)[0], rel=1e-9
    )
    expected = (
        CONTRADICTED if test.high < 0 else UNRESOLVED if test.low < 0 else HOLDS
    )
    assert gain.state == expected == UNRESOLVED  # -0.43 points per block
    differences = [0.55 - (0.82 + 0.01 * i) for i in range(6)]
    found = scipy_stats.ttest_1samp(differences, 0.0)
    late = _result(results, "Blocks past the 8th")
    _check_evidence(
        late.verdict.tests[0],
        (np.mean(differences), *found.confidence_interval(), found.pvalue),
    )
    assert late.state == CONTRADICTED


def test_without_depths_on_both_sides_the_peak_is_not_measured():
    runs = [r for r in _runs() if r.config.model != "vgg16_16"]
    results = check_depth_claims(DepthStudy.from_runs(runs))
    for start in ("Accuracy peaks at VGG16_11 in Swap", "Blocks past the 8th"):
        result = _result(results, start)
        assert result.state == NOT_MEASURED
        assert result.verdict.tests == ()
    # two depths still make a slope
    assert _result(results, "Swap's gain").state != NOT_MEASURED


def test_without_gradient_runs_the_gradient_claim_is_not_measured():
    runs = _runs()
    for run in runs:
        del run.summary["gradients"]
    result = _result(
        check_depth_claims(DepthStudy.from_runs(runs)),
        "Convention's conv1 kernel gradient",
    )
    assert result.state == NOT_MEASURED


def test_helpers_and_table():
    run = _run(13, "swap", 0.9, first_grad=2.0, last_grad=4.0, late=0.2)
    assert gradient_ratio(run) == 0.5
    assert conv_skewness(run) == (0.5, 0.2)
    assert conv_skewness(_run(11, "swap", 0.9)) is None  # 8 conv blocks
    # conv1 against the last conv block (conv10), never a dense block
    run.summary["gradients"]["fc2"]["kernel_grad_abs_mean"] = 100.0
    assert gradient_ratio(run) == 0.5
    run.summary["gradients"]["conv1"]["kernel_loss_grad_abs_mean"] = 1.0
    assert gradient_ratio(run, "kernel_loss_grad_abs_mean") is None
    table = markdown_table(depth_table(DepthStudy.from_runs(_runs())))
    # Swap's gain in points with SciPy's Welch interval and p-value
    gain, low, high, p = _welch(
        [100 * x for x in _cell(MEANS, 16, "convention")],
        [100 * x for x in _cell(MEANS, 16, "swap")],
    )
    assert (
        f"| VGG16_16 | 89.00 ± 0.20 (n=3) | 90.40 ± 0.40 (n=3) | "
        f"{gain:+.2f} [{low:+.2f}, {high:+.2f}] | {p:.2g} | "
        "1.00 ± 0.00 (n=3) | 1.00 ± 0.00 (n=3) |"
    ) in table


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
