"""Helpers the tests share.

Running the package's programs in processes of their own as a user would
(the trainer paused at a fault, local multi-worker clusters), run
directories with known values, and a stream that says it is a terminal.
"""

import concurrent.futures
import csv
import io
import json
import os
import signal
import socket
import subprocess
import sys
import time

import pytest

from bnorder_tf.training.config import TrainConfig
from tests.warm import WarmProcess

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TRAIN = os.path.join(ROOT, "trainers", "train.py")
#: The trainer with a pause injected (see the script's docstring).
FAULT = os.path.join(ROOT, "tests", "scripts", "train_with_fault.py")


def program_env(**extra):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=ROOT)
    env.update(extra)
    return env


def _forks_the_same(args, env):
    """Whether a fork of the warm interpreter runs `args` as Python would.

    A script does, unless TensorFlow would read an environment variable
    at import other than the one the warm interpreter imported it with
    (`tests/warm.py`); `python -c` and `python -m` run fresh.
    """
    read_at_import = {
        name for name in env if name.startswith("TF_") and name != "TF_CONFIG"
    }
    return args[0].endswith(".py") and not read_at_import


def run_program(args, timeout=600, **env):
    """Runs `python args...` from the repository root.

    A script runs in a fork of an interpreter that has imported
    TensorFlow (`tests/warm.py`), anything else in a fresh one.

    Returns:
        The completed process (text output).
    """
    if not _forks_the_same(args, env):
        return subprocess.run(
            [sys.executable, *args],
            cwd=ROOT,
            env=program_env(**env),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    process = WarmProcess(args, ROOT, program_env(**env))
    try:
        stdout, stderr = process.communicate(timeout)
    finally:
        process.kill()
    return subprocess.CompletedProcess(args, process.returncode, stdout, stderr)


def run_programs_side_by_side(tmp_path_factory, keys, args_for, timeout=600):
    """Runs one program per key, each in a fresh directory, one per core.

    A program refused at its flags spends its few seconds importing
    TensorFlow on one core, so the bad-input tests run theirs side by side.

    Args:
        tmp_path_factory: pytest's, for the directories.
        keys: what tells the runs apart (e.g. the bad flag).
        args_for: function `(key, directory) -> args of run_program`.
        timeout: seconds each program may take.

    Returns:
        dict, key -> `(completed process, its directory)`.
    """
    directories = {key: tmp_path_factory.mktemp("run") for key in keys}
    with concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        futures = {
            key: pool.submit(run_program, args_for(key, directory), timeout)
            for key, directory in directories.items()
        }
        return {
            key: (future.result(), directories[key])
            for key, future in futures.items()
        }


def error_lines(stderr):
    """The lines a program printed as its error (no absl or TF chatter)."""
    return [line for line in stderr.splitlines() if ": error: " in line]


def free_port():
    """A TCP port on localhost that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def start_local_workers(args_for, count=2, env=None, **popen):
    """Starts a multi-worker cluster of `count` programs on localhost.

    Each program gets the `TF_CONFIG` of its task (worker 0 is the chief)
    and its own free port.

    Args:
        args_for: function `index -> args of python` for each worker.
        count: how many workers.
        env: the environment (default: `program_env()`).
        **popen: passed on to `subprocess.Popen` (stdout, stderr, ...).

    Returns:
        The started processes, worker 0 first.
    """
    cluster = {"worker": [f"localhost:{free_port()}" for _ in range(count)]}
    return [
        subprocess.Popen(
            [sys.executable, *args_for(index)],
            cwd=ROOT,
            env=dict(
                program_env() if env is None else env,
                TF_CONFIG=json.dumps(
                    {
                        "cluster": cluster,
                        "task": {"type": "worker", "index": index},
                    }
                ),
            ),
            text=True,
            **popen,
        )
        for index in range(count)
    ]


def read_csv(path):
    """A CSV file's rows as dicts (independent of the package's readers)."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def fake_run(
    root,
    name,
    accuracy,
    sparsity,
    dataset="cifar10",
    order="swap",
    status="finished",
    seed=0,
    activation="tanh",
    skewness=1.0,
    layer_saturations=(0.5,),
    **settings,
):
    """A run directory as the trainer writes it, with known values."""
    directory = root / name
    directory.mkdir(parents=True)
    config = TrainConfig(
        dataset=dataset,
        order=order,
        seed=seed,
        activation=activation,
        run_name=name,
        **settings,
    )
    (directory / "flags.txt").write_text(config.to_flags())
    with open(directory / "history.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["epoch", "loss", "val_loss", "val_accuracy"])
        writer.writerow([0, 1.0, 1.0, accuracy])
    stats = {"saturation": 0.5, "skewness": skewness, "sparsity": sparsity}
    diverged = status == "diverged"
    summary = {
        "run_name": name,
        "status": status,
        "epochs": 1,
        "diverged_epoch": 0 if diverged else None,
        "final_test_accuracy": None if diverged else accuracy,
        "stats": None if diverged else stats,
        "layer_stats": {
            f"conv{i}": {"saturation": v}
            for i, v in enumerate(layer_saturations)
        },
    }

    (directory / "summary.json").write_text(json.dumps(summary))
    return directory


class FakeTerminal(io.StringIO):
    """A stream that says it is a terminal: the progress bar draws on it."""

    def isatty(self):
        return True


def start_paused(args, point, marker, **env):
    """Starts the trainer and returns it once it paused at `point`.

    Returns:
        The running `tests.warm.WarmProcess`.
    """
    process = WarmProcess(
        [FAULT, point, str(marker), "--", *args], ROOT, program_env(**env)
    )
    deadline = time.time() + 300
    while not marker.exists():
        if process.poll() is not None or time.time() > deadline:
            process.kill()
            pytest.fail(f"never reached {point}: {process.stderr.read()}")
        time.sleep(0.05)
    return process


def kill(process):
    process.send_signal(signal.SIGKILL)
    process.wait()
    process.stderr.close()
