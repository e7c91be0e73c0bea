"""Taps: the activations of a Keras model to measure, read in one pass.

A *tap* is one activation of a model and the *block output* after it: the
BatchNormalization that directly consumes the activation (Swap order), or
else the activation itself (Convention and NoBN order). The statistics
engine, the statistics callback and the export's `activations` signature
all read a model through `ModelTaps`, so they measure the same tensors.

Two kinds of model are understood:

* the package's own models (`bnorder_tf.build_model`, or any chain of
  `ConventionBlock` / `SwapBlock` / `NoBNBlock` layers): one tap per block,
  read inside the block (`Block.call_with_taps`);
* any other functional or Sequential Keras model, branching graphs and
  `keras.applications` models included: one tap per activation layer
  (`Activation`, `ReLU`, `LeakyReLU`, `ELU`, `PReLU`) and per layer with a
  built-in activation (`Conv2D(..., activation="tanh")`), softmax and
  linear left out, read as extra outputs of a `keras.Model` over the same
  layers. The order of each tap is read from the graph.

Precision: under a mixed-precision policy (`mixed_bfloat16`,
`mixed_float16`) a model computes each activation in 16 bits from its
float32 weights, and which ops round to 16 bits depends on how the forward
pass was compiled. `ModelTaps` reads the taps in one of
`bnorder_tf.choices.STATS_PRECISIONS`:

* `"float32"` (the default): a forward pass in float32 from the model's
  float32 weights (`float32_compute`), the same values as the same weights
  in a float32 model: the statistics of the model, not of its rounding;
* `"compute"`: the model's own forward pass under its policy, 16-bit
  values under mixed precision, as the compiled network computes them.

For a model that computes in float32 both are the same pass.

Example:
An untrained MobileNet and two random images:

>>> import numpy as np
>>> model_taps = ModelTaps(keras.applications.MobileNet(
...     weights=None, input_shape=(32, 32, 3)))
>>> model_taps.taps[0]
Tap(name='conv1_relu', order='convention', kind='conv', bound=None, ...)
>>> images = np.random.default_rng(0).normal(size=(2, 32, 32, 3))
>>> outputs, tensors = model_taps(images.astype("float32"))
>>> tuple(tensors["conv1_relu"]["activation"].shape)
(2, 16, 16, 32)
"""

import contextlib
import dataclasses
import threading

import keras

from bnorder_tf import _compat
from bnorder_tf.choices import DEFAULT_STATS_PRECISION, STATS_PRECISIONS
from bnorder_tf.errors import lookup
from bnorder_tf.layers.activations import bound_of
from bnorder_tf.layers.blocks import Block

#: Activation layers tapped by default (besides layers with a built-in
#: activation).
ACTIVATION_LAYERS = (
    keras.layers.Activation,
    keras.layers.ReLU,
    keras.layers.LeakyReLU,
    keras.layers.ELU,
    keras.layers.PReLU,
)
#: Activations never tapped by default: a classifier's output and identity.
UNTAPPED_ACTIVATIONS = ("softmax", "linear", "log_softmax")
#: The compute dtypes of Keras's mixed-precision policies.
SIXTEEN_BIT_FLOATS = ("float16", "bfloat16")


def check_precision(precision):
    """Returns `precision`, one of `bnorder_tf.choices.STATS_PRECISIONS`.

    Raises:
        UnknownNameError: another one (a `ValueError`).
    """
    return lookup(STATS_PRECISIONS, precision, "precision")


# Layers switched to float32 by `float32_compute`: id -> [depth, layer,
# original policy]. Shared by every caller, so that overlapping uses (a
# MirroredStrategy traces each replica's function in a thread of its own)
# switch a layer once and restore it when the last one ends.
_SWITCHED = {}
_SWITCHED_LOCK = threading.Lock()


def sixteen_bit_layers(*layers):
    """The layers of `layers`, sublayers included, that compute in 16 bits.

    Each once; those that `float32_compute` switched to float32 count.
    """
    return [layer for layer in _all_layers(layers) if _sixteen_bit(layer)]


def _sixteen_bit(layer):
    return id(layer) in _SWITCHED or layer.compute_dtype in SIXTEEN_BIT_FLOATS


def _all_layers(layers):
    found = {}
    for layer in layers:
        for sublayer in _compat.sublayers(layer):
            found.setdefault(id(sublayer), sublayer)
    return list(found.values())


