"""The data sources, in process: built-in, `tfds:<name>`, folders, tf.data.

tensorflow-datasets is mocked offline (tests/data/tfds_mock.py) for
builders that are not built in; the folders are PNG files written here.
Each normalisation is checked against NumPy over the same pixels.
"""

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from bnorder_tf import data
from bnorder_tf.data import folder, sources
from bnorder_tf.errors import ConfigError, UserError
from bnorder_tf.training import TrainConfig
from bnorder_tf.training.run_dir import check_run_paths
from tests.data import tfds_mock, user_data
from tests.data.image_folder import FOLDER_CLASSES, write_folder


def pixels(dataset):
    return np.stack([image for image, _ in dataset.as_numpy_iterator()])


def expected_normalisation(images):
    x = images.reshape(-1, images.shape[-1]).astype(np.float64) / 255.0
    return x.mean(0), x.std(0)


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    return tfds_mock.write_all(str(tmp_path_factory.mktemp("tfds")))


def test_tfds_builder_gives_classes_shape_and_measured_normalisation(
    tfds_dir,
):
    with tfds_mock.mocked(tfds_dir):
        source = data.get_source("tfds:svhn_cropped")
        train, count = source.load_split("train")
        images = pixels(train)
        test, test_count = source.load_split("test")
    assert (source.num_classes, count, test_count) == (10, 64, 32)
    assert source.class_names == tuple(str(i) for i in range(10))
    assert source.preprocessing.raw_shape == (32, 32, 3)
    assert images.shape == (64, 32, 32, 3)
    mean, std = expected_normalisation(images)
    np.testing.assert_allclose(source.preprocessing.mean, mean, atol=1e-6)
    np.testing.assert_allclose(source.preprocessing.std, std, atol=1e-6)
    assert source.location.startswith("tensorflow-datasets:")


def test_tfds_dataset_without_test_split_carves_it_from_train(tfds_dir):
    with tfds_mock.mocked(tfds_dir):
        source = data.get_source("tfds:eurosat/rgb")
        (train, n_train), (test, n_test) = (
            source.load_split(s) for s in ("train", "test")
        )
        train_labels = [int(y) for _, y in train]
        test_labels = [int(y) for _, y in test]
        again = [int(y) for _, y in source.load_split("test")[0]]
    # the last 10% of the 40 examples, the same ones every time
    assert (n_train, n_test) == (36, 4) == (len(train_labels), len(test_labels))
    assert test_labels == again == [i % 10 for i in range(36, 40)]
    assert train_labels == [i % 10 for i in range(36)]
    assert source.preprocessing.raw_shape == (64, 64, 3)


def test_tfds_images_of_mixed_sizes_need_image_size(tfds_dir):
    with tfds_mock.mocked(tfds_dir):
        with pytest.raises(ConfigError, match="--image_size=N"):
            data.get_source("tfds:oxford_flowers102")
        source = data.get_source("tfds:oxford_flowers102", image_size=10)
        images = pixels(source.load_split("test")[0])
    assert source.num_classes == 102
    assert images.shape == (24, 10, 10, 3)  # its test split, resized
    assert source.preprocessing.raw_shape == (10, 10, 3)


def test_tfds_recorded_normalisation_is_reused_not_measured(tfds_dir):
    recorded = data.Preprocessing((0.1, 0.2, 0.3), (1, 2, 3), (32, 32, 3))
    with tfds_mock.mocked(tfds_dir):
        source = data.get_source("tfds:svhn_cropped", preprocessing=recorded)
    assert source.preprocessing is recorded


def test_tfds_names_that_cannot_train_are_one_line():
    with pytest.raises(data.DatasetNotAvailableError, match="catalog"):
        data.get_source("tfds:no_such_builder_here")
    # a builder of text, not images: refused before any download
    with pytest.raises(ConfigError, match="no image and class label"):
        data.get_source("tfds:imdb_reviews")


