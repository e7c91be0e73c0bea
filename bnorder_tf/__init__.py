"""bnorder_tf: where batch normalization belongs with bounded activations.

Convention (weight -> BN -> f) and Swap (weight -> f -> BN) blocks, VGG and
MobileNet built from them, BN-targeted weight decay, and exact activation
statistics (saturation, skewness, sparsity) for TensorFlow/Keras 3.
"""

from bnorder_tf import activations, regularizers
from bnorder_tf.blocks import Block, ConventionBlock, NoBNBlock, SwapBlock
from bnorder_tf.models import MODEL_NAMES, build_model
from bnorder_tf.regularizers import WeightDecay

__version__ = "0.1.0"

__all__ = [
    "Block",
    "ConventionBlock",
    "MODEL_NAMES",
    "NoBNBlock",
    "SwapBlock",
    "WeightDecay",
    "activations",
    "build_model",
    "regularizers",
]
