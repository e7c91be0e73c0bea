"""Flagfiles found by bare name and expanded in place."""

import pytest

from bnorder_tf.cli import resolve_flagfiles
from bnorder_tf.errors import ConfigError


def test_nested_flagfiles_expand_in_order_and_later_flags_win(tmp_path):
    programs = tmp_path / "trainers"
    programs.mkdir()
    (programs / "base.flags").write_text(
        "# the base setting\n--dataset=cifar100\n--epochs=200\n\n")
    (programs / "sweep.flags").write_text(
        "--flagfile=base.flags\n// a sweep\n--epochs=5\n")
    argv = resolve_flagfiles(
        ["prog", "--flagfile=sweep.flags", "--dataset=synthetic"],
        [str(programs)])
    assert argv == ["prog", "--dataset=cifar100", "--epochs=200",
                    "--epochs=5", "--dataset=synthetic"]


def test_missing_flagfile_lists_the_available_ones(tmp_path):
    (tmp_path / "vgg_swap.flags").write_text("--epochs=1\n")
    with pytest.raises(ConfigError,
                       match=r"--flagfile=nope.flags: .*available: "
                             r"vgg_swap.flags"):
        resolve_flagfiles(["prog", "--flagfile=nope.flags"], [str(tmp_path)])


def test_flagfiles_including_each_other_are_an_error(tmp_path):
    (tmp_path / "a.flags").write_text("--flagfile=b.flags\n")
    (tmp_path / "b.flags").write_text("--flagfile=a.flags\n")
    with pytest.raises(ConfigError, match="in a loop"):
        resolve_flagfiles(["prog", "--flagfile=a.flags"], [str(tmp_path)])
