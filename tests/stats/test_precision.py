"""Statistics under mixed precision (issue 33).

By default (`precision="float32"`) a mixed_bfloat16 or mixed_float16
model's statistics are those of the same weights in a float32 model: the
pass runs in float32 from the float32 weights. `precision="compute"`
measures the 16-bit activations the compiled network computes; the
public `tap_outputs` returns those very tensors, so that a SciPy
reference on them equals the engine on every block, dense ones included
(eager ops, which `tap_outputs` ran before, round differently: a compiled
graph fuses a dense layer's MatMul, BiasAdd and tanh into one op rounded
to 16 bits once).
"""

import contextlib

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from bnorder_tf import _compat
from bnorder_tf.errors import ConfigError
from bnorder_tf.layers import blocks
from bnorder_tf.models import build_model
from bnorder_tf.stats import (
    ActivationStatsCallback,
    ActivationStatsPass,
    GradientStatsPass,
    ModelTaps,
    activation_stats,
    tap_outputs,
)
from bnorder_tf.stats.taps import float32_compute
from bnorder_tf.training.config import TrainConfig
from tests.stats import reference

MIXED = ["mixed_bfloat16", "mixed_float16"]
SIXTEEN_BITS = {
    "mixed_bfloat16": tf.bfloat16.as_numpy_dtype,
    "mixed_float16": np.float16,
}
BATCH = 32


@contextlib.contextmanager
def global_policy(policy):
    keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def block_model():
    """A conv Swap block, then dense Swap, Convention and NoBN tanh blocks.

    With nonzero biases (the torch scheme): the dense layers a compiled
    graph fuses with their activation.
    """
    return keras.Sequential(
        [
            keras.Input((6, 6, 3)),
            blocks.SwapBlock(8, activation="tanh", name="conv",
                             kernel_initializer="torch"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Flatten(),
            blocks.SwapBlock(16, kind="dense", activation="tanh",
                             name="fc_swap", kernel_initializer="torch"),
            blocks.ConventionBlock(12, kind="dense", activation="tanh",
                                   name="fc_conv", kernel_initializer="torch"),
            blocks.NoBNBlock(10, kind="dense", activation="lecun_tanh",
                             name="fc_nobn", kernel_initializer="torch"),
            keras.layers.Dense(4, name="logits"),
        ]
    )  # fmt: skip


def functional_model():
    """A functional model of plain Keras layers (taps read from the graph)."""
    inputs = keras.Input((6, 6, 3))
    x = keras.layers.Conv2D(6, 3, activation="tanh", name="c1")(inputs)
    x = keras.layers.BatchNormalization(name="c1_bn")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(10, activation="tanh", name="f1")(x)
    x = keras.layers.BatchNormalization(name="f1_bn")(x)
    outputs = keras.layers.Dense(4, name="logits")(x)
    return keras.Model(inputs, outputs)


BUILDERS = {"blocks": block_model, "functional": functional_model}


def _move_norms_off_identity(model, rng):
    for layer in _compat.sublayers(model):
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 2.0, c))
            layer.beta.assign(rng.normal(size=c))
            layer.moving_mean.assign(rng.normal(scale=0.1, size=c))
            layer.moving_variance.assign(rng.uniform(0.5, 2.0, c))


def same_weights(policy, rng, kind="blocks"):
    """`(float32 model, model under policy)` with the same weights."""
    keras.utils.set_random_seed(4)
    float32_model = BUILDERS[kind]()
    _move_norms_off_identity(float32_model, rng)
    with global_policy(policy):
        mixed_model = BUILDERS[kind]()
    mixed_model.set_weights(float32_model.get_weights())
    return float32_model, mixed_model


def _images(rng, n=4 * BATCH):
    return rng.normal(size=(n, 6, 6, 3)).astype("float32")


def _assert_same_statistics(got, expected, taps=None):
    """The same statistics; with `taps`, skewness up to float32 rounding.

    `taps` (the float32 model's, per block) are given where the two sides
    batch the images differently (over replicas): their kernels then
    round differently (`reference.skewness_bound`).
    """
    for name, layer in expected.layers.items():
        other = got.layers[name]
        assert other.count == layer.count
        for key in (
            "saturation",
            "empirical_saturation",
            "activation_channel_saturation",
            "sparsity",
            "skewness",
        ):
            assert getattr(other, key) == pytest.approx(
                getattr(layer, key), rel=1e-6
            ), (name, key)
        if taps is not None:
            reference.assert_skewness_within_rounding(
                other.channel_skewness,
                layer.channel_skewness,
                reference.per_channel(taps[name]["activation"]),
            )
        else:  # float32 deviations summed in float64 (see test_engine)
            np.testing.assert_allclose(
                other.channel_skewness, layer.channel_skewness, rtol=1e-6,
                atol=1.2e-7,
            )  # fmt: skip
        np.testing.assert_array_equal(other.histogram, layer.histogram)
        np.testing.assert_array_equal(
            other.output_histogram, layer.output_histogram
        )