@contextlib.contextmanager
def float32_compute(*layers):
    """Runs `layers` (sublayers included) in float32 inside the block.

    Each layer whose compute dtype is float16 or bfloat16 gets a float32
    dtype policy inside the block: Keras's `Layer.__call__` then casts its
    inputs to float32 and reads its float32 variables as they are (a mixed
    policy's autocasting is what rounds them to 16 bits), so its ops run in
    float32 on the master weights, as the same layer built under a float32
    policy would. Variables are shared, nothing is copied.

    Wrap the tracing of a `tf.function` (the traced graph keeps its float32
    ops after the block) or an eager call. The original policies come back
    when the block ends, on an error too; the model's own functions (the
    training step, `predict`, an exported SavedModel) are traced outside
    the block and compute as before. Overlapping blocks over the same
    layers (one per replica thread under `MirroredStrategy`) restore them
    when the last one ends; nothing else should trace or call the model in
    another thread meanwhile.

    Args:
        *layers: Keras models or layers.

    Example:
    A dense layer built under the `mixed_bfloat16` policy:

    >>> import numpy as np
    >>> keras.mixed_precision.set_global_policy("mixed_bfloat16")
    >>> try:
    ...     model = keras.Sequential(
    ...         [keras.Input((4,)), keras.layers.Dense(3, activation="tanh")])
    ... finally:
    ...     keras.mixed_precision.set_global_policy("float32")
    >>> x = np.ones((2, 4), "float32")
    >>> keras.backend.standardize_dtype(model(x).dtype)
    'bfloat16'
    >>> with float32_compute(model):
    ...     logits = model(x)   # float32 logits from a bf16 model
    >>> keras.backend.standardize_dtype(logits.dtype)
    'float32'
    >>> model.compute_dtype
    'bfloat16'
    """
    float32 = keras.DTypePolicy("float32")
    with _SWITCHED_LOCK:
        switched = sixteen_bit_layers(*layers)
        for layer in switched:
            entry = _SWITCHED.get(id(layer))
            if entry is None:
                _SWITCHED[id(layer)] = [1, layer, layer.dtype_policy]
                layer.dtype_policy = float32
            else:
                entry[0] += 1
    try:
        yield
    finally:
        with _SWITCHED_LOCK:
            for layer in switched:
                entry = _SWITCHED[id(layer)]
                entry[0] -= 1
                if not entry[0]:
                    layer.dtype_policy = entry[2]
                    del _SWITCHED[id(layer)]


@dataclasses.dataclass(frozen=True)
class Tap:
    """One measured activation of a model.

    Attributes:
        name: the name its statistics are reported under: the block's
            name, or the activation layer's.
        order: `"swap"` (a BatchNormalization directly consumes the
            activation; its output is the block output), `"convention"`
            (the activation's input comes from a BatchNormalization) or
            `"nobn"`.
        kind: `"conv"`, `"depthwise"` or `"dense"`: the weight layer
            before it; `"other"` when there is none.
        bound: the activation's asymptote, or `None` when it has none
            (ReLU, ReLU6 and unknown functions): its saturation is then
            missing.
        channels: the size of the activation's last axis.

    Example:
    The tap of a plain Keras model, whose tanh output a
    BatchNormalization consumes (Swap order):

    >>> model = keras.Sequential([
    ...     keras.Input((4,)),
    ...     keras.layers.Dense(8, activation="tanh", name="hidden"),
    ...     keras.layers.BatchNormalization(),
    ...     keras.layers.Dense(3, name="logits")])
    >>> ModelTaps(model).taps
    (Tap(name='hidden', order='swap', kind='dense', bound=1.0, channels=8),)
    """

    name: str
    order: str
    kind: str
    bound: float = None
    channels: int = None


def _flat(tensors):
    return keras.tree.flatten(tensors)


def _single_node_tensor(layer, attribute):
    """`layer.input` or `layer.output`, or `None` for a shared layer.

    A layer used at several places of the graph has no single one.
    """
    try:
        return getattr(layer, attribute)
    except (AttributeError, ValueError):
        return None


def _activation_name(layer):
    """The name of a layer's activation function, or `None`."""
    if isinstance(layer, ACTIVATION_LAYERS) and not isinstance(
        layer, keras.layers.Activation
    ):
        return type(layer).__name__.lower()
    function = getattr(layer, "activation", None)
    if function is None:
        return None
    return getattr(function, "name", None) or getattr(
        function, "__name__", None
    )


def _is_activation(layer):
    if isinstance(layer, keras.layers.BatchNormalization):
        return False
    name = _activation_name(layer)
    return name is not None and name not in UNTAPPED_ACTIVATIONS


