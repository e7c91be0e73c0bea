"""Weight decay with PyTorch semantics, as a Keras regularizer.

The paper trained with PyTorch's SGD, whose `weight_decay=rate` adds
`rate * w` to each gradient. The loss term with that gradient is
`0.5 * rate * sum(w ** 2)`, which is what `WeightDecay(rate)` adds to
`model.losses`. Keras's `L2(l2)` adds `l2 * sum(w ** 2)`, so
`WeightDecay(rate)` equals `keras.regularizers.L2(rate / 2)`.

Do not also set the optimizer's own `weight_decay`: the parameters would be
decayed twice.
"""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="bnorder_tf")
class WeightDecay(keras.regularizers.Regularizer):
    """Adds `0.5 * rate * sum(w ** 2)` to the loss (PyTorch SGD decay).

    Args:
        rate: float >= 0, the `weight_decay` a PyTorch SGD would be given.

    Example:
    >>> layer = keras.layers.Dense(3, kernel_regularizer=WeightDecay(5e-4))
    """

    def __init__(self, rate: float):
        rate = float(rate)
        if rate < 0:
            raise ValueError(f"WeightDecay rate must be >= 0, got {rate}.")
        self.rate = rate

    def __call__(self, x):
        return 0.5 * self.rate * ops.sum(ops.square(x))

    def get_config(self):
        return {"rate": self.rate}


def weight_decay_or_none(rate: float) -> WeightDecay | None:
    """`WeightDecay(rate)` for a positive rate, `None` (no term) for 0."""
    return WeightDecay(rate) if rate else None
