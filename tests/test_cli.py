"""Flagfiles found by bare name and expanded in place."""

import pytest

from bnorder_tf.cli import resolve_flagfiles
from bnorder_tf.errors import ConfigError


def test_nested_flagfiles_expand_in_order_and_later_flags_win(tmp_path):
    programs = tmp_path / "trainers"
    programs.mkdir()
    (programs / "base.flags").write_text(
        "# the base setting\n--dataset=cifar100\n--epochs=200\n\n"
    )
    (programs / "sweep.flags").write_text(
        "--flagfile=base.flags\n// a sweep\n--epochs=5\n"
    )
    argv = resolve_flagfiles(
        ["prog", "--flagfile=sweep.flags", "--dataset=synthetic"],
        [str(programs)],
    )
    assert argv == [
        "prog",
        "--dataset=cifar100",
        "--epochs=200",
        "--epochs=5",
        "--dataset=synthetic",
    ]


def test_missing_flagfile_lists_the_available_ones(tmp_path):
    (tmp_path / "vgg_swap.flags").write_text("--epochs=1\n")
    with pytest.raises(
        ConfigError,
        match=r"--flagfile=nope.flags: .*available: "
        r"vgg_swap.flags",
    ):
        resolve_flagfiles(["prog", "--flagfile=nope.flags"], [str(tmp_path)])


def test_flagfiles_including_each_other_are_an_error(tmp_path):
    (tmp_path / "a.flags").write_text("--flagfile=b.flags\n")
    (tmp_path / "b.flags").write_text("--flagfile=a.flags\n")
    with pytest.raises(ConfigError, match="in a loop"):
        resolve_flagfiles(["prog", "--flagfile=a.flags"], [str(tmp_path)])


def test_importing_the_programs_defines_no_flags():
    import subprocess
    import sys

    from tests.helpers import ROOT

    ours = (
        "dataset",
        "learning_rate",
        "search_learning_rate",
        "tuner",
        "seeds",
        "top_k",
        "json",
        "version",
    )
    code = (
        "from absl import flags\n"
        "import bnorder_tf.train, bnorder_tf.tune, bnorder_tf.predict\n"
        "import bnorder_tf.report.__main__\n"
        f"print([n for n in {ours!r} if n in flags.FLAGS])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "[]"


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "bnorder_tf.train"],
        ["-m", "bnorder_tf.tune"],
    ],
)
def test_programs_run_as_modules(tmp_path, command):
    from tests.helpers import error_lines, run_program

    out = run_program(
        [*command, "--order=sideways", f"--model_dir={tmp_path}/runs"]
    )
    assert out.returncode == 2
    lines = error_lines(out.stderr)
    assert len(lines) == 1 and "--order" in lines[0], out.stderr[-2000:]
