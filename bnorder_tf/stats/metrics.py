"""The former name of `bnorder_tf.stats.results`, kept for old imports.

Deprecated: import from `bnorder_tf.stats.results` (or, for the result
classes, from `bnorder_tf.stats`). Keras's own metrics are
`bnorder_tf.training.steps.StepMetrics`.
"""

from bnorder_tf.stats.results import (  # noqa: F401
    AVERAGED_BLOCKS,
    LAYER_COUNT_KEYS,
    LAYER_VALUE_KEYS,
    MODEL_KEYS,
    ZERO_VARIANCE_RTOL,
    ActivationStats,
    LayerStats,
    channel_skewness,
)
