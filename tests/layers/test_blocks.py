import keras
import numpy as np
import pytest

from bnorder_tf.layers import blocks
from bnorder_tf.layers.activations import ShiftedTanh


def _randomize_bn(block, rng):
    """Gives BN non-trivial statistics and affine parameters."""
    bn = block.norm
    c = bn.gamma.shape[0]
    bn.gamma.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
    bn.beta.assign(rng.normal(size=c).astype("float32"))
    bn.moving_mean.assign(rng.normal(size=c).astype("float32"))
    bn.moving_variance.assign(rng.uniform(0.1, 3.0, c).astype("float32"))


def _bn_inference(bn, values):
    """BN of `values` with its moving statistics, by hand (epsilon 1e-5)."""
    return (
        bn.gamma.numpy()
        * (values - bn.moving_mean.numpy())
        / np.sqrt(bn.moving_variance.numpy() + 1e-5)
        + bn.beta.numpy()
    )


def test_convention_activation_tap_is_its_output(rng):
    block = blocks.ConventionBlock(6, activation="tanh")
    x = rng.normal(size=(2, 5, 5, 3)).astype("float32")
    block(x)
    _randomize_bn(block, rng)
    taps = block.call_with_taps(x)
    np.testing.assert_array_equal(taps["activation"], taps["output"])
    # and the tap is tanh of BN of the conv output, by hand
    z = np.asarray(block.weight_layer(x))
    bn = block.norm
    expected = np.tanh(_bn_inference(bn, z))
    np.testing.assert_allclose(taps["output"], expected, atol=1e-5)


@pytest.mark.parametrize(
    "kind, filters, shape",
    [
        ("conv", 4, (3, 6, 6, 2)),
        ("depthwise", None, (3, 6, 6, 2)),
        ("dense", 7, (3, 5)),
    ],
)
def test_swap_output_is_bn_of_activation_tap(rng, kind, filters, shape):
    block = blocks.SwapBlock(filters, kind=kind, activation="lecun_tanh")
    x = rng.normal(size=shape).astype("float32")
    block(x)
    _randomize_bn(block, rng)
    taps = block.call_with_taps(x, training=False)
    a = np.asarray(taps["activation"], dtype="float64")
    bn = block.norm
    expected = _bn_inference(bn, a)
    np.testing.assert_allclose(taps["output"], expected, rtol=1e-5, atol=1e-5)
    z = np.asarray(block.weight_layer(x), dtype="float64")
    np.testing.assert_allclose(a, 1.7159 * np.tanh(2 * z / 3), atol=1e-5)
    np.testing.assert_allclose(block(x), taps["output"], atol=1e-6)


def test_nobn_block_has_no_norm_and_applies_activation(rng):
    block = blocks.NoBNBlock(3, kind="dense", activation="softsign")
    x = rng.normal(size=(4, 2)).astype("float32")
    taps = block.call_with_taps(x)
    z = np.asarray(block.weight_layer(x))
    assert block.norm is None
    np.testing.assert_allclose(taps["output"], z / (1 + np.abs(z)), atol=1e-6)


@pytest.mark.parametrize(
    "gamma_decay, beta_decay",
    [
        (None, None),
        (0.0, 0.0),
        (1e-2, 0.0),
        (0.0, 3e-3),
        (2e-3, 7e-3),
    ],
)
def test_losses_sum_to_pytorch_decay_per_group(rng, gamma_decay, beta_decay):
    wd = 5e-3
    block = blocks.SwapBlock(
        4,
        weight_decay=wd,
        bn_gamma_decay=gamma_decay,
        bn_beta_decay=beta_decay,
    )
    block(rng.normal(size=(2, 4, 4, 3)).astype("float32"))
    _randomize_bn(block, rng)
    block.weight_layer.bias.assign(rng.normal(size=4).astype("float32"))
    g = wd if gamma_decay is None else gamma_decay
    b = wd if beta_decay is None else beta_decay

    def sq(v):
        return np.sum(np.asarray(v, dtype="float64") ** 2)

    expected = 0.5 * (
        wd * (sq(block.kernel) + sq(block.weight_layer.bias))
        + g * sq(block.norm.gamma)
        + b * sq(block.norm.beta)
    )
    total = sum(float(loss) for loss in block.losses)
    assert total == pytest.approx(expected, rel=1e-5)
    # zero-rate groups add no loss term at all
    n_terms = 2 + (g > 0) + (b > 0)
    assert len(block.losses) == n_terms


