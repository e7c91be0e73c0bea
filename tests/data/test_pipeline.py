"""The input pipeline: seeds, augmentation, splits, against NumPy arrays."""

import numpy as np

from bnorder_tf import data


def test_training_pipeline_is_seeded_augmented_and_drops_remainder(
    fashion_dir,
):
    directory = str(fashion_dir[0])

    def first_batch(seed):
        loaded = data.load(
            "fashion_mnist",
            "train",
            batch_size=16,
            data_dir=directory,
            seed=seed,
        )
        batches = list(loaded.dataset.as_numpy_iterator())
        assert [len(b[0]) for b in batches] == [16, 16]  # 40 -> 2 full
        return batches[0]

    a, b, c = first_batch(1), first_batch(1), first_batch(2)
    np.testing.assert_array_equal(a[0], b[0])
    assert not np.array_equal(a[0], c[0])
    assert a[0].shape == (16, 32, 32, 1)
    # a random crop of the padded image: every pixel is a normalised
    # pixel value, or 0 from the crop padding (applied after normalising,
    # so it is the channel mean)
    levels = np.append((np.arange(256) / 255.0 - 0.2860) / 0.3530, 0.0)
    nearest = np.abs(a[0][..., None] - levels).min(-1)
    assert nearest.max() < 1e-4


def test_each_epochs_augmentation_is_a_function_of_seed_and_epoch(
    fashion_dir,
):
    def images(seed, epoch):
        loaded = data.load(
            "fashion_mnist",
            "train",
            batch_size=16,
            data_dir=str(fashion_dir[0]),
            seed=seed,
            shuffle_buffer=1,  # the same order: only the augmentation differs
        )
        return np.concatenate(
            [x for x, _ in loaded.for_epoch(epoch).as_numpy_iterator()]
        )

    first = images(0, 1)
    np.testing.assert_array_equal(images(0, 1), first)  # a fresh pipeline
    assert not np.array_equal(images(0, 2), first)
    assert not np.array_equal(images(1, 1), first)


def test_the_source_used_is_recorded(fashion_dir):
    directory, _ = fashion_dir
    loaded = data.load(
        "fashion_mnist", "test", batch_size=4, data_dir=str(directory)
    )
    assert loaded.location == str(directory)


def test_each_epochs_order_is_a_function_of_seed_and_epoch():
    def labels(seed, epoch):
        loaded = data.load("synthetic", "train", batch_size=64, seed=seed)
        batches = loaded.for_epoch(epoch).take(2)
        return np.concatenate([y for _, y in batches.as_numpy_iterator()])

    first = labels(0, 1)
    # the same (seed, epoch) from a fresh pipeline (a resumed process)
    np.testing.assert_array_equal(labels(0, 1), first)
    assert not np.array_equal(labels(0, 0), first)  # another epoch
    assert not np.array_equal(labels(1, 1), first)  # another seed


def test_validation_split_is_held_out_of_the_training_split():
    raw, total = data.get_source("synthetic").load_split("train")
    images = np.stack([x for x, _ in raw.as_numpy_iterator()])
    train = data.load(
        "synthetic",
        "train",
        batch_size=8,
        seed=0,
        validation_examples=100,
        training=False,
    )
    held = data.load(
        "synthetic", "validation", batch_size=8, validation_examples=100
    )
    assert (train.num_examples, held.num_examples) == (total - 100, 100)
    np.testing.assert_array_equal(
        np.stack([x for x, _ in held.raw_dataset.as_numpy_iterator()]),
        images[-100:],
    )
    np.testing.assert_array_equal(
        np.stack([x for x, _ in train.raw_dataset.as_numpy_iterator()]),
        images[:-100],
    )
