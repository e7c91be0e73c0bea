"""Every private API of TensorFlow, Keras and keras-tuner bnorder_tf uses.

They are all in this one module:

- `variadic_reduce`: XLA's variadic reduce (`tensorflow.compiler.tf2xla`,
  the module jax2tf uses): the statistics pass reads each tap value once.
- `register_activation_name`: adds an activation to Keras's table of
  activation names (`keras.src.activations.ALL_OBJECTS_DICT`), the only
  way `keras.activations.get` and so `Activation("bnorder_tf>tanh")` or
  `Dense(..., activation="bnorder_tf>tanh")` resolve a custom name.
- `keras_layer_test_case`: Keras's own layer test harness
  (`keras.src.testing.TestCase.run_layer_test`), which has no public
  equivalent; the tests check the blocks against Keras's layer contract
  with it.
- `sublayers`: a layer and every layer inside it, recursively
  (`keras.Layer._flatten_layers`): Keras lists only a model's top-level
  layers publicly, and the statistics' float32 forward pass must reach
  the weight layer and batch normalization inside each block.
- `onednn_enabled`: whether TensorFlow runs its oneDNN kernels
  (`tensorflow.python.util._pywrap_util_port.IsMklEnabled`), which
  depends on `TF_ENABLE_ONEDNN_OPTS` and on the CPU and has no public
  query.
- `ResumableGridSearchOracle`: keras-tuner's `GridSearchOracle` patched to
  continue after a restart; it uses keras-tuner's `LinkedList` and the
  oracle's private `_compare`, `_ordered_ids`, `_populate_next` and
  `_retry_queue`.
- `OracleProbe`: a short-deadline call to a keras-tuner chief's oracle
  service (`keras_tuner.src.protos`): keras-tuner's own `OracleClient`
  waits an hour on a chief that is gone, so a worker probes it on a
  channel of its own.
- `serve_oracle`: keras-tuner's chief server
  (`keras_tuner.src.distribute.oracle_chief.OracleServicer`) with the
  workers' contacts recorded, a silent worker's trial put back in the
  oracle's private `_retry_queue` (`requeue_trial`), and an exit once no
  trial is running or waiting.

`check_private_apis()` says, with the installed versions, what has
changed; `tests/test_compat.py` runs it, so an upgrade that breaks one of
these fails there with that message instead of deep inside a run.
"""

import functools
import threading
import time

import keras
import tensorflow as tf
from keras.src import activations as _keras_activations
from tensorflow.compiler.tf2xla.python import xla as _tf_xla

#: XLA's variadic reduce: `variadic_reduce(operands, init_values,
#: dimensions_to_reduce, reducer)`.
variadic_reduce = _tf_xla.variadic_reduce


def keras_layer_test_case():
    """A set-up instance of Keras's layer `TestCase`.

    Imported on demand: it pulls in test-only modules.
    """
    from keras.src.testing import TestCase

    case = TestCase()
    case.setUp()
    return case


def register_activation_name(name, activation):
    """Makes `keras.activations.get(name)` return `activation`."""
    _keras_activations.ALL_OBJECTS_DICT[name] = activation


def onednn_enabled():
    """Whether this process's TensorFlow uses oneDNN's kernels."""
    from tensorflow.python.util import _pywrap_util_port

    return bool(_pywrap_util_port.IsMklEnabled())


def sublayers(layer):
    """`layer` and every layer it tracks, recursively, each once."""
    return layer._flatten_layers(include_self=True, recursive=True)


