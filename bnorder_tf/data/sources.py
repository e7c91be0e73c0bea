"""Where images come from: tensorflow-datasets, local files, synthetic.

Each source gives raw uint8 images with integer labels for a split
(`train` or `test`), and describes itself: number of classes, class
names, raw shape and the normalisation the models expect.
"""

import dataclasses
import os
import socket
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from bnorder_tf import choices
from bnorder_tf.data.idx import MalformedFileError, read_idx
from bnorder_tf.data.preprocessing import Preprocessing
from bnorder_tf.errors import UserError, lookup

#: Where Debian's `dataset-fashion-mnist` package installs its files.
DEBIAN_FASHION_MNIST = "/usr/share/datasets/fashion-mnist"

SPLITS = ("train", "test")

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


class DatasetNotAvailableError(UserError, FileNotFoundError):
    """The dataset is not on this machine and cannot be fetched now."""


@dataclasses.dataclass
class Source:
    """A dataset's raw splits and its description.

    Attributes:
        name: the dataset's name.
        num_classes: int.
        class_names: tuple of str, or `None`.
        preprocessing: the `Preprocessing` its models expect.
        load_split: function `split -> (dataset of (uint8 image, label),
            number of examples)`.
        in_memory: bool, whether the splits are NumPy arrays already in
            memory (then the pipeline does not cache them again).
        location: where the data comes from: a directory, or
            `tensorflow-datasets:<directory>`.
    """

    name: str
    num_classes: int
    class_names: tuple | None
    preprocessing: Preprocessing
    load_split: Callable[[str], tuple[tf.data.Dataset, int]]
    in_memory: bool = False
    location: str | None = None


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(
            f"Unknown split {split!r}; valid values are: {', '.join(SPLITS)}."
        )


def _in_memory(images, labels):
    return tf.data.Dataset.from_tensor_slices((images, labels.astype("int64")))


# --- synthetic ------------------------------------------------------------


def synthetic(
    num_classes=10,
    image_size=32,
    channels=3,
    train_examples=512,
    test_examples=256,
    seed=0,
):
    """A small learnable dataset for tests and smoke runs.

    Each class is a fixed random pattern; images are that pattern plus
    noise, so a model can learn it in a few steps.
    """
    rng = np.random.default_rng(seed)
    patterns = rng.uniform(
        40, 215, (num_classes, image_size, image_size, channels)
    )

    def load_split(split):
        _check_split(split)
        n = train_examples if split == "train" else test_examples
        split_rng = np.random.default_rng([seed, SPLITS.index(split)])
        labels = split_rng.integers(0, num_classes, n)
        noise = split_rng.normal(0, 40, (n, image_size, image_size, channels))
        images = np.clip(patterns[labels] + noise, 0, 255).astype("uint8")
        return _in_memory(images, labels), n

    return Source(
        name="synthetic",
        num_classes=num_classes,
        class_names=tuple(f"class_{i}" for i in range(num_classes)),
        preprocessing=Preprocessing(
            mean=(0.5,) * channels,
            std=(0.25,) * channels,
            raw_shape=(image_size, image_size, channels),
        ),
        load_split=load_split,
        in_memory=True,
    )


# --- Fashion-MNIST from IDX files -------------------------------------------

_IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _find_idx(directory, stem):
    for name in (stem + ".gz", stem):
        path = os.path.join(directory, name)
        if os.path.exists(path):
            return path
    return None


def fashion_mnist(data_dir=None):
    """Fashion-MNIST, 28x28 grayscale padded to 32x32, from local IDX files.

    With `data_dir`, the IDX files must be in `data_dir` (or
    `data_dir/fashion-mnist`): there is no fallback. Without it, looks in
    Debian's `/usr/share/datasets/fashion-mnist`, then falls back to
    tensorflow-datasets.

    Args:
        data_dir: optional directory holding the IDX files.

    Returns:
        A `Source`.

    Raises:
        DatasetNotAvailableError: `data_dir` lacks the files, or (without
            `data_dir`) no copy is on this machine and none can be fetched.

    Example:
    The files must be on the machine (Debian's `dataset-fashion-mnist`
    package, or tensorflow-datasets' prepared copy), so the example is not
    run as a test:

    >>> source = fashion_mnist()  # doctest: +SKIP
    >>> source.num_classes, source.preprocessing.input_shape  # doctest: +SKIP
    (10, (32, 32, 1))
    """
    preprocessing = Preprocessing(
        mean=(0.2860,), std=(0.3530,), raw_shape=(28, 28, 1), pad_to=32
    )
    directory = _fashion_mnist_directory(data_dir)
    if directory is None:
        return _tfds_source(
            "fashion_mnist",
            data_dir,
            10,
            FASHION_MNIST_CLASSES,
            preprocessing,
            hint="or install Debian's dataset-fashion-mnist package "
            f"(files in {DEBIAN_FASHION_MNIST}), or pass --data_dir=DIR "
            "holding the IDX files (train-images-idx3-ubyte.gz, ...)",
        )

    def load_split(split):
        _check_split(split)
        images, labels = _read_fashion_mnist(directory, split)
        return _in_memory(images[..., None], labels), len(images)

    return Source(
        "fashion_mnist",
        10,
        FASHION_MNIST_CLASSES,
        preprocessing,
        load_split,
        in_memory=True,
        location=os.path.abspath(directory),
    )


