"""Activation statistics: saturation, skewness and sparsity, exactly.

The names below load TensorFlow when first used (`metrics`, the NumPy
side, does not), so that the report reads run directories without it.

Example:

>>> from bnorder_tf import stats
>>> result = stats.activation_stats(model, test_ds)
>>> result.to_dict()["model"]
{'saturation': ..., 'skewness': ..., 'sparsity': ...}
"""

import importlib

#: Each public name and the module it comes from.
_ATTRIBUTES = {
    "ActivationStatsCallback": "callback",
    "ActivationStatsPass": "engine",
    "activation_stats": "engine",
    "GradientStatsPass": "gradients",
    "gradient_stats": "gradients",
    "ActivationStats": "metrics",
    "LayerStats": "metrics",
    "ModelTaps": "taps",
    "Tap": "taps",
    "model_blocks": "taps",
    "tap_outputs": "taps",
}

__all__ = sorted(_ATTRIBUTES)


def __getattr__(name):
    if name not in _ATTRIBUTES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{_ATTRIBUTES[name]}")
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
