"""Activation functions studied by the paper, each knowing its asymptote.

Every activation here is a small registered Keras serializable: calling it
applies the function, `bound` is the largest absolute value it can
approach (its asymptote), or `None` when it has none (ReLU). The statistics
engine divides by `bound` to measure saturation. Any Keras layer can use
one by its registered name, `"bnorder_tf>" + name`, and saves and loads it
through Keras's own serialization, as `Block` does.

Example:
>>> import keras
>>> from bnorder_tf.layers import activations
>>> f = activations.get("lecun_tanh")
>>> f.bound
1.7159
>>> layer = keras.layers.Activation("bnorder_tf>lecun_tanh")
>>> dense = keras.layers.Dense(8, activation="bnorder_tf>softsign")
"""

import keras
from keras import ops

from bnorder_tf import _compat as compat
from bnorder_tf import choices
from bnorder_tf.errors import lookup

_PACKAGE = "bnorder_tf"


class BoundedActivation:
    """Base class: an elementwise function with an optional asymptote.

    Subclasses set `name`, implement `__call__` with `keras.ops` and, when
    the function is bounded, `bound`.

    Example:
    A hard tanh, clipped at -1 and 1:

    >>> class HardTanh(BoundedActivation):
    ...     name = "hard_tanh"
    ...     bound = 1.0
    ...     def __call__(self, x):
    ...         return keras.ops.clip(x, -1.0, 1.0)
    >>> f = HardTanh()
    >>> [float(v) for v in f(keras.ops.convert_to_tensor([-3.0, 0.5, 2.0]))]
    [-1.0, 0.5, 1.0]
    >>> f, bound_of(f)
    (HardTanh(), 1.0)
    """

    name = None
    bound = None

    def __call__(self, x):
        raise NotImplementedError

    def get_config(self):
        return {}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    def __eq__(self, other):
        return (
            type(self) is type(other)
            and self.get_config() == other.get_config()
        )

    def __hash__(self):
        return hash((type(self).__name__, tuple(self.get_config().items())))

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class ReLU(BoundedActivation):
    """`max(x, 0)`: unbounded above, so `bound` is `None`.

    Example:
    >>> f = ReLU()
    >>> [float(v) for v in f(keras.ops.convert_to_tensor([-2.0, 0.0, 3.0]))]
    [0.0, 0.0, 3.0]
    >>> print(f.bound)  # no asymptote: its saturation is not defined
    None
    """

    name = "relu"

    def __call__(self, x):
        return ops.relu(x)


class Tanh(BoundedActivation):
    """`tanh(x)`, asymptotes at -1 and 1.

    Example:
    >>> f = Tanh()
    >>> y = f(keras.ops.convert_to_tensor([-10.0, 0.0, 1.0]))
    >>> [round(float(v), 4) for v in y]
    [-1.0, 0.0, 0.7616]
    >>> f.bound
    1.0
    >>> dense = keras.layers.Dense(2, activation="bnorder_tf>tanh",
    ...                            kernel_initializer="ones")
    >>> [round(float(v), 4) for v in dense(keras.ops.ones((1, 1)))[0]]
    [0.7616, 0.7616]
    """

    name = "tanh"
    bound = 1.0

    def __call__(self, x):
        return ops.tanh(x)


class LeCunTanh(BoundedActivation):
    """LeCun's scaled tanh, `1.7159 * tanh(2 x / 3)`, asymptotes at +-1.7159.

    Example:
    It maps 1 and -1 to nearly themselves, and approaches its bound far
    out:

    >>> f = LeCunTanh()
    >>> y = f(keras.ops.convert_to_tensor([-1.0, 1.0, 20.0]))
    >>> [round(float(v), 4) for v in y]
    [-1.0, 1.0, 1.7159]
    >>> f.bound
    1.7159
    """

    name = "lecun_tanh"
    bound = 1.7159

    def __call__(self, x):
        return 1.7159 * ops.tanh(x * (2.0 / 3.0))


class Softsign(BoundedActivation):
    """`x / (1 + |x|)`, asymptotes at -1 and 1, approached polynomially.

    Example:
    >>> f = Softsign()
    >>> y = f(keras.ops.convert_to_tensor([-3.0, 1.0, 9.0]))
    >>> [round(float(v), 4) for v in y]
    [-0.75, 0.5, 0.9]
    >>> f.bound
    1.0
    """

    name = "softsign"
    bound = 1.0

    def __call__(self, x):
        return x / (1.0 + ops.abs(x))