def test_orders_share_one_class_and_config_round_trips():
    for cls in (blocks.ConventionBlock, blocks.SwapBlock, blocks.NoBNBlock):
        block = cls(5, activation=ShiftedTanh(0.2, 0.5), bn_beta_decay=0.0)
        assert isinstance(block, blocks.Block)
        config = block.get_config()
        assert "order" not in config
        again = cls.from_config(config)
        assert again.order == block.order == cls.ORDER
        assert again.activation == ShiftedTanh(0.2, 0.5)
        assert again.get_config() == config


def test_bad_arguments_name_the_problem():
    with pytest.raises(ValueError, match="Unknown order 'after'"):
        blocks.Block(3, order="after")
    with pytest.raises(ValueError, match="Unknown kind"):
        blocks.Block(3, order="swap", kind="lstm")
    with pytest.raises(ValueError, match="filters=None"):
        blocks.SwapBlock(3, kind="depthwise")
    with pytest.raises(ValueError, match="filters >= 1"):
        blocks.SwapBlock(0)


def test_keras_file_round_trip_gives_identical_predictions(tmp_path, rng):
    model = keras.Sequential(
        [
            keras.Input((8, 8, 3)),
            blocks.ConventionBlock(4, activation="tanh", weight_decay=1e-3),
            blocks.SwapBlock(None, kind="depthwise", activation="softsign"),
            blocks.NoBNBlock(3, activation=ShiftedTanh(0.1, 0.3)),
            keras.layers.Flatten(),
            blocks.SwapBlock(5, kind="dense", bn_gamma_decay=0.0),
        ]
    )
    x = rng.normal(size=(4, 8, 8, 3)).astype("float32")
    model.compile(optimizer="sgd", loss="mse")
    model.fit(x, rng.normal(size=(4, 5)), epochs=1, verbose=0)
    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_array_equal(
        model.predict(x, verbose=0), again.predict(x, verbose=0)
    )
    assert sum(map(float, again.losses)) == pytest.approx(
        sum(map(float, model.losses))
    )


def test_moving_mean_agrees_across_replicas_and_with_one_device(rng, mirrored):

    x = rng.normal(size=(16, 6, 6, 3)).astype("float32")
    y = rng.normal(size=(16, 6, 6, 4)).astype("float32")

    def fit_one_step():
        keras.utils.set_random_seed(7)
        model = keras.Sequential(
            [keras.Input((6, 6, 3)), blocks.SwapBlock(4, activation="tanh")]
        )
        model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
        model.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False)
        return model.layers[0].norm.moving_mean

    single = fit_one_step().numpy()
    with mirrored.scope():
        mirrored = fit_one_step()
    copies = [v.numpy() for v in mirrored.value.values]
    assert len(copies) == 2
    np.testing.assert_array_equal(copies[0], copies[1])
    # 0.9 * 0 + 0.1 * mean of the two half-batch means = the full-batch one
    np.testing.assert_allclose(copies[0], single, rtol=1e-5, atol=1e-7)
    assert np.abs(single).max() > 1e-4


