"""VGG (Simonyan & Zisserman, 2014) built from Convention/Swap blocks.

Architectures are data: five stages of 3x3 conv blocks (64, 128, 256, 512
and 512 channels), each closed by a 2x2 max pool. A configuration is its
number of convs per stage (`STAGE_DEPTHS`); `VGG_CONFIGS` spells each out
as conv widths and `"M"` pools.

Choices the paper leaves open, and ours:

* `vgg16_n` keeps the first `n - 3` conv layers of VGG16 (configuration D):
  `vgg16_11` has 8. Every pool that follows a kept conv is kept, and a
  stage cut short still ends with a pool, so `vgg16_11` pools 4 times
  (32x32 -> 2x2).
* Head: flatten, two hidden FC blocks `fc1`, `fc2` (512 units, or 4096 for
  inputs above 64x64), then a linear `logits` layer. The FC blocks use the
  model's order when `fc_bn` is true (the paper's CIFAR models) and no BN
  otherwise (its Tiny ImageNet and ImageNet models).
* No dropout by default (`dropout` adds it after each FC block).
* Conv layers have a bias (`conv_bias=True`), as in torchvision's VGG.
"""

import keras

from bnorder_tf import choices
from bnorder_tf.models.common import (
    BlockConfig,
    check_input_side,
    image_input,
    scaled,
)

#: Output channels of VGG's five stages; each stage ends with a 2x2 pool.
STAGE_WIDTHS = (64, 128, 256, 512, 512)
#: Convs per stage of the paper's configurations A, B, D and E.
STAGE_DEPTHS = {
    "vgg11": (1, 1, 2, 2, 2),
    "vgg13": (2, 2, 2, 2, 2),
    "vgg16": (2, 2, 3, 3, 3),
    "vgg19": (2, 2, 4, 4, 4),
}


def _layer_list(depths):
    config = []
    for width, depth in zip(STAGE_WIDTHS, depths, strict=True):
        config += [width] * depth + ["M"]
    return config


#: Each configuration as conv widths and `"M"` pools.
VGG_CONFIGS = {name: _layer_list(d) for name, d in STAGE_DEPTHS.items()}

#: Depths accepted by `vgg16_n`.
VGG16_DEPTHS = choices.VGG16_DEPTHS


def truncated_vgg16(n):
    """The configuration of VGG16_n: VGG16 without its last `16 - n` convs.

    Args:
        n: int in 8..16.

    Returns:
        A list of conv widths and `"M"` pools with `n - 3` convs.

    Example:
    >>> truncated_vgg16(11)
    [64, 64, 'M', 128, 128, 'M', 256, 256, 256, 'M', 512, 'M']
    """
    if n not in VGG16_DEPTHS:
        raise ValueError(f"vgg16_n needs n in 8..16, got {n}.")
    keep = n - 3
    config, convs = [], 0
    for item in VGG_CONFIGS["vgg16"]:
        if item == "M":
            config.append(item)
            continue
        if convs == keep:
            break
        config.append(item)
        convs += 1
    if config[-1] != "M":
        config.append("M")
    return config


def vgg_config(name):
    """Returns the layer list of `vgg11|13|16|19` or `vgg16_<n>`."""
    if name in VGG_CONFIGS:
        return list(VGG_CONFIGS[name])
    return truncated_vgg16(int(name.split("_", 1)[1]))


def build_vgg(
    name,
    *,
    block: BlockConfig,
    num_classes,
    input_shape,
    width=1.0,
    fc_bn=None,
    fc_units=None,
    dropout=0.0,
    conv_bias=True,
):
    """Builds a VGG as a `keras.Sequential` chain of blocks.

    Args:
        name: a key of `VGG_CONFIGS` or `vgg16_<n>`.
        block: a `BlockConfig`: the order, activation, decay and
            initializer of every block and of the classifier.
        num_classes: int, size of the logits.
        input_shape: `(H, W, C)`.
        width: float, multiplies every channel and FC width.
        fc_bn: bool, whether the hidden FC blocks have BN. `None` means
            true for inputs up to 32x32 (the paper's CIFAR models) and
            false above (its Tiny ImageNet and ImageNet models).
        fc_units: int, hidden FC width before `width` scaling; `None`
            means 512 for inputs up to 64x64 and 4096 above.
        dropout: float, dropout rate after each hidden FC block.
        conv_bias: bool, whether the conv layers have a bias.

    Returns:
        A `keras.Sequential` whose conv blocks are named `conv1`...,
        FC blocks `fc1`, `fc2`, pools `pool1`..., the last layer `logits`.

    Example:
    >>> from bnorder_tf.models import BlockConfig
    >>> model = build_vgg("vgg11", block=BlockConfig("swap", "tanh"),
    ...                   num_classes=10, input_shape=(32, 32, 3),
    ...                   width=0.125)
    >>> type(model.get_layer("fc1")).__name__
    'SwapBlock'
    """
    config = vgg_config(name)
    check_input_side(name, input_shape, 2 ** config.count("M"))
    side = max(input_shape[:2])
    fc_bn = side <= 32 if fc_bn is None else fc_bn
    fc_order = None if fc_bn else "nobn"
    units = scaled(fc_units or (512 if side <= 64 else 4096), width)
    layers = [image_input(input_shape)]
    layers += _features(config, block, width, conv_bias)
    layers.append(keras.layers.Flatten(name="flatten"))
    for i in (1, 2):
        layers.append(block(units, kind="dense", order=fc_order, name=f"fc{i}"))
        if dropout:
            layers.append(keras.layers.Dropout(dropout, name=f"dropout{i}"))
    layers.append(block.classifier(num_classes, units))
    return keras.Sequential(layers, name=name)


def _features(config, block, width, conv_bias):
    """The conv blocks `conv1`... and pools `pool1`... of a configuration."""
    layers, convs, pools = [], 0, 0
    for item in config:
        if item == "M":
            pools += 1
            layers.append(keras.layers.MaxPooling2D(2, name=f"pool{pools}"))
        else:
            convs += 1
            layers.append(
                block(
                    scaled(item, width),
                    kind="conv",
                    kernel_size=3,
                    use_bias=conv_bias,
                    name=f"conv{convs}",
                )
            )
    return layers