@functools.cache
def _resumable_grid_search_oracle():
    # keras-tuner is imported on first use, not with the package (it adds
    # about 0.3 s to every `import bnorder_tf`)
    import keras_tuner as kt
    from keras_tuner.src.tuners.gridsearch import LinkedList

    class ResumableGridSearchOracle(kt.oracles.GridSearchOracle):
        """keras-tuner's grid search, able to continue after a restart.

        `GridSearchOracle` keeps its place in the grid (the trials in grid
        order, and the trials whose successor is still to be made) in memory
        only, so a reloaded search fails with `KeyError` on its next trial.
        Both are rebuilt here from the saved trials; the grid order comes from
        the oracle's own comparison.
        """

        def reload(self):
            """Reloads the project and retries every trial marked running.

            keras-tuner retries only the trials its `oracle.json` lists as
            ongoing, so a trial whose record was saved after that file (or a
            file restored from elsewhere) would be left out of the search
            for good.
            """
            super().reload()
            running = kt.engine.trial.TrialStatus.RUNNING
            for trial_id, trial in self.trials.items():
                if (
                    trial.status == running
                    and trial_id not in self._retry_queue
                ):
                    self._retry_queue.append(trial_id)

        def set_state(self, state):
            super().set_state(state)

            def compare(a, b):
                return self._compare(
                    self.trials[a].hyperparameters.values,
                    self.trials[b].hyperparameters.values,
                )

            ordered = sorted(self.trials, key=functools.cmp_to_key(compare))
            self._ordered_ids = LinkedList()
            for trial_id in ordered:
                self._ordered_ids.insert(trial_id)
            self._populate_next = list(ordered)

    return ResumableGridSearchOracle


class OracleProbe:
    """Asks a keras-tuner chief's oracle service for a trial, with a deadline.

    keras-tuner's `OracleClient` keeps its gRPC stub private and calls it
    with `wait_for_ready` and an hour's timeout; the probe has a channel of
    its own and fails fast on a chief that is gone.

    Args:
        address: the chief's `"ip:port"`.
    """

    def __init__(self, address):
        import grpc
        from keras_tuner.src import protos

        self._grpc = grpc
        self._service = protos.get_service()
        self._channel = grpc.insecure_channel(address)
        self._stub = protos.get_service_grpc().OracleStub(self._channel)

    def ping(self, trial_id, timeout):
        """Whether the chief answered within `timeout` seconds.

        Args:
            trial_id: the trial this worker runs (the chief counts the
                call as the trial's heartbeat), or `None` between trials.
            timeout: seconds to wait for the answer.
        """
        try:
            if trial_id is None:
                self._stub.GetSpace(
                    self._service.GetSpaceRequest(), timeout=timeout
                )
            else:
                self._stub.GetTrial(
                    self._service.GetTrialRequest(trial_id=trial_id),
                    timeout=timeout,
                )
            return True
        except self._grpc.RpcError:
            return False

    def close(self):
        self._channel.close()


def _kt_synchronized(function):
    # keras-tuner's lock of an oracle (its first argument), as its own
    # standalone `oracle_chief.exit_chief` takes it
    import keras_tuner as kt

    return kt.synchronized(function)


def requeue_trial(oracle, tuner_id):
    """Puts the trial `tuner_id` runs back in the oracle's queue.

    The next worker to ask for a trial gets it, as after a restart, and
    `tuner_id` no longer counts as a worker the chief waits for.

    Args:
        oracle: the chief's keras-tuner oracle.
        tuner_id: the lost worker's `KERASTUNER_TUNER_ID`.

    Returns:
        The requeued trial's id, or `None` (`tuner_id` ran no trial).
    """

    def requeue(oracle):
        oracle.tuner_ids.discard(tuner_id)
        trial = oracle.ongoing_trials.pop(tuner_id, None)
        if trial is None:
            return None
        if trial.trial_id not in oracle._retry_queue:
            oracle._retry_queue.append(trial.trial_id)
        oracle.save()
        return trial.trial_id

    return _kt_synchronized(requeue)(oracle)


def _search_is_over(oracle):
    def over(oracle):
        return not (
            oracle.ongoing_trials or oracle.tuner_ids or oracle._retry_queue
        )

    return _kt_synchronized(over)(oracle)


