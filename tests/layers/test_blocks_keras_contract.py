"""Every block passes Keras's layer tests.

Every block kind x order x a bounded and an unbounded activation passes
Keras's own layer test harness (serialization, training, mixed
precision).
"""

import pytest

from bnorder_tf import _compat
from bnorder_tf.layers import blocks

KINDS = {"conv": ((2, 6, 6, 3), 4), "depthwise": ((2, 6, 6, 3), None),
         "dense": ((2, 5), 4)}  # fmt: skip


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("order", list(blocks.ORDERS))
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_blocks_pass_keras_layer_test(kind, order, activation):
    shape, filters = KINDS[kind]
    _compat.keras_layer_test_case().run_layer_test(
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
