"""The private APIs bnorder_tf relies on are there in the installed versions.

Those of TensorFlow and keras-tuner, all in `bnorder_tf/_compat.py`.
"""

import numpy as np
import tensorflow as tf

from bnorder_tf import _compat


def test_private_apis_are_there():
    assert _compat.check_private_apis() == []


def test_variadic_reduce_sums_and_maxima_in_one_pass():
    x = tf.constant(np.arange(12, dtype="float32").reshape(3, 4))
    spec = tf.TensorSpec([], tf.float32)

    @tf.function
    def reducer(a_sum, a_max, b_sum, b_max):
        return a_sum + b_sum, tf.maximum(a_max, b_max)

    total, top = _compat.variadic_reduce(
        [x, x],
        init_values=[tf.constant(0.0)] * 2,
        dimensions_to_reduce=[0],
        reducer=reducer.get_concrete_function(spec, spec, spec, spec),
    )
    np.testing.assert_array_equal(total.numpy(), [12, 15, 18, 21])
    np.testing.assert_array_equal(top.numpy(), [8, 9, 10, 11])


def test_a_changed_api_is_named_with_the_installed_versions(monkeypatch):
    import keras_tuner

    monkeypatch.setattr(_compat, "variadic_reduce", None)
    (message,) = _compat.check_private_apis()
    assert "variadic_reduce" in message
    assert f"TensorFlow {tf.__version__}" in message
    assert f"keras-tuner {keras_tuner.__version__}" in message