class _Contacts:
    """When each running trial and each worker was last heard of.

    The servicer's threads record the contacts (`seen`), the chief's loop
    looks for the silent ones (`lost`).
    """

    def __init__(self):
        self._last = {}  # trial id or ("tuner", tuner id) -> monotonic time
        self._lock = threading.Lock()

    def seen(self, key):
        with self._lock:
            self._last[key] = time.monotonic()

    def lost(self, oracle, lost_after):
        """The workers silent for more than `lost_after` seconds.

        A worker running a trial is lost when its trial has been silent
        that long, a worker between trials when it has. Their contacts
        are forgotten.

        Args:
            oracle: the chief's keras-tuner oracle.
            lost_after: seconds of silence after which a worker is lost.

        Returns:
            A list of tuner ids.
        """
        now = time.monotonic()
        running = dict(oracle.ongoing_trials)
        idle = set(oracle.tuner_ids) - set(running)
        lost = []
        with self._lock:
            for tuner_id, trial in running.items():
                # a worker between two trials is idle from now on
                self._last[("tuner", tuner_id)] = now
                last = self._last.setdefault(trial.trial_id, now)
                if now - last > lost_after:
                    self._last.pop(trial.trial_id)
                    lost.append(tuner_id)
            for tuner_id in idle:
                last = self._last.setdefault(("tuner", tuner_id), now)
                if now - last > lost_after:
                    self._last.pop(("tuner", tuner_id))
                    lost.append(tuner_id)
        return lost


def _contact_recording_servicer(oracle, contacts):
    """keras-tuner's `OracleServicer` of `oracle`, recording in `contacts`.

    A worker's `CreateTrial` is a contact of the worker and of the trial
    it gets; `UpdateTrial` and `GetTrial` are contacts of the trial.
    """
    from keras_tuner.src.distribute import oracle_chief

    class Servicer(oracle_chief.OracleServicer):
        def CreateTrial(self, request, context):
            contacts.seen(("tuner", request.tuner_id))
            response = super().CreateTrial(request, context)
            contacts.seen(response.trial.trial_id)
            return response

        def UpdateTrial(self, request, context):
            contacts.seen(request.trial_id)
            return super().UpdateTrial(request, context)

        def GetTrial(self, request, context):
            contacts.seen(request.trial_id)
            return super().GetTrial(request, context)

    return Servicer(oracle)


def _started_oracle_server(servicer, address):
    """A started gRPC server of `servicer`, listening on `address`.

    Raises:
        OSError: `address` cannot be listened on.
    """
    from concurrent import futures

    import grpc
    from keras_tuner.src import protos

    # several threads, so that a heartbeat is not queued behind a slow
    # `CreateTrial` (the oracle's own lock orders the calls that change it)
    # and without SO_REUSEPORT, which would let a second chief listen on
    # the same port and take half the workers' calls
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4),
        options=[("grpc.so_reuseport", 0)],
    )
    protos.get_service_grpc().add_OracleServicer_to_server(servicer, server)
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:
        raise OSError(str(e)) from None
    if not bound:
        raise OSError(f"cannot listen on {address}")
    server.start()
    return server


def serve_oracle(oracle, address, lost_after, on_lost, poll=0.25):
    """Serves `oracle` to keras-tuner's workers until the search is over.

    keras-tuner's `oracle_chief.start_server`, with three changes: each
    running trial's last contact (its worker's `CreateTrial`,
    `UpdateTrial` and `GetTrial` calls) is recorded, and a trial not
    heard of for `lost_after` seconds goes back in the queue
    (`requeue_trial`) for the next worker; a worker heard of for no
    trial in that time no longer counts; and the chief stops once a
    worker was told the search is over and no trial runs or waits in
    the queue, checked every `poll` seconds.

    Args:
        oracle: the chief's keras-tuner oracle.
        address: `"ip:port"` to listen on.
        lost_after: seconds of silence after which a worker is lost.
        on_lost: function `(tuner_id, trial_id)` called for each lost
            worker, after its trial (`None` if it ran none) is requeued.
        poll: seconds between two checks.

    Raises:
        OSError: `address` cannot be listened on (in use, not this
            machine's).
    """
    contacts = _Contacts()
    servicer = _contact_recording_servicer(oracle, contacts)
    server = _started_oracle_server(servicer, address)
    try:
        while True:
            time.sleep(poll)
            for tuner_id in contacts.lost(oracle, lost_after):
                on_lost(tuner_id, requeue_trial(oracle, tuner_id))
            if servicer.stop_triggered and _search_is_over(oracle):
                break
    finally:
        server.stop(grace=1).wait()


