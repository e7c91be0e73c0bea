"""Fault injection: SIGKILL at chosen moments, and a lost worker.

SIGKILL at chosen moments of the epoch commit and of the export, a
second process on a run in use, a resumed run against an uninterrupted
one, and a worker of a multi-worker run SIGKILLed. The moments are made
deterministic by tests/scripts/train_with_fault.py, which pauses the
trainer there.

The fault translation itself (`training/faults.py`) is tested first,
fast, on exceptions made here as training would raise them.
"""

import errno
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from bnorder_tf.errors import (
    INTERRUPT_EXIT,
    PEER_LOST_EXIT,
    Interrupted,
    PeerLostError,
    TrainingDivergedError,
    WriteError,
)
from bnorder_tf.training.faults import FAULTS, diverged_error, fault_error
from tests.helpers import (
    FAULT,
    ROOT,
    TRAIN,
    error_lines,
    kill,
    program_env,
    read_csv,
    run_program,
    start_local_workers,
    start_paused,
)


def translate(error, committed=2, epochs=5):
    return fault_error(
        error, committed=committed, epochs=epochs, write_dir="runs/a"
    )


@pytest.mark.parametrize(
    "error, cause, where",
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "runs/a/x"),
            "No space left on device",
            "runs/a/x",
        ),
        (
            OSError(errno.EROFS, "Read-only file system"),
            "Read-only file system",
            "OSError",
        ),
        # a checkpoint's SaveV2 carries the OS's words in its message
        (
            tf.errors.ResourceExhaustedError(
                None, None, "runs/a/ckpt; No space left on device"
            ),
            "No space left on device",
            "ResourceExhaustedError",
        ),
    ],
)
def test_a_refused_write_says_why_and_where_it_resumes(error, cause, where):
    translated = translate(error)
    assert isinstance(translated, WriteError) and translated.exit_code == 1
    assert str(translated) == (
        f"writing the run in runs/a failed: {cause} ({where}); free space "
        "or fix permissions, then the same command resumes after epoch 2."
    )


class MultiWorker:
    """A strategy of worker 0 in a cluster of two workers."""

    class cluster_resolver:  # noqa: N801 (as the strategy's attribute)
        task_type, task_id = "worker", 0

        @staticmethod
        def cluster_spec():
            return tf.train.ClusterSpec({"worker": ["host:1", "host:2"]})


def test_a_lost_peer_names_it_and_exits_75():
    lost = tf.errors.UnavailableError(
        None, None, "Task /job:worker/replica:0/task:1 heartbeat timeout"
    )
    translated = fault_error(
        lost, committed=3, epochs=5, write_dir="runs/a", strategy=MultiWorker
    )
    assert isinstance(translated, PeerLostError)
    assert translated.exit_code == PEER_LOST_EXIT == 75
    assert str(translated) == (
        "worker task 1 of the multi-worker run stopped; restart every "
        "worker with the same command: the run resumes after epoch 3."
    )
    # on one worker an UnavailableError is no lost peer, but a bug
    with pytest.raises(tf.errors.UnavailableError):
        translate(lost)


@pytest.mark.parametrize(
    "error, committed, message, code",
    [
        (
            KeyboardInterrupt(),
            0,
            "interrupted in epoch 1/5; no epoch was committed, so the same "
            "command starts the run again.",
            INTERRUPT_EXIT,
        ),
        (
            Interrupted("terminated (SIGTERM).", 143),
            2,
            "interrupted in epoch 3/5; the same command resumes after epoch 2.",
            143,
        ),
        (
            KeyboardInterrupt(),
            5,
            "interrupted after the last epoch, while finishing the run; "
            "the same command finishes it (every epoch is committed).",
            INTERRUPT_EXIT,
        ),
    ],
)
def test_an_interrupt_says_where_the_same_command_resumes(
    error, committed, message, code
):
    translated = translate(error, committed=committed)
    assert isinstance(translated, Interrupted)
    assert (str(translated), translated.exit_code) == (message, code)


def test_a_divergence_names_the_epoch_and_the_summary():
    error = diverged_error(4, "runs/a/summary.json")
    assert isinstance(error, TrainingDivergedError) and error.exit_code == 1
    assert str(error) == (
        "training diverged in epoch 4 (the loss became NaN or infinite); "
        "runs/a/summary.json records it and nothing was exported: try a "
        "lower --learning_rate."
    )


@pytest.mark.parametrize(
    "bug",
    [
        FileNotFoundError(errno.ENOENT, "No such file or directory", "x"),
        tf.errors.InvalidArgumentError(None, None, "Incompatible shapes"),
    ],
)
def test_any_other_fault_is_a_bug_and_keeps_its_traceback(bug):
    assert isinstance(bug, FAULTS)
    try:
        raise bug
    except FAULTS as caught:
        with pytest.raises(type(bug)) as raised:
            translate(caught)
    assert raised.value is bug
    # re-raised by the translation, with the line that first raised it
    assert raised.traceback[-2].name == "fault_error"
    assert str(raised.traceback[-1].statement).strip() == "raise bug"


