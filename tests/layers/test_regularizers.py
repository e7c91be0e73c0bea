import keras
import numpy as np
import pytest

from bnorder_tf.layers.regularizers import WeightDecay


def test_weight_decay_is_half_rate_times_squared_norm(rng):
    w = rng.normal(size=(3, 4)).astype("float32")
    value = float(WeightDecay(5e-4)(w))
    assert value == pytest.approx(0.5 * 5e-4 * np.sum(w.astype("f8") ** 2))
    assert value == pytest.approx(float(keras.regularizers.L2(2.5e-4)(w)))


def test_gradient_is_pytorch_decay(rng):
    import tensorflow as tf

    w = tf.Variable(rng.normal(size=(5,)).astype("float32"))
    with tf.GradientTape() as tape:
        loss = WeightDecay(1e-3)(w)
    np.testing.assert_allclose(tape.gradient(loss, w), 1e-3 * w.numpy())


def test_config_round_trip_and_negative_rate():
    again = keras.regularizers.deserialize(
        keras.regularizers.serialize(WeightDecay(1e-4))
    )
    assert isinstance(again, WeightDecay) and again.rate == 1e-4
    with pytest.raises(ValueError, match=">= 0"):
        WeightDecay(-1.0)
