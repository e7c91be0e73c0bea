"""Augmentation of a batch, image by image."""

import numpy as np
import tensorflow as tf

from bnorder_tf.data import preprocessing


def test_batch_augmentation_crops_and_flips_each_image_on_its_own(rng):
    images = rng.normal(size=(64, 6, 5, 2)).astype("float32")
    seed = tf.constant([3, 4])
    out = preprocessing.augment_small(tf.constant(images), seed, pad=2)
    np.testing.assert_array_equal(
        out, preprocessing.augment_small(tf.constant(images), seed, pad=2)
    )
    # every image is one of its 5 x 5 crops of the zero-padded image,
    # mirrored or not, found here by trying them all
    padded = np.pad(images, [(0, 0), (2, 2), (2, 2), (0, 0)])
    chosen = set()
    for i in range(64):
        matches = [
            (top, left, flip)
            for top in range(5)
            for left in range(5)
            for flip in (False, True)
            if np.array_equal(
                out[i],
                padded[i, top : top + 6, left : left + 5][
                    :, :: -1 if flip else 1
                ],
            )
        ]
        assert matches, f"image {i} is no crop of its padded self"
        chosen.update(matches)
    # the batch's images draw their own crops and flips
    assert len(chosen) > 20
    assert {flip for _, _, flip in chosen} == {False, True}


def test_large_input_augmentation_keeps_the_shape(rng):
    images = rng.uniform(size=(3, 80, 72, 3)).astype("float32")
    out = preprocessing.augment_large(tf.constant(images), tf.constant([1, 2]))
    assert out.shape == images.shape
    # a crop resized back: values stay within the image's range
    assert images.min() <= float(tf.reduce_min(out))
    assert float(tf.reduce_max(out)) <= images.max()
