"""Layers: Convention, Swap and NoBN blocks and what they are made of.

A block is a weight layer, a batch normalization and a bounded
activation, in the order its class names. The bounded activations, the
fused, replica-consistent batch normalization, the initialisation
schemes and the PyTorch-style `WeightDecay` regularizer live here too.
Nothing here knows about training.

Example:
>>> import keras
>>> from bnorder_tf.layers import SwapBlock
>>> block = SwapBlock(8, kind="conv", activation="tanh")
>>> tuple(block(keras.ops.zeros((1, 4, 4, 3))).shape)
(1, 4, 4, 8)
"""

from bnorder_tf.layers.activations import (
    BoundedActivation,
    LeCunTanh,
    ReLU,
    ShiftedTanh,
    Softsign,
    Tanh,
)
from bnorder_tf.layers.batch_normalization import (
    FusedBatchNormalization,
)

# The former name, kept importable and left out of `__all__`.
from bnorder_tf.layers.batch_normalization import (
    ReplicaMeanBatchNormalization as ReplicaMeanBatchNormalization,
)
from bnorder_tf.layers.blocks import (
    Block,
    ConventionBlock,
    NoBNBlock,
    SwapBlock,
    block_class,
)
from bnorder_tf.layers.regularizers import WeightDecay

__all__ = [
    "Block",
    "BoundedActivation",
    "ConventionBlock",
    "FusedBatchNormalization",
    "LeCunTanh",
    "NoBNBlock",
    "ReLU",
    "ShiftedTanh",
    "Softsign",
    "SwapBlock",
    "Tanh",
    "WeightDecay",
    "block_class",
]
