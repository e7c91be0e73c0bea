"""Gradient scale per block (the paper's figure 15).

For each block, averaged over training batches: mean |input of the weight
layer|, mean |gradient w.r.t. the weight layer's kernel| and mean
|gradient w.r.t. the activation's input|. The paper (appendix A.6,
figure 15) finds that in Swap the gradient at tanh's input is smaller in
the shallow blocks, the weight layers' inputs are larger (BN's output is
unbounded), and so the kernel gradients end up on a scale similar to
Convention's.

The kernel gradient is recorded twice: of the cross-entropy alone
(`kernel_loss_grad_abs_mean`, what PyTorch's `.grad` holds in the paper,
whose decay lives in the optimizer) and of the training loss, decay
included (`kernel_grad_abs_mean`). The two orders are often tuned to
different weight decays, so only the first compares them fairly.

Like the activation statistics, the scales of a mixed-precision model are
by default those of its float32 weights, forward and backward in float32
(`precision="float32"`): in float16 without the training step's loss
scaling, small gradients underflow to zero, which would bias the means
low. `precision="compute"` measures them as the model computes them.
"""

import contextlib

import numpy as np
import tensorflow as tf

from bnorder_tf.choices import DEFAULT_STATS_PRECISION
from bnorder_tf.losses import example_cross_entropy, regularization_loss
from bnorder_tf.stats.taps import (
    check_precision,
    float32_compute,
    forward_with_taps,
    model_chain,
    sixteen_bit_layers,
)

GRADIENT_KEYS = (
    "input_abs_mean",
    "kernel_grad_abs_mean",
    "preactivation_grad_abs_mean",
    "kernel_loss_grad_abs_mean",
)


class GradientStatsPass:
    """A compiled gradient-scale measurement for one model.

    The loss is sparse categorical cross-entropy of the logits plus the
    model's regularization losses, and the model runs in training mode, as
    during training (BN normalises with the batch's statistics). The BN
    moving statistics that training mode updates are restored after each
    batch: measuring leaves the model untouched.

    Args:
        model: a chain model built from blocks.
        precision: `"float32"` (default): the forward and backward passes
            in float32 from the model's float32 weights, whatever its
            dtype policy; `"compute"`: as the model computes them under
            its policy.

    Example:
    Made once, the pass measures as often as needed (as after each
    epoch), and leaves the model as it was, BN's moving statistics too:

    >>> import keras
    >>> from bnorder_tf.layers import SwapBlock
    >>> model = keras.Sequential([
    ...     keras.Input((4, 4, 1)), SwapBlock(2, name="conv1"),
    ...     keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> images = tf.ones((4, 4, 4, 1))
    >>> dataset = tf.data.Dataset.from_tensor_slices(
    ...     (images, tf.constant([0, 1, 2, 0]))).batch(2)
    >>> measure = GradientStatsPass(model)
    >>> [block.name for block in measure.blocks]
    ['conv1']
    >>> first = measure(dataset, num_batches=2)
    >>> measure(dataset, num_batches=2) == first
    True
    >>> float(keras.ops.sum(model.layers[0].norm.moving_mean))
    0.0
    """

    def __init__(self, model, precision=DEFAULT_STATS_PRECISION):
        self.model = model
        self.precision = check_precision(precision)
        self._in_float32 = precision == "float32" and bool(
            sixteen_bit_layers(model)
        )
        self.layers = model_chain(model)
        self.blocks = [b for b in self.layers if hasattr(b, "call_with_taps")]
        self._state = list(model.non_trainable_variables)
        self._compiled = tf.function(self._batch, autograph=False)

    def _batch(self, images, labels):
        kernels = [block.kernel for block in self.blocks]
        saved = [tf.identity(v.value) for v in self._state]
        precision = (
            float32_compute(self.model)
            if self._in_float32
            else contextlib.nullcontext()
        )
        with tf.GradientTape(persistent=True) as tape, precision:
            logits, taps = forward_with_taps(
                self.layers, images, training=True, include_inputs=True
            )
            cross_entropy = tf.reduce_mean(
                example_cross_entropy(labels, logits)
            )
            decay = regularization_loss(self.model)
        preactivations = [taps[b.name]["preactivation"] for b in self.blocks]
        loss_grads, preact_grads = tape.gradient(
            cross_entropy, (kernels, preactivations)
        )
        decay_grads = tape.gradient(decay, kernels)
        del tape
        kernel_grads = [
            loss if decay is None else loss + tf.cast(decay, loss.dtype)
            for loss, decay in zip(loss_grads, decay_grads, strict=True)
        ]
        # automatic control dependencies run these after BN's updates
        for variable, value in zip(self._state, saved, strict=True):
            variable.assign(value)
        return {
            block.name: tf.stack(
                [
                    _abs_mean(taps[block.name]["input"]),
                    _abs_mean(kg),
                    _abs_mean(pg),
                    _abs_mean(lg),
                ]
            )
            for block, kg, pg, lg in zip(
                self.blocks, kernel_grads, preact_grads, loss_grads, strict=True
            )
        }

    def __call__(self, dataset, num_batches):
        """Averages the three scales over `num_batches` `(images, labels)`.

        Returns:
            A dict from block name to a dict of `GRADIENT_KEYS` floats.
        """
        if num_batches < 1:
            raise ValueError(f"num_batches must be >= 1, got {num_batches}.")
        sums, seen = None, 0
        for images, labels, *_ in dataset.take(num_batches):
            values = {
                k: v.numpy() for k, v in self._compiled(images, labels).items()
            }
            sums = (
                values
                if sums is None
                else {k: sums[k] + values[k] for k in sums}
            )
            seen += 1
        if not seen:
            raise ValueError("The dataset is empty: no gradients to measure.")
        return {
            name: dict(
                zip(
                    GRADIENT_KEYS,
                    map(float, np.asarray(v) / seen),
                    strict=True,
                )
            )
            for name, v in sums.items()
        }


