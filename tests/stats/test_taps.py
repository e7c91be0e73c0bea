"""Statistics of Keras models that are not built from bnorder_tf blocks.

Each expected value comes from a `keras.Model(inputs, [tapped outputs])`
built here by hand and the NumPy/SciPy references of `tests/stats/
reference.py`, never from `bnorder_tf.stats`.
"""

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from bnorder_tf.stats import (
    ActivationStatsCallback,
    ModelTaps,
    activation_stats,
)
from tests.stats import reference


def _randomise_norms(model, rng):
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            c = layer.gamma.shape[0]
            layer.gamma.assign(rng.uniform(0.5, 2.0, c).astype("float32"))
            layer.beta.assign(rng.normal(size=c).astype("float32"))
            layer.moving_mean.assign(rng.normal(size=c).astype("float32"))


def branching_model(rng):
    """A branching functional model with every kind of tap.

    c1: Conv2D with a built-in tanh, consumed by a BN only: Swap.
    a2: Activation("tanh") after Conv2D -> BN: Convention.
    a3: ReLU after a DepthwiseConv2D, feeding two layers: NoBN, unbounded.
    f:  Dense with bnorder_tf's LeCun tanh, no BN: NoBN, bound 1.7159.
    out: Dense with softmax: not tapped.
    """
    inputs = keras.Input((6, 6, 3), name="image")
    c1 = keras.layers.Conv2D(
        4, 3, padding="same", activation="tanh", name="c1"
    )(inputs)
    b1 = keras.layers.BatchNormalization(name="c1_bn")(c1)
    c2 = keras.layers.Conv2D(5, 1, name="c2")(b1)
    n2 = keras.layers.BatchNormalization(name="c2_bn")(c2)
    a2 = keras.layers.Activation("tanh", name="a2")(n2)
    d3 = keras.layers.DepthwiseConv2D(3, padding="same", name="d3")(b1)
    a3 = keras.layers.ReLU(name="a3")(d3)
    merged = keras.layers.Concatenate()([a2, a3])
    pooled = keras.layers.Add()(
        [
            keras.layers.GlobalAveragePooling2D()(merged),
            keras.layers.Dense(9, name="skip")(
                keras.layers.GlobalMaxPooling2D()(a3)
            ),
        ]
    )
    f = keras.layers.Dense(6, activation="bnorder_tf>lecun_tanh", name="f")(
        pooled
    )
    out = keras.layers.Dense(3, activation="softmax", name="out")(f)
    model = keras.Model(inputs, out)
    _randomise_norms(model, rng)
    return model


def _reference(model, images, taps):
    """Per tap: (activation, output) values over `images`.

    From a model built here on the tensors named in `taps`
    (`{name: (act, out)}`).
    """
    names = [n for pair in taps.values() for n in pair]
    outputs = [model.get_layer(n).output for n in names]
    values = keras.Model(model.inputs, outputs).predict(images, verbose=0)
    by_name = dict(zip(names, values, strict=True))
    return {
        tap: (
            reference.per_channel(by_name[act]),
            reference.per_channel(by_name[out]),
        )
        for tap, (act, out) in taps.items()
    }


def _defined_skewness(values):
    std = values.std(axis=0)
    defined = std > 1e-12 * np.abs(values).max(axis=0)
    skew = scipy.stats.skew(values[:, defined], axis=0, bias=False)
    return float(np.mean(np.abs(skew))) if defined.any() else None


def _check(result, expected, bounds):
    for name, (activation, output) in expected.items():
        layer = result.layers[name]
        if bounds[name] is None:
            assert layer.saturation is None, name
        else:
            assert layer.saturation == pytest.approx(
                reference.saturation([activation], bounds[name]), rel=1e-5
            ), name
        assert layer.skewness == pytest.approx(
            _defined_skewness(activation), rel=1e-4
        ), name
        assert layer.sparsity == pytest.approx(
            reference.sparsity([output]), rel=1e-5, abs=1e-6
        ), name


