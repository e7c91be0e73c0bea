"""Activation statistics: saturation, skewness and sparsity, exactly.

`activation_stats(model, dataset)` measures a model's blocks in one
compiled pass over a dataset; `ActivationStatsCallback` does it at the end
of training epochs and writes `stats.jsonl` and TensorBoard summaries;
`ModelTaps` exposes the tensors measured. The names below load TensorFlow
when first used (`results`, the NumPy side, does not), so that the report
reads run directories without it.

Example:
>>> import numpy as np, tensorflow as tf
>>> from bnorder_tf import build_model, stats
>>> model = build_model("vgg11", order="swap", activation="tanh",
...                     num_classes=10, input_shape=(32, 32, 3), width=0.125)
>>> images = np.random.default_rng(0).normal(size=(8, 32, 32, 3))
>>> dataset = tf.data.Dataset.from_tensor_slices(
...     (images.astype("float32"), np.zeros(8, "int64"))).batch(4)
>>> result = stats.activation_stats(model, dataset)
>>> sorted(result.to_dict()["model"])
['saturation', 'skewness', 'sparsity']
"""

from bnorder_tf._lazy import attach

#: The file, in a run's (or a callback's `log_dir`) directory, that
#: holds one JSON record per measured epoch.
STATS_FILE = "stats.jsonl"

__getattr__, __dir__, __all__ = attach(
    __name__,
    {
        "ActivationStatsCallback": "callback",
        "ActivationStatsPass": "engine",
        "activation_stats": "engine",
        "GradientStatsPass": "gradients",
        "gradient_stats": "gradients",
        "ActivationStats": "results",
        "LayerStats": "results",
        "ModelTaps": "taps",
        "Tap": "taps",
        "model_blocks": "taps",
        "tap_outputs": "taps",
    },
)
__all__ = [*__all__, "STATS_FILE"]
