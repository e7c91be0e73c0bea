"""Moments of extreme activations keep their skewness (rescaled batches)."""

import keras
import numpy as np
import pytest
import scipy.stats
import tensorflow as tf

from bnorder_tf.stats import (
    activation_stats,
)
from tests.stats import reference


def _assert_relu_skewness_matches_scipy(images):
    """The channel skewness of a ReLU tap of `images` equals SciPy's.

    `images` is `[40, 3, 3, 2]`, measured in batches of 10.
    """
    inputs = keras.Input((3, 3, 2))
    relu = keras.layers.ReLU(name="r")(inputs)
    model = keras.Model(
        inputs, keras.layers.Dense(2)(keras.layers.Flatten()(relu))
    )
    dataset = tf.data.Dataset.from_tensor_slices(images).batch(10)
    result = activation_stats(model, dataset, histogram_bins=0)
    expected = scipy.stats.skew(
        reference.per_channel(images), axis=0, bias=False
    )
    np.testing.assert_allclose(
        result.layers["r"].channel_skewness, expected, rtol=1e-6
    )


def test_tiny_activations_keep_their_skewness(rng):
    """Tiny activations and a channel first all zeros.

    Deep in an untrained network activations reach 1e-21, whose cubes
    underflow float32; and a channel may be all zeros in the first batch
    (where the pass takes its centers) and alive later.
    """
    images = 1e-21 * rng.exponential(size=(40, 3, 3, 2))
    images[:10, ..., 1] = 0.0  # the whole first batch
    _assert_relu_skewness_matches_scipy(images.astype("float32"))


def test_huge_activations_keep_their_skewness(rng):
    """Unbounded activations beyond 2^38 (here about 1e13 = 2^43).

    Their cubes overflow float32 unless each batch is rescaled.
    """
    images = 1e13 * rng.exponential(size=(40, 3, 3, 2))
    _assert_relu_skewness_matches_scipy(images.astype("float32"))


@pytest.mark.parametrize(
    "max_deviation, rescale",
    [
        ([0.0, 0.5, 3.0], False),  # a dead or constant channel is exact
        ([2.0**-24, 2.0**38 * (1 - 2.0**-20)], False),  # the range's ends
        ([1.0, 2.0**-24 * (1 - 2.0**-20)], True),
        ([1.0, 1e-21], True),
        ([1.0, 2.0**38], True),
        ([np.nan, 1.0], False),  # NaN stays NaN either way
    ],
)
def test_which_batches_are_rescaled(max_deviation, rescale):
    from bnorder_tf.stats.moments import needs_rescaling

    deviations = tf.constant(max_deviation, tf.float32)
    assert bool(needs_rescaling(deviations)) is rescale


def test_merged_block_states_give_scipys_skewness(rng):
    """`channel_skewness` of `moments` states, merged over two batches.

    The states keep one count per channel; the skewness is SciPy's
    unbiased one of each channel's 2 x 8 x 9 values.
    """
    from bnorder_tf.stats import moments
    from bnorder_tf.stats.results import channel_skewness

    batches = [rng.gamma(2.0, size=(8, 3, 3, 4)) for _ in range(2)]
    center = batches[0].mean(axis=(0, 1, 2))
    states = [
        moments.block_state(b, None, center, histogram=None)[0] for b in batches
    ]
    merged = {k: v.numpy() for k, v in moments.merge(*states).items()}
    assert merged["count"].tolist() == [144.0] * 4
    skew, defined = channel_skewness(merged)
    expected = scipy.stats.skew(
        reference.per_channel(np.concatenate(batches)), axis=0, bias=False
    )
    assert defined.all()
    np.testing.assert_allclose(skew, expected, rtol=1e-5)
