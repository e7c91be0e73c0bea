"""The train program: its flags, in subprocesses as a user runs it."""

import json

import pytest

from tests.helpers import (
    TRAIN,
    error_lines,
    run_program,
    run_programs_side_by_side,
)

BAD_FLAGS = [
    ("--dataset=cifar1000", "--dataset"),
    ("--order=sideways", "--order"),
    ("--lr_milestones=150,100", "--lr_milestones"),
    ("--histogram_bins=-1", "--histogram_bins"),
    ("--flagfile=no_such.flags", "vgg_swap.flags"),
    ("--data_dir=/nonexistent", "--data_dir"),
    ("--strategy=mirrored --devices=/cpu:0,/cpu:1", "/cpu:1 does not exist"),
]


@pytest.fixture(scope="module")
def bad_flag_runs(tmp_path_factory):
    """`flag -> (completed process, its model_dir parent)` of each bad run.

    One run per flag of `BAD_FLAGS`.
    """
    return run_programs_side_by_side(
        tmp_path_factory,
        [flag for flag, _ in BAD_FLAGS],
        lambda flag, directory: [
            TRAIN,
            "--flagfile=vgg_swap.flags",
            f"--model_dir={directory}/runs",
            *flag.split(),
        ],
    )


@pytest.mark.parametrize("flag, named", BAD_FLAGS)
def test_bad_flags_give_one_line_and_write_nothing(bad_flag_runs, flag, named):
    out, tmp_path = bad_flag_runs[flag]
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and named in lines[0], out.stderr[-2000:]
    assert "Traceback" not in out.stderr
    assert not (tmp_path / "runs").exists()


TINY_FLAGS = [
    "--dataset=synthetic",
    "--model=vgg16_8",
    "--width=0.0625",
    "--batch_size=32",
    "--learning_rate=0.05",
    "--lr_milestones=2",
    "--steps_per_epoch=8",
]


@pytest.mark.large
def test_logical_cpus_let_mirrored_train_without_gpus(tmp_path):
    out = run_program(
        [
            TRAIN,
            *TINY_FLAGS,
            "--epochs=1",
            "--steps_per_epoch=2",
            "--stats_every=0",
            "--logical_cpus=2",
            "--strategy=mirrored",
            f"--model_dir={tmp_path}/runs",
            f"--export_dir={tmp_path}/savedmodels",
            "--run_name=m",
        ]
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "2 replica(s)" in out.stdout
    summary = json.loads((tmp_path / "runs" / "m" / "summary.json").read_text())
    assert summary["replicas"] == 2
