import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from bnorder_tf import build_model
from bnorder_tf.layers import blocks
from bnorder_tf.stats import ActivationStatsPass, activation_stats, tap_outputs
from bnorder_tf.training import run_dir
from bnorder_tf.training.config import TrainConfig
from tests.stats import reference

C = 6  # channels of the adversarial block
BATCHING_RTOL = reference.BATCHING_RTOL


def adversarial_images(rng, n):
    """`[n, 3, 3, C]` images whose ReLU-identity block taps are adversarial.

    channel 0: saturated, mean 0.999, std 1e-3
    channel 1: constant 0.5
    channel 2: dead (negative inputs: all zeros after ReLU)
    channel 3: exponential (strongly right-skewed)
    channel 4: uniform on [0, 1]
    channel 5: lognormal (heavy right tail)
    """
    shape = (n, 3, 3)
    channels = [
        0.999 + 1e-3 * rng.standard_normal(shape),
        np.full(shape, 0.5),
        -1.0 - rng.uniform(size=shape),
        rng.exponential(size=shape),
        rng.uniform(size=shape),
        rng.lognormal(0.0, 1.0, size=shape),
    ]
    return np.stack(channels, axis=-1).astype("float32")


def adversarial_model(rng):
    """A ReLU block, then a tanh dense block and a tanh NoBN dense block.

    The ReLU block has an identity 1x1 conv (taps = the images, clipped at
    0) and random BN.
    """
    model = keras.Sequential(
        [
            keras.Input((3, 3, C), name="image"),
            blocks.SwapBlock(C, kernel_size=1, activation="relu", name="ident"),
            keras.layers.Flatten(),
            blocks.ConventionBlock(
                7, kind="dense", activation="tanh", name="fc"
            ),
            blocks.NoBNBlock(
                5, kind="dense", activation="lecun_tanh", name="nb"
            ),
            keras.layers.Dense(3, name="logits"),
        ]
    )
    ident = model.get_layer("ident")
    ident.weight_layer.kernel.assign(np.eye(C, dtype="float32")[None, None])
    for name in ("ident", "fc"):
        bn = model.get_layer(name).norm
        c = bn.gamma.shape[0]
        bn.gamma.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
        bn.beta.assign(rng.normal(size=c).astype("float32"))
        bn.moving_mean.assign(rng.normal(size=c).astype("float32"))
        bn.moving_variance.assign(rng.uniform(0.2, 2.0, c).astype("float32"))
    return model


def reference_stats(model, images, batch_size):
    """Per-layer statistics from the NumPy three-pass reference."""
    batches = [
        images[i : i + batch_size] for i in range(0, len(images), batch_size)
    ]
    taps = [tap_outputs(model, b) for b in batches]
    result = {}
    for layer in model.layers:
        if not isinstance(layer, blocks.Block):
            continue
        act = [np.asarray(t[layer.name]["activation"]) for t in taps]
        out = [np.asarray(t[layer.name]["output"]) for t in taps]
        skew = reference.three_pass_skewness(act)
        defined = np.isfinite(skew)
        result[layer.name] = {
            "saturation": (
                None
                if layer.bound is None
                else reference.saturation(act, layer.bound)
            ),
            "empirical_saturation": reference.empirical_saturation(out),
            "activation_channel_saturation": reference.empirical_saturation(
                act
            ),
            "channel_skewness": skew,
            "skewness": float(np.mean(np.abs(skew[defined]))),
            "excluded_channels": int(np.sum(~defined)),
            "sparsity": reference.sparsity(out),
            "activations": np.concatenate(act),
        }
    return result


def assert_matches_reference(result, expected, rtol=1e-6):
    for name, ref in expected.items():
        got = result.layers[name]
        if ref["saturation"] is None:
            assert got.saturation is None
        else:
            assert got.saturation == pytest.approx(ref["saturation"], rel=rtol)
        assert got.empirical_saturation == pytest.approx(
            ref["empirical_saturation"], rel=rtol
        )
        assert got.activation_channel_saturation == pytest.approx(
            ref["activation_channel_saturation"], rel=rtol
        )
        # the paper's empirical saturation is 1 - sparsity per block
        assert got.empirical_saturation == pytest.approx(
            1.0 - got.sparsity, abs=1e-12
        )
        assert got.sparsity == pytest.approx(ref["sparsity"], rel=rtol)
        assert got.excluded_channels == ref["excluded_channels"]
        # skewness is accurate to ~1e-7 absolute: relative error is
        # meaningless for channels whose skewness is near zero
        np.testing.assert_allclose(
            got.channel_skewness, ref["channel_skewness"], rtol=rtol, atol=1e-6
        )
        assert got.skewness == pytest.approx(ref["skewness"], rel=rtol)