TINY_FLAGS = [
    "--dataset=synthetic",
    "--model=vgg16_8",
    "--width=0.0625",
    "--batch_size=32",
    "--learning_rate=0.05",
    "--lr_milestones=2",
    "--steps_per_epoch=6",
    "--eval_steps=4",
    "--histogram_bins=0",
]


def run_args(tmp_path, name, *extra):
    return [
        *TINY_FLAGS,
        f"--model_dir={tmp_path}/runs",
        f"--export_dir={tmp_path}/savedmodels",
        f"--run_name={name}",
        *extra,
    ]


def epochs_logged(run_dir):
    history = [int(r["epoch"]) for r in read_csv(run_dir / "history.csv")]
    stats = []
    if (run_dir / "stats.jsonl").exists():
        with open(run_dir / "stats.jsonl") as f:
            stats = [json.loads(line)["epoch"] for line in f]
    return history, stats


def check_finished(run_dir, epochs, stats_every):
    """Every epoch once in the logs, a summary that agrees with them."""
    history, stats = epochs_logged(run_dir)
    assert history == list(range(epochs))
    # every stats_every-th epoch, and the last one whatever stats_every is
    assert stats == [
        e
        for e in range(epochs)
        if (e + 1) % stats_every == 0 or e == epochs - 1
    ]
    rows = read_csv(run_dir / "history.csv")
    header = list(rows[0])
    assert header[-3:] == ["saturation", "skewness", "sparsity"]
    for row in rows:  # a value exactly in the epochs that measured it
        measured = int(row["epoch"]) in stats
        assert (row["sparsity"] != "") == measured, row
    text = (run_dir / "summary.json").read_text()
    assert "NaN" not in text
    summary = json.loads(text)
    assert summary["status"] == "finished"
    assert summary["epochs"] == epochs
    assert summary["final_test_accuracy"] == float(rows[-1]["val_accuracy"])
    assert not (run_dir / "checkpoints").exists()
    return summary


@pytest.mark.large
@pytest.mark.parametrize(
    "point, stats_every",
    [
        ("mid_epoch:1:2", 2),  # inside the training steps of epoch 1
        ("before_history:1", 1),  # statistics written, history row not
        ("before_commit:1", 2),  # both rows written, checkpoint not
    ],
)
def test_kill_inside_the_epoch_commit_logs_every_epoch_once(
    tmp_path, point, stats_every
):
    args = run_args(
        tmp_path, "run", "--epochs=3", f"--stats_every={stats_every}"
    )
    run_dir = tmp_path / "runs" / "run"
    kill(start_paused(args, point, tmp_path / "paused"))
    history, stats = epochs_logged(run_dir)
    # the kill left epoch 1 uncommitted, its rows written or not
    assert history == ([0, 1] if point.startswith("before_commit") else [0])
    assert (1 in stats) == (not point.startswith("mid_epoch"))

    out = run_program([TRAIN, *args])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Resuming after epoch 1." in out.stdout
    check_finished(run_dir, 3, stats_every)


@pytest.mark.large
@pytest.mark.parametrize(
    "sent, status", [(signal.SIGINT, 130), (signal.SIGTERM, 143)]
)
def test_ctrl_c_and_sigterm_end_the_run_in_one_line_and_it_resumes(
    tmp_path, sent, status
):
    args = run_args(tmp_path, "run", "--epochs=3", "--stats_every=1")
    process = start_paused(args, "mid_epoch:1:2", tmp_path / "paused")
    process.send_signal(sent)  # while the trainer waits inside epoch 2/3
    assert process.wait(timeout=120) == status
    stderr = process.stderr.read()
    process.stderr.close()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert error_lines(stderr) == [
        "train.py: error: interrupted in epoch 2/3; the same command "
        "resumes after epoch 1."
    ], stderr[-3000:]
    assert epochs_logged(tmp_path / "runs" / "run") == ([0], [0])
    if sent == signal.SIGTERM:
        return  # resumed as after Ctrl-C, checked once

    out = run_program([TRAIN, *args])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Resuming after epoch 1." in out.stdout
    check_finished(tmp_path / "runs" / "run", 3, 1)


