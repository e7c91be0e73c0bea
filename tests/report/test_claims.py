"""The claims table's verdicts on hand-made runs with known answers.

The directional claims' p-values come from SciPy's Welch test and are
Holm-corrected by hand here; the correlation claim's seed-level r from a
least-squares fit with one intercept per setting.
"""

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bnorder_tf.report import build_report, verdicts
from bnorder_tf.report.claims import (
    CLAIMS,
    SKEWNESS_ACCURACY,
    Claim,
    CorrelationClaim,
    check_claims,
    claims_markdown,
    model_stat,
)
from bnorder_tf.report.runs import Run
from bnorder_tf.report.verdicts import (
    CONTRADICTED,
    HOLDS,
    NOT_MEASURED,
    UNRESOLVED,
)
from bnorder_tf.training.config import TrainConfig
from tests.helpers import fake_run
from tests.report import reference


def _run(
    variant,
    seed,
    accuracy,
    skewness=1.0,
    sparsity=0.5,
    saturation=0.5,
    activation="tanh",
    model="vgg16_11",
):
    settings = dict(order="swap" if variant == "swap" else "convention")
    if variant == "nwdbn":
        settings.update(bn_gamma_decay=0.0, bn_beta_decay=0.0)
    config = TrainConfig(
        dataset="fashion_mnist",
        model=model,
        activation=activation,
        seed=seed,
        **settings,
    )
    summary = {
        "status": "finished",
        "final_test_accuracy": accuracy,
        "stats": {
            "saturation": 0.5,
            "skewness": skewness,
            "sparsity": sparsity,
        },
        "layer_stats": {
            "conv1": {"saturation": saturation / 2},
            "conv2": {"saturation": saturation},
        },
    }
    name = f"{model}_{activation}_{variant}_s{seed}"
    return Run(f"runs/{name}", config, summary, {}, None)


#: Per variant, three seeds: accuracy, skewness, sparsity, max saturation.
#: Swap beats Convention clearly; NWDBN is just above Convention (not
#: significant); NWDBN is the sparsest (the paper's order contradicted);
#: the shifted tanh is a hair below Swap (a tie).
TABLE = {
    "convention": (
        [0.900, 0.910, 0.920],
        [0.40, 0.45, 0.50],
        [0.70, 0.71, 0.72],
        [0.44, 0.45, 0.46],
    ),
    "nwdbn": (
        [0.905, 0.925, 0.915],
        [0.60, 0.70, 0.65],
        [0.90, 0.91, 0.92],
        [0.50, 0.52, 0.48],
    ),
    "swap": (
        [0.950, 0.960, 0.970],
        [2.00, 2.10, 1.95],
        [0.84, 0.85, 0.86],
        [0.85, 0.86, 0.87],
    ),
}
SHIFTED = [0.955, 0.958, 0.961]
BETWEEN = "NWDBN lies between Convention and Swap in accuracy"
SATURATION = "Swap's maximum layer saturation is higher"
SKEWNESS = "Swap's mean absolute channel skewness is higher"
SPARSITY = "Sparsity orders Swap > Convention > NWDBN"
SHIFTED_TEXT = "Shifted tanh beats tanh in Swap order"


def _table_runs():
    runs = [
        _run(variant, seed, acc, skew, sparsity, saturation)
        for variant, columns in TABLE.items()
        for seed, (acc, skew, sparsity, saturation) in enumerate(
            zip(*columns, strict=True)
        )
    ]
    runs += [
        _run("swap", seed, acc, activation="shifted_tanh")
        for seed, acc in enumerate(SHIFTED)
    ]
    return runs


def _welch_p(a, b):
    return scipy_stats.ttest_ind(b, a, equal_var=False).pvalue


