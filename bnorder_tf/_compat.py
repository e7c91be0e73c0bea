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

`check_private_apis()` says, with the installed versions, what has
changed; `tests/test_compat.py` runs it, so an upgrade that breaks one of
these fails there with that message instead of deep inside a run.
"""

import functools

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


def __getattr__(name):
    # `ResumableGridSearchOracle` is made on first access (PEP 562)
    if name == "ResumableGridSearchOracle":
        return _resumable_grid_search_oracle()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _versions():
    import keras_tuner as kt

    return f"TensorFlow {tf.__version__}, keras-tuner {kt.__version__}"


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
    "ResumableGridSearchOracle",  # noqa: F822 (made by __getattr__)
    "check_private_apis",
    "keras_layer_test_case",
    "onednn_enabled",
    "register_activation_name",
    "sublayers",
    "variadic_reduce",
]
