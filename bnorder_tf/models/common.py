"""Pieces shared by the model families: the block config and the input."""

import dataclasses

import keras

from bnorder_tf.errors import lookup
from bnorder_tf.layers import blocks
from bnorder_tf.layers.activations import BoundedActivation
from bnorder_tf.layers.initializers import initializers_for
from bnorder_tf.layers.regularizers import weight_decay_or_none


def scaled(channels, width):
    """`channels * width`, rounded, at least 1."""
    return max(1, int(round(channels * width)))


@dataclasses.dataclass(frozen=True)
class BlockConfig:
    """The settings every block of a model shares; calling it makes a block.

    A model is built from one `BlockConfig`: its fields are the arguments
    of `bnorder_tf.layers.Block` that do not change from block to block,
    under the same names, so each setting is given once. The classifier
    (`classifier`) takes the decay and the initializer too.

    Args:
        order: `"convention"`, `"swap"` or `"nobn"` (see
            `bnorder_tf.layers.blocks.ORDERS`). NWDBN is `"convention"`
            with `bn_gamma_decay=0, bn_beta_decay=0`.
        activation: `"relu"`, `"tanh"`, `"lecun_tanh"`, `"softsign"`,
            `"shifted_tanh"` or an activation object.
        weight_decay: float, PyTorch-style decay of kernels and biases.
        bn_gamma_decay: decay of BN gamma (`None` = `weight_decay`).
        bn_beta_decay: decay of BN beta (`None` = `weight_decay`).
        bn_synchronized: bool, under `tf.distribute` BN normalises with
            the statistics of the global batch (see `Block`).
        kernel_initializer: `"torch"` (PyTorch's default for Conv2d and
            Linear, kernel and bias, as the paper's models had),
            `"glorot_uniform"` (Keras's default) or `"he_normal"`; see
            `bnorder_tf.layers.initializers`.

    Raises:
        UnknownNameError: for an unknown order, listing the valid ones.

    Example:
    >>> config = BlockConfig("swap", "tanh", bn_gamma_decay=0.0)
    >>> block = config(16, kind="conv", name="conv1")
    >>> type(block).__name__, block.bn_gamma_decay, block.weight_decay
    ('SwapBlock', 0.0, 0.0005)
    """

    order: str
    activation: str | BoundedActivation
    weight_decay: float = 5e-4
    bn_gamma_decay: float | None = None
    bn_beta_decay: float | None = None
    bn_synchronized: bool = False
    kernel_initializer: str = "torch"

    def __post_init__(self):
        lookup(blocks.ORDERS, self.order, "order")

    def __call__(self, filters, *, name, order=None, **kwargs):
        """Makes one block with these settings.

        Args:
            filters: the block's `filters` (`None` for a depthwise block).
            name: the block's name.
            order: this block's order, if not the config's (VGG's FC
                blocks without BN are `"nobn"`).
            **kwargs: the block's own arguments (`kind`, `kernel_size`,
                `strides`, `use_bias`).

        Returns:
            A `ConventionBlock`, `SwapBlock` or `NoBNBlock`.
        """
        settings = {
            field.name: getattr(self, field.name)
            for field in dataclasses.fields(self)
        }
        default_order = settings.pop("order")
        cls = blocks.block_class(order or default_order)
        return cls(filters, name=name, **settings, **kwargs)

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


#: The former name of `BlockConfig`, kept for code that imports it.
BlockFactory = BlockConfig


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