def test_directional_claims_holm_corrected_as_one_family():
    results = check_claims(_table_runs())
    by_text = {r.claim.text: r for r in results}
    acc, skew, sparsity, saturation = (
        {v: TABLE[v][k] for v in TABLE} for k in range(4)
    )
    scaled = {v: [100 * x for x in acc[v]] for v in acc}
    # the family: every pairwise comparison of a measured claim, in the
    # claims' order (the other activations have no run: not members)
    pairs = [
        ("Swap beats Convention in accuracy", scaled, "convention", "swap"),
        (BETWEEN, scaled, "convention", "nwdbn"),
        (BETWEEN, scaled, "nwdbn", "swap"),
        (SATURATION, saturation, "convention", "swap"),
        (SKEWNESS, skew, "convention", "swap"),
        (SPARSITY, sparsity, "nwdbn", "convention"),
        (SPARSITY, sparsity, "convention", "swap"),
        (
            SHIFTED_TEXT,
            {"swap": scaled["swap"], "shifted": [100 * x for x in SHIFTED]},
            "swap",
            "shifted",
        ),
    ]
    raw = [_welch_p(values[a], values[b]) for _, values, a, b in pairs]
    adjusted = reference.holm(raw)
    tests = {}
    for (text, *_), p_raw, p in zip(pairs, raw, adjusted, strict=True):
        tests.setdefault(text, []).append((p_raw, p))
    for text, expected in tests.items():
        found = by_text[text].verdict.tests
        assert [t.raw_p for t in found] == pytest.approx(
            [e[0] for e in expected], rel=1e-9
        ), text
        assert [t.p for t in found] == pytest.approx(
            [e[1] for e in expected], rel=1e-9
        ), text
        assert all("Holm over the table's 8 pairwise" in t.name for t in found)
    # the known answers
    assert {text: by_text[text].state for text in tests} == {
        "Swap beats Convention in accuracy": HOLDS,
        # Convention < NWDBN is not significant: the order is not resolved
        BETWEEN: UNRESOLVED,
        SATURATION: HOLDS,
        SKEWNESS: HOLDS,
        # NWDBN significantly sparser than Convention: against the paper
        SPARSITY: CONTRADICTED,
        SHIFTED_TEXT: UNRESOLVED,
    }
    # Swap against Convention in accuracy: 5.00 points, SciPy's interval
    (swap,) = by_text["Swap beats Convention in accuracy"].verdict.tests
    found = scipy_stats.ttest_ind(
        scaled["swap"], scaled["convention"], equal_var=False
    )
    low, high = found.confidence_interval(0.95)
    assert swap.estimate == pytest.approx(5.0)
    assert (swap.low, swap.high) == (pytest.approx(low), pytest.approx(high))
    # the bounded-activations pairs have no run
    for claim in CLAIMS[6:-1]:
        assert by_text[claim.text].state == NOT_MEASURED
        assert by_text[claim.text].verdict.tests == ()


def test_the_table_prints_the_test_the_interval_and_both_p_values():
    results = check_claims(_table_runs())
    text = claims_markdown(results)
    rows = {line.split(" | ")[0][2:]: line for line in text.splitlines()[2:]}
    swap = rows["Swap beats Convention in accuracy"]
    (test,) = results[0].verdict.tests
    assert f"+5.00 [{test.low:+.2f}, {test.high:+.2f}]" in swap
    assert f"{test.p:.2g} ({test.raw_p:.2g} uncorrected)" in swap
    assert swap.endswith("| holds |")
    assert rows["Sparsity orders Swap > Convention > NWDBN"].endswith(
        "| **contradicted** |"
    )
    assert rows["Swap beats Convention with softsign"].endswith(
        "| — | — | — | not measured |"
    )
    # seven cells on every row: no stray "|"
    assert all(line.count(" | ") == 6 for line in text.splitlines()[2:])


def test_a_claim_alone_is_decided_by_its_uncorrected_tests():
    claim = Claim(
        "x",
        "",
        (("vgg", "convention", "tanh"), ("vgg", "swap", "tanh")),
        model_stat("skewness"),
    )
    runs = [
        _run("convention", s, 0.9, skewness=k)
        for s, k in enumerate([1.0, 1.1, 0.9])
    ]
    runs += [
        _run("swap", s, 0.9, skewness=k) for s, k in enumerate([1.05, 1.0, 1.2])
    ]
    by_variant = {}
    for run in runs:
        by_variant.setdefault(("vgg", run.variant, "tanh"), []).append(run)
    (test,) = claim.check(by_variant).verdict.tests
    assert test.p == pytest.approx(
        _welch_p([1.0, 1.1, 0.9], [1.05, 1.0, 1.2]), rel=1e-9
    )
    assert math.isnan(test.raw_p)
    assert claim.check(by_variant).state == UNRESOLVED


def _correlation_runs(within_slope, noise):
    """Two activations x two orders x four seeds.

    Swap has the higher skewness and the higher accuracy in each
    activation (the between-order contrast is positive); within each
    setting, accuracy moves with skewness by `within_slope`, plus `noise`.
    """
    runs, points = [], []
    offsets = np.array([-0.15, -0.05, 0.05, 0.15])
    for a, activation in enumerate(("tanh", "softsign")):
        for variant, skew0, acc0 in (
            ("convention", 0.5, 0.90),
            ("swap", 1.5, 0.92),
        ):
            for seed, offset in enumerate(offsets):
                skew = skew0 + offset + 0.2 * a
                acc = acc0 + within_slope * offset + noise[seed] - 0.01 * a
                runs.append(
                    _run(
                        variant, seed, acc, skewness=skew, activation=activation
                    )
                )
                points.append((skew, acc, f"{activation} {variant}"))
    return runs, points


