"""`BlockConfig`: block settings given once, and `build_model`'s keywords."""

import inspect
import json

import keras
import numpy as np
import pytest

from bnorder_tf.layers import blocks
from bnorder_tf.models import BlockConfig, build_model

SHAPES = dict(num_classes=10, input_shape=(32, 32, 3))


def _weights_and_config(**kwargs):
    keras.utils.set_random_seed(5)
    model = build_model(**kwargs)
    config = json.dumps(model.get_config(), sort_keys=True, default=str)
    return config, [(w.path, w.numpy()) for w in model.weights]


@pytest.mark.parametrize(
    "name, block, family",
    [
        (
            "vgg16_11",
            dict(
                order="swap",
                activation="tanh",
                weight_decay=1e-3,
                bn_gamma_decay=0.0,
                kernel_initializer="glorot_uniform",
                bn_synchronized=True,
            ),
            dict(width=0.25, fc_bn=True, fc_units=64, dropout=0.5),
        ),
        (
            "mobilenet",
            dict(order="convention", activation="relu", bn_beta_decay=0.0),
            dict(width=0.25, dropout=0.2, conv_bias=True),
        ),
    ],
)
def test_keywords_and_block_config_build_the_same_model(name, block, family):
    by_keywords = _weights_and_config(name=name, **block, **family, **SHAPES)
    by_config = _weights_and_config(
        name=name, block=BlockConfig(**block), **family, **SHAPES
    )
    assert by_keywords[0] == by_config[0]
    assert [path for path, _ in by_keywords[1]] == [
        path for path, _ in by_config[1]
    ]
    for (_, a), (_, b) in zip(by_keywords[1], by_config[1], strict=True):
        np.testing.assert_array_equal(a, b)


def test_every_block_gets_the_configs_settings():
    config = BlockConfig("swap", "softsign", 1e-3, 0.0, None, True, "he_normal")
    model = build_model("vgg11", block=config, width=0.125, **SHAPES)
    for layer in model.layers:
        if isinstance(layer, blocks.Block):
            assert isinstance(layer, blocks.SwapBlock)
            assert layer.activation.name == "softsign"
            assert layer.weight_decay == 1e-3
            assert (layer.bn_gamma_decay, layer.bn_beta_decay) == (0.0, None)
            assert layer.bn_synchronized
            assert layer.kernel_initializer == "he_normal"
    assert float(model.get_layer("logits").kernel_regularizer.rate) == 1e-3


def test_the_config_fields_are_block_arguments():
    fields = set(inspect.signature(BlockConfig).parameters)
    assert fields <= set(inspect.signature(blocks.Block).parameters)


def test_the_trainers_call_serves_every_family():
    # bnorder_tf.training.runner passes these keywords whatever the model
    for name in ("vgg11", "mobilenet"):
        model = build_model(
            name,
            order="swap",
            activation="tanh",
            width=0.125,
            weight_decay=5e-4,
            bn_gamma_decay=None,
            bn_beta_decay=None,
            fc_bn=None,
            kernel_initializer="torch",
            bn_synchronized=False,
            **SHAPES,
        )
        assert model.output_shape == (None, 10)


def test_a_keyword_the_family_lacks_is_a_type_error_listing_its_own():
    with pytest.raises(
        TypeError, match="fc_bn.*It takes: .*dropout, conv_bias"
    ):
        build_model(
            "mobilenet", order="swap", activation="tanh", fc_bn=True, **SHAPES
        )
    with pytest.raises(TypeError, match="unexpected keyword arguments: fc_b"):
        build_model("vgg11", order="swap", activation="tanh", fc_b=1, **SHAPES)


def test_block_settings_are_given_one_way():
    with pytest.raises(TypeError, match="not both: got block= and order"):
        build_model(
            "vgg11", block=BlockConfig("swap", "tanh"), order="swap", **SHAPES
        )
    with pytest.raises(TypeError, match="weight_decay"):
        build_model(
            "vgg11",
            block=BlockConfig("swap", "tanh"),
            weight_decay=0.0,
            **SHAPES,
        )
    with pytest.raises(TypeError, match="needs order= and activation="):
        build_model("vgg11", activation="tanh", **SHAPES)
    with pytest.raises(LookupError, match="valid values are: convention"):
        BlockConfig("pre", "tanh")


def test_build_model_names_at_most_eight_parameters():
    parameters = inspect.signature(build_model).parameters.values()
    assert sum(p.kind != p.VAR_KEYWORD for p in parameters) <= 8