def test_adversarial_channels_match_three_pass_reference(rng):
    model = adversarial_model(rng)
    images = adversarial_images(rng, 203)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(50)  # last: 3
    result = activation_stats(model, ds)
    expected = reference_stats(model, images, 50)
    assert_matches_reference(result, expected)

    ident = result.layers["ident"]
    # constant (1) and dead (2) channels are excluded, not NaN in the mean
    assert ident.excluded_channels == 2
    assert np.isnan(ident.channel_skewness[[1, 2]]).all()
    # saturated channel: scipy agrees, and float32 power sums would not
    acts = reference.per_channel(expected["ident"]["activations"])
    sat = scipy.stats.skew(acts[:, 0], bias=False)
    assert ident.channel_skewness[0] == pytest.approx(sat, rel=1e-6)
    assert ident.channel_skewness[3] == pytest.approx(
        scipy.stats.skew(acts[:, 3], bias=False), rel=1e-6
    )
    assert ident.count == 203 * 9
    assert result.layers["fc"].count == 203


def test_batching_does_not_change_the_result(rng):
    model = adversarial_model(rng)
    images = adversarial_images(rng, 37)
    whole = activation_stats(
        model, tf.data.Dataset.from_tensor_slices(images).batch(37)
    )
    ones = activation_stats(
        model, tf.data.Dataset.from_tensor_slices(images).batch(1)
    )
    taps = tap_outputs(model, images)
    for name, layer in whole.layers.items():
        other = ones.layers[name]
        assert other.sparsity == pytest.approx(
            layer.sparsity, rel=BATCHING_RTOL
        )
        reference.assert_skewness_within_rounding(
            other.channel_skewness,
            layer.channel_skewness,
            reference.per_channel(taps[name]["activation"]),
        )
        np.testing.assert_array_equal(other.histogram, layer.histogram)


def _block_model(activation, channels=3, order="nobn"):
    model = keras.Sequential(
        [
            keras.Input((2, 2, channels)),
            blocks.Block(
                channels,
                order=order,
                kernel_size=1,
                activation=activation,
                use_bias=False,
                name="b",
            ),
        ]
    )
    model.get_layer("b").weight_layer.kernel.assign(
        np.eye(channels, dtype="float32")[None, None]
    )
    return model


def test_hand_worked_saturation_values():
    # identity conv, so taps = activation(images)
    k = 500
    u = (np.arange(2 * k) + 0.5) / k - 1.0  # symmetric midpoints, mean|u| .5
    x = np.arctanh(u).reshape(-1, 2, 2, 1).repeat(3, axis=-1)
    ds = tf.data.Dataset.from_tensor_slices(x.astype("float32")).batch(64)
    stats = activation_stats(_block_model("tanh"), ds).layers["b"]
    assert stats.saturation == pytest.approx(0.5, abs=1e-6)

    big = np.full((8, 2, 2, 3), 50.0, "float32")
    big[::2] *= -1
    result = activation_stats(
        _block_model("lecun_tanh"),
        tf.data.Dataset.from_tensor_slices(big).batch(3),
    )
    assert result.layers["b"].saturation == pytest.approx(1.0, abs=1e-6)
    # +-bound in equal halves: symmetric, skewness 0
    np.testing.assert_allclose(
        result.layers["b"].channel_skewness, 0, atol=1e-6
    )

    zeros = tf.data.Dataset.from_tensor_slices(
        np.zeros((5, 2, 2, 3), "float32")
    ).batch(2)
    result = activation_stats(_block_model("tanh"), zeros)
    layer = result.layers["b"]
    assert layer.saturation == 0.0
    assert layer.sparsity == 1.0  # all-zero channels are fully sparse
    assert layer.skewness is None and layer.excluded_channels == 3
    assert result.to_dict()["layers"]["b"]["channel_skewness"] == [None] * 3


