"""What the command-line programs share: flagfiles and one-line errors.

Flagfiles are found by bare name, and a `UserError` is reported as one
line with a non-zero exit (every other exception is a bug and keeps its
traceback); Ctrl-C and SIGTERM end a program with one line too (exit
status 130 and 143).

The programs (`bnorder_tf.programs.train`, `bnorder_tf.programs.tune`) call
`run_program(main, FLAGFILE_DIRS)`.
"""

import importlib.resources
import os
import signal
import sys

from absl import app, flags

from bnorder_tf._tf_start import (  # noqa: F401 (the programs' API)
    hide_native_errors_unless_asked,
    hide_tensorflow_start_up_unless_asked,
    import_tensorflow,
    use_onednn_unless_told,
)
from bnorder_tf.errors import (
    INTERRUPT_EXIT,
    ConfigError,
    Interrupted,
    UserError,
)

#: Exit status for bad flags and bad input.
USAGE_EXIT = 2
#: Where bare flagfile names are looked up after the working directory:
#: the flagfiles shipped inside the package (package data, so an installed
#: wheel finds them from any directory).
FLAGFILE_DIRS = [str(importlib.resources.files("bnorder_tf") / "configs")]


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
    """Expands every `--flagfile=NAME` into the flags it holds, in place.

    Later flags override earlier ones. A bare NAME is also looked up in
    `search_dirs` (the programs' own directories), also inside flagfiles:
    `python trainers/train.py --flagfile=vgg_swap.flags` works from the
    repository root, and a sweep flagfile can start with
    `--flagfile=vgg_nwdbn.flags`.

    Args:
        argv: the command line's arguments.
        search_dirs: directories where bare flagfile names are looked up.

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


def run_program(main, search_dirs):
    """Runs an absl `main` with one-line errors for bad flags and input.

    TensorFlow is imported after the flags are parsed, without its C++
    start-up lines unless the user set `TF_CPP_MIN_LOG_LEVEL` (then
    everything TensorFlow prints at that level is shown), and with its
    oneDNN kernels on unless the user set `TF_ENABLE_ONEDNN_OPTS`.

    Args:
        main: `main(argv)` of the program.
        search_dirs: directories where bare flagfile names are looked up.
    """
    program = os.path.basename(sys.argv[0])
    hide_tensorflow_start_up_unless_asked()
    use_onednn_unless_told()

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
    """SIGTERM (a scheduler's preemption notice) ends the program as Ctrl-C.

    It has its own exit status, 128 + the signal's number.
    """
    raise Interrupted("terminated (SIGTERM).", 128 + signum)