def _weight_kind(layer):
    if isinstance(layer, keras.layers.DepthwiseConv2D):
        return "depthwise"
    if isinstance(layer, keras.layers.Dense):
        return "dense"
    if isinstance(
        layer, (keras.layers.Conv1D, keras.layers.Conv2D, keras.layers.Conv3D)
    ):
        return "conv"
    return None


class _Graph:
    """Who produces and who consumes each tensor of a functional model."""

    def __init__(self, model):
        self.producer, self.consumers = {}, {}
        for layer in model.layers:
            output = _single_node_tensor(layer, "output")
            for tensor in _flat(output) if output is not None else []:
                self.producer[id(tensor)] = layer
            inputs = _single_node_tensor(layer, "input")
            for tensor in _flat(inputs) if inputs is not None else []:
                self.consumers.setdefault(id(tensor), []).append(layer)

    def input_layer(self, layer):
        """The layer producing `layer`'s only input, or `None`."""
        inputs = _single_node_tensor(layer, "input")
        inputs = [] if inputs is None else _flat(inputs)
        if len(inputs) != 1:
            return None
        return self.producer.get(id(inputs[0]))

    def tap(self, layer):
        """The `Tap` of an activation layer and its tensors.

        Returns:
            `(tap, activation tensor, output tensor)`.
        """
        activation = layer.output
        consumers = self.consumers.get(id(activation), [])
        norms = [
            c
            for c in consumers
            if isinstance(c, keras.layers.BatchNormalization)
        ]
        upstream = None if _weight_kind(layer) else self.input_layer(layer)
        if len(norms) == 1:
            order, output = "swap", norms[0].output
        elif isinstance(upstream, keras.layers.BatchNormalization):
            order, output = "convention", activation
        else:
            order, output = "nobn", activation
        kind = _weight_kind(layer)
        while kind is None and upstream is not None:
            kind = _weight_kind(upstream)
            if not isinstance(upstream, keras.layers.BatchNormalization):
                break
            upstream = self.input_layer(upstream)
        tap = Tap(
            name=layer.name,
            order=order,
            kind=kind or "other",
            bound=bound_of(getattr(layer, "activation", None)),
            channels=int(activation.shape[-1]),
        )
        return tap, activation, output


def _check_single_input(model):
    if not isinstance(model, keras.Model):
        raise ValueError(f"Expected a keras.Model, got {type(model).__name__}.")
    if len(model.inputs or []) != 1:
        raise ValueError(
            f"Model {model.name!r} has {len(model.inputs or [])} inputs: the "
            "statistics read models of one image input."
        )


def model_chain(model):
    """Returns the layers of a model of blocks in order, checking its chain.

    Args:
        model: a `keras.Sequential`, or a functional model whose layers
            each take the previous layer's output, with at least one
            `Block`.

    Returns:
        The list of layers, input layer excluded.

    Raises:
        ValueError: if the model is not a chain or contains no block.
    """
    if not isinstance(model, keras.Model):
        raise ValueError(f"Expected a keras.Model, got {type(model).__name__}.")
    layers = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    if not isinstance(model, keras.Sequential):
        previous = model.inputs[0] if len(model.inputs) == 1 else None
        for layer in layers:
            if previous is None or layer.input is not previous:
                raise ValueError(
                    f"Model {model.name!r} is not a chain of layers (layer "
                    f"{layer.name!r} does not take the previous layer's "
                    "output): a model of bnorder_tf blocks must have one "
                    "input, one output and no branches, e.g. a "
                    "keras.Sequential."
                )
            previous = layer.output
    if not any(isinstance(layer, Block) for layer in layers):
        raise ValueError(
            f"Model {model.name!r} has no ConventionBlock, SwapBlock or "
            "NoBNBlock layers. Build it with bnorder_tf.build_model or from "
            "bnorder_tf.layers.blocks."
        )
    return layers


def model_blocks(model):
    """The `Block` layers of a chain model, in order.

    Args:
        model: a chain model with at least one `Block` (see
            `model_chain`).

    Returns:
        The list of its `Block` layers.

    Raises:
        ValueError: if the model is not a chain or contains no block.

    Example:
    >>> from bnorder_tf.layers import ConventionBlock, SwapBlock
    >>> model = keras.Sequential([
    ...     keras.Input((8, 8, 3)), ConventionBlock(4, name="conv1"),
    ...     keras.layers.MaxPooling2D(), SwapBlock(4, name="conv2"),
    ...     keras.layers.Flatten(), keras.layers.Dense(10)])
    >>> [(block.name, block.order) for block in model_blocks(model)]
    [('conv1', 'convention'), ('conv2', 'swap')]
    """
    return [layer for layer in model_chain(model) if isinstance(layer, Block)]