def _within_fit(points):
    """Seed-level r: the slope's t in y ~ x + one intercept per setting."""
    x, y, label = (np.array(c) for c in zip(*points, strict=True))
    strata = sorted(set(label))
    design = np.column_stack([x] + [(label == s).astype(float) for s in strata])
    coef, residual, *_ = np.linalg.lstsq(design, y, rcond=None)
    df = len(y) - design.shape[1]
    covariance = residual[0] / df * np.linalg.inv(design.T @ design)
    t = coef[0] / math.sqrt(covariance[0, 0])
    r = t / math.sqrt(t * t + df)
    return r, 2 * scipy_stats.t.sf(abs(t), df), df


@pytest.mark.parametrize(
    "within_slope, noise, state",
    [
        # seeds: accuracy falls as skewness rises, clearly
        (-0.04, [0.0005, -0.0005, 0.0, 0.0003], CONTRADICTED),
        # seeds: no relation the noise can show
        (0.0, [0.004, -0.003, -0.004, 0.003], UNRESOLVED),
        # seeds agree with the claim
        (0.04, [0.0005, -0.0005, 0.0, 0.0003], HOLDS),
    ],
)
def test_correlation_is_decided_seed_against_seed(within_slope, noise, state):
    runs, points = _correlation_runs(within_slope, noise)
    result = check_claims(runs, claims=(SKEWNESS_ACCURACY,))[0]
    x, y, _ = zip(*points, strict=True)
    pooled = scipy_stats.pearsonr(x, y)
    r, p, df = _within_fit(points)
    (evidence,) = result.verdict.tests
    assert evidence.estimate == pytest.approx(r, rel=1e-9)
    assert evidence.p == pytest.approx(p, rel=1e-6)
    assert df == 16 - 1 - 4
    # Fisher's interval: se 1 / sqrt(n - 3) with the strata's df
    z = scipy_stats.norm.ppf(0.975) / math.sqrt(df - 1)
    assert evidence.low == pytest.approx(math.tanh(math.atanh(r) - z), 1e-6)
    assert evidence.high == pytest.approx(math.tanh(math.atanh(r) + z), 1e-6)
    assert result.state == state
    # beside it, the pooled r and the orders' contrast, both positive here
    assert pooled.statistic > 0.5
    assert f"pooled r = {pooled.statistic:.2f}" in result.ours
    assert f"{df} df)" in result.ours


def test_the_orders_contrast_alone_makes_no_verdict():
    """Seeds say nothing; between orders r is strongly positive.

    The between-order r is the correlation within (dataset, model,
    activation): it pools Convention with Swap.
    """
    runs, points = _correlation_runs(0.0, [0.004, -0.003, -0.004, 0.003])
    pooled, orders, seeds = SKEWNESS_ACCURACY.correlations(runs)
    x, y, label = zip(*points, strict=True)
    activation = [s.split()[0] for s in label]
    by_activation = _within_fit(list(zip(x, y, activation, strict=True)))
    assert orders.r == pytest.approx(by_activation[0], rel=1e-9)
    assert orders.r > 0.8 and orders.p < 1e-4
    assert seeds.r == pytest.approx(_within_fit(points)[0], rel=1e-9)
    assert seeds.p > 0.05
    assert pooled.r == pytest.approx(scipy_stats.pearsonr(x, y).statistic)


def test_correlation_with_too_few_runs_is_not_measured():
    claim = CorrelationClaim(
        "y", "", model_stat("skewness"), lambda r: 0.9, lambda r: True
    )
    runs = [_run("swap", s, 0.9) for s in range(2)]
    result = check_claims(runs, claims=(claim,))[0]
    assert result.state == NOT_MEASURED and result.ours == "2 run(s)"
    assert verdicts.NOT_MEASURED == "not measured"


