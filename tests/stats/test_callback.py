import json

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from bnorder_tf import build_model
from bnorder_tf.layers import blocks
from bnorder_tf.stats import (
    ActivationStatsCallback,
    gradient_stats,
    tap_outputs,
)
from tests.stats import reference


def _data(rng, n=48):
    x = rng.normal(size=(n, 16, 16, 3)).astype("float32")
    y = rng.integers(0, 4, size=n)
    return x, y


def _small_model(order):
    """A compiled two-block model of the given order: 16x16 inputs, 4 classes.

    Glorot initialisation: with the smaller torch default some channels
    are nearly constant, and their skewness then carries more than the
    1e-6 of float32 round-off between two separate forward passes (the
    callback's and the reference's).
    """
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            *(
                blocks.Block(
                    8,
                    order=order,
                    activation="tanh",
                    kernel_initializer="glorot_uniform",
                    name=name,
                )
                for name in ("conv1", "conv2")
            ),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(4, name="logits"),
        ]
    )
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


@pytest.mark.large
def test_callback_under_mirrored_fit_logs_exact_values(tmp_path, rng, mirrored):
    x, y = _data(rng)
    eval_ds = tf.data.Dataset.from_tensor_slices((x[:21], y[:21])).batch(8)
    strategy = mirrored
    with strategy.scope():
        model = build_model(
            "vgg16_8",
            order="swap",
            activation="tanh",
            num_classes=4,
            input_shape=(16, 16, 3),
            width=0.0625,
        )
        model.compile(
            optimizer=keras.optimizers.SGD(0.01),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        )
    callback = ActivationStatsCallback(eval_ds, every=1, log_dir=tmp_path)
    csv = keras.callbacks.CSVLogger(str(tmp_path / "history.csv"))
    # a dataset, not arrays: Keras's array adapter under MirroredStrategy
    # left an iterator whose destruction stalled for 15-100 s at random
    train_ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
    history = model.fit(
        train_ds, epochs=2, verbose=0, callbacks=[callback, csv]
    )

    # after the last epoch the logged values equal the NumPy reference
    acts = tap_outputs(model, x[:21])
    conv_blocks = [la for la in model.layers if isinstance(la, blocks.Block)]
    expected_sat = np.mean(
        [
            reference.saturation([acts[b.name]["activation"]], 1.0)
            for b in conv_blocks
        ]
    )
    expected_sparsity = np.mean(
        [reference.sparsity([acts[b.name]["output"]]) for b in conv_blocks]
    )
    assert history.history["saturation"][-1] == pytest.approx(
        expected_sat, rel=1e-5
    )
    assert history.history["sparsity"][-1] == pytest.approx(
        expected_sparsity, rel=1e-5
    )
    assert len(history.history["skewness"]) == 2

    lines = (tmp_path / "stats.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [0, 1]
    assert records[-1]["model"]["saturation"] == pytest.approx(
        expected_sat, rel=1e-5
    )
    assert set(records[0]["layers"]) == {b.name for b in conv_blocks}
    header = (tmp_path / "history.csv").read_text().splitlines()[0]
    assert {"saturation", "skewness", "sparsity"} <= set(header.split(","))
    assert list((tmp_path / "tensorboard" / "stats").iterdir())


def test_callback_every_n_epochs(rng):
    x, y = _data(rng, 16)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    model = _small_model("convention")
    seen = []
    record = keras.callbacks.LambdaCallback(
        on_epoch_end=lambda epoch, logs: seen.append("skewness" in logs)
    )
    model.fit(
        ds,
        epochs=4,
        verbose=0,
        callbacks=[ActivationStatsCallback(ds, every=2), record],
    )
    assert seen == [False, True, False, True]


def test_callback_without_histograms_writes_none(tmp_path, rng):
    x, y = _data(rng, 16)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    model = _small_model("swap")
    model.fit(
        ds,
        epochs=1,
        verbose=0,
        callbacks=[
            ActivationStatsCallback(ds, log_dir=tmp_path, histogram_bins=0)
        ],
    )
    record = json.loads((tmp_path / "stats.jsonl").read_text())
    acts = tap_outputs(model, x)
    for name, layer in record["layers"].items():
        assert layer["histogram"] is None
        expected = scipy.stats.skew(
            reference.per_channel(acts[name]["activation"]), bias=False
        )
        # atol: a skewness near 0 carries the float32 taps' round-off
        np.testing.assert_allclose(
            layer["channel_skewness"], expected, rtol=1e-5, atol=1e-6
        )
    assert list((tmp_path / "tensorboard" / "stats").iterdir())


def test_gradient_stats_match_hand_computed_gradients(rng):
    model = keras.Sequential(
        [
            keras.Input((3,)),
            blocks.NoBNBlock(
                4, kind="dense", activation="tanh", weight_decay=1e-2, name="h"
            ),
            keras.layers.Dense(2, name="logits"),
        ]
    )
    x = rng.normal(size=(5, 3)).astype("float32")
    y = rng.integers(0, 2, size=5)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(5)
    got = gradient_stats(model, ds, num_batches=1)["h"]

    w1, b1 = (v.numpy().astype("f8") for v in model.get_layer("h").weights)
    w2, b2 = (v.numpy().astype("f8") for v in model.get_layer("logits").weights)
    z = x @ w1 + b1
    a = np.tanh(z)
    logits = a @ w2 + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dlogits = (p - np.eye(2)[y]) / len(x)
    dz = (dlogits @ w2.T) * (1 - a**2)
    dw1 = x.T @ dz + 1e-2 * w1  # 0.5 * wd * ||w||^2 has gradient wd * w
    assert got["input_abs_mean"] == pytest.approx(np.abs(x).mean(), rel=1e-6)
    assert got["preactivation_grad_abs_mean"] == pytest.approx(
        np.abs(dz).mean(), rel=1e-5
    )
    assert got["kernel_grad_abs_mean"] == pytest.approx(
        np.abs(dw1).mean(), rel=1e-5
    )
    # the cross-entropy's gradient alone, as PyTorch's .grad in the paper
    assert got["kernel_loss_grad_abs_mean"] == pytest.approx(
        np.abs(x.T @ dz).mean(), rel=1e-5
    )


def _fit_and_read_records(tmp_path, rng, epochs, **callback_kwargs):
    """Fits a small Swap model with the callback; its stats.jsonl records."""
    x, y = _data(rng, 16)
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(8)
    model = _small_model("swap")
    callback = ActivationStatsCallback(ds, log_dir=tmp_path, **callback_kwargs)
    model.fit(ds, epochs=epochs, verbose=0, callbacks=[callback])
    return [
        json.loads(line)
        for line in (tmp_path / "stats.jsonl").read_text().splitlines()
    ]


def test_histograms_every_n_epochs_and_at_the_last(tmp_path, rng):
    records = _fit_and_read_records(tmp_path, rng, 4, histogram_every=3)
    drawn = [r["layers"]["conv1"]["histogram"] is not None for r in records]
    assert drawn == [False, False, True, True]
    # the other values are measured in every epoch
    assert all(r["model"]["sparsity"] is not None for r in records)


def test_gradient_stats_run_in_training_mode_and_leave_the_model(rng):
    # a Swap dense block: z = xW + b, a = tanh(z), y = BN(a) with the
    # batch's statistics (training mode), then logits; backward in NumPy
    model = keras.Sequential(
        [
            keras.Input((3,)),
            blocks.SwapBlock(4, kind="dense", activation="tanh", name="h"),
            keras.layers.Dense(2, name="logits"),
        ]
    )
    x = rng.normal(size=(6, 3)).astype("float32")
    y = rng.integers(0, 2, size=6)
    before = [v.numpy() for v in model.non_trainable_variables]
    ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(6)
    got = gradient_stats(model, ds, num_batches=1)["h"]
    for variable, value in zip(
        model.non_trainable_variables, before, strict=True
    ):
        np.testing.assert_array_equal(variable.numpy(), value)

    h = model.get_layer("h")
    w1, b1 = (v.numpy().astype("f8") for v in h.weight_layer.weights)
    gamma, beta = (v.numpy().astype("f8") for v in (h.norm.gamma, h.norm.beta))
    w2, b2 = (v.numpy().astype("f8") for v in model.get_layer("logits").weights)
    a = np.tanh(x @ w1 + b1)
    mean, var = a.mean(0), a.var(0)
    xhat = (a - mean) / np.sqrt(var + 1e-5)
    logits = (gamma * xhat + beta) @ w2 + b2
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    dy = ((p - np.eye(2)[y]) / len(x)) @ w2.T
    dxhat = dy * gamma
    da = (dxhat - dxhat.mean(0) - xhat * (dxhat * xhat).mean(0)) / np.sqrt(
        var + 1e-5
    )
    dz = da * (1 - a**2)
    assert got["preactivation_grad_abs_mean"] == pytest.approx(
        np.abs(dz).mean(), rel=1e-4
    )
    assert got["kernel_grad_abs_mean"] == pytest.approx(
        np.abs(x.T @ dz).mean(), rel=1e-4
    )
    # without decay, the two kernel gradients are one
    assert got["kernel_loss_grad_abs_mean"] == got["kernel_grad_abs_mean"]


def test_by_default_histograms_only_at_the_last_epoch(tmp_path, rng):
    records = _fit_and_read_records(tmp_path, rng, 3)
    drawn = [r["layers"]["conv1"]["histogram"] is not None for r in records]
    assert drawn == [False, False, True]
