"""The reproduction study's driver: its plan, without training."""

import csv
import os
import subprocess
import sys

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
    # 4 models: one grid search each, then 3 final seeds each
    assert len(steps) == 4 + 4 * 3
    searches = [line for line in lines if "tuning/tune.py" in line]
    assert len(searches) == 4
    for line in searches:
        assert "--search_learning_rate=0.1,0.01" in line
        assert "--search_weight_decay=5e-3,1e-3,5e-4,1e-4" in line
        assert "--validation_examples=5000" in line
    finals = [line for line in lines if "trainers/train.py" in line]
    assert len(finals) == 12
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
        assert header[:13] == [
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