def has_blocks(model):
    """Whether `model` holds bnorder_tf blocks (then it is read as a chain)."""
    return any(isinstance(layer, Block) for layer in model.layers)


def forward_with_taps(layers, x, training=False, include_inputs=False):
    """Runs a chain of layers once, collecting every block's taps.

    Args:
        layers: the model's layers, from `model_chain`.
        x: a batch of preprocessed images.
        training: bool, passed to every layer.
        include_inputs: bool, also record each block's input (`"input"`)
            and the activation's input (`"preactivation"`).

    Returns:
        `(logits, taps)` where `taps` maps block name to a dict of tensors.
    """
    taps = {}
    for layer in layers:
        if isinstance(layer, Block):
            block_taps = layer.call_with_taps(
                x, training=training, include_preactivation=include_inputs
            )
            if include_inputs:
                block_taps["input"] = x
            taps[layer.name] = block_taps
            x = block_taps["output"]
        else:
            x = layer(x, training=training)
    return x, taps


def _block_tap(block):
    return Tap(
        name=block.name,
        order=block.order,
        kind=block.kind,
        bound=block.bound,
        channels=int(block.compute_output_shape(block.input.shape)[-1]),
    )


def _select(taps, names, model):
    if names is None:
        return taps
    names = _checked_names(names, [tap.name for tap in taps], model)
    return [tap for tap in taps if tap.name in names]  # in model order


def _checked_names(names, valid, model):
    """`names` as a list, each one of `valid`, the layers that can be tapped.

    Raises:
        UnknownNameError: a name not in `valid`.
        ValueError: no name at all.
    """
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise ValueError(f"taps must name layers of model {model.name!r}.")
    for name in names:
        lookup(valid, name, "layer to tap")
    return names


class ModelTaps:
    """The taps of a model and one forward pass that returns them.

    Args:
        model: a model of bnorder_tf blocks (one tap per block), or any
            functional or Sequential Keras model with one input.
        taps: optional list of layer names to tap (block names for a
            model of blocks). For another model any layer may be named;
            its output is the activation tap and its bound is its
            activation's, when it has a known one. `None`: every block,
            or every activation (see the module docstring).
        precision: `"float32"` (default): the taps of a forward pass in
            float32 from the model's float32 weights, whatever its dtype
            policy; `"compute"`: the model's own forward pass under its
            policy (see the module docstring).

    Attributes:
        taps: the `Tap`s, in model order.
        precision: the `precision` given.
        recomputed: bool, whether the taps come from a forward pass other
            than the model's own: a float32 pass of a model that computes
            in 16 bits. The outputs returned with them are then that
            pass's float32 outputs, not what the model computes.

    Raises:
        ValueError: for a model with several inputs, a model of blocks
            that is not a chain, or a model with nothing to tap.
        UnknownNameError: an unknown tap name or precision (a
            `ValueError` too).

    Example:
    Two activations of an untrained MobileNet, on two random images:

    >>> import numpy as np
    >>> model = keras.applications.MobileNet(
    ...     weights=None, input_shape=(32, 32, 3), alpha=0.25)
    >>> model_taps = ModelTaps(model, taps=["conv1_relu", "conv_pw_1_relu"])
    >>> [tap.order for tap in model_taps.taps]
    ['convention', 'convention']
    >>> images = np.random.default_rng(0).normal(size=(2, 32, 32, 3))
    >>> logits, tensors = model_taps(images.astype("float32"))
    >>> tuple(logits.shape), sorted(tensors)
    ((2, 1000), ['conv1_relu', 'conv_pw_1_relu'])
    """

    def __init__(self, model, taps=None, precision=DEFAULT_STATS_PRECISION):
        _check_single_input(model)
        self.model = model
        self.precision = check_precision(precision)
        self.recomputed = precision == "float32" and bool(
            sixteen_bit_layers(model)
        )
        if has_blocks(model):
            self._layers = model_chain(model)
            all_taps = [
                _block_tap(layer)
                for layer in self._layers
                if isinstance(layer, Block)
            ]
            self.taps = tuple(_select(all_taps, taps, model))
            self._tap_model = None
            return
        self._layers = None
        graph = _Graph(model)
        layers = [
            layer
            for layer in model.layers
            if not isinstance(layer, keras.layers.InputLayer)
            and _single_node_tensor(layer, "output") is not None
        ]
        activations = [layer for layer in layers if _is_activation(layer)]
        if taps is None:
            chosen = activations
        else:
            names = _checked_names(taps, [x.name for x in layers], model)
            chosen = [layer for layer in layers if layer.name in names]
        found = {layer.name: graph.tap(layer) for layer in chosen}
        selected = [tap for tap, _, _ in found.values()]
        if not selected:
            raise ValueError(
                f"Model {model.name!r} has no activation layer and no layer "
                "with a built-in activation to tap: name the layers to "
                "measure with taps=[...]."
            )
        self.taps = tuple(selected)
        outputs = list(model.outputs)
        for tap in self.taps:
            _, activation, output = found[tap.name]
            outputs += [activation, output]
        self._tap_model = keras.Model(model.inputs, outputs)

    @property
    def names(self):
        """The tap names, in model order."""
        return [tap.name for tap in self.taps]

    def __call__(self, inputs, training=False):
        """Runs the model once on `inputs`.

        Returns:
            `(outputs, tensors)`: the model's output and a dict from tap
            name to `{"activation": tensor, "output": tensor}`; in
            Convention and NoBN order both are the same tensor. All are in
            float32 when `recomputed`.
        """
        if not self.recomputed:
            return self._call(inputs, training)
        layers = [self.model]
        if self._tap_model is not None:
            layers.append(self._tap_model)
        with float32_compute(*layers):
            return self._call(inputs, training)

    def _call(self, inputs, training):
        if self._tap_model is None:
            outputs, block_taps = forward_with_taps(
                self._layers, inputs, training=training
            )
            return outputs, {name: block_taps[name] for name in self.names}
        values = self._tap_model(inputs, training=training)
        count = len(self.model.outputs)
        outputs = values[0] if count == 1 else values[:count]
        tensors = {}
        for i, tap in enumerate(self.taps):
            activation, output = values[count + 2 * i : count + 2 * i + 2]
            if tap.order != "swap":
                output = activation
            tensors[tap.name] = {"activation": activation, "output": output}
        return outputs, tensors