def __getattr__(name):
    # `ResumableGridSearchOracle` is made on first access (PEP 562)
    if name == "ResumableGridSearchOracle":
        return _resumable_grid_search_oracle()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _versions():
    import keras_tuner as kt

    return f"TensorFlow {tf.__version__}, keras-tuner {kt.__version__}"


def _kt_distribute_problems():
    try:
        from keras_tuner.src import protos
        from keras_tuner.src.distribute import oracle_chief

        service = protos.get_service()
        grpc_service = protos.get_service_grpc()
    except ImportError:
        return ["keras_tuner.src.protos or .distribute.oracle_chief is gone"]
    problems = []
    for name in ("GetSpaceRequest", "GetTrialRequest"):
        if not hasattr(service, name):
            problems.append(f"keras-tuner's protos lack {name}")
    for name in ("OracleStub", "add_OracleServicer_to_server"):
        if not hasattr(grpc_service, name):
            problems.append(f"keras-tuner's gRPC service lacks {name}")
    servicer = getattr(oracle_chief, "OracleServicer", None)
    for name in ("CreateTrial", "UpdateTrial", "GetTrial"):
        if not callable(getattr(servicer, name, None)):
            problems.append(f"oracle_chief.OracleServicer.{name} is gone")
    return problems


def check_private_apis():
    """The private APIs above that the installed versions lack.

    Returns:
        A list of messages (empty when every API is there), each naming
        the API and the installed versions.
    """
    import keras_tuner as kt
    from keras_tuner.src.tuners.gridsearch import LinkedList

    problems = []
    oracle = kt.oracles.GridSearchOracle(
        objective=kt.Objective("score", "max"), max_trials=1
    )
    for name in (
        "_compare",
        "_ordered_ids",
        "_populate_next",
        "_retry_queue",
        "trials",
    ):
        if not hasattr(oracle, name):
            problems.append(f"GridSearchOracle.{name} is gone")
    if not all(hasattr(LinkedList, m) for m in ("insert", "next")):
        problems.append("keras_tuner.src.tuners.gridsearch.LinkedList changed")
    for name in ("ongoing_trials", "tuner_ids"):
        if not hasattr(oracle, name):
            problems.append(f"Oracle.{name} is gone")
    problems += _kt_distribute_problems()
    if not callable(variadic_reduce):
        problems.append("tf2xla's variadic_reduce is gone")
    if not callable(getattr(keras.layers.Layer, "_flatten_layers", None)):
        problems.append("keras.Layer._flatten_layers is gone")
    try:
        onednn_enabled()
    except (ImportError, AttributeError):
        problems.append("_pywrap_util_port.IsMklEnabled is gone")
    names = getattr(_keras_activations, "ALL_OBJECTS_DICT", None)
    if not isinstance(names, dict):
        problems.append("keras.src.activations.ALL_OBJECTS_DICT is gone")
    return [
        f"{p} ({_versions()}): update bnorder_tf/_compat.py." for p in problems
    ]


__all__ = [
    "OracleProbe",
    "ResumableGridSearchOracle",  # noqa: F822 (made by __getattr__)
    "check_private_apis",
    "keras_layer_test_case",
    "onednn_enabled",
    "register_activation_name",
    "requeue_trial",
    "serve_oracle",
    "sublayers",
    "variadic_reduce",
]
