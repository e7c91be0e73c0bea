"""bnorder_tf: where batch normalization belongs with bounded activations.

Convention (weight -> BN -> f) and Swap (weight -> f -> BN) blocks, VGG and
MobileNet built from them, BN-targeted weight decay, exact activation
statistics (saturation, skewness, sparsity), and a resumable, distributed
runner for TensorFlow/Keras 3.

Importing the package is light: its names load Keras when first used (as
Keras and TensorFlow load their own submodules), so that the programs
answer `--help` and bad flags at once. `keras.saving.load_model` finds the
package's layers once `bnorder_tf.layers` is imported, which
`import bnorder_tf` does at once when Keras is already imported.

Example:
>>> import bnorder_tf
>>> bnorder_tf.SwapBlock.__name__
'SwapBlock'
"""

import importlib
import sys

from bnorder_tf._lazy import attach
from bnorder_tf.version import __version__

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        # layers
        "Block": "layers",
        "ConventionBlock": "layers",
        "NoBNBlock": "layers",
        "SwapBlock": "layers",
        "FusedBatchNormalization": "layers",
        "ReplicaMeanBatchNormalization": "layers",
        "WeightDecay": "layers",
        "LeCunTanh": "layers",
        "ReLU": "layers",
        "ShiftedTanh": "layers",
        "Softsign": "layers",
        "Tanh": "layers",
        # models
        "BlockConfig": "models",
        "MODEL_NAMES": "models",
        "build_model": "models",
        # statistics
        "ActivationStats": "stats",
        "ActivationStatsCallback": "stats",
        "ModelTaps": "stats",
        "activation_stats": "stats",
        # training
        "RunResult": "training",
        "TrainConfig": "training",
        "run_training": "training",
        # subpackages
        "data": None,
        "layers": None,
        "models": None,
        "report": None,
        "serving": None,
        "stats": None,
        "training": None,
        "tuning": None,
    },
)
# The former name of FusedBatchNormalization still imports, but is not
# listed as a public name of its own.
__all__ = [
    *(name for name in __all__ if name != "ReplicaMeanBatchNormalization"),
    "__version__",
]

if "keras" in sys.modules:  # registers the layers for load_model; cheap now
    importlib.import_module("bnorder_tf.layers")
