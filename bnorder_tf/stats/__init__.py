"""Activation statistics: saturation, skewness and sparsity, exactly.

Example:

>>> from bnorder_tf import stats
>>> result = stats.activation_stats(model, test_ds)
>>> result.to_dict()["model"]
{'saturation': ..., 'skewness': ..., 'sparsity': ...}
"""

from bnorder_tf.stats.callback import ActivationStatsCallback
from bnorder_tf.stats.engine import ActivationStatsPass, activation_stats
from bnorder_tf.stats.gradients import GradientStatsPass, gradient_stats
from bnorder_tf.stats.metrics import ActivationStats, LayerStats
from bnorder_tf.stats.taps import ModelTaps, Tap, model_blocks, tap_outputs

__all__ = [
    "ActivationStatsCallback",
    "GradientStatsPass",
    "gradient_stats",
    "ActivationStats",
    "ActivationStatsPass",
    "LayerStats",
    "activation_stats",
    "ModelTaps",
    "Tap",
    "model_blocks",
    "tap_outputs",
]
