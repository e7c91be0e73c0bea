"""Model builders: `build_model(name, ...)` and the names it accepts.

Example:
>>> from bnorder_tf.models import build_model
>>> model = build_model("vgg16_11", order="swap", activation="tanh",
...                     num_classes=10, input_shape=(32, 32, 3), width=0.125)
>>> model.output_shape
(None, 10)
"""

import dataclasses
import functools
import inspect
from collections.abc import Sequence

import keras

from bnorder_tf import choices
from bnorder_tf.errors import lookup
from bnorder_tf.layers.activations import BoundedActivation
from bnorder_tf.models.common import BlockConfig
from bnorder_tf.models.mobilenet import build_mobilenet
from bnorder_tf.models.vgg import build_vgg

#: Every model by name: its builder, called with `block`, `num_classes`,
#: `input_shape`, `width` and the family's own keywords.
BUILDERS = {
    **{name: functools.partial(build_vgg, name) for name in choices.VGG_MODELS},
    "mobilenet": build_mobilenet,
}
#: Every name `build_model` accepts.
MODEL_NAMES = choices.MODELS
choices.check_registry(BUILDERS, MODEL_NAMES, "model")

#: The keywords `build_model` gives every builder.
_SHARED = ("block", "num_classes", "input_shape", "width")
#: `BlockConfig`'s fields: `build_model` takes each as a keyword.
_BLOCK_FIELDS = tuple(field.name for field in dataclasses.fields(BlockConfig))


def build_model(
    name: str,
    *,
    order: str | None = None,
    activation: str | BoundedActivation | None = None,
    num_classes: int,
    input_shape: Sequence[int],
    width: float = 1.0,
    block: BlockConfig | None = None,
    **options,
) -> keras.Sequential:
    """Builds a VGG or MobileNet whose blocks share one `BlockConfig`.

    The blocks' settings come either as keywords (`order`, `activation`
    and the other fields of `BlockConfig`, such as `weight_decay`) or at
    once as `block=BlockConfig(...)`. The other keywords are the family's
    own (`vgg.build_vgg`: `fc_bn`, `fc_units`, `dropout`, `conv_bias`;
    `mobilenet.build_mobilenet`: `dropout`, `conv_bias`). A keyword set
    to `None` takes its default, so that one call serves every family.

    Args:
        name: one of `MODEL_NAMES` (`vgg11`, `vgg13`, `vgg16`, `vgg19`,
            `vgg16_8` ... `vgg16_16`, `mobilenet`).
        order: `"convention"`, `"swap"` or `"nobn"` (see `BlockConfig`);
            needed, with `activation`, unless `block` is given.
        activation: `"relu"`, `"tanh"`, `"lecun_tanh"`, `"softsign"`,
            `"shifted_tanh"` or an activation object.
        num_classes: int, number of logits.
        input_shape: `(H, W, C)` of the (preprocessed) images.
        width: float, multiplies every channel count (MobileNet's alpha).
        block: a `BlockConfig`, in place of `order`, `activation` and the
            other block keywords.
        **options: `BlockConfig`'s other fields (`weight_decay`,
            `bn_gamma_decay`, `bn_beta_decay`, `bn_synchronized`,
            `kernel_initializer`), and the family's own keywords.

    Returns:
        A `keras.Sequential` chain whose last layer outputs logits.

    Raises:
        UnknownNameError: for an unknown name, order or activation,
            listing the valid values (a `LookupError` and a `ValueError`).
        TypeError: for a keyword the model does not take (the message
            lists those it takes), or block settings given both ways.

    Example:
    >>> from bnorder_tf.models import BlockConfig, build_model
    >>> nwdbn = BlockConfig("convention", "tanh", bn_gamma_decay=0.0,
    ...                     bn_beta_decay=0.0)
    >>> model = build_model("vgg11", block=nwdbn, num_classes=10,
    ...                     input_shape=(32, 32, 3), width=0.125,
    ...                     fc_bn=False)
    >>> type(model.get_layer("conv1")).__name__
    'ConventionBlock'
    >>> type(model.get_layer("fc1")).__name__
    'NoBNBlock'
    """
    builder = lookup(BUILDERS, name, "model")
    options.update(order=order, activation=activation)
    options = {
        key: value for key, value in options.items() if value is not None
    }
    settings = {
        key: options.pop(key) for key in _BLOCK_FIELDS if key in options
    }
    _check_keywords(name, builder, options)
    block = _block_config(block, settings)
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}.")
    return builder(
        block=block,
        num_classes=num_classes,
        input_shape=input_shape,
        width=width,
        **options,
    )


def _own_keywords(builder):
    """The keywords a family's builder takes beyond the shared ones."""
    parameters = inspect.signature(builder).parameters.values()
    return tuple(
        p.name
        for p in parameters
        if p.kind == p.KEYWORD_ONLY and p.name not in _SHARED
    )


def _check_keywords(name, builder, options):
    own = _own_keywords(builder)
    unexpected = [key for key in options if key not in own]
    if unexpected:
        takes = (*_BLOCK_FIELDS, *_SHARED, *own)
        raise TypeError(
            f"build_model({name!r}) got unexpected keyword arguments: "
            f"{', '.join(unexpected)}. It takes: {', '.join(takes)}."
        )


def _block_config(block, settings):
    """`block`, or a `BlockConfig` of the settings given as keywords."""
    if block is None:
        if "order" not in settings or "activation" not in settings:
            raise TypeError(
                "build_model() needs order= and activation=, or "
                "block=BlockConfig(...)."
            )
        return BlockConfig(**settings)
    if not isinstance(block, BlockConfig):
        raise TypeError(f"block must be a BlockConfig, got {block!r}.")
    if settings:
        raise TypeError(
            "build_model() takes the blocks' settings in block= or as "
            f"keywords, not both: got block= and {', '.join(settings)}."
        )
    return block


__all__ = ["BlockConfig", "MODEL_NAMES", "build_model"]
