"""The one exception type for a user's input, and its subclasses.

The programs print a `UserError` as one line and exit with its
`exit_code`; every other exception is a bug and keeps its traceback.
Raise a `UserError` where the input is checked, with a message that
names the problem and the fix; check a name with `lookup`, which raises
the one `UnknownNameError` of the package.
"""

from collections.abc import Mapping


class UserError(Exception):
    """Bad input from the user (flags, files, directories, data).

    Attributes:
        exit_code: the status the programs exit with (2: bad usage).
    """

    exit_code = 2


class ConfigError(UserError, ValueError):
    """A setting that is out of range, unknown or inconsistent."""


class UnknownNameError(ConfigError, LookupError):
    """A name that a registry (datasets, models, activations, ...) lacks.

    Raised by `lookup` alone, whose message lists the valid names. A
    `ConfigError` (the programs exit in one line, status 2), a
    `LookupError` and a `ValueError`.
    """


def lookup(registry, name, what):
    """`registry[name]`, or `UnknownNameError` listing the valid names.

    The package's one check of a name against the names it knows: every
    "unknown name" error is raised here, with one message,
    `Unknown <what> '<name>'; valid values are: <names>.`

    Args:
        registry: a mapping from name to entry, or a sequence of the
            valid names (its order is the message's).
        name: the name asked for.
        what: what the names are, for the message ("dataset").

    Returns:
        `registry[name]` for a mapping; else `name` itself.

    Raises:
        UnknownNameError: `name` is not in `registry`.

    Example:
    >>> lookup({"relu": 0, "tanh": 1}, "tanh", "activation")
    1
    >>> try:
    ...     lookup(("train", "test"), "valid", "split")
    ... except UnknownNameError as error:
    ...     print(error)
    Unknown split 'valid'; valid values are: train, test.
    """
    try:
        known = name in registry
    except TypeError:  # an unhashable name against a mapping's keys
        known = False
    if not known:
        raise UnknownNameError(
            f"Unknown {what} {name!r}; valid values are: {', '.join(registry)}."
        )
    return registry[name] if isinstance(registry, Mapping) else name


class MalformedFileError(UserError, ValueError):
    """A file that is not what its name says (truncated, wrong format)."""


class RunInUseError(UserError):
    """Another process is training or tuning in the same directory."""


class TrainingDivergedError(UserError):
    """The loss became NaN or infinite; the run is recorded as diverged.

    Not a usage error, but a result the user must see: exit status 1.
    """

    exit_code = 1


class WriteError(UserError):
    """The disk refused a write (full, over quota, read-only, forbidden).

    The machine's state, not a bug. Exit status 1.
    """

    exit_code = 1


#: Exit status when a peer of a multi-worker run stopped (EX_TEMPFAIL:
#: the same command, on every worker, resumes the run).
PEER_LOST_EXIT = 75


class PeerLostError(UserError):
    """A peer task of a multi-worker run stopped (killed, preempted, lost).

    Not the user's input, but a state the user must act on: restart every
    worker with the same command, which resumes after the last committed
    epoch. Exit status `PEER_LOST_EXIT` (75).
    """

    exit_code = PEER_LOST_EXIT


#: Exit status after Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPT_EXIT = 130


class Interrupted(BaseException):
    """Ctrl-C (SIGINT) or SIGTERM ended the program.

    A `BaseException`, as `KeyboardInterrupt` is, so that no
    `except Exception` on the way (keras-tuner's trial loop has one)
    takes it for a failed trial. The programs print its message as one
    line and exit with `exit_code` (128 + the signal's number: 130 for
    SIGINT, 143 for SIGTERM).
    """

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code


__all__ = [
    "INTERRUPT_EXIT",
    "Interrupted",
    "ConfigError",
    "MalformedFileError",
    "PEER_LOST_EXIT",
    "PeerLostError",
    "RunInUseError",
    "TrainingDivergedError",
    "UnknownNameError",
    "UserError",
    "WriteError",
    "lookup",
]
