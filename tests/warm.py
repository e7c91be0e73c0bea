"""Programs started from an interpreter that has imported TensorFlow.

`import tensorflow` costs about 6 s of CPU, half of a tiny training run,
and the suite starts dozens of trainer and tuner processes. So each
pytest worker keeps a fork server (`multiprocessing`'s "forkserver")
that imports TensorFlow, Keras and the package once; a program is then a
fork of it: a process of its own, with its own PID, signals, files and
exit status, running the script as `python script args...` would, minus
the import. Nothing in the program is replaced.

What a fork cannot show runs in a fresh interpreter instead (see
`helpers.run_program`): TensorFlow's own start-up (its log lines, the
oneDNN choice and any other `TF_*` variable it reads at import),
`python -c` and `python -m`, gRPC clusters, and the installed wheel.
"""

import atexit
import multiprocessing
import os
import runpy
import shutil
import signal
import subprocess
import sys
import tempfile
import time

#: What the server imports once: everything the programs import that
#: takes time.
PRELOAD = [
    "tensorflow",
    "keras",
    "keras_tuner",
    "tensorflow_datasets",
    "bnorder_tf.programs.train",
    "bnorder_tf.programs.tune",
    "bnorder_tf.programs.predict",
    "bnorder_tf.programs.report",
]

#: The exit code multiprocessing gives a process whose status its fork
#: server did not report; this happens under load (cpython#140867), so
#: the program also writes its own status (`_run_script`).
_STATUS_LOST = 255

_context = None
_outputs = None


def _output_dir():
    """The directory of the programs' output files, removed at exit."""
    global _outputs
    if _outputs is None:
        _outputs = tempfile.mkdtemp(prefix="warm-")
        atexit.register(shutil.rmtree, _outputs, ignore_errors=True)
    return _outputs


def _server():
    global _context
    if _context is None:
        _context = multiprocessing.get_context("forkserver")
        _context.set_forkserver_preload(PRELOAD)
    return _context


def _run_script(argv, cwd, env, stdout_path, stderr_path, status_path):
    """The child: becomes `python argv...` started in `cwd` with `env`.

    Writes its exit code to `status_path` as it ends (not if killed).
    """
    os.chdir(cwd)
    os.environ.clear()
    os.environ.update(env)
    for fd, path in ((1, stdout_path), (2, stderr_path)):
        target = os.open(path, os.O_WRONLY | os.O_APPEND)
        os.dup2(target, fd)
        os.close(target)
    sys.stdout = open(1, "w", closefd=False)
    sys.stderr = open(2, "w", closefd=False)
    # Ctrl-C's default action, even where the server inherited it ignored
    signal.signal(signal.SIGINT, signal.default_int_handler)
    sys.argv = list(argv)
    sys.path[0] = os.path.dirname(os.path.abspath(argv[0]))
    code = 1
    try:
        runpy.run_path(argv[0], run_name="__main__")
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else int(e.code is not None)
        raise
    finally:
        sys.stdout.flush()
        with open(status_path, "w") as f:
            f.write(str(code))


class WarmProcess:
    """A started program, with the part of `subprocess.Popen`'s API used.

    Args:
        argv: the script's path and its arguments.
        cwd: the working directory.
        env: the whole environment.
    """

    def __init__(self, argv, cwd, env):
        self.args = list(argv)
        files = tempfile.mkdtemp(prefix="program-", dir=_output_dir())
        self._stdout = os.path.join(files, "stdout")
        self._stderr = os.path.join(files, "stderr")
        self._status = os.path.join(files, "status")
        for path in (self._stdout, self._stderr):
            open(path, "w").close()
        #: What the program wrote to stderr so far (all of it once ended).
        self.stderr = open(self._stderr)
        self._process = _server().Process(
            target=_run_script,
            args=(
                self.args,
                cwd,
                env,
                self._stdout,
                self._stderr,
                self._status,
            ),
        )
        self._process.start()
        self.pid = self._process.pid

    @property
    def returncode(self):
        code = self._process.exitcode
        if code != _STATUS_LOST:
            return code
        # The fork server's report is lost: the program's own, once ended.
        if os.path.exists(self._status):
            with open(self._status) as f:
                written = f.read()
            if written:
                return int(written)
        try:
            os.kill(self.pid, 0)
            return None
        except ProcessLookupError:
            return _STATUS_LOST

    def poll(self):
        return self.returncode

    def wait(self, timeout=None):
        deadline = None if timeout is None else time.monotonic() + timeout
        self._process.join(timeout)
        while self.returncode is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(self.args, timeout)
            time.sleep(0.05)
        return self.returncode

    def send_signal(self, sent):
        if self.returncode is None:
            os.kill(self.pid, sent)

    def kill(self):
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout=None):
        """Waits for the end; returns `(stdout, stderr)` as text."""
        self.wait(timeout)
        with open(self._stdout) as out, self.stderr:
            return out.read(), self.stderr.read()