def test_relu_saturation_is_missing_not_a_number(rng):
    model = build_model(
        "vgg16_8",
        order="convention",
        activation="relu",
        num_classes=3,
        input_shape=(16, 16, 3),
        width=0.0625,
    )
    ds = tf.data.Dataset.from_tensor_slices(
        rng.normal(size=(6, 16, 16, 3)).astype("float32")
    ).batch(4)
    result = activation_stats(model, ds)
    assert result.model["saturation"] is None
    assert all(layer.saturation is None for layer in result.layers.values())
    assert 0.0 < result.model["sparsity"] < 1.0


def test_histograms_match_numpy(rng):
    model = adversarial_model(rng)
    images = adversarial_images(rng, 40)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(16)
    result = activation_stats(model, ds, histogram_bins=10)
    fc = result.layers["fc"]  # tanh: range (-1, 1)
    acts = reference.per_channel(tap_outputs(model, images)["fc"]["activation"])
    np.testing.assert_allclose(fc.histogram_edges, np.linspace(-1, 1, 11))
    for c in range(acts.shape[1]):
        expected, _ = np.histogram(
            np.clip(acts[:, c], -1, 1), bins=10, range=(-1, 1)
        )
        # np.histogram's last bin is closed; ours too via clipping
        np.testing.assert_array_equal(fc.histogram[c], expected)
    assert fc.histogram.sum() == 40 * 7


@pytest.mark.parametrize("order", ["swap", "convention"])
def test_block_output_histograms_match_numpy(rng, order):
    keras.utils.set_random_seed(3)
    model = build_model(
        "vgg16_8",
        order=order,
        activation="tanh",
        num_classes=4,
        input_shape=(16, 16, 3),
        width=0.0625,
    )
    images = rng.normal(size=(24, 16, 16, 3)).astype("float32")
    ds = tf.data.Dataset.from_tensor_slices(images).batch(10)
    result = activation_stats(model, ds, histogram_bins=8)
    taps = tap_outputs(model, images)
    # the BN output of a Swap block over (-4, 4); in Convention the
    # output is the activation, over the activation's range (-1, 1)
    low, high = (-4.0, 4.0) if order == "swap" else (-1.0, 1.0)
    for name in ("conv2", "fc1"):
        layer = result.layers[name]
        values = reference.per_channel(taps[name]["output"])
        np.testing.assert_allclose(
            layer.output_histogram_edges, np.linspace(low, high, 9)
        )
        for c in range(values.shape[1]):
            expected, _ = np.histogram(
                np.clip(values[:, c], low, high), bins=8, range=(low, high)
            )
            np.testing.assert_array_equal(layer.output_histogram[c], expected)
        if order == "convention":
            np.testing.assert_array_equal(
                layer.output_histogram, layer.histogram
            )


def test_without_histograms_every_other_value_is_unchanged(rng):
    model = adversarial_model(rng)
    images = adversarial_images(rng, 40)
    ds = tf.data.Dataset.from_tensor_slices(images).batch(16)
    bare = activation_stats(model, ds, histogram_bins=0)
    taps = reference.pass_taps(model, ds)
    acts = reference.per_channel(taps["fc"]["activation"])
    # float32 deviations summed in float64: a relative error of 1e-6, and
    # an absolute one of float32's epsilon (1.2e-7) for a channel whose
    # skewness is near 0 (a difference of cancelling sums)
    np.testing.assert_allclose(
        bare.layers["fc"].channel_skewness,
        scipy.stats.skew(acts, axis=0, bias=False),
        rtol=1e-6,
        atol=1.2e-7,
    )
    full = activation_stats(model, ds).to_dict()
    for name, layer in bare.to_dict()["layers"].items():
        assert layer["histogram"] is None
        assert layer["histogram_edges"] is None
        assert layer == dict(
            full["layers"][name],
            histogram=None,
            histogram_edges=None,
            output_histogram=None,
            output_histogram_edges=None,
        )
    assert bare.to_dict()["model"] == full["model"]
    for bins in (-1, 2.5, "50"):
        with pytest.raises(ValueError, match="histogram_bins must be"):
            activation_stats(model, ds, histogram_bins=bins)


