"""A distributed search that loses its chief or a worker, for real.

A chief and a worker of `tuning/tune.py` on 127.0.0.1, with keras-tuner's
`KERASTUNER_*` variables, and a real SIGKILL of one of them: the worker of
a lost chief ends in one line with exit status 75, and the chief of a lost
worker gives its trial to the worker restarted after it.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT, error_lines, free_port, program_env, read_csv

TUNE = os.path.join(ROOT, "tuning", "tune.py")
#: Seconds of silence before a peer is lost (the chief waits twice this).
LOST_AFTER = 3


def search_args(tmp_path, *extra):
    return [
        TUNE,
        "--flagfile=vgg_swap.flags",
        "--dataset=synthetic",
        "--model=vgg16_8",
        "--width=0.0625",
        "--batch_size=16",
        "--steps_per_epoch=2",
        "--eval_steps=1",
        "--stats_every=0",
        "--lr_milestones=50",
        f"--lost_after={LOST_AFTER}",
        f"--tuning_dir={tmp_path}",
        *extra,
    ]


class Search:
    """The chief and worker processes of one search, logs in files."""

    def __init__(self, tmp_path, args):
        self.tmp_path = tmp_path
        self.args = args
        self.port = free_port()
        self.processes = []

    def start(self, tuner_id):
        log = self.tmp_path / f"{tuner_id}.{len(self.processes)}.stderr"
        with open(log, "w") as stderr:
            process = subprocess.Popen(
                [sys.executable, *self.args],
                cwd=ROOT,
                env=program_env(
                    KERASTUNER_TUNER_ID=tuner_id,
                    KERASTUNER_ORACLE_IP="127.0.0.1",
                    KERASTUNER_ORACLE_PORT=str(self.port),
                ),
                stdout=subprocess.DEVNULL,
                stderr=stderr,
            )
        process.log = log
        self.processes.append(process)
        return process

    def stop_all(self):
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.wait()


def wait_for(predicate, *processes, timeout=120):
    """Waits until `predicate()`; fails if a process ends first."""
    deadline = time.monotonic() + timeout
    while not predicate():
        for process in processes:
            assert process.poll() is None, process.log.read_text()[-3000:]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def final_accuracy(run_dir):
    rows = read_csv(os.path.join(run_dir, "history.csv"))
    return float(rows[-1]["val_accuracy"])


@pytest.fixture
def search(tmp_path):
    searches = []

    def make(*extra):
        searches.append(Search(tmp_path, search_args(tmp_path, *extra)))
        return searches[-1]

    yield make
    for s in searches:
        s.stop_all()


@pytest.mark.large
def test_a_lost_chief_ends_its_worker_in_one_line(tmp_path, search):
    """The chief is SIGKILLed while its worker trains a trial.

    Restarting both resumes the search as after any kill (the oracle is
    reloaded from its files): `tests/tuning/test_search.py` tests that resume.
    """
    # still training when killed
    s = search("--search_learning_rate=0.1", "--seeds=1", "--epochs=1000")
    chief, worker = s.start("chief"), s.start("tuner0")
    run = tmp_path / "search" / "runs" / "trial_0000_seed0"
    wait_for((run / "flags.txt").exists, chief, worker)
    chief.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    status = worker.wait(timeout=60)
    waited = time.monotonic() - killed
    stderr = worker.log.read_text()
    assert status == 75, stderr[-3000:]
    # LOST_AFTER of silence, then at most one more probe
    assert waited < LOST_AFTER + 5, waited
    assert "Traceback" not in stderr
    (line,) = error_lines(stderr)
    assert line == stderr.strip().splitlines()[-1]
    assert line.startswith("tune.py: error: lost the chief of the search at ")
    assert f"127.0.0.1:{s.port}" in line
    assert "restart the chief first, then every worker" in line
    assert not (run / "summary.json").exists()  # not read as finished


@pytest.mark.large
def test_a_lost_worker_s_trial_goes_to_the_restarted_worker(tmp_path, search):
    """The worker is SIGKILLed in its trial, then restarted.

    The chief says so in one line and keeps serving; the restarted worker
    gets the unfinished trial, and the chief writes the table from what
    the worker reported (the chief only serves the oracle).
    """
    s = search("--search_learning_rate=0.1", "--seeds=1", "--epochs=1")
    chief, worker = s.start("chief"), s.start("tuner0")
    runs = tmp_path / "search" / "runs"
    wait_for((runs / "trial_0000_seed0" / "flags.txt").exists, chief, worker)
    worker.send_signal(signal.SIGKILL)
    worker.wait()

    def warned():
        return "warning:" in chief.log.read_text()

    wait_for(warned, chief, timeout=2 * LOST_AFTER + 10)
    (warning,) = [
        line
        for line in chief.log.read_text().splitlines()
        if "warning:" in line
    ]
    assert warning.startswith(
        "tune.py: warning: worker tuner0 stopped answering during trial 0000"
    )
    assert "restart tuner0 with its command" in warning

    worker = s.start("tuner0")  # the same command again
    assert worker.wait(timeout=180) == 0, worker.log.read_text()[-3000:]
    assert chief.wait(timeout=60) == 0, chief.log.read_text()[-3000:]
    assert "Traceback" not in chief.log.read_text()
    (row,) = read_csv(tmp_path / "search" / "results.csv")
    assert (row["trial"], row["status"]) == ("0000", "completed")
    run = runs / "trial_0000_seed0"
    assert float(row["accuracy_mean"]) == pytest.approx(final_accuracy(run))
    assert len(read_csv(run / "history.csv")) == 1  # its epoch, once
    assert os.listdir(runs) == [run.name]
