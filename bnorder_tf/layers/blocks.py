"""Convention, Swap and NoBN blocks: one implementation, the order is data.

A block is a weight layer (conv, depthwise conv or dense), a batch
normalization and an activation, applied in one of three orders:

| order        | sequence                    | class            |
|--------------|-----------------------------|------------------|
| `convention` | weight -> BN -> activation  | `ConventionBlock`|
| `swap`       | weight -> activation -> BN  | `SwapBlock`      |
| `nobn`       | weight -> activation        | `NoBNBlock`      |

All three are the same `Block` class with a different `order`, so taps,
weight decay and serialization exist once. Every block can return its two
*taps* from a single forward computation: the activation's output and the
block's output (see `call_with_taps`), which the statistics engine reads.

Weight decay follows PyTorch's SGD, which the paper used: every parameter
decays. Kernels and biases decay at `weight_decay`; BN's gamma and beta at
`bn_gamma_decay` and `bn_beta_decay` (`None` means "same as
`weight_decay`", `0` means "no decay"). NWDBN is a Convention block with
`bn_gamma_decay=0, bn_beta_decay=0`.
"""

import keras

from bnorder_tf import choices
from bnorder_tf.errors import lookup
from bnorder_tf.layers import activations as activations_lib
from bnorder_tf.layers.batch_normalization import FusedBatchNormalization
from bnorder_tf.layers.initializers import SCHEMES, initializers_for
from bnorder_tf.layers.regularizers import weight_decay_or_none

#: The sublayer sequence of each order.
ORDERS = {
    "convention": ("weight", "norm", "activation"),
    "swap": ("weight", "activation", "norm"),
    "nobn": ("weight", "activation"),
}
choices.check_registry(ORDERS, choices.ORDERS, "block order")

#: The weight layers a block can be built on.
KINDS = ("conv", "depthwise", "dense")


