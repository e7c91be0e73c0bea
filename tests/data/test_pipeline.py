"""Data sources and pipelines, against arrays built here with NumPy."""

import gzip
import struct

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bnorder_tf import data
from bnorder_tf.data import preprocessing, sources
from bnorder_tf.data.replicas import pad_for_replicas


def write_idx(path, array):
    codes = {np.dtype("uint8"): 0x08}
    header = bytes([0, 0, codes[array.dtype], array.ndim])
    header += struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


@pytest.fixture
def fashion_dir(tmp_path, rng):
    arrays = {}
    for split, stem, n in (("train", "train", 40), ("test", "t10k", 12)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, n).astype(np.uint8)
        write_idx(tmp_path / f"{stem}-images-idx3-ubyte.gz", images)
        write_idx(tmp_path / f"{stem}-labels-idx1-ubyte.gz", labels)
        arrays[split] = (images, labels)
    return tmp_path, arrays


def test_fashion_mnist_from_data_dir_is_padded_and_normalised(fashion_dir):
    directory, arrays = fashion_dir
    loaded = data.load(
        "fashion_mnist", "test", batch_size=5, data_dir=str(directory)
    )
    assert loaded.input_shape == (32, 32, 1)
    assert loaded.num_classes == 10 and loaded.num_examples == 12
    assert loaded.class_names[0] == "T-shirt/top"
    images, labels = (
        np.concatenate(parts)
        for parts in zip(*loaded.dataset.as_numpy_iterator(), strict=True)
    )
    raw, raw_labels = arrays["test"]
    expected = np.pad(raw / 255.0, [(0, 0), (2, 2), (2, 2)])
    expected = (expected - 0.2860) / 0.3530
    np.testing.assert_allclose(images[..., 0], expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(labels, raw_labels)
    # the test split is neither shuffled nor cut: the last batch is short
    assert [len(b[0]) for b in loaded.dataset.as_numpy_iterator()] == [5, 5, 2]


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


def test_malformed_idx_file_is_named(tmp_path, fashion_dir):
    directory = fashion_dir[0]
    path = directory / "t10k-images-idx3-ubyte.gz"
    with gzip.open(path, "rb") as f:
        content = f.read()
    with gzip.open(path, "wb") as f:
        f.write(content[:-100])
    with pytest.raises(data.MalformedFileError, match="truncated or corrupt"):
        data.load(
            "fashion_mnist", "test", batch_size=4, data_dir=str(directory)
        )


def test_tfds_dataset_missing_offline_says_how_to_get_it(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_online", lambda *a, **k: False)
    with pytest.raises(data.DatasetNotAvailableError, match="--data_dir"):
        data.load("cifar10", "train", batch_size=8, data_dir=str(tmp_path))


def test_unknown_dataset_lists_the_valid_names():
    with pytest.raises(ValueError, match="cifar100.*fashion_mnist"):
        data.load("mnist", "train", batch_size=8)


def test_tiny_imagenet_folder_layout(tmp_path, rng):
    root = tmp_path / "tiny-imagenet-200"
    wnids = ["n01443537", "n01629819"]
    (root / "val" / "images").mkdir(parents=True)
    (root / "wnids.txt").write_text("\n".join(wnids) + "\n")
    pixels = {}
    for wnid in wnids:
        folder = root / "train" / wnid / "images"
        folder.mkdir(parents=True)
        for i in range(3):
            image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(image).save(folder / f"{wnid}_{i}.png")
    lines = []
    for i in range(4):
        image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
        name = f"val_{i}.png"
        Image.fromarray(image).save(root / "val" / "images" / name)
        pixels[name] = image
        lines.append(f"{name}\t{wnids[i % 2]}\t0\t0\t63\t63")
    (root / "val" / "val_annotations.txt").write_text("\n".join(lines))

    train = data.load(
        "tiny_imagenet", "train", batch_size=2, data_dir=str(tmp_path), seed=0
    )
    assert train.num_examples == 6 and train.num_classes == 2
    assert train.input_shape == (64, 64, 3)
    raw, count = sources.get_source("tiny_imagenet", str(tmp_path)).load_split(
        "test"
    )
    got = list(raw.as_numpy_iterator())
    assert count == 4
    assert [int(label) for _, label in got] == [0, 1, 0, 1]
    np.testing.assert_array_equal(got[2][0], pixels["val_2.png"])


def test_pad_for_replicas_pads_and_weights_the_last_batch():
    ds = tf.data.Dataset.from_tensor_slices(
        (np.arange(7, dtype="float32"), np.arange(7))
    ).batch(4)
    batches = list(pad_for_replicas(ds, 2).as_numpy_iterator())
    assert [b[0].tolist() for b in batches] == [[0, 1, 2, 3], [4, 5, 6, 0]]
    assert [b[2].tolist() for b in batches] == [[1, 1, 1, 1], [1, 1, 1, 0]]
    single = list(
        pad_for_replicas(ds.unbatch().take(1).batch(1), 2).as_numpy_iterator()
    )
    assert single[0][2].tolist() == [1, 0]


def test_synthetic_dataset_is_learnable_and_deterministic():
    a = sources.get_source("synthetic").load_split("test")[0]
    b = sources.get_source("synthetic").load_split("test")[0]
    (xa, ya), (xb, yb) = (
        zip(*d.as_numpy_iterator(), strict=True) for d in (a, b)
    )
    np.testing.assert_array_equal(np.stack(xa), np.stack(xb))
    # class means differ far more than the noise of a class mean
    x, y = np.stack(xa).astype("float64"), np.asarray(ya)
    means = np.stack([x[y == k].mean(0) for k in np.unique(y)])
    assert np.abs(means[0] - means[1]).mean() > 10


def test_data_dir_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(data.DatasetNotAvailableError, match="not a directory"):
        data.get_source("fashion_mnist", str(tmp_path / "nonexistent"))


def test_data_dir_without_the_dataset_does_not_fall_back(tmp_path):
    # Debian's copy exists on this machine: it must not be used silently
    with pytest.raises(
        data.DatasetNotAvailableError, match="holds no Fashion-MNIST"
    ):
        data.get_source("fashion_mnist", str(tmp_path))


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


def test_one_cpu_device_is_fed_the_dataset_itself_and_replicas_a_split(
    mirrored,
):
    """On one CPU the batches go to `strategy.run` as the dataset gives them.

    There is no generator-based copy to the device they are on; mirrored
    replicas each get their share of every batch.
    """
    from bnorder_tf.data.replicas import distribute_dataset
    from bnorder_tf.training.distribute import get_strategy

    ds = tf.data.Dataset.from_tensor_slices(np.arange(8, dtype="float32"))
    ds = ds.batch(4)
    one = get_strategy("one_device")
    assert distribute_dataset(one, ds) is ds
    sums = [
        float(one.run(tf.reduce_sum, args=(batch,)))
        for batch in distribute_dataset(one, ds)
    ]
    assert sums == [6.0, 22.0]
    split = distribute_dataset(mirrored, ds)
    assert split is not ds
    shares = [
        [v.numpy().tolist() for v in mirrored.experimental_local_results(b)]
        for b in split
    ]
    assert shares == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
