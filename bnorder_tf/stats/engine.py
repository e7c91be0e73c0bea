"""One compiled pass over an evaluation set: every block's statistics.

`ActivationStatsPass` compiles one step per model (a `tf.function` that
merges one global batch into the running state) and calls it for each batch
of a distributed dataset; `activation_stats` is the one-call form. Each
replica summarises its share of a batch into per-channel float64 states
(`moments.block_state`, one XLA program per block); the states of all
replicas are gathered and merged with Chan's update, so every device count
gives the same numbers.
"""

import numpy as np
import tensorflow as tf

from bnorder_tf.choices import DEFAULT_HISTOGRAM_BINS, DEFAULT_STATS_PRECISION
from bnorder_tf.data.replicas import (
    distribute_dataset,
    iterate_once,
    pad_for_replicas,
)
from bnorder_tf.errors import lookup
from bnorder_tf.losses import (
    correct_predictions,
    example_cross_entropy,
    regularization_loss,
)
from bnorder_tf.stats import moments
from bnorder_tf.stats.results import (
    AVERAGED_BLOCKS,
    ActivationStats,
    LayerStats,
)
from bnorder_tf.stats.taps import ModelTaps

#: Histogram range of an unbounded activation (ReLU): (-4, 4).
UNBOUNDED_HISTOGRAM_LIMIT = 4.0
#: Histogram range of a Swap block's output (its BN output, about zero
#: mean and unit variance); values outside count in the edge bins.
OUTPUT_HISTOGRAM_RANGE = (-4.0, 4.0)
_EMPTY = "The dataset is empty: there is nothing to measure."


def _first(count):
    """A dataset map function keeping the first `count` components.

    One component is returned bare; AutoGraph does not convert it.
    """

    @tf.autograph.experimental.do_not_convert
    def first(*components):
        return components[0] if count == 1 else components[:count]

    return first


def _images_and_labels(dataset):
    spec = dataset.element_spec
    if not isinstance(spec, tuple) or len(spec) < 2:
        raise ValueError(
            "evaluate=True needs a dataset of (images, labels) batches."
        )
    return dataset.map(_first(2)), spec[0]


def _images_only(dataset):
    spec = dataset.element_spec
    if isinstance(spec, tuple):
        return dataset.map(_first(1)), spec[0]
    if isinstance(spec, dict):
        raise ValueError(
            "Expected a dataset of images or (images, labels) tuples, got "
            f"a dict with keys {sorted(spec)}."
        )
    return dataset, spec


def _averaged_names(taps, averaged_blocks):
    """The names of the taps that `averaged_blocks` names.

    Raises:
        UnknownNameError: a name not in `AVERAGED_BLOCKS`, or a list with
            a name that is not a tap's.
    """
    names = [tap.name for tap in taps]
    if not isinstance(averaged_blocks, str):
        return [
            lookup(names, n, "averaged_blocks tap") for n in averaged_blocks
        ]
    kinds = lookup(AVERAGED_BLOCKS, averaged_blocks, "averaged_blocks")
    return [t.name for t in taps if kinds is None or t.kind in kinds]


def _edges(histogram):
    if histogram is None:
        return None
    low, high, bins = histogram
    return np.linspace(low, high, bins + 1)


def _gather_replicas(strategy, per_replica):
    """Every replica's state, stacked along the leading axis, in one gather.

    Each tensor of a replica's state has a leading axis of 1. Each
    `strategy.gather` is a collective of its own, traced and launched on
    its own, so the state's dozen float64 tensors are packed into one
    vector per replica first (which also made the first, traced call of a
    two-replica pass twice as fast).
    """
    template = strategy.experimental_local_results(per_replica)[0]
    packed = strategy.run(
        lambda state: tf.concat(
            [tf.reshape(t, [1, -1]) for t in tf.nest.flatten(state)], axis=1
        ),
        args=(per_replica,),
    )
    gathered = strategy.gather(packed, axis=0)  # [replicas, packed size]
    flat = tf.nest.flatten(template)
    parts = tf.split(gathered, [t.shape.num_elements() for t in flat], 1)
    return tf.nest.pack_sequence_as(
        template,
        [
            tf.reshape(p, [-1, *t.shape[1:]])
            for p, t in zip(parts, flat, strict=True)
        ],
    )