@pytest.mark.parametrize("shape", [(6, 3, 4, 5), (16, 5)])
def test_fused_batch_norm_equals_a_numpy_reference(rng, shape):
    import tensorflow as tf

    x = rng.normal(2.0, 3.0, size=shape).astype("float32")
    bn = blocks.FusedBatchNormalization(momentum=0.9, epsilon=1e-3)
    bn.build(shape)
    channels = shape[-1]
    gamma = rng.uniform(0.5, 2.0, channels).astype("float32")
    beta = rng.normal(size=channels).astype("float32")
    bn.gamma.assign(gamma)
    bn.beta.assign(beta)
    assert bn._fusable(x, None)

    values = x.reshape(-1, channels).astype("float64")
    mean, var = values.mean(0), values.var(0)
    n = len(values)
    with tf.GradientTape() as tape:
        y = bn(x, training=True)
        weighted = tf.reduce_sum(y * np.arange(channels, dtype="float32"))
    expected = (x - mean) / np.sqrt(var + 1e-3) * gamma + beta
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
    # the moving variance takes the unbiased variance, as PyTorch's
    np.testing.assert_allclose(bn.moving_mean, 0.1 * mean, rtol=1e-5)
    np.testing.assert_allclose(
        bn.moving_variance, 0.9 + 0.1 * var * n / (n - 1), rtol=1e-5
    )
    # d(sum_c c * y_c)/d(beta_c) = c * n; /d(gamma_c) = c * sum x_hat = 0
    grad_gamma, grad_beta = tape.gradient(weighted, [bn.gamma, bn.beta])
    np.testing.assert_allclose(grad_beta, np.arange(channels) * n, rtol=1e-5)
    np.testing.assert_allclose(grad_gamma, 0.0, atol=1e-3)

    inference = bn(x, training=False)
    moving_mean, moving_var = bn.moving_mean.numpy(), bn.moving_variance.numpy()
    np.testing.assert_allclose(
        inference,
        (x - moving_mean) / np.sqrt(moving_var + 1e-3) * gamma + beta,
        rtol=1e-5,
        atol=1e-5,
    )


def test_fused_batch_norm_gradients_equal_keras_own(rng):
    import tensorflow as tf

    x = tf.constant(rng.normal(size=(8, 4, 4, 3)).astype("float32"))
    fused = blocks.FusedBatchNormalization(epsilon=1e-3)
    plain = keras.layers.BatchNormalization(epsilon=1e-3)
    weights = tf.constant(rng.normal(size=(8, 4, 4, 3)).astype("float32"))
    gradients = []
    for layer in (fused, plain):
        layer.build(x.shape)
        layer.gamma.assign([0.5, 1.0, 2.0])
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(layer(x, training=True) * weights)
        gradients.append(tape.gradient(loss, [x, layer.gamma, layer.beta]))
    for a, b in zip(*gradients, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "activation", ["tanh", "lecun_tanh", "softsign", "relu"]
)
@pytest.mark.parametrize("use_bias", [False, True])
def test_compiled_inference_of_a_convention_conv(rng, activation, use_bias):
    # TensorFlow's graph optimizer (on a function, not eagerly) fused a
    # bias-free Conv2D, an inference FusedBatchNormV3 and a tanh into an
    # op oneDNN does not implement: MobileNet's Convention failed to
    # evaluate on CPUs ("Fusion is not implemented: [FusedBatchNorm,Tanh]").
    import tensorflow as tf

    block = blocks.ConventionBlock(
        4, kind="conv", activation=activation, use_bias=use_bias
    )
    x = rng.normal(size=(3, 6, 6, 2)).astype("float32")
    block(x)
    _randomize_bn(block, rng)
    y = tf.function(lambda x: block(x, training=False))(x)

    bn = block.norm
    z = np.asarray(block.weight_layer(x), dtype="float64")
    normalized = _bn_inference(bn, z)
    expected = {
        "tanh": np.tanh,
        "lecun_tanh": lambda v: 1.7159 * np.tanh(2 / 3 * v),
        "softsign": lambda v: v / (1 + np.abs(v)),
        "relu": lambda v: np.maximum(v, 0),
    }[activation](normalized)
    np.testing.assert_allclose(y, expected, rtol=1e-5, atol=1e-5)