def test_significant_alone_but_not_after_holm_is_not_resolved():
    """Significant alone, not resolved after Holm's correction.

    Swap's gain has p 0.038 alone; beside a second comparison, Holm
    doubles the smaller p-value: 0.075.
    """
    conv, swap = [0.900, 0.910, 0.920], [0.925, 0.935, 0.945]
    runs = [
        _run("convention", s, a, skewness=k)
        for s, (a, k) in enumerate(zip(conv, [1.0, 1.2, 1.1], strict=True))
    ]
    runs += [
        _run("swap", s, a, skewness=k)
        for s, (a, k) in enumerate(zip(swap, [1.1, 1.0, 1.2], strict=True))
    ]
    p_gain = _welch_p(conv, swap)
    p_skew = _welch_p([1.0, 1.2, 1.1], [1.1, 1.0, 1.2])
    assert p_gain == pytest.approx(0.0376, abs=1e-4) and p_skew > 0.5
    (alone,) = check_claims(runs, claims=CLAIMS[:1])
    assert alone.state == HOLDS
    assert alone.verdict.tests[0].p == pytest.approx(p_gain, rel=1e-9)
    gain, skewness = check_claims(runs, claims=(CLAIMS[0], CLAIMS[3]))
    assert skewness.claim.text == SKEWNESS
    assert gain.verdict.tests[0].p == pytest.approx(2 * p_gain, rel=1e-9)
    assert skewness.verdict.tests[0].p == pytest.approx(
        max(2 * p_gain, p_skew), rel=1e-9
    )
    assert gain.state == UNRESOLVED and skewness.state == UNRESOLVED


