"""MobileNet v1 (Howard et al., 2017) built from Convention/Swap blocks.

A 3x3 conv block `conv1` (32 filters) and 13 depthwise-separable pairs:
a 3x3 depthwise block `dw<i>` and a 1x1 pointwise block `pw<i>`, each with
its own BN and activation (27 blocks), then global average pooling and a
linear `logits` layer.

Choices the paper leaves open, and ours: `conv1` has stride 1 for inputs up
to 64x64 (CIFAR, Tiny ImageNet) and 2 above (ImageNet), so a 32x32 input
reaches 2x2 after the four stride-2 pairs; no conv bias, as in the original
MobileNet; no dropout by default. `width` (the paper's width multiplier
alpha) scales every channel count.
"""

import keras

from bnorder_tf.models.common import (
    BlockConfig,
    check_input_side,
    image_input,
    scaled,
)

#: (pointwise filters, depthwise stride) of the 13 separable pairs.
MOBILENET_V1_PAIRS = (
    (64, 1),
    (128, 2),
    (128, 1),
    (256, 2),
    (256, 1),
    (512, 2),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (512, 1),
    (1024, 2),
    (1024, 1),
)


def build_mobilenet(
    *,
    block: BlockConfig,
    num_classes,
    input_shape,
    width=1.0,
    dropout=0.0,
    conv_bias=False,
):
    """Builds MobileNet v1 as a `keras.Sequential` chain of blocks.

    Args:
        block: a `BlockConfig`: the order, activation, decay and
            initializer of every block and of the classifier.
        num_classes: int, size of the logits.
        input_shape: `(H, W, C)`.
        width: float, the width multiplier (the paper's alpha).
        dropout: float, dropout rate before the logits.
        conv_bias: bool, whether conv and depthwise layers have a bias.

    Returns:
        A `keras.Sequential`: `conv1`, `dw1`, `pw1`, ..., `dw13`, `pw13`,
        `pool`, `logits`.

    Example:
    >>> from bnorder_tf.models import BlockConfig
    >>> model = build_mobilenet(block=BlockConfig("convention", "relu"),
    ...                         num_classes=10, input_shape=(32, 32, 3),
    ...                         width=0.25)
    >>> model.get_layer("pw13").filters
    256
    """
    first_stride = 1 if max(input_shape[:2]) <= 64 else 2
    downsampling = first_stride * 2 ** sum(
        s == 2 for _, s in MOBILENET_V1_PAIRS
    )
    check_input_side("mobilenet", input_shape, downsampling)
    layers = [
        image_input(input_shape),
        block(
            scaled(32, width),
            kind="conv",
            kernel_size=3,
            strides=first_stride,
            use_bias=conv_bias,
            name="conv1",
        ),
    ]
    for i, (filters, stride) in enumerate(MOBILENET_V1_PAIRS, start=1):
        layers.append(
            block(
                None,
                kind="depthwise",
                kernel_size=3,
                strides=stride,
                use_bias=conv_bias,
                name=f"dw{i}",
            )
        )
        layers.append(
            block(
                scaled(filters, width),
                kind="conv",
                kernel_size=1,
                use_bias=conv_bias,
                name=f"pw{i}",
            )
        )
    layers.append(keras.layers.GlobalAveragePooling2D(name="pool"))
    if dropout:
        layers.append(keras.layers.Dropout(dropout, name="dropout"))
    layers.append(block.classifier(num_classes, scaled(filters, width)))
    return keras.Sequential(layers, name="mobilenet")
