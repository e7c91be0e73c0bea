"""Result classes: the paper's statistics from merged states (NumPy).

Definitions (see the package docs and the paper, sections 3-5), for one
block over a whole evaluation set, with `N` values of a tap, `C` channels
and `M` values per channel:

* saturation = mean |a| / bound, on the activation tap `a` (`None` for an
  unbounded activation such as ReLU);
* empirical saturation = mean |o| / max_c |o| on the block output tap `o`
  (the paper's Algorithm 2, empirical branch, which takes the block
  output), so per block it equals 1 - sparsity;
* activation channel saturation = mean |a| / max_c |a| on the activation
  tap (the same normalisation on the activation; not the paper's);
* channel skewness = sqrt(M (M - 1)) / (M - 2) * m3 / m2^(3/2), the
  adjusted Fisher-Pearson coefficient (`scipy.stats.skew(bias=False)`);
  skewness = mean over channels of |channel skewness|, leaving out channels
  whose variance is zero (reported in `excluded_channels`);
* sparsity = 1 - mean |o| / max_c |o| on the block output tap `o`; a
  channel whose values are all zero contributes 0 to the mean.
"""

import dataclasses
import math

import numpy as np

#: A channel whose standard deviation is below this fraction of its largest
#: |value| is constant up to float64 round-off: its skewness is undefined.
ZERO_VARIANCE_RTOL = 1e-12


def _ratio_mean(sum_abs, max_abs, count):
    """Mean over all values of |x| / max_c |x| (0 for an all-zero channel)."""
    safe = np.where(max_abs > 0, max_abs, 1.0)
    return float(np.sum(np.where(max_abs > 0, sum_abs / safe, 0.0))) / (
        count * sum_abs.shape[0]
    )


def values_per_channel(state):
    """How many values each channel of a state counted.

    `moments.block_state`, `moments.merge` and `moments.empty_state` keep
    one count per channel; every channel of a tap counts the same values.

    Args:
        state: a moments state, whose `count` is a number or one per
            channel (NumPy or TensorFlow values).

    Returns:
        float, the count of values of one channel.

    Example:
    >>> values_per_channel({"count": np.array([12.0, 12.0, 12.0])})
    12.0
    """
    return float(np.asarray(state["count"]).reshape(-1)[0])


def channel_skewness(state):
    """Signed per-channel skewness and the mask of channels it is defined for.

    Args:
        state: a merged moments state (NumPy arrays).

    Returns:
        `(skew, defined)`: float64 `[C]` with NaN where undefined, and a
        boolean `[C]`.

    Raises:
        ValueError: with 2 or fewer values per channel.
    """
    m = values_per_channel(state)
    if m <= 2:
        raise ValueError(
            f"Skewness needs more than 2 values per channel, got {m:g}: "
            "evaluate on more samples."
        )
    m2 = state["m2"] / m
    m3 = state["m3"] / m
    defined = np.sqrt(np.maximum(m2, 0.0)) > (
        ZERO_VARIANCE_RTOL * state["max_abs"]
    )
    safe_m2 = np.where(defined, m2, 1.0)
    factor = math.sqrt(m * (m - 1.0)) / (m - 2.0)
    skew = np.where(defined, factor * m3 / safe_m2**1.5, np.nan)
    return skew, defined


def _all_finite(*states):
    return all(
        np.all(np.isfinite(np.asarray(state[key], dtype=np.float64)))
        for state in states
        for key in ("sum_abs", "max_abs", "m2", "m3")
        if key in state
    )


def _json_float(value):
    if value is None or not np.isfinite(value):
        return None
    return float(value)