def test_model_level_values_are_means_of_layers(rng):
    model = adversarial_model(rng)
    ds = tf.data.Dataset.from_tensor_slices(adversarial_images(rng, 20))
    result = activation_stats(model, ds.batch(8))
    layers = result.layers.values()
    assert result.model["sparsity"] == pytest.approx(
        np.mean([la.sparsity for la in layers])
    )
    assert result.model["saturation"] == pytest.approx(
        np.mean([la.saturation for la in layers if la.saturation is not None])
    )
    as_dict = result.to_dict()
    assert set(as_dict) == {"layers", "model", "model_blocks"}
    assert list(as_dict["layers"]) == ["ident", "fc", "nb"]
    assert as_dict["layers"]["fc"]["skewness"] == pytest.approx(
        result.layers["fc"].skewness
    )


def test_model_level_values_over_the_conv_blocks_only(rng):
    keras.utils.set_random_seed(5)
    model = build_model(
        "vgg16_8",
        order="swap",
        activation="tanh",
        num_classes=4,
        input_shape=(16, 16, 3),
        width=0.0625,
    )
    ds = tf.data.Dataset.from_tensor_slices(
        rng.normal(size=(12, 16, 16, 3)).astype("float32")
    ).batch(6)
    every = activation_stats(model, ds, histogram_bins=0)
    conv = activation_stats(model, ds, histogram_bins=0, averaged_blocks="conv")
    conv_names = [n for n in every.layers if n.startswith("conv")]
    assert conv.to_dict()["model_blocks"] == conv_names
    assert every.to_dict()["model_blocks"] == list(every.layers)
    assert {"fc1", "fc2"} <= set(every.layers)
    for key in ("saturation", "skewness", "sparsity"):
        assert conv.model[key] == pytest.approx(
            np.mean([getattr(every.layers[n], key) for n in conv_names])
        )
        assert every.model[key] == pytest.approx(
            np.mean([getattr(la, key) for la in every.layers.values()])
        )
    with pytest.raises(ValueError, match="averaged_blocks"):
        activation_stats(model, ds, averaged_blocks=["nope"])


def test_paper_averages_conv_blocks_for_tiny_imagenet_and_imagenet():

    assert TrainConfig(dataset="tiny_imagenet").averaged_blocks == "conv"
    assert TrainConfig(dataset="imagenet2012").averaged_blocks == "conv"
    assert TrainConfig(dataset="cifar100").averaged_blocks == "all"
    assert (
        TrainConfig(
            dataset="imagenet2012", model_stats_blocks="all"
        ).averaged_blocks
        == "all"
    )


