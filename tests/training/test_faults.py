"""The fault translation: each fault of a run becomes one line and a code.

Fast: the faults are exceptions made here, as training would raise them.
The same faults raised by real trainer processes are in
`tests/test_faults.py`.
"""

import errno

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