def test_folder_classes_are_its_folders_and_normalisation_is_measured(
    tmp_path,
):
    write_folder(tmp_path)
    source = data.get_source(f"folder:{tmp_path}")
    train, count = source.load_split("train")
    items = list(train.as_numpy_iterator())
    images = np.stack([x for x, _ in items])
    assert source.class_names == FOLDER_CLASSES and count == 24
    assert [int(y) for _, y in items] == [0] * 8 + [1] * 8 + [2] * 8
    # the classes are the levels the files were written with
    assert [int(images[i].mean() > 40 + 80 * (i // 8)) for i in range(24)] == [
        1
    ] * 24
    mean, std = expected_normalisation(images)
    np.testing.assert_allclose(source.preprocessing.mean, mean, atol=1e-6)
    np.testing.assert_allclose(source.preprocessing.std, std, atol=1e-6)
    assert source.load_split("test")[1] == 9


def test_grayscale_folder_stays_one_channel_and_mixed_sizes_are_resized(
    tmp_path,
):
    write_folder(tmp_path / "a", shape=(6, 6, 1))
    assert data.get_source(
        f"folder:{tmp_path / 'a'}"
    ).preprocessing.raw_shape == (
        6,
        6,
        1,
    )
    write_folder(tmp_path / "b", counts=(("train", 2),), shape=(9, 7, 3))
    write_folder(tmp_path / "b", counts=(("test", 1),), shape=(5, 5, 3))
    with pytest.raises(ConfigError, match=r"\(5x5, 7x9\): pass --image_size"):
        data.get_source(f"folder:{tmp_path / 'b'}")
    source = data.get_source(f"folder:{tmp_path / 'b'}", image_size=4)
    assert pixels(source.load_split("test")[0]).shape == (3, 4, 4, 3)


def test_folder_layout_errors_are_one_line_without_tensorflow(tmp_path):
    write_folder(tmp_path)
    (tmp_path / "test" / "fox").rename(tmp_path / "test" / "wolf")
    with pytest.raises(
        folder.FolderDatasetError,
        match=r"differ \(test/ lacks fox; train/ lacks wolf\)",
    ):
        folder.list_folder(str(tmp_path))
    # the programs check it with the other paths, before TensorFlow
    config = TrainConfig(
        dataset=f"folder:{tmp_path}", model_dir=str(tmp_path / "runs")
    )
    with pytest.raises(folder.FolderDatasetError):
        check_run_paths(config)
    with pytest.raises(
        folder.FolderDatasetError, match="has no train/ or test/ folder"
    ):
        folder.list_folder(str(tmp_path / "train"))


def test_unreadable_image_is_named(tmp_path):
    write_folder(tmp_path)
    bad = tmp_path / "test" / "dog" / "broken.png"
    bad.write_bytes(b"not a png")
    with pytest.raises(folder.FolderDatasetError) as caught:
        data.get_source(f"folder:{tmp_path}")
    message = str(caught.value)
    assert str(bad) in message and "\n" not in message


def test_user_data_infers_classes_and_shape_from_batched_datasets():
    source = data.user_source(
        data.UserData(*user_data.datasets(batched=True), name="compass")
    )
    assert source.name == "user:compass"
    assert (source.num_classes, source.class_names) == (4, None)
    assert source.preprocessing.raw_shape == user_data.SHAPE
    train, count = source.load_split("train")
    assert count == 96
    images, _ = user_data.arrays(96, 0)
    np.testing.assert_array_equal(pixels(train), images)  # same order
    mean, std = expected_normalisation(images)
    np.testing.assert_allclose(source.preprocessing.mean, mean, atol=1e-6)
    np.testing.assert_allclose(source.preprocessing.std, std, atol=1e-6)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda x, y: (tf.cast(x, tf.float32) / 255, y), "give raw uint8"),
        (lambda x, y: (x, tf.one_hot(y, 4)), "integer class indices"),
        (lambda x, y: x, "give a dataset of \\(image, label\\)"),
    ],
)
def test_user_data_the_trainer_cannot_use_is_one_line(change, message):
    train, test = user_data.datasets()
    with pytest.raises(ConfigError, match=message):
        data.user_source(data.UserData(train.map(change), test))


def test_user_data_labels_beyond_num_classes_are_refused():
    with pytest.raises(ConfigError, match="a label is 3 but num_classes=2"):
        data.user_source(data.UserData(*user_data.datasets(), num_classes=2))


def test_dataset_flag_takes_every_form_and_refuses_others():
    for name in (
        "tfds:svhn_cropped",
        "tfds:eurosat/rgb",
        "folder:x",
        "cifar10",
    ):
        assert TrainConfig(dataset=name).dataset == name
    for name, words in (
        ("mnist", r"tfds:<name>\[/<config>\]"),
        ("tfds:", "tensorflow-datasets name"),
        ("folder:", "names no folder"),
    ):
        with pytest.raises(ConfigError, match=words):
            TrainConfig(dataset=name)
    with pytest.raises(ConfigError, match="leave it out for cifar10"):
        sources.get_source("cifar10", image_size=32)
    with pytest.raises(UserError, match="run_training"):
        sources.get_source("user:mine")


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
        class_dir = root / "train" / wnid / "images"
        class_dir.mkdir(parents=True)
        for i in range(3):
            image = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
            Image.fromarray(image).save(class_dir / f"{wnid}_{i}.png")
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