@pytest.mark.parametrize("kind", list(BUILDERS))
@pytest.mark.parametrize("policy", MIXED)
def test_mixed_precision_statistics_equal_float32_ones(rng, policy, kind):
    float32_model, mixed_model = same_weights(policy, rng, kind)
    dataset = tf.data.Dataset.from_tensor_slices(_images(rng)).batch(BATCH)
    expected = activation_stats(float32_model, dataset, histogram_bins=8)
    got = activation_stats(mixed_model, dataset, histogram_bins=8)
    _assert_same_statistics(got, expected)
    assert ModelTaps(mixed_model).recomputed
    assert not ModelTaps(float32_model).recomputed
    assert not ModelTaps(mixed_model, precision="compute").recomputed


@pytest.mark.large
def test_mixed_precision_statistics_under_mirrored_strategy(rng, mirrored):
    float32_model, _ = same_weights("mixed_bfloat16", rng)
    with mirrored.scope(), global_policy("mixed_bfloat16"):
        mixed_model = block_model()
    mixed_model.set_weights(float32_model.get_weights())
    images = _images(rng, BATCH + 5)  # the last batch padded
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(BATCH)
    expected = activation_stats(float32_model, dataset, histogram_bins=0)
    got = activation_stats(
        mixed_model, dataset, strategy=mirrored, histogram_bins=0
    )
    # each replica gets its share of a batch: other blocking, other rounding
    _assert_same_statistics(got, expected, tap_outputs(float32_model, images))
    assert {la.dtype_policy.name for la in mixed_model.layers} == {
        "mixed_bfloat16"
    }


@pytest.mark.parametrize("policy", [*MIXED, "float32"])
def test_compute_precision_equals_scipy_on_the_taps_it_measured(rng, policy):
    # Fails with the eager `tap_outputs` of before: under mixed_bfloat16
    # the dense blocks' activations there are rounded op by op.
    _, model = same_weights(policy, rng)
    images = _images(rng)
    batches = [images[i : i + BATCH] for i in range(0, len(images), BATCH)]
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(BATCH)
    result = activation_stats(
        model, dataset, histogram_bins=0, precision="compute"
    )
    taps = [tap_outputs(model, b, precision="compute") for b in batches]
    dtype = SIXTEEN_BITS.get(policy, np.float32)
    for name, layer in result.layers.items():
        act = [np.asarray(t[name]["activation"]) for t in taps]
        out = [np.asarray(t[name]["output"]) for t in taps]
        assert act[0].dtype == dtype, name  # what the network computes
        act = [a.astype(np.float64) for a in act]
        out = [o.astype(np.float64) for o in out]
        values = reference.per_channel(np.concatenate(act))
        # float32 deviations of exact 16-bit values, summed in float64
        np.testing.assert_allclose(
            layer.channel_skewness,
            scipy.stats.skew(values, axis=0, bias=False),
            rtol=1e-6,
            atol=1.2e-7,
            err_msg=name,
        )
        assert layer.saturation == pytest.approx(
            reference.saturation(act, model.get_layer(name).bound), rel=1e-6
        ), name
        assert layer.activation_channel_saturation == pytest.approx(
            reference.empirical_saturation(act), rel=1e-6
        ), name
        assert layer.sparsity == pytest.approx(
            reference.sparsity(out), rel=1e-6, abs=1e-7
        ), name


def test_tap_outputs_default_to_float32_taps_of_the_same_weights(rng):
    float32_model, mixed_model = same_weights("mixed_bfloat16", rng)
    images = _images(rng, BATCH)
    expected = tap_outputs(float32_model, images)
    got = tap_outputs(mixed_model, images)
    for name, taps in expected.items():
        for key, value in taps.items():
            assert got[name][key].dtype == tf.float32
            np.testing.assert_allclose(
                got[name][key], value, rtol=1e-6, atol=1e-7
            )


def test_statistics_leave_the_model_computing_in_16_bits(rng):
    _, model = same_weights("mixed_bfloat16", rng)
    images = _images(rng, BATCH)
    forward = tf.function(lambda x: model(x, training=False))
    before = forward(images).numpy()
    policies = [la.dtype_policy for la in _compat.sublayers(model)]
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(BATCH)
    for precision in ("float32", "compute"):
        activation_stats(model, dataset, histogram_bins=0, precision=precision)
    assert [la.dtype_policy for la in _compat.sublayers(model)] == policies
    assert model(images).dtype == tf.bfloat16
    # a function traced after the pass, and one traced before it
    np.testing.assert_array_equal(model.predict(images, verbose=0), before)
    np.testing.assert_array_equal(forward(images).numpy(), before)


