"""Model builders: `build_model(name, ...)` and the names it accepts.

Example:
>>> from bnorder_tf.models import build_model
>>> model = build_model("vgg16_11", order="swap", activation="tanh",
...                     num_classes=10, input_shape=(32, 32, 3), width=0.125)
>>> model.output_shape
(None, 10)
"""

from collections.abc import Sequence

import keras

from bnorder_tf import choices
from bnorder_tf.errors import lookup
from bnorder_tf.layers.activations import BoundedActivation
from bnorder_tf.layers.blocks import ORDERS
from bnorder_tf.models.common import BlockFactory
from bnorder_tf.models.mobilenet import build_mobilenet
from bnorder_tf.models.vgg import VGG16_DEPTHS, VGG_CONFIGS, build_vgg


def _vgg(
    name,
    make_block,
    *,
    num_classes,
    input_shape,
    width,
    fc_bn,
    fc_units,
    dropout,
    conv_bias,
):
    side = max(input_shape[:2])
    return build_vgg(
        name,
        make_block=make_block,
        num_classes=num_classes,
        input_shape=input_shape,
        width=width,
        fc_bn=side <= 32 if fc_bn is None else fc_bn,
        fc_units=fc_units or (512 if side <= 64 else 4096),
        dropout=dropout,
        conv_bias=True if conv_bias is None else conv_bias,
    )


def _mobilenet(
    name,
    make_block,
    *,
    num_classes,
    input_shape,
    width,
    fc_bn,
    fc_units,
    dropout,
    conv_bias,
):
    del name, fc_bn, fc_units  # VGG's head only
    return build_mobilenet(
        make_block=make_block,
        num_classes=num_classes,
        input_shape=input_shape,
        alpha=width,
        dropout=dropout,
        conv_bias=bool(conv_bias),
    )


#: Every model by name: its builder.
BUILDERS = {
    **{name: _vgg for name in VGG_CONFIGS},
    **{f"vgg16_{n}": _vgg for n in VGG16_DEPTHS},
    "mobilenet": _mobilenet,
}
#: Every name `build_model` accepts.
MODEL_NAMES = choices.MODELS
choices.check_registry(BUILDERS, MODEL_NAMES, "model")


def build_model(
    name: str,
    *,
    order: str,
    activation: str | BoundedActivation,
    num_classes: int,
    input_shape: Sequence[int],
    width: float = 1.0,
    weight_decay: float = 5e-4,
    bn_gamma_decay: float | None = None,
    bn_beta_decay: float | None = None,
    fc_bn: bool | None = None,
    fc_units: int | None = None,
    dropout: float = 0.0,
    conv_bias: bool | None = None,
    bn_synchronized: bool = False,
    kernel_initializer: str = "torch",
) -> keras.Sequential:
    """Builds a VGG or MobileNet whose blocks use the given order.

    Args:
        name: one of `MODEL_NAMES` (`vgg11`, `vgg13`, `vgg16`, `vgg19`,
            `vgg16_8` ... `vgg16_16`, `mobilenet`).
        order: `"convention"`, `"swap"` or `"nobn"`. NWDBN is
            `"convention"` with `bn_gamma_decay=0, bn_beta_decay=0`.
        activation: `"relu"`, `"tanh"`, `"lecun_tanh"`, `"softsign"`,
            `"shifted_tanh"` or an activation object.
        num_classes: int, number of logits.
        input_shape: `(H, W, C)` of the (preprocessed) images.
        width: float, multiplies every channel count (MobileNet's alpha).
        weight_decay: float, PyTorch-style decay of kernels and biases.
        bn_gamma_decay: decay of BN gamma (`None` = `weight_decay`).
        bn_beta_decay: decay of BN beta (`None` = `weight_decay`).
        fc_bn: VGG only: BN in the hidden FC blocks. `None` means true
            for inputs up to 32x32 (the paper's CIFAR models) and false
            above (its Tiny ImageNet and ImageNet models).
        fc_units: VGG only: hidden FC width; `None` means 512 for inputs
            up to 64x64 and 4096 above.
        dropout: float, dropout rate (none by default).
        conv_bias: whether conv layers have a bias; `None` means true for
            VGG and false for MobileNet.
        bn_synchronized: bool, under `tf.distribute` BN normalises with
            the statistics of the global batch (see `blocks.Block`).
        kernel_initializer: `"torch"` (default: PyTorch's default for
            Conv2d and Linear, kernel and bias, as the paper's models had),
            `"glorot_uniform"` (Keras's default) or `"he_normal"`; see
            `bnorder_tf.layers.initializers`.

    Returns:
        A `keras.Sequential` chain whose last layer outputs logits.

    Raises:
        UnknownNameError: for an unknown name, order or activation,
            listing the valid values (a `LookupError` and a `ValueError`).
    """
    builder = lookup(BUILDERS, name, "model")
    lookup(ORDERS, order, "order")
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}.")
    make_block = BlockFactory(
        order=order,
        activation=activation,
        weight_decay=weight_decay,
        bn_gamma_decay=bn_gamma_decay,
        bn_beta_decay=bn_beta_decay,
        bn_synchronized=bn_synchronized,
        kernel_initializer=kernel_initializer,
    )
    return builder(
        name,
        make_block,
        num_classes=num_classes,
        input_shape=input_shape,
        width=width,
        fc_bn=fc_bn,
        fc_units=fc_units,
        dropout=dropout,
        conv_bias=conv_bias,
    )


__all__ = ["MODEL_NAMES", "build_model"]