def test_claims_table_from_runs_with_known_values(tmp_path):
    from bnorder_tf.report import verdicts
    from bnorder_tf.report.claims import check_claims

    runs = tmp_path / "runs"
    # (variant settings, accuracies over 3 seeds, sparsity, skewness,
    # per-layer saturations; each statistic moves by a step per seed):
    # Swap beats Convention, NWDBN lies between, but NWDBN is the sparsest
    # (the paper's sparsity order fails), and the shifted tanh is a point
    # below Swap (a difference the seeds cannot tell)
    variants = {
        "conv": (
            dict(order="convention"),
            (0.80, 0.81, 0.82),
            0.5,
            0.4,
            (0.3, 0.45),
        ),
        "nwdbn": (
            dict(order="convention", bn_gamma_decay=0.0, bn_beta_decay=0.0),
            (0.84, 0.86, 0.85),
            0.9,
            0.8,
            (0.5,),
        ),
        "swap": (dict(order="swap"), (0.88, 0.89, 0.90), 0.7, 2.0, (0.6, 0.86)),
        "shifted": (
            dict(order="swap", activation="shifted_tanh"),
            (0.87, 0.89, 0.88),
            0.7,
            2.0,
            (0.7,),
        ),
    }

    def step(seed, size):
        return size * (seed - 1)

    for name, (
        settings,
        accuracies,
        sparsity,
        skew,
        layers,
    ) in variants.items():
        for seed, accuracy in enumerate(accuracies):
            fake_run(
                runs,
                f"{name}_{seed}",
                accuracy,
                sparsity + step(seed, 0.01),
                seed=seed,
                skewness=skew + step(seed, 0.02),
                layer_saturations=[v + step(seed, 0.01) for v in layers],
                **settings,
            )
    fake_run(runs, "swap_blown", 0.0, 0.0, seed=7, status="diverged")
    with open(
        build_report(
            [str(runs)],
            str(tmp_path / "out"),
            claims=True,
            markdown_name="README.md",
        )
    ) as f:
        text = f.read()
    assert (tmp_path / "out" / "README.md").exists()
    rows = {
        line.split("|")[1].strip(): line
        for line in text.splitlines()
        if line.startswith("| ") and "|---" not in line
    }
    swap_row = rows["Swap beats Convention in accuracy"]
    assert "Convention 81.00 ± 1.00 (n=3)" in swap_row
    assert "Swap 89.00 ± 1.00 (n=3)" in swap_row  # the diverged run is out
    saturation = rows["Swap's maximum layer saturation is higher"]
    assert "Convention 0.450 ± 0.010" in saturation
    assert "Swap 0.860 ± 0.010" in saturation
    # every claim is a row of the table's seven cells (no stray "|")
    from bnorder_tf.report.claims import CLAIMS

    for claim in CLAIMS:
        assert rows[claim.text].count("|") == 8, rows[claim.text]
    assert "swap_blown (epoch 0)" in text  # left out, and named
    # the verdicts, worked out here: SciPy's Welch p-value of each
    # neighbouring pair of each claim, then Holm over the 8 pairs by hand
    values = {
        "accuracy": {
            name: [100 * a for a in v[1]] for name, v in variants.items()
        },
        "saturation": {
            name: [max(v[4]) + step(s, 0.01) for s in range(3)]
            for name, v in variants.items()
        },
        "skewness": {
            name: [v[3] + step(s, 0.02) for s in range(3)]
            for name, v in variants.items()
        },
        "sparsity": {
            name: [v[2] + step(s, 0.01) for s in range(3)]
            for name, v in variants.items()
        },
    }
    pairs = [  # (claim index, statistic, lower variant, higher variant)
        (0, "accuracy", "conv", "swap"),
        (1, "accuracy", "conv", "nwdbn"),
        (1, "accuracy", "nwdbn", "swap"),
        (2, "saturation", "conv", "swap"),
        (3, "skewness", "conv", "swap"),
        (4, "sparsity", "nwdbn", "conv"),
        (4, "sparsity", "conv", "swap"),
        (5, "accuracy", "swap", "shifted"),
    ]
    tests = [
        scipy_stats.ttest_ind(
            values[key][high], values[key][low], equal_var=False
        )
        for _, key, low, high in pairs
    ]
    raw = [t.pvalue for t in tests]
    ranked = sorted(range(8), key=lambda i: raw[i])
    adjusted, running = [0.0] * 8, 0.0
    for rank, i in enumerate(ranked):
        running = max(running, min(1.0, (8 - rank) * raw[i]))
        adjusted[i] = running
    expected = []
    for claim in range(6):
        parts = [
            (t.statistic, p)
            for (c, *_), t, p in zip(pairs, tests, adjusted, strict=True)
            if c == claim
        ]
        if any(p < 0.05 and t < 0 for t, p in parts):
            expected.append(verdicts.CONTRADICTED)
        elif all(p < 0.05 and t > 0 for t, p in parts):
            expected.append(verdicts.HOLDS)
        else:
            expected.append(verdicts.UNRESOLVED)
    # the same verdicts from the function itself
    from bnorder_tf.report.runs import find_runs

    finished = [r for r in find_runs([str(runs)]) if r.finished]
    results = check_claims(finished)
    found = [t for r in results[:6] for t in r.verdict.tests]
    assert [t.raw_p for t in found] == pytest.approx(raw, rel=1e-9)
    assert [t.p for t in found] == pytest.approx(adjusted, rel=1e-9)
    assert [r.state for r in results[:6]] == expected
    # the known answers
    assert expected == [
        verdicts.HOLDS,
        verdicts.HOLDS,
        verdicts.HOLDS,
        verdicts.HOLDS,
        verdicts.CONTRADICTED,
        verdicts.UNRESOLVED,
    ]
    for result in results[:6]:
        row = rows[result.claim.text].rstrip(" |")
        if result.state == verdicts.CONTRADICTED:
            assert row.endswith("**contradicted**")
        else:
            assert row.endswith(result.state)
    # Swap's gain in points with SciPy's Welch interval, corrected p
    low, high = tests[0].confidence_interval(0.95)
    assert f"+8.00 [{low:+.2f}, {high:+.2f}]" in swap_row
    assert f"{adjusted[0]:.2g} ({raw[0]:.2g} uncorrected)" in swap_row
    # the bounded-activations study's pairs have no run here
    assert [r.state for r in results[6:-1]] == [verdicts.NOT_MEASURED] * 7
    assert all("not measured" in rows[c.text] for c in CLAIMS[6:-1])
    # skewness against accuracy over the 12 finished (bounded) runs
    points = [
        (skew + step(seed, 0.02), accuracy)
        for _, accuracies, _, skew, _ in variants.values()
        for seed, accuracy in enumerate(accuracies)
    ]
    r, p = scipy_stats.pearsonr(*np.array(points).T)
    correlation = rows[CLAIMS[-1].text]
    assert f"r = {r:.2f} (p = {p:.2g}, n = 12)" in correlation
    # decided seed against seed within each variant: the slope's t of
    # accuracy ~ skewness + one intercept per variant (7 df)
    x, y = np.array(points).T
    design = np.column_stack([x, np.kron(np.eye(4), np.ones((3, 1)))])
    coef, residual, *_ = np.linalg.lstsq(design, y, rcond=None)
    t = coef[0] / np.sqrt(
        residual[0] / 7 * np.linalg.inv(design.T @ design)[0, 0]
    )
    (seeds,) = results[-1].verdict.tests
    assert seeds.estimate == pytest.approx(t / np.sqrt(t * t + 7))
    assert seeds.p == pytest.approx(2 * scipy_stats.t.sf(abs(t), 7), rel=1e-6)
    # r = 0.75, p = 0.020: the seeds agree
    assert seeds.estimate == pytest.approx(0.75) and seeds.p < 0.05
    assert results[-1].state == verdicts.HOLDS
