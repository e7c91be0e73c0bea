"""Reports from real (short) runs, checked against their summary.json."""

import html
import json
import math
import os
import re
import shutil

import numpy as np
import pytest
from scipy import stats as scipy_stats

from bnorder_tf.report import build_report
from bnorder_tf.training import runner
from bnorder_tf.training.config import TrainConfig
from tests.helpers import error_lines, fake_run, run_program


@pytest.fixture(scope="module")
def run_dirs(tmp_path_factory):
    """Convention and Swap, two seeds each, from one real short run.

    The real run (Convention, seed 0) shows that the report reads what
    the trainer writes; the other three are copies of it with another
    order or seed and results moved by known amounts (a real run costs
    seconds of tracing, and the report reads only files).
    """
    root = tmp_path_factory.mktemp("runs")
    config = TrainConfig(
        dataset="synthetic",
        model="vgg16_8",
        order="convention",
        width=0.0625,
        epochs=2,
        batch_size=32,
        learning_rate=0.05,
        lr_milestones=(5,),
        steps_per_epoch=3,
        seed=0,
        gradient_batches=1,
        model_dir=str(root / "runs"),
        export_dir=str(root / "savedmodels"),
    )
    run_dir = runner.run_training(config, verbose=0).run_dir
    for order, seed, moved in (
        ("convention", 1, -0.03),
        ("swap", 0, 0.02),
        ("swap", 1, 0.05),
    ):
        _copy(run_dir, order, seed, moved)
    return root / "runs"


def _copy(run_dir, order, seed, moved):
    """Copies the Convention seed-0 run as `order` and `seed`, results moved."""
    name = os.path.basename(run_dir)
    copy_name = name.replace("_convention_", f"_{order}_").replace(
        "_s0", f"_s{seed}"
    )
    copy = os.path.join(os.path.dirname(run_dir), copy_name)
    assert copy != run_dir
    shutil.copytree(run_dir, copy)
    flags_path = os.path.join(copy, "flags.txt")
    with open(flags_path) as f:
        flags = f.read()
    # the run's name is made from these flags (no --run_name line)
    for old, new in (
        ("--seed=0", f"--seed={seed}"),
        ("--order=convention", f"--order={order}"),
    ):
        assert old in flags
        flags = flags.replace(old, new)
    with open(flags_path, "w") as f:
        f.write(flags)
    summary_path = os.path.join(copy, "summary.json")
    with open(summary_path) as f:
        summary = json.load(f)
    summary.update(seed=seed, order=order, run_name=copy_name)
    summary["final_test_accuracy"] += moved
    for key in ("saturation", "skewness", "sparsity"):
        summary["stats"][key] += moved
    with open(summary_path, "w") as f:
        json.dump(summary, f)


def _summaries(run_dirs, order):
    out = []
    for name in sorted(os.listdir(run_dirs)):
        if f"_{order}_" in name:
            with open(run_dirs / name / "summary.json") as f:
                out.append(json.load(f))
    return out