@pytest.mark.large
def test_a_disk_that_refuses_the_checkpoint_is_one_line_and_resumes(
    tmp_path,
):
    args = run_args(tmp_path, "run", "--epochs=3", "--stats_every=1")
    # from epoch 1's checkpoint on, no file may grow past 4 KB (EFBIG, as
    # a full disk's ENOSPC): the save fails inside TensorFlow's SaveV2
    out = run_program([FAULT, "disk_full:1", str(tmp_path / "unused"), "--",
                       *args])  # fmt: skip
    assert out.returncode == 1
    assert "Traceback" not in out.stderr, out.stderr[-3000:]
    lines = error_lines(out.stderr)
    assert len(lines) == 1, out.stderr[-3000:]
    assert str(tmp_path / "runs" / "run") in lines[0]
    assert "File too large" in lines[0]
    assert lines[0].endswith("the same command resumes after epoch 1.")

    out = run_program([TRAIN, *args])
    assert out.returncode == 0, out.stderr[-3000:]
    assert "Resuming after epoch 1." in out.stdout
    check_finished(tmp_path / "runs" / "run", 3, 1)


@pytest.mark.large
@pytest.mark.parametrize("flag", ["model_dir", "export_dir"])
def test_a_read_only_directory_is_refused_before_anything_is_written(
    tmp_path, flag
):
    read_only = tmp_path / "read_only"
    read_only.mkdir()
    args = run_args(tmp_path, "run", "--epochs=1")
    args = [a for a in args if not a.startswith(f"--{flag}=")]
    args.append(f"--{flag}={read_only}/inside")
    # a read-only bind mount of the directory, in a mount namespace of
    # the trainer's own (root's write access ignores file modes)
    script = (
        f"mount --bind {read_only} {read_only} && "
        f"mount -o remount,bind,ro {read_only} && "
        f'exec "$0" "$@"'
    )
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "true"], capture_output=True
    )
    if probe.returncode != 0:
        pytest.skip(f"no mount namespace here: {probe.stderr[-200:]!r}")
    out = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, sys.executable, TRAIN, *args],
        cwd=ROOT,
        env=program_env(),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert error_lines(out.stderr) == [
        f"train.py: error: --{flag}={read_only}/inside cannot be written "
        f"to ({read_only} is read-only or not yours): pass a directory you "
        "can write to."
    ]
    assert not (tmp_path / "runs").exists()
    assert os.listdir(read_only) == []


@pytest.mark.large
def test_kill_during_export_leaves_no_staging_and_finishes(tmp_path):
    args = run_args(tmp_path, "run", "--epochs=2", "--stats_every=2")
    kill(start_paused(args, "export", tmp_path / "paused"))
    exports = tmp_path / "savedmodels" / "run"
    assert [e for e in os.listdir(exports) if e.startswith(".tmp-export-")]
    assert not (tmp_path / "runs" / "run" / "summary.json").exists()

    out = run_program([TRAIN, *args])
    assert out.returncode == 0, out.stderr[-3000:]
    summary = check_finished(tmp_path / "runs" / "run", 2, 2)
    assert sorted(os.listdir(exports)) == ["1"]  # the stale staging is gone
    assert summary["export_path"] == str(exports / "1")


def test_resumed_run_equals_an_uninterrupted_one(tmp_path):
    straight = run_program(
        [TRAIN, *run_args(tmp_path, "straight", "--epochs=3")]
    )
    assert straight.returncode == 0, straight.stderr[-3000:]

    args = run_args(tmp_path, "resumed", "--epochs=3")
    # the first session spends 4 s more before committing epoch 0
    start = time.monotonic()
    kill(
        start_paused(
            args, "after_commit:0", tmp_path / "paused", FAULT_SLEEP="4"
        )
    )
    resumed = run_program([TRAIN, *args])
    both_sessions = time.monotonic() - start
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "Resuming after epoch 1." in resumed.stdout

    rows = {
        name: read_csv(tmp_path / "runs" / name / "history.csv")
        for name in ("straight", "resumed")
    }
    assert len(rows["resumed"]) == 3
    for a, b in zip(rows["straight"], rows["resumed"], strict=True):
        for key in ("loss", "accuracy", "val_loss", "val_accuracy", "sparsity"):
            assert float(b[key]) == pytest.approx(float(a[key]), rel=1e-6), (
                a["epoch"],
                key,
            )
    summaries = {
        name: json.loads(
            (tmp_path / "runs" / name / "summary.json").read_text()
        )
        for name in ("straight", "resumed")
    }
    # flags.txt repeats the run as a flagfile; the run is finished, so
    # the program refuses to overwrite it
    again = run_program(
        [TRAIN, f"--flagfile={tmp_path}/runs/resumed/flags.txt"]
    )
    assert again.returncode == 2
    assert "finished run" in error_lines(again.stderr)[0]
    # wall time counts both sessions of the resumed run, the first one's
    # 4 s included, and nothing twice: at most the two processes' time
    # (not compared with the straight run's: a loaded machine, e.g. the
    # parallel suite, slows either one)
    assert 4.0 <= summaries["resumed"]["wall_seconds"] <= both_sessions