def _fashion_mnist_directory(data_dir):
    """The directory holding the IDX files, or `None`.

    In `data_dir` when given (an error if they are not there), else
    Debian's, else `None`.
    """
    if data_dir:
        _check_data_dir(data_dir)
        candidates = [data_dir, os.path.join(data_dir, "fashion-mnist")]
    else:
        candidates = [DEBIAN_FASHION_MNIST]
    directory = next(
        (d for d in candidates if _find_idx(d, _IDX_FILES["test"][0])), None
    )
    if directory is None and data_dir:
        raise DatasetNotAvailableError(
            f"fashion_mnist: --data_dir={data_dir} holds no Fashion-MNIST IDX "
            "files (t10k-images-idx3-ubyte.gz, ...): pass the directory "
            "that holds them, or leave --data_dir out to use Debian's "
            "package or tensorflow-datasets."
        )
    return directory


def _read_fashion_mnist(directory, split):
    """`(images (N, 28, 28) uint8, labels (N,))` of a split, checked."""
    image_stem, label_stem = _IDX_FILES[split]
    paths = [_find_idx(directory, s) for s in (image_stem, label_stem)]
    if None in paths:
        raise DatasetNotAvailableError(
            f"fashion_mnist: {directory} lacks {image_stem}(.gz) or "
            f"{label_stem}(.gz)."
        )
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or images.shape[1:] != (28, 28):
        raise MalformedFileError(
            f"{paths[0]}: expected 28x28 images, got shape {images.shape}."
        )
    if len(images) != len(labels):
        raise MalformedFileError(
            f"{paths[0]} has {len(images)} images but {paths[1]} has "
            f"{len(labels)} labels."
        )
    return images, labels


def _check_data_dir(data_dir):
    if not os.path.isdir(data_dir):
        raise DatasetNotAvailableError(
            f"--data_dir={data_dir} is not a directory: pass the directory "
            "holding the dataset, or leave --data_dir out."
        )


# --- tensorflow-datasets -----------------------------------------------------


def _online(host="storage.googleapis.com", timeout=3.0):
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
        return True
    except OSError:
        return False


def _tfds_source(
    name,
    data_dir,
    num_classes,
    class_names,
    preprocessing,
    hint="",
    split_names=None,
):
    import tensorflow_datasets as tfds

    split_names = split_names or {"train": "train", "test": "test"}
    if data_dir:
        _check_data_dir(data_dir)
    builder = tfds.builder(name, data_dir=data_dir)
    if not builder.is_prepared():
        if not _online():
            where = data_dir or "~/tensorflow_datasets"
            raise DatasetNotAvailableError(
                f"{name} is not prepared under {where} and this machine is "
                f"offline: run `tfds build {name}` on a machine with "
                "internet and copy the folder here, then pass "
                f"--data_dir=DIR{'; ' + hint if hint else ''}."
            )
        builder.download_and_prepare()
    if class_names is None:
        names = builder.info.features["label"].names
        class_names = tuple(names) if names else None

    def load_split(split):
        _check_split(split)
        tfds_split = split_names[split]
        ds = builder.as_dataset(split=tfds_split, as_supervised=True)
        return ds, builder.info.splits[tfds_split].num_examples

    return Source(
        name,
        num_classes,
        class_names,
        preprocessing,
        load_split,
        location=f"tensorflow-datasets:{builder.data_dir}",
    )


def cifar(name, data_dir=None):
    """CIFAR-10 or CIFAR-100 through tensorflow-datasets."""
    if name == "cifar10":
        mean, std = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
        return _tfds_source(
            name,
            data_dir,
            10,
            CIFAR10_CLASSES,
            Preprocessing(mean, std, (32, 32, 3)),
        )
    mean, std = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
    return _tfds_source(
        name, data_dir, 100, None, Preprocessing(mean, std, (32, 32, 3))
    )


def imagenet(name, data_dir=None):
    """ImageNet through tensorflow-datasets.

    `imagenet2012` (images resized to 224x224 by the pipeline) or
    `imagenet_resized/32x32` / `64x64`.
    """
    if name == "imagenet2012":
        size = 224
        hint = (
            "imagenet2012 needs the manual download of ILSVRC2012 "
            "tarballs into DIR/downloads/manual"
        )
    else:
        size = int(name.split("/")[1].split("x")[0])
        hint = ""
    return _tfds_source(
        name,
        data_dir,
        1000,
        None,
        Preprocessing(IMAGENET_MEAN, IMAGENET_STD, (size, size, 3)),
        hint=hint,
        split_names={"train": "train", "test": "validation"},
    )


# --- Tiny ImageNet from its extracted folder ----------------------------------


