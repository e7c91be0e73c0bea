"""Gradient scale per block (the paper's figure 15).

For each block, averaged over training batches: mean |input of the weight
layer|, mean |gradient of the loss w.r.t. the weight layer's kernel| and
mean |gradient of the loss w.r.t. the activation's input|. Swap blocks
feed larger inputs to the next weight layer, which keeps its kernel
gradients at the Convention model's scale even though the gradients
through the saturated tanh are smaller.
"""

import numpy as np
import tensorflow as tf

from bnorder_tf.stats.taps import forward_with_taps, model_chain
from bnorder_tf.steps import example_cross_entropy, regularization_loss

GRADIENT_KEYS = (
    "input_abs_mean",
    "kernel_grad_abs_mean",
    "preactivation_grad_abs_mean",
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
    """

    def __init__(self, model):
        self.model = model
        self.layers = model_chain(model)
        self.blocks = [b for b in self.layers if hasattr(b, "call_with_taps")]
        self._state = list(model.non_trainable_variables)
        self._compiled = tf.function(self._batch, autograph=False)

    def _batch(self, images, labels):
        kernels = [block.kernel for block in self.blocks]
        saved = [tf.identity(v.value) for v in self._state]
        with tf.GradientTape() as tape:
            logits, taps = forward_with_taps(
                self.layers, images, training=True, include_inputs=True
            )
            loss = tf.reduce_mean(
                example_cross_entropy(labels, logits)
            ) + regularization_loss(self.model)
        preactivations = [taps[b.name]["preactivation"] for b in self.blocks]
        kernel_grads, preact_grads = tape.gradient(
            loss, (kernels, preactivations)
        )
        # automatic control dependencies run these after BN's updates
        for variable, value in zip(self._state, saved):
            variable.assign(value)
        return {
            block.name: tf.stack(
                [
                    tf.reduce_mean(tf.abs(taps[block.name]["input"])),
                    tf.reduce_mean(tf.abs(kg)),
                    tf.reduce_mean(tf.abs(pg)),
                ]
            )
            for block, kg, pg in zip(self.blocks, kernel_grads, preact_grads)
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
            name: dict(zip(GRADIENT_KEYS, map(float, np.asarray(v) / seen)))
            for name, v in sums.items()
        }


def gradient_stats(model, dataset, num_batches=10):
    """Mean |input|, |kernel gradient| and |activation-input gradient|.

    Args:
        model: a chain model built from blocks.
        dataset: batched `(images, labels)` training data.
        num_batches: int, how many batches to average over.

    Returns:
        `{block_name: {"input_abs_mean", "kernel_grad_abs_mean",
        "preactivation_grad_abs_mean"}}`.
    """
    return GradientStatsPass(model)(dataset, num_batches)
