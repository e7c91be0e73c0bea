"""Test set-up: TensorFlow quiet, and two logical CPUs for tf.distribute.

The split must happen before TensorFlow initialises its devices, so it
runs as pytest starts (`pytest_configure`), before any test module is
imported, once per process that runs tests.
"""

import os

import numpy as np
import pytest

from bnorder_tf import _tf_start  # light: does not import TensorFlow

#: The two logical CPU devices the distribution tests mirror over.
CPU_DEVICES = ["/cpu:0", "/cpu:1"]


def pytest_configure(config):
    """Starts TensorFlow, unless this process is pytest-xdist's controller.

    The controller runs no test, and TensorFlow's import is seconds of
    CPU before any worker can start.
    """
    if config.getoption("numprocesses", None) and not hasattr(
        config, "workerinput"
    ):
        return
    # TensorFlow's start-up lines hidden as the programs hide them (pytest
    # would print them after its summary), and its warnings too
    level_unset = "TF_CPP_MIN_LOG_LEVEL" not in os.environ
    _tf_start.hide_tensorflow_start_up_unless_asked()
    if level_unset:
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    # The kernels the programs choose (oneDNN on, `_tf_start`) on every
    # CPU; .ci/run runs the numerics-sensitive tests again with it off
    # (Eigen).
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    _tf_start.import_tensorflow()
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    tf.config.set_logical_device_configuration(
        cpus[0], [tf.config.LogicalDeviceConfiguration()] * 2
    )


def pytest_addoption(parser):
    parser.addoption(
        "--large",
        action="store_true",
        help="also run the tests marked large (make test-all)",
    )


def pytest_collection_modifyitems(config, items):
    """Skips the `large` tests unless asked for, as keras-hub does.

    They train or tune in processes of their own (kills, lost peers, the
    search end to end) or install the wheel: most of the suite's time.
    `--large`, or a `-m` expression naming them, runs them.
    """
    if config.getoption("--large") or "large" in config.getoption("-m"):
        return
    skip = pytest.mark.skip(reason="large: run with --large (make test-all)")
    for item in items:
        if item.get_closest_marker("large"):
            item.add_marker(skip)


@pytest.fixture
def rng():
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _seeded():
    import keras

    keras.utils.set_random_seed(0)


@pytest.fixture
def mirrored():
    """The process's MirroredStrategy over the two logical CPUs."""
    from bnorder_tf.training.distribute import get_strategy

    return get_strategy("mirrored", CPU_DEVICES)