def test_report_tables_match_the_runs_summaries(run_dirs, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text(
        "## What surprised us\n\nSwap's gain was\nsmall.\n\n"
        "Its p < 0.1.\n\n\n## Next\nMore seeds.\n"
    )
    md_path = build_report(
        [str(run_dirs)],
        str(tmp_path / "report"),
        claims=True,
        title="A study",
        intro="What was run.",
        notes=str(notes),
    )
    with open(md_path) as f:
        text = f.read()
    # the notes follow the tables, one paragraph per blank-line block
    assert (
        "## What surprised us\n\nSwap's gain was small.\n\nIts p < 0.1."
        "\n\n## Next\n\nMore seeds.\n\n## Saturation per block" in text
    )
    assert text.index("## The paper's claims") < text.index("## Next")
    page = (tmp_path / "report" / "report.html").read_text()
    assert (
        "<h2>What surprised us</h2><p>Swap&#x27;s gain was small.</p>"
        "<p>Its p &lt; 0.1.</p><h2>Next</h2><p>More seeds.</p>" in page
    )
    rows = [line for line in text.splitlines() if line.startswith("| G")]
    assert len(rows) == 2
    for row, order in zip(rows, ("convention", "swap"), strict=True):
        summaries = _summaries(run_dirs, order)
        accuracies = [100 * s["final_test_accuracy"] for s in summaries]
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert order in cells
        mean, std = map(float, re.findall(r"[\d.]+", cells[-5]))
        assert mean == pytest.approx(np.mean(accuracies), abs=0.006)
        assert std == pytest.approx(np.std(accuracies, ddof=1), abs=0.006)
        assert cells[-4] == "2"
        for cell, key in zip(
            cells[-3:], ("saturation", "skewness", "sparsity"), strict=True
        ):
            assert float(cell) == pytest.approx(
                np.mean([s["stats"][key] for s in summaries]), abs=6e-5
            )

    out = tmp_path / "report"
    figures = {
        "saturation",
        "skewness",
        "sparsity",
        "pairs_per_block",
        "histograms",
        "output_histograms",
        "sparsity_vs_accuracy",
        "skewness_vs_accuracy",
        "loss",
        "gradients",
        "tanh_skewness",
    }
    for name in figures:
        with open(out / f"{name}.png", "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n", name
        assert f"]({name}.png)" in text
    page = (out / "report.html").read_text()
    assert page.count('src="data:image/png;base64,') == len(figures)
    assert 'src="http' not in page  # self-contained
    _check_markdown_and_html_say_the_same(text, page)

    # the pair table: Swap's gain, its standard error and Welch's p
    convention, swap = (
        [100 * s["final_test_accuracy"] for s in _summaries(run_dirs, order)]
        for order in ("convention", "swap")
    )
    welch = scipy_stats.ttest_ind(swap, convention, equal_var=False)
    gap = np.mean(swap) - np.mean(convention)
    se = np.sqrt(np.var(swap, ddof=1) / 2 + np.var(convention, ddof=1) / 2)
    pair_row = next(
        line for line in text.splitlines() if line.startswith("| synthetic")
    )
    assert f"| {gap:+.2f} ± {se:.2f} | {welch.pvalue:.2g} | 2 |" in pair_row

    # the correlation in the caption is Pearson's r over the four runs
    points = [
        (s["stats"]["sparsity"], s["final_test_accuracy"])
        for order in ("convention", "swap")
        for s in _summaries(run_dirs, order)
    ]
    r = np.corrcoef(np.array(points).T)[0, 1]
    caption = re.search(
        r"Sparsity vs accuracy on synthetic\n\nOne point per "
        r"run of synthetic; Pearson r = (-?[\d.]+)",
        text,
    )
    assert float(caption.group(1)) == pytest.approx(r, abs=6e-4)


def test_notes_with_text_before_a_heading_are_one_line(run_dirs, tmp_path):
    notes = tmp_path / "notes.md"
    notes.write_text("A paragraph with no heading.\n\n## Title\nText.\n")
    out = run_program(
        [
            "-m",
            "bnorder_tf.report",
            str(run_dirs),
            "--out",
            str(tmp_path / "out"),
            "--notes",
            str(notes),
        ]
    )
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and "text before its first '## ' heading" in lines[0]
    assert not (tmp_path / "out").exists()


def test_report_of_a_directory_without_runs_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    out = run_program(
        [
            "-m",
            "bnorder_tf.report",
            str(tmp_path / "empty"),
            "--out",
            str(tmp_path / "out"),
        ]
    )
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and "holds no finished run" in lines[0]
    assert not (tmp_path / "out").exists()


def _check_markdown_and_html_say_the_same(text, page):
    """Both files come from one document.

    The title and intro, and every heading and table cell of the
    Markdown, are in the HTML.
    """
    page = html.unescape(page)
    assert text.startswith("# A study\n\nWhat was run.\n\n4 run(s)")
    assert "<title>A study</title><" in page
    assert "<h1>A study</h1><p>What was run.</p><p>4 run(s)" in page
    headings = re.findall(r"^## (.+)$", text, flags=re.M)
    assert headings and all(f"<h2>{h}</h2>" in page for h in headings)
    # a "|" inside a Markdown cell (as in "mean |x|") is escaped
    cells = [
        cell.strip().replace("\\|", "|")
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("|---")
        for cell in line.strip("|").split(" | ")
    ]
    assert "Swap beats Convention in accuracy" in cells  # the claims table
    assert any("|x|" in c for c in cells)  # figure 15's claims, unescaped
    assert all(
        f"<td>{c}</td>" in page or f"<th>{c}</th>" in page for c in cells
    )


def test_tables_say_not_defined_and_dash_instead_of_nan_and_none():
    from bnorder_tf.report import accuracy_table

    row = {
        "group": "G1",
        "activation": "relu",
        "bn_beta_decay": "None",  # a setting left at its default
        "accuracy_mean": 0.9265,
        "accuracy_std": 0.0013,
        "seeds": 3,
        "saturation": math.nan,  # not defined for ReLU
        "skewness": 1.9743,
        "sparsity": 0.9103,
    }
    (cells,) = accuracy_table([row]).rows
    assert cells == [
        "G1",
        "relu",
        "—",
        "92.65 ± 0.13",
        "3",
        "not defined",
        "1.9743",
        "0.9103",
    ]


def test_report_never_pools_datasets_and_leaves_out_diverged_runs(tmp_path):
    runs = tmp_path / "runs"
    points = {
        "cifar10": [(0.6, 0.2), (0.7, 0.3), (0.65, 0.1)],
        "cifar100": [(0.3, 0.5), (0.2, 0.6), (0.25, 0.4)],
    }
    for dataset, values in points.items():
        for seed, (accuracy, sparsity) in enumerate(values):
            fake_run(
                runs,
                f"{dataset}_{seed}",
                accuracy,
                sparsity,
                dataset=dataset,
                seed=seed,
            )
    fake_run(runs, "blown", 0.0, 0.0, status="diverged")
    with open(build_report([str(runs)], str(tmp_path / "out"))) as f:
        text = f.read()
    for dataset, values in points.items():
        accuracy, sparsity = np.array(values).T
        r = np.corrcoef(sparsity, accuracy)[0, 1]
        assert f"One point per run of {dataset}; Pearson r = {r:.3f}" in text
    pooled = np.array(sum(points.values(), []))
    pooled_r = np.corrcoef(pooled[:, 1], pooled[:, 0])[0, 1]
    assert f"r = {pooled_r:.3f}" not in text
    assert "## Diverged runs" in text and "blown (epoch 0)" in text
    table = [line for line in text.splitlines() if line.startswith("| G")]
    assert len(table) == 2 and all("| 3 |" in line for line in table)