@keras.saving.register_keras_serializable(package="bnorder_tf")
class Block(keras.layers.Layer):
    """A weight layer, BN and an activation, in the order given by `order`.

    Args:
        filters: int, output channels of a conv block or units of a dense
            block; `None` for a depthwise block (one filter per channel).
        order: `"convention"`, `"swap"` or `"nobn"` (see `ORDERS`).
        kind: `"conv"` (`Conv2D`), `"depthwise"` (`DepthwiseConv2D`) or
            `"dense"` (`Dense`).
        activation: a name from `bnorder_tf.layers.activations.NAMES`, or an
            activation object (e.g. `ShiftedTanh(output_shift=0.5)`).
        kernel_size: int, conv and depthwise blocks only.
        strides: int, conv and depthwise blocks only.
        padding: `"same"` or `"valid"`, conv and depthwise blocks only.
        use_bias: bool, whether the weight layer has a bias.
        weight_decay: float >= 0, PyTorch-style decay of the kernel and bias.
        bn_gamma_decay: float >= 0 or `None` (= `weight_decay`), decay of
            BN's gamma.
        bn_beta_decay: float >= 0 or `None` (= `weight_decay`), decay of
            BN's beta.
        bn_momentum: float, Keras momentum of BN's moving statistics (0.9
            is PyTorch's `momentum=0.1`).
        bn_epsilon: float, BN's epsilon (PyTorch's default 1e-5).
        bn_synchronized: bool, under `tf.distribute` compute BN's batch
            statistics over the global batch (Keras `synchronized=True`)
            rather than each replica's share, so that training does not
            depend on the number of replicas. No effect on one device.
        kernel_initializer: initializer of the weight layer's kernel: a
            scheme of `bnorder_tf.layers.initializers.SCHEMES` (`"torch"`,
            `"glorot_uniform"`, `"he_normal"`), which sets the bias
            initializer too (PyTorch's fan-in uniform for `"torch"`, zeros
            otherwise), or any Keras initializer (zero bias).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`).

    Call arguments:
        inputs: a `[batch, H, W, C]` tensor (conv, depthwise) or a
            `[batch, features]` tensor (dense).
        training: bool, BN uses batch statistics when True.

    Input shape:
        4D `(batch, H, W, C)` for conv and depthwise, 2D for dense.

    Output shape:
        The weight layer's output shape.

    Example:
    >>> block = Block(32, order="swap", activation="tanh")
    >>> taps = block.call_with_taps(keras.ops.ones((2, 8, 8, 3)))
    >>> sorted(taps)
    ['activation', 'output']
    """

    def __init__(
        self,
        filters=None,
        *,
        order,
        kind="conv",
        activation="tanh",
        kernel_size=3,
        strides=1,
        padding="same",
        use_bias=True,
        weight_decay=0.0,
        bn_gamma_decay=None,
        bn_beta_decay=None,
        bn_momentum=0.9,
        bn_epsilon=1e-5,
        bn_synchronized=False,
        kernel_initializer="glorot_uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_arguments(order, kind, filters)
        self.filters = filters
        self.order = order
        self.kind = kind
        self.activation = activations_lib.get(activation)
        self.kernel_size = kernel_size
        self.strides = strides
        self.padding = padding
        self.use_bias = use_bias
        self.weight_decay = float(weight_decay)
        self.bn_gamma_decay = bn_gamma_decay
        self.bn_beta_decay = bn_beta_decay
        self.bn_momentum = bn_momentum
        self.bn_epsilon = bn_epsilon
        self.bn_synchronized = bool(bn_synchronized)
        self.kernel_initializer = (
            kernel_initializer
            if kernel_initializer in SCHEMES
            else keras.initializers.get(kernel_initializer)
        )
        self.weight_layer = self._make_weight_layer()
        self.norm = self._make_norm() if "norm" in ORDERS[order] else None

    def _make_norm(self):
        return FusedBatchNormalization(
            momentum=self.bn_momentum,
            epsilon=self.bn_epsilon,
            synchronized=self.bn_synchronized,
            gamma_regularizer=weight_decay_or_none(
                self._resolved_decay(self.bn_gamma_decay)
            ),
            beta_regularizer=weight_decay_or_none(
                self._resolved_decay(self.bn_beta_decay)
            ),
            name="bn",
            # sublayers compute in the block's dtype policy (mixed precision)
            dtype=self.dtype_policy,
        )

    def _resolved_decay(self, rate):
        return self.weight_decay if rate is None else float(rate)

    def _make_weight_layer(self):
        decay = weight_decay_or_none(self.weight_decay)
        # sublayers compute in the block's dtype policy (mixed precision)
        common = dict(
            use_bias=self.use_bias,
            bias_regularizer=decay if self.use_bias else None,
            dtype=self.dtype_policy,
        )
        if self.kind == "dense":
            return keras.layers.Dense(
                self.filters,
                kernel_initializer=self._layer_initializer,
                kernel_regularizer=decay,
                name="dense",
                **common,
            )
        spatial = dict(
            kernel_size=self.kernel_size,
            strides=self.strides,
            padding=self.padding,
        )
        if self.kind == "depthwise":
            return keras.layers.DepthwiseConv2D(
                depthwise_initializer=self._layer_initializer,
                depthwise_regularizer=decay,
                name="depthwise",
                **spatial,
                **common,
            )
        return keras.layers.Conv2D(
            self.filters,
            kernel_initializer=self._layer_initializer,
            kernel_regularizer=decay,
            name="conv",
            **spatial,
            **common,
        )

    @property
    def bound(self):
        """The activation's asymptote (`None` for an unbounded one)."""
        return self.activation.bound

    @property
    def kernel(self):
        """The weight layer's kernel variable (depthwise kernel included)."""
        if self.kind == "depthwise":
            return self.weight_layer.depthwise_kernel
        return self.weight_layer.kernel

    def build(self, input_shape):
        if self.kernel_initializer in SCHEMES:
            kernel, bias = initializers_for(
                self.kernel_initializer, self._fan_in(input_shape)
            )
            if self.kind == "depthwise":
                self.weight_layer.depthwise_initializer = kernel
            else:
                self.weight_layer.kernel_initializer = kernel
            self.weight_layer.bias_initializer = bias
        self.weight_layer.build(input_shape)
        if self.norm is not None:
            self.norm.build(self.weight_layer.compute_output_shape(input_shape))

    @property
    def _layer_initializer(self):
        # a scheme's initializers depend on the fan-in: set in `build`
        if self.kernel_initializer in SCHEMES:
            return "zeros"
        return self.kernel_initializer

    def _fan_in(self, input_shape):
        if self.kind == "dense":
            return int(input_shape[-1])
        size = self.kernel_size
        area = size * size if isinstance(size, int) else size[0] * size[1]
        channels = 1 if self.kind == "depthwise" else int(input_shape[-1])
        return area * channels

    def compute_output_shape(self, input_shape):
        return self.weight_layer.compute_output_shape(input_shape)

    def call(self, inputs, training=None):
        return self.call_with_taps(inputs, training=training)["output"]

    def call_with_taps(
        self, inputs, training=False, include_preactivation=False
    ):
        """Runs the block once and returns its taps.

        Args:
            inputs: the block's input tensor.
            training: bool, passed to BN.
            include_preactivation: bool, also return the activation's input
                under `"preactivation"` (for gradient statistics).

        Returns:
            A dict with `"activation"` (the activation's output) and
            `"output"` (the block's output), plus `"preactivation"` when
            asked. In Convention and NoBN order both taps are the same
            tensor.
        """
        taps = {}
        x = self.weight_layer(inputs)
        for step in ORDERS[self.order][1:]:
            if step == "norm":
                x = self.norm(x, training=training)
            else:
                taps["preactivation"] = x
                x = self.activation(x)
                taps["activation"] = x
        taps["output"] = x
        if not include_preactivation:
            del taps["preactivation"]
        return taps

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "order": self.order,
                "kind": self.kind,
                "activation": activations_lib.serialize(self.activation),
                "kernel_size": self.kernel_size,
                "strides": self.strides,
                "padding": self.padding,
                "use_bias": self.use_bias,
                "weight_decay": self.weight_decay,
                "bn_gamma_decay": self.bn_gamma_decay,
                "bn_beta_decay": self.bn_beta_decay,
                "bn_momentum": self.bn_momentum,
                "bn_epsilon": self.bn_epsilon,
                "bn_synchronized": self.bn_synchronized,
                "kernel_initializer": (
                    self.kernel_initializer
                    if self.kernel_initializer in SCHEMES
                    else keras.initializers.serialize(self.kernel_initializer)
                ),
            }
        )
        return config


