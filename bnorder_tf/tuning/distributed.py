"""keras-tuner's chief and workers: who this process is, and a lost peer.

keras-tuner runs a search on several processes when `KERASTUNER_TUNER_ID`,
`KERASTUNER_ORACLE_IP` and `KERASTUNER_ORACLE_PORT` are set: the process
whose id contains `chief` serves the oracle, the others (the workers) ask
it for trials and train them. `search_role` reads and checks those
variables without TensorFlow, so that a mistake is one line before
anything starts.

keras-tuner alone waits an hour on a chief that is gone, and forever on a
worker that is gone. Here:

- a worker probes its chief every `lost_after / 6` seconds (`ChiefWatch`);
  when the chief has not answered for `lost_after` seconds, the worker
  ends at once with one line (`chief_lost_message`) and exit status
  `PEER_LOST_EXIT` (75): restart the chief, then the workers, with the
  same commands, and the search resumes;
- the chief counts those probes as the running trial's heartbeats; a
  trial not heard of for twice `lost_after` (by then its worker, if it
  lives and lost the chief, has stopped) goes back in the queue, the
  chief says so in one line (`worker_lost_message`), and the next worker
  to ask, a restarted one or another, continues it.
"""

import dataclasses
import os
import socket
import sys
import threading
import time

from bnorder_tf.errors import PEER_LOST_EXIT, ConfigError

TUNER_ID = "KERASTUNER_TUNER_ID"
ORACLE_IP = "KERASTUNER_ORACLE_IP"
ORACLE_PORT = "KERASTUNER_ORACLE_PORT"
#: Seconds without an answer from the chief after which a worker stops.
DEFAULT_LOST_AFTER = 30.0
#: Seconds a worker waits for the chief's first answer (it may start
#: before the chief).
FIRST_CONTACT = 600.0


@dataclasses.dataclass(frozen=True)
class Role:
    """This process's part in a search.

    Attributes:
        tuner_id: `KERASTUNER_TUNER_ID` (`"chief"` for a search on its own).
        address: the chief's `"ip:port"`, or `None` for a search on its
            own.
    """

    tuner_id: str = "chief"
    address: str | None = None

    @property
    def distributed(self):
        """Whether the search is shared by a chief and workers."""
        return self.address is not None

    @property
    def chief(self):
        """Whether this process serves the oracle (as keras-tuner decides)."""
        return self.distributed and "chief" in self.tuner_id

    @property
    def worker(self):
        """Whether this process asks a chief for its trials."""
        return self.distributed and not self.chief


def search_role(environ=None):
    """This process's `Role`, from keras-tuner's environment variables.

    Args:
        environ: the environment (default `os.environ`).

    Returns:
        A `Role`.

    Raises:
        ConfigError: one variable of the address without the other, a
            port that is not a number in 1..65535, or an address without
            `KERASTUNER_TUNER_ID`.

    Example:
    >>> role = search_role({"KERASTUNER_TUNER_ID": "tuner0",
    ...                     "KERASTUNER_ORACLE_IP": "10.0.0.1",
    ...                     "KERASTUNER_ORACLE_PORT": "8000"})
    >>> role.worker, role.address
    (True, '10.0.0.1:8000')
    """
    environ = os.environ if environ is None else environ
    ip, port = environ.get(ORACLE_IP), environ.get(ORACLE_PORT)
    tuner_id = environ.get(TUNER_ID)
    if ip is None and port is None:
        return Role(tuner_id or "chief")
    if not ip or not port:
        given, missing = (
            (ORACLE_IP, ORACLE_PORT) if ip else (ORACLE_PORT, ORACLE_IP)
        )
        raise ConfigError(
            f"{given} is set but {missing} is not: a distributed search "
            f"needs both (the chief's address), or neither."
        )
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ConfigError(
            f"{ORACLE_PORT}={port} is not a port: give a number in 1..65535."
        )
    if not tuner_id:
        raise ConfigError(
            f"{ORACLE_IP} is set but {TUNER_ID} is not: set "
            f"{TUNER_ID}=chief on one process and tuner0, tuner1, ... on "
            "the others."
        )
    return Role(tuner_id, f"{ip}:{int(port)}")


def check_chief_address(role):
    """Checks that the chief can listen on its address, before it starts.

    Args:
        role: this process's `Role`; nothing is checked unless it is the
            chief.

    Raises:
        ConfigError: the port is in use (another chief's?) or the address
            is not this machine's.
    """
    if not role.chief:
        return
    host, _, port = role.address.rpartition(":")
    try:
        family, kind, proto, _, where = socket.getaddrinfo(
            host, int(port), type=socket.SOCK_STREAM
        )[0]
        with socket.socket(family, kind, proto) as s:
            # a port left in TIME_WAIT by a killed chief is free to reuse
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(where)
    except OSError as e:
        raise ConfigError(
            f"the chief cannot listen on {role.address} ({ORACLE_IP}:"
            f"{ORACLE_PORT}): {e.strerror or e}; give a free port and an "
            "address of this machine."
        ) from None


