"""A training step against NumPy, and the metrics and optimizer it uses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from bnorder_tf.models import build_model
from bnorder_tf.training import steps
from bnorder_tf.training.config import TrainConfig


def _first_step(strategy, images, labels):
    keras.utils.set_random_seed(11)
    with strategy.scope():
        model = build_model(
            "vgg16_8",
            order="swap",
            activation="tanh",
            num_classes=10,
            input_shape=(16, 16, 3),
            width=0.0625,
            weight_decay=1e-2,
            bn_synchronized=True,
        )
        optimizer = keras.optimizers.SGD(0.1, momentum=0.9)
        optimizer.build(model.trainable_variables)
    initial = [v.numpy() for v in model.trainable_variables]
    trainer = steps.Trainer(model, optimizer, strategy, len(images))
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(len(images))
    iterator = iter(strategy.experimental_distribute_dataset(ds))
    logs = {k: float(v) for k, v in trainer.train_step(iterator).items()}
    return model, initial, logs


def test_mirrored_first_step_equals_one_device_and_numpy(rng, mirrored):
    images = rng.normal(size=(16, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 10, size=16)
    single, initial, one = _first_step(
        tf.distribute.get_strategy(), images, labels
    )
    twin, _, two = _first_step(mirrored, images, labels)

    # the reference loss, from the initial weights, outside the loop: the
    # mean cross-entropy plus 0.5 * wd * sum w^2 over every parameter
    model = build_model(
        "vgg16_8",
        order="swap",
        activation="tanh",
        num_classes=10,
        input_shape=(16, 16, 3),
        width=0.0625,
        weight_decay=1e-2,
    )
    for variable, value in zip(model.trainable_variables, initial, strict=True):
        variable.assign(value)
    logits = model(images, training=True).numpy().astype("float64")
    log_softmax = logits - logits.max(1, keepdims=True)
    log_softmax -= np.log(np.exp(log_softmax).sum(1, keepdims=True))
    cross_entropy = -log_softmax[np.arange(16), labels].mean()
    decay = (
        0.5
        * 1e-2
        * sum(float(np.sum(w.astype("float64") ** 2)) for w in initial)
    )

    accuracy = np.mean(logits.argmax(1) == labels)
    for logs in (one, two):
        assert logs["loss"] == pytest.approx(cross_entropy + decay, rel=1e-5)
        assert logs["accuracy"] == pytest.approx(accuracy, abs=1e-12)
    # the first updates agree to float32 accuracy, with room for BN over 8
    # or 16 values per channel, which amplifies rounding; with per-replica
    # BN statistics they differ far beyond that
    for a, b, w0 in zip(
        single.trainable_variables,
        twin.trainable_variables,
        initial,
        strict=True,
    ):
        update_one, update_two = a.numpy() - w0, b.numpy() - w0
        scale = np.abs(update_one).max()
        assert np.abs(update_two - update_one).max() <= 2e-3 * scale, a.path
    moved = [
        not np.allclose(a.numpy(), w0)
        for a, w0 in zip(single.trainable_variables, initial, strict=True)
    ]
    assert all(moved)


@pytest.mark.large
def test_xla_step_trains_like_the_plain_step(rng):
    images = rng.normal(size=(16, 16, 16, 3)).astype("float32")
    labels = rng.integers(0, 10, size=16)
    strategy = tf.distribute.get_strategy()
    results = []
    for jit_compile in (False, True):
        keras.utils.set_random_seed(4)
        model = build_model(
            "vgg16_11",
            order="swap",
            activation="tanh",
            num_classes=10,
            input_shape=(16, 16, 3),
            width=0.0625,
        )
        optimizer = keras.optimizers.SGD(0.1)
        optimizer.build(model.trainable_variables)
        trainer = steps.Trainer(
            model, optimizer, strategy, 16, jit_compile=jit_compile
        )
        ds = tf.data.Dataset.from_tensors((images, labels)).repeat()
        iterator = iter(strategy.experimental_distribute_dataset(ds))
        initial = [v.numpy() for v in model.trainable_variables]
        losses = [float(trainer.train_step(iterator)["loss"])]
        updates = [
            v.numpy() - w
            for v, w in zip(model.trainable_variables, initial, strict=True)
        ]
        for _ in range(2):
            trainer.train_metrics.reset_state()
            losses.append(float(trainer.train_step(iterator)["loss"]))
        # the replica step itself is XLA-compiled only when asked
        assert (
            getattr(trainer._replica_step, "_jit_compile", False) is jit_compile
        )
        results.append((losses, updates))
    (plain_losses, plain), (xla_losses, xla) = results
    assert xla_losses == pytest.approx(plain_losses, rel=1e-4)
    assert xla_losses[2] < xla_losses[0]  # it trains
    # the first updates agree to float32 accuracy (other fusion, other
    # rounding), as in the mirrored test
    for a, b in zip(plain, xla, strict=True):
        assert np.abs(b - a).max() <= 2e-3 * np.abs(a).max()


def test_learning_rate_steps_down_at_the_milestones():
    config = TrainConfig(learning_rate=0.1, lr_milestones=(2, 5), lr_decay=0.1)
    optimizer = steps.make_optimizer(config, steps_per_epoch=10)
    schedule = (
        optimizer.learning_rate_schedule
        if hasattr(optimizer, "learning_rate_schedule")
        else optimizer._learning_rate
    )
    got = [float(schedule(step)) for step in (0, 19, 20, 21, 49, 50, 51, 99)]
    # boundaries are "step <= 20 -> 0.1", as in PiecewiseConstantDecay
    assert got == pytest.approx([0.1, 0.1, 0.1, 0.01, 0.01, 0.01, 0.001, 0.001])


def test_step_metrics_average_over_examples_not_steps():
    metrics = steps.StepMetrics()
    # a step of 3 examples, then one of 5 (a short last batch), by hand:
    # cross-entropy (1.2 + 4.0) / 8, accuracy (2 + 1) / 8, and the
    # regularization averaged over the examples, (3 * 0.5 + 5 * 0.25) / 8
    logits_3 = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    metrics.update_state(
        np.array([0, 1, 1]), logits_3, np.array([0.2, 0.4, 0.6]), None, 0.5
    )
    logits_5 = np.array([[1.0, 0.0]] * 5)
    metrics.update_state(
        np.array([0, 1, 1, 1, 1]), logits_5, np.full(5, 0.8), None, 0.25
    )
    result = {k: float(v) for k, v in metrics.result().items()}
    assert result["loss"] == pytest.approx(5.2 / 8 + 2.75 / 8, rel=1e-12)
    assert result["accuracy"] == pytest.approx(3 / 8, rel=1e-12)
    # padding rows (weight 0) change nothing
    metrics.update_state(
        np.array([1, 1]), logits_3[:2], np.array([9.0, 9.0]),
        np.array([0.0, 0.0]), 7.0,
    )  # fmt: skip
    assert {k: float(v) for k, v in metrics.result().items()} == result