@pytest.mark.large
def test_second_trainer_on_a_run_in_use_is_refused_and_the_first_finishes(
    tmp_path,
):
    args = run_args(tmp_path, "run", "--epochs=2")
    marker = tmp_path / "paused"
    first = start_paused(args, "before_commit:0", marker)
    second = run_program([TRAIN, *args])
    assert second.returncode == 2
    lines = error_lines(second.stderr)
    assert len(lines) == 1, second.stderr[-2000:]
    assert f"in use by process {first.pid}" in lines[0]
    assert "Traceback" not in second.stderr

    (tmp_path / "paused.go").touch()
    status = first.wait(timeout=300)
    stderr = first.stderr.read()
    first.stderr.close()
    assert status == 0, stderr[-3000:]
    check_finished(tmp_path / "runs" / "run", 2, 1)


@pytest.mark.large
def test_a_lost_worker_is_one_line_and_exit_75(tmp_path):
    """Two real workers; worker 1 is SIGKILLed once an epoch is committed.

    The chief stops with one error line naming the lost task and saying
    how to resume, the documented exit status, and no traceback; with
    TF_CPP_MIN_LOG_LEVEL unset, as in a user's shell, that line is all
    of its stderr (TensorFlow's C++ errors about the lost task hidden).
    """
    env = {
        k: v for k, v in program_env().items() if k != "TF_CPP_MIN_LOG_LEVEL"
    }
    run_dir = tmp_path / "runs" / "mw"
    workers = start_local_workers(
        lambda index: [
            TRAIN,
            "--flagfile=vgg_swap.flags",
            "--dataset=synthetic",
            "--width=0.0625",
            "--epochs=1000",  # still training when the peer dies
            "--batch_size=16",
            "--steps_per_epoch=3",
            "--eval_steps=2",
            "--stats_every=0",
            "--strategy=multi_worker",
            f"--model_dir={tmp_path / 'runs'}",
            "--run_name=mw",
            f"--export_dir={tmp_path / 'savedmodels'}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    chief, peer = workers
    try:
        deadline = time.monotonic() + 300
        history = run_dir / "history.csv"
        while not (history.exists() and len(read_csv(history)) >= 1):
            assert chief.poll() is None and peer.poll() is None
            assert time.monotonic() < deadline, "no epoch was committed"
            time.sleep(0.5)
        peer.send_signal(signal.SIGKILL)
        _, stderr = chief.communicate(timeout=300)
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()
    from bnorder_tf.errors import PEER_LOST_EXIT

    assert chief.returncode == PEER_LOST_EXIT == 75, stderr[-3000:]
    assert "Traceback" not in stderr
    (line,) = stderr.strip().splitlines()
    assert line.startswith("train.py: error: "), stderr[-3000:]
    assert "worker task 1 of the multi-worker run stopped" in line
    assert "restart every worker with the same command" in line
    assert "resumes after epoch" in line
    assert not (run_dir / "summary.json").exists()  # not read as finished


@pytest.mark.parametrize(
    "message",
    [
        # the coordination service, once the peer stops sending heartbeats
        "{{function_node __wrapped__CollectiveReduceV2_device_/job:worker/"
        "replica:0/task:0/device:CPU:0}} Collective ops is aborted by: Error "
        "reported from /job:worker/task:1: The following tasks are unhealthy "
        "(stopped sending heartbeats):\n/job:worker/replica:0/task:1\n",
        # gRPC, when the peer's connection resets first
        "Graph execution error:\n\nDetected at node conv4_1/bn_1/"
        "CollectiveReduceV2_4\nCollective ops is aborted by: recvmsg:"
        "Connection reset by peer\nAdditional GRPC error information from "
        "remote target /job:worker/replica:0/task:1 while calling "
        "/tensorflow.WorkerService/RecvBuf:",
    ],
)
def test_both_ways_a_peer_is_lost_name_the_peer(monkeypatch, message):
    import tensorflow as tf

    from bnorder_tf.training.faults import _lost_peers

    cluster = {"worker": ["localhost:1", "localhost:2"]}
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": 0}}
        ),
    )

    class MultiWorker:
        cluster_resolver = (
            tf.distribute.cluster_resolver.TFConfigClusterResolver()
        )

    error = tf.errors.UnavailableError(None, None, message)
    assert _lost_peers(error, MultiWorker) == "worker task 1"
    # on one worker an UnavailableError is not a lost peer, nor another error
    assert _lost_peers(error, tf.distribute.get_strategy()) is None
    assert _lost_peers(ValueError(message), MultiWorker) is None
