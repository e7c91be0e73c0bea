"""Benchmark: what the training loop adds to the bare step.

Two comparisons, each in one process with alternating repeats:

1. A real epoch against bare steps (the issue's floor: >= 0.95). The
   real epoch is `run_training`, the path `trainers/train.py` takes, on
   Fashion-MNIST with its input pipeline (shuffle, vectorized crop and
   flip), the loop and its callbacks, statistics off. Its training time
   per epoch is the difference between a 2-epoch and a 1-epoch run (the
   runs' `train_seconds`, which leave out evaluation), so tracing and
   start-up cancel. The bare step is `Trainer.train_step` on one fixed
   batch, the same network. Ratio: images/s of the epoch / of the bare
   step.
2. The loop's overhead per step on a tiny model, where overhead is most
   of a step: `run_training` against Keras's own `model.fit` on the same
   model and pipeline (both without a progress bar), each as time per
   step above the bare step; fit both as a user calls it and inside the
   `OneDeviceStrategy` that `run_training` uses on one device.

Each network's bare step is the baseline of its own rows in the record.

Usage: python benchmarks/bench_loop.py [--steps 200] [--repeats 3]
    [--networks NAME...] [--no_record] [--results_dir DIR]
"""

import argparse
import os
import statistics
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import record  # noqa: E402
import tensorflow as tf  # noqa: E402

from bnorder_tf import data  # noqa: E402
from bnorder_tf.models import build_model  # noqa: E402
from bnorder_tf.training import distribute, runner  # noqa: E402
from bnorder_tf.training.config import TrainConfig  # noqa: E402
from bnorder_tf.training.steps import Trainer, make_optimizer  # noqa: E402

BATCH = 128
NETWORKS = {
    # the network: VGG16_11 Swap tanh at width 0.25
    "vgg16_11 width 0.25": dict(model="vgg16_11", width=0.25),
    # a tiny one, where the loop's overhead is most of a step
    "vgg16_8 width 0.0625": dict(model="vgg16_8", width=0.0625),
}


def config_for(network, steps, epochs, directory):
    return TrainConfig(
        dataset="fashion_mnist",
        order="swap",
        activation="tanh",
        batch_size=BATCH,
        learning_rate=0.01,
        lr_milestones=(),
        steps_per_epoch=steps,
        eval_steps=1,
        epochs=epochs,
        stats_every=0,
        model_dir=os.path.join(directory, "runs"),
        export_dir=os.path.join(directory, "savedmodels"),
        run_name=f"e{epochs}",
        **network,
    )


def run_seconds(network, steps, epochs):
    """Training seconds of a `run_training` of `epochs` epochs."""
    with tempfile.TemporaryDirectory() as directory:
        config = config_for(network, steps, epochs, directory)
        summary = runner.run_training(config, verbose=0).summary
    images = steps * BATCH * epochs
    return images / summary["train_images_per_second"]


def loop_seconds_per_step(network, steps):
    """The real loop's seconds per step: (2 epochs - 1 epoch) / steps."""
    return (
        run_seconds(network, steps, 2) - run_seconds(network, steps, 1)
    ) / steps


def _model_and_data(network, steps):
    config = config_for(network, steps, 1, "/tmp")
    train = data.load("fashion_mnist", "train", batch_size=BATCH, seed=0)
    keras.utils.set_random_seed(0)
    model = build_model(
        config.model,
        order=config.order,
        activation=config.activation,
        num_classes=train.num_classes,
        input_shape=train.input_shape,
        width=config.width,
        weight_decay=config.weight_decay,
    )
    return config, model, train


def bare_seconds_per_step(network, steps):
    """`Trainer.train_step` on one fixed batch of the same network."""
    config, model, train = _model_and_data(network, steps)
    optimizer = make_optimizer(config, steps)
    optimizer.build(model.trainable_variables)
    strategy = tf.distribute.get_strategy()
    trainer = Trainer(model, optimizer, strategy, BATCH)
    batch = next(iter(train.dataset))
    fixed = tf.data.Dataset.from_tensors(batch).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(fixed))
    for _ in range(3):  # trace and warm up
        trainer.train_step(iterator)
    start = time.perf_counter()
    for _ in range(steps):
        logs = trainer.train_step(iterator)
    float(logs["loss"])  # wait for the last step
    return (time.perf_counter() - start) / steps


def fit_seconds_per_step(network, steps, strategy=None):
    """Keras's `fit` on the same model and pipeline, seconds per step.

    The second epoch's time per step (the first one traces). With
    `strategy` (the run's `OneDeviceStrategy`), model and fit are in its
    scope, as the loop.
    """
    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        config, model, train = _model_and_data(network, steps)
        model.compile(
            optimizer=make_optimizer(config, steps),
            loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            metrics=["accuracy"],
        )
    times = []

    class EpochTimes(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            times.append(time.perf_counter() - self.start)

    with strategy.scope():
        model.fit(
            train.dataset.repeat(),
            epochs=2,
            steps_per_epoch=steps,
            verbose=0,
            callbacks=[EpochTimes()],
        )
    return times[-1] / steps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--networks", nargs="*", default=list(NETWORKS), choices=NETWORKS
    )
    record.add_arguments(parser)
    args = parser.parse_args()
    rows = []
    print(
        f"Fashion-MNIST, batch {BATCH}, Swap tanh, {args.steps} steps per "
        f"epoch, {args.repeats} alternating repeats, medians"
    )
    for name in args.networks:
        network = NETWORKS[name]
        times = {"bare": [], "loop": [], "fit": [], "fit_one_device": []}
        one_device = distribute.get_strategy("one_device")
        for _ in range(args.repeats):
            times["bare"].append(bare_seconds_per_step(network, args.steps))
            times["loop"].append(loop_seconds_per_step(network, args.steps))
            times["fit"].append(fit_seconds_per_step(network, args.steps))
            times["fit_one_device"].append(
                fit_seconds_per_step(network, args.steps, one_device)
            )
        bare, loop, fit, fit_one_device = (
            statistics.median(times[k])
            for k in ("bare", "loop", "fit", "fit_one_device")
        )
        print(
            f"{name}: bare step {1000 * bare:.1f} ms ({BATCH / bare:.0f} "
            f"img/s); real epoch {1000 * loop:.1f} ms/step, ratio "
            f"{bare / loop:.3f} (floor >= 0.95); overhead per step: loop "
            f"{1000 * (loop - bare):+.1f} ms, Keras fit "
            f"{1000 * (fit - bare):+.1f} ms (in the loop's OneDeviceStrategy "
            f"{1000 * (fit_one_device - bare):+.1f} ms)",
            flush=True,
        )
        bare_row = f"{name}: bare step"
        for label, seconds in (
            ("bare step", bare),
            ("real epoch", loop),
            ("Keras fit", fit),
            ("Keras fit in OneDeviceStrategy", fit_one_device),
        ):
            rows.append(
                dict(
                    measurement=f"{name}: {label}",
                    value=seconds,
                    unit="s/step",
                    baseline=bare_row,
                )
            )
    if rows:
        record.save(args, "bench_loop", rows, baseline=rows[0]["baseline"])


if __name__ == "__main__":
    main()
