"""The loss and accuracy that training, evaluation and the statistics share.

Training minimises, and evaluation reports, the mean of
`example_cross_entropy` plus `regularization_loss`; accuracy counts
`correct_predictions`.
"""

import keras
import tensorflow as tf


def example_cross_entropy(labels, logits):
    """Each example's cross-entropy, from logits, in float32.

    The loss that training minimises and that evaluation reports.
    """
    return keras.losses.sparse_categorical_crossentropy(
        labels, tf.cast(logits, tf.float32), from_logits=True
    )


def correct_predictions(labels, logits):
    """Whether each example's largest logit is at its label."""
    return tf.equal(tf.argmax(logits, -1), tf.cast(labels, tf.int64))


def regularization_loss(model):
    """The model's regularization losses summed in float32 (0 without any).

    What the reported loss adds to the mean cross-entropy.
    """
    if not model.losses:
        return tf.constant(0.0)
    return tf.add_n([tf.cast(x, tf.float32) for x in model.losses])