def test_branching_model_taps_every_activation_with_its_order(rng):
    model = branching_model(rng)
    model_taps = ModelTaps(model)
    found = {t.name: (t.order, t.kind, t.bound) for t in model_taps.taps}
    assert found == {
        "c1": ("swap", "conv", 1.0),
        "a2": ("convention", "conv", 1.0),
        "a3": ("nobn", "depthwise", None),
        "f": ("nobn", "dense", 1.7159),
    }

    images = rng.normal(size=(45, 6, 6, 3)).astype("float32")
    # 45 = 4 batches of 12 with a short last one
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(12)
    result = activation_stats(model, dataset, histogram_bins=0)
    expected = _reference(
        model,
        images,
        {
            "c1": ("c1", "c1_bn"),
            "a2": ("a2", "a2"),
            "a3": ("a3", "a3"),
            "f": ("f", "f"),
        },
    )
    _check(result, expected, {"c1": 1.0, "a2": 1.0, "a3": None, "f": 1.7159})
    # the Swap tap's block output is the BN, not the activation
    assert result.layers["c1"].sparsity != pytest.approx(
        reference.sparsity([expected["c1"][0]]), rel=1e-3
    )
    levels = result.model
    assert levels["sparsity"] == pytest.approx(
        np.mean([result.layers[n].sparsity for n in expected])
    )
    # saturation averages the three bounded taps only
    assert levels["saturation"] == pytest.approx(
        np.mean([result.layers[n].saturation for n in ("c1", "a2", "f")])
    )


def test_named_taps_measure_only_those_layers(rng):
    model = branching_model(rng)
    images = rng.normal(size=(20, 6, 6, 3)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(8)
    result = activation_stats(
        model, dataset, taps=["f", "skip"], histogram_bins=0
    )
    assert list(result.layers) == ["skip", "f"]
    # a layer without an activation is measured as its output, unbounded
    expected = _reference(model, images, {"skip": ("skip", "skip")})
    _check(result, expected, {"skip": None})
    with pytest.raises(ValueError, match=r"tap 'nope'; valid values are: c1, "):
        ModelTaps(model, taps=["nope"])


def test_a_model_with_nothing_to_tap_is_refused():
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    with pytest.raises(ValueError, match="no activation layer"):
        ModelTaps(model)


@pytest.mark.large
def test_keras_applications_mobilenet(rng):
    model = keras.applications.MobileNet(weights=None, input_shape=(32, 32, 3))
    model_taps = ModelTaps(model)
    relus = [
        layer.name
        for layer in model.layers
        if isinstance(layer, keras.layers.ReLU)
    ]
    assert len(relus) == 27
    assert model_taps.names == relus  # the softmax output is left out
    assert {t.order for t in model_taps.taps} == {"convention"}
    kinds = {t.name: t.kind for t in model_taps.taps}
    assert kinds["conv1_relu"] == "conv"
    assert kinds["conv_dw_1_relu"] == "depthwise"
    assert kinds["conv_pw_1_relu"] == "conv"

    images = rng.normal(size=(24, 32, 32, 3)).astype("float32")
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(10)
    result = activation_stats(model, dataset, histogram_bins=0)
    expected = _reference(model, images, {n: (n, n) for n in relus})
    # ReLU6 has no symmetric bound: saturation is missing, the rest is not
    _check(result, expected, dict.fromkeys(relus))
    assert result.model["saturation"] is None
    assert result.model["skewness"] is not None
    assert result.model["sparsity"] is not None


def test_callback_measures_any_model_during_fit(rng, tmp_path):
    model = branching_model(rng)
    model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
    images = rng.normal(size=(32, 6, 6, 3)).astype("float32")
    labels = rng.integers(0, 3, size=32)
    dataset = tf.data.Dataset.from_tensor_slices((images, labels)).batch(8)
    callback = ActivationStatsCallback(
        dataset, log_dir=str(tmp_path), histogram_bins=4
    )
    history = model.fit(dataset, epochs=2, callbacks=[callback], verbose=0)
    after = activation_stats(model, dataset, histogram_bins=0)
    assert history.history["sparsity"][-1] == pytest.approx(
        after.model["sparsity"], rel=1e-6
    )
    record = callback.last_result
    assert set(record["layers"]) == {"c1", "a2", "a3", "f"}
    assert (tmp_path / "stats.jsonl").read_text().count("\n") == 2
