"""Every block passes Keras's layer tests; mixed precision statistics.

Every block kind x order x a bounded and an unbounded activation passes
Keras's own layer test harness (serialization, training, mixed
precision), and the statistics of a mixed_float16 or mixed_bfloat16 model
are computed in float32 or wider.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bnorder_tf import _compat as compat
from bnorder_tf.layers import blocks
from bnorder_tf.models import build_model
from bnorder_tf.stats import activation_stats
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


@pytest.mark.parametrize(
    "policy, dtype",
    [
        ("mixed_float16", np.float16),
        ("mixed_bfloat16", tf.bfloat16.as_numpy_dtype),
    ],
)
def test_mixed_precision_statistics_equal_a_float64_reference(policy, dtype):
    keras.mixed_precision.set_global_policy(policy)
    try:
        keras.utils.set_random_seed(2)
        model = build_model("vgg16_8", order="swap", activation="tanh",
                            num_classes=4, input_shape=(16, 16, 3),
                            width=0.0625)  # fmt: skip
        images = np.random.default_rng(0).normal(size=(16, 16, 16, 3))
        batches = tf.data.Dataset.from_tensor_slices(images.astype("float32"))
        batches = batches.batch(8)
        result = activation_stats(
            model, batches, histogram_bins=0, precision="compute"
        )
        # The reference reads the taps the pass read: 16-bit floats round
        # differently in another pass (eager ops, or all 16 images at once)
        taps = reference.pass_taps(model, batches, precision="compute")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    for name, layer in result.layers.items():
        act = taps[name]["activation"]
        assert act.dtype == dtype  # the model computes in 16 bits
        act = reference.per_channel(act.astype("float32"))
        out = [taps[name]["output"].astype("float32")]
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
