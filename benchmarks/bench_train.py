"""Benchmark: training speed of the package's blocks against plain Keras.

VGG16_11 at width 0.25, batch 128, 32x32x3, Swap order with tanh, trained
with the package's `Trainer` step (the one `trainers/train.py` runs)
twice over: built from `bnorder_tf` blocks, and written out with plain
`Conv2D` / `Activation` / `BatchNormalization` layers. The two alternate
in one process, each timed over the same number of steps after a warm-up;
the medians give the ratio blocks / plain in images per second (target
>= 0.98). Then the same with XLA (`jit_compile=True`) on the step. In
the record, the blocks are against plain Keras with the same XLA setting,
and plain Keras with XLA against plain Keras without.

Usage: python benchmarks/bench_train.py [--steps 20] [--repeats 5]
    [--no_record] [--results_dir DIR]
"""

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import record  # noqa: E402
import tensorflow as tf  # noqa: E402

from bnorder_tf import build_model  # noqa: E402
from bnorder_tf.layers.regularizers import WeightDecay  # noqa: E402
from bnorder_tf.models.common import scaled  # noqa: E402
from bnorder_tf.models.vgg import truncated_vgg16  # noqa: E402
from bnorder_tf.training.steps import Trainer  # noqa: E402

BATCH, CLASSES, WIDTH, DECAY = 128, 100, 0.25, 5e-4


def package_model():
    return build_model(
        "vgg16_11",
        order="swap",
        activation="tanh",
        num_classes=CLASSES,
        input_shape=(32, 32, 3),
        width=WIDTH,
        weight_decay=DECAY,
    )


def plain_model():
    """The same network from stock Keras layers (Swap: conv, tanh, BN)."""
    decay = WeightDecay(DECAY)
    bn = dict(
        momentum=0.9,
        epsilon=1e-5,
        gamma_regularizer=decay,
        beta_regularizer=decay,
    )
    layers = [keras.Input((32, 32, 3))]
    for entry in truncated_vgg16(11):
        if entry == "M":
            layers.append(keras.layers.MaxPooling2D())
            continue
        layers += [
            keras.layers.Conv2D(
                scaled(entry, WIDTH),
                3,
                padding="same",
                kernel_regularizer=decay,
                bias_regularizer=decay,
            ),
            keras.layers.Activation("tanh"),
            keras.layers.BatchNormalization(**bn),
        ]
    layers.append(keras.layers.Flatten())
    for _ in range(2):
        layers += [
            keras.layers.Dense(
                scaled(512, WIDTH),
                kernel_regularizer=decay,
                bias_regularizer=decay,
            ),
            keras.layers.Activation("tanh"),
            keras.layers.BatchNormalization(**bn),
        ]
    layers.append(
        keras.layers.Dense(
            CLASSES, kernel_regularizer=decay, bias_regularizer=decay
        )
    )
    return keras.Sequential(layers)


def make_step(build, jit_compile):
    strategy = tf.distribute.get_strategy()
    model = build()
    optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
    optimizer.build(model.trainable_variables)
    trainer = Trainer(
        model, optimizer, strategy, BATCH, jit_compile=jit_compile
    )
    rng = np.random.default_rng(0)
    images = rng.normal(size=(BATCH, 32, 32, 3)).astype("float32")
    labels = rng.integers(0, CLASSES, BATCH)
    dataset = tf.data.Dataset.from_tensors((images, labels)).repeat()
    iterator = iter(strategy.experimental_distribute_dataset(dataset))
    return model, lambda: trainer.train_step(iterator)


def images_per_second(step, steps):
    start = time.perf_counter()
    for _ in range(steps):
        out = step()
    float(out["loss"])  # wait for the last step
    return steps * BATCH / (time.perf_counter() - start)


def compare(jit_compile, steps, repeats):
    package, package_step = make_step(package_model, jit_compile)
    plain, plain_step = make_step(plain_model, jit_compile)
    assert package.count_params() == plain.count_params()
    for step in (package_step, plain_step):  # trace and warm up
        images_per_second(step, 3)
    rates = {"blocks": [], "plain": []}
    for _ in range(repeats):
        rates["blocks"].append(images_per_second(package_step, steps))
        rates["plain"].append(images_per_second(plain_step, steps))
    blocks = statistics.median(rates["blocks"])
    plain_rate = statistics.median(rates["plain"])
    label = "XLA on " if jit_compile else "XLA off"
    print(
        f"{label}: blocks {blocks:7.0f} img/s, plain Keras "
        f"{plain_rate:7.0f} img/s, ratio {blocks / plain_rate:.3f} "
        "(target >= 0.98)",
        flush=True,
    )
    return blocks, plain_rate


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=5)
    record.add_arguments(parser)
    args = parser.parse_args()
    print(
        f"VGG16_11 width {WIDTH}, batch {BATCH}, 32x32x3, "
        f"{args.steps} steps x {args.repeats} repeats, medians"
    )
    off = compare(False, args.steps, args.repeats)
    on = compare(True, args.steps, args.repeats)
    print(f"XLA on / off (blocks): {on[0] / off[0]:.3f}")
    plain_off, plain_on = "XLA off: plain Keras", "XLA on: plain Keras"
    rows = [
        dict(measurement=plain_off, value=off[1], unit="images/s"),
        dict(measurement="XLA off: blocks", value=off[0], unit="images/s"),
        dict(measurement=plain_on, value=on[1], unit="images/s"),
        dict(
            measurement="XLA on: blocks",
            value=on[0],
            unit="images/s",
            baseline=plain_on,
        ),
    ]
    record.save(args, "bench_train", rows, baseline=plain_off)


if __name__ == "__main__":
    main()
