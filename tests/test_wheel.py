"""The built wheel, installed outside the repository, runs its programs.

The wheel is built from this checkout and installed (not editable) into a
fresh virtual environment whose only other packages are the dependencies
of the development environment. Every program then runs from an empty
directory, with flagfiles found by bare name inside the installed package:
train, tune, report and predict, as a new user would chain them.
"""

import glob
import os
import subprocess
import sys
import sysconfig

import numpy as np
import pytest

from tests.helpers import ROOT

TINY = [
    "--dataset=synthetic",
    "--width=0.0625",
    "--epochs=1",
    "--batch_size=16",
    "--steps_per_epoch=2",
    "--eval_steps=1",
    "--histogram_bins=0",
]


def _run(args, cwd, env, timeout=600, status=0):
    out = subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert out.returncode == status, (
        f"{args}\n{out.stdout[-2000:]}{out.stderr[-3000:]}"
    )
    return out


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`(bin directory, environment)` of a venv with the wheel installed."""
    top = tmp_path_factory.mktemp("wheel")
    dist = top / "dist"
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(dist),
            ROOT,
        ],
        cwd=top,
        env=dict(os.environ),
    )
    (wheel,) = glob.glob(str(dist / "bnorder_tf-*.whl"))
    venv = top / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True
    )
    python = str(venv / "bin" / "python")
    site = subprocess.run(
        [
            python,
            "-c",
            "import sysconfig; print(sysconfig.get_path('purelib'))",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    # the dependencies, from this environment's site-packages as a plain
    # path: its .pth files (an editable install of this checkout) are not run
    with open(os.path.join(site, "dependencies.pth"), "w") as f:
        f.write(sysconfig.get_path("purelib") + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            python,
            "install",
            "--quiet",
            "--no-deps",
            "--no-index",
            wheel,
        ],
        cwd=top,
        env=dict(os.environ),
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return venv / "bin", env


@pytest.mark.large
def test_the_installed_wheel_runs_every_program(installed, tmp_path):
    bin_dir, env = installed
    empty = tmp_path / "user"
    empty.mkdir()
    where = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import bnorder_tf; print(bnorder_tf.__file__)",
        ],
        cwd=empty,
        env=env,
    ).stdout.strip()
    assert where.startswith(str(bin_dir.parent)), where  # not the checkout
    _run(
        [
            str(bin_dir / "bnorder-train"),
            "--flagfile=vgg_swap.flags",
            *TINY,
            "--model_dir=runs",
            "--export_dir=savedmodels",
            "--run_name=swap",
        ],
        cwd=empty,
        env=env,
    )
    assert (empty / "runs" / "swap" / "summary.json").exists()
    _run(
        [
            str(bin_dir / "bnorder-tune"),
            "--flagfile=nwdbn_beta_sweep.flags",
            *TINY,
            "--search_bn_beta_decay=0,1e-3",
            "--seeds=1",
            "--tuning_dir=tuning",
        ],
        cwd=empty,
        env=env,
    )
    assert (empty / "tuning" / "nwdbn_beta_sweep" / "best.flags").exists()
    _run(
        [str(bin_dir / "bnorder-report"), "runs", "--out", "report"],
        cwd=empty,
        env=env,
    )
    assert (empty / "report" / "report.md").exists()
    images = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3))
    np.save(empty / "images.npy", images.astype(np.uint8))
    predicted = _run(
        [
            str(bin_dir / "bnorder-predict"),
            "savedmodels/swap",
            "images.npy",
            "--top_k=2",
        ],
        cwd=empty,
        env=env,
    ).stdout
    assert predicted.count("images.npy[") == 3
    helpfull = _run(
        [str(bin_dir / "python"), "-m", "bnorder_tf.train", "--helpfull"],
        cwd=empty,
        env=env,
        status=1,  # absl's, after printing the help
    ).stdout
    assert "--stats_every" in helpfull and "--flagfile" in helpfull
    assert sorted(os.listdir(empty)) == [
        "images.npy",
        "report",
        "runs",
        "savedmodels",
        "tuning",
    ]


def test_the_wheel_ships_the_flagfiles(installed):
    bin_dir, env = installed
    listed = _run(
        [
            str(bin_dir / "python"),
            "-c",
            "import importlib.resources as r; "
            "print(sorted(p.name for p in "
            "(r.files('bnorder_tf') / 'configs').iterdir()))",
        ],
        cwd=bin_dir,
        env=env,
    ).stdout
    shipped = sorted(os.listdir(os.path.join(ROOT, "bnorder_tf", "configs")))
    assert listed.strip() == str(shipped)