class ShiftedTanh(BoundedActivation):
    """A tanh moved off the origin: `tanh(x - input_shift) + output_shift`.

    The default is an input shift, `tanh(x - 1)`: an input near zero (the
    usual output of a weight layer at initialisation) lands on the steep
    negative side, so every channel starts saturating toward -1. This is
    our reading of the "tanh shifted to have consistent asymmetry" of
    "Tanh Works Better With Asymmetry" (NeurIPS 2023), whose exact
    parameterisation is not published.

    Why an input shift: in Swap order (weight -> f -> BN) the following BN
    subtracts each channel's mean, so an output shift is cancelled exactly
    and changes nothing. An input shift can only be undone by the weight
    layer's bias moving by `input_shift`, which weight decay on that bias
    resists, so it persists (fully so in a layer without bias). Its
    `bound` is the largest absolute asymptote, `1 + |output_shift|`.

    Args:
        input_shift: float, subtracted from the input before the tanh
            (default 1.0).
        output_shift: float, added to the tanh's output (default 0.0).

    Example:
    >>> round(float(ShiftedTanh()(0.0)), 6)   # tanh(-1)
    -0.761594
    """

    name = "shifted_tanh"

    def __init__(self, input_shift=1.0, output_shift=0.0):
        self.input_shift = float(input_shift)
        self.output_shift = float(output_shift)

    @property
    def bound(self):
        return 1.0 + abs(self.output_shift)

    def __call__(self, x):
        return ops.tanh(x - self.input_shift) + self.output_shift

    def get_config(self):
        return {
            "input_shift": self.input_shift,
            "output_shift": self.output_shift,
        }


_BY_NAME = {
    cls.name: cls for cls in (ReLU, Tanh, LeCunTanh, Softsign, ShiftedTanh)
}
for _name, _cls in _BY_NAME.items():
    # Keras's serialization finds each class by "bnorder_tf>name"; Keras's
    # activation lookup by that string needs the compat registration
    keras.saving.register_keras_serializable(package=_PACKAGE, name=_name)(_cls)
    compat.register_activation_name(f"{_PACKAGE}>{_name}", _cls())

#: The names `get` accepts.
NAMES = choices.ACTIVATIONS
choices.check_registry(_BY_NAME, NAMES, "activation")
choices.check_registry(
    {name: cls for name, cls in _BY_NAME.items() if cls().bound is None},
    choices.UNBOUNDED_ACTIVATIONS,
    "unbounded activation",
)

relu = ReLU()
tanh = Tanh()
lecun_tanh = LeCunTanh()
softsign = Softsign()
shifted_tanh = ShiftedTanh()


def get(identifier):
    """Returns the activation object for a name, a config dict or an object.

    Args:
        identifier: one of `NAMES` (e.g. `"tanh"`), a registered name
            (`"bnorder_tf>tanh"`), a dict produced by `serialize`, or a
            `BoundedActivation` instance (returned as is).

    Returns:
        A `BoundedActivation`.

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones (a
            `LookupError` and a `ValueError`).

    Example:
    >>> get("softsign")
    Softsign()
    >>> get("bnorder_tf>shifted_tanh") == ShiftedTanh(input_shift=1.0)
    True
    """
    if isinstance(identifier, BoundedActivation):
        return identifier
    if isinstance(identifier, dict) and "class_name" in identifier:
        return keras.saving.deserialize_keras_object(identifier)
    if isinstance(identifier, dict):  # bnorder_tf's format before 0.2
        cls = lookup(_BY_NAME, identifier.get("name"), "activation")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str) and identifier.startswith(_PACKAGE + ">"):
        identifier = identifier[len(_PACKAGE) + 1 :]
    return lookup(_BY_NAME, identifier, "activation")()


def serialize(activation):
    """Keras's serialization of `activation`.

    `get` and `keras.saving.deserialize_keras_object` turn it back.
    """
    return keras.saving.serialize_keras_object(activation)


#: Asymptotes of Keras's own symmetric bounded activations, by function name.
KERAS_BOUNDS = {"tanh": 1.0, "softsign": 1.0, "hard_tanh": 1.0}


def bound_of(activation):
    """The asymptote of an activation function, or `None` if it has none.

    Args:
        activation: a `BoundedActivation`, a Keras activation function
            (`keras.activations.tanh`), a name, or `None`.

    Returns:
        A float for the bounded functions that are symmetric about zero
        (this package's and Keras's `tanh`, `softsign` and `hard_tanh`),
        else `None`: ReLU and ReLU6, whose saturation is not defined, and
        functions the package does not know.

    Example:
    >>> bound_of(keras.activations.tanh)
    1.0
    >>> bound_of(get("lecun_tanh"))
    1.7159
    """
    if isinstance(activation, BoundedActivation):
        return activation.bound
    if isinstance(activation, str):
        if activation.startswith(_PACKAGE + ">"):
            return get(activation).bound
        return KERAS_BOUNDS.get(activation)
    return KERAS_BOUNDS.get(getattr(activation, "__name__", None))