class _FixedOrderBlock(Block):
    """A `Block` whose order is fixed by the class (`ORDER`)."""

    ORDER = None

    def __init__(self, filters=None, **kwargs):
        kwargs.pop("order", None)
        super().__init__(filters, order=self.ORDER, **kwargs)

    def get_config(self):
        config = super().get_config()
        del config["order"]
        return config


@keras.saving.register_keras_serializable(package="bnorder_tf")
class ConventionBlock(_FixedOrderBlock):
    """weight -> BN -> activation. Arguments as `Block`, without `order`.

    Example:
    The activation comes last, so a tanh block's output stays in [-1, 1]:

    >>> block = ConventionBlock(16, activation="tanh")
    >>> x = keras.random.normal((2, 8, 8, 3), seed=0)
    >>> y = block(x, training=True)
    >>> tuple(y.shape)
    (2, 8, 8, 16)
    >>> float(keras.ops.max(keras.ops.abs(y))) <= 1.0
    True
    >>> block.weight_layer.name, block.norm.name
    ('conv', 'bn')
    """

    ORDER = "convention"


@keras.saving.register_keras_serializable(package="bnorder_tf")
class SwapBlock(_FixedOrderBlock):
    """weight -> activation -> BN. Arguments as `Block`, without `order`.

    Example:
    BN comes last, so in training each output channel has mean 0:

    >>> block = SwapBlock(16, activation="tanh")
    >>> x = keras.random.normal((2, 8, 8, 3), seed=0)
    >>> y = block(x, training=True)
    >>> tuple(y.shape)
    (2, 8, 8, 16)
    >>> means = keras.ops.mean(y, axis=(0, 1, 2))
    >>> bool(keras.ops.all(keras.ops.abs(means) < 1e-4))
    True

    A dense block on features, and a depthwise one (one filter per
    channel, `filters=None`):

    >>> dense = SwapBlock(4, kind="dense", activation="lecun_tanh")
    >>> tuple(dense(keras.ops.ones((2, 3))).shape)
    (2, 4)
    >>> depthwise = SwapBlock(kind="depthwise", strides=2)
    >>> tuple(depthwise(x).shape)
    (2, 4, 4, 3)
    """

    ORDER = "swap"


@keras.saving.register_keras_serializable(package="bnorder_tf")
class NoBNBlock(_FixedOrderBlock):
    """weight -> activation. Arguments as `Block`, without `order`.

    Example:
    No BN: the block holds only the weight layer's kernel and bias:

    >>> block = NoBNBlock(4, kind="dense", activation="softsign")
    >>> tuple(block(keras.ops.ones((2, 3))).shape)
    (2, 4)
    >>> print(block.norm)
    None
    >>> [tuple(w.shape) for w in block.weights]
    [(3, 4), (4,)]
    """

    ORDER = "nobn"


def _check_arguments(order, kind, filters):
    lookup(ORDERS, order, "order")
    lookup(KINDS, kind, "kind")
    if kind == "depthwise":
        if filters is not None:
            raise ValueError(
                "A depthwise block has one filter per input channel: "
                f"pass filters=None, not {filters!r}."
            )
    elif not filters or filters < 1:
        raise ValueError(f"A {kind} block needs filters >= 1, got {filters!r}.")


_CLASS_BY_ORDER = {
    cls.ORDER: cls for cls in (ConventionBlock, SwapBlock, NoBNBlock)
}


def block_class(order):
    """Returns `ConventionBlock`, `SwapBlock` or `NoBNBlock` for an order.

    Args:
        order: `"convention"`, `"swap"` or `"nobn"` (see `ORDERS`).

    Returns:
        The block class.

    Raises:
        UnknownNameError: for another order, listing the valid ones (a
            `LookupError` and a `ValueError`).

    Example:
    >>> block_class("swap")
    <class 'bnorder_tf.layers.blocks.SwapBlock'>
    >>> block = block_class("convention")(8, activation="tanh")
    >>> block.order
    'convention'
    >>> try:
    ...     block_class("post")
    ... except ValueError as error:
    ...     print(error)
    Unknown order 'post'; valid values are: convention, swap, nobn.
    """
    return lookup(_CLASS_BY_ORDER, order, "order")