def test_mirrored_strategy_equals_one_device_with_remainder(rng, mirrored):
    def make():
        # two conv blocks and a dense one: what is summed across replicas
        # is per block, so VGG's depth adds only tracing time
        keras.utils.set_random_seed(3)
        return keras.Sequential(
            [
                keras.Input((16, 16, 3)),
                blocks.SwapBlock(8, activation="tanh", name="conv1"),
                keras.layers.MaxPooling2D(),
                blocks.SwapBlock(8, activation="tanh", name="conv2"),
                keras.layers.Flatten(),
                blocks.SwapBlock(
                    16, kind="dense", activation="tanh", name="fc1"
                ),
                keras.layers.Dense(4, name="logits"),
            ]
        )

    images = rng.normal(size=(193, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 4, size=193)
    # 193 = 3 * 64 + 1: the last batch leaves the second replica empty
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(64)
    single = activation_stats(make(), ds)
    strategy = mirrored
    with strategy.scope():
        mirrored_model = make()
    inside = activation_stats(mirrored_model, ds, strategy=strategy)
    with strategy.scope():
        scoped = activation_stats(mirrored_model, ds)
    for result in (inside, scoped):
        for name, layer in single.layers.items():
            other = result.layers[name]
            assert other.count == layer.count
            for key in (
                "saturation",
                "empirical_saturation",
                "activation_channel_saturation",
                "skewness",
                "sparsity",
            ):
                assert getattr(other, key) == pytest.approx(
                    getattr(layer, key), rel=1e-6
                ), (name, key)
            np.testing.assert_allclose(
                other.channel_skewness,
                layer.channel_skewness,
                rtol=1e-6,
                atol=1e-6,
            )
            np.testing.assert_array_equal(other.histogram, layer.histogram)


def test_too_few_values_for_skewness_is_a_clear_error(rng):
    model = adversarial_model(rng)
    ds = tf.data.Dataset.from_tensor_slices(adversarial_images(rng, 2))
    with pytest.raises(ValueError, match="more than 2 values per channel"):
        activation_stats(model, ds.batch(2))


def test_bad_input_names_the_problem(rng):
    model = adversarial_model(rng)
    empty = tf.data.Dataset.from_tensor_slices(
        np.zeros((0, 3, 3, C), "float32")
    ).batch(4)
    with pytest.raises(ValueError, match="dataset is empty"):
        activation_stats(model, empty)
    wrong = tf.data.Dataset.from_tensor_slices(
        np.zeros((4, 5, 5, C), "float32")
    ).batch(4)
    with pytest.raises(
        ValueError, match=r"shape \(5, 5, 6\).*takes \(3, 3, 6\)"
    ):
        activation_stats(model, wrong)
    raw = tf.data.Dataset.from_tensor_slices(
        np.zeros((4, 3, 3, C), "uint8")
    ).batch(4)
    with pytest.raises(ValueError, match="uint8"):
        activation_stats(model, raw)

    no_blocks = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no activation layer"):
        activation_stats(no_blocks, empty)

    inputs = keras.Input((3, 3, C))
    a = blocks.SwapBlock(2, kernel_size=1)(inputs)
    b = blocks.SwapBlock(2, kernel_size=1)(inputs)
    branched = keras.Model(inputs, keras.layers.Add()([a, b]))
    with pytest.raises(ValueError, match="not a chain of layers"):
        activation_stats(branched, empty)


@pytest.mark.parametrize(
    "distributed", [False, pytest.param(True, marks=pytest.mark.large)]
)
def test_evaluating_in_the_statistics_pass_equals_two_passes(
    rng, mirrored, distributed
):
    from bnorder_tf.training.steps import Trainer

    strategy = mirrored if distributed else tf.distribute.get_strategy()
    with strategy.scope():
        keras.utils.set_random_seed(5)
        model = build_model("vgg16_8", order="swap", activation="tanh",
                            num_classes=4, input_shape=(16, 16, 3),
                            width=0.0625, weight_decay=1e-3)  # fmt: skip
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(model.trainable_variables)
    x = rng.normal(size=(21, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 4, 21)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)  # 8, 8, 5
    one = ActivationStatsPass(model, strategy=strategy, evaluate=True)(ds)
    stats_alone = ActivationStatsPass(model, strategy=strategy)(ds)
    trainer = Trainer(model, optimizer, strategy, 8)
    evaluation = trainer.evaluate(trainer.distribute_eval(ds))
    assert one.evaluation["loss"] == pytest.approx(evaluation["loss"], 1e-6)
    assert one.evaluation["accuracy"] == evaluation["accuracy"]
    assert one.to_dict() == stats_alone.to_dict()
    # and by hand, from the logits: mean cross-entropy + 0.5 wd sum w^2
    logits = model(x, training=False).numpy().astype("float64")
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    decay = (
        0.5
        * 1e-3
        * sum(
            float(np.sum(w.numpy().astype("float64") ** 2))
            for w in model.trainable_variables
        )
    )
    assert one.evaluation["loss"] == pytest.approx(
        -log_p[np.arange(21), y].mean() + decay, rel=1e-5
    )
    assert one.evaluation["accuracy"] == np.mean(logits.argmax(1) == y)


def test_nan_activations_give_missing_statistics_not_numbers():
    from bnorder_tf.models import build_model
    from bnorder_tf.stats import activation_stats

    keras.utils.set_random_seed(0)
    model = build_model(
        "vgg16_8",
        order="swap",
        activation="tanh",
        num_classes=3,
        input_shape=(16, 16, 3),
        width=0.0625,
    )
    images = np.random.default_rng(0).normal(size=(8, 16, 16, 3))
    images[0, 0, 0, 0] = np.nan
    import tensorflow as tf

    result = activation_stats(
        model,
        tf.data.Dataset.from_tensor_slices(
            (images.astype("float32"), np.zeros(8, "int64"))
        ).batch(4),
    )
    assert result.model == {
        "saturation": None,
        "skewness": None,
        "sparsity": None,
    }
    conv1 = result.layers["conv1"]
    assert conv1.sparsity is None and conv1.saturation is None
    assert "NaN" not in run_dir.dumps_strict(result.to_dict())
