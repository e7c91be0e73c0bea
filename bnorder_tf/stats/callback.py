"""`ActivationStatsCallback`: the paper's statistics at the end of epochs.

Keras 3's TensorBoard callback logs weight histograms only; this callback
fills the gap for activations: model-level saturation, skewness and
sparsity go into the epoch's `logs` (so `History`, `CSVLogger`, the
progress bar and TensorBoard's scalars see them), per-layer values and
per-channel histograms into `stats.jsonl` and TensorBoard.
"""

import os

import keras
import numpy as np
import tensorflow as tf

from bnorder_tf._strict_json import dumps_strict
from bnorder_tf.choices import (
    DEFAULT_HISTOGRAM_BINS,
    DEFAULT_HISTOGRAM_EVERY,
    DEFAULT_STATS_PRECISION,
)
from bnorder_tf.stats import STATS_FILE
from bnorder_tf.stats.engine import ActivationStatsPass
from bnorder_tf.stats.gradients import GradientStatsPass
from bnorder_tf.stats.results import LAYER_VALUE_KEYS
from bnorder_tf.stats.taps import check_precision


class ActivationStatsCallback(keras.callbacks.Callback):
    """Measures activation statistics every `every` epochs.

    The compiled passes and the TensorBoard writer are created lazily in
    `on_train_begin` (keras-tuner deep-copies callbacks for each trial).

    Args:
        dataset: finite batched `tf.data.Dataset` of preprocessed
            `(images, labels)` (usually the test split).
        every: int, measure at the end of every `every`-th epoch, and of
            the last epoch of `fit` whatever `every` is (the final model
            is always measured).
        log_dir: optional directory: appends one JSON line per measured
            epoch to `<log_dir>/stats.jsonl` and writes per-layer scalars
            and activation histograms to TensorBoard under
            `<log_dir>/tensorboard/stats`.
        gradient_dataset: optional `(images, labels)` training batches for
            the gradient scale (figure 15).
        gradient_batches: int, batches of `gradient_dataset` to average.
        histogram_bins: int, bins of the per-channel histograms; 0 skips
            them (a faster pass; no histograms in `stats.jsonl` or
            TensorBoard).
        histogram_every: int, compute the histograms only in every
            `histogram_every`-th measured epoch and in the last epoch of
            `fit` (default 10; 1: in every measured epoch); the other
            values are computed in every measured epoch either way.
        averaged_blocks: the taps the model-level values average
            (`"all"`, `"conv"` or tap names; see `ActivationStatsPass`).
        taps: optional list of the layer names to measure; `None`: every
            block of a bnorder_tf model, or every activation of any other
            Keras model (see `bnorder_tf.stats.ModelTaps`).
        write_files: bool, false on non-chief workers (nothing is written,
            `logs` are still filled).
        evaluate: bool, evaluate the model (a classifier outputting
            logits) in the same pass: `dataset` holds `(images, labels)`
            and each measured result's `evaluation` has the loss and
            accuracy, so that a training loop that calls `measure` before
            `on_epoch_end` reads the evaluation set once per measured
            epoch (`bnorder_tf.training.runner` does).
        precision: `"float32"` (default): under mixed precision, measure
            the activations (and gradient scales) of a float32 forward
            pass from the model's float32 weights, the statistics of the
            model rather than of its 16-bit rounding; `"compute"`: as the
            mixed-precision model computes them. Training is untouched
            either way (see `bnorder_tf.stats.ActivationStatsPass`).

    Example:
    One epoch of a tiny VGG16_8 on a few random labelled images, its
    files written to a temporary directory:

    >>> import tempfile
    >>> from bnorder_tf import build_model
    >>> model = build_model("vgg16_8", order="swap", activation="tanh",
    ...                     num_classes=10, input_shape=(16, 16, 3),
    ...                     width=0.125)
    >>> model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(
    ...     from_logits=True))
    >>> images = np.random.default_rng(0).normal(size=(8, 16, 16, 3))
    >>> train_ds = test_ds = tf.data.Dataset.from_tensor_slices(
    ...     (images.astype("float32"), np.arange(8) % 10)).batch(4)
    >>> with tempfile.TemporaryDirectory() as log_dir:
    ...     history = model.fit(train_ds, epochs=1, verbose=0, callbacks=[
    ...         ActivationStatsCallback(test_ds, log_dir=log_dir)])
    ...     print(sorted(os.listdir(log_dir)))
    ['stats.jsonl', 'tensorboard']
    >>> sorted(history.history)
    ['loss', 'saturation', 'skewness', 'sparsity']
    """

    def __init__(
        self,
        dataset,
        every=1,
        log_dir=None,
        gradient_dataset=None,
        gradient_batches=0,
        histogram_bins=DEFAULT_HISTOGRAM_BINS,
        write_files=True,
        histogram_every=DEFAULT_HISTOGRAM_EVERY,
        averaged_blocks="all",
        taps=None,
        evaluate=False,
        precision=DEFAULT_STATS_PRECISION,
    ):
        super().__init__()
        self.taps = taps
        self.precision = check_precision(precision)
        self.evaluate = bool(evaluate)
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}.")
        if histogram_every < 1:
            raise ValueError(
                f"histogram_every must be >= 1, got {histogram_every}."
            )
        self.histogram_every = int(histogram_every)
        self.averaged_blocks = averaged_blocks
        self.dataset = dataset
        self.every = int(every)
        self.log_dir = log_dir
        self.gradient_dataset = gradient_dataset
        self.gradient_batches = int(gradient_batches)
        self.histogram_bins = histogram_bins
        self.write_files = write_files
        self.last_result = None
        self._stats_pass = self._gradient_pass = self._writer = None
        self._plain_pass = None
        self._measured = None  # (epoch, result) of `measure`

    def _new_pass(self, histogram_bins):
        return ActivationStatsPass(
            self.model,
            strategy=self.model.distribute_strategy,
            histogram_bins=histogram_bins,
            averaged_blocks=self.averaged_blocks,
            taps=self.taps,
            evaluate=self.evaluate,
            precision=self.precision,
        )

    def on_train_begin(self, logs=None):
        self._stats_pass = self._new_pass(self.histogram_bins)
        self._plain_pass = self._stats_pass
        if self.histogram_bins and self.histogram_every > 1:
            self._plain_pass = self._new_pass(histogram_bins=0)
        if self.gradient_dataset is not None and self.gradient_batches:
            self._gradient_pass = GradientStatsPass(
                self.model, precision=self.precision
            )
        if self.log_dir and self.write_files:
            os.makedirs(self.log_dir, exist_ok=True)
            self._writer = tf.summary.create_file_writer(
                os.path.join(self.log_dir, "tensorboard", "stats")
            )

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def _is_last(self, epoch):
        return epoch + 1 == (self.params or {}).get("epochs")

    def should_measure(self, epoch):
        """Whether the end of `epoch` is measured.

        Every `every`-th epoch is, and the last one.
        """
        return self._is_last(epoch) or (epoch + 1) % self.every == 0

    def measure(self, epoch):
        """Runs the pass for the end of `epoch` now and returns its result.

        The result is an `ActivationStats` (with `evaluation` when
        `evaluate`); `on_epoch_end(epoch)` then records it rather than
        measuring again.
        """
        if self._stats_pass is None:  # used outside fit
            self.on_train_begin()
        with_histograms = (
            self._is_last(epoch)
            or (epoch + 1) % (self.every * self.histogram_every) == 0
        )
        stats_pass = self._stats_pass if with_histograms else self._plain_pass
        self._measured = (epoch, stats_pass(self.dataset))
        return self._measured[1]

    def on_epoch_end(self, epoch, logs=None):
        if not self.should_measure(epoch):
            return
        if self._measured is None or self._measured[0] != epoch:
            self.measure(epoch)
        result = self._measured[1]
        self._measured = None
        record = {"epoch": epoch, **result.to_dict()}
        if self._gradient_pass is not None:
            record["gradients"] = self._gradient_pass(
                self.gradient_dataset, self.gradient_batches
            )
        self.last_result = record
        if logs is not None:
            logs.update(
                {k: v for k, v in result.model.items() if v is not None}
            )
        if self.log_dir and self.write_files:
            with open(os.path.join(self.log_dir, STATS_FILE), "a") as f:
                f.write(dumps_strict(record) + "\n")
                f.flush()
                os.fsync(f.fileno())
            self._write_tensorboard(epoch, result, record.get("gradients"))

    def _write_tensorboard(self, epoch, result, gradients):
        from tensorboard.plugins.histogram import metadata

        with self._writer.as_default(step=epoch):
            for key, value in result.model.items():
                if value is not None:
                    tf.summary.scalar(f"model/{key}", value)
            for name, layer in result.layers.items():
                for key in LAYER_VALUE_KEYS:
                    value = getattr(layer, key)
                    if value is not None:
                        tf.summary.scalar(f"{name}/{key}", value)
                if layer.histogram is None:
                    continue
                edges = layer.histogram_edges
                buckets = np.stack(
                    [edges[:-1], edges[1:], layer.histogram.sum(axis=0)],
                    axis=1,
                )
                tf.summary.write(
                    f"{name}/activation",
                    tf.constant(buckets, tf.float64),
                    metadata=metadata.create_summary_metadata(
                        f"{name}/activation",
                        "Histogram of the block's activation output, all "
                        "channels, over the evaluation set.",
                    ),
                )
            for name, values in (gradients or {}).items():
                for key, value in values.items():
                    tf.summary.scalar(f"{name}/{key}", value)
        self._writer.flush()