def _concat_states(states):
    """Concatenates per-block states along the channel axis."""
    return {key: tf.concat([st[key] for st in states], 0) for key in states[0]}


class ActivationStatsPass:
    """A compiled statistics pass for one model, reusable every epoch.

    Args:
        model: a model of bnorder_tf blocks, or any single-input
            functional or Sequential Keras model (see `ModelTaps`).
        strategy: the `tf.distribute.Strategy` to run under; `None` means
            the current one (the default strategy outside any scope).
        histogram_bins: int, bins of the per-channel activation histograms;
            0 skips the histograms (`histogram` is then `None`), the
            costliest part of the pass (`benchmarks/bench_stats.py
            --breakdown` measures it).
        histogram_range: `(low, high)`; `None` means `(-bound, bound)` of
            each block's activation, or `(-4, 4)` when it is unbounded.
        averaged_blocks: the blocks the model-level values average:
            `"all"`, `"conv"` (conv and depthwise blocks: the paper's
            choice for Tiny ImageNet and ImageNet VGG, whose FC layers
            have no BN) or a list of tap names.
        taps: optional list of the layer names to measure; `None`: every
            block, or every activation of another model (see `ModelTaps`).
        evaluate: bool, also evaluate a classifier that outputs logits on
            the same forward pass: the dataset then holds `(images,
            labels)` and the result's `evaluation` the mean cross-entropy
            plus the regularization losses (`loss`, as Keras reports it)
            and the `accuracy`, so that a measured epoch reads the
            evaluation set once.
        precision: `"float32"` (default): measure a forward pass in
            float32 from the model's float32 weights, whatever its dtype
            policy, so that a mixed-precision model's statistics are those
            of the same weights in a float32 model; `"compute"`: measure
            the activations as the model computes them under its policy
            (16-bit values under mixed precision), in the compiled forward
            pass the model's own functions run. The same pass for a
            float32 model. The evaluation is always the model's own, in
            its own precision: a mixed-precision model measured in float32
            then runs both forward passes.

    Example:
    A tiny VGG11 and a few random labelled images:

    >>> from bnorder_tf import build_model
    >>> model = build_model("vgg11", order="swap", activation="tanh",
    ...                     num_classes=10, input_shape=(32, 32, 3),
    ...                     width=0.125)
    >>> images = np.random.default_rng(0).normal(size=(8, 32, 32, 3))
    >>> test_dataset = tf.data.Dataset.from_tensor_slices(
    ...     (images.astype("float32"), np.arange(8) % 10)).batch(4)
    >>> stats_pass = ActivationStatsPass(model, evaluate=True)
    >>> result = stats_pass(test_dataset)    # an `ActivationStats`
    >>> sorted(result.model)
    ['saturation', 'skewness', 'sparsity']
    >>> result.evaluation
    {'loss': ..., 'accuracy': ...}

    Called again (say, after another epoch), the pass runs the step it
    compiled the first time.

    A mixed-precision model is measured by default in a float32 pass of
    its own; `precision="compute"` measures the activations in 16 bits,
    as the model computes them:

    >>> import keras
    >>> keras.mixed_precision.set_global_policy("mixed_bfloat16")
    >>> try:
    ...     bf16_model = build_model(
    ...         "vgg11", order="swap", activation="tanh", num_classes=10,
    ...         input_shape=(32, 32, 3), width=0.125)
    ... finally:
    ...     keras.mixed_precision.set_global_policy("float32")
    >>> ActivationStatsPass(bf16_model).model_taps.recomputed
    True
    >>> as_computed = ActivationStatsPass(bf16_model, precision="compute")
    >>> as_computed.model_taps.recomputed
    False
    """

    def __init__(
        self,
        model,
        strategy=None,
        histogram_bins=DEFAULT_HISTOGRAM_BINS,
        histogram_range=None,
        averaged_blocks="all",
        taps=None,
        evaluate=False,
        precision=DEFAULT_STATS_PRECISION,
    ):
        self.model = model
        self.evaluate = bool(evaluate)
        self.model_taps = ModelTaps(model, taps, precision=precision)
        self.precision = self.model_taps.precision
        self.taps = self.model_taps.taps
        self.averaged = _averaged_names(self.taps, averaged_blocks)
        self.strategy = strategy or tf.distribute.get_strategy()
        if not isinstance(histogram_bins, (int, np.integer)) or (
            histogram_bins < 0
        ):
            raise ValueError(
                "histogram_bins must be a whole number >= 0 (0: no "
                f"histograms), got {histogram_bins!r}."
            )
        self.histogram_bins = int(histogram_bins)
        self._histograms = {
            tap.name: self._histogram(tap, histogram_range) for tap in self.taps
        }
        self._widths = [tap.channels for tap in self.taps]
        # no AutoGraph: no Python control flow on tensors, and converting
        # the step took half of its first call
        self._compiled_step = tf.function(
            self._step, reduce_retracing=True, autograph=False
        )
        self._compiled_centers = tf.function(self._centers, autograph=False)

    def _histogram(self, tap, histogram_range):
        """The tap's `(low, high, bins)`, or `None` without histograms."""
        if not self.histogram_bins:
            return None
        if histogram_range is not None:
            low, high = (float(v) for v in histogram_range)
        else:
            high = float(tap.bound or UNBOUNDED_HISTOGRAM_LIMIT)
            low = -high
        return (low, high, self.histogram_bins)

    # The state of every block is kept concatenated along the channel axis
    # (`self._widths` channels per tap, in model order), so that merging
    # and gathering cost a few operations per batch whatever the depth.

    def _empty_state(self):
        channels = sum(self._widths)
        state = {
            "activation": moments.empty_state(
                channels, histogram_bins=self.histogram_bins
            ),
            "output": moments.empty_state(
                channels, moments=False, histogram_bins=self.histogram_bins
            ),
        }
        if self.evaluate:
            state["evaluation"] = dict.fromkeys(
                _EVALUATION_SUMS, tf.zeros([], tf.float64)
            )
        return state

    def _output_histogram(self, tap):
        """The `(low, high, bins)` of a block's output tap.

        The activation's when the output is the activation (Convention,
        NoBN), else `OUTPUT_HISTOGRAM_RANGE` (a BN output).
        """
        histogram = self._histograms[tap.name]
        if histogram is None or tap.order != "swap":
            return histogram
        return (*OUTPUT_HISTOGRAM_RANGE, histogram[2])

    def _replica_state(self, images, weights, centers, labels=None):
        outputs, tensors = self.model_taps(images, training=False)
        centers = tf.split(centers, self._widths)
        activations, block_outputs = [], []
        for tap, center in zip(self.taps, centers, strict=True):
            tap_tensors = tensors[tap.name]
            output = tap_tensors["output"]
            activation, output = moments.block_state(
                tap_tensors["activation"],
                None if output is tap_tensors["activation"] else output,
                center=center,
                histogram=self._histograms[tap.name],
                output_histogram=self._output_histogram(tap),
                weights=weights,
            )
            activations.append(activation)
            block_outputs.append(output)
        state = {
            "activation": _concat_states(activations),
            "output": _concat_states(block_outputs),
        }
        if labels is not None:
            if self.model_taps.recomputed:
                # the taps' float32 pass is not what the model serves: the
                # evaluation, like Trainer.evaluate's, is the model's own
                outputs = self.model(images, training=False)
            state["evaluation"] = _evaluation_sums(outputs, labels, weights)
        # a leading axis to gather the replicas' states along
        return tf.nest.map_structure(lambda t: t[None], state)

    def _merge(self, a, b):
        merged = {
            tap: moments.merge(a[tap], b[tap])
            for tap in ("activation", "output")
        }
        if "evaluation" in a:  # plain sums
            merged["evaluation"] = {
                k: a["evaluation"][k] + b["evaluation"][k]
                for k in _EVALUATION_SUMS
            }
        return merged

    def _centers(self, images):
        """Every tap's per-channel activation mean over one batch.

        The center about which the whole pass accumulates its power sums,
        computed once, on one device, from the dataset's first global
        batch, so that every replica and every device count sums exactly
        the same float32 deviations (see `moments.block_state`).
        """
        _, tensors = self.model_taps(images, training=False)
        means = []
        for tap in self.taps:
            activation = tf.cast(tensors[tap.name]["activation"], tf.float64)
            means.append(
                tf.reduce_mean(
                    activation, axis=list(range(activation.shape.rank - 1))
                )
            )
        return tf.concat(means, 0)

    def _step(self, state, images, weights, centers, labels=None):
        """Merges one global batch into `state`."""
        strategy = self.strategy
        replicas = strategy.num_replicas_in_sync
        per_replica = strategy.run(
            self._replica_state, args=(images, weights, centers, labels)
        )
        if replicas == 1:
            gathered = strategy.experimental_local_results(per_replica)[0]
        else:
            gathered = _gather_replicas(strategy, per_replica)
        for r in range(replicas):
            state = self._merge(
                state, tf.nest.map_structure(lambda t, r=r: t[r], gathered)
            )
        return state

    def _distribute(self, dataset):
        if self.evaluate:
            elements, spec = _images_and_labels(dataset)
            images = elements.map(_first(1))
        else:
            elements, spec = _images_only(dataset)
            images = elements
        expected = tuple(self.model.input_shape[1:])
        got = tuple(spec.shape[1:])
        if len(got) != len(expected) or any(
            e is not None and g is not None and e != g
            for e, g in zip(expected, got, strict=True)
        ):
            raise ValueError(
                f"The dataset's images have shape {got} but model "
                f"{self.model.name!r} takes {expected}: give batches of "
                "preprocessed images of the model's input shape."
            )
        if not spec.dtype.is_floating:
            raise ValueError(
                f"The dataset's images are {spec.dtype.name}; the model takes "
                "preprocessed float images (normalise them first, as the "
                "training pipeline does)."
            )
        first_batch = next(iter(images.take(1)), None)
        if first_batch is None:
            raise ValueError(_EMPTY)
        # the last batch padded to the first's size: one shape, so one
        # trace of the step and one XLA compilation of each block's program
        padded = pad_for_replicas(
            elements,
            self.strategy.num_replicas_in_sync,
            batch_size=int(first_batch.shape[0]),
        )
        distributed = distribute_dataset(self.strategy, padded)
        return distributed, first_batch

    def __call__(self, dataset):
        """Measures the model on a finite dataset.

        Args:
            dataset: a batched `tf.data.Dataset` of images or of
                `(images, labels, ...)` tuples, preprocessed as for the
                model.

        Returns:
            An `ActivationStats`.

        Raises:
            ValueError: for an empty dataset or images the model does not
                take.
        """
        distributed, first_batch = self._distribute(dataset)
        centers = self._compiled_centers(first_batch)
        # One compiled call per batch from a Python loop, as Keras' predict
        # does: a whole-dataset tf.function (a graph while-loop) ran the
        # same forward pass slower (`benchmarks/bench_stats.py`).
        state = self._empty_state()
        for batch in iterate_once(distributed):
            if self.evaluate:
                images, labels, weights = batch
                state = self._compiled_step(
                    state, images, weights, centers, labels
                )
            else:
                images, weights = batch
                state = self._compiled_step(state, images, weights, centers)
        result = self._result(tf.nest.map_structure(lambda t: t.numpy(), state))
        if self.evaluate:
            result.evaluation = self._evaluation(state["evaluation"])
        return result

    def _evaluation(self, sums):
        """`{"loss", "accuracy"}` from the pass's sums.

        The loss is the mean cross-entropy plus the regularization losses,
        as Keras reports them (and
        `bnorder_tf.training.steps.Trainer.evaluate`).
        """
        count = float(sums["count"])
        regularization = float(regularization_loss(self.model))
        return {
            "loss": float(sums["loss_sum"]) / count + regularization,
            "accuracy": float(sums["correct"]) / count,
        }

    def _result(self, state):
        if not state["activation"]["count"].any():
            raise ValueError(_EMPTY)
        offsets = np.cumsum([0] + self._widths)
        layers = {}
        for i, tap in enumerate(self.taps):
            part = slice(offsets[i], offsets[i + 1])
            activation = {k: v[part] for k, v in state["activation"].items()}
            layers[tap.name] = LayerStats.from_states(
                activation,
                {k: v[part] for k, v in state["output"].items()},
                bound=tap.bound,
                edges=_edges(self._histograms[tap.name]),
                output_edges=_edges(self._output_histogram(tap)),
            )
        return ActivationStats(layers, averaged=self.averaged)