def tiny_imagenet(data_dir):
    """Tiny ImageNet (200 classes, 64x64) from its extracted folder.

    Expects `data_dir` (or `data_dir/tiny-imagenet-200`) to hold
    `wnids.txt`, `train/<wnid>/images/*.JPEG`, `val/images/*.JPEG` and
    `val/val_annotations.txt`; the val split serves as `test`.

    Args:
        data_dir: the extracted folder, or the folder holding it.

    Returns:
        A `Source` whose splits decode the JPEG files lazily.

    Raises:
        DatasetNotAvailableError: no `wnids.txt`, or a split has no images.
        MalformedFileError: `val_annotations.txt` has a bad line.

    Example:
    The folder must be on the machine (Tiny ImageNet is a download), so
    the example is not run as a test:

    >>> source = tiny_imagenet("/data/tiny-imagenet-200")  # doctest: +SKIP
    >>> source.num_classes  # doctest: +SKIP
    200
    """
    root = _tiny_imagenet_root(data_dir)
    with open(os.path.join(root, "wnids.txt")) as f:
        wnids = [line.strip() for line in f if line.strip()]
    class_of = {wnid: i for i, wnid in enumerate(wnids)}

    def load_split(split):
        _check_split(split)
        if split == "train":
            files, labels = _tiny_imagenet_train(root, wnids, class_of)
        else:
            files, labels = _tiny_imagenet_val(root, class_of)
        if not files:
            raise DatasetNotAvailableError(
                f"tiny_imagenet: no {split} images under {root}."
            )
        ds = tf.data.Dataset.from_tensor_slices(
            (files, np.asarray(labels, "int64"))
        )
        ds = ds.map(_decode_64x64_rgb, num_parallel_calls=tf.data.AUTOTUNE)
        return ds, len(files)

    return Source(
        "tiny_imagenet",
        len(wnids),
        tuple(wnids),
        Preprocessing(IMAGENET_MEAN, IMAGENET_STD, (64, 64, 3)),
        load_split,
        location=os.path.abspath(root),
    )


def _tiny_imagenet_root(data_dir):
    """`data_dir` or `data_dir/tiny-imagenet-200`, whichever has `wnids.txt`.

    The latter when both do.
    """
    candidates = [data_dir, os.path.join(data_dir, "tiny-imagenet-200")]
    found = [
        c
        for c in (candidates if data_dir else [])
        if os.path.exists(os.path.join(c, "wnids.txt"))
    ]
    if not found:
        raise DatasetNotAvailableError(
            f"tiny_imagenet: no wnids.txt under {data_dir!r}: download "
            "tiny-imagenet-200.zip, extract it and pass "
            "--data_dir=DIR/tiny-imagenet-200."
        )
    return found[-1]


def _tiny_imagenet_train(root, wnids, class_of):
    """`(files, labels)` of `train/<wnid>/images/*`, in a fixed order."""
    files, labels = [], []
    for wnid in wnids:
        folder = os.path.join(root, "train", wnid, "images")
        names = sorted(os.listdir(folder)) if os.path.isdir(folder) else []
        files += [os.path.join(folder, n) for n in names]
        labels += [class_of[wnid]] * len(names)
    return files, labels


def _tiny_imagenet_val(root, class_of):
    """`(files, labels)` of the validation images.

    The files are `val/images/*`, labelled by `val/val_annotations.txt`.
    """
    annotations = os.path.join(root, "val", "val_annotations.txt")
    if not os.path.exists(annotations):
        raise DatasetNotAvailableError(
            f"tiny_imagenet: {annotations} is missing."
        )
    files, labels = [], []
    with open(annotations) as f:
        for line in f:
            fields = line.split("\t")
            if len(fields) < 2 or fields[1] not in class_of:
                raise MalformedFileError(
                    f"{annotations}: bad line {line.strip()!r} (expected "
                    "'<file>\\t<wnid>\\t...' with a wnid of wnids.txt)."
                )
            files.append(os.path.join(root, "val", "images", fields[0]))
            labels.append(class_of[fields[1]])
    return files, labels


def _decode_64x64_rgb(path, label):
    image = tf.io.decode_image(
        tf.io.read_file(path), channels=3, expand_animations=False
    )
    return tf.ensure_shape(image, [64, 64, 3]), label


def _synthetic(name, data_dir):
    return dataclasses.replace(synthetic(), location="synthetic")


def _by_directory(factory):
    return lambda name, data_dir: factory(data_dir)


#: Every dataset by name: `(name, data_dir) -> Source`.
SOURCES = {
    "cifar10": cifar,
    "cifar100": cifar,
    "fashion_mnist": _by_directory(fashion_mnist),
    "tiny_imagenet": _by_directory(tiny_imagenet),
    "imagenet2012": imagenet,
    "imagenet_resized/32x32": imagenet,
    "imagenet_resized/64x64": imagenet,
    "synthetic": _synthetic,
}
#: The names `get_source` accepts.
DATASETS = choices.DATASETS
choices.check_registry(SOURCES, DATASETS, "dataset")


def get_source(name, data_dir=None):
    """Returns the `Source` for a dataset name.

    Raises:
        UnknownNameError: for an unknown name, listing the valid ones.
        DatasetNotAvailableError: when the data is not on this machine and
            cannot be fetched, saying how to get it.
    """
    return lookup(SOURCES, name, "dataset")(name, data_dir)
