"""Kernel and bias initialisation schemes, by name.

- `torch`: PyTorch's default for `Conv2d` and `Linear`, which the paper's
  authors trained with: kernel `U(-b, b)` with `b = 1 / sqrt(fan_in)`
  (`kaiming_uniform_(a=sqrt(5))`) and bias `U(-b, b)` with the same `b`.
- `glorot_uniform`: Keras's default kernel, zero bias.
- `he_normal`: He et al.'s normal kernel, zero bias.

Example:
>>> kernel, bias = initializers_for("torch", fan_in=27)
"""

import math

import keras

from bnorder_tf import choices
from bnorder_tf.errors import lookup

#: The schemes `initializers_for` accepts.
SCHEMES = choices.INITIALIZERS


def initializers_for(scheme, fan_in):
    """The `(kernel, bias)` Keras initializers of a scheme.

    Args:
        scheme: one of `SCHEMES`.
        fan_in: int, inputs per output unit of the weight layer (kernel
            height * width * input channels for a conv, 1 * height * width
            for a depthwise conv, input features for a dense layer).

    Returns:
        Two `keras.initializers.Initializer`.

    Raises:
        UnknownNameError: an unknown scheme, listing the valid ones (a
            `ValueError`).
    """
    lookup(SCHEMES, scheme, "kernel initializer")
    if scheme == "torch":
        # kaiming_uniform(a=sqrt(5)): gain sqrt(2 / (1 + 5)), bound
        # gain * sqrt(3 / fan_in) = 1 / sqrt(fan_in); VarianceScaling's
        # uniform limit is sqrt(3 * scale / fan_in), so scale = 1/3
        bound = 1.0 / math.sqrt(fan_in)
        return (
            keras.initializers.VarianceScaling(
                scale=1.0 / 3.0, mode="fan_in", distribution="uniform"
            ),
            keras.initializers.RandomUniform(-bound, bound),
        )
    return keras.initializers.get(scheme), keras.initializers.Zeros()


__all__ = ["SCHEMES", "initializers_for"]
