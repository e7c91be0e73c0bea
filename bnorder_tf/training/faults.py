"""What the user reads when a run stops: one line, a fix, an exit code.

`fault_error(error, ...)` translates an exception raised while a run
trains or finishes into the user-facing error: Ctrl-C or SIGTERM
(`Interrupted`), a lost peer of a multi-worker run (`PeerLostError`), a
write the disk refused (`WriteError`). Each says where the same command
resumes. Any other exception is a bug and keeps its traceback.
`diverged_error(epoch, summary_path)` is the error of a loss that became
NaN or infinite.

Example:
>>> import errno
>>> full = OSError(errno.ENOSPC, "No space left on device", "ckpt-3")
>>> error = fault_error(full, committed=2, epochs=5, write_dir="runs/a")
>>> type(error).__name__, error.exit_code
('WriteError', 1)
>>> str(error).split(";")[0]
'writing the run in runs/a failed: No space left on device (ckpt-3)'
"""

import errno
import os
import re

import tensorflow as tf

from bnorder_tf.errors import (
    INTERRUPT_EXIT,
    Interrupted,
    PeerLostError,
    TrainingDivergedError,
    WriteError,
)

#: The errors with which a disk refuses a write.
_DISK_ERRNOS = (
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.EFBIG,
)

#: The exceptions `fault_error` translates (others are bugs).
FAULTS = (KeyboardInterrupt, Interrupted, OSError, tf.errors.OpError)

#: A task as TensorFlow names it in an error, not followed by a device
#: (the failing op's own device names this process's task).
_TASK = re.compile(r"/job:(\w+)(?:/replica:\d+)?/task:(\d+)(?!\d)(?!/device)")


def fault_error(error, *, committed, epochs, write_dir, strategy=None):
    """The one-line error for an exception raised during a run.

    Args:
        error: the exception, one of `FAULTS`.
        committed: the epochs committed on disk.
        epochs: the epochs the run trains.
        write_dir: where this process writes the run.
        strategy: the run's `tf.distribute.Strategy`, which tells a lost
            peer of a multi-worker run.

    Returns:
        An `Interrupted` for Ctrl-C or SIGTERM; a `PeerLostError` for a
        lost peer, a `WriteError` for a write the disk refused: a fault
        of the machine, not of the code.

    Raises:
        Exception: `error` itself for any other fault: a bug, which keeps
            its traceback.
    """
    if isinstance(error, (KeyboardInterrupt, Interrupted)):
        return _interrupted(error, committed, epochs)
    lost = _lost_peers(error, strategy)
    if lost is not None:
        return PeerLostError(
            f"{lost} of the multi-worker run stopped; restart every "
            "worker with the same command: the run resumes after epoch "
            f"{committed}."
        )
    cause = _disk_error_cause(error)
    if cause is None:
        raise error
    where = getattr(error, "filename", None) or type(error).__name__
    return WriteError(
        f"writing the run in {write_dir} failed: {cause} ({where}); "
        "free space or fix permissions, then the same command resumes "
        f"after epoch {committed}."
    )


def diverged_error(epoch, summary_path):
    """The `TrainingDivergedError` of a loss that became NaN or infinite.

    Args:
        epoch: the epoch it happened in.
        summary_path: the `summary.json` that records it.
    """
    return TrainingDivergedError(
        f"training diverged in epoch {epoch} (the loss became NaN or "
        f"infinite); {summary_path} records it and nothing was exported: "
        "try a lower --learning_rate."
    )


def _interrupted(error, committed, epochs):
    """The one-line `Interrupted` for Ctrl-C or SIGTERM.

    It says where the same command resumes (epochs counted from 1, as the
    progress bar does).
    """
    exit_code = getattr(error, "exit_code", INTERRUPT_EXIT)
    if committed >= epochs:
        where = (
            "interrupted after the last epoch, while finishing the run; "
            "the same command finishes it (every epoch is committed)."
        )
    elif committed == 0:
        where = (
            f"interrupted in epoch 1/{epochs}; no epoch was committed, so "
            "the same command starts the run again."
        )
    else:
        where = (
            f"interrupted in epoch {committed + 1}/{epochs}; the same "
            f"command resumes after epoch {committed}."
        )
    return Interrupted(where, exit_code)


def _disk_error_cause(error):
    """The OS's words for a write the disk refused, or `None`.

    The words are e.g. `"No space left on device"`; any other error gives
    `None`. TensorFlow's file errors (a checkpoint's `SaveV2`) carry the
    same words in their message.
    """
    if isinstance(error, OSError):
        return os.strerror(error.errno) if error.errno in _DISK_ERRNOS else None
    message = str(error)
    for number in _DISK_ERRNOS:
        if os.strerror(number) in message:
            return os.strerror(number)
    return None


def _lost_peers(error, strategy):
    """Names the peer tasks a multi-worker run lost, or `None`.

    A peer that dies aborts the others' collective ops with an
    `UnavailableError`: its connection reset, or, once it stops sending
    heartbeats, the coordination service's list of unhealthy tasks. In a
    run of one worker an `UnavailableError` is something else.

    Args:
        error: the exception training raised.
        strategy: the run's `tf.distribute.Strategy`.

    Returns:
        `"worker task 1"` (or several, joined by "and"; `"a peer task"`
        when the error names none), or `None` for any other error.
    """
    if not isinstance(error, tf.errors.UnavailableError):
        return None
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return None
    own = (resolver.task_type, str(resolver.task_id))
    tasks = [task for task in _TASK.findall(str(error)) if task != own]
    names = [f"{job} task {index}" for job, index in dict.fromkeys(tasks)]
    return " and ".join(names) or "a peer task"


__all__ = ["FAULTS", "diverged_error", "fault_error"]