def _abs_mean(x):
    """Mean |x| in float32: a 16-bit tensor's sum would lose its digits."""
    return tf.reduce_mean(tf.abs(tf.cast(x, tf.float32)))


def gradient_stats(
    model, dataset, num_batches=10, precision=DEFAULT_STATS_PRECISION
):
    """Mean |input|, |kernel gradients| and |activation-input gradient|.

    Args:
        model: a chain model built from blocks.
        dataset: batched `(images, labels)` training data.
        num_batches: int, how many batches to average over.
        precision: `"float32"` (default) or `"compute"` (see
            `GradientStatsPass`).

    Returns:
        `{block_name: {"input_abs_mean", "kernel_grad_abs_mean",
        "preactivation_grad_abs_mean", "kernel_loss_grad_abs_mean"}}`:
        `kernel_grad_abs_mean` includes the weight-decay term,
        `kernel_loss_grad_abs_mean` is of the cross-entropy alone.

    Example:
    A block on two batches, of images of ones and of twos (so the mean
    |input| is 1.5), without weight decay (so both kernel gradients are
    the same):

    >>> import keras
    >>> from bnorder_tf.layers import ConventionBlock
    >>> model = keras.Sequential([
    ...     keras.Input((4, 4, 1)), ConventionBlock(2, name="conv1"),
    ...     keras.layers.Flatten(), keras.layers.Dense(3)])
    >>> ones = tf.ones((2, 4, 4, 1))
    >>> images = tf.concat([ones, 2 * ones], axis=0)
    >>> dataset = tf.data.Dataset.from_tensor_slices(
    ...     (images, tf.constant([0, 1, 2, 0]))).batch(2)
    >>> scales = gradient_stats(model, dataset, num_batches=2)["conv1"]
    >>> sorted(scales)
    ['input_abs_mean', 'kernel_grad_abs_mean', 'kernel_loss_grad_abs_mean',
     'preactivation_grad_abs_mean']
    >>> round(scales["input_abs_mean"], 4)
    1.5
    >>> scales["kernel_grad_abs_mean"] == scales["kernel_loss_grad_abs_mean"]
    True
    """
    return GradientStatsPass(model, precision=precision)(dataset, num_batches)
