"""The exported model's preprocessing and softmax, in NumPy."""

import numpy as np

from bnorder_tf.data import Preprocessing

MEAN, STD = 0.3, 0.25
PREPROCESSING = Preprocessing(
    mean=(MEAN,), std=(STD,), raw_shape=(28, 28, 1), pad_to=32
)


CLASSES = tuple(f"item{i}" for i in range(5))


def numpy_preprocess(images):
    """Independent preprocessing: [0, 1], zero-pad 28 -> 32, normalise."""
    x = images.astype("float64") / 255.0
    x = np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)])
    return ((x - MEAN) / STD).astype("float32")


def softmax(logits):
    z = np.exp(logits - logits.max(-1, keepdims=True))
    return z / z.sum(-1, keepdims=True)