#: What the evaluation accumulates, each a float64 sum over real examples.
_EVALUATION_SUMS = ("loss_sum", "correct", "count")


def _evaluation_sums(logits, labels, weights):
    """One replica's cross-entropy, correct predictions and examples.

    As float64 sums; padding rows have weight 0.
    """
    per_example = example_cross_entropy(labels, logits)
    correct = correct_predictions(labels, logits)
    weights = tf.cast(weights, tf.float64)
    return {
        "loss_sum": tf.reduce_sum(tf.cast(per_example, tf.float64) * weights),
        "correct": tf.reduce_sum(tf.cast(correct, tf.float64) * weights),
        "count": tf.reduce_sum(weights),
    }


def activation_stats(
    model,
    dataset,
    taps=None,
    strategy=None,
    *,
    histogram_bins=DEFAULT_HISTOGRAM_BINS,
    histogram_range=None,
    averaged_blocks="all",
    evaluate=False,
    precision=DEFAULT_STATS_PRECISION,
):
    """Saturation, skewness and sparsity of every tap over a dataset.

    One compiled pass; the state kept per tap is O(channels), in
    float64, so the result is exact for any dataset size.

    Args:
        model: a model of bnorder_tf blocks, or any single-input Keras
            model, `keras.applications` models included: every activation
            is then tapped, and its order read from the graph (see
            `ModelTaps`).
        dataset: a finite, batched `tf.data.Dataset` of images or
            `(images, labels)`, preprocessed as for the model.
        taps: optional list of the layer names to measure.
        strategy: optional `tf.distribute.Strategy` (default: the current
            one); results equal a single device's.
        histogram_bins: int, bins of the per-channel histograms (0: none).
        histogram_range: `(low, high)` of the histograms; `None` means
            `(-bound, bound)` of each block's activation, or `(-4, 4)`
            when it is unbounded.
        averaged_blocks: `"all"`, `"conv"` or a list of tap names: the
            blocks the model-level values average.
        evaluate: bool, also compute the loss and accuracy of
            `(images, labels)` batches in the same pass.
        precision: `"float32"` (the default: the statistics of the
            model's float32 weights computed in float32, whatever its
            dtype policy) or `"compute"` (of the activations as a
            mixed-precision model computes them).

    Returns:
        An `ActivationStats`; `.to_dict()` gives plain JSON values.

    Example:
    Any Keras model, here a small one whose convolution has a built-in
    ReLU (a `keras.applications` model is measured the same way), on a
    few random images:

    >>> import keras
    >>> model = keras.Sequential([
    ...     keras.Input((32, 32, 3)),
    ...     keras.layers.Conv2D(8, 3, activation="relu", name="conv"),
    ...     keras.layers.GlobalAveragePooling2D(),
    ...     keras.layers.Dense(10, name="logits")])
    >>> images = np.random.default_rng(0).normal(size=(8, 32, 32, 3))
    >>> images_ds = tf.data.Dataset.from_tensor_slices(
    ...     images.astype("float32")).batch(4)
    >>> result = activation_stats(model, images_ds)
    >>> list(result.layers)   # the logits' linear activation is left out
    ['conv']
    >>> 0.0 <= result.layers["conv"].sparsity <= 1.0
    True
    >>> result.layers["conv"].saturation is None   # ReLU has no bound
    True

    A mixed-precision model is measured as `ActivationStatsPass` shows.
    """
    measure = ActivationStatsPass(
        model,
        strategy=strategy,
        histogram_bins=histogram_bins,
        histogram_range=histogram_range,
        averaged_blocks=averaged_blocks,
        taps=taps,
        evaluate=evaluate,
        precision=precision,
    )
    return measure(dataset)
