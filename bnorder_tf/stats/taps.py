"""Reading the taps of every block in one forward pass.

The statistics engine needs each block's activation output and block
output, and the model's logits, from a single forward pass. It walks the
model's chain of layers and asks each block for its taps (see
`Block.call_with_taps`) instead of re-running any layer.
"""

import keras

from bnorder_tf.blocks import Block


def model_chain(model):
    """Returns the layers of `model` in order, checking it is a chain.

    Args:
        model: a `keras.Sequential`, or a functional model whose layers
            each take the previous layer's output.

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
                    "output): the statistics need one input, one output and "
                    "no branches, e.g. a keras.Sequential."
                )
            previous = layer.output
    if not any(isinstance(layer, Block) for layer in layers):
        raise ValueError(
            f"Model {model.name!r} has no ConventionBlock, SwapBlock or "
            "NoBNBlock layers: there is nothing to measure. Build it with "
            "bnorder_tf.build_model or from bnorder_tf.blocks."
        )
    return layers


def model_blocks(model):
    """The `Block` layers of a chain model, in order."""
    return [layer for layer in model_chain(model) if isinstance(layer, Block)]


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


def tap_outputs(model, x):
    """Returns every block's taps for one batch, in inference mode.

    Args:
        model: a chain model built from blocks.
        x: a batch of preprocessed images (array or tensor).

    Returns:
        A dict from block name to `{"activation": ..., "output": ...}`.

    Example:

    >>> taps = tap_outputs(model, images)
    >>> taps["conv1"]["activation"].shape
    """
    _, taps = forward_with_taps(model_chain(model), x, training=False)
    return taps
