import keras
import numpy as np
import pytest

from bnorder_tf.layers import blocks
from bnorder_tf.models import MODEL_NAMES, build_model
from bnorder_tf.models.vgg import truncated_vgg16


def _blocks(model):
    return [layer for layer in model.layers if isinstance(layer, blocks.Block)]


def _build(name, **kwargs):
    defaults = dict(
        order="swap",
        activation="tanh",
        num_classes=10,
        input_shape=(32, 32, 3),
        width=0.125,
    )
    defaults.update(kwargs)
    return build_model(name, **defaults)


@pytest.mark.parametrize(
    "name, convs",
    [
        ("vgg11", 8),
        ("vgg13", 10),
        ("vgg16", 13),
        ("vgg19", 16),
        ("vgg16_8", 5),
        ("vgg16_11", 8),
        ("vgg16_16", 13),
    ],
)
def test_vgg_conv_block_counts(name, convs):
    model = _build(name)
    conv = [b for b in _blocks(model) if b.kind == "conv"]
    assert len(conv) == convs
    assert [b.name for b in conv] == [f"conv{i}" for i in range(1, convs + 1)]
    assert [b.name for b in _blocks(model) if b.kind == "dense"] == [
        "fc1",
        "fc2",
    ]
    assert model.output_shape == (None, 10)


def test_vgg16_11_layout():
    assert truncated_vgg16(11) == [
        64,
        64,
        "M",
        128,
        128,
        "M",
        256,
        256,
        256,
        "M",
        512,
        "M",
    ]
    model = _build("vgg16_11", width=1.0)
    assert model.get_layer("conv8").output.shape[1:] == (4, 4, 512)
    assert model.get_layer("flatten").output.shape[1:] == (2048,)


def test_mobilenet_has_v1_layer_count():
    model = _build("mobilenet", order="convention", width=0.25)
    bl = _blocks(model)
    assert len(bl) == 27
    assert sum(b.kind == "depthwise" for b in bl) == 13
    assert [b.name for b in bl[:3]] == ["conv1", "dw1", "pw1"]
    assert bl[-1].name == "pw13" and bl[-1].filters == 256
    assert model.get_layer("pw13").output.shape[1:3] == (2, 2)
    assert all(isinstance(b, blocks.ConventionBlock) for b in bl)


def test_order_and_fc_bn_choose_block_classes():
    assert all(
        isinstance(b, blocks.NoBNBlock)
        for b in _blocks(_build("vgg11", order="nobn"))
    )
    model = _build("vgg11", order="swap", input_shape=(64, 64, 3))
    assert isinstance(model.get_layer("conv1"), blocks.SwapBlock)
    assert isinstance(model.get_layer("fc1"), blocks.NoBNBlock)  # no FC BN
    model = _build("vgg11", order="swap", fc_bn=True, input_shape=(64, 64, 3))
    assert isinstance(model.get_layer("fc1"), blocks.SwapBlock)


def test_nwdbn_has_no_bn_decay_terms():
    model = _build(
        "vgg16_11",
        order="convention",
        bn_gamma_decay=0,
        bn_beta_decay=0,
        weight_decay=1e-3,
    )
    # kernel + bias per block and the logits layer, nothing for BN
    assert len(model.losses) == 2 * len(_blocks(model)) + 2


def test_unknown_names_are_lookup_errors_listing_valid_ones():
    from bnorder_tf.data import get_source

    with pytest.raises(LookupError, match="valid values are: vgg11"):
        _build("resnet50")
    with pytest.raises(LookupError, match="valid values are: convention"):
        _build("vgg11", order="pre")
    with pytest.raises(LookupError, match="valid values are: relu, tanh"):
        _build("vgg11", activation="gelu")
    with pytest.raises(LookupError, match="valid values are: cifar10"):
        get_source("mnist")
    assert "vgg16_11" in MODEL_NAMES and "mobilenet" in MODEL_NAMES


@pytest.mark.parametrize("order", ["convention", "swap"])
def test_tiny_model_loss_goes_down_on_a_fixed_batch(order, rng):
    model = _build(
        "vgg16_8",
        order=order,
        width=0.125,
        num_classes=4,
        input_shape=(16, 16, 3),
    )
    x = rng.normal(size=(32, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 4, size=32)
    model.compile(
        optimizer=keras.optimizers.SGD(0.05, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    history = model.fit(x, y, batch_size=32, epochs=8, verbose=0)
    losses = history.history["loss"]
    assert losses[-1] < 0.7 * losses[0]
    assert np.isfinite(losses).all()


def test_too_small_input_is_a_clear_error():
    with pytest.raises(ValueError, match="vgg11 downsamples 32x.*got 16x16"):
        _build("vgg11", input_shape=(16, 16, 3))
    with pytest.raises(ValueError, match="mobilenet downsamples 16x"):
        _build("mobilenet", input_shape=(8, 8, 3))


def test_torch_initialisation_matches_pytorchs_default_bounds():
    # PyTorch's Conv2d/Linear: kaiming_uniform_(a=sqrt(5)) gives
    # U(-b, b) with b = sqrt(6 / ((1 + 5) * fan_in)) = 1 / sqrt(fan_in),
    # and the bias U(-b, b) with the same b (hand-worked from the formula)
    keras.utils.set_random_seed(0)
    model = build_model(
        "vgg16_11",
        order="swap",
        activation="tanh",
        num_classes=100,
        input_shape=(32, 32, 3),
        width=0.5,
        kernel_initializer="torch",
    )
    conv2 = model.get_layer("conv2").weight_layer  # 3x3, 32 -> 32 channels
    fc1 = model.get_layer("fc1").weight_layer
    logits = model.get_layer("logits")
    for layer, fan_in in (
        (conv2, 9 * 32),
        (fc1, fc1.kernel.shape[0]),
        (logits, 256),
    ):
        bound = 1.0 / np.sqrt(fan_in)
        for values in (layer.kernel.numpy(), layer.bias.numpy()):
            assert np.abs(values).max() <= bound
            assert np.abs(values).max() > 0.8 * bound
        kernel = layer.kernel.numpy()
        assert kernel.std() == pytest.approx(bound / np.sqrt(3), rel=0.1)
    glorot = build_model(
        "vgg16_11",
        order="swap",
        activation="tanh",
        num_classes=10,
        input_shape=(32, 32, 3),
        width=0.5,
        kernel_initializer="glorot_uniform",
    )
    conv = glorot.get_layer("conv2").weight_layer
    assert np.all(conv.bias.numpy() == 0)
    # glorot: U(+-sqrt(6 / (fan_in + fan_out))), fan_out = 9 * 32
    assert np.abs(conv.kernel.numpy()).max() <= np.sqrt(6 / (2 * 9 * 32))