def test_float32_compute_restores_the_policies_on_errors_and_overlaps(rng):
    _, model = same_weights("mixed_float16", rng)
    with pytest.raises(RuntimeError, match="inside"):
        with float32_compute(model):
            assert model.get_layer("fc_swap").norm.compute_dtype == "float32"
            raise RuntimeError("inside")
    assert model.get_layer("fc_swap").norm.compute_dtype == "float16"
    # overlapping uses (one per replica thread) end with the last one
    outer, inner = float32_compute(model), float32_compute(model)
    outer.__enter__()
    inner.__enter__()
    outer.__exit__(None, None, None)
    assert model.get_layer("conv").compute_dtype == "float32"
    assert model(_images(rng, 2)).dtype == tf.float32
    inner.__exit__(None, None, None)
    assert {la.compute_dtype for la in _compat.sublayers(model)} == {"float16"}


def test_evaluation_stays_the_models_own_under_float32_statistics(rng):
    _, model = same_weights("mixed_bfloat16", rng)
    x = _images(rng, 2 * BATCH)
    y = rng.integers(0, 4, len(x))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    result = ActivationStatsPass(model, evaluate=True)(dataset)
    # the served logits, as bfloat16 computes them
    logits = model.predict(x, verbose=0, batch_size=BATCH)
    assert logits.dtype == SIXTEEN_BITS["mixed_bfloat16"]
    logits = logits.astype(np.float64)
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    assert result.evaluation["accuracy"] == np.mean(logits.argmax(1) == y)
    assert result.evaluation["loss"] == pytest.approx(
        -log_p[np.arange(len(y)), y].mean(), rel=1e-6
    )
    plain = ActivationStatsPass(model)(dataset.map(lambda a, b: a))
    assert result.to_dict() == plain.to_dict()


@pytest.mark.parametrize("policy", MIXED)
def test_gradient_scale_of_a_mixed_model_equals_float32_ones(rng, policy):
    float32_model, mixed_model = same_weights(policy, rng)
    x = _images(rng, 2 * BATCH)
    y = rng.integers(0, 4, len(x))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    expected = GradientStatsPass(float32_model)(dataset, 2)
    got = GradientStatsPass(mixed_model)(dataset, 2)
    for name, values in expected.items():
        for key, value in values.items():
            assert got[name][key] == pytest.approx(value, rel=1e-6), (
                name,
                key,
            )
    # measuring left the BN moving statistics as they were
    for a, b in zip(
        float32_model.non_trainable_weights,
        mixed_model.non_trainable_weights,
        strict=True,
    ):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert GradientStatsPass(mixed_model, precision="compute")(dataset, 1)


def test_callback_measures_in_its_precision(rng):
    float32_model, mixed_model = same_weights("mixed_bfloat16", rng)
    x = _images(rng, 2 * BATCH)
    y = rng.integers(0, 4, len(x))
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH)
    expected = {
        precision: activation_stats(
            mixed_model, dataset, histogram_bins=0, precision=precision
        ).to_dict()
        for precision in ("float32", "compute")
    }
    assert (
        expected["float32"]
        == activation_stats(float32_model, dataset, histogram_bins=0).to_dict()
    )
    assert expected["float32"] != expected["compute"]
    for precision in ("float32", "compute"):
        callback = ActivationStatsCallback(
            dataset, histogram_bins=0, precision=precision
        )
        callback.set_model(mixed_model)
        assert callback.measure(0).to_dict() == expected[precision]
    with pytest.raises(ValueError, match="Unknown precision"):
        ActivationStatsCallback(dataset, precision="bfloat16")
    with pytest.raises(ValueError, match="Unknown precision"):
        activation_stats(mixed_model, dataset, precision="float16")


def test_stats_precision_setting():
    assert TrainConfig().stats_precision == "float32"
    config = TrainConfig(mixed_precision="bfloat16", stats_precision="compute")
    assert TrainConfig.from_flags_text(config.to_flags()) == config
    assert "--stats_precision=compute" in config.to_flags()
    # operational: not a setting of the experiment, and may change on resume
    assert "stats_precision" not in config.settings()
    resumed = TrainConfig(mixed_precision="bfloat16")
    assert config.resume_differences(resumed) == []
    assert not TrainConfig(stats_precision="compute").resume_differences(
        TrainConfig()
    )
    with pytest.raises(ConfigError, match="--stats_precision"):
        TrainConfig(stats_precision="bfloat16")


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