def tap_outputs(model, x, taps=None, precision=DEFAULT_STATS_PRECISION):
    """Returns every tap's tensors for one batch, in inference mode.

    The forward pass is compiled (a `tf.function`), as the statistics pass
    runs it: TensorFlow's graph optimizer rewrites a compiled pass (on
    CPUs, oneDNN fuses a dense layer's MatMul, BiasAdd and activation into
    one op, rounded once), so under mixed precision the eager ops, each
    rounded to 16 bits, give other values. These are the values that
    `activation_stats` measures for the same batch, up to the last bit
    where oneDNN picks another kernel for another batch shape.

    Args:
        model: a model of blocks or any single-input Keras model.
        x: a batch of preprocessed images (array or tensor).
        taps: optional layer names to tap (see `ModelTaps`).
        precision: `"float32"` (default) or `"compute"` (see
            `ModelTaps`).

    Returns:
        A dict from tap name to `{"activation": ..., "output": ...}`.

    Example:
    A tiny VGG11 and two random images:

    >>> import numpy as np
    >>> from bnorder_tf import build_model
    >>> model = build_model("vgg11", order="swap", activation="tanh",
    ...                     num_classes=10, input_shape=(32, 32, 3),
    ...                     width=0.125)
    >>> images = np.random.default_rng(0).normal(size=(2, 32, 32, 3))
    >>> images = images.astype("float32")
    >>> taps = tap_outputs(model, images)
    >>> tuple(taps["conv1"]["activation"].shape)
    (2, 32, 32, 8)

    A VGG11 built the same way under `mixed_bfloat16`, its taps as it
    computes them:

    >>> keras.mixed_precision.set_global_policy("mixed_bfloat16")
    >>> try:
    ...     bf16_model = build_model(
    ...         "vgg11", order="swap", activation="tanh", num_classes=10,
    ...         input_shape=(32, 32, 3), width=0.125)
    ... finally:
    ...     keras.mixed_precision.set_global_policy("float32")
    >>> tap_outputs(bf16_model, images, precision="compute")[
    ...     "conv1"]["activation"].dtype
    tf.bfloat16
    """
    import tensorflow as tf

    model_taps = ModelTaps(model, taps, precision=precision)
    images = tf.convert_to_tensor(x)
    # one trace per call, by design: called as a ConcreteFunction, it does
    # not count towards TensorFlow's warning about frequent retracing
    forward = tf.function(
        lambda images: model_taps(images, training=False)[1], autograph=False
    ).get_concrete_function(images)
    return forward(images)
