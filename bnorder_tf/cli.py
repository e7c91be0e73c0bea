"""What the command-line programs share: flagfiles found by bare name, and
a `UserError` reported as one line with a non-zero exit (every other
exception is a bug and keeps its traceback); Ctrl-C and SIGTERM end a
program with one line too (exit status 130 and 143).

The programs (`bnorder_tf.train`, `bnorder_tf.tune`) call
`run_program(main, FLAGFILE_DIRS)`.
"""

import os
import signal
import sys

from absl import app, flags

from bnorder_tf.errors import (
    INTERRUPT_EXIT,
    ConfigError,
    Interrupted,
    UserError,
)

#: Exit status for bad flags and bad input.
USAGE_EXIT = 2
#: Where bare flagfile names are looked up after the working directory:
#: the repository's `trainers/` and `tuning/` folders.
_REPOSITORY = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGFILE_DIRS = [
    os.path.join(_REPOSITORY, "trainers"),
    os.path.join(_REPOSITORY, "tuning"),
]


def fail(program, message, exit_code=USAGE_EXIT):
    """Prints `<program>: error: <message>` on stderr and exits."""
    print(f"{program}: error: {message}", file=sys.stderr)
    sys.exit(exit_code)


def fail_on_user_error(program, error):
    """Exits with `error`'s first line and its exit code."""
    fail(program, str(error).splitlines()[0], error.exit_code)


def _find_flagfile(name, search_dirs):
    if os.path.exists(name):
        return name
    for directory in search_dirs:
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    available = sorted(
        f
        for d in search_dirs
        if os.path.isdir(d)
        for f in os.listdir(d)
        if f.endswith(".flags")
    )
    raise ConfigError(
        f"--flagfile={name}: no such file here or in "
        f"{', '.join(search_dirs)}; available: "
        f"{', '.join(available) or 'none'}."
    )


def resolve_flagfiles(argv, search_dirs, _depth=0):
    """Expands every `--flagfile=NAME` into the flags it holds, in place,
    so that later flags override earlier ones. A bare NAME is also looked
    up in `search_dirs` (the programs' own directories), also inside
    flagfiles: `python trainers/train.py --flagfile=vgg_swap.flags` works
    from the repository root, and a sweep flagfile can start with
    `--flagfile=vgg_nwdbn.flags`.

    Returns:
        The new argv.

    Raises:
        ConfigError: a flagfile found nowhere; the message lists
            the flagfiles available.
    """
    if _depth > 10:
        raise ConfigError("--flagfile: flagfiles include each other in a loop.")
    out = []
    for arg in argv:
        if not arg.startswith("--flagfile="):
            out.append(arg)
            continue
        path = _find_flagfile(arg.split("=", 1)[1], search_dirs)
        with open(path) as f:
            lines = [line.strip() for line in f]
        lines = [
            line for line in lines if line and not line.startswith(("#", "//"))
        ]
        out += resolve_flagfiles(lines, search_dirs, _depth + 1)
    return out


#: Whether `import_tensorflow` hides TensorFlow's start-up lines: unless
#: the user set TF_CPP_MIN_LOG_LEVEL (`run_program` decides).
_quiet_start = {"quiet": False}


def import_tensorflow():
    """Imports TensorFlow and finds its devices; a program calls it once
    its flags are checked, before anything else imports TensorFlow.

    TensorFlow's C++ start-up lines (absl's "All log messages before
    absl::InitializeLog()", oneDNN, CUDA and CPU-feature notices) are
    written before `TF_CPP_MIN_LOG_LEVEL` applies, some of them twice.
    Unless the user set that variable, they are hidden by pointing file
    descriptor 2 at /dev/null meanwhile; a Python error is raised as
    usual, after stderr is restored.
    """
    if "tensorflow" in sys.modules or not _quiet_start["quiet"]:
        import tensorflow  # noqa: F401

        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
        import tensorflow as tf

        tf.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def hide_tensorflow_start_up_unless_asked():
    """Unless the user set `TF_CPP_MIN_LOG_LEVEL`: `import_tensorflow`
    will hide TensorFlow's start-up lines, and its INFO lines are hidden
    (level 1). Call it before anything imports TensorFlow."""
    _quiet_start["quiet"] = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "1")


def run_program(main, search_dirs):
    """Runs an absl `main` with one-line errors for bad flags and input.

    TensorFlow is imported after the flags are parsed, without its C++
    start-up lines unless the user set `TF_CPP_MIN_LOG_LEVEL` (then
    everything TensorFlow prints at that level is shown).

    Args:
        main: `main(argv)` of the program.
        search_dirs: directories where bare flagfile names are looked up.
    """
    program = os.path.basename(sys.argv[0])
    hide_tensorflow_start_up_unless_asked()

    def parse(argv):
        try:
            argv = resolve_flagfiles(argv, search_dirs)
            return flags.FLAGS(argv)
        except flags.Error as e:
            fail(program, str(e).splitlines()[0])
        except UserError as e:
            fail_on_user_error(program, e)

    def guarded(argv):
        if len(argv) > 1:
            fail(program, f"unexpected arguments {argv[1:]}; flags only.")
        signal.signal(signal.SIGTERM, _raise_terminated)
        try:
            return main(argv)
        except UserError as e:
            fail_on_user_error(program, e)
        except Interrupted as e:
            fail(program, str(e), e.exit_code)
        except KeyboardInterrupt:
            fail(program, "interrupted.", INTERRUPT_EXIT)

    app.run(guarded, flags_parser=parse)


def _raise_terminated(signum, frame):
    """SIGTERM (a scheduler's preemption notice) ends the program as
    Ctrl-C does, with its own exit status."""
    raise Interrupted("terminated (SIGTERM).", 128 + signum)
