"""The network the speed benchmarks time.

VGG16_11, Swap order with tanh, width 0.25, 32x32x1 inputs (Fashion-MNIST
padded), 10 classes, weight decay 5e-4 (`torch_vgg.py` builds the same in
PyTorch).
"""

import keras

from bnorder_tf import build_model


def build(policy="float32"):
    """The network under Keras's dtype `policy`, seeded."""
    keras.mixed_precision.set_global_policy(policy)
    keras.utils.set_random_seed(0)
    return build_model(
        "vgg16_11",
        order="swap",
        activation="tanh",
        num_classes=10,
        input_shape=(32, 32, 1),
        width=0.25,
        weight_decay=5e-4,
    )
