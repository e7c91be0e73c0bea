"""trainers/train.py with a pause injected at a chosen moment.

A test can then SIGKILL it there (or start a second process while it
holds the run).

    python tests/scripts/train_with_fault.py POINT MARKER -- TRAIN_FLAGS...

POINT is one of

- `mid_epoch:E:K`: inside epoch E, after its training step K;
- `before_history:E`: epoch E's statistics are written, its history row
  is not;
- `before_commit:E`: epoch E's log rows are written, its checkpoint is
  not;
- `after_commit:E`: epoch E is committed;
- `export`: the SavedModel is written to its hidden staging directory,
  not yet renamed into place;
- `disk_full:E`: no pause; from epoch E's checkpoint on, no file may
  grow beyond 4 KB (`RLIMIT_FSIZE`: the write fails with EFBIG, "File
  too large", as on a full disk), so the checkpoint's save fails.

At that moment the program creates MARKER and waits until MARKER.go
exists (at most 10 minutes), then carries on. With the environment
variable FAULT_SLEEP=S it first sleeps S seconds (time the run counts).
With FAULT_PROGRAM=PATH it runs that program instead of the trainer
(tests/scripts/: the trainer on mocked tfds, or on a Python
tf.data pair).
"""

import os
import runpy
import sys
import time

ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
sys.path.insert(0, ROOT)

# the kernels trainers/train.py chooses, before anything imports TensorFlow
from bnorder_tf._tf_start import use_onednn_unless_told  # noqa: E402

use_onednn_unless_told()

from bnorder_tf.serving import export  # noqa: E402
from bnorder_tf.training import callbacks  # noqa: E402

point, marker = sys.argv[1], sys.argv[2]
assert sys.argv[3] == "--"
name, *numbers = point.split(":")
at_epoch = int(numbers[0]) if numbers else None
at_step = int(numbers[1]) if len(numbers) > 1 else None


def pause():
    time.sleep(float(os.environ.get("FAULT_SLEEP", "0")))
    with open(marker, "w") as f:
        f.write(str(os.getpid()))
    deadline = time.time() + 600
    while not os.path.exists(marker + ".go") and time.time() < deadline:
        time.sleep(0.05)


def around(cls, method, before):
    original = getattr(cls, method)

    def patched(self, epoch, logs=None):
        if before and epoch == at_epoch:
            pause()
        original(self, epoch, logs)
        if not before and epoch == at_epoch:
            pause()

    setattr(cls, method, patched)


def limit_file_size():
    import resource
    import signal

    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write instead
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY))


if name == "disk_full":
    checkpoint = callbacks.EpochCheckpoint
    commit = checkpoint.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if epoch == at_epoch:
            limit_file_size()
        commit(self, epoch, logs)

    checkpoint.on_epoch_end = on_epoch_end
elif name == "mid_epoch":
    checkpoint = callbacks.EpochCheckpoint

    def on_epoch_begin(self, epoch, logs=None):
        self.fault_epoch = epoch

    def on_train_batch_end(self, step, logs=None):
        if self.fault_epoch == at_epoch and step == at_step:
            pause()

    checkpoint.on_epoch_begin = on_epoch_begin
    checkpoint.on_train_batch_end = on_train_batch_end
elif name == "before_history":
    around(callbacks.HistoryLogger, "on_epoch_end", before=True)
elif name == "before_commit":
    around(callbacks.EpochCheckpoint, "on_epoch_end", before=True)
elif name == "after_commit":
    around(callbacks.EpochCheckpoint, "on_epoch_end", before=False)
elif name == "export":
    publish = export._publish

    def paused_publish(staging, model_path, version):
        pause()
        return publish(staging, model_path, version)

    export._publish = paused_publish
else:
    raise SystemExit(f"unknown point {point}")

# FAULT_PROGRAM: another program to pause (default: the trainer)
program = os.environ.get("FAULT_PROGRAM") or os.path.join(
    ROOT, "trainers", "train.py"
)
sys.argv = [program, *sys.argv[4:]]
runpy.run_path(sys.argv[0], run_name="__main__")
