"""The reproduction study's driver: its plan, without training."""

import csv
import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.helpers import ROOT

STUDY = os.path.join(ROOT, "reproduction", "fashion_mnist", "study.py")


def test_dry_run_lists_every_run_of_the_protocol():
    out = subprocess.run(
        [sys.executable, STUDY, "--dry_run"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    steps = [line for line in lines if line.startswith("[")]
    # 4 tanh models, 8 of the bounded-activations study and 6 of the depth
    # study: one grid search each, then 3 final seeds each; then issue 37's
    # runs: figure 15 on VGG16_11 (3 seeds x 2 orders) and one recheck
    assert len(steps) == 18 + 18 * 3 + 6 + 1
    searches = [line for line in lines if "tuning/tune.py" in line]
    assert len(searches) == 18
    for line in searches:
        assert "--search_learning_rate=0.1,0.01" in line
        assert "--search_weight_decay=5e-3,1e-3,5e-4,1e-4" in line
        assert "--validation_examples=5000" in line
    finals = [line for line in lines if "trainers/train.py" in line]
    assert len(finals) == 54 + 6 + 1
    # the depth study: VGG16_n of the tanh flagfiles; its finals record the
    # gradient scale
    for depth in (8, 13, 16):
        for order in ("convention", "swap"):
            assert any(
                f"--flagfile=vgg_{order}.flags --model=vgg16_{depth} " in s
                and f"--project=depth{depth}_{order}" in s
                for s in searches
            )
            depth_finals = [
                s for s in finals if f"--run_name=depth{depth}_{order}_s" in s
            ]
            assert len(depth_finals) == 3
            assert all(
                f"depth{depth}_{order}/best.flags" in s for s in depth_finals
            )
            assert all("--gradient_batches=10" in s for s in depth_finals)
    # figure 15 on VGG16_11: the tanh study's best points trained again,
    # into a directory of their own, recording the gradient scale
    for order in ("convention", "swap"):
        again = [s for s in finals if f"--run_name=figure15_{order}_s" in s]
        assert len(again) == 3
        for line in again:
            assert f"work/tuning/{order}/best.flags" in line
            assert "--model_dir=reproduction/fashion_mnist/work/figure15 " in (
                line
            )
            assert "--gradient_batches=10" in line
    # the recheck: depth8_swap's seed 0 again, at its best point
    (recheck,) = [s for s in finals if "--run_name=depth8_swap_recheck_s0" in s]
    assert "work/tuning/depth8_swap/best.flags" in recheck
    assert "--seed=0 " in recheck and "work/recheck " in recheck
    # the order: figure 15 and the recheck on the new code, VGG16_13 last
    described = [line.split("] ", 1)[1] for line in steps]
    assert described[-15:-8] == [
        f"final figure15_{order} seed {seed}: 12 epochs"
        for order in ("convention", "swap")
        for seed in (0, 1, 2)
    ] + ["recheck depth8_swap_recheck seed 0: 12 epochs"]
    assert all("depth13_" in line for line in described[-8:])
    assert not any("depth13_" in line for line in described[:-8])
    # each new pair: the same flagfiles as the tanh study, one activation
    # (or the MobileNet flagfiles) changed
    for activation in ("relu", "softsign", "lecun_tanh"):
        for order in ("convention", "swap"):
            assert any(
                f"--flagfile=vgg_{order}.flags --activation={activation} " in s
                and f"--project={activation}_{order}" in s
                for s in searches
            )
    for order in ("convention", "swap"):
        assert any(
            f"--flagfile=mobilenet_{order}.flags --dataset" in s
            for s in searches
        )
    for line in finals:
        assert "best.flags" in line and "--validation_examples=0" in line
    # the same width and schedule (x0.1 at 50% and 75%) for every run
    assert all("--width=0.25" in line for line in searches + finals)
    assert all("--epochs=4 --lr_milestones=2,3" in line for line in searches)
    assert all("--epochs=12 --lr_milestones=6,9" in line for line in finals)
    # the committed results, if any, have the columns the issue names
    results = os.path.join(ROOT, "reproduction", "fashion_mnist", "results.csv")
    if os.path.exists(results):
        with open(results, newline="") as f:
            header = next(csv.reader(f))
        assert header[:14] == [
            "model",
            "order",
            "activation",
            "learning_rate",
            "weight_decay",
            "seed",
            "role",
            "val_accuracy",
            "test_accuracy",
            "saturation",
            "skewness",
            "sparsity",
            "max_layer_saturation",
            "status",
        ]


def _study_copy(tmp_path, versions):
    """study.py alone in a fresh git repository; returns the copy's path.

    `versions` is its code-version record.
    """
    study = tmp_path / "reproduction" / "fashion_mnist" / "study.py"
    study.parent.mkdir(parents=True)
    shutil.copy(STUDY, study)
    (tmp_path / "bnorder_tf").mkdir()
    (tmp_path / "bnorder_tf" / "code.py").write_text("x = 1\n")
    for command in (
        ["init", "-q"],
        ["add", "."],
        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c"],
    ):
        subprocess.run(["git", *command], cwd=tmp_path, check=True)
    work = study.parent / "work"
    work.mkdir()
    (work / "code_versions.json").write_text(json.dumps(versions))
    return study


def _files(top):
    return sorted(str(p) for p in top.rglob("*") if ".git" not in p.parts)


@pytest.mark.parametrize("fault", ["other_commit", "changed_code"])
def test_a_step_never_runs_on_other_code_than_its_model_ran(tmp_path, fault):
    """Each model's runs share one commit.

    A clone at another commit, or with changed package code, is refused
    in one line before anything runs.
    """
    versions = {"convention": "0" * 40} if fault == "other_commit" else {}
    study = _study_copy(tmp_path, versions)
    if fault == "changed_code":
        (tmp_path / "bnorder_tf" / "code.py").write_text("x = 2\n")
    before = _files(tmp_path)
    out = subprocess.run(
        [sys.executable, str(study)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    expected = "000000000000" if fault == "other_commit" else "differ from"
    assert expected in out.stderr
    assert _files(tmp_path) == before
