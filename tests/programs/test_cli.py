"""What the programs share: flagfiles, light imports, one-line errors."""

import os
import subprocess
import sys

import pytest

from bnorder_tf.errors import (
    ConfigError,
)
from bnorder_tf.programs.cli import resolve_flagfiles
from tests.helpers import ROOT, error_lines


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
        "import bnorder_tf.programs.train, bnorder_tf.programs.tune\n"
        "import bnorder_tf.programs.predict\n"
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


def _run_plain(args, **env):
    """Runs `python args...` with the user's TF_CPP_MIN_LOG_LEVEL unset.

    As a user's shell would (`run_program` sets it).
    """
    import subprocess
    import sys

    from tests.helpers import ROOT

    environment = {
        k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"
    }
    environment.update(PYTHONPATH=ROOT, **env)
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize(
    "program, bad_flag",
    [
        ("trainers/train.py", "--epochs=-1"),  # absl's bounds
        ("trainers/train.py", "--width=nan"),  # TrainConfig's check
        ("tuning/tune.py", "--tuner=sideways"),
        # the search flags' own checks
        ("tuning/tune.py", "--search_learning_rate=0.1,abc"),
        ("tuning/tune.py", "--search_order=swap,upside_down"),
        ("-m bnorder_tf.predict", "--top_k=0"),
    ],
)
def test_bad_flags_are_answered_before_tensorflow_is_imported(
    program, bad_flag
):
    # -X importtime lists every module the program imported, in order
    out = _run_plain(["-X", "importtime", *program.split(), bad_flag])
    assert out.returncode != 0
    imported = [line.split("|")[-1].strip() for line in out.stderr.splitlines()]
    assert "absl.flags" in imported
    assert "tensorflow" not in imported and "keras" not in imported


def test_help_needs_no_tensorflow():
    out = _run_plain(["-X", "importtime", "trainers/train.py", "--helpfull"])
    assert "--learning_rate" in out.stdout  # (absl's --help exits with 1)
    imported = [line.split("|")[-1].strip() for line in out.stderr.splitlines()]
    assert "tensorflow" not in imported


def test_importing_the_package_is_light_and_its_names_load_on_use():
    out = _run_plain(
        [
            "-c",
            "import sys, bnorder_tf\n"
            "print('keras' in sys.modules)\n"
            "print(bnorder_tf.build_model.__module__)\n"
            "print('keras' in sys.modules)\n",
        ]
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["False", "bnorder_tf.models", "True"]


def _no_such_device(tmp_path, **env):
    """Trains on a device that does not exist.

    The program refuses it once TensorFlow is imported, before anything
    is trained.
    """
    return _run_plain(
        [
            "trainers/train.py",
            "--dataset=synthetic",
            "--strategy=mirrored",
            "--devices=/gpu:7",
            f"--model_dir={tmp_path}/runs",
        ],
        **env,
    )


def test_tensorflows_start_up_lines_are_hidden_unless_asked_for(tmp_path):
    quiet = _no_such_device(tmp_path)
    assert quiet.returncode == 2
    lines = quiet.stderr.splitlines()
    assert len(lines) == 1, quiet.stderr[-2000:]
    assert lines[0].startswith(
        "train.py: error: --devices: /gpu:7 does not exist here; available: "
    )


@pytest.mark.large
def test_a_user_who_sets_the_log_level_sees_tensorflows_lines(tmp_path):
    # which notices TensorFlow prints depends on the CPU (oneDNN's, the
    # CPU features'), so only their presence is checked, with the quiet
    # run's one line last
    (line,) = _no_such_device(tmp_path).stderr.splitlines()
    verbose = _no_such_device(tmp_path, TF_CPP_MIN_LOG_LEVEL="0")
    assert verbose.returncode == 2
    verbose_lines = verbose.stderr.splitlines()
    assert len(verbose_lines) > 1, verbose.stderr[-2000:]
    assert verbose_lines[-1] == line


def test_user_errors_are_one_line_and_bugs_keep_their_traceback():
    def program(raised):
        code = (
            "from bnorder_tf import errors\n"
            "from bnorder_tf.programs import cli\n"
            f"def main(argv): raise {raised}\n"
            "cli.run_program(main, [])"
        )
        return subprocess.run(
            [sys.executable, "-c", code],
            cwd=ROOT,
            capture_output=True,
            text=True,
        )

    user = program("errors.ConfigError('--x=1 is bad.')")
    assert user.returncode == 2
    assert error_lines(user.stderr) == ["-c: error: --x=1 is bad."]
    assert "Traceback" not in user.stderr
    bug = program("ValueError('a bug')")
    assert bug.returncode == 1
    assert "Traceback" in bug.stderr and "ValueError: a bug" in bug.stderr