@dataclasses.dataclass
class LayerStats:
    """The statistics of one block.

    Attributes:
        saturation: mean |activation| / bound, `None` if unbounded.
        empirical_saturation: mean |output| / channel max |output|, the
            paper's Algorithm 2 on the block output (= 1 - sparsity).
        activation_channel_saturation: mean |activation| / channel max
            |activation|: the same normalisation on the activation tap.
        skewness: mean |channel skewness| over channels where it is
            defined (`None` if none is).
        channel_skewness: float64 `[C]`, signed, NaN where undefined.
        excluded_channels: number of zero-variance channels left out.
        skewed_fraction: fraction of defined channels with |skew| > 1.
        sparsity: 1 - mean |output| / channel max |output|.
        count: values per channel (M).
        histogram: float64 `[C, bins]` counts of the activation tap, or
            `None` when the pass was asked for no histograms.
        histogram_edges: float64 `[bins + 1]` bin edges, or `None`.
        output_histogram: float64 `[C, bins]` counts of the block output
            tap (the BN output in Swap; the activation again in Convention
            and NoBN), or `None` (paper figure 8).
        output_histogram_edges: its bin edges, or `None`.
    """

    saturation: float
    empirical_saturation: float
    activation_channel_saturation: float
    skewness: float
    channel_skewness: np.ndarray
    excluded_channels: int
    skewed_fraction: float
    sparsity: float
    count: int
    histogram: np.ndarray
    histogram_edges: np.ndarray
    output_histogram: np.ndarray = None
    output_histogram_edges: np.ndarray = None

    @classmethod
    def from_states(cls, activation, output, bound, edges, output_edges=None):
        """Computes the statistics from the two taps' merged states.

        A tap that held a NaN or an infinity (a diverged model) has
        non-finite sums: its statistics are then missing (`None`), not
        plausible-looking numbers.
        """
        count = values_per_channel(activation)
        if not _all_finite(activation, output):
            return cls.missing(activation, edges)
        sum_abs = activation["sum_abs"]
        output_saturation = _ratio_mean(
            output["sum_abs"], output["max_abs"], count
        )
        skew, defined = channel_skewness(activation)
        abs_skew = np.abs(skew[defined])
        return cls(
            saturation=(
                None
                if bound is None
                else float(np.sum(sum_abs)) / (count * len(sum_abs) * bound)
            ),
            empirical_saturation=output_saturation,
            activation_channel_saturation=_ratio_mean(
                sum_abs, activation["max_abs"], count
            ),
            skewness=float(np.mean(abs_skew)) if abs_skew.size else None,
            channel_skewness=skew,
            excluded_channels=int(np.sum(~defined)),
            skewed_fraction=(
                float(np.mean(abs_skew > 1.0)) if abs_skew.size else None
            ),
            sparsity=1.0 - output_saturation,
            count=int(count),
            histogram=activation.get("hist"),
            histogram_edges=edges,
            output_histogram=output.get("hist"),
            output_histogram_edges=output_edges,
        )

    def to_dict(self):
        """Plain JSON-serialisable values (NaN and inf become `None`)."""
        return {
            "saturation": _json_float(self.saturation),
            "empirical_saturation": _json_float(self.empirical_saturation),
            "activation_channel_saturation": _json_float(
                self.activation_channel_saturation
            ),
            "skewness": _json_float(self.skewness),
            "channel_skewness": [_json_float(v) for v in self.channel_skewness],
            "excluded_channels": self.excluded_channels,
            "skewed_fraction": _json_float(self.skewed_fraction),
            "sparsity": _json_float(self.sparsity),
            "count": self.count,
            "histogram": None
            if self.histogram is None
            else self.histogram.astype(int).tolist(),
            "histogram_edges": None
            if self.histogram_edges is None
            else self.histogram_edges.tolist(),
            "output_histogram": None
            if self.output_histogram is None
            else self.output_histogram.astype(int).tolist(),
            "output_histogram_edges": None
            if self.output_histogram_edges is None
            else self.output_histogram_edges.tolist(),
        }

    @classmethod
    def missing(cls, activation, edges):
        """Statistics of a block whose taps were not finite: all `None`."""
        channels = np.asarray(activation["sum_abs"]).shape[0]
        return cls(
            saturation=None,
            empirical_saturation=None,
            activation_channel_saturation=None,
            skewness=None,
            channel_skewness=np.full(channels, np.nan),
            excluded_channels=channels,
            skewed_fraction=None,
            sparsity=None,
            count=int(values_per_channel(activation)),
            histogram=None,
            histogram_edges=None if edges is None else edges,
        )


#: The model-level quantities: plain means of the layer values.
MODEL_KEYS = ("saturation", "skewness", "sparsity")
#: The per-block float values (TensorBoard scalars, the summary's
#: `layer_stats` with `LAYER_COUNT_KEYS`).
LAYER_VALUE_KEYS = (
    "saturation",
    "empirical_saturation",
    "activation_channel_saturation",
    "skewness",
    "sparsity",
)
#: The per-block counts and fractions beside them in `layer_stats`.
LAYER_COUNT_KEYS = ("excluded_channels", "skewed_fraction")


#: The names `averaged_blocks` (`ActivationStatsPass`) takes besides a
#: list of tap names, and the kinds of block they average: every block,
#: or the conv and depthwise blocks only (the paper's figures for Tiny
#: ImageNet and ImageNet VGG, whose FC layers have no BN).
AVERAGED_BLOCKS = {"all": None, "conv": ("conv", "depthwise")}


@dataclasses.dataclass
class ActivationStats:
    """Per-block statistics and their model-level means.

    Attributes:
        layers: dict from block name to `LayerStats`, in model order.
        averaged: names of the blocks the model-level values average
            (`None`: every block).
        model: dict with `saturation`, `skewness`, `sparsity`: the mean of
            the layer values over the averaged blocks that define them
            (`None` when no block does, e.g. saturation of a ReLU model).
        evaluation: `{"loss", "accuracy"}` of the same pass, when it
            evaluated the model too (`ActivationStatsPass(evaluate=True)`),
            else `None`.
    """

    layers: dict
    averaged: list = None
    evaluation: dict = None

    @property
    def averaged_blocks(self):
        """The names of the blocks the model-level values average."""
        if self.averaged is None:
            return list(self.layers)
        return [name for name in self.layers if name in self.averaged]

    @property
    def model(self):
        layers = [self.layers[name] for name in self.averaged_blocks]
        # sparsity is defined for every finite block: a block without it
        # saw NaN or inf, and a mean over the other blocks would mislead
        if any(layer.sparsity is None for layer in self.layers.values()):
            return dict.fromkeys(MODEL_KEYS)
        means = {}
        for key in MODEL_KEYS:
            values = [
                getattr(layer, key)
                for layer in layers
                if getattr(layer, key) is not None
            ]
            means[key] = float(np.mean(values)) if values else None
        return means

    def to_dict(self):
        """`{"layers": {name: {...}}, "model": {...}}` in plain Python."""
        return {
            "layers": {
                name: layer.to_dict() for name, layer in self.layers.items()
            },
            "model": {k: _json_float(v) for k, v in self.model.items()},
            "model_blocks": self.averaged_blocks,
        }
