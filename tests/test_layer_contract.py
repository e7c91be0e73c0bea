"""Every block kind x order x a bounded and an unbounded activation
passes Keras's own layer test harness (serialization, training, mixed
precision), and the statistics of a mixed_float16 model are computed in
float32 or wider."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bnorder_tf import blocks, compat
from bnorder_tf.models import build_model
from bnorder_tf.stats import ModelTaps, activation_stats
from tests.stats import reference

KINDS = {"conv": ((2, 6, 6, 3), 4), "depthwise": ((2, 6, 6, 3), None),
         "dense": ((2, 5), 4)}  # fmt: skip


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("order", list(blocks.ORDERS))
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_blocks_pass_keras_layer_test(kind, order, activation):
    shape, filters = KINDS[kind]
    compat.keras_layer_test_case().run_layer_test(
        blocks.Block,
        init_kwargs=dict(
            filters=filters, order=order, kind=kind, activation=activation
        ),  # fmt: skip
        input_shape=shape,
        expected_output_shape=shape[:-1] + (filters or shape[-1],),
        # kernel and bias, plus gamma and beta with BN
        expected_num_trainable_weights=2 if order == "nobn" else 4,
        expected_num_non_trainable_weights=0 if order == "nobn" else 2,
        supports_masking=False,
        run_mixed_precision_check=True,
    )


def test_mixed_float16_statistics_equal_a_float32_reference():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        keras.utils.set_random_seed(2)
        model = build_model("vgg16_8", order="swap", activation="tanh",
                            num_classes=4, input_shape=(16, 16, 3),
                            width=0.0625)  # fmt: skip
        images = np.random.default_rng(0).normal(size=(16, 16, 16, 3))
        batches = tf.data.Dataset.from_tensor_slices(images.astype("float32"))
        batches = batches.batch(8)
        result = activation_stats(model, batches, histogram_bins=0)
        # The reference reads the taps the pass read: the same compiled
        # forward pass over the same batches of 8. float16 rounds
        # differently in another pass (eager ops, or all 16 images at
        # once), and oneDNN picks its kernels by CPU and batch size.
        model_taps = ModelTaps(model)
        forward = tf.function(lambda x: model_taps(x, training=False)[1])
        per_batch = [forward(batch) for batch in batches]
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for name, layer in result.layers.items():
        act = np.concatenate(
            [np.asarray(taps[name]["activation"]) for taps in per_batch]
        )
        assert act.dtype == np.float16  # the model computes in float16
        act = reference.per_channel(act.astype("float32"))
        out = [
            np.asarray(taps[name]["output"]).astype("float32")
            for taps in per_batch
        ]
        assert layer.saturation == pytest.approx(
            reference.saturation([act], 1.0), abs=1e-4
        )
        assert layer.sparsity == pytest.approx(reference.sparsity(out),
                                               abs=1e-4)  # fmt: skip
        expected = reference.three_pass_skewness([act])
        defined = np.isfinite(expected)
        np.testing.assert_allclose(
            layer.channel_skewness[defined], expected[defined], atol=1e-4
        )