def _program():
    return os.path.basename(sys.argv[0]) or "bnorder_tf"


def chief_lost_message(address, seconds, first=False):
    """A worker's one line when its chief stopped answering.

    Args:
        address: the chief's `"ip:port"`.
        seconds: how long it did not answer.
        first: whether it never answered.
    """
    if first:
        return (
            f"no chief answered at {address} ({ORACLE_IP}:{ORACLE_PORT}) "
            f"for {seconds:g} s: start the chief ({TUNER_ID}=chief) with "
            "the same command first, or fix the address."
        )
    return (
        f"lost the chief of the search at {address} ({ORACLE_IP}:"
        f"{ORACLE_PORT}; no answer for {seconds:g} s): restart the chief "
        "first, then every worker, each with its own command; the search "
        "resumes and retries the unfinished trials."
    )


def worker_lost_message(tuner_id, trial_id, seconds):
    """The chief's one line when a worker stopped answering.

    Args:
        tuner_id: the worker's `KERASTUNER_TUNER_ID`.
        trial_id: the trial it ran, or `None`.
        seconds: how long it did not answer.
    """
    if trial_id is None:
        return (
            f"worker {tuner_id} stopped answering ({seconds:g} s); the "
            "search goes on without it."
        )
    return (
        f"worker {tuner_id} stopped answering during trial {trial_id} (no "
        f"word for {seconds:g} s): the trial goes to the next worker that "
        f"asks for one; restart {tuner_id} with its command to continue it "
        "(its finished seeds are kept)."
    )


def exit_chief_lost(message):
    """Prints `<program>: error: <message>` and ends the process (status 75).

    A worker's watch runs in a thread of its own, and the search's thread
    may be blocked in a gRPC call for an hour, so it cannot be stopped by
    an exception: the process ends at once, as a SIGKILL would. Every
    file of a run is written atomically, so that loses nothing committed.
    """
    sys.stdout.flush()
    sys.stderr.write(f"{_program()}: error: {message}\n")
    sys.stderr.flush()
    os._exit(PEER_LOST_EXIT)


def say_worker_lost(message):
    """Prints the chief's `<program>: warning: <message>` on stderr."""
    print(f"{_program()}: warning: {message}", file=sys.stderr, flush=True)


class ChiefWatch:
    """Ends a worker whose chief stopped answering.

    A daemon thread asks the chief for the running trial (`trial_id`)
    every `lost_after / 6` seconds; the chief takes each call as the
    trial's heartbeat. Once the chief has answered (a probe, or the trial
    it gave: `trial_begins`), `lost_after` seconds without an answer call
    `on_lost(message)`; before its first answer it may take
    `FIRST_CONTACT` seconds (the chief may start later).

    Args:
        address: the chief's `"ip:port"`.
        lost_after: seconds without an answer before the chief is lost.
        on_lost: function `(message)`; default `exit_chief_lost`.

    Example:
    >>> watch = ChiefWatch("127.0.0.1:1", lost_after=30, on_lost=print)
    >>> watch.trial_begins("0001")  # the chief gave this worker a trial

    `watch.start()` starts the thread and `watch.stop()` ends it.
    """

    def __init__(self, address, lost_after=DEFAULT_LOST_AFTER, on_lost=None):
        self.address = address
        self.lost_after = float(lost_after)
        self.on_lost = on_lost or exit_chief_lost
        self.trial_id = None
        self._answered_at = None
        self._stopped = threading.Event()
        self._thread = None

    def trial_begins(self, trial_id):
        """Records the trial the chief just gave (so the chief answered)."""
        self._answered_at = time.monotonic()
        self.trial_id = trial_id

    def trial_ends(self):
        self.trial_id = None

    def start(self):
        self._thread = threading.Thread(
            target=self._run, name="bnorder_tf-chief-watch", daemon=True
        )
        self._thread.start()
        return self

    def stop(self):
        self._stopped.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self):
        from bnorder_tf._compat import OracleProbe

        probe = OracleProbe(self.address)
        interval = self.lost_after / 6
        # a busy machine may answer a probe late, not never
        timeout = max(interval, 1.0)
        started = time.monotonic()
        try:
            while not self._stopped.wait(interval):
                if probe.ping(self.trial_id, timeout=timeout):
                    self._answered_at = time.monotonic()
                    continue
                if self._stopped.is_set():
                    return
                answered = self._answered_at is not None
                silent = time.monotonic() - (self._answered_at or started)
                if answered and silent > self.lost_after:
                    self.on_lost(
                        chief_lost_message(self.address, self.lost_after)
                    )
                    return
                if not answered and time.monotonic() - started > FIRST_CONTACT:
                    self.on_lost(
                        chief_lost_message(self.address, FIRST_CONTACT, True)
                    )
                    return
        finally:
            probe.close()


__all__ = [
    "DEFAULT_LOST_AFTER",
    "ChiefWatch",
    "Role",
    "check_chief_address",
    "chief_lost_message",
    "search_role",
    "worker_lost_message",
]
