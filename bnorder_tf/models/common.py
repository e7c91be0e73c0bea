"""Pieces shared by the model families: block factories and the input."""

import dataclasses

import keras

from bnorder_tf.layers import blocks
from bnorder_tf.layers.initializers import initializers_for
from bnorder_tf.layers.regularizers import weight_decay_or_none


def scaled(channels, width):
    """`channels * width`, rounded, at least 1."""
    return max(1, int(round(channels * width)))


@dataclasses.dataclass(frozen=True)
class BlockFactory:
    """Makes the blocks of one model with shared order, activation and decay.

    Args:
        order: `"convention"`, `"swap"` or `"nobn"`.
        activation: activation name or object.
        weight_decay: decay of kernels and biases.
        bn_gamma_decay: decay of BN gamma (`None` = `weight_decay`).
        bn_beta_decay: decay of BN beta (`None` = `weight_decay`).
        bn_synchronized: BN batch statistics over all replicas.
        kernel_initializer: a scheme of `bnorder_tf.layers.initializers.SCHEMES`
            for every weight layer, the classifier included.
    """

    order: str
    activation: object
    weight_decay: float
    bn_gamma_decay: float | None = None
    bn_beta_decay: float | None = None
    bn_synchronized: bool = False
    kernel_initializer: str = "torch"

    def __call__(self, filters, *, name, order=None, **kwargs):
        cls = blocks.block_class(order or self.order)
        return cls(
            filters,
            activation=self.activation,
            weight_decay=self.weight_decay,
            bn_gamma_decay=self.bn_gamma_decay,
            bn_beta_decay=self.bn_beta_decay,
            bn_synchronized=self.bn_synchronized,
            kernel_initializer=self.kernel_initializer,
            name=name,
            **kwargs,
        )

    def classifier(self, num_classes, features):
        """The final linear layer producing logits (no BN, no activation).

        Args:
            num_classes: int, its units.
            features: int, its input features (the initializers' fan-in).
        """
        decay = weight_decay_or_none(self.weight_decay)
        kernel, bias = initializers_for(self.kernel_initializer, features)
        return keras.layers.Dense(
            num_classes,
            kernel_initializer=kernel,
            bias_initializer=bias,
            kernel_regularizer=decay,
            bias_regularizer=decay,
            name="logits",
        )


def check_input_side(name, input_shape, downsampling):
    """Raises `ValueError` if the images are smaller than the model reduces.

    Args:
        name: the model's name, for the message.
        input_shape: `(H, W, C)`.
        downsampling: int, the model's total stride.
    """
    if len(input_shape) != 3:
        raise ValueError(
            f"input_shape must be (height, width, channels), got "
            f"{tuple(input_shape)}."
        )
    if min(input_shape[:2]) < downsampling:
        raise ValueError(
            f"{name} downsamples {downsampling}x and needs images of at "
            f"least {downsampling}x{downsampling}, got "
            f"{input_shape[0]}x{input_shape[1]}."
        )


def image_input(input_shape):
    """The model's input layer, named `image` (the SavedModel input key)."""
    return keras.Input(shape=tuple(input_shape), name="image")
