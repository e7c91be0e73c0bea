"""The study's tables in README.md and docs/reproduction.md never drift.

They are blocks that `study.py --collect` writes from the committed
results.csv. Rebuilt here from that file, each must equal what the
summaries hold: a hand edit, or a results.csv collected without
rewriting them, fails.
"""

import csv
import importlib.util
import os
import re

import numpy as np
import pytest
from scipy import stats as scipy_stats

from tests.helpers import ROOT

STUDY = os.path.join(ROOT, "reproduction", "fashion_mnist", "study.py")
#: The blocks each summary must show.
EXPECTED_BLOCKS = {
    "README.md": {"pairs"},
    os.path.join("docs", "reproduction.md"): {"pairs", "depth"},
}


@pytest.fixture(scope="module")
def study():
    spec = importlib.util.spec_from_file_location("fashion_mnist_study", STUDY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def blocks(study):
    return study.generated_blocks(study.read_results())


def _shown(study, text):
    """`{name: body}` of the blocks a file holds between their markers."""
    found = {}
    pattern = re.escape(study.BLOCK_START).replace(r"\{\}", "(\\w+)")
    for name in re.findall(pattern, text):
        start = study.BLOCK_START.format(name)
        end = study.BLOCK_END.format(name)
        body = text.split(start, 1)[1].split(end, 1)[0]
        found[name] = body.strip("\n")
    return found


def test_the_summaries_show_the_blocks_collect_writes(study, blocks):
    assert set(study.SUMMARY_FILES) == set(EXPECTED_BLOCKS)
    for name in study.SUMMARY_FILES:
        with open(os.path.join(ROOT, name)) as f:
            text = f.read()
        shown = _shown(study, text)
        assert set(shown) == EXPECTED_BLOCKS[name], name
        for block, body in shown.items():
            assert body == blocks[block].rstrip(), (
                f"{name}'s {block} table differs from results.csv: run "
                "python reproduction/fashion_mnist/study.py --collect"
            )
        # what --collect would write is what is there
        assert study.fill_blocks(text, blocks) == text


def test_the_blocks_are_tables_with_a_row_per_pair_and_depth(blocks):
    pairs = blocks["pairs"].splitlines()
    assert pairs[0].startswith("| model | activation | Convention (%) |")
    rows = {
        tuple(c.strip() for c in line.split("|")[1:3]) for line in pairs[2:]
    }
    assert ("vgg16_11", "tanh") in rows and ("mobilenet", "tanh") in rows
    # the depth study's other VGGs are in the depth table alone
    vggs = {model for model, _ in rows if model.startswith("vgg16_")}
    assert vggs == {"vgg16_11"}
    depth = blocks["depth"].splitlines()
    models = [line.split("|")[1].strip() for line in depth[2:]]
    assert "VGG16_11" in models
    assert models == sorted(models, key=lambda m: int(m.split("_")[1]))


def _finals():
    path = os.path.join(ROOT, "reproduction", "fashion_mnist", "results.csv")
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    found = {}
    for row in rows:
        if row["role"] == "final" and row["test_accuracy"]:
            key = (row["model"], row["activation"], row["order"])
            found.setdefault(key, []).append(100 * float(row["test_accuracy"]))
    return found


def test_each_pair_row_recomputes_from_results_csv_with_scipy(blocks):
    finals = _finals()
    lines = (
        blocks["pairs"].splitlines()[2:]
        + [
            line.replace("| VGG16_", "| vgg16_", 1).replace(
                " |", " | tanh |", 1
            )  # the depth table's rows, given the pairs table's columns
            for line in blocks["depth"].splitlines()[2:]
        ]
    )
    assert lines
    for line in lines:
        model, activation, conv_cell, swap_cell, gain, p = (
            c.strip() for c in line.strip().strip("|").split("|")
        )
        conv = finals[(model, activation, "convention")]
        swap = finals[(model, activation, "swap")]
        for cell, values in ((conv_cell, conv), (swap_cell, swap)):
            assert cell == (
                f"{np.mean(values):.2f} ± {np.std(values, ddof=1):.2f} "
                f"(n={len(values)})"
            )
        test = scipy_stats.ttest_ind(swap, conv, equal_var=False)
        low, high = test.confidence_interval(0.95)
        difference = np.mean(swap) - np.mean(conv)
        assert gain == f"{difference:+.2f} [{low:+.2f}, {high:+.2f}]", line
        assert p == f"{test.pvalue:.2g}", line


def test_fill_blocks_replaces_between_the_markers_only(study):
    start, end = study.BLOCK_START.format("pairs"), study.BLOCK_END
    text = f"before\n{start}\nold table\n{end.format('pairs')}\nafter\n"
    filled = study.fill_blocks(text, {"pairs": "| new |\n", "depth": "| d |"})
    assert filled == (
        f"before\n{start}\n| new |\n{end.format('pairs')}\nafter\n"
    )
    # once filled, filling again changes nothing
    assert study.fill_blocks(filled, {"pairs": "| new |"}) == filled


@pytest.mark.parametrize("broken", ["no_end", "end_first"])
def test_fill_blocks_refuses_a_broken_block(study, broken):
    start = study.BLOCK_START.format("depth")
    end = study.BLOCK_END.format("depth")
    text = f"{start}\nx\n" if broken == "no_end" else f"{end}\nx\n{start}\n"
    with pytest.raises(study.StudyError, match="block to fill"):
        study.fill_blocks(text, {"depth": "| d |"})
