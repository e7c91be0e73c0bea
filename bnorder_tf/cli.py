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

from bnorder_tf.errors import ConfigError, Interrupted, UserError

#: Exit status for bad flags and bad input.
USAGE_EXIT = 2
#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPT_EXIT = 130
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


def run_program(main, search_dirs):
    """Runs an absl `main` with one-line errors for bad flags and input.

    Args:
        main: `main(argv)` of the program.
        search_dirs: directories where bare flagfile names are looked up.
    """
    program = os.path.basename(sys.argv[0])

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
