"""bnorder_tf: where batch normalization belongs with bounded activations.

Convention (weight -> BN -> f) and Swap (weight -> f -> BN) blocks, VGG and
MobileNet built from them, BN-targeted weight decay, and exact activation
statistics (saturation, skewness, sparsity) for TensorFlow/Keras 3.

Importing the package is light: its names load Keras when first used
(as Keras and TensorFlow load their own submodules), so that the
programs answer `--help` and bad flags at once. `keras.saving.load_model`
finds the package's layers once `bnorder_tf.blocks` is imported, which
`import bnorder_tf` does at once when Keras is already imported.
"""

import importlib
import sys

__version__ = "0.1.0"

#: Each public name and the module it comes from.
_ATTRIBUTES = {
    "Block": "bnorder_tf.blocks",
    "ConventionBlock": "bnorder_tf.blocks",
    "NoBNBlock": "bnorder_tf.blocks",
    "SwapBlock": "bnorder_tf.blocks",
    "MODEL_NAMES": "bnorder_tf.models",
    "build_model": "bnorder_tf.models",
    "WeightDecay": "bnorder_tf.regularizers",
}
_SUBMODULES = ("activations", "regularizers")

__all__ = sorted([*_ATTRIBUTES, *_SUBMODULES])


def __getattr__(name):
    if name in _ATTRIBUTES:
        value = getattr(importlib.import_module(_ATTRIBUTES[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(__all__))


if "keras" in sys.modules:  # registers the layers for load_model; cheap now
    importlib.import_module("bnorder_tf.blocks")
